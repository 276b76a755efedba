"""Sampling a trained Graph DiT: classifier-free guidance, posterior steps, graph → SMILES.

``load_default()`` returns the shipped MOSES checkpoint as a :class:`designer.generators.Generator`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rdkit import Chem, RDLogger

from designer.checkpoints import read_payload, save_payload
from designer.errors import DesignerError
from designer.generators import PROPERTY_DESCRIPTIONS, Condition
from designer.models.graph_dit.data import BOND_TYPES, CATEGORICAL_CONDITIONS, NUMERIC_CONDITIONS
from designer.models.graph_dit.model import GraphDiT, GraphDiTConfig
from designer.models.graph_dit.noise import GraphNoise

RDLogger.DisableLog("rdApp.*")

CHECKPOINT_FORMAT = "designer.graph_dit/1"
CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"
DEFAULT_CHECKPOINT = CHECKPOINT_DIR / "graph_dit_moses.pt"
NEAREST = 100  # reference molecules whose atom counts make p(n | targets)
SPACINGS = {"linear": 1.0, "quadratic": 2.0, "cubic": 3.0}  # reverse-step placement t = T·(k/steps)^p
# Usual valences for the reference's decoding rule: an N, O or S one bond over it becomes a cation.
VALENCE = {"N": 3, "O": 2}


def save_checkpoint(path: str | Path, model: GraphDiT, noise: GraphNoise, meta: Mapping[str, Any]) -> None:
    """One small file: weights, sizes, the noise marginals and condition ranges/normalisation."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    payload = {"format": CHECKPOINT_FORMAT, "config": model.config.to_dict(), "state_dict": state,
               "noise": noise.state(), "meta": dict(meta)}
    save_payload(payload, path)


def decode(atom_types: np.ndarray, bonds: np.ndarray, atoms: tuple[str, ...]) -> str | None:
    """Graph → canonical SMILES of its largest connected fragment, or ``None``.

    Valency-aware like the reference's decoder: an N or O atom exactly one bond over its usual
    valence gets a +1 charge (ammonium, oxonium; the reference's rule — RDKit's valence check never
    fires for S in between its allowed valences, so S is left alone). Nothing else is changed — no
    bonds are removed or lowered ("repair") — so a graph that breaks valence rules is invalid.
    """
    mol = Chem.RWMol()
    for a in atom_types:
        mol.AddAtom(Chem.Atom(atoms[int(a)]))
    n = len(atom_types)
    upper = np.triu(np.asarray(bonds), 1)
    for i, j in zip(*np.nonzero(upper), strict=True):
        mol.AddBond(int(i), int(j), BOND_TYPES[int(upper[i, j])])
    valence = upper.sum(0) + upper.sum(1)  # Kekulé bond orders are the type indices 1, 2, 3
    for k in range(n):
        symbol = atoms[int(atom_types[k])]
        if symbol in VALENCE and valence[k] == VALENCE[symbol] + 1:
            mol.GetAtomWithIdx(k).SetFormalCharge(1)
    try:
        Chem.SanitizeMol(mol)
        fragments = Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=True)
        largest = max(fragments, key=lambda m: m.GetNumAtoms())
        smiles = Chem.MolToSmiles(largest)
    except Exception:  # RDKit raises several types for impossible valences and aromaticity
        try:  # the graph as written, so that the table records RDKit's own reason for rejecting it
            return Chem.MolToSmiles(mol, canonical=False) or None
        except Exception:
            return None
    if not smiles or Chem.MolFromSmiles(smiles) is None:
        return None
    return smiles


class GraphDiTGenerator:
    """A trained Graph DiT conditioned on QED, SA, logP, MW (numeric) and PAINS-free (categorical)."""

    kind = "molecule"

    def __init__(self, model: GraphDiT, noise: GraphNoise, meta: Mapping[str, Any], name: str = "graph-dit",
                 reference: Mapping[str, np.ndarray] | None = None) -> None:
        self.model = model.eval()
        self.reference = reference  # training molecules' properties and atom counts, for p(n | targets)
        self.noise = noise
        self.meta = dict(meta)
        self.name = name
        # the scale the target loop uses: the card's, chosen by benchmarks/graph_dit_guidance.py, else the reference's 2
        self.default_guidance = float(self.meta.get("guidance_default", 2.0))
        self.atoms: tuple[str, ...] = tuple(self.meta["atoms"])
        self.numeric_names: list[str] = list(self.meta.get("numeric_names", NUMERIC_CONDITIONS))
        self.categorical_names: list[str] = list(self.meta.get("categorical_names", CATEGORICAL_CONDITIONS))
        self.conditions: dict[str, Condition] = {}
        for name_ in self.numeric_names:
            c = self.meta["conditions"][name_]
            self.conditions[name_] = Condition(name_, "numeric", low=float(c["low"]), high=float(c["high"]),
                                               default=float(c["default"]), default_note=c["default_note"],
                                               description=PROPERTY_DESCRIPTIONS.get(name_, ""))
        for name_ in self.categorical_names:
            c = self.meta["conditions"][name_]
            self.conditions[name_] = Condition(name_, "categorical", choices=tuple(c["trained_choices"]),
                                               default=c["default"], default_note=c["default_note"],
                                               description=PROPERTY_DESCRIPTIONS.get(name_, ""))
        self.card: dict[str, Any] = {"trained_on": self.meta.get("trained_on", ""),
                                     "metrics": dict(self.meta.get("metrics", {})),
                                     "command": self.meta.get("command", ""),
                                     "guidance_default": self.default_guidance,
                                     "sample_steps": self.meta.get("sample_steps", noise.T)}

    # -- conditioning -----------------------------------------------------------------------------
    def encode_targets(self, targets: Mapping[str, Any], b: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Normalised numeric values (B, K_num), categorical indices (B, K_cat) and the drop mask
        (B, K): every condition not in ``targets`` is dropped."""
        unknown = set(targets) - set(self.conditions)
        if unknown:
            raise DesignerError(f"unknown target(s) {', '.join(sorted(unknown))}; this model is conditioned on: "
                                + "; ".join(c.describe() for c in self.conditions.values()))
        numeric = torch.zeros(b, len(self.numeric_names))
        categorical = torch.zeros(b, len(self.categorical_names), dtype=torch.long)
        drop = torch.ones(b, len(self.numeric_names) + len(self.categorical_names), dtype=torch.bool)
        for k, name in enumerate(self.numeric_names):
            if name in targets:
                c = self.meta["conditions"][name]
                value = torch.as_tensor(np.asarray(targets[name], dtype=np.float32))
                numeric[:, k] = (value - c["mean"]) / c["std"]
                drop[:, k] = False
        for k, name in enumerate(self.categorical_names):
            if name in targets:
                choices = list(self.meta["conditions"][name]["choices"])
                categorical[:, k] = choices.index(str(targets[name]))
                drop[:, len(self.numeric_names) + k] = False
        return numeric, categorical, drop

    # -- sampling ---------------------------------------------------------------------------------
    @torch.no_grad()
    def atom_count_probs(self, targets: Mapping[str, Any], b: int, atom_count: str = "targets") -> torch.Tensor:
        """(b, N + 1) probabilities of each sample's number of atoms.

        ``"marginal"``: the training marginal (the reference's draw, whatever the targets).
        ``"targets"`` (our extension to the paper): p(n | targets), the atom counts of the
        ``NEAREST`` reference training molecules closest to the numeric targets in z-scored
        property space (only the targeted properties count), mixed with 1 % of the marginal so that
        every trained size stays possible; without numeric targets it is the marginal.
        """
        marginal = torch.as_tensor(self.meta["n_atoms_dist"], dtype=torch.float32)
        names = [name for name in self.numeric_names if name in targets]
        if atom_count == "marginal" or not names or self.reference is None:
            return marginal.expand(b, -1)
        if atom_count != "targets":
            raise DesignerError(f"atom_count {atom_count!r}: expected 'targets' or 'marginal'")
        columns = [list(self.reference["names"]).index(name) for name in names]
        stats = [self.meta["conditions"][name] for name in names]
        mean = np.array([c["mean"] for c in stats])
        std = np.array([c["std"] for c in stats])
        reference = (self.reference["numeric"][:, columns] - mean) / std  # (R, k)
        wanted = np.stack([np.broadcast_to(np.asarray(targets[name], dtype=float), (b,)) for name in names], axis=1)
        wanted = (wanted - mean) / std  # (b, k)
        distance = ((wanted[:, None, :] - reference[None, :, :]) ** 2).sum(-1)  # (b, R)
        k = min(NEAREST, len(reference))  # a small user data set has fewer reference molecules
        nearest = np.argpartition(distance, k - 1, axis=1)[:, :k]
        counts = self.reference["n_atoms"][nearest]  # (b, k)
        histogram = np.stack([np.bincount(row, minlength=len(marginal)) for row in counts]).astype(np.float32)
        local = torch.as_tensor(histogram / k)
        return 0.99 * local + 0.01 * marginal

    def sample_graphs(self, n: int, targets: Mapping[str, float | str], *, guidance: float = 2.0, seed: int = 0,
                      batch_size: int = 256, steps: int | None = None, spacing: str | None = None,
                      atom_count: str = "targets", progress: bool = False,
                      model: GraphDiT | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """``n`` graphs (atom types, bond matrix), batch by batch from one seeded generator.

        A numeric target may also be a sequence of ``n`` values, one per sample (benchmarks draw
        targets from a test set's property distribution this way). ``atom_count`` chooses how each
        sample's size is drawn (:meth:`atom_count_probs`); ``steps`` and ``spacing`` the reverse
        chain (:meth:`_schedule`)."""
        model = (model or self.model).eval()
        generator = torch.Generator().manual_seed(int(seed))
        graphs: list[tuple[np.ndarray, np.ndarray]] = []
        schedule = self._schedule(steps, spacing or self.meta.get("sample_spacing", "linear"))
        done = 0
        while done < n:
            b = min(batch_size, n - done)
            batch_targets = _slice_targets(targets, done, b)
            sizes = self.atom_count_probs(batch_targets, b, atom_count)
            n_atoms = torch.multinomial(sizes, 1, replacement=True, generator=generator)[:, 0]
            node_mask = torch.arange(self.noise.n)[None, :] < n_atoms[:, None]
            numeric, categorical, drop = self.encode_targets(batch_targets, b)
            X, E = self.noise.prior(node_mask, generator)
            for t, s in schedule:
                px, pe = self.reverse_probs(model, X, E, node_mask, t, s, numeric, categorical, drop, guidance)
                X, E = self.noise.sample(px, pe, node_mask, generator)
            xi, ei = X.argmax(-1), E.argmax(-1)
            for i in range(b):
                k = int(n_atoms[i])
                graphs.append((xi[i, :k].numpy(), ei[i, :k, :k].numpy()))
            done += b
            if progress:
                print(f"graph-dit: {done}/{n} sampled", flush=True)
        return graphs

    def _schedule(self, steps: int | None, spacing: str = "linear") -> list[tuple[int, int]]:
        """(t, s) pairs from T down to 0; ``steps`` < T skips (Q_{t|s} spans each gap).

        ``spacing``: ``"linear"`` spreads the steps evenly over T; ``"quadratic"`` / ``"cubic"`` put
        them at t = T·(k/steps)^p, dense near t = 0 where bonds are decided (duplicates merged)."""
        T = self.noise.T
        steps = T if steps is None else max(1, min(int(steps), T))
        power = SPACINGS.get(spacing)
        if power is None:
            raise DesignerError(f"spacing {spacing!r}: expected one of {', '.join(SPACINGS)}")
        grid = np.unique(np.round(T * np.linspace(0, 1, steps + 1) ** power).astype(int))[::-1]
        return [(int(grid[i]), int(grid[i + 1])) for i in range(len(grid) - 1)]

    def reverse_probs(self, model: GraphDiT, X: torch.Tensor, E: torch.Tensor, node_mask: torch.Tensor, t: int, s: int,
                      numeric: torch.Tensor, categorical: torch.Tensor, drop: torch.Tensor, guidance: float
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """p(G_s | G_t) with classifier-free guidance in log-probability space:
        log p̃ = log p_uncond + s·(log p_cond − log p_uncond), renormalised per atom and per bond
        (the reference applies it to the posterior probabilities, p_u·(p_c/p_u)^s). Scale 0 gives
        the unconditional model, 1 the conditional one; with no targets only one pass is made."""
        b = X.shape[0]
        t_in = torch.full((b,), t / self.noise.T)

        def posterior(drop_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            atom_logits, bond_logits = model(X, E, node_mask, t_in, numeric, categorical, drop_mask)
            return self.noise.posterior(X, E, atom_logits.softmax(-1), bond_logits.softmax(-1), node_mask, t, s)

        all_dropped = torch.ones_like(drop)
        conditional = not bool(drop.all())
        if not conditional or guidance == 0:
            return posterior(all_dropped)
        px_c, pe_c = posterior(drop)
        if guidance == 1:
            return px_c, pe_c
        px_u, pe_u = posterior(all_dropped)
        return _guide(px_c, px_u, guidance), _guide(pe_c, pe_u, guidance)

    def sample(self, n: int, targets: Mapping[str, float | str] | None = None, *, guidance: float | None = None,
               seed: int = 0, batch_size: int = 256, progress: bool = False,
               steps: int | None = None, spacing: str | None = None, atom_count: str = "targets") -> list[str | None]:
        """``n`` SMILES; where the sampled graph is not a valid molecule (no repair), the graph as an
        unsanitized SMILES, which the candidate table marks invalid with RDKit's reason.

        ``steps`` reverse steps (default: the model card's ``sample_steps``, else T) placed by
        ``spacing`` (default: the card's ``sample_spacing``); fewer steps are proportionally faster.
        ``atom_count``: ``"targets"`` draws sizes from p(n | targets), ``"marginal"`` as the paper;
        ``guidance`` None is the card's default scale."""
        steps = steps or self.meta.get("sample_steps")
        guidance = self.default_guidance if guidance is None else guidance
        graphs = self.sample_graphs(n, dict(targets or {}), guidance=guidance, seed=seed, batch_size=batch_size,
                                    steps=steps, spacing=spacing, atom_count=atom_count, progress=progress)
        return [decode(x, e, self.atoms) for x, e in graphs]


def _slice_targets(targets: Mapping[str, Any], start: int, b: int) -> dict[str, Any]:
    """Targets for samples ``start:start + b``: per-sample sequences are sliced, scalars kept."""
    out: dict[str, Any] = {}
    for name, value in targets.items():
        if isinstance(value, (list, tuple, np.ndarray, torch.Tensor)):
            out[name] = np.asarray(value)[start:start + b]
        else:
            out[name] = value
    return out


def _guide(p_cond: torch.Tensor, p_uncond: torch.Tensor, scale: float) -> torch.Tensor:
    log_c, log_u = p_cond.clamp_min(1e-30).log(), p_uncond.clamp_min(1e-30).log()
    return torch.softmax(log_u + scale * (log_c - log_u), dim=-1)


def load(path: str | Path, name: str = "graph-dit") -> GraphDiTGenerator:
    """A generator from a checkpoint written by :func:`save_checkpoint`; a bad file raises DesignerError."""
    path = Path(path)
    payload = read_payload(path, CHECKPOINT_FORMAT, "Graph DiT")
    try:
        config = GraphDiTConfig(**payload["config"])
        model = GraphDiT(config)
        model.load_state_dict(payload["state_dict"])
        noise = GraphNoise.from_state(payload["noise"])
        meta = payload["meta"]
    except (KeyError, TypeError, RuntimeError, ValueError) as error:
        raise DesignerError(f"Graph DiT checkpoint {path} is incomplete or does not match the model: "
                            f"{str(error).splitlines()[0][:200]}") from None
    card = path.with_suffix(".json")
    if card.exists():  # measured metrics live beside the weights and may be updated without retraining
        try:
            facts = json.loads(card.read_text())
            meta = {**meta, **{k: v for k, v in facts.items()
                               if k in ("metrics", "trained_on", "sample_steps", "sample_spacing", "guidance_default")}}
        except (OSError, ValueError):
            raise DesignerError(f"cannot read the model card {card}") from None
    return GraphDiTGenerator(model, noise, meta, name=name, reference=load_reference(path))


def load_reference(path: Path) -> dict[str, np.ndarray] | None:
    """``<checkpoint>_reference.npz`` beside the weights: properties and atom counts of training
    molecules (p(n | targets) uses them); None when absent (sizes then come from the marginal)."""
    reference = path.with_name(f"{path.stem}_reference.npz")
    if not reference.exists():
        return None
    with np.load(reference, allow_pickle=False) as data:
        return {"numeric": data["numeric"].astype(np.float64), "n_atoms": data["n_atoms"].astype(np.int64),
                "names": data["names"]}


def load_default() -> GraphDiTGenerator:
    """The shipped MOSES checkpoint (``models/graph_dit/checkpoints/graph_dit_moses.pt``)."""
    return load(DEFAULT_CHECKPOINT)


LOADERS: dict[str, Callable[[], GraphDiTGenerator]] = {"graph-dit": load_default}
