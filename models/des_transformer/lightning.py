"""Training math for the property ↔ SMILES transformers; data and budget live in ``train.py``.

- Forward: MSE between predicted and MinMax-scaled properties (the reference's loss).
- Inverse (autoregressive): next-token cross-entropy given the property context (padding ignored;
  the reference also learns the padding). The context is dropped for classifier-free guidance: the
  whole context with probability ``drop_all`` (reference: 0.25), otherwise each property kept with a
  per-sample rate drawn from U(0, 1), so that every subset of targets is trained (our extension).
- Inverse (token diffusion): the EDM loss of ``diffusion.py`` with the same context dropping.
- Multi-task: next-token cross-entropy on the answer tokens of mixed forward / inverse prompts.
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from designer.models.des_transformer.diffusion import TokenDenoiser, diffusion_loss
from designer.models.des_transformer.model import (
    ForwardConfig,
    ForwardEncoder,
    InverseConfig,
    InverseDecoder,
    PromptConfig,
    PromptGPT,
)

Batch = tuple[torch.Tensor, torch.Tensor]


def trim(tokens: torch.Tensor) -> torch.Tensor:
    """Drop the columns that are padding (token 0) in every row. Exact for a causal model whose loss
    ignores padding: no kept position attends to a later one. MOSES batches are padded to 64 tokens
    but their longest row is shorter, so this saves a third of the compute."""
    return tokens[:, :max(2, int(tokens.ne(0).sum(1).max()))]


class _LossModule(L.LightningModule):
    """What every model here shares: log ``loss`` in training and ``validation_loss`` as
    ``val_loss``, Adam at ``lr`` (the reference's optimizer). Subclasses define ``loss``."""

    def __init__(self, model: nn.Module, lr: float) -> None:
        super().__init__()
        self.model, self.lr = model, lr

    def loss(self, batch: Batch) -> torch.Tensor:
        raise NotImplementedError

    def validation_loss(self, batch: Batch) -> torch.Tensor:
        return self.loss(batch)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        loss = self.loss(batch)
        self.log("loss", loss, prog_bar=True, batch_size=batch[0].shape[0])
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self.log("val_loss", self.validation_loss(batch), prog_bar=True, batch_size=batch[0].shape[0])

    def configure_optimizers(self):  # type: ignore[no-untyped-def]
        return torch.optim.Adam(self.model.parameters(), lr=self.lr)


class ForwardModule(_LossModule):
    def __init__(self, config: ForwardConfig, lr: float = 1e-4) -> None:
        super().__init__(ForwardEncoder(config), lr)

    def loss(self, batch: Batch) -> torch.Tensor:
        tokens, scaled = batch
        return F.mse_loss(self.model(tokens), scaled)


class InverseModule(_LossModule):
    """The autoregressive inverse model; ``kind="diffusion"`` trains the token-diffusion one instead."""

    def __init__(self, config: InverseConfig, lr: float = 3e-4, drop_all: float = 0.25,
                 subset_dropping: bool = True, kind: str = "inverse") -> None:
        super().__init__(TokenDenoiser(config) if kind == "diffusion" else InverseDecoder(config), lr)
        self.kind, self.drop_all, self.subset_dropping = kind, drop_all, subset_dropping

    def keep_mask(self, b: int, p: int, device: torch.device) -> torch.Tensor:
        """(B, P) bool: which properties the model sees in this training sample."""
        keep = torch.ones(b, p, dtype=torch.bool, device=device)
        if self.subset_dropping:
            keep = torch.rand(b, p, device=device) < torch.rand(b, 1, device=device)
        return keep & (torch.rand(b, 1, device=device) >= self.drop_all)

    def loss(self, batch: Batch, keep: torch.Tensor | None = None) -> torch.Tensor:
        tokens, scaled = batch
        if keep is None:
            keep = self.keep_mask(*scaled.shape, scaled.device)
        if self.kind == "diffusion":
            return diffusion_loss(self.model, tokens, scaled, keep)
        tokens = trim(tokens)
        logits = self.model(tokens[:, :-1], scaled, keep)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1), ignore_index=0)

    def validation_loss(self, batch: Batch) -> torch.Tensor:
        # all properties given: the conditional loss the sampler relies on
        return self.loss(batch, torch.ones_like(batch[1], dtype=torch.bool))


class PromptModule(_LossModule):
    """Next-token cross-entropy of the multi-task model on the answer tokens only (``answer`` mask)."""

    def __init__(self, config: PromptConfig, lr: float = 3e-4) -> None:
        super().__init__(PromptGPT(config), lr)

    def loss(self, batch: Batch) -> torch.Tensor:
        tokens, answer = batch
        tokens = trim(tokens)
        answer = answer[:, :tokens.shape[1]]
        logits = self.model(tokens[:, :-1])
        target = tokens[:, 1:].masked_fill(~answer[:, 1:], 0)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=0)
