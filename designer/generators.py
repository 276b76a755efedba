"""What every generative model offers the application: named conditions and a seeded ``sample``.

A model family (``models/<family>/sample.py``) implements :class:`Generator`; the registry maps a
model name to a loader returning one, and ``designer generate`` / ``designer.generate`` call it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from designer.errors import DesignerError, UnknownNameError


@dataclass(frozen=True)
class Condition:
    """A property a model was trained to condition on.

    ``numeric`` conditions accept a value in ``[low, high]`` (the training range); ``categorical``
    ones one of ``choices``. ``default`` is what a bare ``--target NAME`` asks for, and
    ``default_note`` says where it comes from (e.g. "90th percentile of the training set").
    """

    name: str
    kind: Literal["numeric", "categorical"]
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    default: float | str | None = None
    default_note: str = ""
    description: str = ""

    def describe(self) -> str:
        if self.kind == "numeric":
            return f"{self.name} in [{self.low:g}, {self.high:g}]"
        return f"{self.name} in {{{', '.join(self.choices)}}}"

    def validate(self, value: float | str | None) -> float | str:
        """The value to condition on (``None`` means the default), or an error naming the range."""
        if value is None:
            if self.default is None:
                raise DesignerError(f"target {self.name!r} needs a value ({self.describe()})")
            return self.default
        if self.kind == "categorical":
            text = str(value)
            if text not in self.choices:
                raise DesignerError(f"target {self.name}={text!r} is not one of {', '.join(self.choices)}")
            return text
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise DesignerError(f"target {self.name}={value!r} is not a number ({self.describe()})") from None
        assert self.low is not None and self.high is not None
        if not self.low <= number <= self.high:
            raise DesignerError(
                f"target {self.name}={number:g} is outside the range the model was trained on "
                f"({self.describe()})")
        return number


@runtime_checkable
class Generator(Protocol):
    """A trained generative model ready to sample.

    ``kind`` is the candidate kind it makes ("molecule", "sequence" or "backbone");
    ``conditions`` the properties it can be conditioned on; ``card`` the model card's facts
    (at least ``trained_on`` and ``metrics``), shown by ``designer models``.
    """

    name: str
    kind: str
    conditions: Mapping[str, Condition]
    card: Mapping[str, Any]

    def sample(self, n: int, targets: Mapping[str, float | str], *, guidance: float = 1.0,
               seed: int = 0, batch_size: int = 256, progress: bool = False) -> list[Any]:
        """``n`` samples (SMILES, sequences or backbones; ``None`` where decoding failed).

        ``targets`` holds already validated values (see :func:`resolve_targets`); the same
        ``seed`` gives the same samples.
        """
        ...


def resolve_targets(conditions: Mapping[str, Condition],
                    requested: Mapping[str, float | str | None]) -> dict[str, float | str]:
    """Check requested targets against a model's conditions; fill defaults for bare names."""
    resolved: dict[str, float | str] = {}
    for name, value in requested.items():
        if name not in conditions:
            listing = "; ".join(c.describe() for c in conditions.values()) or "none"
            error = UnknownNameError("target", name, conditions)
            raise DesignerError(f"{error} — this model is conditioned on: {listing}")
        resolved[name] = conditions[name].validate(value)
    return resolved


@dataclass
class GeneratorCard:
    """Model card facts kept beside a checkpoint as JSON."""

    trained_on: str
    metrics: dict[str, float] = field(default_factory=dict)
    command: str = ""
    config: dict[str, Any] = field(default_factory=dict)
