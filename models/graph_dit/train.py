"""Train Graph DiT: ``python -m designer.models.graph_dit.train --config configs/graph_dit_moses.toml``.

Writes the shippable checkpoint (EMA weights + sizes + noise marginals + condition ranges) to
``train.out`` every ``export_every_steps`` steps and at the end, so stopping early loses little;
Lightning's own resumable checkpoint goes to ``train.run_dir``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from designer.checkpoints import pack, unpack
from designer.config import read_toml
from designer.models.graph_dit.data import (
    BOND_TYPES,
    CATEGORICAL_CONDITIONS,
    NUMERIC_CONDITIONS,
    GraphSet,
    moses_graphs,
)
from designer.models.graph_dit.lightning import GraphDiTModule
from designer.models.graph_dit.model import GraphDiTConfig
from designer.models.graph_dit.noise import GraphNoise, graph_marginals
from designer.models.graph_dit.sample import save_checkpoint

DEFAULT_PERCENTILE = {"qed": (90, "90th percentile of the training set's QED"),
                      "sa": (10, "10th percentile of the training set's SA (easier to make)"),
                      "logp": (50, "median of the training set's logP"),
                      "mw": (50, "median of the training set's molecular weight")}


def condition_meta(graphs: GraphSet) -> dict[str, Any]:
    """Normalisation (mean/std), allowed range (0.5–99.5 percentiles) and defaults per condition."""
    meta: dict[str, Any] = {}
    for k, name in enumerate(NUMERIC_CONDITIONS):
        values = graphs.numeric[:, k].astype(np.float64)
        pct, note = DEFAULT_PERCENTILE[name]
        meta[name] = {"mean": float(values.mean()), "std": float(values.std()),
                      "low": round(float(np.percentile(values, 0.5)), 3),
                      "high": round(float(np.percentile(values, 99.5)), 3),
                      "default": round(float(np.percentile(values, pct)), 3), "default_note": note}
    for k, (name, choices) in enumerate(CATEGORICAL_CONDITIONS.items()):
        counts = np.bincount(graphs.categorical[:, k], minlength=len(choices))
        # Offer only values the model has actually seen often enough to learn.
        trained = [c for c, count in zip(choices, counts, strict=True) if count >= 50]
        meta[name] = {"choices": list(choices), "trained_choices": trained,
                      "counts": {c: int(v) for c, v in zip(choices, counts, strict=True)},
                      "default": choices[int(counts.argmax())],
                      "default_note": "the most common value in the training set"}
    return meta


def collate(indices: list[int], graphs: GraphSet, numeric_mean: np.ndarray, numeric_std: np.ndarray
            ) -> dict[str, torch.Tensor]:
    idx = np.sort(np.asarray(indices))
    return {"x": torch.from_numpy(graphs.x[idx].astype(np.int64)),
            "e": torch.from_numpy(graphs.e[idx].astype(np.int64)),
            "n_atoms": torch.from_numpy(graphs.n_atoms[idx]),
            "numeric": torch.from_numpy(((graphs.numeric[idx] - numeric_mean) / numeric_std).astype(np.float32)),
            "categorical": torch.from_numpy(graphs.categorical[idx])}


class Exporter(L.Callback):
    """Write the shippable checkpoint (EMA weights) every ``every`` steps and when training ends, and
    with ``resume_copy`` a packed copy of each Lightning checkpoint (:func:`pack`) to commit, so that
    a later session on a fresh clone continues the same run."""

    def __init__(self, out: Path, every: int, noise: GraphNoise, meta: dict[str, Any],
                 resume_copy: Path | None = None) -> None:
        self.out, self.every, self.noise, self.meta, self.resume_copy = out, every, noise, meta, resume_copy
        self.start = time.time()
        self.last_loss = float("nan")

    def on_save_checkpoint(self, trainer, module, checkpoint) -> None:  # type: ignore[no-untyped-def]
        if self.resume_copy is not None:
            from designer.checkpoints import save_payload

            save_payload(pack(checkpoint, half=("ema.",)), self.resume_copy)

    def export(self, module: GraphDiTModule, step: int) -> None:
        minutes = (time.time() - self.start) / 60
        self.meta["training"] = {**self.meta.get("training", {}), "steps": step, "minutes": round(minutes, 1),
                                 "final_loss": round(self.last_loss, 4)}
        save_checkpoint(self.out, module.ema, self.noise, self.meta)
        print(f"[export] step {step} loss {self.last_loss:.4f} {minutes:.1f} min -> {self.out}", flush=True)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:  # type: ignore[no-untyped-def]
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        value = float(loss)
        self.last_loss = value if self.last_loss != self.last_loss else 0.98 * self.last_loss + 0.02 * value
        step = trainer.global_step
        if step % 50 == 0:
            print(f"step {step} loss(ema) {self.last_loss:.4f} {(time.time() - self.start) / 60:.1f} min", flush=True)
        if step > 0 and step % self.every == 0:
            self.export(module, step)

    def on_train_end(self, trainer, module) -> None:  # type: ignore[no-untyped-def]
        self.export(module, trainer.global_step)


def train(config: dict[str, Any], config_path: str = "", resume: str | None = None) -> Path:
    """Train from a parsed TOML config; returns the path of the exported checkpoint.

    ``resume`` is a Lightning checkpoint (``<run_dir>/last.ckpt``, or the packed copy ``train.resume_copy``
    committed beside the model): weights, EMA, optimizer and the elapsed-time budget carry on, so
    ``train.max_minutes`` counts the total over all resumed runs."""
    data_cfg, model_cfg, noise_cfg, train_cfg = config["data"], config["model"], config["noise"], config["train"]
    torch.set_num_threads(int(train_cfg.get("threads", 1)))  # leave the other core to other work
    L.seed_everything(int(train_cfg["seed"]), workers=True)
    start = time.time()
    graphs = moses_graphs(int(data_cfg["n_train"]), int(data_cfg["seed"]))
    print(f"{len(graphs)} training graphs ready in {time.time() - start:.0f}s", flush=True)

    max_atoms = graphs.x.shape[1]
    marginals = graph_marginals(graphs.x, graphs.e, graphs.n_atoms, len(graphs.atoms), len(BOND_TYPES))
    noise = GraphNoise(marginals, max_atoms, T=int(noise_cfg["T"]), independent=bool(noise_cfg["independent"]),
                       normalised=bool(noise_cfg.get("normalised", False)))
    model_config = GraphDiTConfig(n_atom_types=len(graphs.atoms), max_atoms=max_atoms, n_bond_types=len(BOND_TYPES),
                                  hidden=int(model_cfg["hidden"]), depth=int(model_cfg["depth"]),
                                  heads=int(model_cfg["heads"]), mlp_ratio=float(model_cfg["mlp_ratio"]),
                                  n_numeric=len(NUMERIC_CONDITIONS),
                                  categorical=[len(v) for v in CATEGORICAL_CONDITIONS.values()],
                                  condition_noise=float(model_cfg["condition_noise"]))
    module = GraphDiTModule(model_config, noise, lr=float(train_cfg["lr"]),
                            weight_decay=float(train_cfg["weight_decay"]),
                            lambda_bonds=float(train_cfg["lambda_bonds"]),
                            drop_condition=float(train_cfg["drop_condition"]), drop_all=float(train_cfg["drop_all"]),
                            subset_dropping=bool(train_cfg.get("subset_dropping", True)),
                            ema_decay=float(train_cfg["ema_decay"]), warmup_steps=int(train_cfg["warmup_steps"]),
                            low_t_fraction=float(train_cfg.get("low_t_fraction", 0.0)),
                            low_t_max=int(train_cfg.get("low_t_max", 200)))
    cond = condition_meta(graphs)
    sizes = np.bincount(graphs.n_atoms, minlength=max_atoms + 1).astype(np.float64)
    meta: dict[str, Any] = {
        "atoms": list(graphs.atoms), "numeric_names": list(NUMERIC_CONDITIONS),
        "categorical_names": list(CATEGORICAL_CONDITIONS), "conditions": cond,
        "n_atoms_dist": (sizes / sizes.sum()).tolist(),
        "trained_on": f"MOSES train split, random subset of {len(graphs)} molecules (seed {data_cfg['seed']})",
        "command": f"python -m designer.models.graph_dit.train --config {config_path}", "config": config,
        "metrics": {},
    }
    numeric_mean = np.array([cond[n]["mean"] for n in NUMERIC_CONDITIONS], dtype=np.float32)
    numeric_std = np.array([cond[n]["std"] for n in NUMERIC_CONDITIONS], dtype=np.float32)
    loader = DataLoader(range(len(graphs)), batch_size=int(train_cfg["batch_size"]), shuffle=True, drop_last=True,
                        collate_fn=partial(collate, graphs=graphs, numeric_mean=numeric_mean, numeric_std=numeric_std))
    out = Path(train_cfg["out"])
    run_dir = Path(train_cfg["run_dir"])
    copy = train_cfg.get("resume_copy")
    exporter = Exporter(out, int(train_cfg["export_every_steps"]), noise, meta, Path(copy) if copy else None)
    last_checkpoint = L.pytorch.callbacks.ModelCheckpoint(dirpath=run_dir,
                                                 every_n_train_steps=int(train_cfg["export_every_steps"]),
                                                 save_last=True, save_top_k=0)
    trainer = L.Trainer(accelerator="auto", devices=1, max_epochs=-1, max_steps=int(train_cfg.get("max_steps", -1)),
                        max_time={"minutes": float(train_cfg["max_minutes"])}, callbacks=[exporter, last_checkpoint],
                        logger=L.pytorch.loggers.CSVLogger(run_dir, name="logs"), enable_progress_bar=False,
                        log_every_n_steps=50, gradient_clip_val=1.0)
    print(f"parameters: {sum(p.numel() for p in module.model.parameters()):,}", flush=True)
    trainer.fit(module, loader, ckpt_path=unpack(Path(resume), run_dir) if resume else None)
    epochs = trainer.global_step * int(train_cfg["batch_size"]) / len(graphs)
    print(json.dumps({"steps": trainer.global_step, "epochs": round(epochs, 2),
                      "minutes": round((time.time() - start) / 60, 1)}), flush=True)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="TOML file, e.g. configs/graph_dit_moses.toml")
    parser.add_argument("--max-minutes", type=float, help="override train.max_minutes")
    parser.add_argument("--out", help="override train.out")
    parser.add_argument("--resume", help="continue from a Lightning checkpoint, e.g. <run_dir>/last.ckpt")
    args = parser.parse_args(argv)
    config = read_toml(args.config)
    if args.max_minutes is not None:
        config["train"]["max_minutes"] = args.max_minutes
    if args.out:
        config["train"]["out"] = args.out
    train(config, args.config, resume=args.resume)


if __name__ == "__main__":
    main(sys.argv[1:])
