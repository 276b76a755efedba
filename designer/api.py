"""The Python API: the same functions the CLI calls, for notebooks and scripts.

>>> import designer
>>> table = designer.score(["CCO", "c1ccccc1O"], oracles=["qed", "sa"])
>>> table.to_pandas()
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from designer.candidates import Candidates
from designer.errors import DesignerError
from designer.io import read, write

if TYPE_CHECKING:
    from designer.oracles.base import Oracle
    from designer.oracles.desirability import Objective
    from designer.workflows.pipeline import RunResult

CandidatesLike = Any  # a Candidates table, a path, a SMILES/sequence string, a list, a pandas Series or DataFrame


def as_candidates(candidates: CandidatesLike, *, kind: str | None = None, alphabet: str | None = None,
                  column: str | None = None, standardize: bool = False) -> Candidates:
    """A table from whatever a chemist holds.

    - a :class:`Candidates` table (returned as it is) or a file path (read by its extension);
    - one SMILES or sequence string, or a list of them, or of RDKit ``Mol`` objects (``None`` is kept
      as an invalid entry);
    - a pandas Series (its index becomes the ids) or a DataFrame: the SMILES/sequence column is
      ``column`` or the first of ``smiles``/``sequence``/``seq`` (any case), else an RDKit Mol column
      as ``PandasTools`` makes it (``ROMol``); an ``id`` column (or a non-default index) gives the ids,
      and every other column is carried through.

    Sequences need ``kind="sequence"`` or an ``alphabet`` unless the column says ``sequence``.
    ``standardize`` turns molecules into their parents (:mod:`designer.standardize`).

    >>> designer.as_candidates(pd.DataFrame({"smiles": ["CCO", "CCN"], "pic50": [6.1, 7.2]}))
    <Candidates 2 molecules (0 invalid); pic50>
    """
    table = _as_table(candidates, kind, alphabet, column)
    if standardize:
        from designer.standardize import standardize as to_parent

        table = to_parent(table)
    return table


def _as_table(candidates: CandidatesLike, kind: str | None, alphabet: str | None, column: str | None) -> Candidates:
    import importlib.util

    from designer.io import FORMATS

    if isinstance(candidates, Candidates):
        return candidates
    if isinstance(candidates, Path):
        return read(candidates, kind=kind, alphabet=alphabet, column=column)
    if isinstance(candidates, str):
        looks_like_file = Path(candidates).suffix.lower() in FORMATS or "/" in candidates
        if looks_like_file or Path(candidates).exists():
            return read(candidates, kind=kind, alphabet=alphabet, column=column)
        return _from_items([candidates], [], kind, alphabet)
    if importlib.util.find_spec("pandas") is not None:
        import pandas as pd

        if isinstance(candidates, pd.DataFrame):
            return _from_frame(candidates, kind, alphabet, column)
        if isinstance(candidates, pd.Series):
            return _from_items(list(candidates), _index_ids(candidates.index), kind, alphabet)
    if isinstance(candidates, Sequence | np.ndarray) and not isinstance(candidates, bytes):
        return _from_items(list(candidates), [], kind, alphabet)
    raise DesignerError(f"cannot make candidates from a {type(candidates).__name__}: give a list of SMILES or "
                        "sequences, RDKit molecules, a pandas Series or DataFrame, a file path or a Candidates table")


def _index_ids(index: Any) -> list[str]:
    """A pandas index as ids, unless it is the default 0..n-1 range (then ids are numbered)."""
    import pandas as pd

    return [] if isinstance(index, pd.RangeIndex) else [str(i) for i in index]


def _from_items(items: list[Any], ids: list[str], kind: str | None, alphabet: str | None) -> Candidates:
    """A table from SMILES/sequence strings or RDKit molecules (``None``/NaN: an empty, invalid entry)."""
    from rdkit import Chem

    def missing(item: Any) -> bool:
        return item is None or (isinstance(item, float) and np.isnan(item))

    mols = [item for item in items if isinstance(item, Chem.Mol)]
    odd = next((item for item in items if not missing(item) and not isinstance(item, str | Chem.Mol)), None)
    if odd is not None:
        raise DesignerError(f"cannot read {type(odd).__name__} {odd!r} as a candidate: expected SMILES or sequence "
                            "strings or RDKit molecules")
    if mols:
        if len(mols) + sum(missing(i) for i in items) != len(items):
            raise DesignerError("a mix of RDKit molecules and strings: give one or the other")
        table = Candidates.from_smiles(["" if missing(m) else Chem.MolToSmiles(m) for m in items], ids)
        table.objects = [None if missing(m) else Chem.Mol(m) for m in items]  # keep conformers and properties
        return table
    texts = ["" if missing(item) else item for item in items]
    if kind == "sequence" or alphabet is not None:
        return Candidates.from_sequences(texts, ids, alphabet)
    return Candidates.from_smiles(texts, ids)


def _from_frame(frame: Any, kind: str | None, alphabet: str | None, column: str | None) -> Candidates:
    """A table from a DataFrame's structure column, carrying its other columns through."""
    from rdkit import Chem

    from designer.io import RESERVED

    names = [str(c) for c in frame.columns]
    if column is None:
        column = next((c for c in names if c.lower() in ("smiles", "sequence", "seq")), None)
    if column is None:
        column = next((c for c in names if frame[c].map(lambda v: isinstance(v, Chem.Mol)).any()), None)
    if column is None or column not in names:
        wanted = f"no column {column!r}" if column else "no SMILES, sequence or RDKit Mol column"
        raise DesignerError(f"DataFrame: {wanted} (columns: {', '.join(names)}); pass column=NAME")
    if kind is None and column.lower() in ("sequence", "seq"):
        kind = "sequence"
    ids = [str(v) for v in frame["id"]] if "id" in names else _index_ids(frame.index)
    table = _from_items(list(frame[column]), ids, kind, alphabet)
    for name in names:
        if name == column or name.lower() in RESERVED:
            continue
        values = frame[name].to_numpy()
        if values.dtype.kind in "biuf":
            table.columns[name] = values.astype(float)
        elif not frame[name].map(lambda v: isinstance(v, Chem.Mol)).any():
            table.columns[name] = values.astype(object)
    return table


def score(candidates: CandidatesLike, oracles: Sequence[str | Oracle], *, workers: int = 0,
          objective: Objective | Mapping[str, Any] | None = None, kind: str | None = None,
          alphabet: str | None = None, column: str | None = None, standardize: bool = True,
          progress: bool = False) -> Candidates:
    """Score candidates with oracles (names like ``"qed"`` or ``"similarity=CCO"``); one column each.

    ``candidates`` is anything :func:`as_candidates` takes (a DataFrame keeps its other columns).
    Molecules are scored as their parent (largest organic fragment, neutralised; see
    :mod:`designer.standardize`) unless ``standardize=False``; ``input_smiles`` keeps what was given.
    ``workers`` processes score large tables (0, the default: all cores; 1: this process only).
    ``objective`` combines transformed oracle values into one ``score`` column, e.g.
    ``{"components": [{"oracle": "qed", "transform": "sigmoid", "low": 0.4, "high": 0.9}]}``.

    >>> designer.score(["CCO", "c1ccccc1O"], oracles=["qed", "sa"]).to_pandas()
    """
    from designer.oracles.desirability import Objective
    from designer.scoring import score as score_table

    if isinstance(objective, Mapping):
        objective = Objective.model_validate(objective)
    table = as_candidates(candidates, kind=kind, alphabet=alphabet, column=column, standardize=standardize)
    return score_table(table, oracles, workers=workers, objective=objective, progress=progress)


def filter(candidates: CandidatesLike, rules: Sequence[str], *, kind: str | None = None,
           alphabet: str | None = None, column: str | None = None, standardize: bool = True) -> Candidates:
    """Keep the candidates that pass every rule (``"valid"``, ``"unique"``, ``"qed>=0.6"``, ...),
    judged on parent molecules unless ``standardize=False`` (as :func:`score`).

    >>> designer.filter(["CCO", "OCC", "C1CC"], ["valid", "unique"]).items
    ['CCO']
    """
    from designer.filters import apply_rules

    table = as_candidates(candidates, kind=kind, alphabet=alphabet, column=column, standardize=standardize)
    kept, _ = apply_rules(table, list(rules))
    return kept


def generate(target: Mapping[str, float | str | None] | None = None, *, model: str | None = None,
             n: int = 100, tolerance: Mapping[str, float | str] | str | None = None,
             max_samples: int | None = None, seed: int = 0, guidance: float | None = None, batch_size: int = 256,
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


def shortfall_message(summary: Mapping[str, Any], why: str = "the sample budget ran out") -> str:
    """One line on a budget that ran out before n were delivered."""
    return (f"{why}: delivered {summary['delivered']} of {summary['requested']} after "
            f"{summary['samples_drawn']} samples (acceptance rate {summary['acceptance_rate']:.4f}); raise "
            f"max_samples or widen the tolerance")


def optimize(task: str | None = None, *, data: str | Path | None = None, method: str = "bdi", n: int = 128,
             seed: int = 0, sequence_column: str = "sequence", score_column: str = "score",
             alphabet: str | None = None) -> Candidates:
    """Offline model-based design (``designer optimize``): ``n`` designs proposed by ``method`` (bdi, bib,
    grad-ascent, coms, ga, ...) from a built-in ``task`` or your own scored sequences in ``data``
    (.csv or .fasta with one score per sequence). Built-in tasks add the hidden objective's score.

    >>> designs = designer.optimize("tfbind8", method="bib", n=128, seed=0)
    """
    from designer.workflows.mbo.run import optimize as run_optimizer
    from designer.workflows.mbo.tasks import task as builtin_task
    from designer.workflows.mbo.tasks import user_task

    if (task is None) == (data is None):
        raise DesignerError("give exactly one of a built-in task name or data=FILE")
    chosen = builtin_task(task) if task is not None else user_task(str(data), sequence_column, score_column, alphabet)
    return run_optimizer(chosen, method, n_designs=n, seed=seed)


def models() -> Any:
    """The generative models as a pandas DataFrame: name, kind, description, training data, the
    targets each takes (with ranges) and whether it is the default for its kind (``designer models``)."""
    import pandas as pd

    from designer.generators import describe_targets
    from designer.registry import DEFAULT_MODELS, model_entries
    from designer.workflows.pipeline import load_generator

    rows = []
    for name, entry in model_entries().items():
        conditions = load_generator(name).conditions
        rows.append({"name": name, "kind": entry.kind, "description": entry.description,
                     "trained_on": entry.card_facts().get("trained_on", ""),
                     "targets": "; ".join(describe_targets(conditions)),
                     "default": DEFAULT_MODELS.get(entry.kind) == name})
    return pd.DataFrame(rows)


def oracles() -> Any:
    """The oracles as a pandas DataFrame: name, candidate kind, argument, description (``designer oracles``)."""
    import pandas as pd

    from designer.registry import oracle_specs

    return pd.DataFrame([{"name": name, "kind": spec.kind, "argument": spec.arg, "description": spec.description}
                         for name, spec in oracle_specs().items()])


def design_sequences(backbones: CandidatesLike, *, per_backbone: int = 1, temperature: float = 0.1,
                     seed: int = 0) -> Candidates:
    """ProteinMPNN sequences for backbones (a table, a .pdb file or a folder of them): a protein
    sequence table with each design's mean log-likelihood (``mpnn_ll``) and its ``backbone`` id.

    >>> designs = designer.design_sequences("backbones/", per_backbone=4, seed=0)
    """
    from designer.oracles.structure import design_sequences as design

    table = as_candidates(backbones, kind="backbone")
    return design(table, per_backbone=per_backbone, temperature=temperature, seed=seed)


def run(config: str | Path | Mapping[str, Any], directory: str | Path | None = None, *,
        resume: bool = False, progress: bool = False) -> RunResult:
    """Run a workflow config (a TOML path or a mapping) into a run directory (default ``runs/<name>``):
    chunks as they finish, exports, ``summary.json`` and ``report.html``; ``resume`` continues it.

    >>> result = designer.run("configs/score_molecules.toml", "runs/demo")
    >>> result.summary["kept"], result.candidates.to_pandas()
    """
    from designer.config import load_config, parse_config
    from designer.workflows.pipeline import run as run_workflow

    if isinstance(config, Mapping):
        parsed, base = parse_config(dict(config)), Path(".")
    else:
        parsed, base = load_config(config), Path(config).parent
    directory = Path(directory) if directory is not None else Path("runs") / parsed.name
    return run_workflow(parsed, directory, resume=resume, progress=progress, base_dir=base)


def train(config: str | Path | Mapping[str, Any], *, resume: bool = False, out: str | Path | None = None) -> Path:
    """Train a model on your own data from a config (TOML path or mapping) and register it under its
    ``name`` for :func:`generate`; returns the model directory. See :mod:`designer.training`.

    >>> designer.train({"name": "my-series", "family": "des-inverse",
    ...                 "data": {"path": "series.csv", "properties": ["pic50"]}, "train": {"cpu_minutes": 20}})
    >>> designer.generate({"pic50": 7.5}, model="my-series", n=10)
    """
    from designer.training import train as train_model

    return train_model(dict(config) if isinstance(config, Mapping) else config, resume=resume, out=out)


def campaign(config: str | Path | Mapping[str, Any], directory: str | Path | None = None, *,
             address: str | None = None, resume: bool = False, progress: bool = False) -> RunResult:
    """Run a campaign config on Ray: a private local instance by default (loopback only, token
    authentication), or the cluster at ``address`` (``"auto"``, ``"host:port"`` or ``"ray://host:port"``;
    see docs/cluster.md). Returns the same results as :func:`run`.

    >>> result = designer.campaign("configs/campaign_molecules.toml", "runs/qed-campaign")
    """
    from designer.config import CampaignConfig, load_config, parse_config
    from designer.workflows.campaign import campaign as run_campaign

    if isinstance(config, Mapping):
        parsed, base = parse_config(dict(config), schema=CampaignConfig), Path(".")
    else:
        parsed, base = load_config(config, CampaignConfig), Path(config).parent
    assert isinstance(parsed, CampaignConfig)
    directory = Path(directory) if directory is not None else Path("runs") / parsed.name
    return run_campaign(parsed, directory, address=address, resume=resume, progress=progress, base_dir=base)


__all__ = ["as_candidates", "campaign", "design_sequences", "filter", "generate", "models", "optimize", "oracles",
           "read", "run", "score", "write"]
