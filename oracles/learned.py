"""Learned sequence oracles: the guides shipped with the Gumbel-Softmax flow checkpoints.

``amp`` (AMP probability, peptides), ``dna_activity`` (lac sort-seq expression bin) and
``hydropathy`` (predicted GRAVY) are CNNs trained on clean one-hot sequences; the model cards give
their held-out AUROC / R². They load the weights from the checkpoint, not the denoiser's work.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from designer.candidates import ALPHABETS, Candidates, sequence_problem
from designer.oracles.base import Oracle, OracleResult
from designer.registry import register_oracle

LEARNED = {  # oracle name -> (shipped checkpoint, alphabet, direction, low, high, description)
    "amp": ("peptide", "protein", "maximize", 0.0, 1.0,
            "antimicrobial-peptide probability (CNN on modlamp AMP vs UniProt; card: held-out AUROC)"),
    "dna_activity": ("dna", "dna", "maximize", 0.0, 9.0,
                     "predicted lac-promoter sort-seq expression bin 0-9 (CNN on mavenn sort-seq; card: R²)"),
    "hydropathy": ("protein", "protein", "none", -4.5, 4.5,
                   "predicted GRAVY hydropathy (CNN regressor trained on ProtParam GRAVY)"),
}


@cache
def _scorer(checkpoint: str) -> Any:
    from designer.models.gumbel_flow.sample import load_shipped

    return load_shipped(checkpoint).guide


class LearnedOracle(Oracle):
    """A shipped guide network scoring sequences of its alphabet (NaN + reason for others)."""

    kind = "sequence"
    learned = True

    def __init__(self, name: str) -> None:
        self.checkpoint, self.alphabet, self.direction, self.low, self.high, self.description = LEARNED[name]
        self.name = name

    def score(self, candidates: Candidates) -> OracleResult:
        values = np.full(len(candidates), np.nan)
        reasons = list(candidates.reasons)
        if candidates.alphabet != self.alphabet:
            reason = (f"{self.name} scores {self.alphabet} sequences, not {candidates.alphabet}; if these are "
                      f"{self.alphabet}, read them with --alphabet {self.alphabet} (alphabet={self.alphabet!r})")
            return OracleResult(values, [reason] * len(candidates))
        limit = _scorer(self.checkpoint).max_len
        rows = [i for i, s in enumerate(candidates.items) if not reasons[i]]
        for i in rows:
            if len(candidates.items[i]) > limit:
                reasons[i] = f"{self.name}: longer than {limit}, the longest sequence it was trained on"
        for i in rows:  # N, U, O are valid input but not letters the network was trained on
            problem = sequence_problem(candidates.items[i], self.alphabet, strict=True)
            if problem and not reasons[i]:
                reasons[i] = f"{self.name}: the network knows only {ALPHABETS[self.alphabet]}: {problem}"
        rows = [i for i in rows if not reasons[i]]
        if rows:
            values[rows] = _scorer(self.checkpoint).score([candidates.items[i] for i in rows])
        return OracleResult(values, reasons)


def _register(name: str) -> None:
    @register_oracle(name, "sequence", LEARNED[name][5])
    def factory(arg: str | None) -> Oracle:
        return LearnedOracle(name)


for _name in LEARNED:
    _register(_name)


# -- QM9 properties predicted by the forward property transformer (models/des_transformer) ----------
QM9_FORWARD = "qm9_forward"  # checkpoint stems under designer/models/des_transformer/checkpoints
QM9_MULTITASK = "qm9_multitask"  # the prompt model's forward direction: oracles mt_<property>
PREDICTORS = {QM9_FORWARD: ("qm9", "the forward property transformer"),
              QM9_MULTITASK: ("mt", "the multi-task prompt transformer")}


@cache
def _forward(stem: str) -> Any:
    """The predictor behind a stem: ``predict(smiles) -> (values, reasons)`` and ``names``."""
    from designer.models.des_transformer.sample import CHECKPOINT_DIR, load_forward, load_multitask

    path = CHECKPOINT_DIR / f"{stem}.pt"
    return load_multitask(path) if stem == QM9_MULTITASK else load_forward(path)


class PropertyTransformerOracle(Oracle):
    """One property of the forward transformer's prediction for a molecule (canonical SMILES in);
    an invalid SMILES, an unknown token or one longer than the context gets NaN and the reason."""

    kind = "molecule"
    learned = True

    def __init__(self, name: str, prop: str, stem: str, unit: str, description: str) -> None:
        self.name, self.prop, self.stem, self.unit, self.description = name, prop, stem, unit, description

    def score(self, candidates: Candidates) -> OracleResult:
        values = np.full(len(candidates), np.nan)
        reasons = list(candidates.reasons)
        rows = [i for i in range(len(candidates)) if not reasons[i]]
        if rows:
            predictor = _forward(self.stem)
            predicted, problems = predictor.predict([candidates.items[i] for i in rows])
            column = predictor.names.index(self.prop)
            for k, i in enumerate(rows):
                if problems[k]:
                    reasons[i] = f"{self.name}: {problems[k]}"
                else:
                    values[i] = predicted[k, column]
        return OracleResult(values, reasons)


def _register_qm9(stem: str, prop: str, unit: str, description: str, error: str) -> None:
    prefix, model = PREDICTORS[stem]
    name = f"{prefix}_{prop}"
    text = f"QM9 {description} ({unit}) predicted by {model}; {error}"

    @register_oracle(name, "molecule", text)
    def factory(arg: str | None) -> Oracle:
        return PropertyTransformerOracle(name, prop, stem, unit, text)


def _register_forward_oracles() -> None:
    """Register ``qm9_<property>`` (forward model) and ``mt_<property>`` (multi-task model) for every
    property of each shipped predictor (none for a model whose card is absent)."""
    import importlib.util
    import json
    from pathlib import Path

    spec = importlib.util.find_spec("designer.models.des_transformer")  # locate without importing torch
    if spec is None or not spec.submodule_search_locations:
        return
    for stem in PREDICTORS:
        card = Path(next(iter(spec.submodule_search_locations))) / "checkpoints" / f"{stem}.json"
        if not card.exists():
            continue
        from designer.models.des_transformer.data import QM9_COLUMNS
        errors = json.loads(card.read_text()).get("metrics", {}).get("test", {})
        for prop, (_, _, unit, description) in QM9_COLUMNS.items():
            held_out = errors.get(prop, {})
            error = (f"held-out MAE {held_out['mae']:.3g} {unit}, R² {held_out['r2']:.3f}" if held_out
                     else "held-out error not measured yet")
            _register_qm9(stem, prop, unit, description, error)


_register_forward_oracles()


# -- QM9 properties of a 3D geometry, by TFG-Flow's evaluator EGNNs (models/tfg_flow) ---------------
@cache
def _evaluator(prop: str) -> Any:
    from designer.models.tfg_flow.sample import CHECKPOINT_DIR, load_network

    return load_network(CHECKPOINT_DIR / f"evaluator_{prop}.pt", "predictor")


class GeometryPropertyOracle(Oracle):
    """A QM9 property predicted from a molecule's 3D heavy atoms by the evaluator EGNN (trained on the
    half of QM9's training split the guides never saw). Needs a 3D conformer of a C/N/O/F molecule
    with at most 9 heavy atoms (QM9's domain); anything else gets NaN and the reason."""

    kind = "molecule"
    learned = True

    def __init__(self, name: str, description: str) -> None:
        self.name, self.description = name, description

    def score(self, candidates: Candidates) -> OracleResult:
        import torch
        import torch.nn.functional as F

        from designer.models.tfg_flow.data import ATOMS, MAX_ATOMS

        values = np.full(len(candidates), np.nan)
        reasons = list(candidates.reasons)
        network, info = _evaluator(self.name)
        for i, mol in enumerate(candidates.mols):
            if reasons[i] or mol is None:
                continue
            if mol.GetNumConformers() == 0 or not mol.GetConformer().Is3D():
                reasons[i] = f"{self.name}: needs a 3D conformer (e.g. a tfg-flow sample or an SDF with 3D coordinates)"
                continue
            heavy = [a for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
            symbols = [a.GetSymbol() for a in heavy]
            if len(heavy) > MAX_ATOMS or any(s not in ATOMS for s in symbols):
                reasons[i] = f"{self.name}: outside QM9 (C, N, O, F; at most {MAX_ATOMS} heavy atoms)"
                continue
            xyz = mol.GetConformer().GetPositions()[[a.GetIdx() for a in heavy]]
            x = torch.tensor(xyz - xyz.mean(0), dtype=torch.float32).unsqueeze(0)
            types = F.one_hot(torch.tensor([[ATOMS.index(s) for s in symbols]]), len(ATOMS)).float()
            with torch.no_grad():
                standard = float(network(x, types, torch.ones(1, len(heavy), dtype=torch.bool)))
            values[i] = standard * info["std"] + info["mean"]
        return OracleResult(values, reasons)


def _register_tfg_evaluators() -> None:
    """Register ``gap``, ``homo``, ... for every shipped TFG-Flow evaluator (none if absent)."""
    import importlib.util
    import json
    from pathlib import Path

    spec = importlib.util.find_spec("designer.models.tfg_flow")  # locate without importing torch
    if spec is None or not spec.submodule_search_locations:
        return
    folder = Path(next(iter(spec.submodule_search_locations))) / "checkpoints"
    for card in sorted(folder.glob("evaluator_*.json")):
        facts = json.loads(card.read_text())
        prop = card.stem.removeprefix("evaluator_")
        text = (f"QM9 {facts['description']} ({facts['unit']}) of a 3D geometry, by the TFG-Flow evaluator EGNN; "
                f"validation MAE {facts['val_mae']:.3g} {facts['unit']}")

        def factory(arg: str | None, prop: str = prop, text: str = text) -> Oracle:
            return GeometryPropertyOracle(prop, text)

        register_oracle(prop, "molecule", text)(factory)


_register_tfg_evaluators()
