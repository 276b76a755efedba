"""Train FoldingDiff on the shipped backbones: ``python -m designer.models.foldingdiff.train
--config configs/foldingdiff.toml``. Writes the checkpoint every ``checkpoint_every`` steps and at
the end, plus the JSON card beside it."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from designer.config import read_toml
from designer.fitting import RunOptions


def fit_backbones(coords: list[np.ndarray], split: np.ndarray, sizes: dict[str, Any], run: RunOptions,
                  meta: dict[str, Any], init: Path | None = None) -> dict[str, Any]:
    """Train (or with ``init`` fine-tune) FoldingDiff on the user's backbones (``designer train``):
    N/CA/C(/O) coordinates (L, 4, 3) per chain, split 0/1/2. Writes ``run.out``; returns the card's facts
    (held-out loss; the steps and angle means come from ``init`` when fine-tuning)."""
    import lightning as L
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from designer.checkpoints import read_payload
    from designer.fitting import fit, threads
    from designer.models.foldingdiff.angles import backbone_to_angles
    from designer.models.foldingdiff.data import padded
    from designer.models.foldingdiff.lightning import FoldingDiffModule
    from designer.models.foldingdiff.noise import circular_mean
    from designer.models.foldingdiff.sample import CHECKPOINT_FORMAT, save_checkpoint

    threads(run.threads)
    L.seed_everything(run.seed, verbose=False)
    angles = [backbone_to_angles(c) for c in coords]
    x, m = padded(angles)
    base = read_payload(init, CHECKPOINT_FORMAT, "FoldingDiff") if init is not None else None
    train_rows = split == 0
    if base:
        model_args, steps, mean = dict(base["model_args"]), int(base["steps"]), np.asarray(base["mean"])
    else:
        model_args = {key: sizes[key] for key in ("hidden", "layers", "heads", "max_offset", "dropout")}
        steps = int(sizes.get("steps", 250))
        mean = circular_mean(x[train_rows].reshape(-1, 6), m[train_rows].reshape(-1, 6))
    shifted = torch.from_numpy(np.where(m, np.angle(np.exp(1j * (x - mean))), 0).astype(np.float32))
    mask = torch.from_numpy(m)
    total = run.budget.max_steps or 10_000
    module = FoldingDiffModule(model_args, steps, run.lr, warmup=min(100, max(1, total // 10)), total_steps=total)
    if base:
        module.model.load_state_dict(base["state_dict"])
    lengths = [len(a) for a, part in zip(angles, split, strict=True) if part == 0]

    def loader(i: int, shuffle: bool) -> DataLoader:
        rows = torch.from_numpy(split == i)
        return DataLoader(TensorDataset(shifted[rows], mask[rows]), batch_size=run.batch_size if shuffle else 256,
                          shuffle=shuffle, drop_last=shuffle and int(rows.sum()) > run.batch_size)

    def write(step: int, curve: list[dict[str, float]]) -> None:
        save_checkpoint(run.out, module.model, model_args, steps, mean, lengths,
                        {**meta, "training": {"steps": step, "curve": curve}})

    fit(module, loader(0, True), loader(1, False), write=write, run_dir=run.run_dir, budget=run.budget,
        every=run.every, resume=run.resume, checkpoint_minutes=run.checkpoint_minutes)
    module.eval()
    with torch.no_grad():
        torch.manual_seed(run.seed)  # the held-out loss draws t and noise: fixed for comparable numbers
        test_loss = float(np.mean([float(module.loss(b)) for b in loader(2, False)]))
    return {"test_loss": round(test_loss, 4), "init": str(init) if init else None}


def main(argv: list[str] | None = None) -> None:
    import lightning as L
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from designer.models.foldingdiff.data import load_chains, padded
    from designer.models.foldingdiff.lightning import FoldingDiffModule
    from designer.models.foldingdiff.noise import circular_mean
    from designer.models.foldingdiff.sample import save_checkpoint

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    cfg: dict[str, Any] = read_toml(args.config)
    torch.set_num_threads(int(cfg.get("threads", 1)))
    torch.manual_seed(int(cfg.get("seed", 0)))
    chains = load_chains()
    idx = {s: [i for i, v in enumerate(chains.split) if v == s] for s in ("train", "validation", "test")}
    x, m = padded([chains.angles[i] for i in idx["train"]])
    mean = circular_mean(x.reshape(-1, 6), m.reshape(-1, 6))  # per-angle circular mean (mean shift)

    def shift(a: np.ndarray, mask: np.ndarray) -> torch.Tensor:

        return torch.from_numpy(np.where(mask, np.angle(np.exp(1j * (a - mean))), 0).astype(np.float32))
    xv, mv = padded([chains.angles[i] for i in idx["validation"]])
    train = DataLoader(TensorDataset(shift(x, m), torch.from_numpy(m)), batch_size=cfg["batch_size"],
                       shuffle=True, drop_last=True)
    val = DataLoader(TensorDataset(shift(xv, mv), torch.from_numpy(mv)), batch_size=256)
    model_args = dict(cfg["model"])
    module = FoldingDiffModule(model_args, cfg["steps"], cfg["lr"], cfg.get("warmup", 200), cfg["max_steps"])
    out = Path(cfg["checkpoint"])
    lengths = [len(chains.angles[i]) for i in idx["train"]]
    start = time.time()

    def write(trainer: L.Trainer, final: bool = False) -> None:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        meta = {"step": trainer.global_step, "seconds": round(time.time() - start), "metrics": metrics}
        save_checkpoint(out, module.model, model_args, cfg["steps"], mean, lengths, meta)
        card = {"trained_on": f"{len(idx['train'])} PDB chains (40-128 residues, ProMod3 structure db), "
                              "split by PDB id sha256 mod 100 (<80 train, <90 validation, else test)",
                "metrics": {k: round(v, 4) for k, v in metrics.items()},
                "command": f"python -m designer.models.foldingdiff.train --config {args.config}",
                "config": cfg, "steps_trained": trainer.global_step,
                "train_seconds": round(time.time() - start),
                "split_sizes": {k: len(v) for k, v in idx.items()}, "final": final}
        out.with_suffix(".json").write_text(json.dumps(card, indent=1, default=str) + "\n")

    class Periodic(L.Callback):
        def on_train_batch_end(self, trainer: L.Trainer, *a: Any) -> None:
            if trainer.global_step % cfg["checkpoint_every"] == 0:
                write(trainer)

        def on_validation_epoch_end(self, trainer: L.Trainer, *a: Any) -> None:
            print(f"step {trainer.global_step} {time.time() - start:.0f}s "
                  f"{ {k: round(float(v), 4) for k, v in trainer.callback_metrics.items()} }", flush=True)

    trainer = L.Trainer(accelerator="auto", devices=1, max_steps=cfg["max_steps"],
                        max_time=cfg.get("max_time"), val_check_interval=cfg.get("val_every", 200),
                        check_val_every_n_epoch=None, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, gradient_clip_val=1.0, callbacks=[Periodic()])
    trainer.fit(module, train, val)
    write(trainer, final=True)


if __name__ == "__main__":
    main()
