"""Training-free guidance of the multimodal flow (TFG-Flow, Lin et al. 2025, Sec. 4), in the order of
the reference code's ``compute_next_state`` (linhaowei1/TFG-Flow, ``diffusion/guidance.py``).

Given a property predictor f trained on clean molecules and a target c, each Euler step t → t + Δ is
steered by the loss ℓ(x, a) = (f(x, a) − c)² (f and c in the predictor's standardised units)
without retraining the flow:

1. Types, importance sampling over K candidate clean assignments: with (x̂₁, p̂) the model's
   unguided prediction, draw a₁⁽ᵏ⁾ ~ p̂ independently per atom (k = 1..K; revealed atoms keep their
   type) and weight w_k = softmax_k(−ℓ(x̂₁, a₁⁽ᵏ⁾) / τ). The guided rate matrix is the w-weighted sum
   of the candidates' masking-flow rates: a masked atom is revealed with probability Δ/(1 − t) to
   type b with probability Σ_k w_k 1[a₁⁽ᵏ⁾_i = b]. Sampling K joint assignments estimates the
   guided distribution p̂(a₁) exp(−ℓ/τ)/Z without enumerating the n_types^N joint states (the
   curse of dimensionality the paper avoids); the estimate converges to it as K grows (tested
   against exact enumeration).
2. One candidate a₁* ~ Cat(w) supplies the types the coordinate guidance scores with.
3. Coordinates, gradient guidance on x_t (``n_iter`` times, strength ρ):
   x_t ← x_t − ρ · g(∇_{x_t} ℓ(x̂₁(x_t), a₁*)).
4. Coordinates, gradient guidance on the clean prediction (``n_iter`` times, strength μ; the
   reference uses μ = ρ): x̂₁ ← x̂₁(x_t) − μ · g(∇_{x̂₁} ℓ(x̂₁, a₁*)); the velocity (x̂₁ − x_t)/(1 − t)
   then uses the guided x̂₁ and x_t. (The reference recomputes x̂₁ from x_t before its last ρ
   update; we use the final x_t.)

g(·) centres a gradient on the real atoms (it must stay in the zero-centre subspace) and, as the
reference's ``rescale_grad``, divides it by s = mean(g²) when s > 1.

``naive_discrete=True`` replaces step 1 by the ablation the paper argues against: each atom's p̂
reweighted independently by exp(−∂ℓ/∂p̂ / τ), a first-order, per-atom (factorised) guidance.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from designer.models.tfg_flow.flow import euler_step
from designer.models.tfg_flow.model import Denoiser, Predictor, centre


@dataclass
class Guidance:
    """Settings of one guided run; ``target`` in the predictor's standardised units."""

    target: float | torch.Tensor
    k: int = 512            # importance samples for the discrete part (reference: 512)
    tau: float = 0.1        # temperature of the importance weights
    rho: float = 0.25       # step on x_t
    mu: float = 0.25        # step on x̂₁ (reference: μ = ρ)
    n_iter: int = 4         # gradient iterations for each of ρ and μ (reference: 4)
    naive_discrete: bool = False

    def __post_init__(self) -> None:
        if self.k <= 0:
            raise ValueError("K (importance samples) must be positive")
        if self.tau <= 0 or self.rho < 0 or self.mu < 0 or self.n_iter < 0:
            raise ValueError("tau must be positive and rho, mu, n_iter non-negative")


def rescale(g: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Centre a (B, N, 3) gradient on the real atoms; divide it by s = mean(g²) over the batch's
    real coordinates when s > 1 (the reference's ``rescale_grad``)."""
    g = centre(g, mask)
    s = (g ** 2)[mask].mean()
    return g / s if s > 1 else g


def type_probabilities(a_t: torch.Tensor, logits: torch.Tensor, n_types: int) -> torch.Tensor:
    """p̂ per atom: the model's softmax where masked, one-hot where revealed (B, N, n_types)."""
    revealed = (a_t >= 0) & (a_t < n_types)
    onehot = F.one_hot(a_t.clamp(0, n_types - 1), n_types).to(logits.dtype)
    return torch.where(revealed.unsqueeze(-1), onehot, torch.softmax(logits, -1))


def property_loss(predictor: Predictor, x: torch.Tensor, types: torch.Tensor, mask: torch.Tensor,
                  target: float | torch.Tensor) -> torch.Tensor:
    """(B,) squared distance of the predicted (standardised) property from the target; a predictor
    of several properties (B, P) with P targets gives the sum over them."""
    error = (predictor(x, types, mask) - torch.as_tensor(target, dtype=x.dtype)) ** 2
    return error.sum(-1) if error.ndim == 2 else error


def importance_sample(predictor: Predictor, x_hat: torch.Tensor, probs: torch.Tensor, mask: torch.Tensor,
                      guidance: Guidance, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """K candidates a₁⁽ᵏ⁾ ~ p̂ scored at x̂₁: returns the guided per-atom reveal distribution
    Σ_k w_k one-hot(a₁⁽ᵏ⁾) (B, N, n_types) and one candidate drawn by w (B, N) for step 2."""
    b, n, n_types = probs.shape
    k = guidance.k
    candidates = torch.multinomial(probs.reshape(b * n, n_types), k, replacement=True, generator=generator)
    candidates = candidates.view(b, n, k).permute(0, 2, 1) * mask.unsqueeze(1)  # (B, K, N); padding: type 0
    target = guidance.target
    # Late in the flow most atoms are revealed and the K draws repeat: each distinct assignment is scored
    # once and its loss shared by its copies (the estimate and the random draws are unchanged).
    distinct, inverse = zip(*(torch.unique(candidates[i], dim=0, return_inverse=True) for i in range(b)), strict=True)
    counts = torch.tensor([len(rows) for rows in distinct])
    rows = torch.cat(distinct)                                               # (ΣU, N)
    if isinstance(target, torch.Tensor) and target.ndim == 2:  # one target row per molecule
        target = target.repeat_interleave(counts, 0)
    with torch.no_grad():
        scored = property_loss(predictor, x_hat.repeat_interleave(counts, 0), F.one_hot(rows, n_types).to(x_hat.dtype),
                               mask.repeat_interleave(counts, 0), target)
    offsets = torch.cumsum(counts, 0) - counts
    losses = scored[torch.stack(inverse) + offsets.unsqueeze(1)]             # (B, K)
    onehot = F.one_hot(candidates, n_types).to(x_hat.dtype)                  # (B, K, N, n_types)
    weights = torch.softmax(-losses / guidance.tau, dim=-1)                  # (B, K)
    chosen = torch.multinomial(weights, 1, generator=generator).squeeze(-1)
    return torch.einsum("bk,bknc->bnc", weights, onehot), candidates[torch.arange(b), chosen]


def guided_step(denoiser: Denoiser, predictor: Predictor, guidance: Guidance, x_t: torch.Tensor, a_t: torch.Tensor,
                t: float, dt: float, mask: torch.Tensor, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """One guided Euler step (the module docstring's steps 1–4)."""
    n_types = denoiser.config.n_types
    time = torch.full((x_t.shape[0],), t)
    rho_steps = guidance.n_iter if guidance.rho > 0 else 0
    # The unguided prediction is also the first ρ iteration's forward pass: run it once, with gradients if needed.
    x = x_t.detach().requires_grad_(rho_steps > 0)
    with torch.set_grad_enabled(rho_steps > 0):
        predicted, logits = denoiser(x, a_t, time, mask)
    x_hat = predicted.detach()
    probs = type_probabilities(a_t, logits.detach(), n_types)
    if guidance.naive_discrete:  # ablation: per-atom reweighting by the gradient w.r.t. the type probabilities
        p = probs.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(property_loss(predictor, x_hat, p, mask, guidance.target).sum(), p)
        reveal = torch.softmax(torch.log(probs.clamp_min(1e-12)) - grad / guidance.tau, -1)
        chosen = reveal.reshape(-1, n_types).multinomial(1, generator=generator).view(a_t.shape)
    else:
        reveal, chosen = importance_sample(predictor, x_hat, probs, mask, guidance, generator)
    types = F.one_hot(chosen, n_types).to(x_t.dtype)
    for iteration in range(rho_steps):
        if iteration:
            x = x_t.detach().requires_grad_(True)
            predicted, _ = denoiser(x, a_t, time, mask)
        (grad,) = torch.autograd.grad(property_loss(predictor, predicted, types, mask, guidance.target).sum(), x)
        x_t = centre(x_t.detach() - guidance.rho * rescale(grad, mask), mask)
    with torch.no_grad():
        x_hat, _ = denoiser(x_t, a_t, time, mask)
    for _ in range(guidance.n_iter if guidance.mu > 0 else 0):
        x = x_hat.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(property_loss(predictor, x, types, mask, guidance.target).sum(), x)
        x_hat = centre(x_hat.detach() - guidance.mu * rescale(grad, mask), mask)
    with torch.no_grad():
        return euler_step(x_t.detach(), a_t, x_hat.detach(), reveal, mask, t, dt, n_types, generator)
