"""MOSES-style distribution metrics for generated molecules (Polykovskiy et al. 2020).

Definitions follow the MOSES benchmark so numbers can be compared with its tables: metrics other
than validity, uniqueness and novelty are computed on the *valid* molecules (duplicates kept);
fingerprints are Morgan radius 2, 1024 bits; scaffolds are Bemis–Murcko with at least two rings;
fragments are BRICS. Reference statistics come from :func:`designer.data.moses_test_stats`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from rdkit import Chem, RDLogger
from rdkit.Chem import AllChem, rdMolDescriptors
from rdkit.Chem.Scaffolds import MurckoScaffold

RDLogger.DisableLog("rdApp.*")


def canonical(smiles: str | None) -> str | None:
    """Canonical SMILES, or ``None`` if ``smiles`` is missing or RDKit cannot parse it."""
    if not smiles:
        return None
    mol = Chem.MolFromSmiles(smiles)
    return None if mol is None else Chem.MolToSmiles(mol)


def valid_smiles(generated: Iterable[str | None]) -> list[str]:
    """The canonical SMILES of the valid molecules, duplicates kept, in order."""
    return [c for c in (canonical(s) for s in generated) if c is not None]


def validity(generated: Sequence[str | None]) -> float:
    """Fraction of generated items that are parseable molecules (``None`` counts as invalid)."""
    return len(valid_smiles(generated)) / max(1, len(generated))


def uniqueness(valid: Sequence[str]) -> float:
    """Fraction of distinct SMILES among the valid ones (MOSES ``unique@k`` with k = len(valid))."""
    return len(set(valid)) / max(1, len(valid))


def novelty(valid: Sequence[str], training: set[str]) -> float:
    """Fraction of the distinct valid SMILES not in ``training`` (canonical SMILES)."""
    distinct = set(valid)
    return len(distinct - training) / max(1, len(distinct))


def morgan_matrix(smiles: Sequence[str], radius: int = 2, n_bits: int = 1024) -> np.ndarray:
    """(n, n_bits) uint8 Morgan fingerprints, as MOSES computes them."""
    out = np.zeros((len(smiles), n_bits), dtype=np.uint8)
    for i, s in enumerate(smiles):
        mol = Chem.MolFromSmiles(s)
        if mol is not None:
            fp = AllChem.GetMorganFingerprintAsBitVect(mol, radius, nBits=n_bits)
            out[i, list(fp.GetOnBits())] = 1
    return out


def _tanimoto_blocks(a: np.ndarray, b: np.ndarray, block: int = 4096) -> Iterable[tuple[slice, np.ndarray]]:
    """Tanimoto similarities of all rows of ``a`` against blocks of rows of ``b``."""
    import torch

    ta = torch.from_numpy(a.astype(np.float32))
    na = ta.sum(1, keepdim=True)
    for start in range(0, len(b), block):
        tb = torch.from_numpy(b[start:start + block].astype(np.float32))
        inter = ta @ tb.T
        union = na + tb.sum(1)[None, :] - inter
        yield slice(start, start + len(tb)), (inter / union.clamp_min(1)).numpy()


def snn(gen_fps: np.ndarray, ref_fps: np.ndarray) -> float:
    """Mean over generated molecules of the Tanimoto similarity to the nearest reference molecule."""
    best = np.zeros(len(gen_fps), dtype=np.float32)
    for _, sims in _tanimoto_blocks(gen_fps, ref_fps):
        best = np.maximum(best, sims.max(1))
    return float(best.mean())


def internal_diversity(fps: np.ndarray, p: int = 1) -> float:
    """IntDiv_p = 1 − (mean over all pairs, self-pairs included, of Tanimoto^p)^(1/p) (MOSES)."""
    total = 0.0
    for _, sims in _tanimoto_blocks(fps, fps):
        total += float((sims.astype(np.float64) ** p).sum())
    return 1.0 - (total / len(fps) ** 2) ** (1.0 / p)


def scaffold(smiles: str, min_rings: int = 2) -> str | None:
    """Bemis–Murcko scaffold SMILES, ``None`` if it has fewer than ``min_rings`` rings (MOSES rule)."""
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None
    try:
        core = MurckoScaffold.GetScaffoldForMol(mol)
    except (ValueError, RuntimeError):
        return None
    text = Chem.MolToSmiles(core)
    if not text or rdMolDescriptors.CalcNumRings(core) < min_rings:
        return None
    return text


def fragments(smiles: str) -> list[str]:
    """BRICS fragments of a molecule as SMILES."""
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return []
    return Chem.MolToSmiles(AllChem.FragmentOnBRICSBonds(mol)).split(".")


def cosine_counts(ref: Mapping[str, int], gen: Mapping[str, int]) -> float:
    """Cosine similarity of two count dictionaries (missing keys count as zero)."""
    keys = set(ref) | set(gen)
    r = np.array([ref.get(k, 0) for k in keys], dtype=np.float64)
    g = np.array([gen.get(k, 0) for k in keys], dtype=np.float64)
    denom = np.linalg.norm(r) * np.linalg.norm(g)
    return float(r @ g / denom) if denom > 0 else 0.0


def scaffold_similarity(valid: Sequence[str], ref_scaffolds: Mapping[str, int]) -> float:
    """MOSES ``Scaf``: cosine similarity of scaffold counts, generated vs reference."""
    counts = Counter(s for s in (scaffold(v) for v in valid) if s is not None)
    return cosine_counts(ref_scaffolds, counts)


def fragment_similarity(valid: Sequence[str], ref_fragments: Mapping[str, int]) -> float:
    """MOSES ``Frag``: cosine similarity of BRICS fragment counts, generated vs reference."""
    counts: Counter[str] = Counter()
    for v in valid:
        counts.update(fragments(v))
    return cosine_counts(ref_fragments, counts)


def fcd(valid: Sequence[str], ref_mu: np.ndarray, ref_sigma: np.ndarray) -> float:
    """Fréchet ChemNet Distance to reference statistics (fcd_torch's bundled ChemNet, CPU, offline)."""
    from fcd_torch import FCD

    model = FCD(device="cpu", n_jobs=1)
    stats = model.precalc(list(valid))
    return float(model.metric({"mu": ref_mu, "sigma": ref_sigma}, stats))


def moses_metrics(generated: Sequence[str | None], test_stats: Mapping, training: set[str]) -> dict[str, float]:
    """Validity, uniqueness, novelty, FCD/Test, SNN/Test, Frag/Test, Scaf/Test, IntDiv1, IntDiv2.

    ``test_stats`` is :func:`designer.data.moses_test_stats` output; ``training`` canonical SMILES.
    """
    valid = valid_smiles(generated)
    out = {"n": float(len(generated)), "valid": validity(generated)}
    if not valid:
        return out
    fps = morgan_matrix(valid)
    out.update({
        "unique": uniqueness(valid),
        "novel": novelty(valid, training),
        "fcd_test": fcd(valid, test_stats["FCD"]["mu"], test_stats["FCD"]["sigma"]) if len(valid) > 1 else float("nan"),
        "snn_test": snn(fps, test_stats["SNN"]["fps"]),
        "frag_test": fragment_similarity(valid, test_stats["Frag"]["frag"]),
        "scaf_test": scaffold_similarity(valid, test_stats["Scaf"]["scaf"]),
        "intdiv1": internal_diversity(fps, 1),
        "intdiv2": internal_diversity(fps, 2),
    })
    return out


__all__ = ["canonical", "cosine_counts", "fcd", "fragment_similarity", "fragments", "internal_diversity",
           "morgan_matrix", "moses_metrics", "novelty", "scaffold", "scaffold_similarity", "snn", "uniqueness",
           "valid_smiles", "validity"]
