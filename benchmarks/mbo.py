"""Offline model-based optimisation benchmark (issue #6), design-bench protocol.

Every method on every task, 128 designs each, normalised score (y − y_min)/(y_max − y_min) with
y_min/y_max over the full task data, 100th and 50th percentiles, mean ± std over the seeds, and the
wall-clock seconds per run. Seeds are the outer loop and the results files are rewritten after each
seed, so an interrupted run still leaves every method with the same number of seeds.

    OMP_NUM_THREADS=1 python benchmarks/mbo.py --seeds 8

CPU budget overrides (``BUDGET``) shrink some methods' kernel subsets and step counts so that the whole
run fits a shared 2-core machine; each run records the overrides it ran with (``overrides``), so runs
made under different budgets can share one results file (``--merge``) and stay apart in its tables.

    OMP_NUM_THREADS=1 python benchmarks/mbo.py --tasks tfbind8-six6 --labels 1 3 5 10 20 --seeds 0 1
    (BDI's final score against its label y_h; reported, not tuned: see docs/mbo.md)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from designer.workflows.mbo.optimizers import OPTIMIZERS, Optimizer
from designer.workflows.mbo.run import optimize
from designer.workflows.mbo.tasks import task

RESULTS = Path(__file__).resolve().parent / "results"
TASKS = ["tfbind8-six6", "tfbind8", "ehrlich-dna", "gb1"]
METHODS = ["best-of-data", "grad-ascent", "grad-ascent-adaptive-eta", "coms", "ga", "bdi", "bdi-forward-only",
           "bdi-backward-only", "bib", "bib-forward-only", "bib-backward-only", "bib-fixed-gamma", "bib-fixed-eta"]
BUDGET: dict[str, dict[str, int]] = {  # attribute overrides for the CPU budget (documented in docs/mbo.md)
    "bdi": {"kernel_points": 8192},  # registered 200 steps; blocked Cholesky makes 8,192 points affordable
    "bib": {"kernel_points": 2048, "steps": 50, "proxy_epochs": 10, "proxy_points": 4096},
    "grad-ascent": {"proxy_epochs": 10, "proxy_points": 4096},
    "ga": {"proxy_epochs": 10, "proxy_points": 4096, "generations": 30},
    "coms": {"epochs": 10, "proxy_points": 4096},
}


def overrides_for(method: str, budget: dict[str, dict[str, int]]) -> dict[str, int]:
    """The budget's attribute overrides that apply to ``method`` (its family's, e.g. bdi for bdi-*)."""
    chosen = OPTIMIZERS[method]()
    return {attribute: value for family, overrides in budget.items()
            if method == family or method.startswith(family + "-")
            for attribute, value in overrides.items() if hasattr(chosen, attribute)}


def configured(method: str, budget: dict[str, dict[str, int]]) -> Optimizer:
    """The registered optimizer with the budget's attribute overrides applied."""
    chosen = OPTIMIZERS[method]()
    for attribute, value in overrides_for(method, budget).items():
        setattr(chosen, attribute, value)
    return chosen


def setting(run: dict) -> str:
    """A run's settings in words: 'registered' or its overrides."""
    overrides = run.get("overrides") or {}
    return ", ".join(f"{k}={v}" for k, v in sorted(overrides.items())) if overrides else "registered"


def row_name(run: dict) -> str:
    """Summary key of a run: the method, with its settings when they are not the registered ones and
    with its label when it is a label-sensitivity run."""
    name = run["method"] if "label" not in run else f"{run['method']} y_h={run['label']:g}"
    return name if setting(run) == "registered" else f"{name} [{setting(run)}]"


def summarise(runs: list[dict]) -> dict[str, dict[str, dict[str, float]]]:
    """mean ± std over seeds of each (task, method, settings)'s 100th/50th percentile and seconds."""
    table: dict[str, dict[str, dict[str, list[float]]]] = {}
    for run in runs:
        cells = table.setdefault(run["task"], {}).setdefault(row_name(run), {"p100": [], "p50": [], "seconds": []})
        for key in ("p100", "p50", "seconds"):
            cells[key].append(run[key])
    return {t: {m: {f"{k}_{s}": float(getattr(np, s)(v)) for k, v in cells.items() for s in ("mean", "std")}
                | {"seeds": len(cells["p100"])} for m, cells in methods.items()} for t, methods in table.items()}


def markdown(summary: dict, meta: dict) -> str:
    lines = ["# Offline MBO benchmark (issue #6)", "",
             f"128 designs, normalised score, mean ± std over seeds; {meta['note']}", ""]
    for name, methods in summary.items():
        lines += [f"## {name}", "", "| method | 100th pct | 50th pct | seconds | seeds |", "|---|---|---|---|---|"]
        for method, s in methods.items():
            lines.append(f"| {method} | {s['p100_mean']:.3f} ± {s['p100_std']:.3f} | {s['p50_mean']:.3f} ± "
                         f"{s['p50_std']:.3f} | {s['seconds_mean']:.1f} | {s['seeds']} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="*", default=list(range(8)))
    parser.add_argument("--merge", nargs="*",
                        help="combine these results files (names, later ones win) into --name and stop")
    parser.add_argument("--tasks", nargs="*", default=TASKS)
    parser.add_argument("--methods", nargs="*", default=METHODS)
    parser.add_argument("--n-designs", type=int, default=128)
    parser.add_argument("--name", default="mbo")
    parser.add_argument("--full-budget", action="store_true",
                        help="no CPU budget overrides: every method at its registered (reference) settings")
    parser.add_argument("--labels", type=float, nargs="*",
                        help="instead of the methods: BDI with each of these labels y_h (z-scored units), "
                             "one kernel solve per seed shared by the labels")
    arguments = parser.parse_args()
    if arguments.merge:
        merge(arguments.merge, arguments.name)
        return
    torch.set_num_threads(1)
    tasks = {name: task(name) for name in arguments.tasks}
    runs: list[dict] = []
    budget = {} if arguments.full_budget else BUDGET
    note = ("CPU budget overrides: " + ", ".join(f"{m} {o}" for m, o in budget.items())) if budget else \
        "no budget overrides (every method at its registered settings)"
    meta = {"budget": budget, "n_designs": arguments.n_designs, "started": time.strftime("%Y-%m-%d %H:%M UTC"),
            "note": note}
    for seed in arguments.seeds:
        for name, built in tasks.items():
            if arguments.labels:
                runs += label_runs(name, built, arguments.labels, budget, arguments.n_designs, seed)
                continue
            for method in arguments.methods:
                table = optimize(built, configured(method, budget), n_designs=arguments.n_designs, seed=seed)
                scores = table.columns["normalised_score"]
                runs.append({"task": name, "method": method, "seed": seed, "p100": float(scores.max()),
                             "p50": float(np.median(scores)), "seconds": float(table.columns["seconds"][0]),
                             "in_data": float(table.columns["in_data"].mean()),
                             "overrides": overrides_for(method, budget)})
                print(json.dumps(runs[-1]), flush=True)
        write(arguments.name, meta, runs)


def label_runs(name: str, built, labels: list[float], budget: dict[str, dict[str, int]], n_designs: int,
               seed: int) -> list[dict]:
    """BDI on one task and seed with each label; the kernel solve (label-independent) is done once and
    its seconds are added to every label's run, so each run's seconds are those of a full fit."""
    bdi = configured("bdi", budget)
    torch.manual_seed(seed)
    started = time.perf_counter()
    state = bdi.prepare(built.data, seed)
    solve_seconds = time.perf_counter() - started
    runs = []
    for label in labels:
        bdi.label = label
        started = time.perf_counter()
        scores = built.normalised(built.objective(bdi.ascend(built.data, state, n_designs)))
        runs.append({"task": name, "method": "bdi", "label": label, "seed": seed, "p100": float(scores.max()),
                     "p50": float(np.median(scores)), "seconds": solve_seconds + time.perf_counter() - started,
                     "overrides": overrides_for("bdi", budget)})
        print(json.dumps(runs[-1]), flush=True)
    return runs


# Registered defaults that changed after runs were recorded without their overrides (before each run
# carried ``overrides``): merged legacy runs get these, so their rows say what they ran with.
LEGACY_DEFAULTS: dict[str, dict[str, int]] = {"bdi": {"kernel_points": 2048}}


def merge(names: list[str], name: str) -> None:
    """Combine results files into ``name``: a later file's run of the same (task, method, label,
    settings, seed) replaces an earlier one; runs from files written before runs recorded their
    overrides get them from their file's budget (over ``LEGACY_DEFAULTS``)."""
    parts = [(part, json.loads((RESULTS / f"{part}.json").read_text())) for part in names]
    latest: dict[tuple, dict] = {}
    for _, content in parts:
        for run in content["runs"]:
            if "overrides" not in run:
                run = run | {"overrides": overrides_for(run["method"], LEGACY_DEFAULTS)
                             | overrides_for(run["method"], content["meta"].get("budget", {}))}
            latest[(run["task"], row_name(run), run["seed"])] = run
    runs = sorted(latest.values(), key=lambda r: (r["seed"], r["task"]))
    sources = [{"file": part, **{k: content["meta"].get(k) for k in ("started", "note")},
                "tasks": sorted({r["task"] for r in content["runs"]})} for part, content in parts]
    meta = {"n_designs": parts[0][1]["meta"].get("n_designs", 128), "sources": sources,
            "note": "merged from " + "; ".join(f"{s['file']} ({s['started']}: {', '.join(s['tasks'])})"
                                              for s in sources)
                    + "; rows name any settings that differ from the registered ones"}
    write(name, meta, runs)


def write(name: str, meta: dict, runs: list[dict]) -> None:
    summary = summarise(runs)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps({"meta": meta, "summary": summary, "runs": runs}, indent=1) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown(summary, meta))


if __name__ == "__main__":
    main()
