"""Scoring a table with oracles, serially or over several processes."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from designer.candidates import Candidates
from designer.progress import track

if TYPE_CHECKING:
    from designer.oracles.base import Oracle
    from designer.oracles.desirability import Objective

def resolve_oracles(oracles: Sequence[str | Oracle]) -> list[Oracle]:
    """Oracle objects for names (``"qed"``, ``"similarity=CCO"``) or ready oracles."""
    from designer.registry import make_oracle

    return [make_oracle(o) if isinstance(o, str) else o for o in oracles]


def _score_serial(candidates: Candidates, oracles: list[Oracle]) -> dict[str, tuple[np.ndarray, list[str]]]:
    out = {}
    for oracle in oracles:
        result = oracle(candidates)
        out[oracle.name] = (result.values, result.reasons)
    return out


def _score_chunk(args: tuple[Candidates, list[str]]) -> dict[str, tuple[np.ndarray, list[str]]]:
    candidates, names = args
    return _score_serial(candidates, resolve_oracles(names))


def default_workers() -> int:
    """All cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def score(candidates: Candidates, oracles: Sequence[str | Oracle], *, workers: int = 1,
          objective: Objective | None = None, progress: bool = False, chunk_size: int = 2000) -> Candidates:
    """Add one column per oracle (and the objective's column) to ``candidates``; returns it.

    With ``workers > 1`` the table is split into chunks scored in a process pool; oracles that run
    their own processes (xTB) and oracle objects that are not registry names run in this process.
    A candidate that cannot be scored gets NaN and its reason appended to ``candidates.reasons``.
    """
    specs: list[str | Oracle] = list(oracles)
    if objective is not None:
        named = {o if isinstance(o, str) else o.name for o in specs}
        specs += [name for name in objective.oracles if name not in candidates.columns and name not in named]
    resolved = resolve_oracles(specs)
    workers = default_workers() if workers <= 0 else workers
    # Registry names can be rebuilt in a worker process; oracle objects and xTB (own pool) stay here.
    poolable = [o for spec, o in zip(specs, resolved, strict=True)
                if isinstance(spec, str) and not o.uses_processes]
    in_process = [o for o in resolved if o not in poolable]
    results: dict[str, tuple[np.ndarray, list[str]]] = {}
    if poolable and workers > 1 and len(candidates) > chunk_size:
        starts = range(0, len(candidates), chunk_size)
        chunks = [(candidates.take(np.arange(s, min(s + chunk_size, len(candidates)))),
                   [o.name for o in poolable]) for s in starts]
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        with multiprocessing.get_context(method).Pool(workers) as pool:
            parts = list(track(pool.imap(_score_chunk, chunks), len(chunks), progress, "scoring"))
        for oracle in poolable:
            results[oracle.name] = (np.concatenate([p[oracle.name][0] for p in parts]),
                                    [r for p in parts for r in p[oracle.name][1]])
    else:
        in_process = resolved
    for oracle in track(in_process, len(in_process), progress and len(in_process) > 1, "oracles"):
        results.update(_score_serial(candidates, [oracle]))
    for name, (values, reasons) in results.items():
        candidates.columns[name] = values
        for i, reason in enumerate(reasons):
            if reason and reason != candidates.reasons[i]:
                candidates.add_reason(i, reason)
    if objective is not None:
        candidates.columns[objective.name] = objective.combine(candidates.columns)
    return candidates
