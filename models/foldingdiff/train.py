"""Train FoldingDiff on the shipped backbones: ``python -m designer.models.foldingdiff.train
--config configs/foldingdiff.toml``. Writes the checkpoint every ``checkpoint_every`` steps and at
the end, plus the JSON card beside it."""

from __future__ import annotations

import argparse
import json
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
    from designer.fitting import exported_curve, fit, threads
    from designer.models.foldingdiff.angles import backbone_to_angles
    from designer.models.foldingdiff.data import LengthBuckets, padded, trimmed
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
    warmup = int(sizes.get("warmup", min(100, max(1, total // 10))))
    module = FoldingDiffModule(model_args, steps, run.lr, warmup=warmup, total_steps=total)
    if base:
        module.model.load_state_dict(base["state_dict"])
    lengths = [len(a) for a, part in zip(angles, split, strict=True) if part == 0]

    def loader(i: int) -> DataLoader:
        rows = torch.from_numpy(split == i)
        data = TensorDataset(shifted[rows], mask[rows])
        if i != 0:
            return DataLoader(data, batch_size=256)
        # training batches group similar lengths and drop their padding: ~1.5x the steps per CPU-minute
        buckets = LengthBuckets(lengths, run.batch_size, run.seed, drop_last=len(lengths) > run.batch_size)
        return DataLoader(data, batch_sampler=buckets, collate_fn=trimmed)

    def write(step: int, curve: list[dict[str, float]]) -> None:
        save_checkpoint(run.out, module.model, model_args, steps, mean, lengths,
                        {**meta, "training": {"steps": step, "curve": curve}})

    # a resumed run continues the curve (and CPU budget) of the exported checkpoint; a fine-tune starts its own
    previous = exported_curve(run.out) if run.resume and not base else []
    curve = fit(module, loader(0), loader(1), write=write, run_dir=run.run_dir, budget=run.budget,
                every=run.every, resume=run.resume, resume_copy=run.resume_copy,
                checkpoint_minutes=run.checkpoint_minutes, curve=previous, precision=run.precision)
    module.eval()
    with torch.no_grad():
        torch.manual_seed(run.seed)  # the held-out loss draws t and noise: fixed for comparable numbers
        test_loss = float(np.mean([float(module.loss(b)) for b in loader(2)]))
    return {"test_loss": round(test_loss, 4), "init": str(init) if init else None, "curve": curve}


def main(argv: list[str] | None = None) -> None:
    """The shipped model: the backbones of ``data/backbones.npz`` (PDB-id split), sizes and budget from
    the config; ``--resume`` continues from ``<run_dir>/last.ckpt`` or the committed packed copy."""
    from designer.fitting import Budget, curve_summary
    from designer.models.foldingdiff.data import load_chains

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True)
    parser.add_argument("--resume", action="store_true", help="continue the run (weights, optimizer, curve, budget)")
    args = parser.parse_args(argv)
    cfg: dict[str, Any] = read_toml(args.config)
    chains = load_chains()
    split = np.array([{"train": 0, "validation": 1, "test": 2}[s] for s in chains.split])
    out = Path(cfg["checkpoint"])
    max_minutes = cfg.get("max_minutes")
    if "max_time" in cfg:  # the shipped config's wall budget, written "dd:hh:mm:ss" as Lightning took it
        days, hours, minutes, seconds = (int(v) for v in str(cfg["max_time"]).split(":"))
        max_minutes = ((days * 24 + hours) * 60 + minutes) + seconds / 60
    # `checkpoint_every` (the first loop's export cadence) has no role here: the state and the model are
    # saved at every validation (`val_every`).
    run = RunOptions(out=out, run_dir=Path(cfg.get("run_dir", "/tmp/foldingdiff_run")), lr=float(cfg["lr"]),
                     budget=Budget(max_steps=cfg.get("max_steps"), cpu_minutes=cfg.get("cpu_minutes"),
                                   max_minutes=max_minutes),
                     batch_size=int(cfg["batch_size"]), every=int(cfg.get("val_every", 500)),
                     seed=int(cfg.get("seed", 0)), resume=args.resume, threads=int(cfg.get("threads", 1)),
                     resume_copy=Path(cfg["resume_copy"]) if cfg.get("resume_copy") else None,
                     precision=str(cfg.get("precision", "32-true")))
    trained_on = (f"{int((split == 0).sum())} PDB chains (40-128 residues, ProMod3 structure db), split by PDB id "
                  "sha256 mod 100 (<80 train, <90 validation, else test)")
    command = f"python -m designer.models.foldingdiff.train --config {args.config}"
    sizes = {**cfg["model"], "steps": cfg["steps"], **({"warmup": cfg["warmup"]} if "warmup" in cfg else {})}
    facts = fit_backbones(chains.coords, split, sizes, run,
                          {"trained_on": trained_on, "command": command})
    training = curve_summary(facts["curve"])
    card = {"trained_on": trained_on, "command": command, "config": cfg,
            "metrics": {"val_loss": training.get("val_loss"), "test_loss": facts["test_loss"]},
            "training": training, "curve": facts["curve"], "steps_trained": training.get("steps"),
            "split_sizes": {name: int((split == k).sum()) for k, name in enumerate(("train", "validation", "test"))},
            "targets": []}
    out.with_suffix(".json").write_text(json.dumps(card, indent=1, default=str) + "\n")
    print(json.dumps({"out": str(out), **training, "test_loss": facts["test_loss"]}), flush=True)


if __name__ == "__main__":
    main()
