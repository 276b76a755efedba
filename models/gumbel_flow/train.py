"""Train a shipped Gumbel-Softmax flow and its guide: ``python -m designer.models.gumbel_flow.train
--config configs/gumbel_flow_peptide.toml``. The guide (CNN on clean one-hots) is trained first and
evaluated on the held-out split (AUROC or R²); then the flow, checkpointed every
``checkpoint_every`` steps and at the end, with the JSON card beside the checkpoint."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from designer.config import read_toml
from designer.fitting import RunOptions


def guide_values(cfg: dict[str, Any], sequences: list[str], values: np.ndarray) -> np.ndarray:
    """The guide's training target: the data set's label/value, or ``gravy`` (ProtParam) per sequence."""
    if cfg.get("target") == "gravy":
        from Bio.SeqUtils.ProtParam import ProteinAnalysis

        return np.array([ProteinAnalysis(s).gravy() for s in sequences])
    return values


def fit_sequences(sequences: list[str], values: np.ndarray | None, property_name: str | None, split: np.ndarray,
                  alphabet: str, sizes: dict[str, Any], run: RunOptions, meta: dict[str, Any]) -> dict[str, Any]:
    """Train a Gumbel-Softmax flow on the user's sequences (``designer train``) and, when a property
    column is given, its STGFlow guide (a classifier for 0/1 values, else a regressor) on the
    train split. Writes ``run.out``; returns the card's facts (held-out flow loss, guide AUROC or R²)."""
    import lightning as L
    import torch
    from sklearn.metrics import r2_score, roc_auc_score
    from torch.utils.data import DataLoader, TensorDataset

    from designer.candidates import ALPHABETS
    from designer.fitting import Budget, fit, threads
    from designer.models.gumbel_flow.data import encode
    from designer.models.gumbel_flow.flow import GumbelSchedule
    from designer.models.gumbel_flow.lightning import FlowModule, GuideModule
    from designer.models.gumbel_flow.sample import save_checkpoint

    threads(run.threads)
    L.seed_everything(run.seed, verbose=False)
    k, max_len = len(ALPHABETS[alphabet]), max(len(s) for s in sequences)
    tokens, pad = encode(sequences, alphabet, max_len)
    parts = [torch.from_numpy(split == i) for i in range(3)]
    facts: dict[str, Any] = {}
    guide, guide_info = None, None
    if values is not None and property_name:
        y = np.asarray(values, dtype=np.float64)
        task = "classifier" if set(np.unique(y)) <= {0.0, 1.0} else "regressor"
        train_y = y[split == 0]
        mean, std = (0.0, 1.0) if task == "classifier" else (float(train_y.mean()), float(train_y.std()) or 1.0)
        target = torch.tensor((y - mean) / std, dtype=torch.float32)
        guide_args = dict(sizes.get("guide", {"hidden": 64, "kernel": 7, "layers": 2, "dropout": 0.2}))
        guide_module = GuideModule(k, guide_args, task, run.lr)
        steps = int(sizes.get("guide_steps", 1500))
        if run.budget.max_steps:
            steps = min(steps, run.budget.max_steps)

        def guide_loader(i: int, shuffle: bool) -> DataLoader:
            rows = parts[i]
            return DataLoader(TensorDataset(tokens[rows], pad[rows], target[rows]), batch_size=run.batch_size,
                              shuffle=shuffle, drop_last=shuffle and int(rows.sum()) > run.batch_size)

        fit(guide_module, guide_loader(0, True), guide_loader(1, False), write=lambda step, curve: None,
            run_dir=run.run_dir / "guide", budget=Budget(max_steps=steps), every=max(1, min(run.every, steps)),
            resume=run.resume)
        guide = guide_module.model.eval()
        with torch.no_grad():
            out = guide(torch.nn.functional.one_hot(tokens[parts[2]], k).float(), pad[parts[2]]).numpy()
        if task == "classifier":
            labels = y[split == 2]
            facts["guide_test_auroc"] = round(float(roc_auc_score(labels, out)), 4) if len(set(labels)) > 1 else None
            low, high, default = 0.0, 1.0, 1.0
            note = "probability of the positive class; 1 = the paper's log c guidance"
        else:
            facts["guide_test_r2"] = round(float(r2_score(y[split == 2], out * std + mean)), 4)
            low, high, default = float(np.min(train_y)), float(np.max(train_y)), float(np.quantile(train_y, 0.95))
            note = "95th percentile of the training set"
        guide_info = {"name": property_name, "task": task, "args": guide_args, "mean": mean, "std": std, "low": low,
                      "high": high, "default": default, "default_note": note,
                      "description": f"{property_name} predicted by a CNN {task} trained on your data",
                      "guidance_scale": 1.0}
    model_args = {"k": k, "max_len": max_len, **{key: sizes[key] for key in ("hidden", "layers", "heads", "dropout")}}
    schedule_args = {"tau_max": 10.0, "lam": 3.0, "beta": 2.0}
    module = FlowModule(model_args, schedule_args, run.lr)
    lengths = [len(s) for s, part in zip(sequences, split, strict=True) if part == 0]

    def loader(i: int, shuffle: bool) -> DataLoader:
        rows = parts[i]
        return DataLoader(TensorDataset(tokens[rows], pad[rows]), batch_size=run.batch_size if shuffle else 256,
                          shuffle=shuffle, drop_last=shuffle and int(rows.sum()) > run.batch_size)

    def write(step: int, curve: list[dict[str, float]]) -> None:
        save_checkpoint(run.out, module.model, model_args, GumbelSchedule(**schedule_args), alphabet, lengths, guide,
                        guide_info, {**meta, "training": {"steps": step, "curve": curve}})

    fit(module, loader(0, True), loader(1, False), write=write, run_dir=run.run_dir, budget=run.budget,
        every=run.every, resume=run.resume, checkpoint_minutes=run.checkpoint_minutes)
    module.eval()
    with torch.no_grad():
        torch.manual_seed(run.seed)  # the held-out loss draws t: fixed for comparable numbers
        facts["test_loss"] = round(float(np.mean([float(module.loss(b)) for b in loader(2, False)])), 4)
    return facts


def main(argv: list[str] | None = None) -> None:
    import lightning as L
    import torch
    from sklearn.metrics import r2_score, roc_auc_score
    from torch.utils.data import DataLoader, TensorDataset

    from designer.candidates import ALPHABETS
    from designer.models.gumbel_flow.data import encode, load_set
    from designer.models.gumbel_flow.flow import GumbelSchedule
    from designer.models.gumbel_flow.lightning import FlowModule, GuideModule
    from designer.models.gumbel_flow.sample import save_checkpoint

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    cfg: dict[str, Any] = read_toml(args.config)
    torch.set_num_threads(int(cfg.get("threads", 1)))
    L.seed_everything(int(cfg.get("seed", 0)), verbose=False)
    data_cfg, guide_cfg, flow_cfg = cfg["data"], cfg["guide"], cfg["flow"]
    max_len = int(data_cfg["max_len"])
    start = time.time()

    # guide: on every sequence of the set (both classes for a classifier), split 80/10/10
    full = load_set(data_cfg["set"], max_len, seed=int(cfg.get("seed", 0)))
    y = guide_values(guide_cfg, full.sequences, full.values)
    task = guide_cfg["task"]
    train_y = y[full.split == 0]
    mean, std = (0.0, 1.0) if task == "classifier" else (float(train_y.mean()), float(train_y.std()))
    tokens, pad = encode(full.sequences, full.alphabet, max_len)
    target = torch.tensor((y - mean) / std, dtype=torch.float32)
    train_rows = torch.from_numpy(full.split == 0)
    k = len(ALPHABETS[full.alphabet])
    guide_module = GuideModule(k, dict(guide_cfg.get("model", {})), task, guide_cfg.get("lr", 1e-3))
    loader = DataLoader(TensorDataset(tokens[train_rows], pad[train_rows], target[train_rows]),
                        batch_size=guide_cfg.get("batch_size", 64), shuffle=True, drop_last=True)
    L.Trainer(accelerator="auto", devices=1, max_steps=guide_cfg["steps"], logger=False,
              enable_checkpointing=False, enable_progress_bar=False).fit(guide_module, loader)
    guide = guide_module.model.eval()
    with torch.no_grad():
        test = torch.from_numpy(full.split == 2)
        out = guide(torch.nn.functional.one_hot(tokens[test], k).float(), pad[test]).numpy()
    metrics: dict[str, float] = {}
    if task == "classifier":
        metrics["guide_test_auroc"] = float(roc_auc_score(y[full.split == 2], out))
        low, high, default = 0.0, 1.0, 1.0
        note = "probability of the positive class; 1 = the paper's log c guidance"
    else:
        metrics["guide_test_r2"] = float(r2_score(y[full.split == 2], out * std + mean))
        low, high = float(np.min(y)), float(np.max(y))
        default = float(np.quantile(y[full.split == 0], 0.95))
        note = "95th percentile of the training set"
    print(f"guide done {time.time() - start:.0f}s {metrics}", flush=True)
    guide_info = {"name": guide_cfg["name"], "task": task, "args": dict(guide_cfg.get("model", {})),
                  "mean": mean, "std": std, "low": low, "high": high, "default": default, "default_note": note,
                  "description": guide_cfg.get("description", ""),
                  "guidance_scale": float(guide_cfg.get("guidance_scale", 1.0))}

    # flow: on the generative subset (e.g. only the AMPs for peptides)
    rows = full.split != 2 if data_cfg.get("flow_on", "all") == "all" else (full.values == 1) & (full.split != 2)
    seqs = [s for s, r in zip(full.sequences, rows, strict=True) if r]
    split = full.split[rows]
    ftok, fpad = encode(seqs, full.alphabet, max_len)
    train_mask, val_mask = torch.from_numpy(split == 0), torch.from_numpy(split == 1)
    lengths = [len(s) for s, sp in zip(seqs, split, strict=True) if sp == 0]
    schedule_cfg = dict(flow_cfg.get("schedule", {}))
    model_args = {"k": k, "max_len": max_len, **dict(flow_cfg["model"])}
    module = FlowModule(model_args, schedule_cfg, flow_cfg.get("lr", 1e-3))
    train = DataLoader(TensorDataset(ftok[train_mask], fpad[train_mask]), batch_size=flow_cfg["batch_size"],
                       shuffle=True, drop_last=True)
    val = DataLoader(TensorDataset(ftok[val_mask], fpad[val_mask]), batch_size=256)
    out_path = Path(cfg["checkpoint"])
    schedule = GumbelSchedule(**schedule_cfg)

    def write(trainer: L.Trainer, final: bool = False) -> None:
        flow_metrics = {k: round(float(v), 4) for k, v in trainer.callback_metrics.items()}
        meta = {"step": trainer.global_step, "seconds": round(time.time() - start)}
        save_checkpoint(out_path, module.model, model_args, schedule, full.alphabet, lengths, guide, guide_info, meta)
        card_path = out_path.with_suffix(".json")
        previous = json.loads(card_path.read_text()) if card_path.exists() else {}
        card = {**previous,
                "trained_on": data_cfg["description"],
                "metrics": {**previous.get("metrics", {}), **{k: round(v, 4) for k, v in metrics.items()},
                            **flow_metrics},
                "command": f"python -m designer.models.gumbel_flow.train --config {args.config}",
                "config": cfg, "steps_trained": trainer.global_step, "train_seconds": round(time.time() - start),
                "sizes": {"guide_train": int((full.split == 0).sum()), "guide_test": int((full.split == 2).sum()),
                          "flow_train": int(train_mask.sum()), "flow_val": int(val_mask.sum())},
                "final": final}
        card_path.write_text(json.dumps(card, indent=1, default=str) + "\n")

    class Periodic(L.Callback):
        def on_train_batch_end(self, trainer: L.Trainer, *a: Any) -> None:
            if trainer.global_step % flow_cfg["checkpoint_every"] == 0:
                write(trainer)

        def on_validation_epoch_end(self, trainer: L.Trainer, *a: Any) -> None:
            print(f"step {trainer.global_step} {time.time() - start:.0f}s "
                  f"{ {k: round(float(v), 4) for k, v in trainer.callback_metrics.items()} }", flush=True)

    trainer = L.Trainer(accelerator="auto", devices=1, max_steps=flow_cfg["steps"], max_time=flow_cfg.get("max_time"),
                        val_check_interval=flow_cfg.get("val_every", 200), check_val_every_n_epoch=None,
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        gradient_clip_val=1.0, callbacks=[Periodic()])
    trainer.fit(module, train, val)
    write(trainer, final=True)


if __name__ == "__main__":
    main()
