"""Checkpoints and sampling for TFG-Flow.

``save_checkpoint`` / ``load_network`` read and write the flow's EMA denoiser or a property
predictor (format ``designer.tfg_flow/1``, with ``kind`` = ``flow`` | ``predictor``).
:func:`sample_molecules` runs the Euler sampler (unguided, or guided by :mod:`guidance`) and
returns heavy-atom types and coordinates per molecule.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from designer.checkpoints import read_payload, save_payload
from designer.errors import DesignerError
from designer.models.tfg_flow.flow import euler_step
from designer.models.tfg_flow.model import Denoiser, EGNNConfig, Predictor, centre

CHECKPOINT_FORMAT = "designer.tfg_flow/1"
CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"


def save_checkpoint(path: str | Path, kind: str, network: torch.nn.Module, config: EGNNConfig,
                    meta: dict[str, Any]) -> None:
    save_payload({"format": CHECKPOINT_FORMAT, "kind": kind, "config": config.to_dict(), "meta": dict(meta),
                  "state_dict": {k: v.detach().cpu() for k, v in network.state_dict().items()}}, path)


def load_network(path: str | Path, kind: str) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The denoiser (``kind="flow"``) or a predictor and its meta; a bad file raises DesignerError."""
    payload = read_payload(path, CHECKPOINT_FORMAT, "TFG-Flow")
    if payload.get("kind") != kind:
        raise DesignerError(f"{path} is a TFG-Flow {payload.get('kind')} checkpoint, not a {kind}")
    try:
        config = EGNNConfig(**payload["config"])
        network = Denoiser(config) if kind == "flow" else Predictor(config)
        network.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, RuntimeError) as error:
        raise DesignerError(f"TFG-Flow checkpoint {path} does not match the model: {str(error).splitlines()[0][:200]}"
                            ) from None
    return network.eval(), payload["meta"]


StepFunction = Callable[..., tuple[torch.Tensor, torch.Tensor]]


@torch.no_grad()
def sample_molecules(denoiser: Denoiser, n_atoms: torch.Tensor, *, steps: int = 100, seed: int = 0,
                     step: StepFunction | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Types (B, N), coordinates (B, N, 3) and mask (B, N) of ``len(n_atoms)`` molecules after
    ``steps`` Euler steps from t = 0 (noise, all MASK) to t = 1. ``step`` (default: the unguided
    :func:`flow.euler_step` with the model's p̂) may replace the update, e.g. by a guided one with
    the signature ``step(x_t, a_t, t, dt, mask, generator)``."""
    generator = torch.Generator().manual_seed(int(seed))
    n_types = denoiser.config.n_types
    width = int(n_atoms.max())
    mask = torch.arange(width)[None, :] < n_atoms[:, None]
    x = centre(torch.randn(len(n_atoms), width, 3, generator=generator), mask)
    a = torch.where(mask, torch.full(mask.shape, n_types), torch.full(mask.shape, -1))
    grid = np.linspace(0.0, 1.0, steps + 1)
    for k in range(steps):
        t, dt = float(grid[k]), float(grid[k + 1] - grid[k])
        if step is not None:
            with torch.enable_grad():
                x, a = step(x, a, t, dt, mask, generator)
            continue
        x_hat, logits = denoiser(x, a, torch.full((len(n_atoms),), t), mask)
        x, a = euler_step(x, a, x_hat, torch.softmax(logits, -1), mask, t, dt, n_types, generator)
    return a, x, mask
