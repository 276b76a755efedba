"""Sampling a trained CharRNN token by token, and its checkpoint format."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from rdkit import RDLogger

from designer.checkpoints import read_payload, save_payload
from designer.errors import DesignerError
from designer.generators import PROPERTY_DESCRIPTIONS, Condition
from designer.metrics import canonical as canonical_smiles
from designer.models.char_rnn.model import CharRNN, CharRNNConfig, Vocabulary

RDLogger.DisableLog("rdApp.*")

CHECKPOINT_FORMAT = "designer.char_rnn/1"
CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"
DEFAULT_CHECKPOINT = CHECKPOINT_DIR / "char_rnn_moses.pt"


def save_checkpoint(path: str | Path, model: CharRNN, vocabulary: Vocabulary, meta: Mapping[str, Any]) -> None:
    """Weights, sizes and vocabulary in one file (written whole, then renamed)."""
    payload = {"format": CHECKPOINT_FORMAT, "config": model.config.to_dict(), "tokens": vocabulary.tokens,
               "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, "meta": dict(meta)}
    save_payload(payload, path)


class CharRNNGenerator:
    """An unconditional SMILES generator; ``guidance`` is ignored.

    It conditions by selection only (``conditioning = "selection"``): ``conditions`` (the training
    set's property ranges, from the model card) tell the target loop which targets it may select
    for, and the sampler itself ignores them.
    """

    kind = "molecule"
    conditioning = "selection"

    def __init__(self, model: CharRNN, vocabulary: Vocabulary, meta: Mapping[str, Any] | None = None,
                 name: str = "char-rnn", max_length: int = 100,
                 conditions: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.model = model.eval()
        self.vocabulary = vocabulary
        self.name = name
        self.max_length = max_length  # MOSES samples at most 100 tokens
        self.conditions: dict[str, Condition] = {
            key: Condition(key, "numeric", low=float(c["low"]), high=float(c["high"]), default=float(c["default"]),
                           default_note=c["default_note"], description=PROPERTY_DESCRIPTIONS.get(key, ""))
            for key, c in (conditions or {}).items()}
        meta = dict(meta or {})
        self.card: dict[str, Any] = {"trained_on": meta.get("trained_on", ""), "metrics": meta.get("metrics", {}),
                                     "command": meta.get("command", ""),
                                     "training": meta.get("training", {})}

    @torch.no_grad()
    def sample_strings(self, n: int, *, seed: int = 0, batch_size: int = 256, temperature: float = 1.0) -> list[str]:
        """``n`` raw token strings (not yet checked by RDKit), batch by batch from one seeded generator."""
        generator = torch.Generator().manual_seed(int(seed))
        out: list[str] = []
        while len(out) < n:
            b = min(batch_size, n - len(out))
            token = torch.full((b, 1), 1, dtype=torch.long)  # BOS
            state = None
            rows = torch.zeros(b, self.max_length, dtype=torch.long)
            finished = torch.zeros(b, dtype=torch.bool)
            for i in range(self.max_length):
                logits, state = self.model(token, state)
                probs = torch.softmax(logits[:, -1] / temperature, dim=-1)
                token = torch.multinomial(probs, 1, generator=generator)
                token[finished] = 0
                rows[:, i] = token[:, 0]
                finished |= token[:, 0] == 2
                if bool(finished.all()):
                    break
            out.extend(self.vocabulary.decode(row.tolist()) for row in rows)
        return out

    def sample(self, n: int, targets: Mapping[str, float | str] | None = None, *, guidance: float = 1.0,
               seed: int = 0, batch_size: int = 256, progress: bool = False) -> list[str | None]:
        """``n`` canonical SMILES; a sampled string that is not a valid molecule is returned as it is
        (the candidate table marks it invalid with RDKit's reason), an empty one as ``None``.

        ``targets`` do not change what is sampled: the target loop selects for them."""
        unknown = sorted(set(targets or {}) - set(self.conditions))
        if unknown:
            raise DesignerError(f"{self.name} cannot select for {', '.join(unknown)} "
                                f"(targets: {', '.join(self.conditions) or 'none'})")
        smiles: list[str | None] = []
        for text in self.sample_strings(n, seed=seed, batch_size=batch_size):
            smiles.append(canonical_smiles(text) or text or None)  # invalid: as sampled
        return smiles


def load(path: str | Path, name: str = "char-rnn") -> CharRNNGenerator:
    """A generator from :func:`save_checkpoint`'s file; a missing or foreign file raises DesignerError."""
    path = Path(path)
    payload = read_payload(path, CHECKPOINT_FORMAT, "CharRNN")
    try:
        model = CharRNN(CharRNNConfig(**payload["config"]))
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, RuntimeError) as error:
        raise DesignerError(f"CharRNN checkpoint {path} does not match the model: {str(error).splitlines()[0][:200]}"
                            ) from None
    card = path.with_suffix(".json")
    try:  # the targets it may select for live in the model card beside the weights
        conditions = json.loads(card.read_text()).get("conditions", {}) if card.exists() else {}
    except (OSError, ValueError):
        raise DesignerError(f"cannot read the model card {card}") from None
    return CharRNNGenerator(model, Vocabulary(payload["tokens"]), payload.get("meta"), name=name,
                            conditions=conditions)


def load_default() -> CharRNNGenerator:
    """The CharRNN trained on the same MOSES subset as Graph DiT (``checkpoints/char_rnn_moses.pt``)."""
    return load(DEFAULT_CHECKPOINT)
