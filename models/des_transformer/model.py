"""Property ↔ SMILES transformers of Luu, Wysokowski & Buehler (2023), scaled for a CPU.

Reference code: lamm-mit/MoleculeDiffusionTransformer, ``MoleculeDiffusion/transformer.py``
(classes ``MoleculeTransformerSequenceEncoder`` — forward — and ``MoleculeTransformerSequence`` —
inverse, autoregressive). Shapes: B batch, L tokens, P properties, D width.

Forward model, SMILES → P properties (reference: dim 256, depth 6, 16 heads of 16, FF × 2, token
embedding 16, dropout 0.1; MSE on MinMax-scaled properties):

    h = Linear_{E→D}(Embed(tokens) + PE_sin(position))          (B, L, D)
    h ← LN(h);  per layer: h ← MHA(h, key padding mask) + h;  h ← FF(h) + h
    y = Linear_{L→P}( Linear_{D→1}(LN(h)) )                      (B, P)

i.e. one scalar per token, then a learned linear map from the L token positions to the P outputs.

Inverse model, P properties → SMILES (reference: dim 128, depth 12, 8 heads of 64, condition drop
0.25, 2.4 M parameters): each property value becomes one context token,
c_i = GELU(Linear_{1→C}(y_i)) + PE_sin(i) (B, P, C); the decoder embeds tokens + PE_sin(position)
and stacks [causal self-attention, cross-attention to c, FF] with residuals. Both attentions are
multi-query (one key/value head shared by all query heads) with a learned "null" key/value that is
always attendable — what lets classifier-free guidance drop the whole context. Logits at step i give
p(token_{i+1} | tokens_{≤i}, y).

Our deviations (card.md): tokens are SMILES tokens (bracket atoms, Cl, Br one token each) rather
than characters; besides dropping the whole context (reference, p = 0.25) the inverse model drops
single properties (``keep`` mask per context token), so a user may give any subset of targets.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


def sinusoidal(length: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """(length, dim) sine/cosine position codes (the reference's PositionalEncoding1D layout:
    all sines, then all cosines, frequencies 10000^(−2k/dim))."""
    half = math.ceil(dim / 2)
    inv_freq = 1.0 / (10000 ** (torch.arange(0, half, device=device).float() * 2 / (2 * half)))
    angles = torch.arange(length, device=device).float()[:, None] * inv_freq[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)[:, :dim]


class FeedForward(nn.Sequential):
    """LN → Linear → GELU → LN → Linear (the reference's pre-norm feed-forward, no biases)."""

    def __init__(self, dim: int, mult: float, dropout: float) -> None:
        hidden = int(dim * mult)
        super().__init__(nn.LayerNorm(dim), nn.Linear(dim, hidden, bias=False), nn.GELU(), nn.Dropout(dropout),
                         nn.LayerNorm(hidden), nn.Linear(hidden, dim, bias=False))


class MultiQueryAttention(nn.Module):
    """Pre-norm attention with ``heads`` query heads, one shared key/value head and a learned null
    key/value prepended to the context (always visible). ``causal`` masks future positions of a
    self-attention; ``context_mask`` (B, J) hides context entries (False = hidden)."""

    def __init__(self, dim: int, heads: int, dim_head: int, context_dim: int | None = None,
                 causal: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        self.heads, self.dim_head, self.causal = heads, dim_head, causal
        self.norm = nn.LayerNorm(dim)
        self.norm_context = nn.LayerNorm(context_dim) if context_dim else nn.Identity()
        self.to_q = nn.Linear(dim, heads * dim_head, bias=False)
        self.to_kv = nn.Linear(context_dim or dim, dim_head, bias=False)
        self.null_kv = nn.Parameter(torch.randn(dim_head))
        self.to_out = nn.Sequential(nn.Linear(heads * dim_head, dim, bias=False), nn.LayerNorm(dim))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None,
                context_mask: torch.Tensor | None = None, cache: dict[str, torch.Tensor] | None = None
                ) -> torch.Tensor:
        """``cache`` (incremental decoding): a dict that keeps the keys/values seen so far; ``x`` then
        holds only the new positions, which follow the cached ones (a self-attention appends its new
        keys, a cross-attention computes the context's keys once)."""
        b, n, _ = x.shape
        x = self.norm(x)
        q = self.to_q(self.dropout(x)).view(b, n, self.heads, self.dim_head).transpose(1, 2)  # (B, H, N, d)
        past = cache.get("kv") if cache is not None else None
        if context is not None and past is not None:
            kv = past
        else:
            source = x if context is None else self.norm_context(context)
            head = self.null_kv.expand(b, 1, -1) if past is None else past
            kv = torch.cat([head, self.to_kv(self.dropout(source))], dim=1)  # (B, 1+J, d)
        if cache is not None:
            cache["kv"] = kv
        sim = torch.einsum("bhid,bjd->bhij", q, kv) * self.dim_head ** -0.5
        hidden = torch.zeros(b, 1, n, kv.shape[1], dtype=torch.bool, device=x.device)
        if context_mask is not None:
            hidden = hidden | ~F.pad(context_mask, (1, 0), value=True)[:, None, None, :]
        if self.causal:  # position i (after `earlier` cached ones) sees the null key and positions ≤ i
            earlier = kv.shape[1] - 1 - n
            future = torch.ones(n, kv.shape[1] - 1, dtype=torch.bool, device=x.device).triu(earlier + 1)
            hidden = hidden | F.pad(future, (1, 0), value=False)[None, None]
        sim = sim.masked_fill(hidden, -torch.finfo(sim.dtype).max)
        out = torch.einsum("bhij,bjd->bhid", sim.softmax(-1), kv)
        return self.to_out(out.transpose(1, 2).reshape(b, n, -1))


def decoded_length(cache: list[dict[str, torch.Tensor]] | None) -> int:
    """Positions already decoded into a decoder's key/value ``cache`` (its first self-attention's keys,
    less the null key); 0 without a cache or before the first step."""
    return cache[0]["kv"].shape[1] - 1 if cache and "kv" in cache[0] else 0


class PropertyContext(nn.Module):
    """(B, P) scaled properties → (B, P, C) context tokens GELU(Linear_{1→C}(y_i)) + PE_sin(i) (reference)."""

    def __init__(self, n_properties: int, dim: int) -> None:
        super().__init__()
        self.property_in = nn.Linear(1, dim)
        self.register_buffer("positions", sinusoidal(n_properties, dim), persistent=False)

    def forward(self, properties: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.property_in(properties[..., None])) + self.positions


@dataclass
class ForwardConfig:
    vocab_size: int
    max_length: int
    n_properties: int
    dim: int = 128
    depth: int = 4
    heads: int = 8
    embed_dim: int = 16
    ff_mult: float = 2.0
    dropout: float = 0.1

    def to_dict(self) -> dict:
        return asdict(self)


class ForwardEncoder(nn.Module):
    """SMILES tokens (B, L) → scaled properties (B, P); padding (token 0) is masked in attention."""

    def __init__(self, config: ForwardConfig) -> None:
        super().__init__()
        self.config = c = config
        self.embed = nn.Embedding(c.vocab_size, c.embed_dim)
        self.to_dim = nn.Linear(c.embed_dim, c.dim, bias=False)
        self.init_norm = nn.LayerNorm(c.dim)
        self.layers = nn.ModuleList(nn.ModuleList([
            nn.MultiheadAttention(c.dim, c.heads, dropout=c.dropout, batch_first=True),
            FeedForward(c.dim, c.ff_mult, c.dropout)]) for _ in range(c.depth))
        self.final_norm = nn.LayerNorm(c.dim)
        self.to_scalar = nn.Linear(c.dim, 1, bias=False)
        self.to_properties = nn.Linear(c.max_length, c.n_properties, bias=False)
        self.register_buffer("positions", sinusoidal(c.max_length, c.embed_dim), persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        n = tokens.shape[1]
        if n < self.config.max_length:  # the L → P map needs every position: pad on the right
            tokens = F.pad(tokens, (0, self.config.max_length - n))
        padding = tokens.eq(0)
        h = self.init_norm(self.to_dim(self.embed(tokens) + self.positions))
        for attention, feed_forward in self.layers:
            h = attention(h, h, h, key_padding_mask=padding, need_weights=False)[0] + h
            h = feed_forward(h) + h
        return self.to_properties(self.to_scalar(self.final_norm(h)).squeeze(-1))


@dataclass
class InverseConfig:
    vocab_size: int
    max_length: int
    n_properties: int
    dim: int = 128
    depth: int = 6
    heads: int = 8
    dim_head: int = 32
    context_dim: int = 64
    ff_mult: float = 4.0
    dropout: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


class InverseDecoder(nn.Module):
    """p(token_{i+1} | tokens_{≤i}, properties): logits (B, L, V) for tokens (B, L), scaled
    properties (B, P) and ``keep`` (B, P) — False drops a property (all False = unconditional)."""

    def __init__(self, config: InverseConfig) -> None:
        super().__init__()
        self.config = c = config
        self.context = PropertyContext(c.n_properties, c.context_dim)
        self.embed = nn.Embedding(c.vocab_size, c.dim)
        self.init_norm = nn.LayerNorm(c.dim)
        self.layers = nn.ModuleList(nn.ModuleList([
            MultiQueryAttention(c.dim, c.heads, c.dim_head, causal=True, dropout=c.dropout),
            MultiQueryAttention(c.dim, c.heads, c.dim_head, context_dim=c.context_dim, dropout=c.dropout),
            FeedForward(c.dim, c.ff_mult, c.dropout)]) for _ in range(c.depth))
        self.final_norm = nn.LayerNorm(c.dim)
        self.to_logits = nn.Linear(c.dim, c.vocab_size, bias=False)
        self.register_buffer("positions", sinusoidal(c.max_length, c.dim), persistent=False)

    def forward(self, tokens: torch.Tensor, properties: torch.Tensor, keep: torch.Tensor,
                cache: list[dict[str, torch.Tensor]] | None = None) -> torch.Tensor:
        """With ``cache`` (from :meth:`new_cache`, one per sequence batch and condition), ``tokens``
        are only the positions after those already decoded: sampling costs O(L) instead of O(L²)."""
        start = decoded_length(cache)
        n = tokens.shape[1]
        context = self.context(properties)
        h = self.init_norm(self.embed(tokens) + self.positions[start:start + n])
        for k, (self_attention, cross_attention, feed_forward) in enumerate(self.layers):
            h = self_attention(h, cache=cache[2 * k] if cache else None) + h
            h = cross_attention(h, context, keep, cache=cache[2 * k + 1] if cache else None) + h
            h = feed_forward(h) + h
        return self.to_logits(self.final_norm(h))

    def new_cache(self) -> list[dict[str, torch.Tensor]]:
        """Empty key/value caches, one per attention layer, for incremental decoding."""
        return [{} for _ in range(2 * len(self.layers))]


@dataclass
class PromptConfig:
    vocab_size: int
    max_length: int
    dim: int = 128
    depth: int = 6
    heads: int = 8
    dim_head: int = 16
    ff_mult: float = 4.0
    dropout: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


class PromptGPT(nn.Module):
    """Decoder-only transformer over prompt tokens (the paper's multi-task model, reference class
    GPT: dim 256, depth 12, 16 heads): the same causal blocks as :class:`InverseDecoder` without
    cross-attention; logits (B, L, V) for p(token_{i+1} | tokens_{≤i})."""

    def __init__(self, config: PromptConfig) -> None:
        super().__init__()
        self.config = c = config
        self.embed = nn.Embedding(c.vocab_size, c.dim)
        self.init_norm = nn.LayerNorm(c.dim)
        self.layers = nn.ModuleList(nn.ModuleList([
            MultiQueryAttention(c.dim, c.heads, c.dim_head, causal=True, dropout=c.dropout),
            FeedForward(c.dim, c.ff_mult, c.dropout)]) for _ in range(c.depth))
        self.final_norm = nn.LayerNorm(c.dim)
        self.to_logits = nn.Linear(c.dim, c.vocab_size, bias=False)
        self.register_buffer("positions", sinusoidal(c.max_length, c.dim), persistent=False)

    def forward(self, tokens: torch.Tensor, cache: list[dict[str, torch.Tensor]] | None = None) -> torch.Tensor:
        """``cache`` as :meth:`InverseDecoder.forward`: ``tokens`` then follow those already decoded."""
        start = decoded_length(cache)
        h = self.init_norm(self.embed(tokens) + self.positions[start:start + tokens.shape[1]])
        for k, (attention, feed_forward) in enumerate(self.layers):
            h = attention(h, cache=cache[k] if cache else None) + h
            h = feed_forward(h) + h
        return self.to_logits(self.final_norm(h))

    def new_cache(self) -> list[dict[str, torch.Tensor]]:
        """Empty key/value caches, one per attention layer, for incremental decoding."""
        return [{} for _ in self.layers]
