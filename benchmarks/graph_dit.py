"""Benchmark the shipped Graph DiT checkpoint: MOSES metrics, condition control, sampling speed,
the independent-noise ablation and the SMILES CharRNN baseline, in one run.

    python benchmarks/graph_dit.py --n 10000 --n-cond 500 --steps 100 \
        --ablation joint=JOINT.pt independent=models/graph_dit/checkpoints/graph_dit_moses_independent.pt \
        --char-rnn models/char_rnn/checkpoints/char_rnn_moses.pt

Writes ``benchmarks/results/graph_dit.json`` and ``graph_dit.md``. Everything is measured with exact
RDKit property oracles; ``n`` and the number of sampling steps are recorded. Samples are drawn in
chunks of ``--chunk`` molecules (chunk ``i`` uses seed ``i``) and appended to ``--cache``, so a run
that is stopped resumes where it was and only the metrics are recomputed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rdkit import Chem

from designer import metrics
from designer.data import moses_smiles, moses_test_stats
from designer.generators import describe_targets
from designer.models.char_rnn.sample import load as load_char_rnn
from designer.models.graph_dit.data import properties
from designer.models.graph_dit.sample import DEFAULT_CHECKPOINT, GraphDiTGenerator, load

PROPS = ("qed", "sa", "logp", "mw")
STATS_KEYS = {"qed": "QED", "sa": "SA", "logp": "logP", "mw": "weight"}
RESULTS = Path(__file__).resolve().parent / "results"


def achieved(smiles: list[str | None]) -> np.ndarray:
    """(n, 4) exact RDKit QED, SA, logP, MW; NaN rows for invalid molecules."""
    out = np.full((len(smiles), len(PROPS)), np.nan)
    for i, s in enumerate(smiles):
        mol = Chem.MolFromSmiles(s) if s else None
        if mol is not None:
            out[i] = properties(mol)[0]
    return out


def mae(requested: np.ndarray, got: np.ndarray) -> float:
    ok = ~np.isnan(got)
    return float(np.abs(requested[ok] - got[ok]).mean()) if ok.any() else float("nan")


Sampler = Callable[[int, Any, int], list[str | None]]  # (n, per-sample targets, seed) -> SMILES


def cached_sample(sampler: Sampler, n: int, targets: dict[str, np.ndarray], cache: Path, chunk: int,
                  label: str) -> tuple[list[str | None], float]:
    """``n`` samples in chunks appended to ``cache`` (JSON lines); returns them and the sampling seconds.

    Chunk ``i`` is sampled with seed ``i`` and the ``i``-th slice of per-sample ``targets``, so the
    result does not depend on how often the run was interrupted."""
    chunks: list[dict[str, Any]] = []
    if cache.exists():
        for line in cache.read_text().splitlines():
            try:
                chunks.append(json.loads(line))
            except ValueError:  # a line cut short by a kill: sample that chunk again
                break
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text("".join(json.dumps(c) + "\n" for c in chunks))
    while sum(len(c["smiles"]) for c in chunks) < n:
        i = len(chunks)
        size = min(chunk, n - i * chunk)
        part = {k: v[i * chunk:i * chunk + size] for k, v in targets.items()}
        start = time.time()
        smiles = sampler(size, part, i)
        chunks.append({"chunk": i, "seconds": round(time.time() - start, 2), "smiles": smiles})
        with cache.open("a") as handle:
            handle.write(json.dumps(chunks[-1]) + "\n")
        done = sum(len(c["smiles"]) for c in chunks)
        print(f"{label}: {done}/{n} sampled ({chunks[-1]['seconds']:.0f} s for the last {size})", flush=True)
    smiles = [s for c in chunks for s in c["smiles"]][:n]
    return smiles, sum(c["seconds"] for c in chunks)


def graph_dit_sampler(gen: GraphDiTGenerator, args: argparse.Namespace) -> Sampler:
    def sampler(n: int, targets: Any, seed: int) -> list[str | None]:
        return gen.sample(n, targets, guidance=args.guidance, seed=seed, batch_size=args.batch_size, steps=args.steps,
                          spacing=args.spacing)  # the shipped sampler for every checkpoint compared
    return sampler


def moses_block(smiles: list[str | None], seconds: float, data: dict[str, Any], cache: Path) -> dict[str, Any]:
    """MOSES metrics plus the FCD floor at the same n, kept beside the samples (``cache``) with a hash
    of them, so a resumed run does not recompute ChemNet activations for samples it already scored."""
    digest = hashlib.sha256("\n".join(s or "" for s in smiles).encode()).hexdigest()
    if cache.exists():
        kept = json.loads(cache.read_text())
        if kept.get("sha256") == digest and "qed_mean" in kept["metrics"]:
            return kept["metrics"]
    out = metrics.moses_metrics(smiles, data["test_stats"], data["train"])
    out["fcd_test_floor_same_n"] = data["floor"](len(metrics.valid_smiles(smiles)))
    out["qed_mean"] = round(float(np.nanmean(achieved(smiles)[:, PROPS.index("qed")])), 4)  # of valid samples
    out["sample_seconds"] = round(seconds, 1)
    out["mol_per_s"] = round(len(smiles) / seconds, 3) if seconds else float("nan")
    cache.write_text(json.dumps({"sha256": digest, "metrics": out}) + "\n")
    return out


def fcd_floor(n_valid: int, test: list[str], test_stats: dict) -> float:
    """FCD of ``n_valid`` real test molecules: the value FCD reaches at this n (it is biased upwards for
    small samples, so compare against this rather than MOSES's 30k-sample table)."""
    rng = np.random.default_rng(0)
    floor = [test[i] for i in rng.choice(len(test), size=n_valid, replace=False)]
    return metrics.fcd(floor, test_stats["FCD"]["mu"], test_stats["FCD"]["sigma"])


def condition_control(gen: GraphDiTGenerator, args: argparse.Namespace, requested: np.ndarray,
                      base: np.ndarray, settings: dict[str, list[str]], cache: Path, label: str) -> dict[str, Any]:
    """MAE |requested − achieved| per property, conditioned vs conditions dropped (``base``)."""
    control: dict[str, Any] = {}
    for setting, names in settings.items():
        targets = {p: requested[:, PROPS.index(p)] for p in names}
        smiles, seconds = cached_sample(graph_dit_sampler(gen, args), len(requested), targets,
                                        cache / f"{label}_{setting}.jsonl", args.chunk, f"{label} {setting}")
        got = achieved(smiles)
        row: dict[str, Any] = {"conditions": names, "valid": metrics.validity(smiles), "seconds": round(seconds, 1)}
        for p in names:
            k = PROPS.index(p)
            row[f"mae_{p}"] = mae(requested[:, k], got[:, k])
            row[f"mae_{p}_unconditional"] = mae(requested[:, k], base[:, k])
            row[f"ratio_{p}"] = row[f"mae_{p}"] / row[f"mae_{p}_unconditional"]
        control[setting] = row
        print("control", label, setting, row, flush=True)
    return control


def evaluate_graph_dit(gen: GraphDiTGenerator, args: argparse.Namespace, n: int, requested: np.ndarray,
                       settings: dict[str, list[str]], label: str, data: dict[str, Any]) -> dict[str, Any]:
    """MOSES metrics on ``n`` unconditional samples plus condition control, for one checkpoint."""
    uncond, seconds = cached_sample(graph_dit_sampler(gen, args), n, {}, args.cache / f"{label}_uncond.jsonl",
                                    args.chunk, f"{label} unconditional")
    moses = moses_block(uncond, seconds, data, args.cache / f"{label}_uncond.metrics.json")
    print("moses", label, moses, flush=True)
    # Conditions-dropped reference: the first n_cond unconditional samples (independent of the targets).
    base = achieved(uncond[: len(requested)])
    control = condition_control(gen, args, requested, base, settings, args.cache, label)
    return {"moses": moses, "control": control, "training": gen.meta.get("training", {}),
            "noise": "independent" if gen.noise.independent else "graph-dependent"}


def speed(args: argparse.Namespace) -> list[dict[str, Any]]:
    """mol/s and peak RSS per batch size with the benchmarked sampler (steps, spacing, guidance), each in a
    fresh process so peaks do not mix."""
    rows = []
    for b in args.speed_batches:
        code = (
            "import time, torch, json; torch.set_num_threads(1);"
            "from designer.models.graph_dit.sample import load;"
            # VmHWM is this process's own peak; ru_maxrss would carry over the parent's peak from fork
            "hwm = lambda: int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]);"
            f"g = load({str(args.checkpoint)!r}); base = hwm();"
            f"t = time.time(); g.sample({b}, {{'qed': 0.9}}, guidance={args.guidance}, seed=0, batch_size={b},"
            f" steps={args.steps}, spacing={args.spacing!r}); dt = time.time() - t;"
            "print(json.dumps({'seconds': dt, 'peak_rss_mb': hwm() / 1024, 'model_rss_mb': base / 1024}))"
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        measured = json.loads(result.stdout.strip().splitlines()[-1])
        rows.append({"batch": b, "steps": args.steps, "spacing": args.spacing,
                     "seconds": round(measured["seconds"], 2), "mol_per_s": round(b / measured["seconds"], 3),
                     "peak_rss_mb": round(measured["peak_rss_mb"], 1)})
        print("speed", rows[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--n", type=int, default=10000, help="unconditional samples for MOSES metrics")
    parser.add_argument("--n-cond", type=int, default=1000, help="samples per condition-control setting")
    parser.add_argument("--steps", type=int, default=None, help="reverse steps (default: the card's sample_steps)")
    parser.add_argument("--guidance", type=float, default=None, help="default: the card's guidance_default")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--chunk", type=int, default=500, help="samples per cached chunk (the unit of resuming)")
    parser.add_argument("--cache", type=Path, default=RESULTS / ".cache" / "graph_dit",
                        help="where samples are kept between interrupted runs (delete to start over)")
    parser.add_argument("--speed-batches", type=int, nargs="*", default=[1, 64, 512])
    parser.add_argument("--single", nargs="*", default=["qed"], help="single-property settings to run")
    parser.add_argument("--ablation", nargs="*", default=[], metavar="LABEL=CHECKPOINT",
                        help="other Graph DiT checkpoints (e.g. joint vs independent noise at the same budget)")
    parser.add_argument("--n-ablation", type=int, default=2000, help="unconditional samples per ablation model")
    parser.add_argument("--char-rnn", type=Path, help="CharRNN baseline checkpoint (MOSES metrics on --n samples)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS / "graph_dit")
    parser.add_argument("--card", type=Path, help="update this model-card JSON with the headline metrics")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.time()
    gen = load(args.checkpoint)
    args.T = gen.noise.T
    args.steps = args.steps or gen.meta.get("sample_steps") or gen.noise.T  # the card's sampler by default
    args.guidance = gen.default_guidance if args.guidance is None else args.guidance
    args.spacing = gen.meta.get("sample_spacing", "linear")
    report: dict[str, Any] = {
        "checkpoint": str(args.checkpoint), "trained_on": gen.card["trained_on"],
        "training": gen.meta.get("training", {}), "sampling_steps": args.steps, "spacing": args.spacing,
        "T": gen.noise.T,
        "guidance": args.guidance, "n": args.n, "n_cond": args.n_cond, "n_ablation": args.n_ablation,
        "machine": platform.processor() or platform.machine(), "threads": args.threads,
    }
    test = moses_smiles("test")
    test_stats = moses_test_stats("test")
    data = {"test_stats": test_stats, "train": set(moses_smiles("train")),  # MOSES SMILES are RDKit-canonical
            "floor": lambda n_valid: fcd_floor(n_valid, test, test_stats)}

    report["test_qed_mean"] = round(float(np.mean(test_stats["QED"]["values"])), 4)  # issue #20: within 0.03
    # Condition-control targets: properties of random test molecules, clipped to the trained range
    # as the CLI would insist. The same targets serve every checkpoint.
    rng = np.random.default_rng(0)
    pick = rng.choice(len(test_stats["QED"]["values"]), size=args.n_cond, replace=False)
    requested = np.stack([np.asarray(test_stats[STATS_KEYS[p]]["values"])[pick] for p in PROPS], axis=1)
    for k, name in enumerate(PROPS):
        requested[:, k] = np.clip(requested[:, k], gen.conditions[name].low, gen.conditions[name].high)
    settings = {"multi": list(PROPS), **{p: [p] for p in args.single}}

    main_result = evaluate_graph_dit(gen, args, args.n, requested, settings, "graph-dit", data)
    report["moses"], report["control"] = main_result["moses"], main_result["control"]

    report["ablation"] = {}
    for spec in args.ablation:
        label, _, path = spec.partition("=")
        other = load(path)
        result = evaluate_graph_dit(other, args, args.n_ablation, requested, {"multi": list(PROPS)}, label, data)
        report["ablation"][label] = {"checkpoint": path, **result}

    if args.char_rnn:
        rnn = load_char_rnn(args.char_rnn)
        smiles, seconds = cached_sample(lambda n, _t, seed: rnn.sample(n, seed=seed), args.n, {},
                                        args.cache / "char-rnn_uncond.jsonl", args.chunk, "char-rnn")
        moses = moses_block(smiles, seconds, data, args.cache / "char-rnn_uncond.metrics.json")
        report["char_rnn"] = {"checkpoint": str(args.char_rnn), "training": rnn.card.get("training", {}),
                              "moses": moses}
        print("moses char-rnn", moses, flush=True)

    report["speed"] = speed(args) if args.speed_batches else []
    report["wall_minutes"] = round((time.time() - started) / 60, 1)
    write(report, args.out)
    if args.card:
        update_card(args.card, report, describe_targets(gen.conditions))
        if args.char_rnn:
            update_card_metrics(args.char_rnn.with_suffix(".json"), report["char_rnn"]["moses"], report)
    return report


def headline(m: dict[str, Any]) -> dict[str, float]:
    return {k: round(float(m[k]), 4) for k in ("valid", "unique", "novel", "fcd_test", "snn_test", "intdiv1",
                                                "scaf_test", "qed_mean") if k in m}


def update_card_metrics(path: Path, moses: dict[str, Any], report: dict[str, Any]) -> None:
    """The baseline's MOSES numbers into its model card JSON (``designer models`` shows them)."""
    card = json.loads(path.read_text()) if path.exists() else {}
    card.update({"metrics": headline(moses),
                 "benchmark": {"n": report["n"], "results": "benchmarks/results/graph_dit.md"}})
    path.write_text(json.dumps(card, indent=1) + "\n")


def update_card(path: Path, report: dict[str, Any], targets: list[str]) -> None:
    """Headline numbers and the targets it takes (``designer generate --help`` lists them) into the model
    card JSON that ``designer models`` shows."""
    card = json.loads(path.read_text()) if path.exists() else {}
    numbers = headline(report["moses"])
    for label, row in report["control"].items():
        for p in row["conditions"]:
            numbers[f"mae_{p}_{label}"] = round(float(row[f"mae_{p}"]), 4)
            numbers[f"mae_{p}_{label}_dropped"] = round(float(row[f"mae_{p}_unconditional"]), 4)
    card.update({"trained_on": report["trained_on"], "metrics": numbers, "targets": targets,
                 "benchmark": {"n": report["n"], "n_cond": report["n_cond"], "sampling_steps": report["sampling_steps"],
                               "guidance": report["guidance"], "results": "benchmarks/results/graph_dit.md"}})
    path.write_text(json.dumps(card, indent=2) + "\n")


def write(report: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2, default=float) + "\n")
    m = report["moses"]
    lines = [
        "# Graph DiT benchmark (CPU)", "",
        f"Checkpoint `{report['checkpoint']}` — {report['trained_on']}; training "
        f"{ {k: v for k, v in report['training'].items() if k != 'curve'} } (curve: the model card).",
        f"Sampling: {report['sampling_steps']} reverse steps placed {report.get('spacing', 'linear')} (T = "
        f"{report['T']}; duplicates merge), guidance {report['guidance']}, "
        f"{report['threads']} thread(s). Unconditional n = {report['n']}; condition control n = {report['n_cond']} "
        "per setting.", "",
        "## MOSES metrics (unconditional, vs MOSES test; validity without repair)", "",
        "| valid | unique | novel | FCD/Test | FCD floor (test, same n) | SNN/Test | Frag/Test | Scaf/Test "
        "| IntDiv1 | IntDiv2 | mean QED (valid) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        "| " + " | ".join(f"{m.get(k, float('nan')):.3f}" for k in
                         ("valid", "unique", "novel", "fcd_test", "fcd_test_floor_same_n", "snn_test", "frag_test",
                          "scaf_test", "intdiv1", "intdiv2", "qed_mean")) + " |", "",
        f"MOSES test set mean QED: {report.get('test_qed_mean', float('nan')):.3f}.", "",
        "MOSES anchors (30k samples): CharRNN valid 0.975, FCD/Test 0.073, novelty 0.842; VAE 0.977 / 0.099.", "",
        "## Condition control: MAE |requested − achieved| (exact RDKit), targets from the MOSES test set", "",
        "| setting | valid | property | MAE conditional | MAE conditions dropped | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for label, row in report["control"].items():
        for p in row["conditions"]:
            lines.append(f"| {label} | {row['valid']:.3f} | {p} | {row[f'mae_{p}']:.3f} | "
                         f"{row[f'mae_{p}_unconditional']:.3f} | {row[f'ratio_{p}']:.2f} |")
    if report.get("ablation"):
        lines += ["", f"## Ablation: graph-dependent vs independent atom/bond noise (n = {report['n_ablation']} "
                  f"unconditional; condition control n = {report['n_cond']}, all four properties given)", "",
                  "| model | noise | training steps | valid | unique | novel | FCD/Test | FCD floor | SNN/Test "
                  "| MAE QED | MAE SA | MAE logP | MAE MW | ratios QED/SA/logP/MW |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for label, res in report["ablation"].items():
            m, c = res["moses"], res["control"]["multi"]
            lines.append(
                f"| {label} | {res['noise']} | {res['training'].get('steps', '?')} | "
                + " | ".join(f"{m.get(k, float('nan')):.3f}" for k in
                             ("valid", "unique", "novel", "fcd_test", "fcd_test_floor_same_n", "snn_test"))
                + " | " + " | ".join(f"{c[f'mae_{p}']:.3f}" for p in PROPS) + " | "
                + " / ".join(f"{c[f'ratio_{p}']:.2f}" for p in PROPS) + " |")
    if report.get("char_rnn"):
        rnn = report["char_rnn"]
        lines += ["", f"## Baseline: SMILES CharRNN on the same molecules and CPU budget (n = {report['n']})", "",
                  f"Checkpoint `{rnn['checkpoint']}`; training {rnn['training']}.", "",
                  "| model | valid | unique | novel | FCD/Test | FCD floor | SNN/Test | Frag/Test | Scaf/Test "
                  "| IntDiv1 | mol/s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for label, m in (("graph-dit", report["moses"]), ("char-rnn", rnn["moses"])):
            keys = ("valid", "unique", "novel", "fcd_test", "fcd_test_floor_same_n", "snn_test", "frag_test",
                    "scaf_test", "intdiv1", "mol_per_s")
            lines.append(f"| {label} | " + " | ".join(f"{m.get(k, float('nan')):.3f}" for k in keys) + " |")
    lines += ["", "## Sampling speed (guided, target qed = 0.9)", "",
              "| batch | reverse steps (spacing) | seconds | mol/s | peak RSS MB |", "|---|---|---|---|---|"]
    for row in report["speed"]:
        lines.append(f"| {row['batch']} | {row['steps']} ({row.get('spacing', 'linear')}) | {row['seconds']} | "
                     f"{row['mol_per_s']} | {row['peak_rss_mb']} |")
    if report.get("speed_note"):
        lines += ["", report["speed_note"]]
    lines += ["", f"Benchmark wall time: {report['wall_minutes']} min.", ""]
    out.with_suffix(".md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
