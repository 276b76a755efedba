"""Train the CharRNN baseline: ``python -m designer.models.char_rnn.train --config configs/char_rnn_moses.toml``.

The budget is CPU time of this process (``train.cpu_minutes``), not wall-clock time, so a run on a
busy machine gets the same compute as one on an idle machine and matches Graph DiT's budget.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader

from designer.config import read_toml
from designer.fitting import RunOptions, fit, threads
from designer.models.char_rnn.lightning import CharRNNModule
from designer.models.char_rnn.model import CharRNNConfig, Vocabulary
from designer.models.char_rnn.sample import save_checkpoint


class Budget(L.Callback):
    """Stops training after ``cpu_minutes`` of process CPU time; exports weights every ``every`` steps."""

    def __init__(self, cpu_minutes: float, every: int, export: Any) -> None:
        self.limit, self.every, self.export = cpu_minutes * 60, every, export
        self.start = time.process_time()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:  # type: ignore[no-untyped-def]
        used = time.process_time() - self.start
        if trainer.global_step % self.every == 0:
            loss = float(trainer.callback_metrics.get("loss", float("nan")))
            print(f"step {trainer.global_step} loss {loss:.4f} cpu {used / 60:.1f} min", flush=True)
            self.export(trainer.global_step, used)
        if used >= self.limit:
            trainer.should_stop = True


def train(config: dict[str, Any], config_path: str = "") -> Path:
    """Train from a parsed TOML config; returns the checkpoint path."""
    from designer.models.graph_dit.data import moses_graphs

    data_cfg, model_cfg, train_cfg = config["data"], config["model"], config["train"]
    torch.set_num_threads(int(train_cfg.get("threads", 1)))
    L.seed_everything(int(train_cfg["seed"]), workers=True)
    # The very molecules Graph DiT trains on (same subset, same seed, canonical SMILES).
    smiles = [str(s) for s in moses_graphs(int(data_cfg["n_train"]), int(data_cfg["seed"])).smiles]
    vocabulary = Vocabulary.build(smiles)
    encoded = [torch.tensor(vocabulary.encode(s)) for s in smiles]
    loader = DataLoader(encoded, batch_size=int(train_cfg["batch_size"]), shuffle=True, drop_last=True,
                        collate_fn=lambda rows: pad_sequence(rows, batch_first=True, padding_value=0))
    module = CharRNNModule(CharRNNConfig(len(vocabulary), int(model_cfg["hidden"]), int(model_cfg["layers"]),
                                         float(model_cfg["dropout"])),
                           lr=float(train_cfg["lr"]), lr_step=int(train_cfg["lr_step"]),
                           lr_gamma=float(train_cfg["lr_gamma"]))
    out = Path(train_cfg["out"])
    meta = {"trained_on": f"MOSES train split, random subset of {len(smiles)} molecules (seed {data_cfg['seed']}), "
                          "the Graph DiT training set", "command": f"python -m designer.models.char_rnn.train "
                                                                   f"--config {config_path}", "config": config}

    def export(step: int, cpu_seconds: float) -> None:
        facts = {**meta, "training": {"steps": step, "cpu_minutes": round(cpu_seconds / 60, 1),
                                      "epochs": round(step * int(train_cfg["batch_size"]) / len(smiles), 2)}}
        save_checkpoint(out, module.model, vocabulary, facts)
        out.with_suffix(".json").write_text(json.dumps(facts, indent=1) + "\n")

    budget = Budget(float(train_cfg["cpu_minutes"]), int(train_cfg["export_every_steps"]), export)
    trainer = L.Trainer(accelerator="auto", devices=1, max_epochs=-1, callbacks=[budget], logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, gradient_clip_val=5.0)
    trainer.fit(module, loader)
    export(trainer.global_step, time.process_time() - budget.start)
    return out


def smiles_loader(smiles: list[str], vocabulary: Vocabulary, batch_size: int, shuffle: bool) -> DataLoader:
    """Padded token batches (B, L) of ``[BOS, tokens, EOS]`` rows."""
    encoded = [torch.tensor(vocabulary.encode(s)) for s in smiles]
    return DataLoader(encoded, batch_size=batch_size, shuffle=shuffle, drop_last=shuffle and len(encoded) > batch_size,
                      collate_fn=lambda rows: pad_sequence(rows, batch_first=True, padding_value=0))


def fit_smiles(parts: tuple[list[str], list[str], list[str]], sizes: dict[str, Any], run: RunOptions,
               meta: dict[str, Any]) -> dict[str, Any]:
    """Train a CharRNN on the user's (train, validation, test) SMILES (``designer train``); writes
    ``run.out`` and returns the card's metrics: test NLL per token and validity/uniqueness/novelty of
    1,000 samples."""
    from designer.metrics import novelty, uniqueness, valid_smiles, validity
    from designer.models.char_rnn.sample import CharRNNGenerator

    train_smiles, val_smiles, test_smiles = parts
    threads(run.threads)
    L.seed_everything(run.seed, workers=True)
    vocabulary = Vocabulary.build([*train_smiles, *val_smiles, *test_smiles])  # tokens only, no labels
    module = CharRNNModule(CharRNNConfig(len(vocabulary), int(sizes["hidden"]), int(sizes["layers"]),
                                         float(sizes["dropout"])), lr=run.lr,
                           lr_step=int(sizes.get("lr_step", 5000)), lr_gamma=0.5)

    def write(step: int, curve: list[dict[str, float]]) -> None:
        save_checkpoint(run.out, module.model, vocabulary, {**meta, "training": {"steps": step, "curve": curve}})

    fit(module, smiles_loader(train_smiles, vocabulary, run.batch_size, True),
        smiles_loader(val_smiles, vocabulary, 256, False), write=write, run_dir=run.run_dir, budget=run.budget,
        every=run.every, resume=run.resume, checkpoint_minutes=run.checkpoint_minutes, gradient_clip=5.0)
    module.eval()
    with torch.no_grad():
        losses = [(float(module.loss(batch)), int((batch[:, 1:] > 0).sum()))
                  for batch in smiles_loader(test_smiles, vocabulary, 256, False)]
    sampled = CharRNNGenerator(module.model, vocabulary).sample_strings(1000, seed=run.seed)
    valid = valid_smiles(sampled)
    return {"test_nll_per_token": round(sum(v * n for v, n in losses) / sum(n for _, n in losses), 4),
            "valid": round(validity(sampled), 4), "unique": round(uniqueness(valid), 4),
            "novel": round(novelty(valid, set(train_smiles)), 4)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="TOML file, e.g. configs/char_rnn_moses.toml")
    parser.add_argument("--cpu-minutes", type=float, help="override train.cpu_minutes")
    args = parser.parse_args(argv)
    config = read_toml(args.config)
    if args.cpu_minutes is not None:
        config["train"]["cpu_minutes"] = args.cpu_minutes
    train(config, args.config)


if __name__ == "__main__":
    main()
