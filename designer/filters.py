"""Filter rules: each keeps some candidates of a table and says why it dropped the others.

Rules are named like oracles: ``valid``, ``unique``, ``novel[=REFERENCE]``, ``pains``, ``brenk``,
``nih``, ``lipinski``, ``veber``, or a comparison on any oracle such as ``qed>=0.6`` or
``mw<=500`` (the oracle is computed when its column is missing).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from designer.candidates import Candidates
from designer.errors import DesignerError, UnknownNameError
from designer.registry import filter_specs, register_filter, split_spec


@dataclass
class Rule:
    """A named predicate over a table: ``keep(candidates)`` is a boolean mask of survivors."""

    name: str
    keep: Callable[[Candidates], np.ndarray]
    description: str = ""

    def __call__(self, candidates: Candidates) -> np.ndarray:
        return np.asarray(self.keep(candidates), dtype=bool)


def canonical_keys(candidates: Candidates) -> list[str | None]:
    """Canonical identity of each candidate (canonical SMILES, the sequence, or the backbone's
    coordinates to 0.01 Å); None if invalid."""
    if candidates.kind == "molecule":
        from rdkit import Chem

        return [Chem.MolToSmiles(m) if m is not None else None for m in candidates.mols]
    if candidates.kind == "backbone":  # residue strings say nothing (generated chains are all glycine)
        import hashlib

        return [hashlib.sha1(np.round(np.asarray(c), 2).tobytes()).hexdigest() if c is not None else None
                for c in (candidates.objects or [None] * len(candidates))]
    valid = candidates.valid
    return [item if ok else None for item, ok in zip(candidates.items, valid, strict=True)]


def _oracle_values(candidates: Candidates, name: str) -> np.ndarray:
    """The column ``name``, scoring it first when missing."""
    if name not in candidates.columns:
        from designer.scoring import score

        score(candidates, [name])
    return candidates.columns[name].astype(float)


@register_filter("valid", "keep candidates that parse (valid SMILES / letters of the alphabet)")
def _valid(arg: str | None) -> Rule:
    return Rule("valid", lambda c: c.valid, "parses")


@register_filter("unique", "keep the first of each distinct candidate (canonical SMILES / sequence)")
def _unique(arg: str | None) -> Rule:
    def keep(candidates: Candidates) -> np.ndarray:
        seen: set[str] = set()
        mask = np.zeros(len(candidates), dtype=bool)
        for i, key in enumerate(canonical_keys(candidates)):
            key = key if key is not None else f"invalid:{candidates.items[i]}"  # only `valid` drops these
            if key not in seen:
                seen.add(key)
                mask[i] = True
        return mask
    return Rule("unique", keep, "first of its kind")


@cache
def reference_keys(reference: str) -> frozenset[str]:
    """Canonical keys of a reference set: a data set name (``moses-train``) or a file."""
    from pathlib import Path

    if reference == "moses-train":
        from designer.data import moses_smiles

        return frozenset(moses_smiles("train"))  # MOSES SMILES are already canonical RDKit SMILES
    from designer.io import read

    if not Path(reference).exists():
        raise DesignerError(f"novelty reference {reference!r} is neither 'moses-train' nor an existing file")
    table = read(reference)
    return frozenset(k for k in canonical_keys(table) if k is not None)


@register_filter("novel", "keep candidates not in a reference set (default: MOSES train); invalid ones stay",
                 arg="'moses-train' or a .smi/.csv/.sdf/.fasta file")
def _novel(arg: str | None) -> Rule:
    reference = arg or "moses-train"

    def keep(candidates: Candidates) -> np.ndarray:
        known = reference_keys(reference)
        return np.array([k is None or k not in known for k in canonical_keys(candidates)], dtype=bool)
    return Rule(f"novel={reference}" if arg else "novel", keep, f"not in {reference}")


def _at_most(oracle: str, limit: float, description: str) -> Callable[[str | None], Rule]:
    def factory(arg: str | None) -> Rule:
        return Rule(oracle, lambda c: _oracle_values(c, oracle) <= limit, description)
    return factory


register_filter("pains", "keep molecules with no PAINS A/B/C alert")(_at_most("pains", 0, "PAINS-free"))
register_filter("brenk", "keep molecules with no Brenk alert")(_at_most("brenk", 0, "Brenk-free"))
register_filter("nih", "keep molecules with no NIH alert")(_at_most("nih", 0, "NIH-free"))
register_filter("lipinski", "keep molecules with at most one rule-of-five violation")(
    _at_most("lipinski", 1, "rule of five (≤ 1 violation)"))
register_filter("veber", "keep molecules meeting both Veber rules")(_at_most("veber", 0, "Veber rules"))

COMPARISON = re.compile(r"^\s*([A-Za-z_][\w\-]*(?:=[^<>=!]+)?)\s*(>=|<=|==|!=|>|<)\s*([-+0-9.eE]+)\s*$")
OPERATORS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
             "==": operator.eq, "!=": operator.ne}


def parse_rule(spec: str) -> Rule:
    """A rule from its name (``unique``, ``novel=ref.smi``) or a comparison (``qed>=0.6``)."""
    match = COMPARISON.match(spec)
    if match:
        oracle, op, number = match.groups()
        from designer.registry import make_oracle

        make_oracle(oracle)  # fail now, with a suggestion, on an unknown oracle
        try:
            threshold = float(number)
        except ValueError:
            raise DesignerError(f"rule {spec!r}: {number!r} is not a number") from None
        compare = OPERATORS[op]
        return Rule(spec.replace(" ", ""), lambda c: compare(_oracle_values(c, oracle), threshold),
                    f"{oracle} {op} {threshold:g}")
    loose = re.match(r"^\s*([A-Za-z_][\w\-]*(?:=[^<>=!]+)?)\s*(>=|<=|==|!=|>|<)\s*(.*)$", spec)
    if loose:  # a comparison whose right-hand side is not a number
        raise DesignerError(f"rule {spec!r}: {loose.group(3).strip()!r} is not a number (e.g. {loose.group(1)}"
                            f"{loose.group(2)}0.6)")
    name, arg = split_spec(spec)
    specs = filter_specs()
    if name not in specs:
        raise UnknownNameError("filter rule", name, [*specs, "<oracle><op><number> (e.g. qed>=0.6)"])
    entry = specs[name]
    if arg is not None and not entry.arg:
        raise DesignerError(f"filter rule {name!r} takes no argument (got {spec!r})")
    return entry.factory(arg)


@dataclass
class FilterReport:
    """How many candidates each rule dropped, in order, and which (row of the input -> rule)."""

    before: int
    dropped: dict[str, int]
    dropped_by: dict[int, str] = field(default_factory=dict)

    @property
    def after(self) -> int:
        return self.before - sum(self.dropped.values())


def apply_rules(candidates: Candidates, rules: list[str | Rule]) -> tuple[Candidates, FilterReport]:
    """Apply rules in order; returns the survivors and the per-rule drop counts."""
    report = FilterReport(len(candidates), {})
    rows = np.arange(len(candidates))  # each survivor's row in the input
    for rule in rules:
        rule = parse_rule(rule) if isinstance(rule, str) else rule
        mask = rule(candidates)
        report.dropped[rule.name] = report.dropped.get(rule.name, 0) + int((~mask).sum())
        report.dropped_by.update({int(row): rule.name for row in rows[~mask]})
        candidates, rows = candidates.take(mask), rows[mask]
    return candidates, report


def dropped_table(candidates: Candidates, report: FilterReport) -> Candidates:
    """The rows of ``candidates`` that the rules dropped, with a ``dropped_by`` column naming the rule."""
    rows = sorted(report.dropped_by)
    table = candidates.take(np.array(rows, dtype=int))
    table.columns["dropped_by"] = np.array([report.dropped_by[r] for r in rows], dtype=object)
    return table
