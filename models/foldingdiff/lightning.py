"""LightningModule: FoldingDiff training objective.

Loss (paper Sec. "Training"): smooth L1 between predicted and true noise, taken on the wrapped
difference wrap(eps_theta(x_t, t) - eps), over defined angles of real (non-padding) residues;
t ~ Uniform{1..T}. The smooth-L1 transition beta = 0.1*pi follows the reference implementation.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch

from designer.models.foldingdiff.model import AngleDenoiser
from designer.models.foldingdiff.noise import AngleDiffusion, wrap


class FoldingDiffModule(L.LightningModule):
    def __init__(self, model_args: dict[str, Any], steps: int, lr: float = 5e-4,
                 warmup: int = 200, total_steps: int = 10000) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = AngleDenoiser(**model_args)
        self.diffusion = AngleDiffusion(steps)

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x0, mask = batch  # x0: mean-shifted wrapped angles (B, L, 6); mask: defined entries
        b = x0.shape[0]
        t = torch.randint(1, self.diffusion.steps + 1, (b,), device=x0.device)
        eps = torch.randn_like(x0)
        xt = self.diffusion.q_sample(x0, t, eps)
        pad = ~mask.any(-1)
        pred = self.model(xt * mask, t, pad)
        diff = wrap(pred - eps)
        per = torch.nn.functional.smooth_l1_loss(diff, torch.zeros_like(diff), reduction="none",
                                                 beta=0.1 * math.pi)
        return (per * mask).sum() / mask.sum()

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = self.loss(batch)
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = self.loss(batch)
        self.log("val_loss", loss, prog_bar=True, on_epoch=True)
        return loss

    def configure_optimizers(self) -> Any:
        opt = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=0.01)
        warm, total = self.hparams.warmup, self.hparams.total_steps

        def schedule(step: int) -> float:  # linear warmup, then linear decay (as the reference)
            if step < warm:
                return (step + 1) / warm
            return max(0.05, 1 - (step - warm) / max(1, total - warm))

        return {"optimizer": opt, "lr_scheduler": {"scheduler": torch.optim.lr_scheduler.LambdaLR(opt, schedule),
                                                   "interval": "step"}}
