"""Bidirectional transformer denoiser (FoldingDiff uses a BERT encoder with relative position
embeddings, 12 layers, hidden 384; this is a CPU-sized version of the same design).

Input: (B, L, 6) noisy angles + timestep; output: predicted noise eps (B, L, 6). Relative position
information enters every attention layer as a learned bias per head and clipped offset j - i
(cf. Shaw et al. 2018 "relative_key" in the reference's BERT config). Time conditioning: a
sinusoidal embedding of t through an MLP added to every token (as in the reference).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


class RelativeAttention(nn.Module):
    def __init__(self, hidden: int, heads: int, max_offset: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.max_offset = heads, max_offset
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.bias = nn.Embedding(2 * max_offset + 1, heads)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        b, n, h = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, h // self.heads).permute(2, 0, 3, 1, 4)
        pos = torch.arange(n, device=x.device)
        offset = (pos[None, :] - pos[:, None]).clamp(-self.max_offset, self.max_offset) + self.max_offset
        bias = self.bias(offset).permute(2, 0, 1)[None]  # (1, H, L, L)
        bias = bias.masked_fill(pad[:, None, None, :], float("-inf"))
        y = nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=bias, dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(b, n, h))


class Block(nn.Module):
    def __init__(self, hidden: int, heads: int, max_offset: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        self.attn = RelativeAttention(hidden, heads, max_offset, dropout)
        self.mlp = nn.Sequential(nn.Linear(hidden, 4 * hidden), nn.GELU(), nn.Linear(4 * hidden, hidden))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x), pad))
        return x + self.drop(self.mlp(self.norm2(x)))


class AngleDenoiser(nn.Module):
    """eps_theta(x_t, t) for (B, L, 6) angle tensors; ``pad`` (B, L) True marks padding."""

    def __init__(self, hidden: int = 160, layers: int = 5, heads: int = 8, max_offset: int = 128,
                 dropout: float = 0.1, features: int = 6) -> None:
        super().__init__()
        self.hidden = hidden
        self.embed = nn.Linear(features, hidden)
        self.time = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, hidden))
        self.blocks = nn.ModuleList(Block(hidden, heads, max_offset, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, features)

    def forward(self, x: torch.Tensor, t: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        h = self.embed(x) + self.time(timestep_embedding(t, self.hidden))[:, None]
        for block in self.blocks:
            h = block(h, pad)
        return self.head(self.norm(h))
