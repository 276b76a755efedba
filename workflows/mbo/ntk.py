"""The neural tangent kernel of an infinitely wide ReLU MLP, in closed form (the kernel BDI uses).

Layer recursion in the NTK parameterisation, as neural-tangents' ``stax`` computes it for
``Dense(W_std) → [Relu → Dense(W_std)] × depth`` without biases (Jacot et al. 2018; Arora et al. 2019):

    Dense: Σ' = W_std² Σ,                   Θ' = Σ' + W_std² Θ
    Relu:  Σ' = √(Σ_xx Σ_yy)/(2π) · (sin φ + (π − φ) cos φ),   Θ' = Θ · (π − φ)/(2π),
           with cos φ = Σ_xy / √(Σ_xx Σ_yy)   (the arc-cosine kernels of degree 1 and 0)

starting from Σ = x·yᵀ / d and Θ = 0.

Computed in normalised form: the diagonal Σ_xx halves and is rescaled by W_std² at every layer, so
N_l = √(Σ_xx Σ_yy) = (W_std²/2)^l N_0 is a rank-one outer product and the recursion runs on the
cosine c_l = Σ_xy / N_l and t_l = Θ_l / N_l alone:

    c_{l+1} = J(φ_l)/π,   t_{l+1} = J(φ_l)/π + t_l (π − φ_l)/π,   J(φ) = sin φ + (π − φ) cos φ,

with c_0 = t_0 = cos(x, y), and Θ = N_depth · t_depth. Same values as the layer-by-layer form
(a test compares them) at about half the element-wise work, which dominates BDI's design steps.
"""

from __future__ import annotations

import math

import torch


def relu_ntk(x: torch.Tensor, y: torch.Tensor, depth: int = 5, w_std: float = 1.0) -> torch.Tensor:
    """Θ(x, y) for rows of ``x`` (n, d) and ``y`` (m, d); differentiable in both."""
    d = x.shape[1]
    w2 = w_std ** 2
    norm_x = torch.sqrt((x * x).sum(1) * (w2 / d))  # √Σ_xx after the first Dense
    norm_y = torch.sqrt((y * y).sum(1) * (w2 / d))
    norms = (norm_x[:, None] * norm_y[None, :]).clamp_min(1e-30)
    t = (x @ y.T) * (w2 / d) / norms  # Θ_0 = Σ_0: t_0 is the (unclamped) cosine
    cos = t
    for _ in range(depth):
        cos = cos.clamp(-1 + 1e-7, 1 - 1e-7)  # keeps arccos differentiable at x = y
        rest = math.pi - torch.arccos(cos)  # π − φ
        cos = (torch.sqrt(1 - cos * cos) + rest * cos) / math.pi  # J(φ)/π; sin φ = √(1 − cos² φ)
        t = cos + t * rest / math.pi
    return norms * (w2 / 2) ** depth * t
