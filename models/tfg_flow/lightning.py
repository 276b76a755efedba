"""Lightning modules for TFG-Flow: the flow (:mod:`flow`'s loss) and a property predictor (MSE on
standardised values). Data, budget and checkpoints live in ``train.py``; the loop in
:func:`designer.fitting.fit`."""

from __future__ import annotations

import copy
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F

from designer.models.tfg_flow.flow import flow_loss, interpolate
from designer.models.tfg_flow.model import Denoiser, EGNNConfig, Predictor, centre

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]  # types, coords, mask, values


def random_rotation(b: int, device: torch.device) -> torch.Tensor:
    """(B, 3, 3) uniformly random rotations (QR of a Gaussian matrix, sign-fixed, det +1)."""
    q, r = torch.linalg.qr(torch.randn(b, 3, 3, device=device))
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)
    flip = torch.det(q) < 0
    q[flip, :, 0] = -q[flip, :, 0]
    return q


class FlowModule(L.LightningModule):
    def __init__(self, config: EGNNConfig, lr: float = 5e-4, type_weight: float = 1.0,
                 ema_decay: float = 0.999) -> None:
        super().__init__()
        self.config, self.lr, self.type_weight, self.ema_decay = config, lr, type_weight, ema_decay
        self.model = Denoiser(config)
        self.ema = copy.deepcopy(self.model).requires_grad_(False)  # the weights sampling uses

    def loss(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        a1, x1, mask, _ = batch
        t_x, t_a = torch.rand(2, a1.shape[0], device=a1.device)  # independent times per modality (reference)
        x_t, a_t = interpolate(x1, a1, mask, t_x, t_a, self.config.n_types)
        x_hat, logits = self.model(x_t, a_t, t_x, mask, t_a)
        return flow_loss(x_hat, logits, x1, a1, mask, self.type_weight)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        a1, x1, mask, values = batch  # a random rotation per molecule: the data's orientation carries no signal
        x1 = torch.einsum("bij,bnj->bni", random_rotation(x1.shape[0], x1.device), x1)
        loss, coords, types = self.loss((a1, x1, mask, values))
        self.log_dict({"loss": loss, "coords": coords, "types": types}, prog_bar=True, batch_size=a1.shape[0])
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        loss, _, _ = self.loss(batch)
        self.log("val_loss", loss, batch_size=batch[0].shape[0])
        return loss

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        with torch.no_grad():
            decay = min(self.ema_decay, (1 + self.global_step) / (10 + self.global_step))
            for ema_p, p in zip(self.ema.parameters(), self.model.parameters(), strict=True):
                ema_p.lerp_(p, 1 - decay)

    def configure_optimizers(self) -> Any:
        return torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=1e-12, amsgrad=True)


class PredictorModule(L.LightningModule):
    """One property, standardised by the training half's mean and std: MSE loss, MAE logged."""

    def __init__(self, config: EGNNConfig, column: int, mean: float, std: float, lr: float = 5e-4) -> None:
        super().__init__()
        self.config, self.column, self.mean, self.std, self.lr = config, column, mean, std, lr
        self.model = Predictor(config)

    def predict(self, batch: Batch) -> torch.Tensor:
        a1, x1, mask, _ = batch
        return self.model(x1, F.one_hot(a1.clamp_min(0), self.config.n_types), mask)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        a1, x1, mask, values = batch
        x1 = centre(torch.einsum("bij,bnj->bni", random_rotation(x1.shape[0], x1.device), x1), mask)
        target = (values[:, self.column] - self.mean) / self.std
        loss = F.mse_loss(self.predict((a1, x1, mask, values)), target)
        self.log("loss", loss, prog_bar=True, batch_size=a1.shape[0])
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        target = (batch[3][:, self.column] - self.mean) / self.std
        predicted = self.predict(batch)
        self.log("val_loss", F.mse_loss(predicted, target), batch_size=target.shape[0])
        self.log("val_mae", (predicted - target).abs().mean() * self.std, batch_size=target.shape[0])
        return predicted

    def configure_optimizers(self) -> Any:
        return torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=1e-12)
