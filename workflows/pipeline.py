"""Workflows: a source of candidates (a file or a generative model) → filter → score → export.

``designer generate``, ``designer run`` and the Python API all go through the functions here.
A run works chunk by chunk and stores each finished chunk (see :mod:`designer.store`), so an
interrupted run resumes where it stopped and the same config and seed give the same candidates.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from designer.candidates import Candidates
from designer.config import RunConfig, dump_config
from designer.errors import DesignerError
from designer.filters import FilterReport, apply_rules
from designer.progress import track
from designer.scoring import score
from designer.store import RunStore

SEED_STRIDE = 1_000_003  # chunk i of a run samples with seed * SEED_STRIDE + i: disjoint and reproducible


def candidates_from_samples(kind: str, samples: list[Any], *, ids: list[str],
                            alphabet: str | None = None) -> Candidates:
    """Wrap a generator's raw samples (SMILES, sequences, backbone arrays) as a table."""
    if kind == "molecule":
        return Candidates.from_smiles([s or "" for s in samples], ids)
    if kind == "sequence":
        return Candidates.from_sequences([s or "" for s in samples], ids, alphabet)
    objects = [np.asarray(s) if s is not None else None for s in samples]
    reasons = ["" if o is not None else "generation failed" for o in objects]
    return Candidates("backbone", ["G" * (len(o) if o is not None else 0) for o in objects], ids,
                      reasons=reasons, objects=objects)


def generate(model: str = "graph-dit", targets: Mapping[str, float | str | None] | None = None, *,
             n: int = 100, seed: int = 0, guidance: float = 2.0, batch_size: int = 256,
             progress: bool = False, id_prefix: str | None = None, id_offset: int = 0,
             options: Mapping[str, Any] | None = None) -> Candidates:
    """Sample ``n`` candidates from a registered model, conditioned on ``targets``.

    A target given as ``None`` takes the model's default (see ``designer models``). The table gets
    ``target_<name>`` columns with the requested values. ``options`` are model-specific sampling
    keywords (e.g. ``lengths`` for backbone models).
    """
    from designer.generators import resolve_targets

    generator = load_generator(model)
    resolved = resolve_targets(generator.conditions, dict(targets or {}))
    samples = generator.sample(n, resolved, guidance=guidance, seed=seed, batch_size=batch_size,
                               progress=progress, **dict(options or {}))
    prefix = id_prefix or model
    table = candidates_from_samples(generator.kind, samples, ids=[f"{prefix}-{id_offset + i + 1}" for i in range(n)],
                                    alphabet=getattr(generator, "alphabet", None))
    for name, value in resolved.items():
        table.columns[f"target_{name}"] = np.full(n, value, dtype=float if isinstance(value, float) else object)
    return table


_generators: dict[str, Any] = {}


def load_generator(model: str) -> Any:
    """The model's generator, loaded once per process."""
    from designer.registry import model_entry

    if model not in _generators:
        _generators[model] = model_entry(model).load()
    return _generators[model]


def target_errors(candidates: Candidates) -> dict[str, float]:
    """Mean |target − achieved| per numeric target that has an achieved column."""
    errors = {}
    for name, requested in candidates.columns.items():
        if name.startswith("target_") and name[7:] in candidates.columns and requested.dtype != object:
            achieved = candidates.columns[name[7:]].astype(float)
            diff = np.abs(requested - achieved)
            if np.isfinite(diff).any():
                errors[name[7:]] = float(np.nanmean(diff))
    return errors


def summarize(candidates: Candidates, produced: int, invalid_reasons: Counter, report: FilterReport,
              elapsed: float, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What a run did: counts, why candidates were invalid or dropped, score statistics, target MAE."""
    scores = {}
    for name, values in candidates.columns.items():
        if values.dtype != object and not name.startswith("target_"):
            finite = values[np.isfinite(values)]
            scores[name] = {"mean": float(finite.mean()) if len(finite) else None,
                            "min": float(finite.min()) if len(finite) else None,
                            "max": float(finite.max()) if len(finite) else None,
                            "nan": int((~np.isfinite(values)).sum())}
    return {
        "produced": produced,
        "invalid": sum(invalid_reasons.values()),
        "invalid_reasons": dict(invalid_reasons.most_common(10)),
        "dropped": report.dropped,
        "kept": len(candidates),
        "scores": scores,
        "target_mae": target_errors(candidates),
        "elapsed_s": round(elapsed, 3),
        **(extra or {}),
    }


def _reason_kind(reason: str) -> str:
    """A reason without its specifics, so the summary counts kinds of failure."""
    return reason.split("'")[0].split(":")[0].strip() or reason


@dataclass
class RunResult:
    """What a workflow run returns: the final table, its summary and where the files are."""

    candidates: Candidates
    summary: dict[str, Any]
    directory: Path | None
    exports: list[Path]


def _chunk_source(config: RunConfig, base_dir: Path) -> tuple[int, Callable[[int], Candidates]]:
    """How many chunks the source has and a function producing chunk i."""
    size = config.chunk_size
    if config.input is not None:
        from designer.io import read

        path = Path(config.input.path)
        path = path if path.is_absolute() else base_dir / path
        table = read(path, kind=config.input.kind, alphabet=config.input.alphabet, column=config.input.column)
        count = max(1, -(-len(table) // size))
        return count, lambda i: table.take(np.arange(i * size, min((i + 1) * size, len(table))))
    step = config.generate
    assert step is not None
    count = -(-step.n // size)

    def sample(i: int) -> Candidates:
        n = min(size, step.n - i * size)
        return generate(step.model, step.targets, n=n, seed=step.seed * SEED_STRIDE + i,
                        guidance=step.guidance, batch_size=step.batch_size, id_offset=i * size, options=step.options)
    return count, sample


def process_chunk(chunk: Candidates, config: RunConfig, *, skip_oracles: frozenset[str] = frozenset()
                  ) -> tuple[Candidates, dict[str, Any]]:
    """Filter and score one chunk; returns the survivors and the chunk's counts.

    Oracles named in ``skip_oracles`` are left for a later stage (a campaign scores expensive
    oracles in their own remote tasks); the objective is then combined by :func:`finish_scores`.
    """
    produced = len(chunk)
    invalid = Counter(_reason_kind(r) for r, ok in zip(chunk.reasons, chunk.valid, strict=True) if not ok)
    kept, report = apply_rules(chunk, config.filter.rules)
    oracles = [name for name in config.score.oracles if name not in skip_oracles]
    score(kept, oracles, workers=config.score.workers,
          objective=None if skip_oracles else config.score.objective)
    return kept, {"produced": produced, "dropped": report.dropped, "invalid": dict(invalid)}


def finish_scores(kept: Candidates, config: RunConfig, oracles: list[str]) -> Candidates:
    """Second scoring stage: the deferred oracles, then the objective."""
    return score(kept, oracles, workers=config.score.workers, objective=config.score.objective)


def validate(config: RunConfig) -> None:
    """Check every name in a config (model, targets, rules, oracles) before any work starts."""
    from designer.filters import parse_rule
    from designer.registry import model_entry
    from designer.scoring import resolve_oracles

    if config.generate is not None:
        entry = model_entry(config.generate.model)
        if ":" not in entry.name:  # a registered model: its conditions can be checked without loading it
            from designer.generators import resolve_targets

            resolve_targets(load_generator(entry.name).conditions, config.generate.targets)
    for rule in config.filter.rules:
        parse_rule(rule)
    resolve_oracles(config.score.oracles)


def run(config: RunConfig, directory: str | Path, *, resume: bool = False, progress: bool = False,
        base_dir: str | Path = ".") -> RunResult:
    """Run a workflow into ``directory`` (``resume`` continues an interrupted run of the same config)."""
    started = time.perf_counter()
    validate(config)
    store = RunStore(directory)
    store.start(dump_config(config), resume=resume)
    count, produce = _chunk_source(config, Path(base_dir))
    done = store.done()
    todo = [i for i in range(count) if i not in done]
    for i in track(todo, len(todo), progress, f"{config.name}: {len(done)}/{count} chunks already done"):
        kept, meta = process_chunk(produce(i), config)
        store.write_chunk(i, kept, meta)
    return finalize(config, store, started, {"chunks": count, "resumed_chunks": len(done)})


def finalize(config: RunConfig, store: RunStore, started: float, extra: Mapping[str, Any]) -> RunResult:
    """Gather every stored chunk: global uniqueness, ranking, exports and ``summary.json``."""
    table, headers = store.read_chunks()
    if table is None:
        raise DesignerError(f"{store.directory}: no finished chunk to export")
    dropped: Counter = Counter()
    invalid_total: Counter = Counter()
    for header in headers:
        dropped.update(header["dropped"])
        invalid_total.update(header["invalid"])
    if "unique" in config.filter.rules and len(headers) > 1:  # duplicates across chunks
        table, report = apply_rules(table, ["unique"])
        dropped["unique"] += report.dropped["unique"]
    table = rank(table, config.export.sort_by or (config.score.objective.name if config.score.objective else None))
    produced = sum(h["produced"] for h in headers)
    exports = [_export(table, store.directory, fmt) for fmt in config.export.formats]
    summary = summarize(table, produced, invalid_total, FilterReport(produced, dict(dropped)),
                        time.perf_counter() - started,
                        {"name": config.name, **extra, "exports": [p.name for p in exports]})
    store.write_summary(summary)
    return RunResult(table, summary, store.directory, exports)


def rank(candidates: Candidates, column: str | None) -> Candidates:
    """Candidates sorted by ``column``, best first (its oracle's direction; NaN last)."""
    if not column or column not in candidates.columns or candidates.columns[column].dtype == object:
        return candidates
    values = candidates.columns[column].astype(float)
    descending = _direction(column) != "minimize"
    keys = np.where(np.isnan(values), np.inf, -values if descending else values)
    return candidates.take(np.argsort(keys, kind="stable"))


def _direction(column: str) -> str:
    from designer.registry import make_oracle

    try:
        return make_oracle(column).direction
    except DesignerError:
        return "maximize"  # an objective column


def _export(candidates: Candidates, directory: Path, fmt: str) -> Path:
    from designer.io import write

    if fmt == "pdb":
        return write(candidates, directory / "backbones")
    return write(candidates, directory / f"candidates.{fmt}")



def generation_report(raw: Candidates, kept: Candidates, model: str) -> str:
    """One summary line: valid / unique / novel fractions of the raw samples, target MAE of the kept."""
    from designer.filters import canonical_keys, reference_keys
    from designer.registry import model_entry

    n = len(raw)
    keys = [k for k in canonical_keys(raw) if k is not None]
    unique = set(keys)
    parts = [f"valid {len(keys) / n:.3f}", f"unique {len(unique) / max(len(keys), 1):.3f}"]
    reference = model_entry(model).card_facts().get("novelty_reference")
    if reference and unique:
        parts.append(f"novel {len(unique - reference_keys(reference)) / len(unique):.3f}")
    errors = target_errors(kept)
    if errors:
        parts.append("mean |target - achieved| " + ", ".join(f"{k} {v:.3f}" for k, v in errors.items()))
    return f"{n} sampled: " + "; ".join(parts)
