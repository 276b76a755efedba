"""Training math for Graph DiT: noise a batch, drop conditions, cross-entropy on the clean graph."""

from __future__ import annotations

import copy

import lightning as L
import torch
import torch.nn.functional as F

from designer.models.graph_dit.model import GraphDiT, GraphDiTConfig
from designer.models.graph_dit.noise import GraphNoise


def dense_batch(x: torch.Tensor, e: torch.Tensor, n_atoms: torch.Tensor, noise: GraphNoise
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Index tensors (B, N), (B, N, N) and atom counts → masked one-hots and the node mask."""
    node_mask = torch.arange(x.shape[1], device=x.device)[None, :] < n_atoms[:, None]
    X, E = noise.one_hot(x.long(), e.long(), node_mask)
    return X, E, node_mask


class GraphDiTModule(L.LightningModule):
    """Loss = CE(atoms) + λ·CE(bonds) on the denoiser's x̂_0 prediction from G_t (reference λ = 10).

    Condition dropping: all conditions are dropped together with probability ``drop_all`` (the
    unconditional model classifier-free guidance needs). With ``subset_dropping`` each remaining
    sample keeps each condition with a probability drawn uniformly from [0, 1], so every subset of
    conditions is seen in training (a bare ``--target qed`` drops the other four); otherwise each
    condition is dropped independently with ``drop_condition``, as the reference does (0.01), which
    almost never shows the model a single kept condition.

    Training steps: the reference draws t uniformly from {0, …, T}. With ``low_t_fraction`` > 0 that
    share of each batch instead draws t uniformly from {0, …, ``low_t_max``}, where bonds are decided
    and the condition can still move the sampled posterior (issue #20; our variant).
    """

    def __init__(self, config: GraphDiTConfig, noise: GraphNoise, *, lr: float = 2e-4, weight_decay: float = 0.0,
                 lambda_bonds: float = 10.0, drop_condition: float = 0.01, drop_all: float = 0.1,
                 subset_dropping: bool = True, ema_decay: float = 0.999, warmup_steps: int = 200,
                 low_t_fraction: float = 0.0, low_t_max: int = 200,
                 decay: tuple[int, int, float] | None = None) -> None:
        super().__init__()
        self.config, self.noise = config, noise
        self.model = GraphDiT(config)
        self.ema = copy.deepcopy(self.model).requires_grad_(False)  # weights shipped for sampling
        self.lr, self.weight_decay, self.lambda_bonds = lr, weight_decay, lambda_bonds
        self.drop_condition, self.drop_all, self.subset_dropping = drop_condition, drop_all, subset_dropping
        self.ema_decay, self.warmup_steps = ema_decay, warmup_steps
        self.low_t_fraction, self.low_t_max = low_t_fraction, low_t_max
        self.decay = decay  # (start step, end step, final lr fraction): linear decay once the loss plateaus

    def loss(self, batch: dict[str, torch.Tensor], model: GraphDiT | None = None
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(total, CE atoms, CE bonds) of ``model`` (default: the trained weights; the exporter passes the EMA)."""
        model = model or self.model
        X, E, node_mask = dense_batch(batch["x"], batch["e"], batch["n_atoms"], self.noise)
        b = X.shape[0]
        t = self.sample_t(b, X.device)
        X_t, E_t = self.noise.apply_noise(X, E, node_mask, t)
        k = model.n_conditions
        drop = self.sample_drop(b, k, X.device)
        atom_logits, bond_logits = model(X_t, E_t, node_mask, t.float() / self.noise.T,
                                              batch["numeric"], batch["categorical"], drop)
        pair_mask = E.sum(-1) > 0                                              # real pairs, diagonal excluded
        ce_atoms = F.cross_entropy(atom_logits[node_mask], X[node_mask].argmax(-1))
        ce_bonds = F.cross_entropy(bond_logits[pair_mask], E[pair_mask].argmax(-1))
        return ce_atoms + self.lambda_bonds * ce_bonds, ce_atoms, ce_bonds

    def sample_t(self, b: int, device: torch.device) -> torch.Tensor:
        """(B,) integer steps: uniform on [0, T] (reference), a ``low_t_fraction`` share on [0, low_t_max]."""
        t = torch.randint(0, self.noise.T + 1, (b,), device=device)
        if self.low_t_fraction > 0:
            low = torch.randint(0, min(self.low_t_max, self.noise.T) + 1, (b,), device=device)
            t = torch.where(torch.rand(b, device=device) < self.low_t_fraction, low, t)
        return t

    def sample_drop(self, b: int, k: int, device: torch.device) -> torch.Tensor:
        """(B, K) bool, True where a condition is replaced by its learned "dropped" embedding."""
        if self.subset_dropping:
            keep_rate = torch.rand(b, 1, device=device)
            drop = torch.rand(b, k, device=device) >= keep_rate
        else:
            drop = torch.rand(b, k, device=device) < self.drop_condition
        return drop | (torch.rand(b, 1, device=device) < self.drop_all)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, ce_atoms, ce_bonds = self.loss(batch)
        self.log_dict({"loss": loss, "ce_atoms": ce_atoms, "ce_bonds": ce_bonds}, prog_bar=True,
                      batch_size=batch["x"].shape[0])
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, _, _ = self.loss(batch)  # random t and condition drops, as in training
        self.log("val_loss", loss, batch_size=batch["x"].shape[0])
        return loss

    def on_train_batch_end(self, outputs: object, batch: object, batch_idx: int) -> None:
        with torch.no_grad():  # exponential moving average of the weights, as DiT samples from
            decay = min(self.ema_decay, (1 + self.global_step) / (10 + self.global_step))
            for ema_p, p in zip(self.ema.parameters(), self.model.parameters(), strict=True):
                ema_p.lerp_(p, 1 - decay)

    def configure_optimizers(self):  # type: ignore[no-untyped-def]
        # Reference: AdamW with amsgrad, lr 2e-4, no weight decay; a short linear warm-up helps the
        # small CPU model start stably at a larger learning rate.
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay, amsgrad=True)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, self.lr_factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def lr_factor(self, step: int) -> float:
        """Linear warm-up, then constant; with ``decay`` = (start, end, final) linear from 1 at ``start`` to
        ``final`` at ``end`` and ``final`` after (a resumed run can add it once the validation loss is flat)."""
        factor = min(1.0, (step + 1) / self.warmup_steps)
        if self.decay is not None:
            start, end, final = self.decay
            factor *= 1.0 - (1.0 - final) * min(1.0, max(0.0, (step - start) / max(1, end - start)))
        return factor
