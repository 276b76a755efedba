"""Offline design tasks: a fixed data set of scored sequences plus a true objective that scores any
design but is never shown to the optimizer (design-bench's protocol).

``tfbind8`` family: every one of the 4^8 = 65,536 DNA 8-mers is scored with a JASPAR CORE matrix
(log-odds, best of both strands); the offline data are the 8-mers in the lower half of that
landscape, as design-bench built TFBind8 from the lower half of its (measured) landscape.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

from designer.candidates import ALPHABETS
from designer.errors import DesignerError, UnknownNameError

# Factor -> JASPAR 2026 CORE matrix of width 8 (vertebrates).
TFBIND8_FACTORS = {"creb1": "MA0018.5", "foxa1": "MA0148.5", "gata4": "MA0482.3", "cdx2": "MA0465.3"}
DEFAULT_FACTOR = "creb1"


@dataclass
class OfflineData:
    """Sequences as integer arrays (n, L) over ``alphabet``, with their scores."""

    x: np.ndarray
    y: np.ndarray
    alphabet: str

    def __post_init__(self) -> None:
        if self.x.ndim != 2 or len(self.x) != len(self.y):
            raise DesignerError("offline data needs one score per sequence and sequences of one length")
        if len(self.x) < 2:
            raise DesignerError("offline data needs at least two scored sequences")

    @property
    def letters(self) -> str:
        return ALPHABETS[self.alphabet]

    def strings(self, x: np.ndarray | None = None) -> list[str]:
        letters = self.letters
        return ["".join(letters[i] for i in row) for row in (self.x if x is None else x)]


@dataclass
class Task:
    """An offline task: the data the optimizer sees and the objective it does not."""

    name: str
    description: str
    data: OfflineData
    objective: Callable[[np.ndarray], np.ndarray] | None  # None for a user's own data set
    y_min: float
    y_max: float

    def normalised(self, y: np.ndarray) -> np.ndarray:
        """design-bench's normalised score (y − y_min) / (y_max − y_min), over the full task data."""
        return (np.asarray(y, dtype=float) - self.y_min) / (self.y_max - self.y_min)


def all_kmers(length: int, alphabet_size: int = 4) -> np.ndarray:
    """Every sequence of ``length`` letters as integer rows, in lexicographic order."""
    return np.array(list(itertools.product(range(alphabet_size), repeat=length)), dtype=np.int64)


@cache
def tfbind8_landscape(factor: str) -> tuple[np.ndarray, np.ndarray]:
    """All 65,536 8-mers and their scores under the factor's JASPAR matrix (best of both strands)."""
    from designer.oracles.sequence import jaspar_pssm

    pssm = jaspar_pssm(TFBIND8_FACTORS[factor])
    weights = np.array([[pssm[base][i] for base in "ACGT"] for i in range(pssm.length)])  # (8, 4)
    x = all_kmers(8)
    positions = np.arange(8)
    forward = weights[positions, x].sum(1)
    reverse = weights[positions, (3 - x)[:, ::-1]].sum(1)  # reverse complement: A<->T, C<->G, reversed
    return x, np.maximum(forward, reverse)


def tfbind8(factor: str = DEFAULT_FACTOR) -> Task:
    """The TF-binding 8-mer task for ``factor``; offline data = the lower half of the landscape."""
    x, y = tfbind8_landscape(factor)
    lower = y <= np.median(y)

    def objective(designs: np.ndarray) -> np.ndarray:
        index = (np.asarray(designs) * (4 ** np.arange(7, -1, -1))).sum(1)  # row -> lexicographic index
        return y[index]

    name = "tfbind8" if factor == DEFAULT_FACTOR else f"tfbind8-{factor}"
    return Task(name, f"JASPAR {TFBIND8_FACTORS[factor]} ({factor.upper()}) 8-mer binding landscape",
                OfflineData(x[lower], y[lower], "dna"), objective, float(y.min()), float(y.max()))


TASKS: dict[str, Callable[[], Task]] = {
    ("tfbind8" if f == DEFAULT_FACTOR else f"tfbind8-{f}"): (lambda f=f: tfbind8(f)) for f in TFBIND8_FACTORS
}


def task(name: str) -> Task:
    """A built-in task by name."""
    if name not in TASKS:
        raise UnknownNameError("task", name, TASKS)
    return TASKS[name]()


def user_task(path: str, sequence_column: str, score_column: str, alphabet: str | None = None) -> Task:
    """A task from the user's own CSV or FASTA of scored sequences (no true objective)."""
    from pathlib import Path

    from designer.io import read

    table = read(Path(path), kind="sequence", alphabet=alphabet,
                 column=sequence_column if Path(path).suffix.lower() == ".csv" else None)
    if score_column not in table.columns:
        raise DesignerError(f"{path}: no score column {score_column!r} (columns: {', '.join(table.columns) or 'none'})")
    y = table.columns[score_column]
    if y.dtype == object:
        bad = next(i for i, v in enumerate(y) if not _is_number(v))
        raise DesignerError(f"{path}: score {y[bad]!r} of {table.ids[bad]} is not a number")
    bad_rows = [i for i, r in enumerate(table.reasons) if r]
    if bad_rows:
        raise DesignerError(f"{path}: {table.ids[bad_rows[0]]}: {table.reasons[bad_rows[0]]}")
    lengths = {len(s) for s in table.items}
    if len(lengths) > 1:
        raise DesignerError(f"{path}: sequences have different lengths ({', '.join(map(str, sorted(lengths)))}); "
                            "these optimizers need one length")
    letters = ALPHABETS[table.alphabet or "protein"]
    x = np.array([[letters.index(c) for c in s] for s in table.items], dtype=np.int64)
    y = y.astype(float)
    if not np.isfinite(y).all():
        raise DesignerError(f"{path}: every sequence needs a finite score in {score_column!r}")
    return Task(Path(path).stem, f"user data {path}", OfflineData(x, y, table.alphabet or "protein"), None,
                float(y.min()), float(y.max()))


def _is_number(value: object) -> bool:
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True
