"""Workflows: a source of candidates (a file or a generative model) → filter → score → export.

``designer generate``, ``designer run`` and the Python API all go through the functions here.
A run works chunk by chunk and stores each finished chunk (see :mod:`designer.store`), so an
interrupted run resumes where it stopped and the same config and seed give the same candidates.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from designer.candidates import Candidates, Unmade
from designer.config import RunConfig, dump_config
from designer.errors import DesignerError
from designer.filters import FilterReport, apply_rules
from designer.progress import track
from designer.scoring import score
from designer.store import RunStore

SEED_STRIDE = 1_000_003  # chunk i of a run samples with seed * SEED_STRIDE + i: disjoint and reproducible


def derive_seed(seed: int, index: int) -> int:
    """The seed of chunk (or round) ``index`` of a job seeded ``seed``: ``seed · SEED_STRIDE + index``,
    folded into the 63 bits every sampler accepts (chunks of rounds nest this twice)."""
    return (int(seed) * SEED_STRIDE + int(index)) % (1 << 63)


def candidates_from_samples(kind: str, samples: list[Any], *, ids: list[str],
                            alphabet: str | None = None) -> Candidates:
    """Wrap a generator's raw samples (SMILES, RDKit molecules with their 3D conformers, sequences,
    backbone arrays; :class:`Unmade` for a sample that failed with a reason) as a table."""
    if kind == "molecule" and any(not isinstance(s, str | None) for s in samples):
        from rdkit import Chem

        items, objects, reasons = [], [], []
        for s in samples:
            mol = Chem.MolFromSmiles(s) if isinstance(s, str) and s else (s if isinstance(s, Chem.Mol) else None)
            items.append(Chem.MolToSmiles(Chem.RemoveHs(mol)) if mol is not None else "")
            objects.append(mol)
            reasons.append("" if mol is not None else (s.reason if isinstance(s, Unmade) else "generation failed"))
        # numbers a generator attached to its molecules (e.g. TFG-Flow's guide prediction) become columns
        props = [m.GetPropsAsDict(includePrivate=False, includeComputed=False) if m is not None else {}
                 for m in objects]
        names = sorted({k for p in props for k, v in p.items() if isinstance(v, int | float) and k != "smiles"})
        columns = {k: np.array([float(p.get(k, np.nan)) for p in props]) for k in names}
        return Candidates("molecule", items, ids, reasons=reasons, objects=objects, columns=columns)
    if kind == "molecule":
        return Candidates.from_smiles([s or "" for s in samples], ids)
    if kind == "sequence":
        return Candidates.from_sequences([s or "" for s in samples], ids, alphabet)
    objects = [np.asarray(s) if s is not None else None for s in samples]
    reasons = ["" if o is not None else "generation failed" for o in objects]
    return Candidates("backbone", ["G" * (len(o) if o is not None else 0) for o in objects], ids,
                      reasons=reasons, objects=objects)


_generators: dict[str, Any] = {}


def load_generator(model: str) -> Any:
    """The model's generator, loaded once per process."""
    from designer.registry import model_entry

    if model not in _generators:
        _generators[model] = model_entry(model).load()
    return _generators[model]


def targets_of(candidates: Candidates) -> list[str]:
    """Numeric targets that have an achieved column (``target_qed`` and ``qed``)."""
    return [n[7:] for n, v in candidates.columns.items()
            if n.startswith("target_") and n[7:] in candidates.columns and v.dtype != object]


def target_errors(candidates: Candidates) -> dict[str, float]:
    """Mean |target − achieved| per numeric target that has an achieved column."""
    errors = {}
    for name in targets_of(candidates):
        diff = np.abs(candidates.columns[f"target_{name}"] - candidates.columns[name].astype(float))
        if np.isfinite(diff).any():
            errors[name] = float(np.nanmean(diff))
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


def reason_kind(reason: str) -> str:
    """A reason without its specifics (the quoted SMILES, atom indices), so the summary counts kinds
    of failure: "invalid SMILES: Explicit valence for atom N, 4, is greater than permitted"."""
    text = re.sub(r"\s*'[^']*'", "", reason)
    text = re.sub(r"atom # \d+ ", "atom ", text)
    return text.split(". ")[0].rstrip(".").strip() or reason


@dataclass
class RunResult:
    """What a workflow run returns: the final table, its summary and where the files are."""

    candidates: Candidates
    summary: dict[str, Any]
    directory: Path | None
    exports: list[Path]


def input_table(config: RunConfig, base_dir: Path) -> Candidates:
    """The ``[input]`` file as a table (paths relative to the config's folder); each chunk is
    standardised where it is processed (:func:`process_chunk`), in parallel in a campaign."""
    from designer.io import read

    step = config.input
    assert step is not None
    path = Path(step.path)
    return read(path if path.is_absolute() else base_dir / path, kind=step.kind, alphabet=step.alphabet,
                column=step.column)


def chunk_count(config: RunConfig, rows: int | None) -> int:
    """How many chunks a run has: over the input rows, or over the ``n`` candidates to deliver."""
    size = config.chunk_size
    if config.input is not None:
        assert rows is not None
        return max(1, -(-rows // size))
    assert config.generate is not None
    return -(-config.generate.n // size)


def generate_chunk(config: RunConfig, size: int, offset: int, *, seed: int,
                   targets: Mapping[str, Any] | None = None, guidance: float | None = None,
                   id_prefix: str | None = None, exclude: Collection[str] = (),
                   skip_oracles: frozenset[str] = frozenset()) -> tuple[Candidates, dict[str, Any]]:
    """One chunk (or campaign shard) of a ``[generate]`` workflow: the target loop delivers ``size``
    candidates (its budget is this chunk's share of ``max_samples``), then they are scored."""
    from designer.workflows.targets import BUDGET_FACTOR, sample_to_target

    step = config.generate
    assert step is not None
    budget = -(-(step.max_samples or BUDGET_FACTOR * step.n) * size // step.n)
    result = sample_to_target(step.model, step.targets if targets is None else targets, n=size,
                              tolerance=step.tolerance, rules=config.filter.rules, max_samples=max(budget, size),
                              seed=seed, guidance=step.guidance if guidance is None else guidance,
                              batch_size=step.batch_size, options=step.options, exclude=exclude,
                              id_prefix=id_prefix, id_offset=offset)
    kept, meta = process_chunk(result.candidates, config, skip_oracles=skip_oracles)
    counts = result.counts
    meta.update(produced=counts.drawn, invalid=dict(counts.invalid), dropped=dict(counts.dropped),
                target_counts=counts.to_json(), tolerance=result.summary["tolerance"],
                learned_oracles=result.summary["learned_oracles"])
    return kept, meta


def process_chunk(chunk: Candidates, config: RunConfig, *, skip_oracles: frozenset[str] = frozenset()
                  ) -> tuple[Candidates, dict[str, Any]]:
    """Filter and score one chunk; returns the survivors and the chunk's counts.

    Oracles named in ``skip_oracles`` are left for a later stage (a campaign scores expensive
    oracles in their own remote tasks); the objective is then combined by :func:`finish_scores`.
    """
    if config.input is not None and config.input.standardize:  # molecules as their parents
        from designer.standardize import standardize

        chunk = standardize(chunk)
    produced = len(chunk)
    invalid = Counter(reason_kind(r) for r, ok in zip(chunk.reasons, chunk.valid, strict=True) if not ok)
    kept, report = apply_rules(chunk, config.filter.rules)
    oracles = [name for name in config.score.oracles if name not in skip_oracles]
    score(kept, oracles, workers=config.score.workers,
          objective=None if skip_oracles else config.score.objective)
    return kept, {"produced": produced, "dropped": report.dropped, "invalid": dict(invalid)}


def finish_scores(kept: Candidates, config: RunConfig, oracles: list[str]) -> Candidates:
    """Second scoring stage: the deferred oracles, then the objective."""
    return score(kept, oracles, workers=config.score.workers, objective=config.score.objective)


def validate(config: RunConfig) -> None:
    """Check every name in a config (model, targets of [generate] and of every campaign variant,
    tolerances, rules, oracles) before any work starts."""
    from designer.filters import parse_rule
    from designer.registry import model_entry
    from designer.scoring import resolve_oracles

    if config.generate is not None:
        step = config.generate
        entry = model_entry(step.model)
        if ":" not in entry.name:  # a registered model: its targets and tolerances can be checked now
            from designer.workflows.targets import check_request

            campaign = getattr(config, "campaign", None)
            variants = campaign.variants if campaign is not None else []
            for targets in [step.targets, *(v.targets for v in variants if v.targets is not None)]:
                check_request(entry.name, targets, step.tolerance, n=step.n, max_samples=step.max_samples)
    for rule in config.filter.rules:
        parse_rule(rule)
    resolve_oracles(config.score.oracles)


def with_absolute_input(config: RunConfig, base_dir: str | Path) -> RunConfig:
    """The config with its ``[input]`` path made absolute, so that the run directory's config.toml
    resumes from anywhere (a relative path was relative to the original config's folder)."""
    if config.input is None or Path(config.input.path).is_absolute():
        return config
    path = (Path(base_dir) / config.input.path).resolve()
    return config.model_copy(update={"input": config.input.model_copy(update={"path": str(path)})})


def fingerprint(config: RunConfig) -> dict[str, str]:
    """SHA-256 of what a run reads beyond its config: the input file and the model's checkpoint."""
    from designer.data import sha256_file as digest

    prints: dict[str, str] = {}
    if config.input is not None and Path(config.input.path).is_file():
        prints["input file"] = digest(Path(config.input.path))
    if config.generate is not None:
        from designer.registry import model_entry

        card = model_entry(config.generate.model).card_path()
        weights = card.with_suffix(".pt") if card is not None else None
        if weights is not None and weights.exists():
            prints["model checkpoint"] = digest(weights)
    return prints


@contextmanager
def started_store(directory: str | Path, config: RunConfig, *, resume: bool,
                  same: Callable[[str, str], bool] | None = None) -> Iterator[RunStore]:
    """The run directory, created or resumed (config and inputs checked); a start that fails before
    any chunk is written removes what it created, so the corrected rerun is not blocked."""
    store = RunStore(directory)
    created = store.start(dump_config(config), resume=resume, same=same, fingerprint=fingerprint(config))
    try:
        yield store
    except BaseException:
        if created:
            store.discard()
        raise


def run(config: RunConfig, directory: str | Path, *, resume: bool = False, progress: bool = False,
        base_dir: str | Path = ".") -> RunResult:
    """Run a workflow into ``directory`` (``resume`` continues an interrupted run of the same config)."""
    started = time.perf_counter()
    config = with_absolute_input(config, base_dir)
    validate(config)
    with started_store(directory, config, resume=resume) as store:
        return _run_chunks(config, store, started, progress)


def _run_chunks(config: RunConfig, store: RunStore, started: float, progress: bool) -> RunResult:
    from designer.filters import canonical_keys

    table = input_table(config, Path(".")) if config.input is not None else None
    count = chunk_count(config, len(table) if table is not None else None)
    size = config.chunk_size
    done = store.done()
    todo = [i for i in range(count) if i not in done]
    seen: set[str] = set()  # generated runs deliver n unique candidates across chunks, not per chunk
    if config.generate is not None and "unique" in config.filter.rules and done:
        stored, _ = store.read_chunks()
        seen = {key for key in canonical_keys(stored) if key is not None} if stored is not None else set()
    for i in track(todo, len(todo), progress, f"{config.name}: {len(done)}/{count} chunks already done"):
        if table is not None:
            kept, meta = process_chunk(table.take(np.arange(i * size, min((i + 1) * size, len(table)))), config)
        else:
            assert config.generate is not None
            kept, meta = generate_chunk(config, min(size, config.generate.n - i * size), i * size,
                                        seed=derive_seed(config.generate.seed, i), exclude=seen)
            seen.update(key for key in canonical_keys(kept) if key is not None)
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
    extra = {"name": config.name, **extra, "exports": [p.name for p in exports]}
    if config.generate is not None:
        extra["target"] = _run_target_summary(headers, table)
    if any("node" in h for h in headers):  # campaign shards, over every session of the run
        extra["nodes"] = dict(Counter(str(h.get("node", "")) for h in headers))
        extra["shard_timings"] = [{"shard": h["chunk"], "variant": h.get("variant", ""),
                                   "node": str(h.get("node", ""))[:8], "seconds": h.get("seconds"),
                                   "drawn": h.get("produced"), "kept": h.get("kept"),
                                   "worker restarted": h.get("restarted", False)} for h in headers]
    elapsed = time.perf_counter() - started
    summary = summarize(table, produced, invalid_total, FilterReport(produced, dict(dropped)), elapsed,
                        {**extra, "elapsed_total_s": round(store.log_session(elapsed), 3)})
    store.write_summary(summary)
    write_run_report(config, table, summary, store.directory / "report.html")
    return RunResult(table, summary, store.directory, exports)


def write_run_report(config: RunConfig, table: Candidates, summary: Mapping[str, Any], path: Path) -> Path:
    """report.html of a run or campaign: success is judged with the campaign's report tolerances, else
    with the ``[generate]`` tolerances the target loop used."""
    from designer.workflows.report import write_report

    campaign = getattr(config, "campaign", None)
    tolerance = campaign.tolerance if campaign is not None else summary.get("target", {}).get("tolerance", {})
    facts: dict[str, Any] = {"config": config.name}
    if config.generate is not None:
        facts.update(model=config.generate.model, seed=config.generate.seed)
    if config.input is not None:
        facts["input"] = config.input.path
    return write_report(table, summary, path, title=config.name, tolerance=tolerance, facts=facts)


def _run_target_summary(headers: list[dict[str, Any]], table: Candidates) -> dict[str, Any]:
    """The target loop's summary over every chunk (or shard) of a generated run."""
    from designer.workflows.targets import TargetCounts, target_summary

    total = TargetCounts()
    for header in headers:
        if "target_counts" in header:
            total.add(TargetCounts.from_json(header["target_counts"]))
    total.delivered = len(table)  # after uniqueness across chunks / shards
    tolerances: dict[str, float] = {}  # campaign variants may target different properties
    learned: set[str] = set()
    for header in headers:
        tolerances.update(header.get("tolerance", {}))
        learned.update(header.get("learned_oracles", []))
    return target_summary(total, table, tolerances, learned)


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
