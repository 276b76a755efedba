"""The Graph DiT denoiser: a Transformer over node tokens with AdaLN conditioning (Liu et al. 2024, Sec. 3.3).

Each node token is its noised atom one-hot ⊕ its noised bond row (the same token the noise acts on).
The conditioning vector c = timestep embedding + Σ condition embeddings modulates every block through
adaptive layer norm (shift/scale/gate, zero-initialised as in DiT). No positional encoding: the
network is permutation equivariant. The output layer predicts, per token, clean atom logits and a
row of clean bond logits, which are symmetrised.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class GraphDiTConfig:
    """Sizes of the denoiser. ``categorical`` lists the number of classes of each categorical condition."""

    n_atom_types: int
    max_atoms: int
    n_bond_types: int = 4
    hidden: int = 128
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 4.0
    n_numeric: int = 4
    categorical: list[int] = field(default_factory=lambda: [2])
    condition_noise: float = 1.0  # std of Gaussian noise on condition embeddings while training (reference: 1)

    def to_dict(self) -> dict:
        return asdict(self)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class TimestepEmbedder(nn.Module):
    """Sinusoidal features of t ∈ [0, 1] → MLP (as in DiT)."""

    def __init__(self, hidden: int, frequencies: int = 256) -> None:
        super().__init__()
        self.frequencies = frequencies
        self.mlp = nn.Sequential(nn.Linear(frequencies, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.frequencies // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
        args = t.view(-1, 1).float() * freqs[None]
        return self.mlp(torch.cat([torch.cos(args), torch.sin(args)], dim=-1))


class NumericEmbedder(nn.Module):
    """Clustering encoder for one numeric condition: Linear → Softmax (soft assignment to ``hidden``
    learned clusters) → Linear without bias; a learned embedding stands in when the value is dropped."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(1, hidden), nn.Softmax(dim=-1), nn.Linear(hidden, hidden, bias=False))
        self.dropped = nn.Parameter(torch.zeros(hidden))

    def forward(self, value: torch.Tensor, drop: torch.Tensor) -> torch.Tensor:
        embedded = self.mlp(value.view(-1, 1))
        return torch.where(drop[:, None], self.dropped.expand_as(embedded), embedded)


class CategoricalEmbedder(nn.Module):
    """Embedding table with one extra row, index ``classes``, meaning "dropped"."""

    def __init__(self, classes: int, hidden: int) -> None:
        super().__init__()
        self.classes = classes
        self.table = nn.Embedding(classes + 1, hidden)

    def forward(self, label: torch.Tensor, drop: torch.Tensor) -> torch.Tensor:
        return self.table(torch.where(drop, torch.full_like(label, self.classes), label.long()))


class Attention(nn.Module):
    """Multi-head self-attention over real nodes, with LayerNorm on queries and keys (as the reference)."""

    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, hidden // heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.q_norm, self.k_norm = nn.LayerNorm(self.head_dim), nn.LayerNorm(self.head_dim)
        self.proj = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor, node_mask: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)
        mask = node_mask[:, None, None, :].expand(b, 1, n, n)                 # attend to real nodes only
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    """Transformer block with AdaLN: the reference modulates the normalised attention/MLP outputs and
    gates them into the residual stream; the modulation is zero-initialised so each block starts as
    the identity (DiT's adaLN-Zero)."""

    def __init__(self, hidden: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden, elementwise_affine=False)
        self.norm2 = nn.LayerNorm(hidden, elementwise_affine=False)
        self.attn = Attention(hidden, heads)
        width = int(hidden * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(hidden, width), nn.GELU(approximate="tanh"), nn.Linear(width, hidden))
        self.ada = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 6 * hidden))
        nn.init.zeros_(self.ada[-1].weight)
        nn.init.zeros_(self.ada[-1].bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor, node_mask: torch.Tensor) -> torch.Tensor:
        shift_a, scale_a, gate_a, shift_m, scale_m, gate_m = self.ada(c).chunk(6, dim=-1)
        x = x + gate_a.unsqueeze(1) * modulate(self.norm1(self.attn(x, node_mask)), shift_a, scale_a)
        x = x + gate_m.unsqueeze(1) * modulate(self.norm2(self.mlp(x)), shift_m, scale_m)
        return x


class GraphDiT(nn.Module):
    """Denoiser p_θ(G_0 | G_t, c): returns clean atom logits (B, N, F_x) and bond logits (B, N, N, F_e)."""

    def __init__(self, config: GraphDiTConfig) -> None:
        super().__init__()
        self.config = config
        fx, fe, n, h = config.n_atom_types, config.n_bond_types, config.max_atoms, config.hidden
        self.token_dim = fx + n * fe
        self.embed = nn.Linear(self.token_dim, h, bias=False)
        self.t_embed = TimestepEmbedder(h)
        self.numeric = nn.ModuleList(NumericEmbedder(h) for _ in range(config.n_numeric))
        self.categorical = nn.ModuleList(CategoricalEmbedder(k, h) for k in config.categorical)
        self.blocks = nn.ModuleList(Block(h, config.heads, config.mlp_ratio) for _ in range(config.depth))
        # Output: MLP to a full token of logits, normalised and modulated by c (reference's OutLayer).
        self.head = nn.Sequential(nn.Linear(h, h), nn.GELU(approximate="tanh"), nn.Linear(h, self.token_dim))
        self.head_norm = nn.LayerNorm(self.token_dim, elementwise_affine=False)
        self.head_ada = nn.Sequential(nn.Linear(h, h), nn.SiLU(), nn.Linear(h, 2 * self.token_dim))
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        for block in self.blocks:  # adaLN-Zero: every block starts as the identity
            nn.init.zeros_(block.ada[-1].weight)
            nn.init.zeros_(block.ada[-1].bias)
        nn.init.zeros_(self.head_ada[-1].weight)
        nn.init.zeros_(self.head_ada[-1].bias)

    @property
    def n_conditions(self) -> int:
        return self.config.n_numeric + len(self.config.categorical)

    def condition(self, t: torch.Tensor, numeric: torch.Tensor, categorical: torch.Tensor,
                  drop: torch.Tensor) -> torch.Tensor:
        """c = t-embedding + Σ_k condition embedding_k; ``drop`` (B, K) True where condition k is absent."""
        c = self.t_embed(t)
        k = 0
        for i, embedder in enumerate(self.numeric):
            emb = embedder(numeric[:, i], drop[:, k])
            if self.training and self.config.condition_noise > 0:  # reference: noise on embeddings in training
                emb = emb + self.config.condition_noise * torch.randn_like(emb)
            c, k = c + emb, k + 1
        for i, embedder in enumerate(self.categorical):
            emb = embedder(categorical[:, i], drop[:, k])
            if self.training and self.config.condition_noise > 0:
                emb = emb + self.config.condition_noise * torch.randn_like(emb)
            c, k = c + emb, k + 1
        return c

    def forward(self, X_t: torch.Tensor, E_t: torch.Tensor, node_mask: torch.Tensor, t: torch.Tensor,
                numeric: torch.Tensor, categorical: torch.Tensor, drop: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        b, n, fx = X_t.shape
        fe = self.config.n_bond_types
        tokens = torch.cat([X_t, E_t.reshape(b, n, n * fe)], dim=-1)
        x = self.embed(tokens)
        c = self.condition(t, numeric, categorical, drop)
        for block in self.blocks:
            x = block(x, c, node_mask)
        shift, scale = self.head_ada(c).chunk(2, dim=-1)
        out = modulate(self.head_norm(self.head(x)), shift, scale) + tokens   # residual on the noisy input
        atom_logits = out[..., :fx]
        bond_logits = out[..., fx:].reshape(b, n, n, fe)
        bond_logits = 0.5 * (bond_logits + bond_logits.transpose(1, 2))        # symmetric: E is undirected
        pair_mask = node_mask[:, :, None] & node_mask[:, None, :] & ~torch.eye(n, dtype=torch.bool, device=X_t.device)
        bond_logits = bond_logits * pair_mask[..., None]
        atom_logits = atom_logits * node_mask[..., None]
        return atom_logits, bond_logits
