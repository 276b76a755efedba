"""The Python API: the same functions the CLI calls, for notebooks and scripts.

>>> import designer
>>> table = designer.score(["CCO", "c1ccccc1O"], oracles=["qed", "sa"])
>>> table.to_pandas()
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from designer.candidates import Candidates
from designer.io import read, write

if TYPE_CHECKING:
    from designer.oracles.base import Oracle
    from designer.oracles.desirability import Objective
    from designer.workflows.pipeline import RunResult

CandidatesLike = Candidates | Sequence[str] | str | Path


def as_candidates(candidates: CandidatesLike, *, kind: str | None = None,
                  alphabet: str | None = None) -> Candidates:
    """A table from a table, a file path, or a list of SMILES (or sequences, with ``kind="sequence"``)."""
    if isinstance(candidates, Candidates):
        return candidates
    if isinstance(candidates, str | Path):
        return read(candidates, kind=kind, alphabet=alphabet)
    items = list(candidates)
    if kind == "sequence" or alphabet is not None:
        return Candidates.from_sequences(items, alphabet=alphabet)
    return Candidates.from_smiles(items)


def score(candidates: CandidatesLike, oracles: Sequence[str | Oracle], *, workers: int = 1,
          objective: Objective | Mapping[str, Any] | None = None, kind: str | None = None,
          alphabet: str | None = None, progress: bool = False) -> Candidates:
    """Score candidates with oracles (names like ``"qed"`` or ``"similarity=CCO"``); one column each.

    ``objective`` combines transformed oracle values into one ``score`` column, e.g.
    ``{"components": [{"oracle": "qed", "transform": "sigmoid", "low": 0.4, "high": 0.9}]}``.
    """
    from designer.oracles.desirability import Objective
    from designer.scoring import score as score_table

    if isinstance(objective, Mapping):
        objective = Objective.model_validate(objective)
    table = as_candidates(candidates, kind=kind, alphabet=alphabet)
    return score_table(table, oracles, workers=workers, objective=objective, progress=progress)


def filter(candidates: CandidatesLike, rules: Sequence[str], *, kind: str | None = None,
           alphabet: str | None = None) -> Candidates:
    """Keep the candidates that pass every rule (``"valid"``, ``"unique"``, ``"qed>=0.6"``, ...)."""
    from designer.filters import apply_rules

    kept, _ = apply_rules(as_candidates(candidates, kind=kind, alphabet=alphabet), list(rules))
    return kept


def generate(target: Mapping[str, float | str | None] | None = None, *, model: str | None = None,
             n: int = 100, tolerance: Mapping[str, float | str] | str | None = None,
             max_samples: int | None = None, seed: int = 0, guidance: float = 2.0, batch_size: int = 256,
             oracles: Sequence[str] | None = None, rules: Sequence[str] | None = None,
             options: Mapping[str, Any] | None = None, progress: bool = False) -> Candidates:
    """``n`` candidates from a shipped model that pass ``rules`` (default valid, unique) and lie within
    ``tolerance`` of every numeric ``target``, as scored by the real oracle.

    The model samples in seeded rounds until ``n`` are delivered or ``max_samples`` (default 50 × n)
    raw samples are drawn; on a shortfall the candidates found are returned with a
    :class:`~designer.workflows.targets.TargetShortfall` warning. ``model`` None is the default
    molecule model (see ``designer models``). The table's ``summary`` holds requested/delivered n,
    samples drawn, raw validity, acceptance rate and the target MAE of raw and delivered samples.

    >>> table = designer.generate({"qed": 0.9}, n=100, tolerance={"qed": 0.05}, seed=0)
    >>> table.summary["delivered"], table.summary["target_mae_delivered"]
    """
    import warnings

    from designer.workflows.targets import TargetShortfall
    from designer.workflows.targets import generate as generate_to_target

    result = generate_to_target(model, target, n=n, tolerance=tolerance, rules=rules, max_samples=max_samples,
                                oracles=oracles, seed=seed, guidance=guidance, batch_size=batch_size,
                                options=options, progress=progress)
    if result.shortfall:
        warnings.warn(shortfall_message(result.summary), TargetShortfall, stacklevel=2)
    result.candidates.summary = result.summary
    return result.candidates


def shortfall_message(summary: Mapping[str, Any]) -> str:
    """One line on a budget that ran out before n were delivered."""
    return (f"the sample budget ran out: delivered {summary['delivered']} of {summary['requested']} after "
            f"{summary['samples_drawn']} samples (acceptance rate {summary['acceptance_rate']:.4f}); raise "
            f"max_samples or widen the tolerance")


def design_sequences(backbones: CandidatesLike, *, per_backbone: int = 1, temperature: float = 0.1,
                     seed: int = 0) -> Candidates:
    """ProteinMPNN sequences for backbones (a table, a .pdb file or a folder of them): a protein
    sequence table with each design's mean log-likelihood (``mpnn_ll``) and its ``backbone`` id."""
    from designer.oracles.structure import design_sequences as design

    table = as_candidates(backbones, kind="backbone")
    return design(table, per_backbone=per_backbone, temperature=temperature, seed=seed)


def run(config: str | Path | Mapping[str, Any], directory: str | Path | None = None, *,
        resume: bool = False, progress: bool = False) -> RunResult:
    """Run a workflow config (a TOML path or a mapping) into a run directory (default ``runs/<name>``)."""
    from designer.config import load_config, parse_config
    from designer.workflows.pipeline import run as run_workflow

    if isinstance(config, Mapping):
        parsed, base = parse_config(dict(config)), Path(".")
    else:
        parsed, base = load_config(config), Path(config).parent
    directory = Path(directory) if directory is not None else Path("runs") / parsed.name
    return run_workflow(parsed, directory, resume=resume, progress=progress, base_dir=base)


def campaign(config: str | Path | Mapping[str, Any], directory: str | Path | None = None, *,
             address: str | None = None, resume: bool = False, progress: bool = False) -> RunResult:
    """Run a campaign config on Ray: a local instance by default, or the cluster at ``address``
    (``"auto"`` or ``"ray://host:port"``). Returns the same results as :func:`run`."""
    from designer.config import CampaignConfig, load_config, parse_config
    from designer.workflows.campaign import campaign as run_campaign

    if isinstance(config, Mapping):
        parsed, base = parse_config(dict(config), schema=CampaignConfig), Path(".")
    else:
        parsed, base = load_config(config, CampaignConfig), Path(config).parent
    assert isinstance(parsed, CampaignConfig)
    directory = Path(directory) if directory is not None else Path("runs") / parsed.name
    return run_campaign(parsed, directory, address=address, resume=resume, progress=progress, base_dir=base)


__all__ = ["as_candidates", "campaign", "filter", "generate", "read", "run", "score", "write"]
