"""The multimodal flow of TFG-Flow (Lin et al. 2025, Sec. 3): a linear path for coordinates and a
masking discrete flow (Campbell et al. 2024) for atom types, on time t ∈ [0, 1] (t = 0 noise, t = 1 data).

Coordinates (B, N, 3), in the zero-centre-of-mass subspace of the real atoms:

    x_t = t · x₁ + (1 − t) · x₀,      x₀ ~ N(0, I) projected to zero centre
    v(x_t) = (x̂₁ − x_t) / (1 − t)    (the network predicts x̂₁; Euler: x_{t+Δ} = x_t + Δ · v)

Types (B, N) over ``n_types`` classes plus MASK (index ``n_types``):

    a_t = a₁ with probability t, else MASK
    rate MASK → b:  p̂(a₁ = b | x_t, a_t) / (1 − t);   a revealed type never changes

so an Euler step of size Δ reveals a masked atom with probability Δ / (1 − t) (all of them on the
last step), drawing its type from p̂. Training loss: squared error of x̂₁ plus the cross-entropy of
the type logits over the real atoms. (The reference code normalises its rate row with a diagonal of
1 instead of 1 − Δ/(1 − t), which reveals with probability p/(1 + p) and leaves about 1 % of atoms
masked at the end; we keep the CTMC Euler step as the paper defines it.) Training draws t
independently for the two modalities, as the reference code does; sampling moves them together.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from designer.models.tfg_flow.model import centre


def noise_like(x1: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """x₀: standard Gaussian coordinates on the real atoms, centred."""
    return centre(torch.randn(x1.shape, generator=generator, device=x1.device), mask)


def interpolate(x1: torch.Tensor, a1: torch.Tensor, mask: torch.Tensor, t_x: torch.Tensor, t_a: torch.Tensor,
                mask_index: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_t, a_t) at times ``t_x``, ``t_a`` (B,): the linear path for coordinates, the masking path for
    types (training draws the two times independently, as the reference code does)."""
    tt = t_x.view(-1, 1, 1)
    x_t = tt * x1 + (1 - tt) * noise_like(x1, mask, generator)
    revealed = torch.rand(a1.shape, generator=generator, device=a1.device) < t_a.view(-1, 1)
    a_t = torch.where(revealed, a1, torch.full_like(a1, mask_index))
    return x_t, torch.where(mask, a_t, torch.full_like(a1, -1))


def flow_loss(x_hat: torch.Tensor, logits: torch.Tensor, x1: torch.Tensor, a1: torch.Tensor, mask: torch.Tensor,
              type_weight: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Total, coordinate error (squared distance per real atom, summed over xyz) and type
    cross-entropy (per real atom), weighted 1 : ``type_weight`` as the reference (1 : 1)."""
    coords = ((x_hat - x1) ** 2).sum(-1)[mask].mean()
    types = F.cross_entropy(logits[mask], a1[mask])
    return coords + type_weight * types, coords, types


def euler_step(x_t: torch.Tensor, a_t: torch.Tensor, x_hat: torch.Tensor, type_probs: torch.Tensor,
               mask: torch.Tensor, t: float, dt: float, mask_index: int,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One step t → t + dt. ``type_probs`` (B, N, n_types) is the distribution each masked atom is
    revealed from (the model's p̂, or the guided one)."""
    x_next = centre(x_t + dt * (x_hat - x_t) / max(1 - t, 1e-6), mask)
    reveal_p = 1.0 if t + dt >= 1 - 1e-6 else min(1.0, dt / (1 - t))
    masked = mask & (a_t == mask_index)
    reveal = masked & (torch.rand(a_t.shape, generator=generator, device=a_t.device) < reveal_p)
    flat = type_probs.reshape(-1, type_probs.shape[-1]).clamp_min(0)
    drawn = torch.multinomial(flat / flat.sum(-1, keepdim=True), 1, generator=generator).view(a_t.shape)
    return x_next, torch.where(reveal, drawn, a_t)
