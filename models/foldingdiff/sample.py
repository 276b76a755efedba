"""FoldingDiffGenerator: reverse wrapped DDPM over angles (paper Alg. 1), then NeRF to N/CA/C/O."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from designer.checkpoints import read_payload, save_payload
from designer.errors import DesignerError
from designer.generators import Condition
from designer.models.foldingdiff.angles import angle_mask, angles_to_backbone
from designer.models.foldingdiff.model import AngleDenoiser
from designer.models.foldingdiff.noise import AngleDiffusion, wrap

CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"
DEFAULT_CHECKPOINT = CHECKPOINT_DIR / "foldingdiff_backbones.pt"
CHECKPOINT_FORMAT = "foldingdiff-v1"


def save_checkpoint(path: str | Path, model: AngleDenoiser, model_args: Mapping[str, Any], steps: int,
                    mean: np.ndarray, lengths: Sequence[int], meta: Mapping[str, Any]) -> None:
    """Weights (fp32) + what sampling needs: schedule length, angle mean shift, training lengths."""
    payload = {"format": CHECKPOINT_FORMAT, "model_args": dict(model_args), "steps": int(steps),
               "mean": [float(v) for v in mean], "lengths": [int(v) for v in lengths],
               "meta": dict(meta), "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    save_payload(payload, path)


class FoldingDiffGenerator:
    """A trained FoldingDiff model; ``sample`` returns (L, 4, 3) N, CA, C, O arrays."""

    kind = "backbone"
    conditions: Mapping[str, Condition] = {}

    def __init__(self, model: AngleDenoiser, steps: int, mean: np.ndarray, lengths: Sequence[int],
                 card: Mapping[str, Any] | None = None, name: str = "foldingdiff") -> None:
        self.name = name
        self.model = model.eval()
        self.diffusion = AngleDiffusion(steps)
        self.mean = torch.as_tensor(np.asarray(mean), dtype=torch.float32)
        self.train_lengths = np.asarray(lengths, dtype=int)
        self.min_length, self.max_length = int(self.train_lengths.min()), int(self.train_lengths.max())
        self.card = dict(card or {})
        # the denoiser's forward in bfloat16 autocast (AVX512-BF16 CPUs, GPUs): ~1.8x the backbones per CPU-second
        # at 6 x 192; the diffusion arithmetic stays float32. Set by the card where its benchmark measured it.
        self.bfloat16 = self.card.get("sampling_precision") == "bf16"

    def check_lengths(self, lengths: Sequence[int]) -> list[int]:
        out = []
        for length in lengths:
            if not self.min_length <= int(length) <= self.max_length:
                raise DesignerError(f"length {length} is outside the range the model was trained on "
                                    f"({self.min_length}-{self.max_length} residues)")
            out.append(int(length))
        return out

    @torch.no_grad()
    def sample_angles(self, lengths: Sequence[int], seed: int = 0, batch_size: int = 64,
                      progress: bool = False) -> list[np.ndarray]:
        """Angles (L, 6) per requested length: x_T ~ wrapped N(0, I), T reverse steps, + mean."""
        lengths = self.check_lengths(lengths)
        generator = torch.Generator().manual_seed(int(seed))
        out: list[np.ndarray] = []
        for start in range(0, len(lengths), max(1, batch_size)):
            chunk = lengths[start:start + batch_size]
            width = max(chunk)
            pad = torch.arange(width)[None] >= torch.tensor(chunk)[:, None]
            # Undefined angles (the first phi, the last residue's psi, omega and two bond angles) and
            # padding are zero in training (lightning.py: model(x_t * mask)); give the denoiser the same.
            defined = torch.as_tensor(np.stack([angle_mask(n, width) for n in chunk]))
            x = wrap(torch.randn((len(chunk), width, 6), generator=generator))
            for t in range(self.diffusion.steps, 0, -1):
                tt = torch.full((len(chunk),), t, dtype=torch.long)
                with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.bfloat16):
                    eps = self.model(x * defined, tt, pad).float()
                x = self.diffusion.p_step(x, t, eps, generator)
            x = wrap(x + self.mean)
            out.extend(x[i, :n].double().numpy() for i, n in enumerate(chunk))
            if progress:
                print(f"foldingdiff: {len(out)}/{len(lengths)} backbones", flush=True)
        return out

    def sample(self, n: int, targets: Mapping[str, float | str], *, guidance: float = 1.0, seed: int = 0,
               batch_size: int = 64, progress: bool = False,
               lengths: Sequence[int] | None = None) -> list[np.ndarray]:
        """``n`` backbones (L, 4, 3). ``lengths``: one int per sample, or one int or a (low, high)
        range; default: lengths drawn from the training set with ``seed``. No conditions exist."""
        if targets:
            raise DesignerError(f"foldingdiff is unconditional; it takes no targets (got {', '.join(targets)})")
        rng = np.random.default_rng(seed)
        if lengths is None:
            chosen = list(rng.choice(self.train_lengths, size=n))
        elif isinstance(lengths, int | np.integer):
            chosen = [int(lengths)] * n
        elif len(lengths) == n:
            chosen = [int(v) for v in lengths]
        elif len(lengths) == 2:
            self.check_lengths(lengths)
            chosen = list(rng.integers(int(lengths[0]), int(lengths[1]) + 1, size=n))
        else:
            raise DesignerError(f"lengths: give one length per sample ({n}), a single length or a (low, high) range")
        torch.set_num_threads(min(torch.get_num_threads(), 2))
        angles = self.sample_angles(chosen, seed=seed, batch_size=batch_size, progress=progress)
        return [angles_to_backbone(a).astype(np.float32) for a in angles]


def load(path: str | Path, name: str = "foldingdiff") -> FoldingDiffGenerator:
    """A generator from a checkpoint written by :func:`save_checkpoint`; a bad file raises DesignerError."""
    path = Path(path)
    payload = read_payload(path, CHECKPOINT_FORMAT, "FoldingDiff")
    try:
        model = AngleDenoiser(**payload["model_args"])
        model.load_state_dict(payload["state_dict"])
    except Exception as error:
        raise DesignerError(f"FoldingDiff checkpoint {path} is incomplete or does not match the model: "
                            f"{type(error).__name__}") from None
    card_path = path.with_suffix(".json")
    card = json.loads(card_path.read_text()) if card_path.exists() else {"trained_on": "", "metrics": {}}
    return FoldingDiffGenerator(model, payload["steps"], np.asarray(payload["mean"]), payload["lengths"],
                                card, name)


def load_default() -> FoldingDiffGenerator:
    """The shipped checkpoint (``models/foldingdiff/checkpoints/foldingdiff_backbones.pt``)."""
    return load(DEFAULT_CHECKPOINT)
