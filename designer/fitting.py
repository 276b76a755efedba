"""The one training loop: Lightning ``fit`` with a compute budget, a validation curve, periodic export
of the shippable checkpoint, and a resumable state.

Every family's Lightning module holds only its math; :func:`fit` runs it. It

- validates every ``every`` optimizer steps and then calls ``write(step, curve)`` (the family writes
  its shippable checkpoint with the curve so far, so stopping early loses little);
- stops at the first limit reached of ``max_steps``, ``max_epochs``, ``cpu_minutes`` (process CPU
  time, summed over resumed runs, so models compared in a benchmark get equal compute whatever else
  the machine was doing) and ``max_minutes`` (wall clock);
- keeps Lightning's resumable state in ``run_dir/last.ckpt`` (every ``every`` steps, or every
  ``checkpoint_minutes`` of wall time), optionally also as a packed copy to commit
  (:func:`designer.checkpoints.pack`), and ``resume=True`` continues weights, optimizer, step count
  and curve from it;
- shows a rich progress bar (step, loss, ETA) on a terminal and plain log lines otherwise.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import lightning as L
import torch

from designer.checkpoints import pack, save_payload, unpack

Curve = list[dict[str, float]]


@dataclass
class Budget:
    """Training stops at the first limit reached; ``None`` means no limit of that kind."""

    max_steps: int | None = None
    max_epochs: int | None = None
    cpu_minutes: float | None = None
    max_minutes: float | None = None

    def __post_init__(self) -> None:
        if not any(v is not None for v in (self.max_steps, self.max_epochs, self.cpu_minutes, self.max_minutes)):
            raise ValueError("a training budget needs max_steps, max_epochs, cpu_minutes or max_minutes")


def curve_summary(curve: Curve) -> dict[str, Any]:
    """A model card's training facts from a checkpoint's curve: the last step, the CPU minutes spent
    and the last validation loss measured ({} for an empty curve)."""
    if not curve:
        return {}
    return {"steps": curve[-1]["step"], "cpu_minutes": curve[-1]["cpu_minutes"],
            "val_loss": next((point["val_loss"] for point in reversed(curve) if "val_loss" in point), None)}


def exported_curve(path: Path) -> Curve:
    """The validation curve an exported checkpoint stores (``meta.training.curve``; [] if there is no
    file): what a resumed run continues, with its CPU minutes."""
    path = Path(path)
    if not path.exists():
        return []
    return torch.load(path, map_location="cpu", weights_only=True).get("meta", {}).get("training", {}).get("curve", [])


class CurveKeeper(L.Callback):
    """Validation curve, export after each validation, the CPU-time budget and the packed resume copy."""

    def __init__(self, write: Callable[[int, Curve], None], cpu_minutes: float | None, curve: Curve,
                 resume_copy: Path | None, log_every: int, half: tuple[str, ...] = ()) -> None:
        self.write, self.limit, self.curve, self.resume_copy = write, cpu_minutes, list(curve), resume_copy
        self.log_every, self.half = log_every, half
        self.start, self.cpu_before = time.process_time(), self.curve[-1]["cpu_minutes"] if self.curve else 0.0

    def cpu_minutes(self) -> float:
        return self.cpu_before + (time.process_time() - self.start) / 60

    def on_save_checkpoint(self, trainer, module, checkpoint) -> None:  # type: ignore[no-untyped-def]
        checkpoint["designer_curve"] = self.curve  # a resumed run continues the curve and the CPU budget
        if self.resume_copy is not None:  # a compact copy to commit: a fresh clone continues the run
            save_payload(pack(checkpoint, half=self.half), self.resume_copy)

    def on_load_checkpoint(self, trainer, module, checkpoint) -> None:  # type: ignore[no-untyped-def]
        if checkpoint.get("designer_curve") and not self.curve:
            self.curve = list(checkpoint["designer_curve"])
        # An export can be ahead of the saved state: the points after the state's step (and their CPU
        # minutes) belong to training that was not kept.
        self.curve = [point for point in self.curve if point["step"] <= checkpoint.get("global_step", 0)]
        self.cpu_before = self.curve[-1]["cpu_minutes"] if self.curve else 0.0

    def on_validation_end(self, trainer, module) -> None:  # type: ignore[no-untyped-def]
        val = trainer.callback_metrics.get("val_loss")
        if val is None or trainer.sanity_checking:
            return
        self.curve.append({"step": trainer.global_step, "val_loss": round(float(val), 5),
                           "cpu_minutes": round(self.cpu_minutes(), 2)})
        if not _interactive():
            print(f"step {trainer.global_step} val_loss {float(val):.4f} cpu {self.cpu_minutes():.1f} min", flush=True)
        self.write(trainer.global_step, self.curve)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:  # type: ignore[no-untyped-def]
        if not _interactive() and trainer.global_step % self.log_every == 0:
            loss = outputs["loss"] if isinstance(outputs, dict) else outputs
            print(f"step {trainer.global_step} loss {float(loss):.4f} cpu {self.cpu_minutes():.1f} min", flush=True)
        if self.limit is not None and self.cpu_minutes() >= self.limit:
            trainer.should_stop = True


def _interactive() -> bool:
    return sys.stderr.isatty()


def fit(module: L.LightningModule, train_loader: Any, val_loader: Any, *, write: Callable[[int, Curve], None],
        run_dir: Path, budget: Budget, every: int, resume: bool = False, resume_copy: Path | None = None,
        checkpoint_minutes: float | None = None, val_batches: int | None = None, log_every: int = 100,
        gradient_clip: float = 1.0, curve: Curve | None = None, half: tuple[str, ...] = (),
        extra_callbacks: list[L.Callback] | None = None, precision: str = "32-true") -> Curve:
    """Train ``module`` (its ``validation_step`` must log ``val_loss``) within ``budget``; returns the
    validation curve. ``write(step, curve)`` runs after every validation and once at the end.

    ``curve`` seeds the curve of a resumed run whose state predates the curve being stored in it;
    ``half`` names weights (e.g. an EMA copy) the packed resume copy keeps in bfloat16; ``precision`` is
    Lightning's (``"bf16-mixed"``: forward passes under bfloat16 autocast, weights and optimizer in float32)."""
    run_dir = Path(run_dir)
    keeper = CurveKeeper(write, budget.cpu_minutes, curve or [], resume_copy, log_every, half)
    if checkpoint_minutes is not None:
        last = L.pytorch.callbacks.ModelCheckpoint(dirpath=run_dir, train_time_interval=timedelta(
            minutes=checkpoint_minutes), save_last=True, save_top_k=0)
    else:
        last = L.pytorch.callbacks.ModelCheckpoint(dirpath=run_dir, every_n_train_steps=every, save_last=True,
                                                   save_top_k=0)
    callbacks: list[L.Callback] = [keeper, last, *(extra_callbacks or [])]
    if _interactive():
        callbacks.append(L.pytorch.callbacks.RichProgressBar())
    trainer = L.Trainer(accelerator="auto", devices=1, max_epochs=budget.max_epochs or -1,
                        max_steps=budget.max_steps or -1,
                        max_time={"minutes": budget.max_minutes} if budget.max_minutes else None,
                        callbacks=callbacks, logger=L.pytorch.loggers.CSVLogger(run_dir, name="logs"),
                        enable_progress_bar=_interactive(), val_check_interval=every,
                        check_val_every_n_epoch=None, limit_val_batches=val_batches,
                        num_sanity_val_steps=0, gradient_clip_val=gradient_clip, enable_model_summary=False,
                        log_every_n_steps=min(50, every), precision=precision)
    ckpt = None  # resume from this machine's run directory, else from the committed packed copy
    if resume and (run_dir / "last.ckpt").exists():
        ckpt = str(run_dir / "last.ckpt")
    elif resume and resume_copy is not None and resume_copy.exists():
        ckpt = unpack(resume_copy, run_dir)
    if val_batches is not None and val_batches <= 0:
        raise ValueError("val_batches must be positive")
    trainer.fit(module, train_loader, val_loader, ckpt_path=ckpt)
    if not keeper.curve or keeper.curve[-1]["step"] != trainer.global_step:
        trainer.validate(module, val_loader, verbose=False)  # a final point on the curve, then export
    trainer.save_checkpoint(run_dir / "last.ckpt")  # --resume continues from the exported step, not the last save
    return keeper.curve


def threads(count: int) -> None:
    """Intra-op CPU threads for this process (1 leaves the other core to other work)."""
    torch.set_num_threads(max(1, int(count)))


@dataclass
class RunOptions:
    """What every family's ``fit_*`` function needs besides its data and sizes (``designer train``)."""

    out: Path                 # the shippable checkpoint, rewritten after every validation
    run_dir: Path             # Lightning's resumable state
    budget: Budget
    lr: float
    batch_size: int = 64
    every: int = 200          # validate and export every this many optimizer steps
    seed: int = 0
    resume: bool = False
    checkpoint_minutes: float | None = None
    threads: int = 1
    resume_copy: Path | None = None  # packed Lightning state to commit: a fresh clone continues the run
    precision: str = "32-true"       # Lightning's; "bf16-mixed" where a family's benchmark showed it is as good
