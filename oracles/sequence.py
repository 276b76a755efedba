"""Sequence oracles: DNA GC content and JASPAR PWM scores, protein ProtParam properties (Biopython)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np

from designer.candidates import Candidates
from designer.errors import DesignerError
from designer.oracles.base import ItemOracle, Oracle, OracleResult
from designer.registry import register_oracle

JASPAR_RELEASE = "JASPAR2026"


def gc_content(sequence: str) -> float:
    """Fraction of G and C letters."""
    return (sequence.count("G") + sequence.count("C")) / len(sequence)


@cache
def jaspar_pssm(motif: str):  # -> Bio.motifs PositionSpecificScoringMatrix
    """Log-odds PSSM (pseudocount 0.5, uniform background) of a JASPAR CORE motif, by matrix ID
    (``MA0139.2``) or factor name (``CTCF``: the CORE matrix with the lowest ID, latest version)."""
    from pyjaspar import jaspardb

    db = jaspardb(release=JASPAR_RELEASE)
    if motif.upper().startswith("MA") and "." in motif:
        found = db.fetch_motif_by_id(motif.upper())
    else:
        candidates = db.fetch_motifs_by_name(motif)
        if not candidates:
            raise DesignerError(f"no JASPAR motif named {motif!r} in {JASPAR_RELEASE}")
        found = sorted(candidates, key=lambda m: (m.base_id, -int(m.version)))[0]
    if found is None:
        raise DesignerError(f"no JASPAR motif {motif!r} in {JASPAR_RELEASE}")
    return found.counts.normalize(pseudocounts=0.5).log_odds()


class PWMOracle(Oracle):
    """Best log-odds score of a JASPAR motif over every window of a DNA sequence, both strands."""

    kind = "sequence"
    direction = "maximize"

    def __init__(self, motif: str) -> None:
        self.pssm = jaspar_pssm(motif)
        self.name = "pwm"
        self.low, self.high = float(self.pssm.min), float(self.pssm.max)
        self.description = f"best JASPAR {motif} log-odds over both strands"

    def score(self, candidates: Candidates) -> OracleResult:
        from Bio.Seq import Seq

        values = np.full(len(candidates), np.nan)
        reasons = list(candidates.reasons)
        if candidates.alphabet != "dna":
            return OracleResult(values, [f"pwm scores DNA, not {candidates.alphabet}"] * len(candidates))
        width = self.pssm.length
        for i, sequence in enumerate(candidates.items):
            if reasons[i]:
                continue
            if len(sequence) < width:
                reasons[i] = f"sequence shorter ({len(sequence)}) than the motif ({width})"
                continue
            forward = self.pssm.calculate(Seq(sequence))
            reverse = self.pssm.calculate(Seq(sequence).reverse_complement())
            values[i] = float(max(np.max(forward), np.max(reverse)))
        return OracleResult(values, reasons)


@register_oracle("pwm", "sequence", "best JASPAR position-weight-matrix log-odds score (DNA, both strands)",
                 arg="JASPAR factor name or matrix ID, e.g. CTCF or MA0139.2", arg_required=True)
def _pwm(arg: str | None) -> Oracle:
    assert arg is not None
    return PWMOracle(arg)


def _protparam(method: str, *args: float) -> Callable[[str], float]:
    def compute(sequence: str) -> float:
        from Bio.SeqUtils.ProtParam import ProteinAnalysis

        return float(getattr(ProteinAnalysis(sequence), method)(*args))
    return compute


class AlphabetOracle(ItemOracle):
    """An item oracle that only makes sense on one alphabet (GC content on DNA, pI on protein)."""

    def __init__(self, alphabet: str, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.alphabet = alphabet

    def score(self, candidates: Candidates) -> OracleResult:
        if candidates.alphabet != self.alphabet:
            reason = (f"{self.name} scores {self.alphabet} sequences, not {candidates.alphabet}; if these are "
                      f"{self.alphabet}, read them with --alphabet {self.alphabet} (alphabet={self.alphabet!r})")
            return OracleResult(np.full(len(candidates), np.nan), [reason] * len(candidates))
        return super().score(candidates)


SEQUENCE_ORACLES: dict[str, tuple[str | None, Callable[[str], float], str, float, float]] = {
    "length": (None, len, "sequence length", 0.0, np.inf),
    "gc": ("dna", gc_content, "GC content (fraction G+C) of a DNA sequence", 0.0, 1.0),
    "pi": ("protein", _protparam("isoelectric_point"), "isoelectric point (ProtParam)", 0.0, 14.0),
    "gravy": ("protein", _protparam("gravy"), "grand average of hydropathy (Kyte-Doolittle)", -4.5, 4.5),
    "instability": ("protein", _protparam("instability_index"),
                    "instability index (Guruprasad 1990); > 40 suggests unstable", -np.inf, np.inf),
    "aromaticity": ("protein", _protparam("aromaticity"), "fraction of F+W+Y (Lobry 1994)", 0.0, 1.0),
    "charge": ("protein", _protparam("charge_at_pH", 7.0), "net charge at pH 7 (ProtParam)",
               -np.inf, np.inf),
}


def _register(name: str) -> None:
    alphabet, function, description, low, high = SEQUENCE_ORACLES[name]

    @register_oracle(name, "sequence", description)
    def factory(arg: str | None) -> Oracle:
        if alphabet is None:
            return ItemOracle(name, "sequence", function, low=low, high=high, description=description)
        return AlphabetOracle(alphabet, name, "sequence", function, low=low, high=high,
                              description=description)


for _name in SEQUENCE_ORACLES:
    _register(_name)
