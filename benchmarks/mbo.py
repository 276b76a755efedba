"""Offline model-based optimisation benchmark (issue #6), design-bench protocol.

Every method on every task, 128 designs each, normalised score (y − y_min)/(y_max − y_min) with
y_min/y_max over the full task data, 100th and 50th percentiles, mean ± std over the seeds, and the
wall-clock seconds per run. Seeds are the outer loop and the results files are rewritten after each
seed, so an interrupted run still leaves every method with the same number of seeds.

    OMP_NUM_THREADS=1 python benchmarks/mbo.py --seeds 8

CPU budget overrides (``BUDGET``) shrink some methods' kernel subsets and step counts so that the whole
run fits ~40 min on a shared 2-core machine; they are written into the results file.
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
TASKS = ["tfbind8", "ehrlich-dna", "gb1"]
METHODS = ["best-of-data", "grad-ascent", "grad-ascent-adaptive-eta", "coms", "ga", "bdi", "bdi-forward-only",
           "bdi-backward-only", "bib", "bib-forward-only", "bib-backward-only", "bib-fixed-gamma", "bib-fixed-eta"]
BUDGET: dict[str, dict[str, int]] = {  # attribute overrides for the CPU budget (documented in docs/mbo.md)
    "bdi": {"kernel_points": 1024, "steps": 100},
    "bib": {"kernel_points": 2048, "steps": 50, "proxy_epochs": 10, "proxy_points": 4096},
    "grad-ascent": {"proxy_epochs": 10, "proxy_points": 4096},
    "ga": {"proxy_epochs": 10, "proxy_points": 4096, "generations": 30},
    "coms": {"epochs": 10, "proxy_points": 4096},
}


def configured(method: str, budget: dict[str, dict[str, int]]) -> Optimizer:
    """The registered optimizer with the budget's attribute overrides applied."""
    chosen = OPTIMIZERS[method]()
    for family, overrides in budget.items():
        if method == family or method.startswith(family + "-"):
            for attribute, value in overrides.items():
                if hasattr(chosen, attribute):
                    setattr(chosen, attribute, value)
    return chosen


def summarise(runs: list[dict]) -> dict[str, dict[str, dict[str, float]]]:
    """mean ± std over seeds of each (task, method)'s 100th/50th percentile and seconds."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    for run in runs:
        table.setdefault(run["task"], {}).setdefault(run["method"], {"p100": [], "p50": [], "seconds": []})
        for key in ("p100", "p50", "seconds"):
            table[run["task"]][run["method"]][key].append(run[key])
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
    arguments = parser.parse_args()
    if arguments.merge:
        parts = [json.loads((RESULTS / f"{part}.json").read_text()) for part in arguments.merge]
        # A later file's run of the same (task, method, seed) replaces an earlier one (e.g. a task rerun).
        latest = {(r["task"], r["method"], r["seed"]): r for p in parts for r in p["runs"]}
        runs = sorted(latest.values(), key=lambda r: (r["seed"], r["task"]))
        write(arguments.name, parts[0]["meta"], runs)
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
            for method in arguments.methods:
                table = optimize(built, configured(method, budget), n_designs=arguments.n_designs, seed=seed)
                scores = table.columns["normalised_score"]
                runs.append({"task": name, "method": method, "seed": seed, "p100": float(scores.max()),
                             "p50": float(np.median(scores)), "seconds": float(table.columns["seconds"][0]),
                             "in_data": float(table.columns["in_data"].mean())})
                print(json.dumps(runs[-1]), flush=True)
        write(arguments.name, meta, runs)


def write(name: str, meta: dict, runs: list[dict]) -> None:
    summary = summarise(runs)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps({"meta": meta, "summary": summary, "runs": runs}, indent=1) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown(summary, meta))


if __name__ == "__main__":
    main()
