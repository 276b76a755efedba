"""Train TFG-Flow's networks: ``python -m designer.models.tfg_flow.train --config configs/tfg_flow_qm9.toml
[--resume]`` (the unconditional flow) or ``--config configs/tfg_flow_guides.toml --property gap
--role guide|evaluator`` (a property predictor on one half of the training split).

The budget is ``train.cpu_minutes`` of process CPU time (summed over resumed runs), ``max_steps`` or
``max_minutes``; the shippable checkpoint ``train.out`` is rewritten after every validation with
the curve so far, and a packed copy of Lightning's state (``train.resume_copy``) lets a fresh clone
continue the run with ``--resume``.
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
from designer.fitting import Budget, curve_summary, exported_curve, fit, threads
from designer.models.tfg_flow.data import PROPERTIES, PROPERTY_NAMES, Geometries, qm9_geometries
from designer.models.tfg_flow.lightning import FlowModule, PredictorModule
from designer.models.tfg_flow.model import EGNNConfig
from designer.models.tfg_flow.sample import save_checkpoint

ROLES = {"guide": 0, "evaluator": 1}  # which half of the training split a predictor learns on


def tensors(data: Geometries) -> TensorDataset:
    """(types, coords, mask, values) per molecule; padding types are -1 and coordinates 0."""
    return TensorDataset(torch.from_numpy(data.types), torch.from_numpy(data.coords),
                         torch.from_numpy(data.types >= 0), torch.from_numpy(data.values.astype(np.float32)))


def train(config: dict[str, Any], config_path: str = "", resume: bool = False, property_name: str | None = None,
          role: str = "guide", data: Geometries | None = None) -> Path:
    """Train the flow (``property_name=None``) or one property predictor; returns the checkpoint path."""
    model_cfg, train_cfg = config["model"], config["train"]
    threads(int(train_cfg.get("threads", 1)))
    L.seed_everything(int(train_cfg["seed"]), workers=True)
    data = data or qm9_geometries()
    model_config = EGNNConfig(**model_cfg)
    if property_name is None:
        train_rows = data.split == 0
        module: L.LightningModule = FlowModule(model_config, lr=float(train_cfg["lr"]),
                                               type_weight=float(train_cfg.get("type_weight", 1.0)))
        out = Path(train_cfg["out"])
        copy = Path(train_cfg["resume_copy"]) if train_cfg.get("resume_copy") else None
        kind, extra = "flow", {"n_atoms_dist": (np.bincount(data.n_atoms[train_rows], minlength=10)
                                                / train_rows.sum()).tolist()}
    else:
        if property_name not in PROPERTIES:
            raise SystemExit(f"error: unknown property {property_name!r} ({', '.join(PROPERTY_NAMES)})")
        train_rows = (data.split == 0) & (data.half == ROLES[role])
        column = PROPERTY_NAMES.index(property_name)
        values = data.values[train_rows, column]
        module = PredictorModule(model_config, column, float(values.mean()), float(values.std()),
                                 lr=float(train_cfg["lr"]))
        folder = Path(train_cfg["out_dir"])
        out = folder / f"{role}_{property_name}.pt"
        copy = folder / f"{role}_{property_name}_run.ckpt" if train_cfg.get("resume_copies", True) else None
        _, _, unit, description = PROPERTIES[property_name]
        kind, extra = "predictor", {"property": property_name, "role": role, "unit": unit,
                                    "description": description, "mean": float(values.mean()),
                                    "std": float(values.std()), "low": float(np.percentile(values, 0.5)),
                                    "high": float(np.percentile(values, 99.5))}
    batch_size = int(train_cfg["batch_size"])
    loader = DataLoader(tensors(data.subset(train_rows)), batch_size=batch_size, shuffle=True, drop_last=True)
    val = DataLoader(tensors(data.subset(data.split == 1)), batch_size=512)
    meta: dict[str, Any] = {"kind": kind, "config": config, **extra,
                            "trained_on": f"QM9 heavy atoms (qm9pack), {int(train_rows.sum())} molecules of the "
                                          "training split" + (f" (half {ROLES[role]}: the {role})" if property_name
                                                              else ""),
                            "command": f"python -m designer.models.tfg_flow.train --config {config_path}"
                                       + (f" --property {property_name} --role {role}" if property_name else "")}

    def write(step: int, curve: list[dict[str, float]]) -> None:
        meta["training"] = {"steps": step, "cpu_minutes": curve[-1]["cpu_minutes"], "curve": curve}
        if property_name is not None:
            meta["training"]["val_mae"] = float(module.trainer.callback_metrics.get("val_mae", float("nan")))
        network = module.ema if kind == "flow" else module.model
        save_checkpoint(out, kind, network, model_config, meta)
        if kind == "predictor":  # its card registers the evaluator oracle; the flow's card is written when it ships
            card = {k: v for k, v in meta.items() if k != "config"}
            card["training"] = {k: v for k, v in meta["training"].items() if k != "curve"} | {"points": len(curve)}
            card["val_mae"] = meta["training"]["val_mae"]
            out.with_suffix(".json").write_text(json.dumps(card, indent=1) + "\n")

    previous = exported_curve(out) if resume else []
    budget = Budget(max_steps=train_cfg.get("max_steps"), cpu_minutes=train_cfg.get("cpu_minutes"),
                    max_minutes=float(train_cfg.get("max_minutes", 100000)))
    run_dir = Path(train_cfg["run_dir"]) / ((property_name and f"{role}_{property_name}") or "flow")
    fit(module, loader, val, write=write, run_dir=run_dir, budget=budget, every=int(train_cfg["export_every_steps"]),
        resume=resume, resume_copy=copy, val_batches=int(train_cfg.get("val_batches", 4)), curve=previous,
        half=("ema.",))
    return out


def choose_guidance(sweep: list[dict[str, Any]], keep_validity: float = 0.75, within: float = 0.05
                    ) -> dict[str, Any] | None:
    """The swept setting with the lowest evaluator MAE among those whose validity is at least
    ``keep_validity`` × the unguided run's (the reference keeps settings with validity ≥ 0.75 in
    absolute terms; our unguided flow is below that, so the bar is relative); settings within
    ``within`` (relative) of that MAE count as equal and the fastest of them wins. None without a sweep."""
    unguided = next((row for row in sweep if row["settings"] == "unguided"), None)
    rows = [row for row in sweep if isinstance(row["settings"], dict)
            and (unguided is None or row["validity"] >= keep_validity * unguided["validity"])]
    if not rows:
        return None
    best = min(row["evaluator_mae"] for row in rows)
    equal = [row for row in rows if row["evaluator_mae"] <= (1 + within) * best]
    return dict(max(equal, key=lambda row: row.get("molecules_per_second", 0.0))["settings"])


def write_card(flow: Path, results: Path) -> Path:
    """The flow's card (``<flow>.json``, which lists ``tfg-flow`` in the registry): training facts from
    the checkpoint, metrics and per-property guidance settings from the benchmark's results
    (``benchmarks/results/tfg_flow.json``), and the p(N | property) histograms the sampler reads."""
    from designer.models.tfg_flow.data import atom_count_table

    meta = torch.load(flow, map_location="cpu", weights_only=True)["meta"]
    bench = json.loads(results.read_text()) if results.exists() else {}
    card: dict[str, Any] = {
        "trained_on": meta.get("trained_on", ""), "command": meta.get("command", ""),
        "training": curve_summary(meta.get("training", {}).get("curve", [])),
        "metrics": {key: bench["unconditional"]["generated"][key] for key in
                    ("atom_stability", "molecule_stability", "validity", "uniqueness", "novelty")}
        if "unconditional" in bench else {},
        "guidance": {}, "benchmark": "benchmarks/results/tfg_flow.md",
        "atom_counts": atom_count_table(qm9_geometries())}
    for prop, sweep in bench.get("sweep", {}).items():
        chosen = choose_guidance(sweep["rows"])
        if chosen:
            card["guidance"][prop] = chosen
    from designer.generators import describe_targets
    from designer.models.tfg_flow.sample import load

    card["targets"] = describe_targets(load(flow).conditions)  # one per guide shipped beside the flow
    out = flow.with_suffix(".json")
    out.write_text(json.dumps(card, indent=1) + "\n")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="a training config (configs/tfg_flow_*.toml)")
    parser.add_argument("--card", action="store_true",
                        help="write the shipped flow's card from its checkpoint and benchmarks/results/tfg_flow.json")
    parser.add_argument("--resume", action="store_true", help="continue from <run_dir> or the packed copy")
    parser.add_argument("--property", help=f"train a predictor of this property ({', '.join(PROPERTY_NAMES)})")
    parser.add_argument("--role", choices=list(ROLES), default="guide")
    args = parser.parse_args(argv)
    if args.card:
        from designer.models.tfg_flow.sample import CHECKPOINT_DIR

        results = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "tfg_flow.json"
        print(write_card(CHECKPOINT_DIR / "tfg_flow_qm9.pt", results))
        return
    if not args.config:
        parser.error("--config is required (or --card)")
    train(read_toml(args.config), args.config, resume=args.resume, property_name=args.property, role=args.role)


if __name__ == "__main__":
    main(sys.argv[1:])
