"""Training math for the property ↔ SMILES transformers; data and budget live in ``train.py``.

Multi-task: next-token cross-entropy on the answer tokens of mixed forward / inverse prompts.

Forward: MSE between predicted and MinMax-scaled properties (the reference's loss).
Inverse: next-token cross-entropy given the property context (padding ignored; the reference also
learns the padding), with the context dropped for classifier-free guidance: the whole context with
probability ``drop_all`` (reference: 0.25) and otherwise each property kept with a per-sample rate
drawn from U(0, 1), so that every subset of targets is trained (our extension).
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F

from designer.models.des_transformer.diffusion import DiffusionConfig, TokenDenoiser, diffusion_loss
from designer.models.des_transformer.model import (
    ForwardConfig,
    ForwardEncoder,
    InverseConfig,
    InverseDecoder,
    PromptConfig,
    PromptGPT,
)


class ForwardModule(L.LightningModule):
    def __init__(self, config: ForwardConfig, lr: float = 1e-4) -> None:
        super().__init__()
        self.model, self.lr = ForwardEncoder(config), lr

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        tokens, scaled = batch
        return F.mse_loss(self.model(tokens), scaled)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self.loss(batch)
        self.log("loss", loss, prog_bar=True, batch_size=batch[0].shape[0])
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self.log("val_loss", self.loss(batch), prog_bar=True, batch_size=batch[0].shape[0])

    def configure_optimizers(self):  # type: ignore[no-untyped-def]
        return torch.optim.Adam(self.model.parameters(), lr=self.lr)  # reference: Adam, lr 1e-4


class InverseModule(L.LightningModule):
    def __init__(self, config: InverseConfig, lr: float = 3e-4, drop_all: float = 0.25,
                 subset_dropping: bool = True) -> None:
        super().__init__()
        self.model, self.lr = InverseDecoder(config), lr
        self.drop_all, self.subset_dropping = drop_all, subset_dropping

    def keep_mask(self, b: int, p: int, device: torch.device) -> torch.Tensor:
        """(B, P) bool: which properties the decoder sees in this training sample."""
        keep = torch.ones(b, p, dtype=torch.bool, device=device)
        if self.subset_dropping:
            keep = torch.rand(b, p, device=device) < torch.rand(b, 1, device=device)
        return keep & (torch.rand(b, 1, device=device) >= self.drop_all)

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor], keep: torch.Tensor | None = None) -> torch.Tensor:
        tokens, scaled = batch
        if keep is None:
            keep = self.keep_mask(*scaled.shape, scaled.device)
        logits = self.model(tokens[:, :-1], scaled, keep)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1), ignore_index=0)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self.loss(batch)
        self.log("loss", loss, prog_bar=True, batch_size=batch[0].shape[0])
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        # all properties given: the conditional likelihood the sampler uses
        keep = torch.ones_like(batch[1], dtype=torch.bool)
        self.log("val_loss", self.loss(batch, keep), prog_bar=True, batch_size=batch[0].shape[0])

    def configure_optimizers(self):  # type: ignore[no-untyped-def]
        return torch.optim.Adam(self.model.parameters(), lr=self.lr)


class PromptModule(L.LightningModule):
    """Next-token cross-entropy of the multi-task model on the answer tokens only (``answer`` mask)."""

    def __init__(self, config: PromptConfig, lr: float = 3e-4) -> None:
        super().__init__()
        self.model, self.lr = PromptGPT(config), lr

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        tokens, answer = batch
        logits = self.model(tokens[:, :-1])
        target = tokens[:, 1:].masked_fill(~answer[:, 1:], 0)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=0)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self.loss(batch)
        self.log("loss", loss, prog_bar=True, batch_size=batch[0].shape[0])
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self.log("val_loss", self.loss(batch), prog_bar=True, batch_size=batch[0].shape[0])

    def configure_optimizers(self):  # type: ignore[no-untyped-def]
        return torch.optim.Adam(self.model.parameters(), lr=self.lr)


class DiffusionModule(InverseModule):
    """The token-diffusion inverse model: EDM loss (``diffusion.py``) with the same property dropping
    as the autoregressive one (whole context with ``drop_all``, subsets otherwise)."""

    def __init__(self, config: DiffusionConfig, lr: float = 3e-4, drop_all: float = 0.25,
                 subset_dropping: bool = True) -> None:
        L.LightningModule.__init__(self)
        self.model, self.lr = TokenDenoiser(config), lr
        self.drop_all, self.subset_dropping = drop_all, subset_dropping

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor], keep: torch.Tensor | None = None) -> torch.Tensor:
        tokens, scaled = batch
        if keep is None:
            keep = self.keep_mask(*scaled.shape, scaled.device)
        return diffusion_loss(self.model, tokens, scaled, keep)
