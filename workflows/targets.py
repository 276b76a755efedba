"""The target loop: sample in rounds until ``n`` candidates pass the rules and lie within tolerance.

Every way of generating (``designer generate``, ``designer.generate``, run configs and campaign
shards) calls :func:`sample_to_target`, so ``-n`` always counts *delivered* candidates:

1. draw a round of raw samples from the model (round ``r`` uses seed ``derive_seed(seed, r)``, so
   the same seed gives the same output);
2. apply the rules (default ``valid``, ``unique``; uniqueness also against every candidate seen in
   earlier rounds and against ``exclude``);
3. score each numeric target with its real oracle (RDKit QED/SA/logP/MW for molecules; for sequence
   models the learned guide, which the summary labels as learned);
4. keep those within tolerance of every target (``|achieved − target| ≤ tolerance``);
5. stop at ``n`` delivered, or when ``max_samples`` raw samples have been drawn (a shortfall: what
   was found is returned, never thrown away).

Round sizes follow the acceptance rate measured so far (deterministic given the seed), so a rare
target costs a few large rounds rather than many small ones.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from designer.candidates import Candidates
from designer.errors import DesignerError
from designer.workflows.pipeline import candidates_from_samples, derive_seed, load_generator, reason_kind, target_errors

DEFAULT_RULES = ("valid", "unique")
BUDGET_FACTOR = 50  # default max_samples = 50 × n
GROWTH_LIMIT = 4  # a round draws at most 4 × what was drawn before it (noisy early acceptance estimates)


class TargetShortfall(UserWarning):
    """The sample budget ran out before ``n`` candidates were delivered (what was found is kept)."""


def parse_tolerances(specs: Sequence[str]) -> dict[str, float | str]:
    """CLI ``--tolerance`` values: ``NAME=VALUE`` pairs or ``default`` (per-property defaults)."""
    out: dict[str, float | str] = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        name = name.strip().lower()
        if not sep:
            if name != "default":
                raise DesignerError(f"--tolerance {spec!r}: expected NAME=VALUE (e.g. qed=0.05) or 'default'")
            out["default"] = "default"
            continue
        out[name] = value.strip()
    return out


def resolve_tolerances(conditions: Mapping[str, Any], targets: Mapping[str, float | str],
                       tolerance: Mapping[str, float | str] | str | None) -> dict[str, float]:
    """Tolerances per numeric target: explicit values, or each condition's default for ``"default"``.

    A tolerance for a property that is not targeted, a categorical target, or a value that is not a
    positive number is a :class:`DesignerError`.
    """
    if tolerance is None:
        return {}
    requested: dict[str, float | str] = {"default": "default"} if isinstance(tolerance, str) else dict(tolerance)
    if isinstance(tolerance, str) and tolerance != "default":
        raise DesignerError(f"tolerance {tolerance!r}: give a mapping such as {{'qed': 0.05}} or 'default'")
    out: dict[str, float] = {}
    if requested.pop("default", None) is not None:  # every numeric target (none: nothing to tolerate)
        for name, value in targets.items():
            condition = conditions[name]
            if condition.kind == "numeric" and isinstance(value, float | int):
                out[name] = condition.default_tolerance()
    for name, value in requested.items():
        if name not in targets:
            targeted = ", ".join(targets) or "none"
            raise DesignerError(f"tolerance for {name!r}, which is not a target (targets: {targeted}); "
                                f"add --target {name}=VALUE or drop the tolerance")
        if conditions[name].kind != "numeric":
            raise DesignerError(f"tolerance for {name!r}: it is a categorical target, met exactly or not at all")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise DesignerError(f"tolerance {name}={value!r} is not a number") from None
        if not math.isfinite(number) or number <= 0:
            raise DesignerError(f"tolerance {name}={value!r} must be a positive number")
        out[name] = number
    return out


def target_oracles(kind: str, scored_by: Mapping[str, str], names: Collection[str]) -> dict[str, Any]:
    """The registered oracle that scores each named target, of the model's candidate kind: the one the
    model names in its ``scored_by`` (e.g. ``gap`` → ``qm9_gap`` for a SMILES model, whose samples have no
    3D geometry for the oracle called ``gap``), else the one of the same name. Its column takes the
    target's name, so ``target_<name>`` and ``<name>`` stay a pair; the summary's ``scored_by`` says
    which oracle filled it."""
    from designer.registry import make_oracle, oracle_specs

    specs = oracle_specs()
    out = {}
    for name in names:
        spec = scored_by.get(name, name)
        if spec not in specs or specs[spec].kind != kind:
            raise DesignerError(f"no {kind} oracle scores {name!r}, so a tolerance on it cannot be checked")
        out[name] = make_oracle(spec)
        out[name].name = name
    return out


def check_request(model: str, targets: Mapping[str, float | str | None] | None,
                  tolerance: Mapping[str, float | str] | str | None, *, n: int,
                  max_samples: int | None = None
                  ) -> tuple[Any, dict[str, float | str], dict[str, float], dict[str, Any]]:
    """Validate a request before any sampling: n, the budget, targets against the model's ranges,
    tolerances against the targets, and an oracle for every tolerated target. Returns the loaded
    generator, the resolved targets, the tolerances and those oracles."""
    from designer.generators import resolve_targets

    if n <= 0:
        raise DesignerError(f"-n must be a positive number of candidates (got {n})")
    if max_samples is not None and max_samples < n:
        raise DesignerError(f"--max-samples {max_samples} is below -n {n}: the budget must allow at least n samples")
    generator = load_generator(model)
    resolved = resolve_targets(generator.conditions, dict(targets or {}))
    if tolerance is None and getattr(generator, "conditioning", "model") == "selection" and resolved:
        tolerance = "default"  # an unconditional model meets targets only by selection
    tolerances = resolve_tolerances(generator.conditions, resolved, tolerance)
    return generator, resolved, tolerances, target_oracles(generator.kind, getattr(generator, "scored_by", {}),
                                                            tolerances)


@dataclass
class TargetCounts:
    """What a loop did, as sums (so chunks and shards add up): the summary is derived from these."""

    requested: int = 0
    delivered: int = 0
    drawn: int = 0
    valid: int = 0
    rounds: int = 0
    invalid: Counter = field(default_factory=Counter)
    dropped: Counter = field(default_factory=Counter)
    abs_error_raw: dict[str, float] = field(default_factory=dict)  # sums over scored samples
    scored_raw: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def add(self, other: TargetCounts) -> None:
        for name in ("requested", "delivered", "drawn", "valid", "rounds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.invalid.update(other.invalid)
        self.dropped.update(other.dropped)
        for name, value in other.abs_error_raw.items():
            self.abs_error_raw[name] = self.abs_error_raw.get(name, 0.0) + value
            self.scored_raw[name] = self.scored_raw.get(name, 0) + other.scored_raw[name]
        self.elapsed_s += other.elapsed_s

    def to_json(self) -> dict[str, Any]:
        return {"requested": self.requested, "delivered": self.delivered, "drawn": self.drawn, "valid": self.valid,
                "rounds": self.rounds, "invalid": dict(self.invalid), "dropped": dict(self.dropped),
                "abs_error_raw": self.abs_error_raw, "scored_raw": self.scored_raw, "elapsed_s": self.elapsed_s}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TargetCounts:
        return cls(data["requested"], data["delivered"], data["drawn"], data["valid"], data["rounds"],
                   Counter(data["invalid"]), Counter(data["dropped"]), dict(data["abs_error_raw"]),
                   dict(data["scored_raw"]), data["elapsed_s"])


def target_summary(counts: TargetCounts, delivered: Candidates, tolerances: Mapping[str, float],
                   learned: Collection[str] = ()) -> dict[str, Any]:
    """Requested and delivered n, samples drawn, raw validity, acceptance rate, and per target the
    MAE of the raw samples (those passing the rules, before the tolerance check) and of the delivered."""
    drawn = max(counts.drawn, 1)
    raw = {name: counts.abs_error_raw[name] / counts.scored_raw[name]
           for name in counts.abs_error_raw if counts.scored_raw.get(name)}
    return {
        "requested": counts.requested,
        "delivered": counts.delivered,
        "samples_drawn": counts.drawn,
        "rounds": counts.rounds,
        "raw_validity": counts.valid / drawn,
        "acceptance_rate": counts.delivered / drawn,
        "tolerance": dict(tolerances),
        "target_mae_raw": raw,
        "target_mae_delivered": target_errors(delivered),
        "learned_oracles": sorted(learned),
        "shortfall": counts.delivered < counts.requested,
    }


def closing_line(summary: Mapping[str, Any]) -> str:
    """The one line ``designer generate`` ends with: requested and delivered n, samples drawn, raw
    validity, acceptance rate and, per target, the MAE of raw and of delivered samples."""
    parts = [f"delivered {summary['delivered']} of {summary['requested']}",
             f"{summary['samples_drawn']} samples drawn in {summary['rounds']} round(s)",
             f"raw validity {summary['raw_validity']:.3f}", f"acceptance {summary['acceptance_rate']:.3f}"]
    delivered = summary["target_mae_delivered"]
    for name, raw in summary["target_mae_raw"].items():
        learned = " (learned oracle)" if name in summary["learned_oracles"] else ""
        after = f"{delivered[name]:.3g}" if name in delivered else "n/a"
        parts.append(f"{name}{learned} MAE raw {raw:.3g} -> delivered {after} (tolerance "
                     f"{summary['tolerance'][name]:g})")
    for name, value in delivered.items():
        if name not in summary["target_mae_raw"]:
            parts.append(f"{name} MAE {value:.3g} (no tolerance: not selected)")
    return f"{summary.get('model', 'model')}: " + "; ".join(parts)


@dataclass
class TargetResult:
    """The delivered candidates (at most ``n``, in sampling order) and what it took to find them."""

    candidates: Candidates
    counts: TargetCounts
    summary: dict[str, Any]

    @property
    def shortfall(self) -> bool:
        return self.counts.delivered < self.counts.requested


def round_size(needed: int, delivered: int, drawn: int, remaining: int) -> int:
    """How many raw samples the next round draws: enough for ``needed`` more at the acceptance rate
    seen so far (+20 %), at most ``GROWTH_LIMIT`` × what was drawn, at most the remaining budget."""
    if drawn == 0:
        size = needed
    else:
        rate = delivered / drawn if delivered else 0.5 / drawn
        size = min(math.ceil(1.2 * needed / rate), GROWTH_LIMIT * drawn)
    return max(1, min(size, remaining))


BACKBONE_CHECKS = ("helix", "strand", "coil", "rg", "ca_clashes", "ca_ca_bad")
SEQUENCE_CHECKS = {"protein": ("length", "charge", "pi", "gravy", "instability"), "dna": ("length", "gc")}


def default_oracles(table: Candidates, target: Mapping[str, Any]) -> list[str]:
    """The oracles a generated table is scored with by default: each target that is a registered
    oracle, for backbones the cheap structure checks (secondary structure, Rg, clashes) and for
    sequences their basic properties (length, ProtParam charge/pI/GRAVY/instability, GC)."""
    from designer.registry import oracle_specs

    specs = oracle_specs()
    names = [name for name in target if name in specs and specs[name].kind == table.kind]
    if table.kind == "backbone":
        names += [name for name in BACKBONE_CHECKS if name in specs]
    if table.kind == "sequence":
        names += [name for name in SEQUENCE_CHECKS.get(table.alphabet or "", ()) if name in specs and name not in names]
    return names


def generate(model: str | None = None, targets: Mapping[str, float | str | None] | None = None, *, n: int = 100,
             tolerance: Mapping[str, float | str] | str | None = None, rules: Sequence[str] | None = None,
             max_samples: int | None = None, oracles: Sequence[str] | None = None, seed: int = 0,
             guidance: float | None = None, batch_size: int = 256, options: Mapping[str, Any] | None = None,
             progress: bool = False) -> TargetResult:
    """What ``designer generate`` and ``designer.generate`` do: :func:`sample_to_target`, then score
    the delivered candidates with ``oracles`` (default: the targets' oracles and the kind's basic
    checks) and rank them by the first. ``model`` None is the registry's default for molecules."""
    from designer.registry import default_model
    from designer.scoring import resolve_oracles, score
    from designer.workflows.pipeline import rank

    model = model or default_model("molecule")
    if oracles is not None:
        resolve_oracles(list(oracles))  # an unknown oracle fails before any sampling
    result = sample_to_target(model, targets, n=n, tolerance=tolerance, rules=rules, max_samples=max_samples,
                              seed=seed, guidance=guidance, batch_size=batch_size, options=options, progress=progress)
    table = result.candidates
    scored_by = result.summary["scored_by"]  # targets the model has checked by another oracle (qm9_gap for gap)
    names = list(dict.fromkeys([*scored_by, *default_oracles(table, {k: v for k, v in (targets or {}).items()
                                                                     if k not in scored_by}), *(oracles or [])]))
    missing = [name for name in names if name not in table.columns]
    if missing and len(table):
        renamed = target_oracles(table.kind, scored_by, [name for name in missing if name in scored_by])
        score(table, [renamed.get(name, name) for name in missing])
    result.summary["target_mae_delivered"] = target_errors(table)  # now with every target's oracle scored
    distance = _target_distance(table, result.summary["tolerance"])
    if distance is not None:  # closest to the targets first
        result.candidates = table.take(np.argsort(distance, kind="stable"))
    else:
        result.candidates = rank(table, names[0] if names else None)
    result.summary["model"] = model
    return result


def _target_distance(table: Candidates, tolerances: Mapping[str, float]) -> np.ndarray | None:
    """max over targets of |achieved − target| / tolerance, per candidate (None without tolerances)."""
    if not tolerances or not len(table):
        return None
    return np.max([np.abs(table.columns[name].astype(float) - table.columns[f"target_{name}"].astype(float)) / limit
                   for name, limit in tolerances.items()], axis=0)


def check_sampler_options(generator: Any, options: Mapping[str, Any]) -> None:
    """Every sampler option must be a keyword of the model's ``sample`` (e.g. TFG-Flow's ``k``, ``tau``)."""
    import inspect

    known = [name for name, p in inspect.signature(generator.sample).parameters.items()
             if p.kind == p.KEYWORD_ONLY and name not in ("guidance", "seed", "batch_size", "progress")]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise DesignerError(f"model {generator.name!r} has no sampler option {unknown[0]!r}"
                            + (f" (its options: {', '.join(known)})" if known else " (it takes none)"))


def _slice_options(options: Mapping[str, Any], start: int, size: int) -> dict[str, Any]:
    """Per-sample option lists (e.g. backbone ``lengths``) for samples ``start:start + size``, cycled."""
    out = dict(options)
    lengths = out.get("lengths")
    if isinstance(lengths, list | tuple | np.ndarray) and len(lengths) > 2:
        out["lengths"] = [int(lengths[(start + i) % len(lengths)]) for i in range(size)]
    return out


DEFAULT_GUIDANCE = 2.0  # for a model that declares no ``default_guidance``


def resolve_guidance(generator: Any, guidance: float | None) -> float:
    """The scale to sample at: ``guidance`` when given, else the model's own ``default_guidance``
    (graph-dit's CFG 2, the MOSES inverse transformer's swept 1.5, TFG-Flow's 1)."""
    return float(getattr(generator, "default_guidance", DEFAULT_GUIDANCE)) if guidance is None else float(guidance)


def sample_to_target(model: str, targets: Mapping[str, float | str | None] | None = None, *, n: int = 100,
                     tolerance: Mapping[str, float | str] | str | None = None,
                     rules: Sequence[str] | None = None, max_samples: int | None = None, seed: int = 0,
                     guidance: float | None = None, batch_size: int = 256, options: Mapping[str, Any] | None = None,
                     exclude: Collection[str] = (), id_prefix: str | None = None, id_offset: int = 0,
                     progress: bool = False) -> TargetResult:
    """Sample from ``model`` until ``n`` candidates pass ``rules`` and every tolerance, or the budget ends.

    ``targets`` are validated against the model's conditions (``None`` values take its defaults);
    ``tolerance`` maps targeted properties to allowed |achieved − target| (or ``"default"``); for a
    model that conditions by selection only (``conditioning = "selection"``) the default tolerances
    apply when none are given. ``exclude`` holds canonical keys already delivered elsewhere (earlier
    chunks of a run). Returns the delivered table (ids ``<prefix>-<k>`` numbered from ``id_offset``).
    """
    from designer.filters import apply_rules, canonical_keys
    from designer.scoring import score

    generator, resolved, tolerances, oracles = check_request(model, targets, tolerance, n=n, max_samples=max_samples)
    check_sampler_options(generator, options or {})
    guidance = resolve_guidance(generator, guidance)
    budget = BUDGET_FACTOR * n if max_samples is None else int(max_samples)
    learned = [name for name, oracle in oracles.items() if oracle.learned]
    rule_list = list(DEFAULT_RULES if rules is None else rules)
    unique = "unique" in rule_list
    seen: set[str] = set(exclude)
    counts = TargetCounts(requested=n)
    parts: list[Candidates] = []
    started = time.perf_counter()
    bar = _DeliveryBar(progress, n, model)
    options = dict(options or {})
    prefix = id_prefix or model
    while counts.delivered < n and counts.drawn < budget:
        size = round_size(n - counts.delivered, counts.delivered, counts.drawn, budget - counts.drawn)
        samples = generator.sample(size, resolved, guidance=guidance, seed=derive_seed(seed, counts.rounds),
                                   batch_size=batch_size, **_slice_options(options, counts.drawn, size))
        ids = [f"{prefix}-draw{counts.drawn + i + 1}" for i in range(size)]
        raw = candidates_from_samples(generator.kind, samples, ids=ids, alphabet=getattr(generator, "alphabet", None))
        counts.drawn += size
        counts.rounds += 1
        valid = raw.valid
        counts.valid += int(valid.sum())
        counts.invalid.update(reason_kind(r) for r, ok in zip(raw.reasons, valid, strict=True) if not ok)
        kept, report = apply_rules(raw, rule_list)
        counts.dropped.update(report.dropped)
        if unique and len(kept):
            keys = canonical_keys(kept)
            fresh = np.array([key is None or key not in seen for key in keys], dtype=bool)
            counts.dropped["unique"] += int((~fresh).sum())
            kept = kept.take(fresh)
            seen.update(key for key, ok in zip(keys, fresh, strict=True) if ok and key is not None)
        for name, value in resolved.items():
            kept.columns[f"target_{name}"] = np.full(len(kept), value, dtype=float if isinstance(value, float)
                                                     else object)
        if tolerances and len(kept):
            score(kept, list(oracles.values()))
            within = np.ones(len(kept), dtype=bool)
            for name, limit in tolerances.items():
                error = np.abs(kept.columns[name].astype(float) - float(resolved[name]))
                finite = np.isfinite(error)
                counts.abs_error_raw[name] = counts.abs_error_raw.get(name, 0.0) + float(error[finite].sum())
                counts.scored_raw[name] = counts.scored_raw.get(name, 0) + int(finite.sum())
                within &= finite & (error <= limit)
            counts.dropped["tolerance"] += int((~within).sum())
            kept = kept.take(within)
        kept = kept.take(np.arange(min(len(kept), n - counts.delivered)))
        counts.delivered += len(kept)
        parts.append(kept)
        bar.update(counts)
    bar.close()
    counts.elapsed_s = time.perf_counter() - started
    table = Candidates.concat(parts)  # the loop ran at least once: n >= 1 and the budget >= n
    table.ids = [f"{prefix}-{id_offset + i + 1}" for i in range(len(table))]
    scored_by = {name: spec for name, spec in getattr(generator, "scored_by", {}).items() if name in resolved}
    return TargetResult(table, counts, target_summary(counts, table, tolerances, learned)
                        | {"guidance": guidance, "scored_by": scored_by})


class _DeliveryBar:
    """A rich progress bar of delivered / n, with samples drawn and the acceptance rate."""

    def __init__(self, show: bool, total: int, model: str) -> None:
        self.progress = None
        if not show:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn(f"{model}: delivered"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                                 console=Console(stderr=True), transient=True)
        self.progress.start()
        self.task = self.progress.add_task("deliver", total=total, status="")

    def update(self, counts: TargetCounts) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=counts.delivered,
                                 status=f"{counts.drawn} drawn, acceptance {counts.delivered / counts.drawn:.3f}")

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


__all__ = ["TargetCounts", "TargetResult", "TargetShortfall", "parse_tolerances", "resolve_tolerances",
           "round_size", "sample_to_target", "target_summary"]
