"""Offline optimizers behind one interface: ``fit(data, n_designs, seed) -> designs`` (integer rows).

- ``best-of-data``: the top-scoring sequences of the data set (the floor every method must beat).
- ``grad-ascent``: gradient ascent on the mean of an ensemble of MLP proxies (design-bench's baseline),
  optionally with Adaptive-η.
- ``ga``: a genetic algorithm (mutation + uniform crossover + elitism) on the same proxy ensemble.
- ``bdi``: bidirectional learning with the infinite-width NTK (Chen et al., NeurIPS 2022).

Sequences are optimised in design-bench's continuous relaxation: a one-hot row is smoothed
(p = 0.6·onehot + 0.4/K), turned into logits relative to the first letter (K − 1 numbers per
position) and z-scored over the data set; a design is decoded by argmax.
"""

from __future__ import annotations

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

    def decode(self, z: torch.Tensor) -> np.ndarray:
        logits = (z * self.std + self.mean).reshape(len(z), self.length, self.k - 1)
        full = torch.cat([torch.zeros(len(z), self.length, 1, dtype=logits.dtype), logits], dim=-1)
        return full.argmax(-1).numpy()


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
@dataclass
class BDI:
    """Bidirectional learning (Chen et al. 2022), each design optimised on its own as in the reference.

    forward  L_f = ½ (y_h − K(x_h, X) d)²,  d = (K_XX + λI)⁻¹ y        (data → design: exploitation)
    backward L_b = ½ mean_j (y_j − K(x_j, x_h) y_h / (K(x_h, x_h) + λ))²  (design → data: constraint)

    with y_h = 10 in z-scored units, uniform data weights, λ = reg·trace(K)/n, Adam lr 0.1 for 200
    steps, a 6-layer ReLU NTK (5 hidden layers). Deviation for the CPU: X is a random subset of
    ``kernel_points`` data points (the reference solves the full 32k × 32k system and evaluates the
    backward term on every point, on a GPU); both terms share that subset, so K(X, x_h) is computed
    once per step.
    """

    label: float = 10.0
    steps: int = 200
    lr: float = 0.1
    reg: float = 1e-6
    depth: int = 5
    kernel_points: int = 2048
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
        k = relu_ntk(z_d, z_d, self.depth)
        k = k + self.reg * torch.trace(k) / len(k) * torch.eye(len(k), dtype=k.dtype)
        return torch.linalg.solve(k, y_d)

    def fit(self, data: OfflineData, n_designs: int = 128, seed: int = 0) -> np.ndarray:
        generator = torch.Generator().manual_seed(seed)
        relax = Relaxation.fit(data)
        z_l, y_l = relax.encode(data.x), _standardise(data.y)
        subset = torch.randperm(len(z_l), generator=generator)[: self.kernel_points]
        z_d, y_d = z_l[subset], y_l[subset]
        d = self.solve_d(z_d, y_d)
        z_h = relax.encode(data.x[top_k(data, n_designs)]).clone().requires_grad_(True)
        optimiser = torch.optim.Adam([z_h], lr=self.lr)
        for _ in range(self.steps):
            optimiser.zero_grad()
            forward, backward = self.losses(z_h, z_d, y_d, d)
            loss = (forward if self.use_forward else 0) + (backward if self.use_backward else 0)
            loss.backward()
            optimiser.step()
        return relax.decode(z_h.detach())


# --- proxy baselines ------------------------------------------------------------------------------
def train_proxies(z: torch.Tensor, y: torch.Tensor, seed: int, models: int = 3, epochs: int = 30,
                  hidden: int = 64) -> list[torch.nn.Module]:
    """An ensemble of MLP regressors on the relaxed data (design-bench's proxy, scaled down)."""
    proxies = []
    for m in range(models):
        torch.manual_seed(seed * 1000 + m)
        net = torch.nn.Sequential(torch.nn.Linear(z.shape[1], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, hidden),
                                  torch.nn.ReLU(), torch.nn.Linear(hidden, 1)).double()
        optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
        generator = torch.Generator().manual_seed(seed * 1000 + m)
        for _ in range(epochs):
            for batch in torch.randperm(len(z), generator=generator).split(128):
                optimiser.zero_grad()
                torch.nn.functional.mse_loss(net(z[batch]).squeeze(-1), y[batch]).backward()
                optimiser.step()
        proxies.append(net.eval())
    return proxies


def ensemble_mean(proxies: list[torch.nn.Module], z: torch.Tensor) -> torch.Tensor:
    return torch.stack([p(z).squeeze(-1) for p in proxies]).mean(0)


@dataclass
class GradientAscent:
    """Gradient ascent on the proxy-ensemble mean from the top designs; Adaptive-η optional."""

    steps: int = 100
    lr: float = 0.05
    adaptive_eta: bool = False
    name: str = "grad-ascent"

    def fit(self, data: OfflineData, n_designs: int = 128, seed: int = 0) -> np.ndarray:
        relax = Relaxation.fit(data)
        z_l, y_l = relax.encode(data.x), _standardise(data.y)
        proxies = train_proxies(z_l, y_l, seed)
        z = relax.encode(data.x[top_k(data, n_designs)]).clone().requires_grad_(True)
        lr = torch.full((len(z), 1), self.lr, dtype=z.dtype)
        for _ in range(self.steps):
            gradient, = torch.autograd.grad(ensemble_mean(proxies, z).sum(), z)
            with torch.no_grad():
                if self.adaptive_eta:
                    lr = adapt_eta(lr, z, gradient, lambda v: ensemble_mean(proxies, v))
                z += lr * gradient
        return relax.decode(z.detach())


def adapt_eta(lr: torch.Tensor, z: torch.Tensor, gradient: torch.Tensor,
              score: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Per-design step size: grow it while a trial step improves the score, shrink it otherwise
    (a first, simple stand-in for BIB's bi-level Adaptive-η; see the docs)."""
    improved = score(z + lr * gradient) > score(z)
    return torch.where(improved[:, None], lr * 1.1, lr * 0.5)


@dataclass
class GeneticAlgorithm:
    """Evolution on the proxy ensemble: tournament selection, uniform crossover, point mutations."""

    generations: int = 50
    mutation_rate: float = 0.1
    name: str = "ga"

    def fit(self, data: OfflineData, n_designs: int = 128, seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        relax = Relaxation.fit(data)
        proxies = train_proxies(relax.encode(data.x), _standardise(data.y), seed)
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
    "ga": GeneticAlgorithm,
}


def optimizer(name: str) -> Optimizer:
    """An optimizer by name, with a close-match suggestion for a typo."""
    if name not in OPTIMIZERS:
        raise UnknownNameError("optimization method", name, OPTIMIZERS)
    return OPTIMIZERS[name]()
