"""Workflow configuration (TOML), validated by pydantic against a versioned schema.

An unknown key is an error naming the key (with a close match), so a typo never passes silently.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from designer.errors import DesignerError
from designer.oracles.desirability import Objective

SCHEMA_VERSION = 1


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputStep(Strict):
    """Candidates from a file."""

    path: str
    kind: Literal["molecule", "sequence"] | None = None
    alphabet: Literal["dna", "rna", "protein"] | None = None
    column: str | None = None
    standardize: bool = Field(True, description="molecules as their parent: largest organic fragment, neutralised")


def _default_molecule_model() -> str:
    from designer.registry import default_model

    return default_model("molecule")


class GenerateStep(Strict):
    """Candidates from a registered generative model, delivered by the target loop: ``n`` candidates
    that pass the rules and, with ``tolerance``, lie within it of every numeric target (as scored by
    the real oracle), drawing at most ``max_samples`` raw samples (default 50 × n)."""

    model: str = Field(default_factory=_default_molecule_model)
    n: int = Field(100, gt=0)
    seed: int = 0
    guidance: float | None = Field(None, ge=0, description="guidance scale; none: the model's default")
    targets: dict[str, float | str | None] = Field(default_factory=dict)
    tolerance: dict[str, float] | Literal["default"] | None = None
    max_samples: int | None = Field(None, gt=0)
    batch_size: int = Field(256, gt=0)
    options: dict[str, Any] = Field(default_factory=dict, description="model-specific sampling keywords")


class FilterStep(Strict):
    rules: list[str] = Field(default_factory=list)


class ScoreStep(Strict):
    oracles: list[str] = Field(default_factory=list)
    workers: int = Field(0, ge=0, description="scoring processes: 0 = all cores, 1 = in process")
    objective: Objective | None = None


class ExportStep(Strict):
    formats: list[Literal["sdf", "csv", "fasta", "smi", "pdb"]] = Field(default_factory=lambda: ["csv"])
    top: int = Field(10, ge=0)
    sort_by: str | None = None


class RunConfig(Strict):
    """A workflow: one source (``input`` or ``generate``) → filter → score → export."""

    version: Literal[1] = SCHEMA_VERSION
    name: str = "run"
    chunk_size: int = Field(1000, gt=0)
    input: InputStep | None = None
    generate: GenerateStep | None = None
    filter: FilterStep = Field(default_factory=FilterStep)
    score: ScoreStep = Field(default_factory=ScoreStep)
    export: ExportStep = Field(default_factory=ExportStep)

    @model_validator(mode="after")
    def _one_source(self) -> RunConfig:
        if (self.input is None) == (self.generate is None):
            raise ValueError("give exactly one source: an [input] table or a [generate] table")
        return self


class Variant(Strict):
    """One arm of a campaign: its own targets and/or guidance (missing ones come from [generate])."""

    name: str
    targets: dict[str, float | str | None] | None = None
    guidance: float | None = Field(None, ge=0)


class CampaignStep(Strict):
    """How a campaign fans out over Ray: shards, variants, workers, retries, time-outs."""

    shard_size: int = Field(500, gt=0)
    variants: list[Variant] = Field(default_factory=list)
    guidance_grid: list[float] = Field(default_factory=list)
    workers: int | None = Field(None, gt=0, description="sampling actors; default: the cluster's CPUs")
    num_gpus_per_worker: float = Field(0.0, ge=0)
    max_retries: int = Field(2, ge=0)
    shard_timeout_s: float = Field(1800.0, gt=0)
    tolerance: dict[str, float] = Field(default_factory=lambda: {"qed": 0.1, "sa": 0.5, "logp": 0.5, "mw": 25.0})

    @model_validator(mode="after")
    def _distinct_arms(self) -> CampaignStep:
        names = [v.name for v in self.variants]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:  # candidate ids are <variant>-<k>: a repeated name would repeat ids
            raise ValueError(f"variant names must be distinct; repeated: {', '.join(repeated)}")
        values = sorted({g for g in self.guidance_grid if self.guidance_grid.count(g) > 1})
        if values:
            raise ValueError(f"guidance_grid values must be distinct; repeated: {', '.join(f'{v:g}' for v in values)}")
        return self


# Settings a resumed campaign may change: how the work is spread, not what is computed.
RESUMABLE_CHANGES = ("workers", "shard_timeout_s", "max_retries", "num_gpus_per_worker")


class CampaignConfig(RunConfig):
    """A workflow run as many shards on a Ray cluster (local by default)."""

    campaign: CampaignStep = Field(default_factory=CampaignStep)

    @model_validator(mode="after")
    def _variants_need_a_model(self) -> CampaignConfig:
        if self.input is not None and (self.campaign.variants or self.campaign.guidance_grid):
            raise ValueError("variants and guidance_grid apply to [generate] campaigns; an [input] campaign "
                             "scores its file once")
        return self


def _known_keys(model: type[BaseModel], location: tuple) -> list[str]:
    """Field names at ``location`` in the schema, for suggestions."""
    current: type[BaseModel] | None = model
    for part in location[:-1]:
        if current is None or not isinstance(part, str) or part not in current.model_fields:
            return []
        annotation = current.model_fields[part].annotation
        args = getattr(annotation, "__args__", (annotation,))
        current = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)
    return list(current.model_fields) if current is not None else []


def describe_validation_error(error: ValidationError, source: str, model: type[BaseModel]) -> str:
    """The first problem of a validation error as one line: ``file: key: message``."""
    first = error.errors()[0]
    location = tuple(first["loc"])
    key = ".".join(str(p) for p in location) or "(top level)"
    if first["type"] == "extra_forbidden":
        known = _known_keys(model, location)
        close = difflib.get_close_matches(str(location[-1]), known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else (f" (known: {', '.join(known)})" if known else "")
        return f"{source}: unknown key {key!r}{hint}"
    message = first["msg"].removeprefix("Value error, ")
    more = f" (and {len(error.errors()) - 1} more problems)" if len(error.errors()) > 1 else ""
    return f"{source}: {key}: {message}{more}"


def parse_config(data: dict, source: str = "config", schema: type[RunConfig] = RunConfig) -> RunConfig:
    """Validate a config mapping against ``schema``; errors name the key."""
    version = data.get("version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise DesignerError(f"{source}: schema version {version!r} is not supported (this designer reads "
                            f"version {SCHEMA_VERSION})")
    if schema is RunConfig and "campaign" in data:
        raise DesignerError(f"{source}: a [campaign] table belongs to `designer campaign`, not `designer run`")
    try:
        return schema.model_validate(data)
    except ValidationError as error:
        raise DesignerError(describe_validation_error(error, source, schema)) from None


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file as a dict; a missing file or bad TOML is one DesignerError line naming the file."""
    path = Path(path)
    if not path.exists():
        raise DesignerError(f"{path}: no such config file")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise DesignerError(f"{path}: not valid TOML ({error})") from None


def load_config(path: str | Path, schema: type[RunConfig] = RunConfig) -> RunConfig:
    """Read and validate a TOML workflow (or campaign) config."""
    return parse_config(read_toml(path), str(path), schema)


def dump_config(config: BaseModel) -> str:
    """A resolved config (workflow, campaign or training) as TOML (what a run or model directory keeps)."""
    return toml_text(config.model_dump(mode="json", exclude_none=True))


def toml_text(data: dict) -> str:
    """A plain config dict as TOML (tomllib reads but does not write)."""
    return _toml(data)


def _toml_value(value: object) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value))


def _toml(data: dict, prefix: str = "") -> str:
    """Minimal TOML writer for plain config dicts (tomllib reads but does not write)."""
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict) or prefix.count(".") > 0}
    tables = {k: v for k, v in data.items() if k not in scalars}
    lines = [f"{k} = {_toml_value(v)}" for k, v in scalars.items()]
    for key, table in tables.items():
        lines += ["", f"[{prefix}{key}]", _toml(table, f"{prefix}{key}.").strip()]
    return "\n".join(lines).strip() + "\n"
