"""E(3)-equivariant networks for TFG-Flow: the flow's denoiser and the property predictors.

Both are EGNNs (Satorras, Hoogeboom & Welling 2021) over the fully connected graph of a molecule's
heavy atoms (at most 9), written densely: ``h`` (B, N, H) invariant features, ``x`` (B, N, 3)
coordinates, ``mask`` (B, N) real atoms. One layer (their Eqs. 3–6, with EDM's distance-normalised
coordinate update and attention gate, Hoogeboom et al. 2022):

    m_ij   = φ_e(h_i, h_j, ‖x_i − x_j‖², ‖x_i⁰ − x_j⁰‖²) · sigmoid(φ_att(m_ij))
    x_i   ← x_i + Σ_j (x_i − x_j) / (‖x_i − x_j‖ + 1) · tanh(φ_x(m_ij)) · r / (n − 1)
    h_i   ← h_i + φ_h(h_i, Σ_j m_ij / (n − 1))

Rotating or translating the input rotates or translates the output coordinates and leaves ``h``
unchanged (tested). The denoiser reads the clean-molecule prediction from the final coordinates
(x̂₁, centred) and atom-type logits from the final features; the predictor sums node features into
one invariant number per molecule.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


def centre(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Subtract the centre of the real atoms: (B, N, 3) → (B, N, 3), padding atoms set to zero."""
    m = mask.unsqueeze(-1).to(x.dtype)
    mean = (x * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp_min(1)
    return (x - mean) * m


class EGNNLayer(nn.Module):
    def __init__(self, hidden: int, coords_range: float = 15.0, update_coords: bool = True) -> None:
        super().__init__()
        self.coords_range, self.update_coords = coords_range, update_coords
        self.edge = nn.Sequential(nn.Linear(2 * hidden + 2, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU())
        self.attention = nn.Sequential(nn.Linear(hidden, 1), nn.Sigmoid())
        self.node = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        if update_coords:
            last = nn.Linear(hidden, 1, bias=False)
            nn.init.xavier_uniform_(last.weight, gain=0.001)  # start near the identity map on coordinates
            self.coord = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), last)

    def forward(self, h: torch.Tensor, x: torch.Tensor, mask: torch.Tensor, d0: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        b, n, hidden = h.shape
        diff = x.unsqueeze(2) - x.unsqueeze(1)                                  # (B, N, N, 3)
        d2 = (diff ** 2).sum(-1, keepdim=True)                                  # (B, N, N, 1)
        pair = (mask.unsqueeze(2) & mask.unsqueeze(1)) & ~torch.eye(n, dtype=torch.bool, device=h.device)
        pair = pair.unsqueeze(-1).to(h.dtype)
        # φ_e's first linear map on [h_i, h_j, d², d₀²] is split into its four blocks so the node parts
        # are computed once per atom rather than once per pair (same parameters, same function, ~3x fewer FLOPs).
        first = self.edge[0]
        w_i, w_j, w_d = first.weight[:, :hidden], first.weight[:, hidden:2 * hidden], first.weight[:, 2 * hidden:]
        pre = (F.linear(h, w_i, first.bias).unsqueeze(2) + F.linear(h, w_j).unsqueeze(1)
               + F.linear(torch.cat([d2, d0], dim=-1), w_d))
        m = self.edge[3](self.edge[2](self.edge[1](pre)))
        m = m * self.attention(m) * pair
        neighbours = (mask.sum(1).to(h.dtype) - 1).clamp_min(1).view(b, 1, 1)
        if self.update_coords:
            step = diff / ((d2 + 1e-8).sqrt() + 1.0) * torch.tanh(self.coord(m)) * self.coords_range
            x = x + (step * pair).sum(2) / neighbours
        h = h + self.node(torch.cat([h, m.sum(2) / neighbours], dim=-1))
        return h * mask.unsqueeze(-1).to(h.dtype), x * mask.unsqueeze(-1).to(x.dtype)


@dataclass
class EGNNConfig:
    n_types: int = 4          # atom types (C, N, O, F); the denoiser's input has one more: MASK
    hidden: int = 128
    layers: int = 6
    coords_range: float = 15.0

    def to_dict(self) -> dict:
        return asdict(self)


class Denoiser(nn.Module):
    """(x_t, a_t, t_x, t_a) → (x̂₁ centred, type logits): a_t holds MASK (index ``n_types``) where
    unrevealed. The two times may differ: the reference trains with independent times per modality
    (one network then serves every point of the product path); sampling uses t_x = t_a."""

    def __init__(self, config: EGNNConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Linear(config.n_types + 3, config.hidden)  # one-hot incl. MASK, t_x and t_a
        self.layers = nn.ModuleList(EGNNLayer(config.hidden, config.coords_range) for _ in range(config.layers))
        self.types = nn.Sequential(nn.Linear(config.hidden, config.hidden), nn.SiLU(),
                                   nn.Linear(config.hidden, config.n_types))

    def forward(self, x_t: torch.Tensor, a_t: torch.Tensor, t_x: torch.Tensor, mask: torch.Tensor,
                t_a: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        onehot = F.one_hot(a_t.clamp_min(0), self.config.n_types + 1).to(x_t.dtype)
        times = torch.stack([t_x, t_x if t_a is None else t_a], dim=-1)
        time = times.view(-1, 1, 2).expand(-1, x_t.shape[1], 2).to(x_t.dtype)
        h = self.embed(torch.cat([onehot, time], dim=-1)) * mask.unsqueeze(-1).to(x_t.dtype)
        d0 = ((x_t.unsqueeze(2) - x_t.unsqueeze(1)) ** 2).sum(-1, keepdim=True)
        x = x_t
        for layer in self.layers:
            h, x = layer(h, x, mask, d0)
        return centre(x, mask), self.types(h)


class Predictor(nn.Module):
    """A property of a clean molecule: (x, type probabilities (B, N, n_types)) → (B,) standardised value.
    Types enter as probabilities so that the same network scores soft and hard type assignments.
    Readout as the reference: mean of the final node features over real atoms, then a linear map."""

    def __init__(self, config: EGNNConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Linear(config.n_types, config.hidden)
        self.layers = nn.ModuleList(EGNNLayer(config.hidden, config.coords_range, update_coords=False)
                                    for _ in range(config.layers))
        self.readout = nn.Linear(config.hidden, 1)

    def forward(self, x: torch.Tensor, types: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(-1).to(x.dtype)
        h = self.embed(types.to(x.dtype)) * m
        d0 = ((x.unsqueeze(2) - x.unsqueeze(1)) ** 2).sum(-1, keepdim=True)
        for layer in self.layers:
            h, x = layer(h, x, mask, d0)
        return self.readout((h * m).sum(1) / m.sum(1).clamp_min(1)).squeeze(-1)
