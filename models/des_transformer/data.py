"""Property tables for the transformers: QM9 (12 DFT properties) and MOSES (QED, SA, logP, MW).

QM9 comes from the ``qm9pack`` CSV files (read by path, only the SMILES and property columns);
SMILES are RDKit-canonical without stereo marks (the model sees one spelling per molecule, and an
oracle canonicalises its input the same way). Orbital and thermochemical energies are converted
from Hartree to eV. Split: 80/10/10 by molecule, seeded; the test split is never used for training
or for choosing settings.

MOSES uses the same 120,000-molecule training subset and RDKit labels as Graph DiT and the CharRNN
(``designer.models.graph_dit.data.moses_graphs``), minus 2 % kept for validation; the MOSES test
split is the test set.

Values are MinMax-scaled to [−1, 1] per property on the training split (the reference's scaling).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from designer.errors import DesignerError

HARTREE_EV = 27.211386
# name -> (qm9pack column, factor to the unit we report, unit, description)
QM9_COLUMNS: dict[str, tuple[str, float, str, str]] = {
    "mu": ("Dipole_debye", 1.0, "D", "dipole moment"),
    "alpha": ("Polarizability_bohr3", 1.0, "bohr³", "isotropic polarizability"),
    "homo": ("HOMO_au", HARTREE_EV, "eV", "HOMO energy"),
    "lumo": ("LUMO_au", HARTREE_EV, "eV", "LUMO energy"),
    "gap": ("HOMO_LUMO_gap_au", HARTREE_EV, "eV", "HOMO–LUMO gap"),
    "r2": ("R2_bohr2", 1.0, "bohr²", "electronic spatial extent"),
    "zpve": ("ZPVE_au", HARTREE_EV, "eV", "zero-point vibrational energy"),
    "cv": ("Heatcapacity_Cv_cal_mol_K", 1.0, "cal/(mol·K)", "heat capacity at 298 K"),
    "u0": ("InternalEnergy_0K_au", HARTREE_EV, "eV", "internal energy at 0 K"),
    "u298": ("InternalEnergy_298K_au", HARTREE_EV, "eV", "internal energy at 298 K"),
    "h298": ("Enthalphy_298K_au", HARTREE_EV, "eV", "enthalpy at 298 K"),
    "g298": ("GibbsFreeEnergy_298K_au", HARTREE_EV, "eV", "free energy at 298 K"),
}
QM9_PROPERTIES = tuple(QM9_COLUMNS)
MOSES_PROPERTIES = ("qed", "sa", "logp", "mw")
MOSES_UNITS = {"qed": "", "sa": "", "logp": "", "mw": "g/mol"}  # as designer.generators.UNITS


@dataclass
class PropertySet:
    """SMILES with property values (M, P) in reported units, their names/units and a split
    (0 train, 1 validation, 2 test)."""

    smiles: list[str]
    values: np.ndarray
    names: tuple[str, ...]
    units: dict[str, str]
    split: np.ndarray

    def part(self, split: int) -> tuple[list[str], np.ndarray]:
        rows = np.flatnonzero(self.split == split)
        return [self.smiles[i] for i in rows], self.values[rows]


@dataclass
class MinMax:
    """Per-property scaling to [−1, 1] fitted on training values (the reference's MinMaxScaler)."""

    low: np.ndarray
    high: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> MinMax:
        return cls(values.min(0).astype(np.float64), values.max(0).astype(np.float64))

    def scale(self, values: np.ndarray) -> np.ndarray:
        return 2 * (np.asarray(values, dtype=np.float64) - self.low) / (self.high - self.low) - 1

    def unscale(self, scaled: np.ndarray) -> np.ndarray:
        return (np.asarray(scaled, dtype=np.float64) + 1) / 2 * (self.high - self.low) + self.low


def canonical(smiles: str) -> str | None:
    """RDKit canonical SMILES without stereo marks, or None if RDKit cannot read it."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    return None if mol is None else Chem.MolToSmiles(mol, isomericSmiles=False)


def random_split(n: int, seed: int, fractions: tuple[float, float] = (0.8, 0.1)) -> np.ndarray:
    order = np.random.default_rng(seed).permutation(n)
    split = np.full(n, 2, dtype=np.int64)
    n_train, n_val = int(fractions[0] * n), int(fractions[1] * n)
    split[order[:n_train]] = 0
    split[order[n_train:n_train + n_val]] = 1
    return split


def qm9_set(seed: int = 0, limit: int | None = None) -> PropertySet:
    """QM9 SMILES and the 12 properties of :data:`QM9_COLUMNS` (130,831 molecules; a few SMILES
    RDKit cannot read are left out), split 80/10/10 by ``seed``."""
    import pandas as pd

    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise DesignerError("QM9 needs the qm9pack package: pip install qm9pack")
    root = Path(next(iter(spec.submodule_search_locations))) / "data"
    columns = ["SMILES", *(column for column, *_ in QM9_COLUMNS.values())]
    table = pd.concat([pd.read_csv(root / f"qm9_part{k}.csv", usecols=columns) for k in (1, 2, 3)],
                      ignore_index=True)
    if limit:
        table = table.iloc[:limit]
    smiles = [canonical(s) for s in table["SMILES"]]
    keep = np.array([s is not None for s in smiles])
    values = np.stack([table[column].to_numpy(np.float64) * factor for column, factor, *_ in QM9_COLUMNS.values()],
                      axis=1)[keep]
    kept = [s for s in smiles if s is not None]
    return PropertySet(kept, values, QM9_PROPERTIES, {k: unit for k, (_, _, unit, _) in QM9_COLUMNS.items()},
                       random_split(len(kept), seed))


def moses_set(n_train: int = 120000, seed: int = 0, test: int = 10000) -> PropertySet:
    """The Graph DiT / CharRNN MOSES training subset (2 % as validation) plus ``test`` molecules of
    the MOSES test split (seeded draw), with RDKit QED, SA, logP and MW."""
    from rdkit import Chem

    from designer.data import moses_smiles
    from designer.models.graph_dit.data import moses_graphs, properties

    graphs = moses_graphs(n_train, seed)
    smiles = [str(s) for s in graphs.smiles]
    split = np.where(np.random.default_rng(seed).random(len(smiles)) < 0.02, 1, 0)
    pool = moses_smiles("test")
    picked = np.random.default_rng(seed + 1).choice(len(pool), size=min(test, len(pool)), replace=False)
    test_smiles = [Chem.MolToSmiles(Chem.MolFromSmiles(pool[i])) for i in picked]
    test_values = np.array([properties(Chem.MolFromSmiles(s))[0] for s in test_smiles])
    return PropertySet(smiles + test_smiles, np.concatenate([graphs.numeric.astype(np.float64), test_values]),
                       MOSES_PROPERTIES, dict(MOSES_UNITS),
                       np.concatenate([split, np.full(len(test_smiles), 2)]))


def property_set(name: str, seed: int = 0) -> PropertySet:
    if name == "qm9":
        return qm9_set(seed)
    if name == "moses":
        return moses_set(seed=seed)
    raise DesignerError(f"unknown data set {name!r} (qm9, moses)")
