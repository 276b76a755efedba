"""Teacher-forced training of the CharRNN: cross-entropy of every next token (padding ignored)."""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F

from designer.models.char_rnn.model import CharRNN, CharRNNConfig


class CharRNNModule(L.LightningModule):
    """Holds only the model's math; data and budget live in ``train.py``."""

    def __init__(self, config: CharRNNConfig, lr: float = 1e-3, lr_step: int = 10_000, lr_gamma: float = 0.5) -> None:
        super().__init__()
        self.model = CharRNN(config)
        self.lr, self.lr_step, self.lr_gamma = lr, lr_step, lr_gamma

    def loss(self, tokens: torch.Tensor) -> torch.Tensor:
        logits, _ = self.model(tokens[:, :-1])
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1), ignore_index=0)

    def training_step(self, tokens: torch.Tensor, batch_idx: int) -> torch.Tensor:
        loss = self.loss(tokens)
        self.log("loss", loss, prog_bar=True, batch_size=tokens.shape[0])
        return loss

    def validation_step(self, tokens: torch.Tensor, batch_idx: int) -> torch.Tensor:
        loss = self.loss(tokens)
        self.log("val_loss", loss, batch_size=tokens.shape[0])
        return loss

    def configure_optimizers(self):  # type: ignore[no-untyped-def]
        # MOSES: Adam lr 1e-3 halved every 10 epochs; here every ``lr_step`` optimizer steps.
        optimizer = torch.optim.Adam(self.model.parameters(), lr=self.lr)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, self.lr_step, self.lr_gamma)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
