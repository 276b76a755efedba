"""FoldingDiff training in bfloat16 autocast vs float32 (issue #14, item 2): is the cheaper step as good?

    python benchmarks/foldingdiff_precision.py --steps 300

A paired comparison. Both arms continue the long run from its committed Lightning state (weights, AdamW
moments and the learning rate its schedule had reached), with the same seed, and so the same length-bucketed
batches, diffusion times and noise; they differ only in whether the forward pass runs under
``torch.autocast("cpu", torch.bfloat16)``, which is what Lightning's ``precision="bf16-mixed"`` does (weights,
optimizer state and loss reduction stay float32). Reported per arm: process CPU seconds per optimizer step and
the validation loss before and after, measured in float32 on all validation chains with the same fixed t and
noise draws (``--val-repeats`` passes averaged), so the only difference left is the arithmetic. Writes
``benchmarks/results/foldingdiff_precision.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def validation_loss(module: Any, batches: list[tuple[torch.Tensor, torch.Tensor]], repeats: int) -> float:
    """Mean float32 loss over the validation batches, ``repeats`` fixed-seed passes of t and noise draws."""
    module.eval()
    losses = []
    with torch.no_grad():
        for r in range(repeats):
            torch.manual_seed(1000 + r)
            losses += [float(module.loss(b)) for b in batches]
    module.train()
    return float(np.mean(losses))


def main(argv: list[str] | None = None) -> None:
    from designer.checkpoints import read_payload, unpack
    from designer.models.foldingdiff.data import LengthBuckets, load_chains, padded, trimmed
    from designer.models.foldingdiff.lightning import FoldingDiffModule
    from designer.models.foldingdiff.sample import CHECKPOINT_FORMAT

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=Path, default=ROOT / "models/foldingdiff/training/foldingdiff_v2.pt",
                        help="the exported checkpoint (model sizes, angle means)")
    parser.add_argument("--state", type=Path, default=ROOT / "models/foldingdiff/training/foldingdiff_v2_run.ckpt",
                        help="its Lightning state (packed or not): weights and optimizer to continue from")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--val-repeats", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    payload = read_payload(args.start, CHECKPOINT_FORMAT, "FoldingDiff")
    state = torch.load(unpack(args.state, Path(tempfile.mkdtemp())), map_location="cpu", weights_only=False)
    lr = float(state["lr_schedulers"][0]["_last_lr"][0])
    mean = np.asarray(payload["mean"])
    chains = load_chains()

    def part(name: str) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        angles = [a for a, s in zip(chains.angles, chains.split, strict=True) if s == name]
        x, m = padded(angles)
        shifted = np.where(m, np.angle(np.exp(1j * (x - mean))), 0).astype(np.float32)
        return torch.from_numpy(shifted), torch.from_numpy(m), [len(a) for a in angles]

    train_x, train_m, train_lengths = part("train")
    val_x, val_m, _ = part("validation")
    val_batches = [(val_x[i:i + 256], val_m[i:i + 256]) for i in range(0, len(val_x), 256)]
    report: dict[str, Any] = {"start": str(args.start.relative_to(ROOT)), "start_steps":
                              int(state["global_step"]), "steps": args.steps, "lr": lr,
                              "batch_size": args.batch_size, "val_repeats": args.val_repeats, "arms": {}}
    for arm in ("float32", "bf16-mixed"):
        module = FoldingDiffModule(payload["model_args"], int(payload["steps"]))
        module.load_state_dict(state["state_dict"])
        before = validation_loss(module, val_batches, args.val_repeats)
        optimizer = module.configure_optimizers()["optimizer"]  # the run's AdamW, then its saved moments
        optimizer.load_state_dict(state["optimizer_states"][0])
        for group in optimizer.param_groups:  # constant at the reached rate: 300 steps of a 100,000-step decay
            group["lr"] = lr
        torch.manual_seed(args.seed)
        buckets = LengthBuckets(train_lengths, args.batch_size, args.seed)
        order = (rows for _ in iter(int, 1) for rows in buckets)  # epoch after epoch
        losses, seconds = [], 0.0
        for _ in range(args.steps):
            rows = next(order)
            batch = trimmed([(train_x[i], train_m[i]) for i in rows])
            start = time.process_time()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=arm == "bf16-mixed"):
                loss = module.loss(batch)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
            optimizer.step()
            seconds += time.process_time() - start
            losses.append(float(loss.detach()))
        after = validation_loss(module, val_batches, args.val_repeats)
        report["arms"][arm] = {"cpu_seconds_per_step": round(seconds / args.steps, 4),
                               "val_loss_before": round(before, 5), "val_loss_after": round(after, 5),
                               "train_loss_last_100": round(float(np.mean(losses[-100:])), 5)}
        print(arm, report["arms"][arm], flush=True)
    f32, b16 = report["arms"]["float32"], report["arms"]["bf16-mixed"]
    report["time_ratio_bf16_over_f32"] = round(b16["cpu_seconds_per_step"] / f32["cpu_seconds_per_step"], 3)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "foldingdiff_precision.json").write_text(json.dumps(report, indent=1) + "\n")
    lines = ["# FoldingDiff: bfloat16 autocast vs float32 training (paired)", "",
             f"`python benchmarks/foldingdiff_precision.py --steps {args.steps}`: both arms from "
             f"`{report['start']}` (step {report['start_steps']}), same seed, batches, t and noise; validation "
             f"loss in float32 on the validation chains, {args.val_repeats} fixed-seed passes.", "",
             "| arm | CPU s / step | val loss before | val loss after | train loss, last 100 steps |",
             "|---|---|---|---|---|"]
    lines += [f"| {name} | {a['cpu_seconds_per_step']} | {a['val_loss_before']} | {a['val_loss_after']} | "
              f"{a['train_loss_last_100']} |" for name, a in report["arms"].items()]
    lines += ["", f"Time per step, bf16 / float32: {report['time_ratio_bf16_over_f32']}.", ""]
    (RESULTS / "foldingdiff_precision.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
