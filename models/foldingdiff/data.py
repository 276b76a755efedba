"""The shipped backbone set (models/foldingdiff/data/backbones.npz), checksum-verified, as angles,
with a fixed train/validation/test split by PDB entry (all chains of one PDB id in one split)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from designer.errors import DesignerError
from designer.models.foldingdiff.angles import angle_mask, backbone_to_angles

DATA = Path(__file__).resolve().parent / "data" / "backbones.npz"
SHA256 = "f20754cdb9b1a52869d2a074c5c14e58231b052d0e49b4f2e5dc9f6db78f07d6"
MAX_LENGTH = 128
MIN_LENGTH = 40


def split_of(pdb_id: str) -> str:
    """Deterministic split by PDB id: sha256(id) mod 100 < 80 train, < 90 validation, else test."""
    bucket = int(hashlib.sha256(pdb_id[:4].upper().encode()).hexdigest(), 16) % 100
    return "train" if bucket < 80 else "validation" if bucket < 90 else "test"


@dataclass
class Chains:
    ids: list[str]
    coords: list[np.ndarray]  # (L, 4, 3)
    angles: list[np.ndarray]  # (L, 6)
    split: np.ndarray  # str per chain


@lru_cache(maxsize=1)
def load_chains(path: str = str(DATA)) -> Chains:
    """All chains; raises DesignerError if the file is missing or its SHA-256 differs."""
    file = Path(path)
    if not file.exists():
        raise DesignerError(f"backbone data not found: {file}")
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    if digest != SHA256:
        raise DesignerError(f"{file}: SHA-256 {digest[:12]}… does not match the expected {SHA256[:12]}…")
    data = np.load(file)
    lengths = data["lengths"]
    coords = np.split(data["coords"].astype(np.float64), np.cumsum(lengths)[:-1])
    ids = [str(i) for i in data["ids"]]
    return Chains(ids, coords, [backbone_to_angles(c) for c in coords],
                  np.array([split_of(i) for i in ids]))


def padded(angles: list[np.ndarray], max_length: int = MAX_LENGTH) -> tuple[np.ndarray, np.ndarray]:
    """(N, max_length, 6) angles zero-padded and the (N, max_length, 6) mask of defined entries."""
    x = np.zeros((len(angles), max_length, 6), dtype=np.float32)
    m = np.zeros((len(angles), max_length, 6), dtype=bool)
    for i, a in enumerate(angles):
        x[i, :len(a)] = a
        m[i] = angle_mask(len(a), max_length)
    return x, m
