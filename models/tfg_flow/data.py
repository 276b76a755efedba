"""QM9 heavy-atom geometries and the six guided properties for TFG-Flow (Lin et al. 2025, Sec. 5.1).

A molecule is ``(types, coords)``: ``types[i]`` the index of heavy atom ``i`` in :data:`ATOMS` and
``coords[i]`` its DFT position in Å, centred at the heavy atoms' centre of geometry (the flow lives
in the zero-centre-of-mass subspace). Hydrogens are removed, as in the reference code: at most 9
atoms per molecule, which is what lets the EGNN train on two CPU cores. The SDF the user gets has
explicit hydrogens again (bonds perceived from the geometry, then RDKit's ``AddHs`` with
coordinates), so viewers and GFN2-xTB see whole molecules.

Properties (units as reported, the same table as the property transformers'): polarisability
``alpha`` (bohr³), heat capacity ``cv`` (cal/(mol·K)), ``gap``/``homo``/``lumo`` (eV, converted from
Hartree) and dipole moment ``mu`` (D). Split by molecule, 80/10/10 with seed 0; the training split
is cut into two halves by a second seeded draw: the guide predictors learn on half 0 and the
evaluator predictors on half 1 (the EDM protocol), so the evaluator never saw a molecule the guide
learned from. The test split is used only by the benchmark.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from designer.errors import DesignerError
from designer.models.des_transformer.data import QM9_COLUMNS

ATOMS = ("C", "N", "O", "F")
MAX_ATOMS = 9
# name -> (qm9pack column, factor to the reported unit, unit, description): the DES transformers' table
PROPERTIES: dict[str, tuple[str, float, str, str]] = {name: QM9_COLUMNS[name]
                                                      for name in ("alpha", "cv", "gap", "homo", "lumo", "mu")}
PROPERTY_NAMES = tuple(PROPERTIES)


@dataclass
class Geometries:
    """``types`` (M, 9) int64 (-1 = no atom), ``coords`` (M, 9, 3) float32 Å (zero centre), ``n_atoms``
    (M,), ``values`` (M, 6) in :data:`PROPERTY_NAMES` order, ``smiles`` (M,), ``split`` (M,) 0/1/2 and
    ``half`` (M,) 0 (guide) / 1 (evaluator) within the training split."""

    types: np.ndarray
    coords: np.ndarray
    n_atoms: np.ndarray
    values: np.ndarray
    smiles: np.ndarray
    split: np.ndarray
    half: np.ndarray

    def __len__(self) -> int:
        return len(self.types)

    def subset(self, mask: np.ndarray) -> Geometries:
        return Geometries(self.types[mask], self.coords[mask], self.n_atoms[mask], self.values[mask],
                          self.smiles[mask], self.split[mask], self.half[mask])


def _qm9_root() -> Path:
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise DesignerError("QM9 needs the qm9pack package: pip install qm9pack")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def parse_molecule(elements: str, xyz: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Heavy-atom types and centred coordinates from qm9pack's ``Elements`` and ``XYZ_Ang`` strings;
    None for an element outside :data:`ATOMS`."""
    symbols = [s.strip(" '\"") for s in elements.strip("[]").split(",")]
    coords = np.array([float(v) for v in xyz.replace("[", " ").replace("]", " ").replace(",", " ").split()]
                      ).reshape(-1, 3)
    heavy = [i for i, s in enumerate(symbols) if s != "H"]
    if any(symbols[i] not in ATOMS for i in heavy) or not heavy or len(heavy) > MAX_ATOMS:
        return None
    types = np.array([ATOMS.index(symbols[i]) for i in heavy])
    positions = coords[heavy]
    return types, positions - positions.mean(0)


def qm9_geometries(cache_dir: Path | None = None, limit: int | None = None) -> Geometries:
    """All QM9 molecules as heavy-atom geometries with properties and split, cached as ``.npz``."""
    import pandas as pd

    from designer.data import cache_dir as default_cache
    from designer.models.des_transformer.data import random_split

    folder = (cache_dir or default_cache()) / "tfg_flow"
    folder.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(f"qm9-heavy|{ATOMS}|{MAX_ATOMS}|{PROPERTY_NAMES}|{limit}|v1".encode()).hexdigest()[:12]
    path = folder / f"qm9_heavy_{key}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as data:
            return Geometries(**{k: data[k] for k in Geometries.__dataclass_fields__})
    root = _qm9_root()
    columns = ["SMILES", "Elements", "XYZ_Ang", *(column for column, *_ in PROPERTIES.values())]
    table = pd.concat([pd.read_csv(root / f"qm9_part{k}.csv", usecols=columns) for k in (1, 2, 3)],
                      ignore_index=True)
    if limit:
        table = table.iloc[:limit]
    types = np.full((len(table), MAX_ATOMS), -1, dtype=np.int64)
    coords = np.zeros((len(table), MAX_ATOMS, 3), dtype=np.float32)
    n_atoms = np.zeros(len(table), dtype=np.int64)
    keep = np.zeros(len(table), dtype=bool)
    for i, (elements, xyz) in enumerate(zip(table["Elements"], table["XYZ_Ang"], strict=True)):
        parsed = parse_molecule(elements, xyz)
        if parsed is None:
            continue
        t, x = parsed
        types[i, :len(t)], coords[i, :len(t)], n_atoms[i], keep[i] = t, x, len(t), True
    values = np.stack([table[column].to_numpy(np.float64) * factor for column, factor, *_ in PROPERTIES.values()],
                      axis=1)
    split = random_split(int(keep.sum()), 0)
    half = (np.random.default_rng(1).random(int(keep.sum())) < 0.5).astype(np.int64)
    data = Geometries(types[keep], coords[keep], n_atoms[keep], values[keep],
                      table["SMILES"].to_numpy(str)[keep], split, half)
    tmp = path.with_suffix(".part.npz")
    np.savez_compressed(tmp, **{k: getattr(data, k) for k in Geometries.__dataclass_fields__})
    tmp.replace(path)
    return data


def quantile_bin(edges: np.ndarray, values: np.ndarray | float) -> np.ndarray:
    """Index of the bin of ``edges`` (bins + 1 increasing values) that holds each value; values outside
    the edges fall in the first or last bin."""
    return np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)


def atom_count_table(data: Geometries, bins: int = 20) -> dict[str, dict[str, list]]:
    """Per property, a histogram of heavy-atom counts within each of ``bins`` quantile bins of the
    property over the training split: ``{"edges": (bins + 1,), "counts": (bins, MAX_ATOMS + 1)}``.
    The sampler reads p(N | c) from it, so that a target (a large α, a small Cv) gets molecules of a
    size that can carry it; the reference draws the target from p(c | N) for a given N instead."""
    train = data.subset(data.split == 0)
    table = {}
    for column, name in enumerate(PROPERTY_NAMES):
        values = train.values[:, column]
        edges = np.quantile(values, np.linspace(0, 1, bins + 1))
        which = quantile_bin(edges, values)
        counts = np.zeros((bins, MAX_ATOMS + 1), dtype=np.int64)
        np.add.at(counts, (which, train.n_atoms), 1)
        table[name] = {"edges": [round(float(e), 6) for e in edges], "counts": counts.tolist()}
    return table


if __name__ == "__main__":  # build the cache ahead of training: python -m designer.models.tfg_flow.data
    geometries = qm9_geometries()
    print(f"{len(geometries)} molecules; atoms per molecule {np.bincount(geometries.n_atoms)}; "
          f"split {np.bincount(geometries.split)}")
