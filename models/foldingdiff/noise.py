"""Wrapped-normal DDPM over angles (FoldingDiff, Sec. "Denoising diffusion on angles").

- ``wrap`` maps to [-pi, pi) (paper Eq. for w(x) = ((x + pi) mod 2pi) - pi).
- Cosine variance schedule (Nichol & Dhariwal 2021, s = 0.008, betas clipped at 0.999), as used by
  FoldingDiff with T = 1000 (we default to fewer steps for CPU; see the config).
- Forward: x_t = wrap(sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps)  (paper Eq. 2 with wrapping).
- Angles are shifted by the training-set circular mean and wrapped before noising.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def wrap(x: torch.Tensor) -> torch.Tensor:
    """Angles to [-pi, pi)."""
    return torch.remainder(x + math.pi, 2 * math.pi) - math.pi


def cosine_alpha_bar(steps: int, s: float = 0.008) -> torch.Tensor:
    """abar_t for t = 0..T (abar_0 = 1), from the cosine schedule with betas clipped at 0.999."""
    t = torch.linspace(0, steps, steps + 1, dtype=torch.float64)
    f = torch.cos((t / steps + s) / (1 + s) * math.pi / 2) ** 2
    abar = f / f[0]
    betas = torch.clamp(1 - abar[1:] / abar[:-1], max=0.999)
    return torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(1 - betas, 0)])


class AngleDiffusion:
    """Schedule tensors and the forward / reverse steps on mean-shifted, wrapped angles."""

    def __init__(self, steps: int) -> None:
        self.steps = steps
        abar = cosine_alpha_bar(steps)
        self.alpha_bar = abar.float()  # index t in 0..T
        self.betas = (1 - abar[1:] / abar[:-1]).float()  # index t-1 for step t
        self.alphas = 1 - self.betas

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = wrap(sqrt(abar_t) x0 + sqrt(1-abar_t) eps); ``t`` in 1..T, one per batch row."""
        abar = self.alpha_bar.to(x0.device)[t].view(-1, *([1] * (x0.dim() - 1)))
        return wrap(abar.sqrt() * x0 + (1 - abar).sqrt() * noise)

    def p_step(self, xt: torch.Tensor, t: int, eps: torch.Tensor,
               generator: torch.Generator | None) -> torch.Tensor:
        """One reverse DDPM step (Ho et al. 2020 Alg. 2, sigma_t^2 = beta_t), wrapped (paper Alg. 1)."""
        beta, alpha, abar = self.betas[t - 1], self.alphas[t - 1], self.alpha_bar[t]
        mean = (xt - beta / (1 - abar).sqrt() * eps) / alpha.sqrt()
        if t > 1:
            z = torch.randn(xt.shape, generator=generator, dtype=xt.dtype)
            mean = mean + beta.sqrt() * z
        return wrap(mean)


def circular_mean(angles: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-feature circular mean over defined entries: (N, 6) angles, (N, 6) mask -> (6,)."""
    s = np.where(mask, np.sin(angles), 0).sum(0)
    c = np.where(mask, np.cos(angles), 0).sum(0)
    return np.arctan2(s, c)
