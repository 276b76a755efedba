"""``designer train``: fit a model family to the user's own data and properties.

A config (TOML or a dict) names the model, the family, the data and the budget::

    name = "my-series"                 # how `designer generate --model` will call it
    family = "graph-dit"               # see FAMILIES
    init = "graph-dit"                 # optional: fine-tune a shipped (or your) checkpoint of the family
    [data]
    path = "series.csv"                # molecules: .csv/.tsv/.smi/.sdf; sequences: .fasta/.csv; backbones: a PDB folder
    structure = "smiles"               # the structure column (.csv): SMILES or sequence
    properties = ["pic50", "logs"]     # numeric columns to condition on / to predict
    categorical = ["series"]           # categorical columns to condition on (graph-dit)
    split = "random"                   # random | scaffold (molecules) | column:NAME (train/validation/test)
    [model]
    size = "small"                     # tiny | small | base, or explicit sizes next to it
    [train]
    cpu_minutes = 30                   # and/or max_steps, max_epochs, minutes; seed, lr, batch_size

Families: the property <-> SMILES transformers (``des-inverse``, ``des-diffusion``, ``des-forward``,
``des-multitask``), ``graph-dit`` (numeric and categorical conditions; ``init`` fine-tunes a
checkpoint, with new condition heads for properties it was not trained on), ``char-rnn``
(unconditional SMILES), ``gumbel-flow`` (DNA/RNA/protein sequences; one property column trains its
STGFlow guide) and ``foldingdiff`` (backbones from PDB files; ``init`` fine-tunes). TFG-Flow is not
trainable here: its flow and guides train on QM9 geometries with their own module.

The result is a model directory ``<data dir>/models/<name>/``: ``model.pt``; its card
``model.json`` (the data file's SHA-256, the rows kept and dropped with reasons and the split under
``dataset``, the config, the validation curve, held-out metrics, the command); and the
``config.toml`` that reproduces it. It is registered for ``designer models`` and ``designer
generate``. It is written under a temporary name and renamed when training ends, so an interrupted
or failed run never registers half a model; ``--resume`` continues the interrupted run from its
Lightning state. Every loop is :func:`designer.fitting.fit`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from designer.errors import DesignerError


@dataclass(frozen=True)
class Family:
    """What ``designer train`` knows about a trainable family."""

    data: Literal["molecules", "sequences", "backbones"]
    generator: str | None        # ``kind`` of the registered generator; None: not a generator (a predictor)
    loader: str                  # "module:function" that loads ``model.pt``
    lr: float                    # default learning rate (fine-tuning: a fifth of it)
    sizes: dict[str, dict[str, Any]]
    properties: str              # what data.properties may hold: "numeric" (>= 1), "optional", "one", "none"
    init: str | None = None      # the shipped checkpoint ``init = "<family>"`` fine-tunes


DES_INVERSE_SIZES = {"tiny": {"dim": 32, "depth": 1, "heads": 2, "dim_head": 8, "context_dim": 16},
                     "small": {"dim": 128, "depth": 6, "heads": 8, "dim_head": 16, "context_dim": 64},
                     "base": {"dim": 128, "depth": 12, "heads": 8, "dim_head": 64, "context_dim": 64}}
FAMILIES: dict[str, Family] = {
    "des-inverse": Family("molecules", "molecule", "designer.models.des_transformer.sample:load_inverse", 3e-4,
                          DES_INVERSE_SIZES, "numeric"),
    "des-diffusion": Family("molecules", "molecule", "designer.models.des_transformer.sample:load_inverse", 3e-4,
                            DES_INVERSE_SIZES, "numeric"),
    "des-forward": Family("molecules", None, "designer.models.des_transformer.sample:load_forward", 3e-4,
                          {"tiny": {"dim": 32, "depth": 1, "heads": 4, "embed_dim": 8},
                           "small": {"dim": 128, "depth": 4, "heads": 8, "embed_dim": 16},
                           "base": {"dim": 256, "depth": 6, "heads": 16, "embed_dim": 16}}, "numeric"),
    "des-multitask": Family("molecules", None, "designer.models.des_transformer.sample:load_multitask", 3e-4,
                            {"tiny": {"dim": 32, "depth": 2, "heads": 2, "dim_head": 8},
                             "small": {"dim": 128, "depth": 6, "heads": 8, "dim_head": 16},
                             "base": {"dim": 256, "depth": 12, "heads": 16, "dim_head": 16}}, "numeric"),
    "graph-dit": Family("molecules", "molecule", "designer.models.graph_dit.sample:load", 8e-4,
                        {"tiny": {"hidden": 32, "depth": 1, "heads": 2, "mlp_ratio": 2.0},
                         "small": {"hidden": 128, "depth": 4, "heads": 4, "mlp_ratio": 4.0},
                         "base": {"hidden": 256, "depth": 6, "heads": 8, "mlp_ratio": 4.0}}, "optional",
                        init="designer.models.graph_dit.sample:DEFAULT_CHECKPOINT"),
    "char-rnn": Family("molecules", "molecule", "designer.models.char_rnn.sample:load", 1e-3,
                       {"tiny": {"hidden": 32, "layers": 1, "dropout": 0.0},
                        "small": {"hidden": 256, "layers": 2, "dropout": 0.2},
                        "base": {"hidden": 768, "layers": 3, "dropout": 0.2}}, "none"),
    "gumbel-flow": Family("sequences", "sequence", "designer.models.gumbel_flow.sample:load", 1e-3,
                          {"tiny": {"hidden": 32, "layers": 1, "heads": 2, "dropout": 0.0, "guide_steps": 30,
                                    "guide": {"hidden": 16, "kernel": 5, "layers": 1, "dropout": 0.0}},
                           "small": {"hidden": 96, "layers": 3, "heads": 4, "dropout": 0.1},
                           "base": {"hidden": 256, "layers": 6, "heads": 8, "dropout": 0.1}}, "one"),
    "foldingdiff": Family("backbones", "backbone", "designer.models.foldingdiff.sample:load", 5e-4,
                          {"tiny": {"hidden": 32, "layers": 1, "heads": 2, "max_offset": 128, "dropout": 0.0,
                                    "steps": 50},
                           "small": {"hidden": 128, "layers": 4, "heads": 8, "max_offset": 128, "dropout": 0.1},
                           "base": {"hidden": 256, "layers": 12, "heads": 8, "max_offset": 128, "dropout": 0.1}},
                          "none", init="designer.models.foldingdiff.sample:DEFAULT_CHECKPOINT"),
}
NOT_TRAINABLE = {"tfg-flow": "TFG-Flow trains on QM9 geometries only (python -m designer.models.tfg_flow.train); "
                                "training it on your data (3D structures with properties) is not supported yet"}
MIN_ROWS = {"train": 8, "validation": 1, "test": 1}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataSection(_Strict):
    path: str
    structure: str = "smiles"
    properties: list[str] = []
    categorical: list[str] = []
    split: str = "random"
    seed: int = 0
    alphabet: Literal["dna", "rna", "protein"] | None = None  # sequences: detected from the letters when unset


class ModelSection(_Strict):
    model_config = ConfigDict(extra="allow")  # explicit sizes (dim, depth, ...) override the preset
    size: Literal["tiny", "small", "base"] = "small"
    max_length: int | None = None


class TrainSection(_Strict):
    seed: int = 0
    lr: float | None = Field(None, gt=0)   # the family's default (a fifth of it when fine-tuning)
    batch_size: int = Field(64, gt=0)
    cpu_minutes: float | None = Field(None, gt=0)
    max_steps: int | None = Field(None, gt=0)
    max_epochs: int | None = Field(None, gt=0)
    minutes: float | None = Field(None, gt=0)     # wall clock
    export_every_steps: int = Field(200, gt=0)    # validate and write the model this often
    checkpoint_minutes: float | None = Field(None, gt=0)  # resumable state this often (default: every export)
    threads: int = Field(1, gt=0)


class TrainConfig(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    family: Literal[tuple(FAMILIES)]  # type: ignore[valid-type]
    init: str | None = None
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
    if raw.get("family") in NOT_TRAINABLE:
        raise DesignerError(f"{source}: family {raw['family']!r}: {NOT_TRAINABLE[raw['family']]}")
    try:
        cfg = TrainConfig.model_validate(raw)
    except ValidationError as error:
        raise DesignerError(describe_validation_error(error, source, TrainConfig)) from None
    family, data = FAMILIES[cfg.family], cfg.data
    rule = {"numeric": (len(data.properties) >= 1, "needs at least one numeric column in data.properties"),
            "optional": (True, ""),
            "one": (len(data.properties) <= 1, "takes at most one property column (the guide's target)"),
            "none": (not data.properties, "is unconditional: remove data.properties")}[family.properties]
    if not rule[0]:
        raise DesignerError(f"{source}: family {cfg.family!r} {rule[1]}")
    if data.categorical and cfg.family != "graph-dit":
        raise DesignerError(f"{source}: data.categorical: only graph-dit conditions on categorical columns")
    if cfg.family == "graph-dit" and not (data.properties or data.categorical):
        raise DesignerError(f"{source}: graph-dit needs a condition: data.properties and/or data.categorical")
    if cfg.init is not None and family.init is None:
        raise DesignerError(f"{source}: family {cfg.family!r} cannot start from a checkpoint (init): only "
                            f"{', '.join(n for n, f in FAMILIES.items() if f.init)} can")
    t = cfg.train
    if not any(v is not None for v in (t.cpu_minutes, t.max_steps, t.max_epochs, t.minutes)):
        raise DesignerError(f"{source}: [train] needs a budget: max_steps, max_epochs, cpu_minutes or minutes")
    if data.split == "scaffold" and family.data != "molecules":
        raise DesignerError(f"{source}: split 'scaffold' is for molecules; use random or column:NAME")
    return cfg, base


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


@dataclass
class Molecules:
    """Usable rows of a molecule table: canonical SMILES, numeric (M, P) and categorical (M, C) codes."""

    smiles: list[str]
    numeric: np.ndarray
    categorical: np.ndarray
    choices: dict[str, list[str]]     # the values of each categorical column, in code order
    split: np.ndarray                 # 0 train, 1 validation, 2 test


def _read_table(path: Path, structure: str) -> Any:
    """A molecule or sequence file as a DataFrame: .csv/.tsv (header), .smi (SMILES first, header
    optional), .sdf (SMILES in column ``structure`` plus the SD fields), .fasta (``structure`` plus ``id``)."""
    import pandas as pd

    suffix = path.suffix.lower()
    try:
        if suffix == ".sdf":
            from rdkit import Chem

            rows = []
            for mol in Chem.SDMolSupplier(str(path)):  # an unreadable record is None: counted as invalid later
                rows.append({structure: Chem.MolToSmiles(mol) if mol is not None else None,
                             **(mol.GetPropsAsDict() if mol is not None else {})})
            return pd.DataFrame(rows)
        if suffix in (".fasta", ".fa", ".faa", ".fna"):
            from Bio import SeqIO

            records = list(SeqIO.parse(str(path), "fasta"))
            if not records:
                raise ValueError("no FASTA records")
            return pd.DataFrame({"id": [r.id for r in records], structure: [str(r.seq).upper() for r in records]})
        if suffix == ".smi":
            from rdkit import Chem

            first = path.read_text().split(maxsplit=1)[0] if path.stat().st_size else ""
            headerless = Chem.MolFromSmiles(first) is not None
            table = pd.read_csv(path, sep=r"\s+", header=None if headerless else 0, engine="python")
            if headerless:
                table.columns = [structure, *(f"column{i}" for i in range(1, table.shape[1]))]
            return table
        return pd.read_csv(path, sep=None, engine="python")
    except (OSError, ValueError, IndexError) as error:
        raise DesignerError(f"cannot read {path}: {str(error).splitlines()[0] if str(error) else type(error).__name__}"
                            ) from None


def _numeric_columns(table: Any, columns: list[str], name: str) -> np.ndarray:
    """(M, P) float values; a non-numeric entry (not a missing one) is an error naming its row."""
    import pandas as pd

    numeric = table[columns].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    for k, column in enumerate(columns):
        bad = np.isnan(numeric[:, k]) & table[column].notna().to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DesignerError(f"{name}: property {column!r} is not numeric in row {row + 2} "
                                f"({table[column].iloc[row]!r})")
    return numeric


def _split(cfg: TrainConfig, table: Any, rows: list[int], smiles: list[str] | None, name: str) -> tuple[
        np.ndarray, dict[str, int]]:
    """Split codes (0 train, 1 validation, 2 test) of the kept ``rows`` and their counts."""
    from designer.models.des_transformer.data import random_split

    split_name = cfg.data.split
    if split_name == "random":
        split = random_split(len(rows), cfg.data.seed)
    elif split_name == "scaffold" and smiles is not None:
        split = scaffold_split(smiles, cfg.data.seed)
    elif split_name.startswith("column:"):
        column = split_name.removeprefix("column:")
        if column not in table.columns:
            raise DesignerError(f"split column {column!r} is not in {name}")
        names = {"train": 0, "validation": 1, "valid": 1, "val": 1, "test": 2}
        labels = [str(table[column].iloc[i]).strip().lower() for i in rows]
        unknown = sorted({v for v in labels if v not in names})
        if unknown:
            raise DesignerError(f"split column {column!r} has {unknown[0]!r}; expected train, validation or test")
        split = np.array([names[v] for v in labels], dtype=np.int64)
    else:
        raise DesignerError(f"split {split_name!r}: expected random, scaffold or column:NAME")
    counts = {part: int((split == k).sum()) for k, part in enumerate(MIN_ROWS)}
    short = [part for part, need in MIN_ROWS.items() if counts[part] < need]
    if short:
        raise DesignerError(f"too few rows for the split: {counts} (need at least {MIN_ROWS}); "
                            f"{len(rows)} usable rows of {len(table)}")
    return split, counts


def _usable(items: list[Any], problem: Any) -> tuple[list[int], dict[str, int]]:
    """Indices of the items without a problem, and the others counted by reason (for the card)."""
    rows, dropped = [], {}
    for i, item in enumerate(items):
        reason = problem(i, item)
        if reason:
            dropped[reason] = dropped.get(reason, 0) + 1
        else:
            rows.append(i)
    return rows, dropped


def _report(path: Path, rows: int, kept: int, dropped: dict[str, int], counts: dict[str, int]) -> dict[str, Any]:
    digest = hashlib.sha256()
    for file in sorted(path.glob("*.pdb")) if path.is_dir() else [path]:
        digest.update(file.read_bytes())
    return {"rows": rows, "kept": kept, "dropped": dropped, "split": counts, "sha256": digest.hexdigest(),
            "file": str(path)}


def read_molecules(cfg: TrainConfig, base: Path) -> tuple[Molecules, dict[str, Any]]:
    """The molecule table and a report (rows read, kept, dropped with reasons, split, SHA-256)."""
    import pandas as pd

    from designer.metrics import canonical

    path = (base / cfg.data.path).resolve()
    table = _read_table(path, cfg.data.structure)
    missing = [c for c in [cfg.data.structure, *cfg.data.properties, *cfg.data.categorical] if c not in table.columns]
    if missing:
        raise DesignerError(f"{path.name} has no column {missing[0]!r} (columns: {', '.join(map(str, table.columns))})")
    numeric = _numeric_columns(table, cfg.data.properties, path.name)
    def problem(i: int, raw: Any) -> str:
        lacking = np.isnan(numeric[i]).any() or any(pd.isna(table[c].iloc[i]) for c in cfg.data.categorical)
        text = canonical(str(raw)) if pd.notna(raw) else None
        return "invalid SMILES" if text is None else ("missing property value" if lacking else "")

    rows, dropped = _usable(list(table[cfg.data.structure]), problem)
    smiles = [str(canonical(str(table[cfg.data.structure].iloc[i]))) for i in rows]
    if not smiles:
        raise DesignerError(f"{path.name}: no row has a valid SMILES and all property values")
    split, counts = _split(cfg, table, rows, smiles, path.name)
    choices = {c: sorted({str(table[c].iloc[i]) for i in rows}) for c in cfg.data.categorical}
    codes = np.array([[choices[c].index(str(table[c].iloc[i])) for c in cfg.data.categorical] for i in rows],
                     dtype=np.int64).reshape(len(rows), len(cfg.data.categorical))
    data = Molecules(smiles, numeric[rows], codes, choices, split)
    return data, _report(path, len(table), len(smiles), dropped, counts)


def read_sequences(cfg: TrainConfig, base: Path) -> tuple[list[str], np.ndarray | None, str, np.ndarray,
                                                         dict[str, Any]]:
    """Sequences (upper case), the property values or None, the alphabet, the split and a report.
    Sequences with letters outside the alphabet are kept out, counted by reason."""
    import pandas as pd

    from designer.candidates import ALPHABETS, sequence_problem

    path = (base / cfg.data.path).resolve()
    table = _read_table(path, cfg.data.structure)
    missing = [c for c in [cfg.data.structure, *cfg.data.properties] if c not in table.columns]
    if missing:
        raise DesignerError(f"{path.name} has no column {missing[0]!r} (columns: {', '.join(map(str, table.columns))})")
    numeric = _numeric_columns(table, cfg.data.properties, path.name)
    texts = [str(v).strip().upper() if pd.notna(v) else "" for v in table[cfg.data.structure]]
    alphabet = cfg.data.alphabet
    if alphabet is None:  # the smallest alphabet that holds nine in ten sequences (a stray bad one is dropped)
        alphabet = next((a for a in ("dna", "rna") if np.mean([set(t) <= set(ALPHABETS[a]) for t in texts]) >= 0.9),
                        "protein")
    def problem(i: int, text: str) -> str:
        if sequence_problem(text, alphabet, strict=True):
            return f"letters outside the {alphabet} alphabet ({ALPHABETS[alphabet]})" if text else "empty sequence"
        return "missing property value" if np.isnan(numeric[i]).any() else ""

    rows, dropped = _usable(texts, problem)
    sequences = [texts[i] for i in rows]
    if not sequences:
        raise DesignerError(f"{path.name}: no usable {alphabet} sequence")
    split, counts = _split(cfg, table, rows, None, path.name)
    values = numeric[rows, 0] if cfg.data.properties else None
    return sequences, values, alphabet, split, _report(path, len(table), len(sequences), dropped, counts)


def read_backbone_folder(cfg: TrainConfig, base: Path) -> tuple[list[np.ndarray], list[str], np.ndarray,
                                                                dict[str, Any]]:
    """Backbones (L, 4, 3) of the PDB files in ``data.path`` (first chain each), their file names, the
    split (random or by file name: column splits need a table) and a report; unreadable files and chains
    outside 8–128 residues are kept out, counted by reason."""
    import pandas as pd

    from designer.models.foldingdiff.data import MAX_LENGTH
    from designer.structure import read_backbone

    path = (base / cfg.data.path).resolve()
    files = sorted(path.glob("*.pdb")) if path.is_dir() else []
    if not files:
        raise DesignerError(f"{path}: expected a folder of .pdb files")
    if cfg.data.split.startswith("column:"):
        raise DesignerError("a PDB folder has no columns to split by: use split = \"random\"")
    dropped: dict[str, int] = {}
    coords, names = [], []
    for file in files:
        try:
            _, xyz, _ = read_backbone(file)
        except DesignerError as error:
            reason = str(error).removeprefix(f"{file}: ").split(" (")[0]
            reason = "lacks backbone atoms" if "lacks backbone" in reason else reason
            dropped[reason] = dropped.get(reason, 0) + 1
            continue
        if not 8 <= len(xyz) <= MAX_LENGTH:
            dropped[f"chain outside 8-{MAX_LENGTH} residues"] = dropped.get(f"chain outside 8-{MAX_LENGTH} residues",
                                                                            0) + 1
            continue
        coords.append(xyz)
        names.append(file.name)
    if not coords:
        raise DesignerError(f"{path}: no usable backbone")
    split, counts = _split(cfg, pd.DataFrame({"file": names}), list(range(len(names))), None, path.name)
    return coords, names, split, _report(path, len(files), len(coords), dropped, counts)


def init_checkpoint(cfg: TrainConfig) -> Path | None:
    """The checkpoint ``init`` names: the family's shipped one (``init = "<family>"``), a model you
    trained with this family (its name), or a file; another family's checkpoint is an error."""
    if cfg.init is None:
        return None
    import importlib

    family = FAMILIES[cfg.family]
    if cfg.init == cfg.family:
        module, _, attribute = str(family.init).partition(":")
        return Path(getattr(importlib.import_module(module), attribute))
    mine = user_models().get(cfg.init)
    if mine is not None:
        other = json.loads((mine / "model.json").read_text()).get("family")
        if other != cfg.family:
            raise DesignerError(f"init {cfg.init!r} is a {other} model; a {cfg.family} model cannot start from it")
        return mine / "model.pt"
    path = Path(cfg.init)
    if not path.exists():
        raise DesignerError(f"init {cfg.init!r}: not {cfg.family!r}, one of your {cfg.family} models or a file")
    import torch

    try:  # the family's own loader names the right format; check it here so nothing is trained first
        fmt = torch.load(path, map_location="cpu", weights_only=True).get("format")
    except Exception:
        fmt = None
    expected = {"graph-dit": "designer.graph_dit/1", "foldingdiff": "foldingdiff-v1"}[cfg.family]
    if fmt != expected:
        raise DesignerError(f"init {path} is not a {cfg.family} checkpoint (format {fmt!r}, expected {expected!r})")
    return path


def _train_des(cfg: TrainConfig, data: Molecules, report: dict[str, Any], work: Path, config_path: str,
               resume: bool) -> dict[str, Any]:
    """The property <-> SMILES transformers, through their own trainer; returns the card's facts."""
    import torch

    from designer.models.des_transformer.data import PropertySet
    from designer.models.des_transformer.sample import load_forward
    from designer.models.des_transformer.train import train as train_family

    kind = cfg.family.removeprefix("des-")
    properties = PropertySet(data.smiles, data.numeric, tuple(cfg.data.properties),
                             dict.fromkeys(cfg.data.properties, ""), data.split)
    extra = dict(cfg.model.model_extra or {})
    longest = max(len(s) for s in data.smiles)
    max_length = cfg.model.max_length or (longest + 8 if kind != "multitask" else
                                          longest + 8 * len(cfg.data.properties) + 8)
    t = cfg.train
    family_config = {
        "data": {"set": "user", "description": _described(cfg, report)},
        "model": {"kind": kind, "max_length": max_length, **FAMILIES[cfg.family].sizes[cfg.model.size], **extra},
        "train": {"seed": t.seed, "threads": t.threads, "lr": t.lr or FAMILIES[cfg.family].lr,
                  "batch_size": t.batch_size, "export_every_steps": t.export_every_steps,
                  "max_minutes": t.minutes or 100000, "out": str(work / "model.pt"), "run_dir": str(work / "run"),
                  "resume_copy": str(work / "run.ckpt"),
                  **({"cpu_minutes": t.cpu_minutes} if t.cpu_minutes else {}),
                  **({"max_steps": t.max_steps} if t.max_steps else {})},
    }
    train_family(family_config, config_path=config_path, resume=resume, data=properties)
    meta = torch.load(work / "model.pt", map_location="cpu", weights_only=True)["meta"]
    facts: dict[str, Any] = {"training": meta["training"], "conditions": meta["conditions"], "sizes": meta["sizes"]}
    if kind == "forward":  # held-out error on the test split
        predicted, _ = load_forward(work / "model.pt").predict(properties.part(2)[0])
        test_values = properties.part(2)[1]
        facts["metrics"] = {name: {"mae": float(np.nanmean(np.abs(predicted[:, k] - test_values[:, k])))}
                            for k, name in enumerate(cfg.data.properties)}
    return facts


def _described(cfg: TrainConfig, report: dict[str, Any]) -> str:
    return f"{Path(report['file']).name}: {report['kept']} of {report['rows']} rows ({cfg.data.split} split)"


def train(config: str | Path | dict[str, Any], *, resume: bool = False, out: str | Path | None = None) -> Path:
    """Train the configured model on the user's data and register it; returns its directory."""
    from designer.config import dump_config
    from designer.fitting import Budget, RunOptions

    cfg, base = parse_config(config)
    family = FAMILIES[cfg.family]
    config_path = str(config) if not isinstance(config, dict) else ""
    init = init_checkpoint(cfg)
    target = Path(out) if out else models_dir() / cfg.name
    work = target.with_name(f".{target.name}.training")
    if family.data == "molecules":
        molecules, report = read_molecules(cfg, base)
    elif family.data == "sequences":
        sequences, values, alphabet, split, report = read_sequences(cfg, base)
    else:
        coords, _, split, report = read_backbone_folder(cfg, base)
    work.mkdir(parents=True, exist_ok=True)
    if not resume and (work / "run").exists():
        shutil.rmtree(work / "run")  # a fresh run: a stale Lightning state must not be picked up
    card: dict[str, Any] = {"name": cfg.name, "family": cfg.family, "kind": family.generator or "predictor",
                            "dataset": report, "config": cfg.model_dump(), "trained_on": _described(cfg, report),
                            "command": f"designer train {config_path or '<dict>'}{' --resume' if resume else ''}"}
    if cfg.family.startswith("des-"):
        card.update(_train_des(cfg, molecules, report, work, config_path, resume))
    else:
        t = cfg.train
        sizes = {**family.sizes[cfg.model.size], **dict(cfg.model.model_extra or {})}
        run = RunOptions(out=work / "model.pt", run_dir=work / "run", resume=resume, seed=t.seed,
                         lr=t.lr or (family.lr / 5 if init else family.lr), batch_size=t.batch_size,
                         every=t.export_every_steps, checkpoint_minutes=t.checkpoint_minutes, threads=t.threads,
                         budget=Budget(max_steps=t.max_steps, max_epochs=t.max_epochs, cpu_minutes=t.cpu_minutes,
                                       max_minutes=t.minutes))
        meta = {"trained_on": card["trained_on"], "command": card["command"]}
        if cfg.family == "graph-dit":
            from designer.models.graph_dit.train import fit_graphs

            facts = fit_graphs(molecules.smiles, molecules.numeric, cfg.data.properties, molecules.categorical,
                               molecules.choices, molecules.split, sizes, run, meta, init)
            report["dropped"].update(meta.get("dropped", {}))
            report["kept"] -= sum(meta.get("dropped", {}).values())
            card["sample_steps"], card["sample_spacing"] = facts.pop("sample_steps"), facts.pop("sample_spacing")
        elif cfg.family == "char-rnn":
            from designer.models.char_rnn.train import fit_smiles

            parts = tuple([s for s, p in zip(molecules.smiles, molecules.split, strict=True) if p == k]
                          for k in range(3))
            facts = fit_smiles(parts, sizes, run, meta)  # type: ignore[arg-type]
        elif cfg.family == "gumbel-flow":
            from designer.models.gumbel_flow.train import fit_sequences

            name = cfg.data.properties[0] if cfg.data.properties else None
            facts = fit_sequences(sequences, values, name, split, alphabet, sizes, run, meta)
            card["alphabet"] = alphabet
        else:
            from designer.models.foldingdiff.train import fit_backbones

            facts = fit_backbones(coords, split, sizes, run, meta, init)
        import torch

        curve = torch.load(work / "model.pt", map_location="cpu", weights_only=True)["meta"]["training"]["curve"]
        card["training"] = {"steps": curve[-1]["step"], "cpu_minutes": curve[-1]["cpu_minutes"], "curve": curve}
        card["metrics"] = facts
    (work / "model.json").write_text(json.dumps(card, indent=1, default=str) + "\n")
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
