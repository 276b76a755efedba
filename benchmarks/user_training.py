"""`designer train` on a user series: does a fine-tuned Graph DiT follow the user's own property?

    python benchmarks/user_training.py [--steps 2000] [--n 200]

Fine-tunes the shipped Graph DiT on ``configs/examples/series_tpsa.csv`` (2,000 MOSES training
molecules with RDKit TPSA standing in for an assay column) through the one command, with
``configs/train_graph_dit.toml`` (scaffold split, a new condition head for ``tpsa``), and for
comparison trains the same config from scratch (``small`` preset, no init) for the same steps.

Each model is then asked for the TPSA of each held-out *test-split* molecule (one sample per target;
the test split is used only here, never to choose settings) and judged by the exact RDKit TPSA of
what it made:

- MAE |requested − achieved| conditioned vs unconditioned (the same model, no target): the ratio;
- corr(requested, achieved) and the mean achieved TPSA at the lowest and highest tenth of targets;
- validity without repair.

Writes ``benchmarks/results/user_training.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from rdkit import Chem
from rdkit.Chem import Descriptors

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def tpsa(smiles: list[str | None]) -> np.ndarray:
    """Exact TPSA per sample (NaN where the sample is not a valid molecule)."""
    mols = [Chem.MolFromSmiles(s) if s else None for s in smiles]
    return np.array([Descriptors.TPSA(m) if m is not None else np.nan for m in mols])


def evaluate(name: str, targets: np.ndarray, seed: int) -> dict[str, Any]:
    from designer.registry import model_entry

    generator = model_entry(name).load()
    start = time.time()
    conditioned = tpsa(generator.sample(len(targets), {"tpsa": targets}, seed=seed))
    unconditioned = tpsa(generator.sample(len(targets), {}, seed=seed + 1))
    ok_c, ok_u = ~np.isnan(conditioned), ~np.isnan(unconditioned)
    mae_c = float(np.mean(np.abs(conditioned[ok_c] - targets[ok_c])))
    mae_u = float(np.mean(np.abs(unconditioned[ok_u] - targets[ok_u])))
    low, high = targets <= np.quantile(targets, 0.1), targets >= np.quantile(targets, 0.9)
    return {"valid_conditioned": round(float(ok_c.mean()), 3), "valid_unconditioned": round(float(ok_u.mean()), 3),
            "mae_conditioned": round(mae_c, 2), "mae_unconditioned": round(mae_u, 2),
            "mae_ratio": round(mae_c / mae_u, 3),
            "corr": round(float(np.corrcoef(targets[ok_c], conditioned[ok_c])[0, 1]), 3),
            "low_tenth": {"requested": round(float(targets[low].mean()), 1),
                          "achieved": round(float(np.nanmean(conditioned[low])), 1)},
            "high_tenth": {"requested": round(float(targets[high].mean()), 1),
                           "achieved": round(float(np.nanmean(conditioned[high])), 1)},
            "sample_seconds": round(time.time() - start, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--n", type=int, default=200, help="test-split targets (at most the test split)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault("DESIGNER_DATA_DIR", tempfile.mkdtemp(prefix="user-training-"))
    import designer
    from designer.config import read_toml
    from designer.training import parse_config, read_molecules

    base = read_toml(ROOT / "configs" / "train_graph_dit.toml")
    base["data"]["path"] = str(ROOT / "configs" / "examples" / "series_tpsa.csv")
    base["train"]["max_steps"] = args.steps
    cfg, folder = parse_config(base)
    molecules, _ = read_molecules(cfg, folder)
    test_tpsa = molecules.numeric[molecules.split == 2, 0]
    targets = np.random.default_rng(args.seed).permutation(test_tpsa)[:args.n]
    variants = {"fine-tuned (init = graph-dit)": {**base, "name": "bench-finetuned"},
                "from scratch (small)": {**{k: v for k, v in base.items() if k != "init"}, "name": "bench-scratch",
                                         "model": {"size": "small"}}}
    results: dict[str, Any] = {"steps": args.steps, "targets": len(targets), "machine": platform.processor() or
                               platform.machine(), "variants": {}}
    for label, config in variants.items():
        start = time.process_time()
        model = designer.train(config)
        card = json.loads((model / "model.json").read_text())
        results["variants"][label] = {"train_cpu_minutes": round((time.process_time() - start) / 60, 1),
                                      "final_val_loss": card["training"]["curve"][-1]["val_loss"],
                                      **evaluate(config["name"], targets, args.seed)}
        print(label, results["variants"][label], flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "user_training.json").write_text(json.dumps(results, indent=1) + "\n")
    lines = [f"# `designer train`: Graph DiT on a user series (TPSA), {args.steps} steps each",
             "", f"Command: `python benchmarks/user_training.py --steps {args.steps} --n {args.n}`. "
             f"{len(targets)} targets = TPSA of held-out test-split molecules (scaffold split); exact RDKit TPSA "
             "of one sample per target.", "",
             "| model | train CPU-min | valid | MAE cond. | MAE uncond. | ratio | corr | low tenth req → got |"
             " high tenth req → got |", "|---|---|---|---|---|---|---|---|---|"]
    for label, r in results["variants"].items():
        lines.append(f"| {label} | {r['train_cpu_minutes']} | {r['valid_conditioned']} | {r['mae_conditioned']} | "
                     f"{r['mae_unconditioned']} | {r['mae_ratio']} | {r['corr']} | "
                     f"{r['low_tenth']['requested']} → {r['low_tenth']['achieved']} | "
                     f"{r['high_tenth']['requested']} → {r['high_tenth']['achieved']} |")
    (RESULTS / "user_training.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
