"""The shared target benchmark: one protocol for every generator that takes molecule targets.

    python benchmarks/targets.py --models char-rnn graph-dit --n 500 --loop-targets 3 --loop-n 10

For each model and each setting (QED, SA, logP, MW alone, and all four together), targets are drawn
from held-out MOSES *test* molecules (random rows, fixed seed, restricted to the range every model
was trained on; used only to evaluate, never to tune). Per model and setting it measures:

- raw validity of ``n`` conditional samples (one target vector per sample);
- MAE |target − achieved| (exact RDKit oracles, valid samples) conditioned vs the same model
  unconditional on the same targets, and their ratio (1 = no control);
- corr(requested, achieved) for single-property settings;
- the fraction of raw samples within the default tolerance of every target (an invalid sample misses);
- delivered on-target molecules per second with the target loop (``sample_to_target`` with the
  default tolerances, ``--loop-targets`` targets × ``--loop-n`` molecules, budget ``--loop-budget`` × n),
  the number the default model is chosen by;
- raw sampling speed and the peak resident memory of the process that ran the model.

The CharRNN conditions by selection only, so its conditional samples are unconditional samples and
its ratio is 1 by construction: with the loop it is the baseline every conditional model must beat.
Each model runs in its own process (peak memory is per model); ``--resume`` keeps models already
measured on the same targets (the draw changes when a model with other trained ranges joins).
Writes ``benchmarks/results/targets.json`` and ``targets.md``; ``--cards`` puts each model's numbers
in its model-card JSON (``target_benchmark``), where ``designer models`` shows them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
PROPS = ("qed", "sa", "logp", "mw")
SETTINGS = {"qed": ["qed"], "sa": ["sa"], "logp": ["logp"], "mw": ["mw"], "all": list(PROPS)}


def rdkit_properties(smiles: list[str | None]) -> np.ndarray:
    """(n, 4) QED, SA, logP, MW by the same oracles the target loop uses; NaN rows where invalid."""
    from designer.candidates import Candidates
    from designer.scoring import score

    table = score(Candidates.from_smiles([s or "" for s in smiles]), list(PROPS))
    return np.stack([table.columns[p].astype(float) for p in PROPS], axis=1)


def draw_targets(models: list[str], n: int, seed: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Per setting, ``n`` target rows from MOSES test molecules inside every model's trained ranges."""
    from designer.data import moses_smiles
    from designer.workflows.pipeline import load_generator

    test = moses_smiles("test")
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(test), size=min(len(test), 20 * n), replace=False)
    values = rdkit_properties([test[i] for i in rows])
    inside = np.isfinite(values).all(axis=1)
    for model in {parse_variant(label)[0] for label in models}:
        conditions = load_generator(model).conditions
        for k, prop in enumerate(PROPS):
            c = conditions[prop]
            inside &= (values[:, k] >= c.low) & (values[:, k] <= c.high)
    pool = values[inside]
    targets = {setting: pool[rng.choice(len(pool), size=n, replace=False)] for setting in SETTINGS}
    return targets, {"source": "MOSES test split (molsets wheel)", "rows_scored": len(rows),
                     "inside_every_range": len(pool), "seed": seed}


def mae(requested: np.ndarray, got: np.ndarray) -> float:
    ok = np.isfinite(got)
    return float(np.abs(requested[ok] - got[ok]).mean()) if ok.any() else float("nan")


def within(requested: np.ndarray, got: np.ndarray, tolerances: np.ndarray) -> float:
    """Fraction of samples within tolerance of every column (NaN = invalid = a miss)."""
    hit = np.all(np.abs(requested - got) <= tolerances, axis=1) & np.isfinite(got).all(axis=1)
    return float(hit.mean())


def peak_rss_mb() -> float:
    """This process's own peak resident memory (VmHWM). ``ru_maxrss`` would report the parent's peak when
    that was higher at fork, which hid the model's own footprint in earlier runs."""
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmHWM")).split()[1]) / 1024


def parse_variant(label: str) -> tuple[str, dict[str, Any]]:
    """``"graph-dit[atom_count=marginal,steps=50]"`` → ("graph-dit", {"atom_count": "marginal", "steps": 50})."""
    name, _, rest = label.partition("[")
    options: dict[str, Any] = {}
    for part in filter(None, rest.rstrip("]").split(",")):
        key, _, value = part.partition("=")
        options[key.strip()] = int(value) if value.strip().isdigit() else value.strip()
    return name, options


def evaluate_model(label: str, targets: dict[str, np.ndarray], args: argparse.Namespace) -> dict[str, Any]:
    """Every number of the protocol for one model, or a model with sampling options such as
    ``graph-dit[atom_count=marginal]`` (an ablation), run in its own process."""
    import torch

    from designer.workflows.pipeline import load_generator
    from designer.workflows.targets import resolve_guidance, sample_to_target

    torch.set_num_threads(args.threads)
    model, options = parse_variant(label)
    generator = load_generator(model)
    guidance = resolve_guidance(generator, args.guidance)
    selection = getattr(generator, "conditioning", "model") == "selection"
    tolerance = {p: generator.conditions[p].default_tolerance() for p in PROPS}
    n = len(next(iter(targets.values())))

    def sample(per_sample: dict[str, np.ndarray], seed: int) -> tuple[list[str | None], float]:
        started = time.perf_counter()
        smiles = generator.sample(n, {} if selection else per_sample, guidance=guidance, seed=seed,
                                  batch_size=args.batch_size, **options)
        return smiles, time.perf_counter() - started

    uncond, uncond_s = sample({}, args.seed + 1)
    base = rdkit_properties(uncond)
    unconditional = {"valid": float(np.isfinite(base).all(axis=1).mean()), "mol_per_s": n / uncond_s,
                     "mean": {p: float(np.nanmean(base[:, k])) for k, p in enumerate(PROPS)}}
    report: dict[str, Any] = {"model": model, "options": options,
                              "conditioning": "selection only" if selection else "model",
                              "tolerance": tolerance, "guidance": guidance, "n": n,
                              "unconditional": unconditional, "settings": {}}
    for i, (setting, names) in enumerate(SETTINGS.items()):
        columns = [PROPS.index(p) for p in names]
        requested = targets[setting][:, columns]
        smiles, seconds = sample({p: requested[:, j] for j, p in enumerate(names)}, args.seed + 10 + i)
        got = rdkit_properties(smiles)[:, columns]
        limits = np.array([tolerance[p] for p in names])
        row: dict[str, Any] = {"valid": float(np.isfinite(got).all(axis=1).mean()), "mol_per_s": n / seconds,
                               "within_tolerance": within(requested, got, limits),
                               "within_tolerance_unconditional": within(requested, base[:, columns], limits)}
        for j, p in enumerate(names):
            row[f"mae_{p}"] = mae(requested[:, j], got[:, j])
            row[f"mae_{p}_unconditional"] = mae(requested[:, j], base[:, columns[j]])
            row[f"ratio_{p}"] = row[f"mae_{p}"] / row[f"mae_{p}_unconditional"]
            if len(names) == 1:
                ok = np.isfinite(got[:, j])
                row[f"corr_{p}"] = float(np.corrcoef(requested[ok, j], got[ok, j])[0, 1])
        loop = {"delivered": 0, "requested": 0, "drawn": 0, "seconds": 0.0}
        for k in range(args.loop_targets):
            target = {p: float(requested[k, j]) for j, p in enumerate(names)}
            result = sample_to_target(model, target, n=args.loop_n, tolerance="default", seed=args.seed + 100 * i + k,
                                      max_samples=args.loop_budget * args.loop_n, guidance=guidance,
                                      batch_size=args.batch_size, options=options)
            loop["delivered"] += result.counts.delivered
            loop["requested"] += args.loop_n
            loop["drawn"] += result.counts.drawn
            loop["seconds"] += result.counts.elapsed_s
        loop["delivered_per_s"] = loop["delivered"] / loop["seconds"]
        loop["acceptance"] = loop["delivered"] / max(loop["drawn"], 1)
        row["loop"] = loop
        report["settings"][setting] = row
        print(model, setting, json.dumps(row), flush=True)
    report["delivered_per_s"] = (sum(r["loop"]["delivered"] for r in report["settings"].values())
                                 / sum(r["loop"]["seconds"] for r in report["settings"].values()))
    report["peak_rss_mb"] = peak_rss_mb()
    return report


def run_child(model: str, args: argparse.Namespace, targets_path: Path, part: Path) -> None:
    """Evaluate one model in a fresh process (so its peak memory is its own)."""
    command = [sys.executable, __file__, "--child", model, "--targets-file", str(targets_path), "--part", str(part),
               "--threads", str(args.threads), "--seed", str(args.seed),
               "--loop-targets", str(args.loop_targets), "--loop-n", str(args.loop_n),
               "--loop-budget", str(args.loop_budget), "--batch-size", str(args.batch_size)]
    if args.guidance is not None:
        command += ["--guidance", str(args.guidance)]
    subprocess.run(command, check=True)


def markdown(report: dict[str, Any]) -> str:
    lines = ["# Target benchmark", "",
             f"Command: `{report['command']}`", "",
             f"Targets: {report['targets']['source']}, {report['n']} per setting drawn from "
             f"{report['targets']['inside_every_range']} test molecules inside every model's trained range "
             f"(seed {report['targets']['seed']}). Achieved values by the RDKit oracles. Tolerances (the "
             "defaults): " + ", ".join(f"{k} ±{v:g}" for k, v in report["tolerance"].items()) + ".", "",
             f"Machine: {report['machine']}; {report['threads']} torch thread(s) per model.", "",
             "## Delivered on-target molecules per second (target loop, default tolerances)", "",
             "| model | conditioning | delivered/s | delivered / requested | acceptance | raw mol/s | "
             "peak RSS (MB) | ratio to CharRNN + selection |", "|---|---|---|---|---|---|---|---|"]
    baseline = report["models"].get("char-rnn", {}).get("delivered_per_s")
    for name, m in report["models"].items():
        delivered = sum(r["loop"]["delivered"] for r in m["settings"].values())
        requested = sum(r["loop"]["requested"] for r in m["settings"].values())
        drawn = sum(r["loop"]["drawn"] for r in m["settings"].values())
        ratio = f"{m['delivered_per_s'] / baseline:.3f}" if baseline else "n/a"
        lines.append(f"| {name} | {m['conditioning']} | {m['delivered_per_s']:.2f} | {delivered} / {requested} | "
                     f"{delivered / max(drawn, 1):.3f} | {m['unconditional']['mol_per_s']:.1f} | "
                     f"{m['peak_rss_mb']:.0f} | {ratio} |")
    lines += ["", f"Default molecule model (most delivered on-target molecules per second): **{report['default']}**.",
              "", "## Control per setting", "",
              "MAE conditioned / MAE unconditional on the same targets (1 = no control), raw validity, fraction of "
              "raw samples within tolerance of every target (conditioned vs unconditional), correlation of "
              "requested and achieved, and delivered/s with the loop.", "",
              "| model | setting | valid | MAE ratios | within tol. (cond / uncond) | corr | delivered/s |",
              "|---|---|---|---|---|---|---|"]
    for name, m in report["models"].items():
        for setting, r in m["settings"].items():
            ratios = ", ".join(f"{p} {r[f'ratio_{p}']:.2f} ({r[f'mae_{p}']:.3g}/{r[f'mae_{p}_unconditional']:.3g})"
                               for p in SETTINGS[setting])
            corr = ", ".join(f"{r[k]:.2f}" for k in r if k.startswith("corr_")) or "–"
            lines.append(f"| {name} | {setting} | {r['valid']:.3f} | {ratios} | {r['within_tolerance']:.3f} / "
                         f"{r['within_tolerance_unconditional']:.3f} | {corr} | {r['loop']['delivered_per_s']:.2f} |")
    return "\n".join(lines) + "\n"


def update_cards(report: dict[str, Any]) -> None:
    """Each model's headline numbers into its model-card JSON (``target_benchmark``)."""
    from designer.registry import model_entry

    for name, m in report["models"].items():
        if m.get("options"):
            continue
        path = model_entry(name).card_path()
        assert path is not None
        card = json.loads(path.read_text())
        card["target_benchmark"] = {
            "delivered_per_s": round(m["delivered_per_s"], 3),
            "mae_ratio": {p: round(m["settings"][p][f"ratio_{p}"], 3) for p in PROPS},
            "within_tolerance": {s: round(r["within_tolerance"], 3) for s, r in m["settings"].items()},
            "source": "benchmarks/results/targets.md",
        }
        path.write_text(json.dumps(card, indent=1) + "\n")


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["char-rnn", "graph-dit", "graph-dit[atom_count=marginal]"],
                        help="registered models; NAME[key=value,...] adds sampling options (an ablation)")
    parser.add_argument("--n", type=int, default=500, help="conditional samples per model and setting")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--guidance", type=float, help="one scale for every model (default: each model's own)")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--loop-targets", type=int, default=3, help="targets per setting run through the loop")
    parser.add_argument("--loop-n", type=int, default=10, help="molecules the loop delivers per target")
    parser.add_argument("--loop-budget", type=int, default=25, help="loop budget: max_samples = this × loop-n")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS / "targets")
    parser.add_argument("--resume", action="store_true", help="keep models measured in --work on the same targets")
    parser.add_argument("--work", type=Path, default=RESULTS / ".cache" / "targets")
    parser.add_argument("--cards", action="store_true", help="write each model's numbers into its card JSON")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--targets-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--part", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        data = np.load(args.targets_file)
        report = evaluate_model(args.child, {s: data[s] for s in SETTINGS}, args)
        args.part.write_text(json.dumps(report, indent=1))
        return None
    args.work.mkdir(parents=True, exist_ok=True)
    targets, provenance = draw_targets(args.models, args.n, args.seed)
    # The draw depends on every model's trained ranges, so a model joining can change it: a part is
    # kept by --resume only if it was measured on exactly these targets (their digest names it).
    digest = hashlib.sha256(b"".join(targets[s].tobytes() for s in SETTINGS)).hexdigest()[:12]
    provenance["digest"] = digest
    targets_path = args.work / f"targets_{args.n}_{args.seed}_{digest}.npz"
    np.savez(targets_path, **targets)
    models: dict[str, Any] = {}
    for model in args.models:
        part = args.work / f"{model}_{args.n}_{args.seed}_{digest}.json"
        if not (args.resume and part.exists()):
            run_child(model, args, targets_path, part)
        models[model] = json.loads(part.read_text())
    plain = [name for name in models if not models[name].get("options")]  # ablations cannot be the default
    default = max(plain, key=lambda name: models[name]["delivered_per_s"])
    report = {"command": "python benchmarks/targets.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "n": args.n, "targets": provenance, "tolerance": models[args.models[0]]["tolerance"],
              "machine": f"{platform.processor() or platform.machine()}, {platform.system()}",
              "threads": args.threads, "models": models, "default": default}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(report))
    if args.cards:
        update_cards(report)
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
