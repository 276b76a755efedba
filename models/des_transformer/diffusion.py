"""The paper's other inverse model: continuous diffusion over one-hot SMILES, conditioned on properties.

Reference (lamm-mit/MoleculeDiffusionTransformer, ``generative.QMDiffusion``, Inverse_Diffusion
notebook): a SMILES of length L over V tokens is the (L, V) one-hot matrix with 0 → −1 (entries ±1);
a K-diffusion model (Karras et al. 2022, "EDM") learns to denoise it, conditioned on the property
vector through cross-attention, with classifier-free guidance at sampling; 100 steps.

EDM preconditioning (Karras et al. 2022, Eq. 7 / Table 1), σ_data = 0.1 (reference):

    D(x; σ, y) = c_skip(σ) x + c_out(σ) F(c_in(σ) x; c_noise(σ), y)
    c_skip = σ_d² / (σ² + σ_d²),  c_out = σ σ_d / √(σ² + σ_d²),  c_in = 1 / √(σ² + σ_d²),  c_noise = ¼ ln σ

Training: ln σ ~ N(−1.2, 1.2²) (reference), loss λ(σ) ‖D(x + σ n; σ, y) − x‖² with
λ = (σ² + σ_d²) / (σ σ_d)² (EDM Eq. 8). Sampling: Karras schedule σ_i = (σ_max^{1/ρ} + i/(N−1)
(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ with σ_max 9, σ_min 0.001, ρ 3 (reference), guidance
D̃ = D_u + s (D_c − D_u). Decoding: argmax over tokens at every position, read up to EOS.

Two solvers over that schedule, two network evaluations per step each:
- ``adpm2`` (the reference's ``ADPM2Sampler(rho=1)``, the default): an *ancestral* step. From σ to σ',
  σ_up = √(σ'² (σ² − σ'²) / σ²), σ_down = √(σ'² − σ_up²), σ_mid = (σ + σ_down)/2; a derivative at σ
  takes x to σ_mid, the derivative there takes x from σ to σ_down, then fresh noise σ_up · n is added, so
  the sample is re-noised to σ' at every step (errors are forgotten, as in ancestral DDPM sampling). As in
  the reference, N schedule points give N − 1 steps and the chain stops at σ_min.
- ``heun``: EDM Algorithm 1, the deterministic probability-flow ODE with Heun's correction, to σ = 0.

Our substitute for the denoiser F: the reference's 1-D U-Net (91 M parameters, CFG cross-attention)
is far beyond this CPU; F is a non-causal transformer over the L positions with the same property
context tokens and cross-attention (null key/value for CFG) as the autoregressive inverse model.
Properties can be dropped one by one in training (any subset of targets), as there.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from designer.models.des_transformer.model import (
    FeedForward,
    InverseConfig,
    MultiQueryAttention,
    PropertyContext,
    sinusoidal,
)

SIGMA_DATA = 0.1
P_MEAN, P_STD = -1.2, 1.2
SIGMA_MIN, SIGMA_MAX, RHO = 0.001, 9.0, 3.0


class TokenDenoiser(nn.Module):
    """F(x, c_noise, y): (B, L, V) noisy one-hot → (B, L, V), cross-attending to property tokens.
    Sizes come from :class:`InverseConfig` (the same fields as the autoregressive inverse model)."""

    def __init__(self, config: InverseConfig) -> None:
        super().__init__()
        self.config = c = config
        self.to_dim = nn.Linear(c.vocab_size, c.dim)
        self.noise_mlp = nn.Sequential(nn.Linear(c.dim, c.dim), nn.SiLU(), nn.Linear(c.dim, c.dim))
        self.context = PropertyContext(c.n_properties, c.context_dim)
        self.layers = nn.ModuleList(nn.ModuleList([
            MultiQueryAttention(c.dim, c.heads, c.dim_head, dropout=c.dropout),
            MultiQueryAttention(c.dim, c.heads, c.dim_head, context_dim=c.context_dim, dropout=c.dropout),
            FeedForward(c.dim, c.ff_mult, c.dropout)]) for _ in range(c.depth))
        self.final_norm = nn.LayerNorm(c.dim)
        self.to_out = nn.Linear(c.dim, c.vocab_size)
        self.register_buffer("positions", sinusoidal(c.max_length, c.dim), persistent=False)

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor, properties: torch.Tensor, keep: torch.Tensor
                ) -> torch.Tensor:
        noise = self.noise_mlp(sinusoidal_features(c_noise, self.config.dim))            # (B, D)
        h = self.to_dim(x) + self.positions[: x.shape[1]] + noise[:, None, :]
        context = self.context(properties)
        for self_attention, cross_attention, feed_forward in self.layers:
            h = self_attention(h) + h
            h = cross_attention(h, context, keep) + h
            h = feed_forward(h) + h
        return self.to_out(self.final_norm(h))


def sinusoidal_features(values: torch.Tensor, dim: int) -> torch.Tensor:
    """(B,) scalars → (B, dim) sine/cosine features (for the noise level c_noise)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, device=values.device).float() / half)
    angles = values.float()[:, None] * freqs[None, :] * 100
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def one_hot_pm(tokens: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """(B, L) token indices → (B, L, V) with +1 at the token and −1 elsewhere (the reference's encoding)."""
    return F.one_hot(tokens, vocab_size).float() * 2 - 1


def denoise(net: TokenDenoiser, x: torch.Tensor, sigma: torch.Tensor, properties: torch.Tensor,
            keep: torch.Tensor) -> torch.Tensor:
    """D(x; σ, y) with the EDM preconditioning (module docstring); ``sigma`` (B,)."""
    s = sigma.view(-1, 1, 1)
    c_skip = SIGMA_DATA ** 2 / (s ** 2 + SIGMA_DATA ** 2)
    c_out = s * SIGMA_DATA / (s ** 2 + SIGMA_DATA ** 2).sqrt()
    c_in = 1 / (s ** 2 + SIGMA_DATA ** 2).sqrt()
    return c_skip * x + c_out * net(c_in * x, sigma.log() / 4, properties, keep)


def diffusion_loss(net: TokenDenoiser, tokens: torch.Tensor, properties: torch.Tensor, keep: torch.Tensor
                   ) -> torch.Tensor:
    """EDM loss with λ(σ) = (σ² + σ_d²)/(σ σ_d)², ln σ ~ N(P_mean, P_std²)."""
    x = one_hot_pm(tokens, net.config.vocab_size)
    sigma = (torch.randn(x.shape[0], device=x.device) * P_STD + P_MEAN).exp()
    noisy = x + sigma.view(-1, 1, 1) * torch.randn_like(x)
    weight = (sigma ** 2 + SIGMA_DATA ** 2) / (sigma * SIGMA_DATA) ** 2
    per_sample = ((denoise(net, noisy, sigma, properties, keep) - x) ** 2).mean((1, 2))
    return (weight * per_sample).mean()


def karras_sigmas(steps: int) -> torch.Tensor:
    """σ_0 = σ_max > … > σ_{N−1} = σ_min, then 0 (EDM Eq. 5 with the reference's ρ = 3)."""
    i = torch.arange(steps).float()
    sigmas = (SIGMA_MAX ** (1 / RHO) + i / max(steps - 1, 1) * (SIGMA_MIN ** (1 / RHO) - SIGMA_MAX ** (1 / RHO))) ** RHO
    return torch.cat([sigmas, torch.zeros(1)])


SOLVERS = ("adpm2", "heun")


@torch.no_grad()
def sample_tokens(net: TokenDenoiser, properties: torch.Tensor, keep: torch.Tensor, *, steps: int = 100,
                  guidance: float = 1.0, generator: torch.Generator | None = None, solver: str = "adpm2"
                  ) -> torch.Tensor:
    """(B, L) token indices by the reference's ancestral ADPM2 steps or by Heun's method on the
    probability-flow ODE (module docstring), with classifier-free guidance D̃ = D_u + s (D_c − D_u) when
    any property is kept and s ≠ 1."""
    if solver not in SOLVERS:
        raise ValueError(f"solver {solver!r}: expected one of {', '.join(SOLVERS)}")
    b, c = properties.shape[0], net.config
    conditional = bool(keep.any())
    dropped = torch.zeros_like(keep)

    def guided(x: torch.Tensor, sigma: float) -> torch.Tensor:
        if not conditional or guidance == 1:
            return denoise(net, x, torch.full((b,), sigma), properties, keep)
        # conditional and unconditional rows in one doubled batch: one network pass per evaluation
        both = denoise(net, torch.cat([x, x]), torch.full((2 * b,), sigma), torch.cat([properties, properties]),
                       torch.cat([keep, dropped]))
        d_c, d_u = both[:b], both[b:]
        return d_u + guidance * (d_c - d_u)

    sigmas = karras_sigmas(steps)
    x = torch.randn(b, c.max_length, c.vocab_size, generator=generator) * sigmas[0]
    if solver == "adpm2":
        for i in range(steps - 1):  # σ_0 → … → σ_{N−1} = σ_min, as the reference
            s, s_next = float(sigmas[i]), float(sigmas[i + 1])
            s_up = math.sqrt(s_next ** 2 * (s ** 2 - s_next ** 2) / s ** 2)
            s_down = math.sqrt(s_next ** 2 - s_up ** 2)
            s_mid = (s + s_down) / 2
            x_mid = x + (s_mid - s) * (x - guided(x, s)) / s
            x = x + (s_down - s) * (x_mid - guided(x_mid, s_mid)) / s_mid
            x = x + s_up * torch.randn(x.shape, generator=generator)
        return x.argmax(-1)
    for i in range(steps):
        s, s_next = float(sigmas[i]), float(sigmas[i + 1])
        d = (x - guided(x, s)) / s
        x_next = x + (s_next - s) * d
        if s_next > 0:  # Heun's correction (not on the last step to σ = 0)
            d_next = (x_next - guided(x_next, s_next)) / s_next
            x_next = x + (s_next - s) * (d + d_next) / 2
        x = x_next
    return x.argmax(-1)
