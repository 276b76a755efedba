"""LightningModules: the cross-entropy flow-matching objective and the guide's supervised objective.

Flow loss (paper Sec. 3.2): t ~ U[0, 1], x_t from the Gumbel-Softmax interpolant of the clean
one-hot sequence, loss = cross-entropy between the denoiser's prediction and the clean letters over
real (non-padding) positions. No velocity regression: the velocity is a function of the prediction.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
import torch.nn.functional as F

from designer.models.gumbel_flow.flow import GumbelSchedule, interpolate
from designer.models.gumbel_flow.model import Denoiser, Guide


def _adamw(module: L.LightningModule, lr: float) -> Any:
    return torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=0.01)


class FlowModule(L.LightningModule):
    def __init__(self, model_args: dict[str, Any], schedule: dict[str, float] | None = None,
                 lr: float = 1e-3) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = Denoiser(**model_args)
        self.schedule = GumbelSchedule(**(schedule or {}))

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        tokens, pad = batch
        onehot = F.one_hot(tokens, self.model.k).float()
        t = torch.rand(tokens.shape[0], device=tokens.device)
        x_t = interpolate(onehot, t, self.schedule)
        logits = self.model(x_t, t, pad)
        per = F.cross_entropy(logits.transpose(1, 2), tokens, reduction="none")
        keep = (~pad).float()
        return (per * keep).sum() / keep.sum()

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = self.loss(batch)
        self.log("train_loss", loss, on_step=True, on_epoch=False)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = self.loss(batch)
        self.log("val_loss", loss, on_epoch=True)
        return loss

    def configure_optimizers(self) -> Any:
        return _adamw(self, self.hparams.lr)


class GuideModule(L.LightningModule):
    """``task="classifier"``: BCE on 0/1 labels; ``"regressor"``: MSE on standardised values."""

    def __init__(self, k: int, guide_args: dict[str, Any], task: str, lr: float = 1e-3) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = Guide(k, **guide_args)

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        tokens, pad, y = batch
        out = self.model(F.one_hot(tokens, self.hparams.k).float(), pad)
        if self.hparams.task == "classifier":
            return F.binary_cross_entropy_with_logits(out, y)
        return F.mse_loss(out, y)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = self.loss(batch)
        self.log("guide_train_loss", loss, on_step=True, on_epoch=False)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = self.loss(batch)
        self.log("val_loss", loss, on_epoch=True)
        return loss

    def configure_optimizers(self) -> Any:
        return _adamw(self, self.hparams.lr)
