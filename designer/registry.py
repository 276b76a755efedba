"""One registry mapping names to oracles, filter rules and generative models.

Oracles and rules register themselves when their module is imported (the modules listed below are
imported on first look-up, so start-up stays light); plugin packages add more through the entry
point groups ``designer.oracles``, ``designer.filters`` and ``designer.models``, whose targets are
modules that register on import (oracles, filters) or :class:`ModelEntry` objects (models).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from designer.errors import DesignerError, UnknownNameError

if TYPE_CHECKING:
    from designer.candidates import Kind
    from designer.filters import Rule
    from designer.generators import Generator
    from designer.oracles.base import Oracle

ORACLE_MODULES = ("designer.oracles.chem", "designer.oracles.alerts", "designer.oracles.qm",
                  "designer.oracles.sequence", "designer.oracles.structure", "designer.oracles.learned")
FILTER_MODULES = ("designer.filters",)


@dataclass(frozen=True)
class OracleSpec:
    """A registered oracle: ``factory(arg)`` builds it; ``arg`` describes the ``NAME=ARG`` argument."""

    name: str
    kind: Kind
    description: str
    factory: Callable[[str | None], Oracle]
    arg: str = ""
    arg_required: bool = False


@dataclass(frozen=True)
class FilterSpec:
    """A registered filter rule: ``factory(arg)`` builds it."""

    name: str
    description: str
    factory: Callable[[str | None], Rule]
    arg: str = ""
    arg_required: bool = False


@dataclass(frozen=True)
class ModelEntry:
    """A generative model: ``loader`` ("module:function") returns a :class:`Generator`.

    ``card`` is the JSON file beside the checkpoint (relative to the ``designer`` package's parent
    mapping, i.e. ``designer.models.<family>``) read by ``designer models`` without loading torch.
    """

    name: str
    kind: Kind
    description: str
    loader: str
    card: str = ""

    def load(self) -> Generator:
        module, _, function = self.loader.partition(":")
        return getattr(importlib.import_module(module), function)()

    def card_path(self) -> Path | None:
        """Where the model card JSON lives (beside the checkpoint), or None."""
        if not self.card:
            return None
        module, _, filename = self.card.partition(":")
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            return None
        return Path(next(iter(spec.submodule_search_locations))) / filename

    def card_facts(self) -> dict[str, Any]:
        path = self.card_path()
        return json.loads(path.read_text()) if path is not None and path.exists() else {}


_ORACLES: dict[str, OracleSpec] = {}
_FILTERS: dict[str, FilterSpec] = {}
_MODELS: dict[str, ModelEntry] = {
    entry.name: entry for entry in (
        ModelEntry("graph-dit", "molecule",
                   "Graph DiT: multi-conditional graph diffusion (QED, SA, logP, MW, Brenk-free) on MOSES",
                   "designer.models.graph_dit.sample:load_default",
                   "designer.models.graph_dit:checkpoints/graph_dit_moses.json"),
        ModelEntry("char-rnn", "molecule",
                   "SMILES CharRNN baseline (unconditional) on the Graph DiT MOSES subset, same CPU budget",
                   "designer.models.char_rnn.sample:load_default",
                   "designer.models.char_rnn:checkpoints/char_rnn_moses.json"),
        ModelEntry("foldingdiff", "backbone",
                   "FoldingDiff: protein backbones by diffusion over internal angles (40-128 residues)",
                   "designer.models.foldingdiff.sample:load_default",
                   "designer.models.foldingdiff:checkpoints/foldingdiff_backbones.json"),
        ModelEntry("gumbel-flow-peptide", "sequence",
                   "Gumbel-Softmax flow matching on antimicrobial peptides (modlamp); STGFlow guide: amp",
                   "designer.models.gumbel_flow.sample:load_peptide",
                   "designer.models.gumbel_flow:checkpoints/gumbel_flow_peptide.json"),
        ModelEntry("gumbel-flow-dna", "sequence",
                   "Gumbel-Softmax flow matching on lac-promoter DNA (mavenn sort-seq); STGFlow guide: dna_activity",
                   "designer.models.gumbel_flow.sample:load_dna",
                   "designer.models.gumbel_flow:checkpoints/gumbel_flow_dna.json"),
        ModelEntry("gumbel-flow-protein", "sequence",
                   "Gumbel-Softmax flow matching on UniProtKB proteins <= 128 aa; STGFlow guide: hydropathy",
                   "designer.models.gumbel_flow.sample:load_protein",
                   "designer.models.gumbel_flow:checkpoints/gumbel_flow_protein.json"),
    )
}
# Families whose checkpoints are still being trained: listed once their model card ships.
_WHEN_TRAINED = (
    ModelEntry("des-inverse-qm9", "molecule",
               "Inverse property transformer (Luu et al. 2023): SMILES from any of the 12 QM9 properties, CFG",
               "designer.models.des_transformer.sample:load_qm9_inverse",
               "designer.models.des_transformer:checkpoints/qm9_inverse.json"),
    ModelEntry("des-diffusion-qm9", "molecule",
               "Inverse token diffusion (Luu et al. 2023): one-hot SMILES denoised (EDM) from any of the 12 QM9 "
               "properties, CFG", "designer.models.des_transformer.sample:load_qm9_diffusion",
               "designer.models.des_transformer:checkpoints/qm9_diffusion.json"),
    ModelEntry("des-multitask", "molecule",
               "Multi-task prompt transformer (Luu et al. 2023): one GPT for SMILES <-> 12 QM9 properties; "
               "here properties -> SMILES (oracles mt_<property> the other way)",
               "designer.models.des_transformer.sample:load_qm9_multitask",
               "designer.models.des_transformer:checkpoints/qm9_multitask.json"),
    ModelEntry("des-inverse-moses", "molecule",
               "Inverse property transformer (Luu et al. 2023): SMILES from QED, SA, logP, MW on MOSES, CFG",
               "designer.models.des_transformer.sample:load_moses_inverse",
               "designer.models.des_transformer:checkpoints/moses_inverse.json"),
    ModelEntry("tfg-flow", "molecule",
               "TFG-Flow: 3D QM9 molecules (heavy-atom flow, H added) with training-free guidance by one EGNN "
               "guide per QM9 property (see its targets)", "designer.models.tfg_flow.sample:load",
               "designer.models.tfg_flow:checkpoints/tfg_flow_qm9.json"),
)
for _entry in _WHEN_TRAINED:
    _card = _entry.card_path()
    if _card is not None and _card.exists():
        _MODELS[_entry.name] = _entry
_loaded: set[str] = set()
# The model `designer generate` uses when none is named: the one with the most delivered on-target
# molecules per second in benchmarks/results/targets.md (tests/test_targets.py checks the two agree).
DEFAULT_MODELS = {"molecule": "char-rnn"}


def default_model(kind: str = "molecule") -> str:
    """The default generative model for candidates of ``kind`` (chosen by the target benchmark)."""
    return DEFAULT_MODELS[kind]


def register_oracle(name: str, kind: Kind, description: str, *, arg: str = "",
                    arg_required: bool = False) -> Callable[[Callable[[str | None], Oracle]],
                                                            Callable[[str | None], Oracle]]:
    """Decorator: register ``factory(arg) -> Oracle`` under ``name``."""
    def decorate(factory: Callable[[str | None], Oracle]) -> Callable[[str | None], Oracle]:
        _ORACLES[name] = OracleSpec(name, kind, description, factory, arg, arg_required)
        return factory
    return decorate


def register_filter(name: str, description: str, *, arg: str = "", arg_required: bool = False
                    ) -> Callable[[Callable[[str | None], Rule]], Callable[[str | None], Rule]]:
    """Decorator: register ``factory(arg) -> Rule`` under ``name``."""
    def decorate(factory: Callable[[str | None], Rule]) -> Callable[[str | None], Rule]:
        _FILTERS[name] = FilterSpec(name, description, factory, arg, arg_required)
        return factory
    return decorate


def _load(group: str, modules: tuple[str, ...]) -> None:
    if group in _loaded:
        return
    _loaded.add(group)
    for module in modules:
        importlib.import_module(module)
    for entry in entry_points(group=group):
        loaded = entry.load()
        if group == "designer.models" and isinstance(loaded, ModelEntry):
            _MODELS[loaded.name] = loaded


def split_spec(spec: str) -> tuple[str, str | None]:
    """``"name=arg"`` → ``("name", "arg")``; ``"name"`` → ``("name", None)``."""
    name, sep, arg = spec.partition("=")
    return name.strip(), (arg.strip() if sep else None)


def oracle_specs() -> dict[str, OracleSpec]:
    """Every registered oracle by name."""
    _load("designer.oracles", ORACLE_MODULES)
    return dict(_ORACLES)


def filter_specs() -> dict[str, FilterSpec]:
    """Every registered filter rule by name."""
    _load("designer.filters", FILTER_MODULES)
    return dict(_FILTERS)


@dataclass(frozen=True)
class UserModelEntry(ModelEntry):
    """A model trained by ``designer train``: ``folder`` is ``<data dir>/models/<name>/``, ``loader``
    the family's ``"module:function"`` that reads ``model.pt`` (see :data:`designer.training.FAMILIES`)."""

    folder: str = ""

    def load(self) -> Generator:
        module, _, function = self.loader.partition(":")
        return getattr(importlib.import_module(module), function)(Path(self.folder) / "model.pt", name=self.name)

    def card_path(self) -> Path | None:
        return Path(self.folder) / "model.json"


def _user_entries() -> dict[str, ModelEntry]:
    """Generators trained by ``designer train``, read from their cards (predictors are not listed)."""
    from designer.training import FAMILIES, user_models

    entries: dict[str, ModelEntry] = {}
    for name, folder in user_models().items():
        try:
            card = json.loads((folder / "model.json").read_text())
        except (OSError, ValueError):
            continue
        family = FAMILIES.get(card.get("family", ""))
        if family is not None and family.generator is not None:
            entries[name] = UserModelEntry(name, family.generator,  # type: ignore[arg-type]
                                           f"{card['family']} trained by you on {card['trained_on']}",
                                           family.loader, folder=str(folder))
    return entries


def model_entries() -> dict[str, ModelEntry]:
    """Every registered generative model by name (the shipped ones, plugins, and the user's own)."""
    _load("designer.models", ())
    return {**_user_entries(), **_MODELS}


def _check_arg(what: str, name: str, arg: str | None, needs: str, required: bool) -> None:
    if arg is not None and not needs:
        raise DesignerError(f"{what} {name!r} takes no argument (got {name}={arg})")
    if arg is None and required:
        raise DesignerError(f"{what} {name!r} needs an argument: {name}=<{needs}>")


def make_oracle(spec: str) -> Oracle:
    """Build the oracle named by ``"name"`` or ``"name=arg"`` (e.g. ``similarity=c1ccccc1``)."""
    name, arg = split_spec(spec)
    specs = oracle_specs()
    if name not in specs:
        raise UnknownNameError("oracle", name, specs)
    entry = specs[name]
    _check_arg("oracle", name, arg, entry.arg, entry.arg_required)
    oracle = entry.factory(arg)
    oracle.name = spec.strip() if arg is not None else name
    return oracle


def make_filter(spec: str) -> Rule:
    """Build the rule named by ``"name"``, ``"name=arg"`` or a comparison such as ``"qed>=0.6"``."""
    from designer.filters import parse_rule

    return parse_rule(spec)


def model_entry(name: str) -> ModelEntry:
    """The registered model ``name`` (with a close-match suggestion for a typo), or, for a
    ``"package.module:function"`` name, that loader itself (handy for plugins and notebooks)."""
    if ":" in name:
        return ModelEntry(name, "molecule", f"loaded by {name}", name)
    entries = model_entries()
    if name not in entries:
        raise UnknownNameError("model", name, entries)
    return entries[name]
