"""Checkpoints, the forward predictor (an oracle backend) and the inverse generator.

One checkpoint format for both directions: the network kind (``forward`` / ``inverse``), its
config, the SMILES vocabulary, the property names, units and MinMax ranges, and the card facts.

Inverse sampling follows the reference's ``generate``: tokens one at a time from BOS, classifier-free
guidance on the logits, ``logits_u + s · (logits_c − logits_u)`` (reference default s = 3), then a
draw at ``temperature``; the reference also keeps only the top 10 % of logits (``filter_thres`` 0.9),
which is available as ``top_fraction`` and off by default (it collapses diversity on a vocabulary of
~30 tokens: two tokens left).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rdkit import RDLogger

from designer.checkpoints import read_payload, save_payload
from designer.errors import DesignerError
from designer.generators import PROPERTY_DESCRIPTIONS, Condition
from designer.metrics import canonical as canonical_smiles
from designer.models.char_rnn.model import Vocabulary
from designer.models.des_transformer.data import QM9_COLUMNS, MinMax, canonical
from designer.models.des_transformer.diffusion import TokenDenoiser, sample_tokens
from designer.models.des_transformer.model import (
    ForwardConfig,
    ForwardEncoder,
    InverseConfig,
    InverseDecoder,
    PromptConfig,
    PromptGPT,
)
from designer.models.des_transformer.prompts import (
    EOS,
    PromptVocabulary,
    forward_prompt,
    inverse_prompt,
    parse_values,
)

RDLogger.DisableLog("rdApp.*")

CHECKPOINT_FORMAT = "designer.des_transformer/1"
CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"


def save_checkpoint(path: str | Path, kind: str, model: ForwardEncoder | InverseDecoder | PromptGPT,
                    vocabulary: Vocabulary | PromptVocabulary,
                    names: Sequence[str], units: Mapping[str, str], scaler: MinMax, meta: Mapping[str, Any]
                    ) -> None:
    payload = {"format": CHECKPOINT_FORMAT, "kind": kind, "config": model.config.to_dict(),
               "tokens": vocabulary.tokens, "names": list(names), "units": dict(units),
               "low": scaler.low.tolist(), "high": scaler.high.tolist(), "meta": dict(meta),
               "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}
    save_payload(payload, path)


def _read(path: str | Path, *kinds: str) -> tuple[dict[str, Any], Any]:
    """The checkpoint's payload and its network, which must be one of ``kinds``."""
    payload = read_payload(path, CHECKPOINT_FORMAT, "property transformer")
    kind = payload.get("kind")
    if kind not in kinds:
        raise DesignerError(f"{path} holds a {kind} model, not a {' or '.join(kinds)} one")
    try:
        if kind == "forward":
            model: Any = ForwardEncoder(ForwardConfig(**payload["config"]))
        elif kind == "multitask":
            model = PromptGPT(PromptConfig(**payload["config"]))
        elif kind == "diffusion":
            model = TokenDenoiser(InverseConfig(**payload["config"]))
        else:
            model = InverseDecoder(InverseConfig(**payload["config"]))
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, RuntimeError) as error:
        raise DesignerError(f"property transformer checkpoint {path} does not match the model: "
                            f"{str(error).splitlines()[0][:200]}") from None
    card = Path(path).with_suffix(".json")
    try:
        facts = json.loads(card.read_text()) if card.exists() else {}
    except (OSError, ValueError):
        raise DesignerError(f"cannot read the model card {card}") from None
    payload["meta"] = {**payload.get("meta", {}), **facts}
    return payload, model.eval()


class ForwardPredictor:
    """SMILES → property values in reported units; a SMILES it cannot read gets NaN and a reason."""

    def __init__(self, model: ForwardEncoder, vocabulary: Vocabulary, names: Sequence[str], scaler: MinMax,
                 units: Mapping[str, str], meta: Mapping[str, Any] | None = None) -> None:
        self.model, self.vocabulary, self.names = model.eval(), vocabulary, list(names)
        self.scaler, self.units, self.meta = scaler, dict(units), dict(meta or {})

    def encode(self, smiles: str) -> tuple[list[int] | None, str]:
        """Token indices of the canonical SMILES, or None and why it cannot be scored."""
        text = canonical(smiles) if smiles else None
        if text is None:
            return None, "not a valid SMILES"
        try:
            tokens = self.vocabulary.encode(text)
        except DesignerError as error:
            return None, f"{error} (the model was trained on {self.meta.get('data', 'its data set')})"
        if len(tokens) > self.model.config.max_length:
            return None, f"longer ({len(tokens)} tokens) than the model's context of {self.model.config.max_length}"
        return tokens, ""

    @torch.no_grad()
    def predict(self, smiles: Sequence[str], batch_size: int = 512) -> tuple[np.ndarray, list[str]]:
        """(n, P) values (NaN rows where a SMILES cannot be scored) and a reason per SMILES ("" if fine)."""
        values = np.full((len(smiles), len(self.names)), np.nan)
        encoded = [self.encode(s) for s in smiles]
        reasons = [reason for _, reason in encoded]
        rows = [i for i, (tokens, _) in enumerate(encoded) if tokens is not None]
        for start in range(0, len(rows), batch_size):
            chunk = rows[start:start + batch_size]
            batch = torch.zeros(len(chunk), self.model.config.max_length, dtype=torch.long)
            for k, i in enumerate(chunk):
                tokens = encoded[i][0]
                assert tokens is not None
                batch[k, :len(tokens)] = torch.tensor(tokens)
            values[chunk] = self.scaler.unscale(self.model(batch).numpy())
        return values, reasons


def property_conditions(names: Sequence[str], scaler: MinMax, units: Mapping[str, str], meta: Mapping[str, Any]
                        ) -> dict[str, Condition]:
    """The targets an inverse model accepts: each property within the card's limits (else the training
    range of the scaler), with the card's default (else the middle of the range)."""
    conditions: dict[str, Condition] = {}
    limits = meta.get("conditions", {})
    for k, prop in enumerate(names):
        c = limits.get(prop, {})
        low, high = float(c.get("low", scaler.low[k])), float(c.get("high", scaler.high[k]))
        default = float(c.get("default", (low + high) / 2))
        description = PROPERTY_DESCRIPTIONS.get(prop) or QM9_COLUMNS.get(prop, ("", 1, "", prop))[3]
        conditions[prop] = Condition(prop, "numeric", low=low, high=high, default=default,
                                     default_note=c.get("default_note", "middle of the training range"),
                                     description=description, unit=units.get(prop, ""))
    return conditions


def qm9_scorers(names: Sequence[str]) -> dict[str, str]:
    """The oracle the target loop checks each QM9 target with: the forward model's ``qm9_<property>``.
    The oracles named ``gap``, ``homo``, ... read a 3D geometry (TFG-Flow's evaluator), which a SMILES
    sample lacks."""
    return {prop: f"qm9_{prop}" for prop in names if prop in QM9_COLUMNS}


class InverseGenerator:
    """Properties → SMILES, autoregressive with classifier-free guidance over any subset of targets."""

    kind = "molecule"

    def __init__(self, model: InverseDecoder | TokenDenoiser, vocabulary: Vocabulary, names: Sequence[str],
                 scaler: MinMax,
                 units: Mapping[str, str], meta: Mapping[str, Any] | None = None, name: str = "des-inverse") -> None:
        self.model, self.vocabulary, self.names, self.scaler = model.eval(), vocabulary, list(names), scaler
        self.name = name
        meta = self.meta = dict(meta or {})
        self.default_guidance = float(meta.get("guidance_default", 3.0))  # the target loop reads it
        self.temperature = float(meta.get("temperature", 1.0))
        self.top_fraction = meta.get("top_fraction")
        self.conditions = property_conditions(self.names, scaler, units, meta)
        self.card: dict[str, Any] = {"trained_on": meta.get("trained_on", ""), "metrics": meta.get("metrics", {}),
                                     "command": meta.get("command", ""), "guidance_default": self.default_guidance}
        self.scored_by = qm9_scorers(self.names)

    def encode_targets(self, targets: Mapping[str, Any], b: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Scaled property values (B, P) and the keep mask (B, P): properties not targeted are dropped."""
        unknown = sorted(set(targets) - set(self.names))
        if unknown:
            raise DesignerError(f"{self.name} has no target {unknown[0]!r} (targets: {', '.join(self.names)})")
        raw = np.zeros((b, len(self.names)))
        keep = torch.zeros(b, len(self.names), dtype=torch.bool)
        for k, prop in enumerate(self.names):
            if prop in targets:
                raw[:, k] = np.broadcast_to(np.asarray(targets[prop], dtype=np.float64), (b,))
                keep[:, k] = True
        scaled = np.where(keep.numpy(), self.scaler.scale(raw), 0.0)
        return torch.as_tensor(scaled, dtype=torch.float32), keep

    @torch.no_grad()
    def sample_tokens(self, targets: Mapping[str, Any], b: int, *, guidance: float, generator: torch.Generator
                      ) -> list[str]:
        """One batch, token by token from BOS. With guidance the conditional and unconditional rows run
        as one doubled batch; rows that reached EOS leave the batch (and their cached keys/values)."""
        scaled, keep = self.encode_targets(targets, b)
        length = self.model.config.max_length
        guided = bool(keep.any()) and guidance != 1
        if guided:  # rows [0, a) conditional, [a, 2a) the same sequences unconditional
            scaled, keep = torch.cat([scaled, scaled]), torch.cat([keep, torch.zeros_like(keep)])
        tokens = torch.zeros(b, length, dtype=torch.long)
        tokens[:, 0] = 1  # BOS
        active = torch.arange(b)  # rows still decoding
        cache = self.model.new_cache()  # keys/values decoded so far
        for i in range(1, length):
            last = tokens[active, i - 1:i]
            logits = self.model(torch.cat([last, last]) if guided else last, scaled, keep, cache)[:, -1]
            if guided:
                conditional, unconditional = logits.chunk(2)
                logits = unconditional + guidance * (conditional - unconditional)
            logits = logits / self.temperature
            if self.top_fraction:
                k = max(1, int(float(self.top_fraction) * logits.shape[-1]))
                threshold = logits.topk(k, dim=-1).values[:, -1:]
                logits = logits.masked_fill(logits < threshold, -torch.inf)
            logits[:, 0] = -torch.inf  # padding is never generated
            nxt = torch.multinomial(torch.softmax(logits, -1), 1, generator=generator)[:, 0]
            tokens[active, i] = nxt
            still = nxt != 2  # EOS ends a row
            if not bool(still.any()):
                break
            if not bool(still.all()):
                rows = still.nonzero()[:, 0]
                active = active[rows]
                if guided:
                    rows = torch.cat([rows, rows + len(still)])
                scaled, keep = scaled[rows], keep[rows]
                for layer in cache:
                    layer["kv"] = layer["kv"][rows]
        return [self.vocabulary.decode(row.tolist()) for row in tokens]

    def sample(self, n: int, targets: Mapping[str, Any] | None = None, *, guidance: float | None = None,
               seed: int = 0, batch_size: int = 256, progress: bool = False) -> list[str | None]:
        """``n`` canonical SMILES (an invalid string is returned as it is, an empty one as None).
        Targets may be scalars or one value per sample; ``guidance`` None = the card's default."""
        targets = dict(targets or {})
        guidance = self.default_guidance if guidance is None else float(guidance)
        if guidance < 0:
            raise DesignerError(f"guidance must be >= 0 (got {guidance:g})")
        generator = torch.Generator().manual_seed(int(seed))
        out: list[str | None] = []
        while len(out) < n:
            b = min(batch_size, n - len(out))
            part = {k: (np.asarray(v)[len(out):len(out) + b] if np.ndim(v) else v) for k, v in targets.items()}
            for text in self.sample_tokens(part, b, guidance=guidance, generator=generator):
                out.append(canonical_smiles(text) or text or None)  # invalid: as sampled
            if progress:
                print(f"{self.name}: {len(out)}/{n} sampled", flush=True)
        return out


class DiffusionGenerator(InverseGenerator):
    """The token-diffusion inverse model behind the same target interface (``diffusion.py``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # the reference's ancestral ADPM2 with 100 steps unless the card chose otherwise on validation
        # targets (`benchmarks/des.py steps`); every step costs two network passes
        self.steps = int(self.meta.get("sample_steps", 100))
        self.solver = str(self.meta.get("sample_solver", "adpm2"))

    @torch.no_grad()
    def sample_tokens(self, targets: Mapping[str, Any], b: int, *, guidance: float, generator: torch.Generator
                      ) -> list[str]:
        scaled, keep = self.encode_targets(targets, b)
        tokens = sample_tokens(self.model, scaled, keep, steps=self.steps, guidance=guidance, generator=generator,
                               solver=self.solver)
        return [self.vocabulary.decode(row.tolist()) for row in tokens]


def load_forward(path: str | Path) -> ForwardPredictor:
    payload, model = _read(path, "forward")
    return ForwardPredictor(model, Vocabulary(payload["tokens"]), payload["names"],
                            MinMax(np.asarray(payload["low"]), np.asarray(payload["high"])), payload["units"],
                            payload["meta"])


def load_inverse(path: str | Path, name: str = "des-inverse") -> InverseGenerator:
    """An autoregressive (kind ``inverse``) or token-diffusion (kind ``diffusion``) inverse model."""
    payload, model = _read(path, "inverse", "diffusion")
    family = DiffusionGenerator if payload["kind"] == "diffusion" else InverseGenerator
    return family(model, Vocabulary(payload["tokens"]), payload["names"],
                  MinMax(np.asarray(payload["low"]), np.asarray(payload["high"])), payload["units"],
                  payload["meta"], name=name)


def load_qm9_inverse() -> InverseGenerator:
    """The shipped QM9 inverse model (``checkpoints/qm9_inverse.pt``)."""
    return load_inverse(CHECKPOINT_DIR / "qm9_inverse.pt", name="des-inverse-qm9")


def load_qm9_diffusion() -> InverseGenerator:
    """The shipped QM9 token-diffusion inverse model (``checkpoints/qm9_diffusion.pt``)."""
    return load_inverse(CHECKPOINT_DIR / "qm9_diffusion.pt", name="des-diffusion-qm9")


def load_moses_inverse() -> InverseGenerator:
    """The shipped MOSES inverse model (``checkpoints/moses_inverse.pt``)."""
    return load_inverse(CHECKPOINT_DIR / "moses_inverse.pt", name="des-inverse-moses")


class MultiTaskModel:
    """The prompt-based model in both directions: :meth:`predict` (SMILES → properties, greedy
    decoding of the number characters; the ``mt_<property>`` oracles) and :meth:`sample` (targets →
    SMILES, open properties "?"; the ``des-multitask`` generator). The prompt model has no unconditional
    branch, so it samples without classifier-free guidance (scale 1)."""

    kind = "molecule"
    default_guidance = 1.0

    def __init__(self, model: PromptGPT, vocabulary: PromptVocabulary, names: Sequence[str], scaler: MinMax,
                 units: Mapping[str, str], meta: Mapping[str, Any] | None = None, name: str = "des-multitask"
                 ) -> None:
        self.model, self.vocabulary, self.names, self.scaler = model.eval(), vocabulary, list(names), scaler
        self.units, self.meta, self.name = dict(units), dict(meta or {}), name
        self.conditions = property_conditions(self.names, scaler, units, self.meta)
        self.card: dict[str, Any] = {"trained_on": self.meta.get("trained_on", ""),
                                     "metrics": self.meta.get("metrics", {}), "command": self.meta.get("command", "")}
        self.scored_by = qm9_scorers(self.names)

    @torch.no_grad()
    def _continue(self, prompts: list[list[int]], steps: int, generator: torch.Generator | None,
                  temperature: float = 1.0) -> list[list[str]]:
        """Extend equal-length prompts by up to ``steps`` tokens (greedy without a generator)."""
        tokens = torch.tensor(prompts, dtype=torch.long)
        finished = torch.zeros(len(prompts), dtype=torch.bool)
        eos = self.vocabulary.index[EOS]
        cache = self.model.new_cache()  # the prompt is read once, then one new token per step
        for step in range(min(steps, self.model.config.max_length - tokens.shape[1])):
            logits = self.model(tokens if step == 0 else tokens[:, -1:], cache)[:, -1] / temperature
            logits[:, 0] = -torch.inf
            if generator is None:
                nxt = logits.argmax(-1, keepdim=True)
            else:
                nxt = torch.multinomial(torch.softmax(logits, -1), 1, generator=generator)
            nxt[finished] = 0
            tokens = torch.cat([tokens, nxt], 1)
            finished |= nxt[:, 0] == eos
            if bool(finished.all()):
                break
        answers = []
        for row in tokens[:, len(prompts[0]):].tolist():
            out = []
            for i in row:
                if i in (0, eos):
                    break
                out.append(self.vocabulary.tokens[i])
            answers.append(out)
        return answers

    def predict(self, smiles: Sequence[str]) -> tuple[np.ndarray, list[str]]:
        """(n, P) property values (NaN where the SMILES cannot be read or the answer does not parse)."""
        values = np.full((len(smiles), len(self.names)), np.nan)
        reasons = [""] * len(smiles)
        groups: dict[int, list[tuple[int, list[int]]]] = {}
        for i, text in enumerate(smiles):
            canon = canonical(text) if text else None
            if canon is None:
                reasons[i] = "not a valid SMILES"
                continue
            try:
                ids = self.vocabulary.ids(forward_prompt(canon))
            except DesignerError as error:
                reasons[i] = str(error)
                continue
            groups.setdefault(len(ids), []).append((i, ids))
        for rows in groups.values():
            answers = self._continue([ids for _, ids in rows], 7 * len(self.names) + 1, None)
            for (i, _), answer in zip(rows, answers, strict=True):
                parsed = parse_values(answer, len(self.names))
                if np.isnan(parsed).any():
                    reasons[i] = "the model's answer did not parse as numbers"
                values[i] = self.scaler.unscale(parsed)
        return values, reasons

    def sample(self, n: int, targets: Mapping[str, Any] | None = None, *, guidance: float | None = None,
               seed: int = 0, temperature: float = 1.0, batch_size: int = 256, progress: bool = False
               ) -> list[str | None]:
        """``n`` canonical SMILES (an invalid string as sampled) for ``targets``, scalars or one value per
        sample (properties not given are open). ``guidance`` must be None or 1: there is no CFG here."""
        targets = dict(targets or {})
        unknown = sorted(set(targets) - set(self.names))
        if unknown:
            raise DesignerError(f"{self.name} has no target {unknown[0]!r} (targets: {', '.join(self.names)})")
        if guidance is not None and float(guidance) != 1.0:
            raise DesignerError(f"{self.name} samples without classifier-free guidance: use --guidance 1")
        raw = np.full((n, len(self.names)), np.nan)
        for k, prop in enumerate(self.names):
            if prop in targets:
                raw[:, k] = np.broadcast_to(np.asarray(targets[prop], dtype=np.float64), (n,))
        scaled = self.scaler.scale(raw)
        # the same properties are given in every row, so every prompt has the same length
        prompts = [self.vocabulary.ids(inverse_prompt([None if np.isnan(v) else float(v) for v in row]))
                   for row in scaled]
        generator = torch.Generator().manual_seed(int(seed))
        out: list[str | None] = []
        while len(out) < n:
            part = prompts[len(out):len(out) + batch_size]
            for answer in self._continue(part, self.model.config.max_length, generator, temperature):
                text = "".join(answer)
                out.append(canonical_smiles(text) or text or None)  # invalid: as sampled
            if progress:
                print(f"{self.name}: {len(out)}/{n} sampled", flush=True)
        return out


def load_multitask(path: str | Path, name: str = "des-multitask") -> MultiTaskModel:
    payload, model = _read(path, "multitask")
    return MultiTaskModel(model, PromptVocabulary(payload["tokens"]), payload["names"],
                          MinMax(np.asarray(payload["low"]), np.asarray(payload["high"])), payload["units"],
                          payload["meta"], name=name)


def load_qm9_multitask() -> MultiTaskModel:
    """The shipped QM9 multi-task prompt model (``checkpoints/qm9_multitask.pt``)."""
    return load_multitask(CHECKPOINT_DIR / "qm9_multitask.pt")
