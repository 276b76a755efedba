"""Train a property ↔ SMILES transformer:
``python -m designer.models.des_transformer.train --config configs/des_forward_qm9.toml [--resume]``.

The config names the model (``model.kind = "forward" | "inverse" | "diffusion" | "multitask"``), the
data set (``data.set = "qm9" | "moses"``), the sizes and the budget (``train.cpu_minutes`` of process
CPU time, summed over resumed runs; ``train.max_steps``; ``train.max_minutes`` of wall time). The
shippable checkpoint (``train.out``) is rewritten every ``export_every_steps`` with the validation
loss so far; Lightning's resumable checkpoint lives in ``train.run_dir`` (``--resume`` continues
weights, optimizer and step count from ``<run_dir>/last.ckpt``, or on a fresh clone from the packed
copy ``train.resume_copy`` committed beside the model).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from designer.config import read_toml
from designer.fitting import Budget, curve_summary, exported_curve, fit
from designer.generators import DEFAULT_PERCENTILE
from designer.models.char_rnn.model import Vocabulary, tokenize
from designer.models.des_transformer.data import MinMax, PropertySet, property_set
from designer.models.des_transformer.lightning import ForwardModule, InverseModule, PromptModule
from designer.models.des_transformer.model import ForwardConfig, InverseConfig, PromptConfig
from designer.models.des_transformer.prompts import (
    EOS,
    PromptVocabulary,
    forward_prompt,
    inverse_prompt,
    value_tokens,
)
from designer.models.des_transformer.sample import save_checkpoint


def tensors(smiles: list[str], values: np.ndarray, vocabulary: Vocabulary, scaler: MinMax,
            max_length: int) -> TensorDataset:
    """Padded token rows (M, max_length) and scaled properties (M, P); longer SMILES are left out."""
    rows, kept = [], []
    for i, text in enumerate(smiles):
        tokens = vocabulary.encode(text)
        if len(tokens) <= max_length:
            row = torch.zeros(max_length, dtype=torch.long)
            row[:len(tokens)] = torch.tensor(tokens)
            rows.append(row)
            kept.append(i)
    scaled = torch.as_tensor(scaler.scale(values[kept]), dtype=torch.float32)
    return TensorDataset(torch.stack(rows), scaled)


def prompt_example(smiles: str, scaled: np.ndarray, vocabulary: PromptVocabulary, task: str,
                   keep: np.ndarray) -> tuple[list[int], int]:
    """Token ids of one multi-task example and where its answer starts (after ``|``)."""
    if task == "forward":
        prompt, answer = forward_prompt(smiles), value_tokens(list(scaled))
    else:
        prompt, answer = inverse_prompt([v if k else None for v, k in zip(scaled, keep, strict=True)]), \
            tokenize(smiles)
    return vocabulary.ids([*prompt, *answer, EOS]), len(prompt)


class PromptBatches:
    """Collate for the multi-task model: each molecule becomes a forward or an inverse prompt (even
    odds); an inverse prompt keeps each property with a per-sample rate from U(0, 1), all open with
    probability 0.1. ``fixed`` (validation): both tasks, every property given."""

    def __init__(self, smiles: list[str], scaled: np.ndarray, vocabulary: PromptVocabulary, max_length: int,
                 fixed: bool = False) -> None:
        self.smiles, self.scaled, self.vocabulary = smiles, scaled, vocabulary
        self.max_length, self.fixed = max_length, fixed

    def __call__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        rows = []
        p = self.scaled.shape[1]
        for i in indices:
            if self.fixed:
                tasks = [("forward", np.ones(p, bool)), ("inverse", np.ones(p, bool))]
            else:
                rate = float(torch.rand(()))
                keep = (torch.rand(p) < rate).numpy() & (float(torch.rand(())) >= 0.1)
                tasks = [("forward" if float(torch.rand(())) < 0.5 else "inverse", keep)]
            for task, keep in tasks:
                ids, start = prompt_example(self.smiles[i], self.scaled[i], self.vocabulary, task, keep)
                if len(ids) <= self.max_length:
                    rows.append((ids, start))
        width = max(len(ids) for ids, _ in rows)
        tokens = torch.zeros(len(rows), width, dtype=torch.long)
        answer = torch.zeros(len(rows), width, dtype=torch.bool)
        for r, (ids, start) in enumerate(rows):
            tokens[r, :len(ids)] = torch.tensor(ids)
            answer[r, start:len(ids)] = True
        return tokens, answer


def train(config: dict[str, Any], config_path: str = "", resume: bool = False,
          data: PropertySet | None = None) -> Path:
    """Train from a parsed config; ``data`` overrides ``data.set`` (tests pass a tiny set)."""
    data_cfg, model_cfg, train_cfg = config["data"], config["model"], config["train"]
    torch.set_num_threads(int(train_cfg.get("threads", 1)))
    L.seed_everything(int(train_cfg["seed"]), workers=True)
    data = data or property_set(data_cfg["set"], int(data_cfg.get("seed", 0)))
    train_smiles, train_values = data.part(0)
    val_smiles, val_values = data.part(1)
    scaler = MinMax.fit(train_values)
    max_length = int(model_cfg["max_length"])
    kind = model_cfg["kind"]
    sizes = {k: v for k, v in model_cfg.items() if k not in ("kind", "max_length")}
    batch_size = int(train_cfg["batch_size"])
    vocabulary: Vocabulary | PromptVocabulary
    if kind == "multitask":
        vocabulary = PromptVocabulary.build(train_smiles)
        module: L.LightningModule = PromptModule(PromptConfig(len(vocabulary), max_length, **sizes),
                                                 lr=float(train_cfg["lr"]))
        loader = DataLoader(range(len(train_smiles)), batch_size=batch_size, shuffle=True,
                            drop_last=len(train_smiles) > batch_size,
                            collate_fn=PromptBatches(train_smiles, scaler.scale(train_values), vocabulary, max_length))
        val_loader = DataLoader(range(len(val_smiles)), batch_size=256, collate_fn=PromptBatches(
            val_smiles, scaler.scale(val_values), vocabulary, max_length, fixed=True))
        sizes_note = {"train": len(train_smiles), "validation": len(val_smiles)}
    else:
        vocabulary = Vocabulary.build(train_smiles)
        train_set = tensors(train_smiles, train_values, vocabulary, scaler, max_length)
        val_set = tensors(val_smiles, val_values, vocabulary, scaler, max_length)
        loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, drop_last=len(train_set) > batch_size)
        val_loader = DataLoader(val_set, batch_size=512)
        sizes_note = {"train": len(train_set), "validation": len(val_set)}
    common = {"vocab_size": len(vocabulary), "max_length": max_length, "n_properties": len(data.names)}
    if kind == "forward":
        module = ForwardModule(ForwardConfig(**common, **sizes), lr=float(train_cfg["lr"]))
    elif kind in ("inverse", "diffusion"):
        module = InverseModule(InverseConfig(**common, **sizes), lr=float(train_cfg["lr"]),
                               drop_all=float(train_cfg.get("drop_all", 0.25)),
                               subset_dropping=bool(train_cfg.get("subset_dropping", True)), kind=kind)
    elif kind != "multitask":  # the multi-task module was built above, with its prompt vocabulary
        raise ValueError(f"model.kind {kind!r}: expected forward, inverse, diffusion or multitask")
    out, run_dir = Path(train_cfg["out"]), Path(train_cfg["run_dir"])
    conditions = {}
    for k, name in enumerate(data.names):  # MOSES properties default as Graph DiT's (QED 90th percentile, ...)
        percentile, note = DEFAULT_PERCENTILE.get(name, (50, "median of the training split"))
        conditions[name] = {"low": round(float(np.percentile(train_values[:, k], 0.5)), 4),
                            "high": round(float(np.percentile(train_values[:, k], 99.5)), 4),
                            "default": round(float(np.percentile(train_values[:, k], percentile)), 4),
                            "default_note": note}
    meta: dict[str, Any] = {"data": data_cfg.get("description", data_cfg.get("set", "custom")),
                            "trained_on": data_cfg.get("description", ""), "config": config,
                            "command": f"python -m designer.models.des_transformer.train --config {config_path}",
                            "conditions": conditions,
                            "sizes": sizes_note}

    def write(step: int, curve: list[dict[str, float]]) -> None:
        meta["training"] = {"steps": step, "cpu_minutes": curve[-1]["cpu_minutes"], "curve": curve}
        save_checkpoint(out, kind, module.model, vocabulary, data.names, data.units, scaler, meta)

    previous = exported_curve(out) if resume else []  # a resumed run continues its curve and CPU budget
    copy = Path(train_cfg["resume_copy"]) if train_cfg.get("resume_copy") else None
    budget = Budget(max_steps=train_cfg.get("max_steps"), cpu_minutes=train_cfg.get("cpu_minutes"),
                    max_minutes=float(train_cfg.get("max_minutes", 60)))
    curve = fit(module, loader, val_loader, write=write, run_dir=run_dir, budget=budget,
                every=int(train_cfg["export_every_steps"]), resume=resume, resume_copy=copy,
                val_batches=int(train_cfg.get("val_batches", 4)), curve=previous)
    print(json.dumps({"steps": curve[-1]["step"], "out": str(out)}), flush=True)
    return out


def qm9_headline(rows: dict[str, Any]) -> dict[str, float]:
    """A QM9 inverse model's card numbers from its ``des.py inverse`` rows (the full table stays in
    ``benchmarks/results/des.md``): validity, novelty and speed per setting, gap MAE ratios (forward
    model, and GFN2-xTB where measured)."""
    headline: dict[str, float] = {}
    for setting, row in rows.items():
        key = setting.replace(" ", "_")
        headline |= {f"{key}_valid": row["valid"], f"{key}_novel": round(row["novel"], 3),
                     f"{key}_mol_per_s": row["mol_per_s"]}
        if "gap" in row:
            headline[f"{key}_gap_mae_ratio"] = round(row["gap"]["ratio"], 3)
        if "xtb" in row:
            headline[f"{key}_gap_mae_ratio_xtb"] = row["xtb"]["ratio"]
    return headline


def write_card(checkpoint: Path, results: Path) -> Path:
    """The model's card (``<checkpoint>.json``; a shipped card lists the model or registers its oracles):
    training facts from the checkpoint, held-out numbers from ``benchmarks/results/des.json`` (the
    forward model's test MAE and R² per property, which the ``qm9_*`` oracles quote; an inverse model's
    validity and target control) and, for an inverse model, the targets it takes."""
    meta = torch.load(checkpoint, map_location="cpu", weights_only=True)["meta"]
    kind = meta["config"]["model"]["kind"]
    bench = json.loads(results.read_text()) if results.exists() else {}
    card: dict[str, Any] = {
        "trained_on": meta.get("trained_on", ""), "command": meta.get("command", ""), "config": meta["config"],
        "conditions": meta.get("conditions", {}), "sizes": meta.get("sizes", {}),
        "training": curve_summary(meta.get("training", {}).get("curve", [])),
        "metrics": {}, "benchmark": "benchmarks/results/des.md"}
    stem = checkpoint.stem
    if kind == "forward" and "forward" in bench:
        card["metrics"] = {"test": bench["forward"]["transformer"], "n_test": bench["forward"]["n_test"]}
        if bench.get("forward_gin", {}).get("n_test") == bench["forward"]["n_test"]:
            card["metrics"]["baseline_gin"] = bench["forward_gin"]["gin"]
    elif kind in ("inverse", "diffusion"):
        qm9 = bench.get("inverse", {}).get(stem)
        card["metrics"] = qm9_headline(qm9) if qm9 else bench.get("moses", {}).get(stem, {})
        from designer.generators import describe_targets
        from designer.models.des_transformer.sample import load_inverse

        card["targets"] = describe_targets(load_inverse(checkpoint).conditions)
        steps = bench.get("diffusion_steps", {}).get(stem)
        if steps:  # the solver and steps chosen on validation targets by `benchmarks/des.py steps`
            card["sample_steps"] = steps["chosen"]
            card["sample_solver"] = steps.get("chosen_solver", "heun")
        swept = bench.get("guidance", {}).get(stem)
        if swept:  # the default scale chosen on validation targets by `benchmarks/des.py guidance`
            card["guidance_default"] = swept["chosen"]
            card["guidance_sweep"] = "benchmarks/results/des.md"
    elif kind == "multitask" and "multitask" in bench:  # the mt_* oracles quote the forward-direction errors
        from designer.generators import describe_targets
        from designer.models.des_transformer.sample import load_multitask

        m = bench["multitask"]
        card["metrics"] = {"test": m["forward"]["multitask"], "n_test": m["n_forward"], "inverse": m["inverse"]}
        card["targets"] = describe_targets(load_multitask(checkpoint).conditions)
    out = checkpoint.with_suffix(".json")
    if out.exists():  # the shared target benchmark's numbers (benchmarks/targets.py --cards) stay
        previous = json.loads(out.read_text())
        if "target_benchmark" in previous:
            card["target_benchmark"] = previous["target_benchmark"]
    out.write_text(json.dumps(card, indent=1) + "\n")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config")
    parser.add_argument("--card", metavar="CHECKPOINT",
                        help="write the card (.json beside CHECKPOINT) from it and benchmarks/results/des.json")
    parser.add_argument("--resume", action="store_true", help="continue from <run_dir>/last.ckpt")
    parser.add_argument("--max-minutes", type=float, help="override train.max_minutes")
    args = parser.parse_args(argv)
    if args.card:
        print(write_card(Path(args.card), Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "des.json"))
        return
    if not args.config:
        parser.error("--config is required (or --card)")
    config = read_toml(args.config)
    if args.max_minutes is not None:
        config["train"]["max_minutes"] = args.max_minutes
    train(config, args.config, resume=args.resume)


if __name__ == "__main__":
    main(sys.argv[1:])
