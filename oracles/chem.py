"""RDKit descriptors as oracles: QED, SA score, logP, MW, TPSA, H-bond donors/acceptors, rotatable
bonds, rings, fraction sp3, Tanimoto similarity, and Lipinski / Veber rule violations."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem import QED, Crippen, Descriptors, Lipinski, rdFingerprintGenerator, rdMolDescriptors

from designer.errors import DesignerError
from designer.oracles.base import Direction, ItemOracle, Oracle, organic_only
from designer.registry import register_oracle


@cache
def _sascorer():  # the SA model loads a 4 MB fragment table: do it once, on first use
    from rdkit.Contrib.SA_Score import sascorer

    sascorer.readFragmentScores()
    return sascorer


def sa_score(mol: Chem.Mol) -> float:
    """Ertl & Schuffenhauer synthetic accessibility, 1 (easy) to 10 (hard)."""
    return _sascorer().calculateScore(mol)


def lipinski_violations(mol: Chem.Mol) -> int:
    """Rule-of-five violations: MW > 500, logP > 5, H-bond donors > 5, acceptors > 10."""
    return sum((Descriptors.MolWt(mol) > 500, Crippen.MolLogP(mol) > 5,
                Lipinski.NumHDonors(mol) > 5, Lipinski.NumHAcceptors(mol) > 10))


def veber_violations(mol: Chem.Mol) -> int:
    """Veber's oral bioavailability rules: rotatable bonds > 10, TPSA > 140 Å²."""
    return sum((rdMolDescriptors.CalcNumRotatableBonds(mol) > 10, rdMolDescriptors.CalcTPSA(mol) > 140))


_morgan = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)


def morgan_fingerprint(mol: Chem.Mol) -> DataStructs.ExplicitBitVect:
    """ECFP4-like Morgan fingerprint (radius 2, 2048 bits), the usual choice for Tanimoto similarity."""
    return _morgan.GetFingerprint(mol)


def _register_descriptor(name: str, function: Callable[[Chem.Mol], float], description: str, *,
                         direction: Direction = "none", low: float = 0.0, high: float = np.inf,
                         unit: str = "") -> None:
    def factory(arg: str | None) -> Oracle:
        return ItemOracle(name, "molecule", function, direction=direction, low=low, high=high,
                          unit=unit, description=description)

    register_oracle(name, "molecule", description)(factory)


_register_descriptor("qed", organic_only(QED.qed), "quantitative estimate of drug-likeness (Bickerton 2012), 0-1",
                     direction="maximize", high=1.0)
_register_descriptor("sa", organic_only(sa_score), "synthetic accessibility score (Ertl 2009), 1 easy - 10 hard",
                     direction="minimize", low=1.0, high=10.0)
_register_descriptor("logp", Crippen.MolLogP, "Wildman-Crippen logP", low=-np.inf)
_register_descriptor("mw", Descriptors.MolWt, "molecular weight", unit="Da")
_register_descriptor("tpsa", rdMolDescriptors.CalcTPSA, "topological polar surface area", unit="Å²")
_register_descriptor("hbd", Lipinski.NumHDonors, "hydrogen-bond donors (Lipinski)")
_register_descriptor("hba", Lipinski.NumHAcceptors, "hydrogen-bond acceptors (Lipinski)")
_register_descriptor("rotb", rdMolDescriptors.CalcNumRotatableBonds, "rotatable bonds")
_register_descriptor("rings", rdMolDescriptors.CalcNumRings, "ring count (SSSR)")
_register_descriptor("fsp3", rdMolDescriptors.CalcFractionCSP3, "fraction of sp3 carbons", high=1.0)
_register_descriptor("heavy_atoms", lambda mol: mol.GetNumHeavyAtoms(), "heavy-atom count")
_register_descriptor("lipinski", lipinski_violations, "Lipinski rule-of-five violations (0-4)",
                     direction="minimize", high=4.0)
_register_descriptor("veber", veber_violations, "Veber rule violations (0-2)", direction="minimize",
                     high=2.0)


def reference_molecules(arg: str) -> list[Chem.Mol]:
    """Reference molecules from a SMILES, comma-separated SMILES, or a ``.smi``/``.csv``/``.sdf`` file."""
    path = Path(arg)
    if path.suffix.lower() in (".smi", ".csv", ".sdf", ".txt"):
        from designer.io import read

        table = read(path)
        mols = [m for m in table.mols if m is not None]
    else:
        mols = [Chem.MolFromSmiles(text) for text in arg.split(",")]
        if any(m is None for m in mols):
            raise DesignerError(f"similarity reference {arg!r} is not a valid SMILES or a molecule file")
    if not mols:
        raise DesignerError(f"similarity reference {arg!r} holds no valid molecule")
    return mols


class SimilarityOracle(Oracle):
    """Highest Tanimoto similarity (Morgan radius 2, 2048 bits) to a set of reference molecules."""

    kind = "molecule"
    direction = "maximize"
    low, high = 0.0, 1.0
    description = "max Tanimoto similarity (Morgan r=2, 2048 bits) to reference molecules"

    def __init__(self, references: list[Chem.Mol]) -> None:
        self.name = "similarity"
        self.references = [morgan_fingerprint(m) for m in references]

    def score(self, candidates):  # type: ignore[no-untyped-def]
        from designer.oracles.base import OracleResult

        values = np.full(len(candidates), np.nan)
        reasons = [""] * len(candidates)
        for i, mol in enumerate(candidates.mols):
            if mol is None:
                reasons[i] = candidates.reasons[i]
                continue
            values[i] = max(DataStructs.BulkTanimotoSimilarity(morgan_fingerprint(mol), self.references))
        return OracleResult(values, reasons)


@register_oracle("similarity", "molecule", SimilarityOracle.description,
                 arg="reference SMILES, comma-separated SMILES or a molecule file", arg_required=True)
def _similarity(arg: str | None) -> Oracle:
    assert arg is not None
    return SimilarityOracle(reference_molecules(arg))
