"""What every generative model offers the application: named conditions and a seeded ``sample``.

A model family (``models/<family>/sample.py``) implements :class:`Generator`; the registry maps a
model name to a loader returning one, and ``designer generate`` / ``designer.generate`` call it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from designer.errors import DesignerError, UnknownNameError

DEFAULT_TOLERANCES = {  # |achieved − target| that counts as on target, per property (see `designer models`)
    "qed": 0.05, "sa": 0.3, "logp": 0.5, "mw": 15.0,  # RDKit oracles, MOSES-like molecules
    "amp": 0.1, "dna_activity": 0.5, "hydropathy": 0.2,  # learned sequence oracles
}
UNITS = {"mw": "g/mol", "dna_activity": "expression bin"}
PROPERTY_DESCRIPTIONS = {  # molecule properties shared by the MOSES models
    "qed": "quantitative estimate of drug-likeness (RDKit QED), 0–1",
    "sa": "synthetic accessibility (Ertl & Schuffenhauer), 1 easy – 10 hard",
    "logp": "Crippen logP",
    "mw": "molecular weight, g/mol",
    "pains_free": "no PAINS substructure alert (RDKit FilterCatalog)",
    "brenk_free": "no Brenk unwanted-group alert (RDKit FilterCatalog)",
}

DEFAULT_PERCENTILE = {  # what a bare `--target NAME` asks of a model trained on MOSES-like molecules
    "qed": (90, "90th percentile of the training set's QED"),
    "sa": (10, "10th percentile of the training set's SA (easier to make)"),
    "logp": (50, "median of the training set's logP"),
    "mw": (50, "median of the training set's molecular weight"),
}


@dataclass(frozen=True)
class Condition:
    """A property a model was trained to condition on.

    ``numeric`` conditions accept a value in ``[low, high]`` (the training range); ``categorical``
    ones one of ``choices``. ``default`` is what a bare ``--target NAME`` asks for, and
    ``default_note`` says where it comes from (e.g. "90th percentile of the training set").
    ``tolerance`` is what ``--tolerance default`` allows as |achieved − target| (None: the
    per-property table :data:`DEFAULT_TOLERANCES`); ``unit`` is shown beside values.
    """

    name: str
    kind: Literal["numeric", "categorical"]
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    default: float | str | None = None
    default_note: str = ""
    description: str = ""
    tolerance: float | None = None
    unit: str = ""  # "" means the table UNITS (or no unit)

    def describe(self) -> str:
        if self.kind == "numeric":
            unit = self.unit or UNITS.get(self.name, "")
            unit = f" {unit}" if unit else ""
            return f"{self.name} in [{self.low:g}, {self.high:g}]{unit}"
        return f"{self.name} in {{{', '.join(self.choices)}}}"

    def default_tolerance(self) -> float:
        """The tolerance ``--tolerance default`` uses for this property."""
        if self.tolerance is not None:
            return self.tolerance
        if self.name in DEFAULT_TOLERANCES:
            return DEFAULT_TOLERANCES[self.name]
        assert self.low is not None and self.high is not None
        return round(0.05 * (self.high - self.low), 6)  # 5 % of the trained range

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
    (at least ``trained_on`` and ``metrics``), shown by ``designer models``. A generator may set
    ``conditioning = "selection"`` when it ignores targets while sampling (an unconditional model):
    the target loop then meets targets by selection alone and applies the default tolerances. A
    generator's ``default_guidance`` is the scale the target loop uses when none is asked for (2 if
    it declares none).
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


def describe_targets(conditions: Mapping[str, Condition], notes: bool = False) -> list[str]:
    """One line per target as the model card and `designer generate --help` list it (``notes``: with
    where each default comes from, as `designer models` shows it)."""
    lines = []
    for c in conditions.values():
        if c.kind == "numeric":
            line = f"{c.describe()}, tolerance ±{c.default_tolerance():g}, default {c.default:g}"
        else:
            line = f"{c.describe()}, default {c.default}"
        lines.append(f"{line} ({c.default_note})" if notes and c.default_note else line)
    return lines


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
