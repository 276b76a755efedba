"""FoldingDiff model size at equal CPU time (issue #14, item 2): which size to spend the long run on.

    python benchmarks/foldingdiff_sizes.py --cpu-minutes 20 --sizes 4x128 6x192

Each size (LAYERSxHIDDEN, 8 heads) trains from scratch on the shipped backbones with the shipped
config's T, batch, learning rate and seed, for the same process CPU minutes (one thread each, run side
by side), through the shipped training loop (``python -m designer.models.foldingdiff.train``). The
schedule horizon is ``--horizon`` steps, as in the long run these minutes would open, so every size
is compared at the same point of its warm-up and decay. Reported per size: parameters, steps, and
the validation loss (held-out chains, fixed t and noise draws per validation batch as Lightning
logs it) against CPU minutes. Short budgets favour small models, so the slope over the last third is
reported beside the final loss. Writes ``benchmarks/results/foldingdiff_sizes.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def config_text(size: str, work: Path, shipped: dict[str, Any], cpu_minutes: float, horizon: int) -> str:
    layers, hidden = (int(v) for v in size.split("x"))
    return "\n".join([
        f'checkpoint = "{work / size}.pt"', f'run_dir = "{work / size}_run"', f"steps = {shipped['steps']}",
        f"batch_size = {shipped['batch_size']}", f"lr = {shipped['lr']}", f"max_steps = {horizon}",
        f"cpu_minutes = {cpu_minutes}", "val_every = 200", "threads = 1", f"seed = {shipped['seed']}", "",
        "[model]", f"hidden = {hidden}", f"layers = {layers}", "heads = 8",
        f"max_offset = {shipped['model']['max_offset']}", f"dropout = {shipped['model']['dropout']}", ""])


def summary(curve: list[dict[str, float]], parameters: int) -> dict[str, Any]:
    minutes = np.array([p["cpu_minutes"] for p in curve])
    loss = np.array([p["val_loss"] for p in curve])
    tail = minutes >= minutes[-1] * 2 / 3
    slope = float(np.polyfit(minutes[tail], loss[tail], 1)[0]) if tail.sum() >= 2 else float("nan")
    return {"parameters": parameters, "steps": int(curve[-1]["step"]), "cpu_minutes": float(minutes[-1]),
            "final_val_loss": float(loss[-1]), "best_val_loss": float(loss.min()),
            "slope_last_third_per_min": slope, "curve": curve}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["4x128", "6x192"])
    parser.add_argument("--cpu-minutes", type=float, default=20.0)
    parser.add_argument("--horizon", type=int, default=100_000, help="schedule length in steps (the long run's)")
    parser.add_argument("--work", type=Path, default=RESULTS / ".cache" / "foldingdiff_sizes")
    args = parser.parse_args(argv)
    shipped = tomllib.loads((ROOT / "configs" / "foldingdiff.toml").read_text())
    args.work.mkdir(parents=True, exist_ok=True)
    children = []
    for size in args.sizes:
        config = args.work / f"{size}.toml"
        config.write_text(config_text(size, args.work, shipped, args.cpu_minutes, args.horizon))
        log = (args.work / f"{size}.log").open("w")
        children.append(subprocess.Popen([sys.executable, "-m", "designer.models.foldingdiff.train", "--config",
                                          str(config)], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT))
    if any(child.wait() for child in children):
        raise SystemExit(f"a training failed: see {args.work}/*.log")
    import torch

    rows = {}
    for size in args.sizes:
        card = json.loads((args.work / f"{size}.json").read_text())
        state = torch.load(args.work / f"{size}.pt", map_location="cpu", weights_only=True)["state_dict"]
        rows[size] = summary(card["curve"], sum(v.numel() for v in state.values()))
    report = {"cpu_minutes": args.cpu_minutes, "horizon": args.horizon, "sizes": rows,
              "command": "python benchmarks/foldingdiff_sizes.py " + " ".join(argv or sys.argv[1:])}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "foldingdiff_sizes.json").write_text(json.dumps(report, indent=1) + "\n")
    lines = ["# FoldingDiff size at equal CPU time", "", f"Command: `{report['command']}`", "",
             f"{args.cpu_minutes:g} process CPU-minutes each (one thread, side by side), schedule horizon "
             f"{args.horizon:,} steps; validation loss = smooth-L1 on held-out chains.", "",
             "| size (layers × hidden) | parameters | steps | final val loss | best | slope over the last third "
             "(per CPU-min) |", "|---|---|---|---|---|---|"]
    for size, r in rows.items():
        lines.append(f"| {size.replace('x', ' × ')} | {r['parameters']:,} | {r['steps']:,} | {r['final_val_loss']:.4f} "
                     f"| {r['best_val_loss']:.4f} | {r['slope_last_third_per_min']:.2e} |")
    (RESULTS / "foldingdiff_sizes.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
