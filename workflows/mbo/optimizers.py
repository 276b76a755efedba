"""Offline optimizers behind one interface: ``fit(data, n_designs, seed) -> designs`` (integer rows).

- ``best-of-data``: the top-scoring sequences of the data set (the floor every method must beat).
- ``grad-ascent``: gradient ascent on the mean of an ensemble of MLP proxies (design-bench's baseline),
  optionally with Adaptive-η.
- ``ga``: a genetic algorithm (mutation + uniform crossover + elitism) on the same proxy ensemble.
- ``bdi``: bidirectional learning with the infinite-width NTK (Chen et al., NeurIPS 2022).
- ``bib``: bidirectional learning with a linearised pre-trained LM, learned γ and Adaptive-η
  (Chen et al., ICML 2023); ablations ``bib-forward-only``, ``bib-backward-only``, ``bib-fixed-gamma``,
  ``bib-fixed-eta``.
- ``coms``: gradient ascent on a conservative objective model (Trabucco et al., ICML 2021).

Sequences are optimised in design-bench's continuous relaxation: a one-hot row is smoothed
(p = 0.6·onehot + 0.4/K), turned into logits relative to the first letter (K − 1 numbers per
position) and z-scored over the data set; a design is decoded by argmax.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from designer.errors import UnknownNameError
from designer.workflows.mbo.ntk import relu_ntk
from designer.workflows.mbo.tasks import OfflineData

SOFT = 0.6  # design-bench's soft interpolation of one-hot rows


class Optimizer(Protocol):
    name: str

    def fit(self, data: OfflineData, n_designs: int = 128, seed: int = 0) -> np.ndarray: ...


@dataclass
class Relaxation:
    """design-bench's logit relaxation of integer sequences, z-scored over the data set."""

    length: int
    k: int
    mean: torch.Tensor
    std: torch.Tensor

    @classmethod
    def fit(cls, data: OfflineData) -> Relaxation:
        raw = cls._logits(torch.as_tensor(data.x), len(data.letters))
        return cls(data.x.shape[1], len(data.letters), raw.mean(0), raw.std(0).clamp_min(1e-6))

    @staticmethod
    def _logits(x: torch.Tensor, k: int) -> torch.Tensor:
        p = SOFT * torch.nn.functional.one_hot(x, k).double() + (1 - SOFT) / k
        logits = torch.log(p)
        return (logits[..., 1:] - logits[..., :1]).reshape(len(x), -1)

    def encode(self, x: np.ndarray) -> torch.Tensor:
        return (self._logits(torch.as_tensor(x), self.k) - self.mean) / self.std

    def full_logits(self, z: torch.Tensor) -> torch.Tensor:
        """(n, L, K) letter logits, the first letter's fixed at 0; differentiable in ``z``."""
        logits = (z * self.std + self.mean).reshape(len(z), self.length, self.k - 1)
        return torch.cat([torch.zeros(len(z), self.length, 1, dtype=logits.dtype), logits], dim=-1)

    def probabilities(self, z: torch.Tensor) -> torch.Tensor:
        """Soft one-hot rows (n, L, K): what a sequence model reads while designs are continuous."""
        return self.full_logits(z).softmax(-1)

    def decode(self, z: torch.Tensor) -> np.ndarray:
        return self.full_logits(z).argmax(-1).numpy()


def _standardise(y: np.ndarray) -> torch.Tensor:
    y = torch.as_tensor(y, dtype=torch.float64)
    return (y - y.mean()) / y.std().clamp_min(1e-12)


def top_k(data: OfflineData, k: int) -> np.ndarray:
    """Indices of the k best-scoring sequences (ties broken by position, deterministic)."""
    return np.argsort(-data.y, kind="stable")[:k]


class BestOfData:
    name = "best-of-data"

    def fit(self, data: OfflineData, n_designs: int = 128, seed: int = 0) -> np.ndarray:
        return data.x[top_k(data, n_designs)]


# --- BDI ------------------------------------------------------------------------------------------
def kernel_matrix(z: torch.Tensor, depth: int, block_rows: int = 1024) -> torch.Tensor:
    """K(z, z) of the ReLU NTK, built ``block_rows`` rows at a time: the NTK recursion keeps about ten
    temporaries of its output's size, so a one-shot 8,192² build would need ~5 GB instead of the
    0.5 GB of K itself. No gradient is taken through K (the data points are fixed)."""
    n = len(z)
    k = torch.empty(n, n, dtype=z.dtype)
    with torch.no_grad():
        for start in range(0, n, block_rows):
            k[start:start + block_rows] = relu_ntk(z[start:start + block_rows], z, depth)
    return k


def kernel_solve(z: torch.Tensor, y: torch.Tensor, depth: int, reg: float, block_rows: int = 1024
                 ) -> torch.Tensor:
    """(K + λI)⁻¹ y for K = K(z, z), λ = reg·trace(K)/n, via a blocked build and a Cholesky solve."""
    k = kernel_matrix(z, depth, block_rows)
    k.diagonal().add_(reg * torch.trace(k) / len(k))  # in place: one n × n matrix in memory
    factor = torch.linalg.cholesky(k, out=k)  # overwrites K with its factor (lower triangle read only)
    return torch.cholesky_solve(y[:, None].to(k.dtype), factor).squeeze(1)


@dataclass
class BDIState:
    """What BDI's design steps need from the data: the relaxation, the kernel subset (z_d, y_d) and
    d = (K_XX + λI)⁻¹ y_d."""

    relax: Relaxation
    z_d: torch.Tensor
    y_d: torch.Tensor
    d: torch.Tensor


@dataclass
class BDI:
    """Bidirectional learning (Chen et al. 2022), each design optimised on its own as in the reference.

    forward  L_f = ½ (y_h − K(x_h, X) d)²,  d = (K_XX + λI)⁻¹ y        (data → design: exploitation)
    backward L_b = ½ mean_j (y_j − K(x_j, x_h) y_h / (K(x_h, x_h) + λ))²  (design → data: constraint)

    with y_h = 10 in z-scored units, uniform data weights, λ = reg·trace(K)/n, Adam lr 0.1 for 200
    steps, a 6-layer ReLU NTK (5 hidden layers). Deviation for the CPU: X is a random subset of
    ``kernel_points`` data points (8,192 by default; a value ≥ the data size uses every point, as the
    reference does on a GPU); both terms share that subset, so K(X, x_h) is computed once per step.
    K_XX is built in blocks of ``block_rows`` rows and solved by Cholesky (``solve_d``).
    """

    label: float = 10.0
    steps: int = 200
    lr: float = 0.1
    reg: float = 1e-6
    depth: int = 5
    kernel_points: int = 8192
    block_rows: int = 1024
    use_forward: bool = True
    use_backward: bool = True
    name: str = "bdi"

    def losses(self, z_h: torch.Tensor, z_d: torch.Tensor, y_d: torch.Tensor, d: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """(forward, backward) losses summed over designs; each design is its own support set."""
        y_h = torch.full((len(z_h),), self.label, dtype=z_h.dtype)
        k_dh = relu_ntk(z_d, z_h, self.depth)                                   # (n, H)
        forward = 0.5 * ((k_dh.T @ d - y_h) ** 2).sum()
        k_hh = relu_ntk(z_h, z_h, self.depth).diagonal()                        # (H,)
        predicted = k_dh * (y_h / (k_hh * (1 + self.reg)))[None, :]           # λ = reg·trace/1 for one point
        backward = 0.5 * ((predicted - y_d[:, None]) ** 2).mean(0).sum()
        return forward, backward

    def solve_d(self, z_d: torch.Tensor, y_d: torch.Tensor) -> torch.Tensor:
        """d = (K_XX + λI)⁻¹ y with λ = reg·trace(K_XX)/n, by Cholesky (K_XX + λI is symmetric
        positive definite; half the work of an LU solve, and no second n × n copy is kept)."""
        return kernel_solve(z_d, y_d, self.depth, self.reg, self.block_rows)

    def prepare(self, data: OfflineData, seed: int = 0) -> BDIState:
        """The label-independent part of a fit: relaxation, seeded kernel subset and d (the costly solve),
        so that a label sweep solves once per seed."""
        generator = torch.Generator().manual_seed(seed)
        relax = Relaxation.fit(data)
        z_l, y_l = relax.encode(data.x), _standardise(data.y)
        subset = torch.randperm(len(z_l), generator=generator)[: self.kernel_points]
        z_d, y_d = z_l[subset], y_l[subset]
        return BDIState(relax, z_d, y_d, self.solve_d(z_d, y_d))

    def fit(self, data: OfflineData, n_designs: int = 128, seed: int = 0) -> np.ndarray:
        """``n_designs`` designs (integer rows) from the top data points; the seed picks the kernel subset."""
        return self.ascend(data, self.prepare(data, seed), n_designs)

    def ascend(self, data: OfflineData, state: BDIState, n_designs: int = 128) -> np.ndarray:
        """Adam on the top ``n_designs`` data points' relaxed rows under the forward/backward losses."""
        relax, z_d, y_d, d = state.relax, state.z_d, state.y_d, state.d
        z_h = relax.encode(data.x[top_k(data, n_designs)]).clone().requires_grad_(True)
        optimiser = torch.optim.Adam([z_h], lr=self.lr)
        for _ in range(self.steps):
            optimiser.zero_grad()
            forward, backward = self.losses(z_h, z_d, y_d, d)
            loss = (forward if self.use_forward else 0) + (backward if self.use_backward else 0)
            loss.backward()
            optimiser.step()
        return relax.decode(z_h.detach())


# --- BIB ------------------------------------------------------------------------------------------
def ridge_weights(phi_l: torch.Tensor, y_l: torch.Tensor, beta: float) -> torch.Tensor:
    """w = (Φ_lᵀΦ_l + βI)⁻¹Φ_lᵀ y_l, so that K_hl (K_ll + βI)⁻¹ y_l = Φ_h w (push-through identity:
    a (D × D) solve instead of (n × n), and independent of the designs, so it is solved once)."""
    d = phi_l.shape[1]
    return torch.linalg.solve(phi_l.T @ phi_l + beta * torch.eye(d, dtype=phi_l.dtype), phi_l.T @ y_l)


def linear_kernel_losses(phi_h: torch.Tensor, phi_l: torch.Tensor, y_l: torch.Tensor, w: torch.Tensor,
                         label: float, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """BIB's closed-form losses with a linear kernel K(a, b) = φ(a)·φ(b) (mean squared errors):

    forward  L_f = mean_h (y_h − K_hl (K_ll + βI)⁻¹ y_l)²  = mean_h (y_h − φ_h·w)²   (exploitation)
    backward L_b = mean_l (y_l − K_lh (K_hh + βI)⁻¹ y_h)²                             (constraint)
    """
    y_h = torch.full((len(phi_h),), label, dtype=phi_h.dtype)
    forward = ((phi_h @ w - y_h) ** 2).mean()
    k_hh = phi_h @ phi_h.T
    alpha = torch.linalg.solve(k_hh + beta * torch.eye(len(k_hh), dtype=k_hh.dtype), y_h)
    backward = ((phi_l @ (phi_h.T @ alpha) - y_l) ** 2).mean()
    return forward, backward


@dataclass
class BIB:
    """Bidirectional learning with a pre-trained LM (Chen, Zhang, Coates, ICML 2023).

    Proxy: our small pre-trained LM (``lm.py``) + a linear head, linearised around the pre-trained
    weights. The empirical kernel is taken over the head's parameters only, K(a, b) = φ(a)·φ(b) with
    φ = the flattened last hidden layer / √D (the paper's kernel also differentiates the LM body; the
    head-only kernel keeps a CPU run to seconds). Loss L = γ L_f + (1 − γ) L_b (Adaptive-γ), γ and the
    design step η set by BIB's bi-level signal: after each design step, the auxiliary proxy's score of
    the updated designs is differentiated with respect to γ and η (``hypergradient_step``).

    ``learn_gamma=False`` keeps γ fixed; ``adaptive_eta=False`` keeps η fixed (ablations).
    """

    label: float = 10.0
    steps: int = 100
    eta: float = 0.1
    gamma: float = 0.5
    beta: float = 1e-3
    hyper_lr: float = 0.05
    kernel_points: int = 4096
    proxy_epochs: int = 30
    proxy_points: int | None = None
    learn_gamma: bool = True
    adaptive_eta: bool = True
    name: str = "bib"

    def features(self, lm: torch.nn.Module, relax: Relaxation, z: torch.Tensor) -> torch.Tensor:
        h = lm.hidden(relax.probabilities(z)).flatten(1)
        return h / h.shape[1] ** 0.5

    def fit(self, data: OfflineData, n_designs: int = 128, seed: int = 0) -> np.ndarray:
        from designer.workflows.mbo.lm import pretrained

        generator = torch.Generator().manual_seed(seed)
        relax = Relaxation.fit(data)
        lm = pretrained(data.alphabet)
        for parameter in lm.parameters():
            parameter.requires_grad_(False)
        z_l, y_l = relax.encode(data.x), _standardise(data.y)
        subset = torch.randperm(len(z_l), generator=generator)[: self.kernel_points]
        with torch.no_grad():
            phi_l = self.features(lm, relax, z_l[subset])
        y_d = y_l[subset]
        w = ridge_weights(phi_l, y_d, self.beta)
        auxiliary = auxiliary_proxy(z_l, y_l, seed, self.proxy_epochs, self.proxy_points)
        # γ = sigmoid(a) stays in (0, 1); Adam on (a, log η) makes the hyper-steps scale-free.
        a = torch.tensor(float(np.log(self.gamma / (1 - self.gamma))), dtype=torch.float64, requires_grad=True)
        log_eta = torch.tensor(float(np.log(self.eta)), dtype=torch.float64, requires_grad=True)
        hyper = torch.optim.Adam([a, log_eta], lr=self.hyper_lr)
        z = relax.encode(data.x[top_k(data, n_designs)]).clone()
        self.trace: list[tuple[float, float]] = []
        for _ in range(self.steps):
            z.requires_grad_(True)
            forward, backward = linear_kernel_losses(self.features(lm, relax, z), phi_l, y_d, w, self.label,
                                                     self.beta)
            g_f, = torch.autograd.grad(forward, z, retain_graph=True)
            g_b, = torch.autograd.grad(backward, z)
            gamma = torch.sigmoid(a.detach())
            z, d_w, d_log_eta = hypergradient_step(z.detach(), [-g_f, -g_b], torch.stack([gamma, 1 - gamma]),
                                                   log_eta.detach(), auxiliary)
            # dγ-chain: outer depends on γ through w = (γ, 1 − γ) → ∂/∂γ = d_w[0] − d_w[1]; γ = σ(a)
            hyper.zero_grad()
            zero = torch.zeros((), dtype=a.dtype)  # an ablation keeps its hyperparameter where it started
            a.grad = -((d_w[0] - d_w[1]) * gamma * (1 - gamma)).reshape(()) if self.learn_gamma else zero
            log_eta.grad = -d_log_eta.reshape(()) if self.adaptive_eta else zero.clone()
            hyper.step()
            self.trace.append((float(torch.sigmoid(a.detach())), float(log_eta.detach().exp())))
        return relax.decode(z)


# --- proxy baselines ------------------------------------------------------------------------------
def mlp(inputs: int, hidden: int) -> torch.nn.Module:
    """The proxy architecture shared by the baselines: two ReLU hidden layers, float64."""
    return torch.nn.Sequential(torch.nn.Linear(inputs, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, hidden),
                               torch.nn.ReLU(), torch.nn.Linear(hidden, 1)).double()


def train_proxies(z: torch.Tensor, y: torch.Tensor, seed: int, models: int = 3, epochs: int = 30,
                  hidden: int = 64, points: int | None = None) -> list[torch.nn.Module]:
    """An ensemble of MLP regressors on the relaxed data (design-bench's proxy, scaled down);
    ``points`` trains on a seeded random subset (a CPU budget)."""
    z, y = subsample(z, y, points, seed)
    proxies = []
    for m in range(models):
        torch.manual_seed(seed * 1000 + m)
        net = mlp(z.shape[1], hidden)
        optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
        generator = torch.Generator().manual_seed(seed * 1000 + m)
        for _ in range(epochs):
            for batch in torch.randperm(len(z), generator=generator).split(128):
                optimiser.zero_grad()
                torch.nn.functional.mse_loss(net(z[batch]).squeeze(-1), y[batch]).backward()
                optimiser.step()
        proxies.append(net.eval())
    return proxies


def subsample(z: torch.Tensor, y: torch.Tensor, points: int | None, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    if points is None or points >= len(z):
        return z, y
    keep = torch.randperm(len(z), generator=torch.Generator().manual_seed(seed))[:points]
    return z[keep], y[keep]


def ensemble_mean(proxies: list[torch.nn.Module], z: torch.Tensor) -> torch.Tensor:
    return torch.stack([p(z).squeeze(-1) for p in proxies]).mean(0)


# --- Adaptive-η (BIB, Chen et al. 2023) -----------------------------------------------------------
def hypergradient_step(z: torch.Tensor, directions: list[torch.Tensor], weights: torch.Tensor,
                       log_eta: torch.Tensor, auxiliary: Callable[[torch.Tensor], torch.Tensor]
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One bi-level step shared by BIB's Adaptive-γ and Adaptive-η.

    Inner (design) update: z' = z + η · Σ_i w_i d_i, with d_i the ascent directions of the loss
    terms (BIB: −∇L_f, −∇L_b; gradient ascent: the proxy gradient alone) and w their weights.
    Outer objective: the auxiliary proxy's mean score of z' — its gradients with respect to the weights
    and to log η are the weak supervision BIB uses to set γ and η. They are first-order: ∂z'/∂w_i = η d_i,
    ∂z'/∂log η = η Σ w_i d_i, so no second derivative of the loss is needed.

    Returns (z', ∂outer/∂w, ∂outer/∂log η).
    """
    eta = log_eta.exp()
    step = sum(w * d for w, d in zip(weights, directions, strict=True))
    z_new = (z + eta * step).detach().requires_grad_(True)
    grad_aux, = torch.autograd.grad(auxiliary(z_new).mean(), z_new)
    d_weights = torch.stack([eta * (grad_aux * d).sum() for d in directions])
    d_log_eta = eta * (grad_aux * step).sum()
    return z_new.detach(), d_weights, d_log_eta


@dataclass
class GradientAscent:
    """Gradient ascent on the proxy-ensemble mean from the top designs; Adaptive-η optional.

    The step is ``lr·√d`` for d relaxed coordinates, as design-bench's baseline scales it (and as
    COMs below does): with a fixed step, 100 steps on GB1 (d = 1,045) never flip a letter."""

    steps: int = 100
    lr: float = 0.05
    adaptive_eta: bool = False
    proxy_epochs: int = 30
    proxy_points: int | None = None
    name: str = "grad-ascent"

    def fit(self, data: OfflineData, n_designs: int = 128, seed: int = 0) -> np.ndarray:
        relax = Relaxation.fit(data)
        z_l, y_l = relax.encode(data.x), _standardise(data.y)
        proxies = train_proxies(z_l, y_l, seed, epochs=self.proxy_epochs, points=self.proxy_points)
        z = relax.encode(data.x[top_k(data, n_designs)]).clone()
        step = self.lr * math.sqrt(z.shape[1])
        adaptive = None
        if self.adaptive_eta:
            adaptive = AdaptiveEta(step, auxiliary_proxy(z_l, y_l, seed, self.proxy_epochs, self.proxy_points))
        for _ in range(self.steps):
            z.requires_grad_(True)
            gradient, = torch.autograd.grad(ensemble_mean(proxies, z).sum(), z)
            z = z.detach()
            if adaptive is None:
                z = z + step * gradient
            else:
                z = adaptive.step(z, gradient)
        return relax.decode(z.detach())


class AdaptiveEta:
    """BIB's Adaptive-η for any gradient-based optimiser: log η follows the hypergradient of an
    auxiliary proxy's score of the updated designs (Adam on log η keeps η positive and the
    step scale-free)."""

    def __init__(self, eta: float, auxiliary: Callable[[torch.Tensor], torch.Tensor], lr: float = 0.05) -> None:
        self.log_eta = torch.tensor(float(np.log(eta)), dtype=torch.float64, requires_grad=True)
        self.optimiser = torch.optim.Adam([self.log_eta], lr=lr)
        self.auxiliary = auxiliary

    def step(self, z: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
        z_new, _, d_log_eta = hypergradient_step(z, [direction], torch.ones(1, dtype=z.dtype),
                                                 self.log_eta.detach(), self.auxiliary)
        self.optimiser.zero_grad()
        self.log_eta.grad = -d_log_eta.reshape(())  # Adam minimises: ascend the auxiliary score
        self.optimiser.step()
        return z_new


def auxiliary_proxy(z: torch.Tensor, y: torch.Tensor, seed: int, epochs: int = 30, points: int | None = None
                    ) -> Callable[[torch.Tensor], torch.Tensor]:
    """BIB's auxiliary model: a proxy trained on the data independently of the optimised objective
    (a separately seeded MLP, so its errors differ from the proxy being optimised)."""
    net = train_proxies(z, y, seed + 7919, models=1, epochs=epochs, points=points)[0]
    return lambda v: net(v).squeeze(-1)


# --- COMs (Trabucco et al. 2021) ------------------------------------------------------------------
@dataclass
class COMs:
    """Conservative objective models: a proxy trained with MSE + α (E_adv[f] − E_data[f]), where the
    adversarial points come from gradient ascent on the proxy itself starting at the batch (Eq. 3 of the
    paper); α follows dual ascent so that the gap stays below τ. Designs: gradient ascent on that proxy.

    Values: α₀ = 0.1, τ = 2.0, α lr 0.01, particle and solver step 0.05·√d, 50 solver steps — recalled
    from design-bench's COMs baseline, not checked against its code in this session. Deviation for the
    CPU: 5 particle steps instead of 50, 20 epochs.
    """

    alpha: float = 0.1
    tau: float = 2.0
    alpha_lr: float = 0.01
    particle_steps: int = 5
    solver_steps: int = 50
    epochs: int = 20
    hidden: int = 64
    proxy_points: int | None = None
    name: str = "coms"

    def conservative_proxy(self, z: torch.Tensor, y: torch.Tensor, seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        step = 0.05 * z.shape[1] ** 0.5
        net = mlp(z.shape[1], self.hidden)
        optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
        log_alpha = torch.tensor(float(np.log(self.alpha)), dtype=torch.float64)
        generator = torch.Generator().manual_seed(seed)
        for _ in range(self.epochs):
            for batch in torch.randperm(len(z), generator=generator).split(128):
                particles = z[batch].clone()
                for _ in range(self.particle_steps):  # adversarial points: ascend the current proxy
                    particles.requires_grad_(True)
                    gradient, = torch.autograd.grad(net(particles).sum(), particles)
                    particles = (particles + step * gradient).detach()
                fit = torch.nn.functional.mse_loss(net(z[batch]).squeeze(-1), y[batch])
                gap = net(particles).mean() - net(z[batch]).mean()
                optimiser.zero_grad()
                (fit + log_alpha.exp() * gap).backward()
                optimiser.step()
                log_alpha = log_alpha + self.alpha_lr * (gap.detach() - self.tau)  # dual ascent on α
        return net.eval()

    def fit(self, data: OfflineData, n_designs: int = 128, seed: int = 0) -> np.ndarray:
        relax = Relaxation.fit(data)
        z_l, y_l = relax.encode(data.x), _standardise(data.y)
        net = self.conservative_proxy(*subsample(z_l, y_l, self.proxy_points, seed), seed)
        z = relax.encode(data.x[top_k(data, n_designs)]).clone()
        step = 0.05 * z.shape[1] ** 0.5
        for _ in range(self.solver_steps):
            z.requires_grad_(True)
            gradient, = torch.autograd.grad(net(z).sum(), z)
            z = (z + step * gradient).detach()
        return relax.decode(z)


@dataclass
class GeneticAlgorithm:
    """Evolution on the proxy ensemble: tournament selection, uniform crossover, point mutations."""

    generations: int = 50
    mutation_rate: float = 0.1
    proxy_epochs: int = 30
    proxy_points: int | None = None
    name: str = "ga"

    def fit(self, data: OfflineData, n_designs: int = 128, seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        relax = Relaxation.fit(data)
        proxies = train_proxies(relax.encode(data.x), _standardise(data.y), seed, epochs=self.proxy_epochs,
                                points=self.proxy_points)
        k = len(data.letters)
        population = data.x[top_k(data, n_designs)].copy()

        def fitness(x: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return ensemble_mean(proxies, relax.encode(x)).numpy()

        for _ in range(self.generations):
            scores = fitness(population)
            pairs = rng.integers(0, len(population), size=(len(population), 2, 2))
            parents = np.where(scores[pairs[..., 0]] >= scores[pairs[..., 1]], pairs[..., 0], pairs[..., 1])
            mask = rng.random(population.shape) < 0.5
            children = np.where(mask, population[parents[:, 0]], population[parents[:, 1]])
            mutate = rng.random(children.shape) < self.mutation_rate
            children[mutate] = rng.integers(0, k, size=int(mutate.sum()))
            pool = np.concatenate([population, children])
            population = pool[np.argsort(-fitness(pool), kind="stable")[:n_designs]]
        return population


OPTIMIZERS: dict[str, Callable[[], Optimizer]] = {
    "best-of-data": BestOfData,
    "bdi": BDI,
    "bdi-forward-only": lambda: BDI(use_backward=False, name="bdi-forward-only"),
    "bdi-backward-only": lambda: BDI(use_forward=False, name="bdi-backward-only"),
    "grad-ascent": GradientAscent,
    "grad-ascent-adaptive-eta": lambda: GradientAscent(adaptive_eta=True, name="grad-ascent-adaptive-eta"),
    "bib": BIB,
    "bib-forward-only": lambda: BIB(gamma=1 - 1e-9, learn_gamma=False, name="bib-forward-only"),
    "bib-backward-only": lambda: BIB(gamma=1e-9, learn_gamma=False, name="bib-backward-only"),
    "bib-fixed-gamma": lambda: BIB(learn_gamma=False, name="bib-fixed-gamma"),
    "bib-fixed-eta": lambda: BIB(adaptive_eta=False, name="bib-fixed-eta"),
    "coms": COMs,
    "ga": GeneticAlgorithm,
}


def optimizer(name: str) -> Optimizer:
    """An optimizer by name, with a close-match suggestion for a typo."""
    if name not in OPTIMIZERS:
        raise UnknownNameError("optimization method", name, OPTIMIZERS)
    return OPTIMIZERS[name]()
