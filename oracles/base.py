"""One interface for every property function: batch of candidates in, array of numbers out.

REINVENT-style: an oracle knows its name, the candidate kind it accepts, which direction is better
and its value range; a candidate it cannot score gets NaN and a reason, never an exception.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from designer.candidates import Candidates, Kind
from designer.errors import DesignerError

Direction = Literal["maximize", "minimize", "none"]


ORGANIC_ELEMENTS = frozenset({"H", "B", "C", "N", "O", "F", "Si", "P", "S", "Cl", "Se", "Br", "I"})


class OutsideDomain(ValueError):
    """A candidate the oracle was not made for (a metal for QED, an unknown spin state for xTB)."""


def organic_problem(mol: Any) -> str:
    """"" for an organic molecule, else which elements put it outside organic-chemistry oracles."""
    foreign = sorted({atom.GetSymbol() for atom in mol.GetAtoms()} - ORGANIC_ELEMENTS)
    if foreign:
        return f"outside this oracle's domain (organic molecules): contains {', '.join(foreign)}"
    return ""


def organic_only(function: Callable[[Any], float]) -> Callable[[Any], float]:
    """Wrap a molecule descriptor so that metals and other non-organic elements get NaN and a reason."""
    def checked(mol: Any) -> float:
        problem = organic_problem(mol)
        if problem:
            raise OutsideDomain(problem)
        return function(mol)
    return checked


@dataclass
class OracleResult:
    """Scores (NaN where a candidate could not be scored) and, for those, the reason."""

    values: np.ndarray
    reasons: list[str]


class Oracle(ABC):
    """A named property function over a batch of candidates of one kind."""

    name: str
    kind: Kind
    direction: Direction = "none"
    low: float = -np.inf
    high: float = np.inf
    unit: str = ""
    description: str = ""
    uses_processes: bool = False  # runs its own worker processes: do not score it inside a pool
    learned: bool = False  # a trained network's prediction, not a physical or rule-based computation

    @abstractmethod
    def score(self, candidates: Candidates) -> OracleResult:
        """Score a batch; the caller has checked the kind."""

    def __call__(self, candidates: Candidates) -> OracleResult:
        if candidates.kind != self.kind:
            raise DesignerError(f"oracle {self.name!r} scores {self.kind}s, not {candidates.kind}s")
        return self.score(candidates)

    def __repr__(self) -> str:
        return f"<Oracle {self.name} ({self.kind}, {self.direction})>"


class ItemOracle(Oracle):
    """An oracle defined by a function of one parsed candidate (RDKit Mol, sequence string, ...).

    Invalid candidates get NaN with their parse reason; an exception from the function becomes NaN
    with the exception's message, so one odd molecule never stops a batch.
    """

    def __init__(self, name: str, kind: Kind, function: Callable[[Any], float], *,
                 direction: Direction = "none", low: float = -np.inf, high: float = np.inf,
                 unit: str = "", description: str = "") -> None:
        self.name, self.kind, self.function = name, kind, function
        self.direction, self.low, self.high = direction, low, high
        self.unit, self.description = unit, description

    def _inputs(self, candidates: Candidates) -> list[Any]:
        if self.kind == "molecule":
            return candidates.mols
        if self.kind == "backbone":
            return candidates.objects or [None] * len(candidates)
        return [s if not r else None for s, r in zip(candidates.items, candidates.reasons, strict=True)]

    def score(self, candidates: Candidates) -> OracleResult:
        values = np.full(len(candidates), np.nan)
        reasons = [""] * len(candidates)
        for i, item in enumerate(self._inputs(candidates)):
            if item is None:
                reasons[i] = candidates.reasons[i] or "invalid candidate"
                continue
            try:
                values[i] = float(self.function(item))
            except OutsideDomain as error:
                reasons[i] = f"{self.name}: {error}"
            except Exception as error:  # one bad candidate must not stop the batch
                reasons[i] = f"{self.name}: {type(error).__name__}: {error}"
        return OracleResult(values, reasons)
