"""Desirability transforms and their weighted combination into one score (REINVENT-style).

Each transform maps a raw property onto [0, 1] (1 = desirable). The combination is a weighted
geometric mean by default, so one undesirable property pulls the whole score down; an arithmetic
mean is available. A NaN property gives a component score of 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

TransformKind = Literal["none", "sigmoid", "reverse_sigmoid", "step", "window"]


def sigmoid(x: np.ndarray, low: float, high: float, k: float = 0.5) -> np.ndarray:
    """Rises from ~0 at ``low`` to ~1 at ``high`` (REINVENT's sigmoid: steepness ``k``)."""
    middle = (low + high) / 2
    return 1.0 / (1.0 + 10.0 ** (k * (middle - x) * 10.0 / (high - low)))


def reverse_sigmoid(x: np.ndarray, low: float, high: float, k: float = 0.5) -> np.ndarray:
    """Falls from ~1 at ``low`` to ~0 at ``high``."""
    return 1.0 - sigmoid(x, low, high, k)


def step(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """1 inside ``[low, high]``, 0 outside."""
    return ((x >= low) & (x <= high)).astype(float)


def window(x: np.ndarray, low: float, high: float, width: float) -> np.ndarray:
    """1 inside ``[low, high]``, decaying smoothly (Gaussian, scale ``width``) outside it."""
    distance = np.where(x < low, low - x, np.where(x > high, x - high, 0.0))
    return np.exp(-0.5 * (distance / width) ** 2)


class Component(BaseModel):
    """One oracle's contribution to an objective: a transform of its values and a weight."""

    model_config = ConfigDict(extra="forbid")

    oracle: str
    weight: float = 1.0
    transform: TransformKind = "none"
    low: float | None = None
    high: float | None = None
    k: float = 0.5
    width: float = 1.0

    @model_validator(mode="after")
    def _bounds(self) -> Component:
        if self.transform != "none" and (self.low is None or self.high is None):
            raise ValueError(f"transform {self.transform!r} of {self.oracle!r} needs low and high")
        if self.low is not None and self.high is not None and self.low >= self.high:
            raise ValueError(f"{self.oracle}: low ({self.low}) must be below high ({self.high})")
        if self.weight <= 0:
            raise ValueError(f"{self.oracle}: weight must be positive")
        return self

    def desirability(self, values: np.ndarray) -> np.ndarray:
        """Values mapped onto [0, 1]; NaN → 0."""
        x = np.asarray(values, dtype=float)
        low, high = self.low, self.high
        if self.transform == "none":
            out = x
        elif self.transform == "sigmoid":
            out = sigmoid(x, low, high, self.k)  # type: ignore[arg-type]
        elif self.transform == "reverse_sigmoid":
            out = reverse_sigmoid(x, low, high, self.k)  # type: ignore[arg-type]
        elif self.transform == "step":
            out = step(x, low, high)  # type: ignore[arg-type]
        else:
            out = window(x, low, high, self.width)  # type: ignore[arg-type]
        return np.nan_to_num(np.clip(out, 0.0, 1.0), nan=0.0)


class Objective(BaseModel):
    """A weighted combination of transformed oracle values into one column ``name``."""

    model_config = ConfigDict(extra="forbid")

    name: str = "score"
    method: Literal["geometric", "arithmetic"] = "geometric"
    components: list[Component]

    def combine(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        """The objective for each candidate from its oracle columns."""
        scores = np.stack([c.desirability(columns[c.oracle]) for c in self.components])
        weights = np.array([c.weight for c in self.components])[:, None]
        if self.method == "arithmetic":
            return (weights * scores).sum(0) / weights.sum()
        with np.errstate(divide="ignore"):
            return np.exp((weights * np.log(scores)).sum(0) / weights.sum())

    @property
    def oracles(self) -> Sequence[str]:
        return [c.oracle for c in self.components]
