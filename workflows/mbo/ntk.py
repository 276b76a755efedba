"""The neural tangent kernel of an infinitely wide ReLU MLP, in closed form (the kernel BDI uses).

Layer recursion in the NTK parameterisation, as neural-tangents' ``stax`` computes it for
``Dense(W_std) → [Relu → Dense(W_std)] × depth`` without biases (Jacot et al. 2018; Arora et al. 2019):

    Dense: Σ' = W_std² Σ,                   Θ' = Σ' + W_std² Θ
    Relu:  Σ' = √(Σ_xx Σ_yy)/(2π) · (sin φ + (π − φ) cos φ),   Θ' = Θ · (π − φ)/(2π),
           with cos φ = Σ_xy / √(Σ_xx Σ_yy)   (the arc-cosine kernels of degree 1 and 0)

starting from Σ = x·yᵀ / d and Θ = 0.
"""

from __future__ import annotations

import math

import torch


def relu_ntk(x: torch.Tensor, y: torch.Tensor, depth: int = 5, w_std: float = 1.0) -> torch.Tensor:
    """Θ(x, y) for rows of ``x`` (n, d) and ``y`` (m, d); differentiable in both."""
    d = x.shape[1]
    w2 = w_std ** 2
    sigma = x @ y.T / d
    sigma_x = (x * x).sum(1) / d
    sigma_y = (y * y).sum(1) / d
    sigma, sigma_x, sigma_y = w2 * sigma, w2 * sigma_x, w2 * sigma_y  # first Dense
    theta = sigma.clone()
    for _ in range(depth):
        norms = torch.sqrt(sigma_x[:, None] * sigma_y[None, :]).clamp_min(1e-30)
        cos = (sigma / norms).clamp(-1 + 1e-7, 1 - 1e-7)  # keeps arccos differentiable at x = y
        angle = torch.arccos(cos)
        sigma = norms / (2 * math.pi) * (torch.sin(angle) + (math.pi - angle) * cos)
        theta = theta * (math.pi - angle) / (2 * math.pi)
        sigma_x, sigma_y = sigma_x / 2, sigma_y / 2  # the diagonal: φ = 0
        sigma, sigma_x, sigma_y = w2 * sigma, w2 * sigma_x, w2 * sigma_y  # the Dense after each Relu
        theta = sigma + w2 * theta
    return theta
