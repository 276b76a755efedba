"""MOSES SMILES → dense molecular graphs and property labels for Graph DiT.

A molecule is ``(x, e)``: ``x[i]`` the atom-type index of heavy atom ``i`` and ``e[i, j]`` the bond
type between atoms ``i`` and ``j`` (0 none, 1 single, 2 double, 3 triple), symmetric with a zero
diagonal. Hydrogens stay implicit and padding atoms are masked out, as in the reference code.

Unlike the reference (which keeps an "aromatic" bond type), molecules are kekulized: an aromatic
graph loses the hydrogen on pyrrole-type nitrogens ([nH]), so a perfectly generated indole or
imidazole would not decode back to a molecule. With Kekulé bonds every MOSES molecule round-trips
exactly (implicit hydrogens follow from the valences) and RDKit re-aromatises on output.

Labels are computed with RDKit directly here rather than through ``designer.score`` so that the
labelling (once per data set, cached as ``.npz``) does not depend on the oracle registry's startup;
the definitions are the same ones the ``qed``/``sa``/``logp``/``mw``/``brenk`` oracles use.

The categorical condition is Brenk-free (no Brenk et al. 2008 unwanted-group alert): about 8 % of
MOSES training molecules fail it. The paper's PAINS-free condition carries no signal on MOSES, which
was PAINS-filtered when it was built (16 of 120,000 training molecules match a PAINS alert).
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from rdkit import Chem, RDConfig, RDLogger
from rdkit.Chem import QED, Crippen, Descriptors
from rdkit.Chem.FilterCatalog import FilterCatalog, FilterCatalogParams

RDLogger.DisableLog("rdApp.*")

BOND_TYPES: tuple[Chem.BondType | None, ...] = (
    None, Chem.BondType.SINGLE, Chem.BondType.DOUBLE, Chem.BondType.TRIPLE)
BOND_INDEX = {bond: i for i, bond in enumerate(BOND_TYPES) if bond is not None}
NUMERIC_CONDITIONS = ("qed", "sa", "logp", "mw")
CATEGORICAL_CONDITIONS = {"brenk_free": ("no", "yes")}
LABELS_VERSION = "brenk"  # part of the cache key: labels computed before it carried pains_free


@dataclass
class GraphSet:
    """Dense graphs and labels: ``x`` (M, N) int8, ``e`` (M, N, N) int8, ``n_atoms`` (M,),
    ``numeric`` (M, 4) float32 in :data:`NUMERIC_CONDITIONS` order, ``categorical`` (M, 1) int64,
    ``smiles`` (M,) canonical SMILES, ``atoms`` the atom-type vocabulary."""

    x: np.ndarray
    e: np.ndarray
    n_atoms: np.ndarray
    numeric: np.ndarray
    categorical: np.ndarray
    smiles: np.ndarray
    atoms: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.smiles)


@cache
def _sascorer():  # the SA fragment table is 4 MB: load it once
    import sys

    sys.path.append(os.path.join(RDConfig.RDContribDir, "SA_Score"))
    import sascorer  # type: ignore[import-not-found]

    sascorer.readFragmentScores()
    return sascorer


@cache
def _brenk() -> FilterCatalog:
    params = FilterCatalogParams()
    params.AddCatalog(FilterCatalogParams.FilterCatalogs.BRENK)
    return FilterCatalog(params)


def properties(mol: Chem.Mol) -> tuple[list[float], int]:
    """Exact RDKit values ``[qed, sa, logp, mw]`` and Brenk-free (1 = no Brenk alert) for ``mol``."""
    numeric = [QED.qed(mol), _sascorer().calculateScore(mol), Crippen.MolLogP(mol), Descriptors.MolWt(mol)]
    return numeric, int(not _brenk().HasMatch(mol))


def mol_to_graph(mol: Chem.Mol, atom_index: dict[str, int], max_atoms: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Atom-type and Kekulé bond-type arrays of ``mol``, or ``None`` if it has an unknown element, a
    formal charge, too many atoms, or cannot be kekulized."""
    mol = Chem.Mol(mol)
    try:
        Chem.Kekulize(mol, clearAromaticFlags=True)
    except Exception:  # RDKit raises KekulizeException (a ValueError subclass in some versions)
        return None
    n = mol.GetNumAtoms()
    if n == 0 or n > max_atoms:
        return None
    x = np.zeros(n, dtype=np.int8)
    for atom in mol.GetAtoms():
        if atom.GetSymbol() not in atom_index or atom.GetFormalCharge() != 0:
            return None
        x[atom.GetIdx()] = atom_index[atom.GetSymbol()]
    e = np.zeros((n, n), dtype=np.int8)
    for bond in mol.GetBonds():
        i, j, kind = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx(), BOND_INDEX.get(bond.GetBondType())
        if kind is None:
            return None
        e[i, j] = e[j, i] = kind
    return x, e


def pad_graph(x: np.ndarray, e: np.ndarray, max_atoms: int) -> tuple[np.ndarray, np.ndarray]:
    """Atom types (n,) and bond types (n, n) zero-padded to ``max_atoms`` (padding = no atom/bond)."""
    padded_x = np.zeros(max_atoms, dtype=np.int8)
    padded_x[: len(x)] = x
    padded_e = np.zeros((max_atoms, max_atoms), dtype=np.int8)
    padded_e[: len(x), : len(x)] = e
    return padded_x, padded_e


def featurise(smiles: list[str], atoms: tuple[str, ...], max_atoms: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int], list[Chem.Mol]]:
    """Padded atom types (M, N), bond types (M, N, N) and atom counts (M,) of the molecules of
    ``smiles`` that fit the vocabulary, with their indices in ``smiles`` and their RDKit molecules."""
    atom_index = {symbol: i for i, symbol in enumerate(atoms)}
    xs, es, ns, kept, mols = [], [], [], [], []
    for k, text in enumerate(smiles):
        mol = Chem.MolFromSmiles(text)
        graph = None if mol is None else mol_to_graph(mol, atom_index, max_atoms)
        if graph is None:
            continue
        padded_x, padded_e = pad_graph(*graph, max_atoms)
        xs.append(padded_x)
        es.append(padded_e)
        ns.append(len(graph[0]))
        kept.append(k)
        mols.append(mol)
    if not kept:
        return (np.zeros((0, max_atoms), np.int8), np.zeros((0, max_atoms, max_atoms), np.int8),
                np.zeros(0, np.int64), kept, mols)
    return np.stack(xs), np.stack(es), np.asarray(ns, dtype=np.int64), kept, mols


def build_graph_set(smiles: list[str], atoms: tuple[str, ...], max_atoms: int, *, log_every: int = 10000) -> GraphSet:
    """Featurise and label ``smiles``; molecules that do not fit the vocabulary are skipped."""
    start = time.time()
    x, e, n_atoms, _, mols = featurise(smiles, atoms, max_atoms)
    nums, cats = [], []
    for k, mol in enumerate(mols):
        numeric, alert_free = properties(mol)
        nums.append(numeric)
        cats.append([alert_free])
        if log_every and (k + 1) % log_every == 0:
            print(f"labelled {k + 1}/{len(mols)} in {time.time() - start:.0f}s", flush=True)
    return GraphSet(x=x, e=e, n_atoms=n_atoms, numeric=np.asarray(nums, dtype=np.float32).reshape(-1, 4),
                    categorical=np.asarray(cats, dtype=np.int64).reshape(-1, 1),
                    smiles=np.asarray([Chem.MolToSmiles(m) for m in mols]), atoms=atoms)


MOSES_ATOMS = ("C", "N", "O", "F", "S", "Cl", "Br")  # every element in MOSES (no charges, no H)
MOSES_MAX_ATOMS = 27  # the largest MOSES molecule has 27 heavy atoms


def moses_graphs(n: int, seed: int = 0, cache_dir: Path | None = None) -> GraphSet:
    """A random subset of ``n`` MOSES *training* molecules as graphs with labels, cached as ``.npz``."""
    from designer.data import cache_dir as default_cache
    from designer.data import moses_smiles

    folder = (cache_dir or default_cache()) / "graph_dit"
    folder.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(f"moses-train|{n}|{seed}|{MOSES_ATOMS}|{MOSES_MAX_ATOMS}|{LABELS_VERSION}".encode()
                         ).hexdigest()[:12]
    path = folder / f"moses_train_{n}_{seed}_{key}_kekule.npz"
    if path.exists():
        data = np.load(path, allow_pickle=False)
        return GraphSet(x=data["x"], e=data["e"], n_atoms=data["n_atoms"], numeric=data["numeric"],
                        categorical=data["categorical"], smiles=data["smiles"], atoms=MOSES_ATOMS)
    train = moses_smiles("train")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(train), size=min(n, len(train)), replace=False)
    graphs = build_graph_set([train[i] for i in chosen], MOSES_ATOMS, MOSES_MAX_ATOMS)
    tmp = path.with_suffix(".part.npz")
    np.savez_compressed(tmp, x=graphs.x, e=graphs.e, n_atoms=graphs.n_atoms, numeric=graphs.numeric,
                        categorical=graphs.categorical, smiles=graphs.smiles)
    tmp.replace(path)
    return graphs


def moses_validation_smiles(n: int, n_train: int, seed: int = 0) -> list[str]:
    """``n`` MOSES *train* molecules outside the ``moses_graphs(n_train, seed)`` subset (a seeded draw):
    the held-out set for the validation loss and for choosing settings; the test split stays untouched."""
    from designer.data import moses_smiles

    train = moses_smiles("train")
    used = np.zeros(len(train), dtype=bool)
    used[np.random.default_rng(seed).choice(len(train), size=min(n_train, len(train)), replace=False)] = True
    picked = np.random.default_rng(seed + 1).choice(np.flatnonzero(~used), size=n, replace=False)
    return [train[i] for i in picked]


if __name__ == "__main__":  # label the training subset ahead of training: python -m ... N SEED
    import sys

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    graphs = moses_graphs(count, int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    print(f"{len(graphs)} graphs; numeric mean {graphs.numeric.mean(0)}; brenk-free {graphs.categorical.mean():.3f}")
