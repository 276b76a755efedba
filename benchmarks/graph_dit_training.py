"""Graph DiT training choices at equal steps (issue #20, items 3, 6 and 8).

    python benchmarks/graph_dit_training.py --steps 2000 --parallel 2
    python benchmarks/graph_dit_training.py --config configs/graph_dit_moses_v2.toml \
        --init models/graph_dit/training/graph_dit_moses_v2_run.ckpt --steps 2000 \
        --variants base reference-dropping condition-noise-0.3 --out benchmarks/results/graph_dit_condition_path

Each variant is the base config (``--config``, by default the shipped ``configs/graph_dit_moses.toml``)
with a few keys changed; all train for the same number of optimizer steps with the same seed and data —
from scratch, or with ``--init`` as branches of one Lightning state (weights, EMA, optimizer), which
compares training choices at a later stage of a run for the price of a few thousand steps — then sample
with the shipped sampler settings (cubic:50 reverse steps, guidance 2, p(n | targets)). Compared on:

- validity without repair of ``--n-uncond`` unconditional samples;
- target control: MAE |requested − achieved| conditioned vs unconditional (ratio) and
  corr(requested, achieved), with all four numeric targets and with each alone.

Targets are the properties of MOSES *train* molecules outside the 120,000-molecule training subset
(a validation draw): choosing among variants never looks at the test split. Training runs are
subprocesses of ``designer.models.graph_dit.train`` and resume from their Lightning checkpoints, and
samples are cached per chunk, so an interrupted comparison continues where it stopped. Writes
``benchmarks/results/graph_dit_training.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from graph_dit import PROPS, achieved, cached_sample, mae

from designer import metrics
from designer.config import read_toml, toml_text
from designer.models.graph_dit.data import moses_validation_smiles, properties
from designer.models.graph_dit.sample import DEFAULT_CHECKPOINT, load

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]

# name → (what changes, config overrides "section.key" → value); "base" is the baseline.
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "base": ("the base config (--config) unchanged", {}),
    "normalised-noise": ("joint noise with the U term divided by the atom count (keeps each part with ≥ ᾱ)",
                         {"noise.normalised": True}),
    "independent-noise": ("DiGress independent marginal noise (the paper's ablation)", {"noise.independent": True}),
    "low-t": ("half of each batch draws t from [0, 200]", {"train.low_t_fraction": 0.5}),
    "reference-dropping": ("the reference's condition dropping: each condition with p = 0.01 (+ all with 0.1)",
                           {"train.subset_dropping": False}),
    "condition-noise-0.3": ("std 0.3 noise on condition embeddings instead of 1", {"model.condition_noise": 0.3}),
}
SETTINGS = {"all four": list(PROPS), **{f"{p} alone": [p] for p in PROPS}}


def variant_config(base: dict[str, Any], overrides: dict[str, Any], steps: int, out: Path, run_dir: Path,
                   threads: int) -> dict[str, Any]:
    config = json.loads(json.dumps(base))
    for key, value in overrides.items():
        section, name = key.split(".")
        config[section][name] = value
    config["train"].update({"max_steps": steps, "max_minutes": 100000, "out": str(out), "run_dir": str(run_dir),
                            "threads": threads})
    config["train"].pop("resume_copy", None)  # a variant never overwrites the base run's committed state
    return config


def lightning_step(checkpoint: Path | None) -> int:
    """The optimizer step a Lightning checkpoint (or its packed copy) was saved at; 0 without one."""
    if checkpoint is None:
        return 0
    return int(torch.load(checkpoint, map_location="cpu", weights_only=False)["global_step"])


def trained_steps(checkpoint: Path) -> int:
    if not checkpoint.exists():
        return 0
    return int(torch.load(checkpoint, map_location="cpu", weights_only=False)["meta"]["training"]["steps"])


def train_variant(name: str, args: argparse.Namespace, base: dict[str, Any], init_step: int = 0) -> Path:
    """Train (or resume) one variant to ``init_step + args.steps``; returns its exported checkpoint."""
    folder = args.work / name
    folder.mkdir(parents=True, exist_ok=True)
    out, run_dir = folder / "model.pt", folder / "run"
    # p(n | targets) uses the same 4,000 training molecules as the shipped model (same subset and seed).
    shutil.copy(DEFAULT_CHECKPOINT.with_name(f"{DEFAULT_CHECKPOINT.stem}_reference.npz"),
                out.with_name(f"{out.stem}_reference.npz"))
    target = init_step + args.steps
    if trained_steps(out) >= target:
        return out
    config = variant_config(base, VARIANTS[name][1], target, out, run_dir, args.threads)
    (folder / "config.toml").write_text(toml_text(config))
    command = [sys.executable, "-m", "designer.models.graph_dit.train", "--config", str(folder / "config.toml")]
    if (run_dir / "last.ckpt").exists():
        command += ["--resume", str(run_dir / "last.ckpt")]
    elif args.init is not None:
        command += ["--resume", str(args.init)]
    with (folder / "train.log").open("a") as log:
        subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    return out


def validation_targets(n: int, n_train: int, seed: int) -> np.ndarray:
    """(n, 4) properties of MOSES train molecules *not* in the training subset (same draw as training)."""
    from rdkit import Chem

    return np.array([properties(Chem.MolFromSmiles(s))[0] for s in moses_validation_smiles(n, n_train, seed)])


def evaluate(name: str, checkpoint: Path, requested: np.ndarray, args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    gen = load(checkpoint, name=name)
    cache = args.work / name / "samples"

    shipped = json.loads(DEFAULT_CHECKPOINT.with_suffix(".json").read_text())  # the shipped sampler settings

    def sampler(n: int, targets: Any, seed: int) -> list[str | None]:
        return gen.sample(n, targets, guidance=args.guidance, seed=seed, batch_size=250,
                          steps=shipped["sample_steps"], spacing=shipped["sample_spacing"])

    uncond, seconds = cached_sample(sampler, args.n_uncond, {}, cache / "uncond.jsonl", 250, f"{name} uncond")
    base = achieved(uncond[: len(requested)])
    row: dict[str, Any] = {"steps": gen.meta["training"]["steps"], "final_loss": gen.meta["training"]["final_loss"],
                           "valid": metrics.validity(uncond), "mol_per_s": round(len(uncond) / seconds, 2),
                           "control": {}}
    for setting, names in SETTINGS.items():
        targets = {p: requested[:, PROPS.index(p)] for p in names}
        smiles, _ = cached_sample(sampler, len(requested), targets, cache / f"{setting.replace(' ', '_')}.jsonl",
                                  250, f"{name} {setting}")
        got = achieved(smiles)
        control: dict[str, Any] = {"valid": metrics.validity(smiles)}
        for p in names:
            k = PROPS.index(p)
            ok = ~np.isnan(got[:, k])
            control[p] = {"mae": mae(requested[:, k], got[:, k]),
                          "ratio": mae(requested[:, k], got[:, k]) / mae(requested[:, k], base[:, k]),
                          "corr": float(np.corrcoef(requested[ok, k], got[ok, k])[0, 1])}
        row["control"][setting] = control
    return row


def markdown(report: dict[str, Any]) -> str:
    start = (f", branched from step {report['init_step']} of `{report['init']}` (weights, EMA, optimizer)"
             if report.get("init") else "")
    lines = [f"# Graph DiT training choices at equal steps ({report['steps']} steps each{start})", "",
             f"Base config: `{report.get('config', 'configs/graph_dit_moses.toml')}`.", "",
             f"Same data (MOSES train subset of 120,000), seed and sampler (cubic:50, guidance {report['guidance']}, "
             f"p(n | targets)); validity of {report['n_uncond']} unconditional samples; control on "
             f"{report['n_cond']} validation targets (MOSES train molecules outside the subset, never the test split). "
             "MAE ratio = conditional / unconditional MAE (lower is better); corr = corr(requested, achieved).", "",
             "| variant | what changes | loss | valid | all four: ratio QED / SA / logP / MW | alone: ratio QED / SA / "
             "logP / MW | alone: corr QED / SA / logP / MW |", "|---|---|---|---|---|---|---|"]
    for name, row in report["variants"].items():
        c = row["control"]
        together = " / ".join(f"{c['all four'][p]['ratio']:.2f}" for p in PROPS)
        alone = " / ".join(f"{c[f'{p} alone'][p]['ratio']:.2f}" for p in PROPS)
        corr = " / ".join(f"{c[f'{p} alone'][p]['corr']:.2f}" for p in PROPS)
        lines.append(f"| {name} | {VARIANTS[name][0]} | {row['final_loss']:.3f} | {row['valid']:.3f} | {together} | "
                     f"{alone} | {corr} |")
    lines += ["", "Training loss is the smoothed training objective at the last step; it is not comparable across "
              "noise variants (each defines its own task).", "", f"Command: `{report['command']}`"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "graph_dit_moses.toml")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--steps", type=int, default=2000, help="optimizer steps per variant (after --init's)")
    parser.add_argument("--init", type=Path, help="Lightning checkpoint (or packed copy) every variant starts from")
    parser.add_argument("--parallel", type=int, default=1, help="variants trained at once (one thread each)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--n-uncond", type=int, default=500)
    parser.add_argument("--n-cond", type=int, default=300)
    parser.add_argument("--guidance", type=float, default=2.0)
    parser.add_argument("--work", type=Path, default=Path("/tmp/graph_dit_training"))
    parser.add_argument("--out", type=Path, default=RESULTS / "graph_dit_training")
    args = parser.parse_args(argv)
    base = read_toml(args.config)
    requested = validation_targets(args.n_cond, int(base["data"]["n_train"]), int(base["data"]["seed"]))
    init_step = lightning_step(args.init)
    started = time.time()
    with ThreadPoolExecutor(args.parallel) as pool:
        checkpoints = dict(zip(args.variants, pool.map(lambda v: train_variant(v, args, base, init_step),
                                                       args.variants), strict=True))
    print(f"trained in {(time.time() - started) / 60:.1f} min", flush=True)
    report: dict[str, Any] = {"steps": args.steps, "config": str(args.config.resolve().relative_to(ROOT)),
                              "init": str(args.init) if args.init else None, "init_step": init_step,
                              "guidance": args.guidance, "n_uncond": args.n_uncond,
                              "n_cond": args.n_cond, "machine": platform.processor() or platform.machine(),
                              "command": "python benchmarks/graph_dit_training.py " + " ".join(argv or sys.argv[1:]),
                              "variants": {}}
    for name, checkpoint in checkpoints.items():
        report["variants"][name] = evaluate(name, checkpoint, requested, args)
        print(name, json.dumps(report["variants"][name]), flush=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(report))
    return report


if __name__ == "__main__":
    main()
