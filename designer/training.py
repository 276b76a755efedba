"""``designer train``: fit a model family to the user's own molecules and properties.

A config (TOML or a dict) names the model, the family, the data and the budget::

    name = "my-series"                 # how `designer generate --model` will call it
    family = "des-inverse"             # des-inverse | des-diffusion | des-forward | des-multitask
    [data]
    path = "series.csv"                # .csv (or .smi with a header) with a SMILES column
    structure = "smiles"
    properties = ["pic50", "logs"]     # numeric columns to condition on / to predict
    split = "random"                   # random | scaffold | column:NAME (values train/validation/test)
    [model]
    size = "small"                     # tiny | small | base, or explicit sizes next to it
    [train]
    cpu_minutes = 30                   # or max_steps; seed

The result is a model directory ``<data dir>/models/<name>/``: ``model.pt``; its card
``model.json`` (the data file's SHA-256, the rows kept and dropped and the split under ``dataset``,
the config, the loss curve, held-out numbers); and the ``config.toml`` that reproduces it. It is
registered for ``designer models`` and ``designer generate``. It is written under a temporary name
and renamed when training ends, so an interrupted or failed run never registers half a model;
``--resume`` continues the interrupted run from its Lightning state.

Families covered so far: the property ↔ SMILES transformers (``models/des_transformer``). Other
families still train through their own ``python -m designer.models.<family>.train`` (issue #16).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from designer.errors import DesignerError

FAMILIES = {"des-inverse": "inverse", "des-diffusion": "diffusion", "des-forward": "forward",
            "des-multitask": "multitask"}
SIZES: dict[str, dict[str, dict[str, Any]]] = {  # per network kind: tiny (tests), small (CPU), base
    "forward": {"tiny": {"dim": 32, "depth": 1, "heads": 4, "embed_dim": 8},
                "small": {"dim": 128, "depth": 4, "heads": 8, "embed_dim": 16},
                "base": {"dim": 256, "depth": 6, "heads": 16, "embed_dim": 16}},
    "inverse": {"tiny": {"dim": 32, "depth": 1, "heads": 2, "dim_head": 8, "context_dim": 16},
                "small": {"dim": 128, "depth": 6, "heads": 8, "dim_head": 16, "context_dim": 64},
                "base": {"dim": 128, "depth": 12, "heads": 8, "dim_head": 64, "context_dim": 64}},
    "multitask": {"tiny": {"dim": 32, "depth": 2, "heads": 2, "dim_head": 8},
                  "small": {"dim": 128, "depth": 6, "heads": 8, "dim_head": 16},
                  "base": {"dim": 256, "depth": 12, "heads": 16, "dim_head": 16}},
}
SIZES["diffusion"] = SIZES["inverse"]
MIN_ROWS = {"train": 8, "validation": 1, "test": 1}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataSection(_Strict):
    path: str
    structure: str = "smiles"
    properties: list[str] = Field(min_length=1)
    split: str = "random"
    seed: int = 0


class ModelSection(_Strict):
    model_config = ConfigDict(extra="allow")  # explicit sizes (dim, depth, ...) override the preset
    size: Literal["tiny", "small", "base"] = "small"
    max_length: int | None = None


class TrainSection(_Strict):
    seed: int = 0
    lr: float = 3e-4
    batch_size: int = Field(64, gt=0)
    cpu_minutes: float | None = Field(None, gt=0)
    max_steps: int | None = Field(None, gt=0)
    export_every_steps: int = Field(200, gt=0)
    threads: int = Field(1, gt=0)


class TrainConfig(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    family: Literal["des-inverse", "des-diffusion", "des-forward", "des-multitask"]
    data: DataSection
    model: ModelSection = ModelSection()
    train: TrainSection = TrainSection()


def models_dir() -> Path:
    """Where user-trained models live: ``<designer data dir>/models``."""
    from designer.data import cache_dir

    return cache_dir() / "models"


def parse_config(config: str | Path | dict[str, Any]) -> tuple[TrainConfig, Path]:
    """The validated config and the folder relative paths in it are read from."""
    from designer.config import describe_validation_error, read_toml

    if isinstance(config, dict):
        raw, base, source = config, Path.cwd(), "training config"
    else:
        raw, base, source = read_toml(config), Path(config).resolve().parent, str(config)
    try:
        return TrainConfig.model_validate(raw), base
    except ValidationError as error:
        raise DesignerError(describe_validation_error(error, source, TrainConfig)) from None


def scaffold_split(smiles: list[str], seed: int) -> np.ndarray:
    """Bemis–Murcko scaffold split: whole scaffold groups, largest first, fill train (80 %), then
    validation (10 %), then test, so no scaffold is shared between parts (ties broken by ``seed``)."""
    from rdkit.Chem.Scaffolds import MurckoScaffold

    groups: dict[str, list[int]] = {}
    for i, text in enumerate(smiles):
        groups.setdefault(MurckoScaffold.MurckoScaffoldSmiles(smiles=text, includeChirality=False), []).append(i)
    order = sorted(groups.values(), key=lambda g: (-len(g), np.random.default_rng(seed + len(g)).random()))
    split = np.full(len(smiles), 2, dtype=np.int64)
    n, filled = len(smiles), [0, 0]
    for group in order:
        part = 0 if filled[0] + len(group) <= 0.8 * n else (1 if filled[1] + len(group) <= 0.1 * n else 2)
        split[group] = part
        if part < 2:
            filled[part] += len(group)
    return split


def read_property_table(cfg: TrainConfig, base: Path) -> tuple[Any, dict[str, Any]]:
    """The data as a :class:`PropertySet` and a report (rows read, kept, dropped with reasons)."""
    import pandas as pd

    from designer.models.des_transformer.data import PropertySet, canonical, random_split

    path = (base / cfg.data.path).resolve()
    try:
        table = pd.read_csv(path, sep=None, engine="python")
    except (OSError, ValueError) as error:
        raise DesignerError(f"cannot read {path}: {str(error).splitlines()[0]}") from None
    missing = [c for c in [cfg.data.structure, *cfg.data.properties] if c not in table.columns]
    if missing:
        raise DesignerError(f"{path.name} has no column {missing[0]!r} (columns: {', '.join(map(str, table.columns))})")
    numeric = table[cfg.data.properties].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    for k, column in enumerate(cfg.data.properties):
        bad = np.isnan(numeric[:, k]) & table[column].notna().to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DesignerError(f"{path.name}: property {column!r} is not numeric in row {row + 2} "
                                f"({table[column].iloc[row]!r})")
    dropped: dict[str, int] = {}
    smiles, values, rows = [], [], []
    for i, raw in enumerate(table[cfg.data.structure]):
        text = canonical(str(raw)) if pd.notna(raw) else None
        numbers = numeric[i].tolist()
        reason = "invalid SMILES" if text is None else ("missing property value" if np.isnan(numbers).any() else "")
        if reason:  # kept out, counted by reason in the report and the card
            dropped[reason] = dropped.get(reason, 0) + 1
            continue
        smiles.append(text)
        values.append(numbers)
        rows.append(i)
    if not smiles:
        raise DesignerError(f"{path.name}: no row has a valid SMILES and all property values")
    if cfg.data.split == "random":
        split = random_split(len(smiles), cfg.data.seed)
    elif cfg.data.split == "scaffold":
        split = scaffold_split(smiles, cfg.data.seed)
    elif cfg.data.split.startswith("column:"):
        column = cfg.data.split.removeprefix("column:")
        if column not in table.columns:
            raise DesignerError(f"split column {column!r} is not in {path.name}")
        names = {"train": 0, "validation": 1, "valid": 1, "val": 1, "test": 2}
        labels = [str(table[column].iloc[i]).strip().lower() for i in rows]
        unknown = sorted({v for v in labels if v not in names})
        if unknown:
            raise DesignerError(f"split column {column!r} has {unknown[0]!r}; expected train, validation or test")
        split = np.array([names[v] for v in labels])
    else:
        raise DesignerError(f"split {cfg.data.split!r}: expected random, scaffold or column:NAME")
    counts = {part: int((split == k).sum()) for k, part in enumerate(MIN_ROWS)}
    short = [part for part, need in MIN_ROWS.items() if counts[part] < need]
    if short:
        raise DesignerError(f"too few rows for the split: {counts} (need at least {MIN_ROWS}); "
                            f"{len(smiles)} usable rows of {len(table)}")
    data = PropertySet(smiles, np.asarray(values, dtype=np.float64), tuple(cfg.data.properties),
                       dict.fromkeys(cfg.data.properties, ""), split)
    report = {"rows": len(table), "kept": len(smiles), "dropped": dropped, "split": counts,
              "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "file": str(path)}
    return data, report


def train(config: str | Path | dict[str, Any], *, resume: bool = False, out: str | Path | None = None) -> Path:
    """Train the configured model on the user's data and register it; returns its directory."""
    from designer.config import dump_config
    from designer.models.des_transformer.sample import load_forward
    from designer.models.des_transformer.train import train as train_family

    cfg, base = parse_config(config)
    kind = FAMILIES[cfg.family]
    data, report = read_property_table(cfg, base)
    target = Path(out) if out else models_dir() / cfg.name
    work = target.with_name(f".{target.name}.training")
    work.mkdir(parents=True, exist_ok=True)
    extra = dict(cfg.model.model_extra or {})
    longest = max(len(s) for s in data.smiles)
    max_length = cfg.model.max_length or (longest + 8 if kind != "multitask" else longest + 8 * len(data.names) + 8)
    family_config = {
        "data": {"set": "user", "description": f"{Path(report['file']).name}: {report['kept']} molecules "
                                              f"({cfg.data.split} split)"},
        "model": {"kind": kind, "max_length": max_length, **SIZES[kind][cfg.model.size], **extra},
        "train": {"seed": cfg.train.seed, "threads": cfg.train.threads, "lr": cfg.train.lr,
                  "batch_size": cfg.train.batch_size, "export_every_steps": cfg.train.export_every_steps,
                  "max_minutes": 100000, "out": str(work / "model.pt"), "run_dir": str(work / "run"),
                  "resume_copy": str(work / "run.ckpt"),
                  **({"cpu_minutes": cfg.train.cpu_minutes} if cfg.train.cpu_minutes else {}),
                  **({"max_steps": cfg.train.max_steps} if cfg.train.max_steps else {})},
    }
    if not resume and (work / "run").exists():
        shutil.rmtree(work / "run")  # a fresh run: a stale Lightning state must not be picked up
    train_family(family_config, config_path=str(config) if not isinstance(config, dict) else "", resume=resume,
                 data=data)
    import torch

    meta = torch.load(work / "model.pt", map_location="cpu", weights_only=True)["meta"]
    card = {"training": meta["training"], "conditions": meta["conditions"], "sizes": meta["sizes"]}
    card.update({"name": cfg.name, "family": cfg.family, "kind": "molecule", "dataset": report,
                 "config": cfg.model_dump(), "trained_on": family_config["data"]["description"],
                 "command": f"designer train {config if not isinstance(config, dict) else '<dict>'}"})
    if kind == "forward":  # held-out error on the test split
        predictor = load_forward(work / "model.pt")
        test_smiles, test_values = data.part(2)
        predicted, _ = predictor.predict(test_smiles)
        card["metrics"] = {name: {"mae": float(np.nanmean(np.abs(predicted[:, k] - test_values[:, k])))}
                           for k, name in enumerate(data.names)}
    (work / "model.json").write_text(json.dumps(card, indent=1) + "\n")
    (work / "config.toml").write_text(dump_config(cfg))
    shutil.rmtree(work / "run", ignore_errors=True)  # the finished model needs no Lightning state
    (work / "run.ckpt").unlink(missing_ok=True)
    if target.exists():
        shutil.rmtree(target)
    work.rename(target)
    return target


def user_models() -> dict[str, Path]:
    """Registered user models by name → their directory (those with a finished ``model.json``)."""
    folder = models_dir()
    if not folder.exists():
        return {}
    return {path.name: path for path in sorted(folder.iterdir())
            if not path.name.startswith(".") and (path / "model.json").exists() and (path / "model.pt").exists()}
