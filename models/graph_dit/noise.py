"""Graph-dependent discrete noise of Graph DiT (Liu et al., NeurIPS 2024, Sec. 3.2) and its posterior.

Each node is one token: its atom type one-hot (F_x) concatenated with its row of bond one-hots
(N slots of F_e), a vector of size d = F_x + N·F_e. One matrix acts on the whole token (Eq. 4–5):

    Q̄_t = ᾱ_t I + (1 − ᾱ_t) U,   U = [[1·m_X,  m_XE tiled over the N slots],
                                      [m_EX,   1·m_E tiled over N×N slots]]

with m_X the atom-type marginal, m_E the bond-type marginal, m_XE[a] the bond-type distribution of
pairs incident to an atom of type a and m_EX[b] the atom-type distribution at the ends of bonds of
type b — all counted on the training set. Every block row of U is a distribution, so ``token @ Q̄_t``
gives, for the atom part and for every bond slot, a non-negative vector whose mass is
ᾱ_t·[slot occupied] + (1 − ᾱ_t)·(number of occupied parts of the token). The reference code leaves the
row un-normalised and lets ``multinomial`` normalise each part when sampling; we normalise each part
explicitly (:meth:`GraphNoise.split`), which is the same distribution. As t → T the atom part tends to
(m_X + Σ_j m_EX[e_ij]) / n and bond slot (i, j) to (m_XE[x_i] + (n − 1) m_E) / n: the stationary
distribution depends on the graph (:meth:`GraphNoise.limit`). ``independent=True`` drops the cross
blocks and ties each slot only to itself, which is DiGress's marginal transition (the ablation).

Because each part of a token receives (1 − ᾱ_t) from *every* occupied part, a part keeps its value
with probability about ᾱ_t / (ᾱ_t + (1 − ᾱ_t)·n) for a node of a graph with n atoms, not ᾱ_t: the
joint noise destroys the graph far faster than the schedule says (issue #20). ``normalised=True``
divides the U term by the number of occupied parts of a token (n: the atom and its n − 1 bond
slots), Q̄_t = ᾱ_t I + (1 − ᾱ_t) U / n, so every part is already a distribution (mass ᾱ_t +
(1 − ᾱ_t)·n/n = 1), keeps its value with probability ≥ ᾱ_t as in the independent case, and its noise
still mixes in the graph-dependent cross terms. This is our variant, not the paper's.

The reverse step follows the reference's x̂_0-parametrised posterior (Eq. 7, as in DiGress):
q(z_s | z_t, x_0) ∝ (z_t Q_{t|s}ᵀ) ⊙ (x_0 Q̄_s) / (x_0 Q̄_t z_tᵀ), summed over the predicted x̂_0.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def cosine_alpha_bar(T: int, s: float = 0.008) -> torch.Tensor:
    """ᾱ_t for t = 0..T from the cosine schedule (Nichol & Dhariwal), discretised as the reference:
    β_t = 1 − ᾱ'_{t+1}/ᾱ'_t on T + 2 grid points, ᾱ_t = Π_{τ≤t} (1 − β_τ)."""
    steps = T + 2
    grid = np.linspace(0, steps, steps)
    cumprod = np.cos(0.5 * math.pi * ((grid / steps) + s) / (1 + s)) ** 2
    cumprod = cumprod / cumprod[0]
    betas = np.clip(1 - cumprod[1:] / cumprod[:-1], 0.0, 1.0)
    with np.errstate(divide="ignore"):  # β_T = 1 makes ᾱ_T exactly 0: G_T carries no trace of G_0
        return torch.from_numpy(np.exp(np.cumsum(np.log(1 - betas)))).float()


def graph_marginals(x: np.ndarray, e: np.ndarray, n_atoms: np.ndarray, n_atom_types: int,
                    n_bond_types: int = 4) -> dict[str, torch.Tensor]:
    """Training-set marginals m_X (F_x), m_E (F_e), m_XE (F_x, F_e), m_EX (F_e, F_x) from dense graphs.

    Bond statistics count every ordered pair of distinct real atoms (so "no bond" is a bond type), as
    the reference's meta-data does. m_XE and m_EX are the two conditionals of one atom–bond
    co-occurrence count table C[a, b] = #{(i, j): x_i = a, e_ij = b}. (The reference averages per
    atom-pair-type conditionals instead, which weights rare partner types like common ones.)
    """
    max_atoms = x.shape[1]
    real = np.arange(max_atoms)[None, :] < n_atoms[:, None]                   # (M, N)
    pair = real[:, :, None] & real[:, None, :] & ~np.eye(max_atoms, dtype=bool)[None]
    m_x = np.bincount(x[real].astype(np.int64), minlength=n_atom_types).astype(np.float64)
    m_e = np.bincount(e[pair].astype(np.int64), minlength=n_bond_types).astype(np.float64)
    atom_of_pair = np.broadcast_to(x[:, :, None], e.shape)[pair].astype(np.int64)
    bond_of_pair = e[pair].astype(np.int64)
    table = np.bincount(atom_of_pair * n_bond_types + bond_of_pair,
                        minlength=n_atom_types * n_bond_types).reshape(n_atom_types, n_bond_types).astype(np.float64)
    table += 1e-6  # a type never seen next to a bond type still gets a (tiny) defined distribution
    return {
        "m_x": torch.tensor(m_x / m_x.sum(), dtype=torch.float32),
        "m_e": torch.tensor(m_e / m_e.sum(), dtype=torch.float32),
        "m_xe": torch.tensor(table / table.sum(1, keepdims=True), dtype=torch.float32),
        "m_ex": torch.tensor((table / table.sum(0, keepdims=True)).T, dtype=torch.float32),
    }


class GraphNoise:
    """Forward noise q(G_t | G_0), prior, and reverse posterior for dense graphs.

    Shapes: ``X`` (B, N, F_x) one-hot or probabilities, ``E`` (B, N, N, F_e), ``node_mask`` (B, N)
    bool. Padding atoms and the diagonal carry all-zero one-hots, as in the reference.
    """

    def __init__(self, marginals: dict[str, torch.Tensor], max_atoms: int, T: int = 500,
                 independent: bool = False, normalised: bool = False) -> None:
        if independent and normalised:
            raise ValueError("normalised applies to the graph-dependent noise; independent noise is already per part")
        self.m_x, self.m_e = marginals["m_x"].float(), marginals["m_e"].float()
        self.m_xe, self.m_ex = marginals["m_xe"].float(), marginals["m_ex"].float()
        self.fx, self.fe, self.n, self.T = len(self.m_x), len(self.m_e), max_atoms, T
        self.independent, self.normalised = independent, normalised
        self.alpha_bar = cosine_alpha_bar(T)
        self.U = self._union_matrix()

    def _union_matrix(self) -> torch.Tensor:
        """U (d, d): the limit part of Q̄_t (Eq. 5); block-diagonal for the independent ablation."""
        fx, fe, n = self.fx, self.fe, self.n
        u_x = self.m_x.expand(fx, fx)
        if self.independent:
            u_xe = torch.zeros(fx, n * fe)
            u_ex = torch.zeros(n * fe, fx)
            u_e = torch.block_diag(*[self.m_e.expand(fe, fe)] * n)           # each slot only to itself
        else:
            u_xe = self.m_xe.repeat(1, n)                                     # (fx, n·fe)
            u_ex = self.m_ex.repeat(n, 1)                                     # (n·fe, fx)
            u_e = self.m_e.expand(fe, fe).repeat(n, n)                        # (n·fe, n·fe)
        return torch.cat([torch.cat([u_x, u_xe], 1), torch.cat([u_ex, u_e], 1)], 0)

    @property
    def dim(self) -> int:
        return self.fx + self.n * self.fe

    def matrix(self, alpha: float | torch.Tensor) -> torch.Tensor:
        """Q = α I + (1 − α) U for one α (Eq. 5 with α = ᾱ_t; with α = ᾱ_t/ᾱ_s it is Q_{t|s})."""
        return alpha * torch.eye(self.dim) + (1 - alpha) * self.U

    # -- tokens -----------------------------------------------------------------------------------
    def token(self, X: torch.Tensor, E: torch.Tensor) -> torch.Tensor:
        """(B, N, F_x + N·F_e): atom one-hot ⊕ bond row of each node."""
        b, n, _ = X.shape
        return torch.cat([X, E.reshape(b, n, n * self.fe)], dim=-1)

    def _times(self, tokens: torch.Tensor, alpha: torch.Tensor, node_mask: torch.Tensor,
               transpose: bool = False) -> torch.Tensor:
        """tokens @ (α I + (1 − α) U) (or its transpose) without building a batch of matrices; with
        ``normalised`` the U term is divided by each graph's atom count (its tokens' occupied parts)."""
        alpha = alpha.view(-1, 1, 1).to(tokens)
        mixed = tokens @ (self.U.T if transpose else self.U).to(tokens)
        if self.normalised:
            mixed = mixed / node_mask.sum(1).clamp_min(1).view(-1, 1, 1).to(tokens)
        return alpha * tokens + (1 - alpha) * mixed

    def split(self, probs: torch.Tensor, node_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Split token probabilities into atom (B, N, F_x) and bond (B, N, N, F_e) parts and normalise
        each part to a distribution. Padding rows and the diagonal get uniform rows (never sampled)."""
        b, n, _ = probs.shape
        px = probs[..., : self.fx]
        pe = probs[..., self.fx:].reshape(b, n, n, self.fe)
        px = px / px.sum(-1, keepdim=True).clamp_min(1e-30)
        pe = pe / pe.sum(-1, keepdim=True).clamp_min(1e-30)
        pair_mask = node_mask[:, :, None] & node_mask[:, None, :] & ~torch.eye(n, dtype=torch.bool, device=probs.device)
        px = torch.where(node_mask[..., None] & (px.sum(-1, keepdim=True) > 0), px, torch.full_like(px, 1 / self.fx))
        pe = torch.where(pair_mask[..., None] & (pe.sum(-1, keepdim=True) > 0), pe, torch.full_like(pe, 1 / self.fe))
        return px, pe

    # -- sampling helpers -------------------------------------------------------------------------
    def sample(self, px: torch.Tensor, pe: torch.Tensor, node_mask: torch.Tensor,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample one-hot X and E from per-part distributions; E from the upper triangle, mirrored,
        so the sampled graph is symmetric (Sec. 3.2); padding and diagonal zeroed."""
        b, n, _ = px.shape
        xi = torch.multinomial(px.reshape(b * n, -1), 1, generator=generator).view(b, n)
        ei = torch.multinomial(pe.reshape(b * n * n, -1), 1, generator=generator).view(b, n, n)
        ei = torch.triu(ei, diagonal=1)
        ei = ei + ei.transpose(1, 2)
        return self.one_hot(xi, ei, node_mask)

    def one_hot(self, xi: torch.Tensor, ei: torch.Tensor, node_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Masked one-hots from index tensors (padding atoms and the diagonal all-zero)."""
        n = xi.shape[1]
        pair_mask = node_mask[:, :, None] & node_mask[:, None, :] & ~torch.eye(n, dtype=torch.bool, device=xi.device)
        X = F.one_hot(xi.long(), self.fx).float() * node_mask[..., None]
        E = F.one_hot(ei.long(), self.fe).float() * pair_mask[..., None]
        return X, E

    def apply_noise(self, X: torch.Tensor, E: torch.Tensor, node_mask: torch.Tensor, t: torch.Tensor,
                    generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample G_t ~ q(G_t | G_0) = split(token(G_0) Q̄_t) for integer steps ``t`` (B,) (Eq. 6)."""
        probs = self._times(self.token(X, E), self.alpha_bar[t.long().cpu()].to(X), node_mask)
        px, pe = self.split(probs, node_mask)
        return self.sample(px, pe, node_mask, generator)

    def limit(self, X: torch.Tensor, E: torch.Tensor, node_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The t → T distributions split(token(G) U): graph-dependent unless ``independent``."""
        return self.split(self._times(self.token(X, E), torch.zeros(X.shape[0]), node_mask), node_mask)

    def prior(self, node_mask: torch.Tensor, generator: torch.Generator | None = None
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """G_T: atoms from m_X and bonds from m_E, independently, as the reference samples it."""
        b, n = node_mask.shape
        px = self.m_x.expand(b, n, self.fx)
        pe = self.m_e.expand(b, n, n, self.fe)
        return self.sample(px.contiguous(), pe.contiguous(), node_mask, generator)

    def posterior(self, X_t: torch.Tensor, E_t: torch.Tensor, pred_x: torch.Tensor, pred_e: torch.Tensor,
                  node_mask: torch.Tensor, t: int, s: int) -> tuple[torch.Tensor, torch.Tensor]:
        """p(G_s | G_t) = Σ_{x̂_0} p̂(x̂_0) q(G_s | G_t, x̂_0) for s < t (Eq. 7).

        Per token component c of x̂_0: q(z_s | z_t, c) = (z_t Q_{t|s}ᵀ) ⊙ Q̄_s[c] / (Q̄_t[c] · z_t).
        Summing over c with weights p̂_c factorises to (z_t Q_{t|s}ᵀ) ⊙ ((p̂ / (z_t Q̄_tᵀ)) Q̄_s), so no
        (d × d) tensor per node is needed. With s = t − 1 this is the reference's update; a larger gap
        uses Q_{t|s} = (ᾱ_t/ᾱ_s) I + (1 − ᾱ_t/ᾱ_s) U, the reference's one-step form with β = 1 − ᾱ_t/ᾱ_s.
        ``pred_x``/``pred_e`` are probabilities (softmax of the denoiser's logits).
        """
        b = X_t.shape[0]
        a_t, a_s = self.alpha_bar[t], self.alpha_bar[s]
        n = X_t.shape[1]
        pair_mask = node_mask[:, :, None] & node_mask[:, None, :] & ~torch.eye(n, dtype=torch.bool, device=X_t.device)
        z_t = self.token(X_t, E_t)
        # Predicted components for padding atoms and the diagonal are not part of x̂_0: zero them.
        p0 = self.token(pred_x * node_mask[..., None], pred_e * pair_mask[..., None])
        ones = torch.ones(b)
        left = self._times(z_t, (a_t / a_s) * ones, node_mask, transpose=True)  # z_t Q_{t|s}ᵀ
        denom = self._times(z_t, a_t * ones, node_mask, transpose=True)         # (Q̄_t z_tᵀ)ᵀ, one value per c
        weights = p0 / denom.clamp_min(1e-12)
        right = self._times(weights, a_s * ones, node_mask)                     # (p̂ / denom) Q̄_s
        return self.split(left * right, node_mask)

    def state(self) -> dict:
        """What a checkpoint needs to rebuild this noise model."""
        return {"m_x": self.m_x, "m_e": self.m_e, "m_xe": self.m_xe, "m_ex": self.m_ex,
                "max_atoms": self.n, "T": self.T, "independent": self.independent, "normalised": self.normalised}

    @classmethod
    def from_state(cls, state: dict) -> GraphNoise:
        return cls(state, int(state["max_atoms"]), int(state["T"]), bool(state["independent"]),
                   bool(state.get("normalised", False)))  # checkpoints before the option: the paper's noise
