"""The sequence sets the shipped models are trained on, encoding and alphabet checks.

- ``amp``: antimicrobial peptides vs UniProt non-AMPs (modlamp ``AMPvsUniProt.csv``; labels 1/0)
- ``amp_tm``: AMPs vs transmembrane peptides (modlamp ``AMPvsTMset.csv``), a second AMP set used
  only as an independent oracle
- ``sortseq``: lac promoter library sort-seq MPRA (mavenn ``sortseq_data.csv.gz``, Kinney 2010);
  activity = mean expression bin weighted by read counts
- ``uniprot``: the UniProt (non-AMP) proteins of modlamp ``AMPvsUniProt.csv`` (label 0), <= 128 aa
- ``uniprotkb``: the 20,000 UniProtKB entries (mostly TrEMBL, all kingdoms and viruses) of the example
  database in Debian's ``mmseqs2-examples`` package (``DB.fasta.gz``); no label
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from designer.candidates import ALPHABETS, sequence_problem
from designer.errors import DesignerError


@dataclass
class SequenceSet:
    """Sequences, a per-sequence label/value (NaN if none) and a split (0 train, 1 val, 2 test)."""

    sequences: list[str]
    values: np.ndarray
    split: np.ndarray
    alphabet: str


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)  # mavenn must never be imported (it pulls in tensorflow)
    if spec is None or not spec.submodule_search_locations:
        raise DesignerError(f"package {name!r} is not installed (it ships the training data)")
    return Path(next(iter(spec.submodule_search_locations)))


def _split(n: int, seed: int) -> np.ndarray:
    """80/10/10 random split, fixed by ``seed``."""
    order = np.random.default_rng(seed).permutation(n)
    split = np.zeros(n, dtype=int)
    split[order[int(0.8 * n):int(0.9 * n)]] = 1
    split[order[int(0.9 * n):]] = 2
    return split


def _modlamp(filename: str) -> tuple[list[str], np.ndarray]:
    import pandas as pd

    table = pd.read_csv(_package_dir("modlamp") / "data" / filename, skiprows=1, header=None)
    sequences = [str(s).strip().upper() for s in table[0]]
    keep = [not sequence_problem(s, "protein") for s in sequences]
    return [s for s, k in zip(sequences, keep, strict=True) if k], table[1].to_numpy(float)[keep]


MMSEQS_EXAMPLE_DB = Path("/usr/share/doc/mmseqs2/example-data/DB.fasta.gz")


def _uniprotkb() -> list[str]:
    import gzip

    from Bio import SeqIO

    if not MMSEQS_EXAMPLE_DB.exists():
        raise DesignerError(f"{MMSEQS_EXAMPLE_DB} is missing: install Debian's mmseqs2-examples package "
                            "(apt-get install mmseqs2-examples), which ships the UniProtKB training set")
    with gzip.open(MMSEQS_EXAMPLE_DB, "rt") as handle:
        sequences = [str(record.seq).upper() for record in SeqIO.parse(handle, "fasta")]
    return [s for s in sequences if not sequence_problem(s, "protein")]


def load_set(name: str, max_len: int = 128, seed: int = 0) -> SequenceSet:
    """One of the data sets named in the module docstring, filtered to lengths <= ``max_len``."""
    if name in ("amp", "amp_tm", "uniprot"):
        sequences, values = _modlamp("AMPvsTMset.csv" if name == "amp_tm" else "AMPvsUniProt.csv")
        if name == "uniprot":
            keep = values == 0
            sequences, values = [s for s, k in zip(sequences, keep, strict=True) if k], values[keep]
        alphabet = "protein"
    elif name == "uniprotkb":
        sequences = _uniprotkb()
        values = np.full(len(sequences), np.nan)
        alphabet = "protein"
    elif name == "sortseq":
        import pandas as pd

        table = pd.read_csv(_package_dir("mavenn") / "examples" / "datasets" / "sortseq_data.csv.gz")
        counts = table[[f"ct_{i}" for i in range(10)]].to_numpy(float)
        sequences = table["x"].tolist()
        values = (counts * np.arange(10)).sum(1) / counts.sum(1)
        alphabet = "dna"
    else:
        raise DesignerError(f"unknown data set {name!r} (amp, amp_tm, sortseq, uniprot, uniprotkb)")
    keep = np.array([len(s) <= max_len for s in sequences])
    sequences = [s for s, k in zip(sequences, keep, strict=True) if k]
    return SequenceSet(sequences, np.asarray(values)[keep], _split(len(sequences), seed), alphabet)


def encode(sequences: list[str], alphabet: str, max_len: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Letter indices (B, L) and padding mask (B, L); a bad letter raises DesignerError naming it."""
    letters = ALPHABETS[alphabet]
    index = {c: i for i, c in enumerate(letters)}
    width = max_len or max(len(s) for s in sequences)
    tokens = torch.zeros((len(sequences), width), dtype=torch.long)
    pad = torch.ones((len(sequences), width), dtype=torch.bool)
    for row, sequence in enumerate(sequences):
        problem = sequence_problem(sequence, alphabet, strict=True)
        if problem:
            raise DesignerError(f"sequence {row + 1}: {problem}")
        if len(sequence) > width:
            raise DesignerError(f"sequence {row + 1} is {len(sequence)} letters long; at most {width} allowed")
        tokens[row, :len(sequence)] = torch.tensor([index[c] for c in sequence])
        pad[row, :len(sequence)] = False
    return tokens, pad


def decode(tokens: torch.Tensor, lengths: list[int], alphabet: str) -> list[str]:
    """Letter indices (B, L) -> strings cut to their lengths."""
    letters = ALPHABETS[alphabet]
    return ["".join(letters[i] for i in row[:n].tolist()) for row, n in zip(tokens, lengths, strict=True)]
