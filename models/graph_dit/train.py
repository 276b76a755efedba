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
from designer.errors import DesignerError
from designer.fitting import RunOptions, fit, threads
from designer.generators import DEFAULT_PERCENTILE
from designer.models.graph_dit.data import (
    BOND_TYPES,
    CATEGORICAL_CONDITIONS,
    MOSES_ATOMS,
    MOSES_MAX_ATOMS,
    NUMERIC_CONDITIONS,
    GraphSet,
    build_graph_set,
    moses_graphs,
    moses_validation_smiles,
)
from designer.models.graph_dit.lightning import GraphDiTModule
from designer.models.graph_dit.model import GraphDiTConfig
from designer.models.graph_dit.noise import GraphNoise, graph_marginals
from designer.models.graph_dit.sample import save_checkpoint


def condition_meta(graphs: GraphSet, numeric_names: tuple[str, ...] = NUMERIC_CONDITIONS,
                   categorical: dict[str, tuple[str, ...]] = CATEGORICAL_CONDITIONS) -> dict[str, Any]:
    """Normalisation (mean/std), allowed range (0.5–99.5 percentiles) and defaults per condition."""
    meta: dict[str, Any] = {}
    for k, name in enumerate(numeric_names):
        values = graphs.numeric[:, k].astype(np.float64)
        pct, note = DEFAULT_PERCENTILE.get(name, (50, "median of the training set"))
        meta[name] = {"mean": float(values.mean()), "std": float(values.std()),
                      "low": round(float(np.percentile(values, 0.5)), 3),
                      "high": round(float(np.percentile(values, 99.5)), 3),
                      "default": round(float(np.percentile(values, pct)), 3), "default_note": note}
    for k, (name, choices) in enumerate(categorical.items()):
        counts = np.bincount(graphs.categorical[:, k], minlength=len(choices))
        # Offer only values the model has actually seen often enough to learn.
        trained = [c for c, count in zip(choices, counts, strict=True) if count >= min(50, 0.01 * len(graphs))]
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
    a later session on a fresh clone continues the same run.

    At each export the EMA weights are scored on ``validation`` batches (held-out MOSES train molecules)
    with the training loss, its t, noise and condition drops drawn from a fixed seed, so successive
    points differ only by the weights. The curve (step, smoothed training loss, validation loss, total
    minutes) and the minutes of earlier runs live in the Lightning checkpoint (callback state), so a
    resumed run extends them; the exported checkpoint's ``meta["training"]`` carries them to the card."""

    def __init__(self, out: Path, every: int, noise: GraphNoise, meta: dict[str, Any],
                 resume_copy: Path | None = None, validation: list[dict[str, torch.Tensor]] | None = None) -> None:
        self.out, self.every, self.noise, self.meta, self.resume_copy = out, every, noise, meta, resume_copy
        self.validation = validation or []
        self.start = time.time()
        self.last_loss = float("nan")
        self.curve: list[dict[str, float]] = []
        self.minutes_before = 0.0  # wall minutes of the runs this one resumed

    def state_dict(self) -> dict[str, Any]:
        return {"curve": self.curve, "minutes": self.minutes()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.curve = list(state_dict.get("curve", []))
        self.minutes_before = float(state_dict.get("minutes", 0.0))

    def minutes(self) -> float:
        return self.minutes_before + (time.time() - self.start) / 60

    def on_save_checkpoint(self, trainer, module, checkpoint) -> None:  # type: ignore[no-untyped-def]
        if self.resume_copy is not None:
            from designer.checkpoints import save_payload

            save_payload(pack(checkpoint, half=("ema.",)), self.resume_copy)

    @torch.no_grad()
    def validation_loss(self, module: GraphDiTModule) -> float:
        if not self.validation:
            return float("nan")
        with torch.random.fork_rng():
            torch.manual_seed(0)
            losses = [float(module.loss(batch, model=module.ema)[0]) for batch in self.validation]
        return float(np.mean(losses))

    def export(self, module: GraphDiTModule, step: int) -> None:
        val = self.validation_loss(module)
        if not self.curve or self.curve[-1]["step"] < step:
            self.curve.append({"step": step, "train_loss": round(self.last_loss, 4), "val_loss": round(val, 4),
                               "minutes": round(self.minutes(), 1)})
        self.meta["training"] = {**self.meta.get("training", {}), "steps": step, "minutes": round(self.minutes(), 1),
                                 "final_loss": round(self.last_loss, 4), "val_loss": round(val, 4),
                                 "curve": self.curve}
        save_checkpoint(self.out, module.ema, self.noise, self.meta)
        print(f"[export] step {step} loss {self.last_loss:.4f} val {val:.4f} {self.minutes():.1f} min -> {self.out}",
              flush=True)

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
                            low_t_max=int(train_cfg.get("low_t_max", 200)),
                            decay=(int(train_cfg["lr_decay_start"]), int(train_cfg["lr_decay_end"]),
                                   float(train_cfg.get("lr_final", 0.1))) if "lr_decay_start" in train_cfg else None)
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
    held_out = build_graph_set(moses_validation_smiles(int(train_cfg.get("val_molecules", 1024)),
                                                       int(data_cfg["n_train"]), int(data_cfg["seed"])),
                               MOSES_ATOMS, MOSES_MAX_ATOMS, log_every=0)
    batch_size = int(train_cfg["batch_size"])
    validation = [collate(list(range(i, min(i + batch_size, len(held_out)))), held_out, numeric_mean, numeric_std)
                  for i in range(0, len(held_out), batch_size)]
    out = Path(train_cfg["out"])
    run_dir = Path(train_cfg["run_dir"])
    copy = train_cfg.get("resume_copy")
    exporter = Exporter(out, int(train_cfg["export_every_steps"]), noise, meta, Path(copy) if copy else None,
                        validation)
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


def load_init(path: Path) -> tuple[GraphDiTConfig, dict[str, torch.Tensor], GraphNoise, dict[str, Any]]:
    """Sizes, weights, noise and meta of a Graph DiT checkpoint to fine-tune from."""
    from designer.checkpoints import read_payload
    from designer.models.graph_dit.sample import CHECKPOINT_FORMAT

    payload = read_payload(path, CHECKPOINT_FORMAT, "Graph DiT")
    return (GraphDiTConfig(**payload["config"]), payload["state_dict"], GraphNoise.from_state(payload["noise"]),
            payload["meta"])


def transfer_weights(model: torch.nn.Module, state: dict[str, torch.Tensor],
                     names: dict[str, tuple[list[str], list[str]]]) -> list[str]:
    """Load ``state`` into ``model`` except the condition embedders: ``names[prefix] = (old, new)``
    lists the conditions embedded by ``<prefix>.<i>`` before and now. An embedder of a condition the
    old model also had (same name) moves to its new index; every other one starts fresh (a new
    condition head). Returns the names of the new heads."""
    moved = {k: v for k, v in state.items() if not k.startswith(tuple(f"{prefix}." for prefix in names))}
    new_heads = []
    for prefix, (old, new) in names.items():
        for i, name in enumerate(new):
            if name not in old:
                new_heads.append(name)
                continue
            j = old.index(name)
            moved.update({f"{prefix}.{i}.{k.split('.', 2)[2]}": v for k, v in state.items()
                          if k.startswith(f"{prefix}.{j}.")})
    missing, unexpected = model.load_state_dict(moved, strict=False)
    if unexpected or any(not k.startswith(tuple(f"{prefix}." for prefix in names)) for k in missing):
        raise ValueError(f"weights do not fit: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return new_heads


def fit_graphs(smiles: list[str], numeric: np.ndarray, numeric_names: list[str], categorical: np.ndarray,
               choices: dict[str, list[str]], split: np.ndarray, sizes: dict[str, Any], run: RunOptions,
               meta: dict[str, Any], init: Path | None = None) -> dict[str, Any]:
    """Train (or with ``init`` fine-tune) Graph DiT on the user's molecules, conditioned on their
    numeric (M, P) and categorical (M, C) columns (``designer train``). Writes ``run.out`` (EMA weights)
    and ``<out>_reference.npz`` (training properties and atom counts for p(n | targets)); returns the
    card's facts: held-out loss, validity/uniqueness/novelty of 200 unconditional samples, new heads."""
    from designer.metrics import novelty, uniqueness, valid_smiles, validity
    from designer.models.graph_dit.data import MOSES_ATOMS, MOSES_MAX_ATOMS, featurise
    from designer.models.graph_dit.sample import GraphDiTGenerator

    threads(run.threads)
    L.seed_everything(run.seed, workers=True)
    base = load_init(init) if init is not None else None
    atoms, max_atoms = (tuple(base[3]["atoms"]), base[0].max_atoms) if base else (MOSES_ATOMS, MOSES_MAX_ATOMS)
    x, e, n_atoms, kept, _ = featurise(smiles, atoms, max_atoms)
    if len(kept) < len(smiles):
        meta.setdefault("dropped", {})[f"element outside {'/'.join(atoms)}, a charge or over {max_atoms} atoms"] = \
            len(smiles) - len(kept)
    graphs = GraphSet(x=x, e=e, n_atoms=n_atoms, numeric=numeric[kept].astype(np.float32),
                      categorical=categorical[kept].astype(np.int64),
                      smiles=np.asarray([smiles[i] for i in kept]), atoms=atoms)
    part = split[kept]
    if min((part == k).sum() for k in range(3)) == 0:
        raise DesignerError(f"too few molecules fit Graph DiT's vocabulary ({len(kept)} of {len(smiles)}) to fill "
                            "train, validation and test")
    categorical_spec = {name: tuple(values) for name, values in choices.items()}
    train_graphs = _subset(graphs, part == 0)
    cond = condition_meta(train_graphs, tuple(numeric_names), categorical_spec)
    new_heads: list[str] = []
    if base:
        noise = base[2]
    else:
        marginals = graph_marginals(train_graphs.x, train_graphs.e, train_graphs.n_atoms, len(atoms), len(BOND_TYPES))
        noise = GraphNoise(marginals, max_atoms, T=500, independent=False, normalised=True)
    model_config = GraphDiTConfig(
        n_atom_types=len(atoms), max_atoms=max_atoms, n_bond_types=len(BOND_TYPES),
        **({k: getattr(base[0], k) for k in ("hidden", "depth", "heads", "mlp_ratio")} if base else
           {k: sizes[k] for k in ("hidden", "depth", "heads", "mlp_ratio")}),
        n_numeric=len(numeric_names), categorical=[len(v) for v in categorical_spec.values()],
        condition_noise=float(sizes.get("condition_noise", 1.0)))
    module = GraphDiTModule(model_config, noise, lr=run.lr, lambda_bonds=10.0, drop_all=0.1,
                            warmup_steps=min(200, max(1, run.budget.max_steps or 200) // 5))
    if base:
        new_heads = transfer_weights(module.model, base[1], {
            "numeric": (list(base[3]["numeric_names"]), list(numeric_names)),
            "categorical": (list(base[3]["categorical_names"]), list(choices))})
        module.ema.load_state_dict(module.model.state_dict())
    numeric_mean = np.array([cond[n]["mean"] for n in numeric_names], dtype=np.float32)
    numeric_std = np.array([max(cond[n]["std"], 1e-8) for n in numeric_names], dtype=np.float32)

    def loader(mask: np.ndarray, shuffle: bool) -> DataLoader:
        subset = _subset(graphs, mask)
        return DataLoader(range(len(subset)), batch_size=run.batch_size if shuffle else 256, shuffle=shuffle,
                          drop_last=shuffle and len(subset) > run.batch_size,
                          collate_fn=partial(collate, graphs=subset, numeric_mean=numeric_mean,
                                             numeric_std=numeric_std))

    sizes_dist = np.bincount(train_graphs.n_atoms, minlength=max_atoms + 1).astype(np.float64)
    model_meta: dict[str, Any] = {**meta, "atoms": list(atoms), "numeric_names": list(numeric_names),
                                  "categorical_names": list(choices), "conditions": cond,
                                  "n_atoms_dist": (sizes_dist / sizes_dist.sum()).tolist(), "metrics": {}}
    reference = run.out.with_name(f"{run.out.stem}_reference.npz")
    np.savez(reference, numeric=train_graphs.numeric.astype(np.float64), n_atoms=train_graphs.n_atoms,
             names=np.asarray(numeric_names))

    def write(step: int, curve: list[dict[str, float]]) -> None:
        model_meta["training"] = {"steps": step, "curve": curve}
        save_checkpoint(run.out, module.ema, noise, model_meta)

    fit(module, loader(part == 0, True), loader(part == 1, False), write=write, run_dir=run.run_dir,
        budget=run.budget, every=run.every, resume=run.resume, checkpoint_minutes=run.checkpoint_minutes)
    module.eval()
    with torch.no_grad():
        torch.manual_seed(run.seed)  # the held-out loss draws t and noise: fixed for comparable numbers
        test_losses = [float(module.loss(batch)[0]) for batch in loader(part == 2, False)]
    generator = GraphDiTGenerator(module.ema, noise, {**model_meta, "sample_spacing": "cubic"}, name="user")
    sampled = generator.sample(200, {}, seed=run.seed, steps=50)
    valid = valid_smiles(sampled)
    training = set(train_graphs.smiles.tolist())
    return {"test_loss": round(float(np.mean(test_losses)), 4), "valid": round(validity(sampled), 4),
            "unique": round(uniqueness(valid), 4),
            "novel": round(novelty(valid, training), 4),
            "new_condition_heads": new_heads, "init": str(init) if init else None,
            "sample_steps": 50, "sample_spacing": "cubic"}


def _subset(graphs: GraphSet, mask: np.ndarray) -> GraphSet:
    return GraphSet(x=graphs.x[mask], e=graphs.e[mask], n_atoms=graphs.n_atoms[mask], numeric=graphs.numeric[mask],
                    categorical=graphs.categorical[mask], smiles=graphs.smiles[mask], atoms=graphs.atoms)


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
