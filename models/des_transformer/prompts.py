"""Text prompts of the multi-task model: one vocabulary, two tasks, answers after a separator.

    forward:  <fwd> SMILES |  v_1 , v_2 , … , v_P <eos>        (predict properties from SMILES)
    inverse:  <inv> v_1 , ? , … , v_P |  SMILES <eos>           (design SMILES from properties)

Values are the MinMax-scaled properties in [−1, 1] written with a sign and three decimals, one
character per token ("+0.123"); "?" marks a property the request leaves open, so any subset of
targets is a prompt the model was trained on. SMILES use the SMILES tokens of the other models.
The loss covers the answer only (the tokens after ``|``): the prompt is given, never predicted.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from designer.errors import DesignerError
from designer.models.char_rnn.model import tokenize

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
FORWARD, INVERSE, SEP, OPEN, COMMA = "<fwd>", "<inv>", "|", "?", ","
NUMBER_CHARS = tuple("0123456789+-.")


class PromptVocabulary:
    """Token ↔ index over task markers, number characters and SMILES tokens (PAD 0, BOS 1, EOS 2)."""

    def __init__(self, tokens: Sequence[str]) -> None:
        fixed = [PAD, BOS, EOS, FORWARD, INVERSE, SEP, OPEN, COMMA, *NUMBER_CHARS]
        self.tokens = fixed + sorted({t for t in tokens if t not in fixed})
        self.index = {t: i for i, t in enumerate(self.tokens)}

    @classmethod
    def build(cls, smiles: Sequence[str]) -> PromptVocabulary:
        return cls(sorted({t for s in smiles for t in tokenize(s)}))

    def __len__(self) -> int:
        return len(self.tokens)

    def ids(self, tokens: Sequence[str]) -> list[int]:
        try:
            return [self.index[t] for t in tokens]
        except KeyError as missing:
            raise DesignerError(f"token {missing} is outside the multi-task model's vocabulary") from None


def value_tokens(scaled: Sequence[float | None]) -> list[str]:
    """["+", "0", ".", "1", "2", "3", ",", "?", ...]: each value (None = open) as characters."""
    out: list[str] = []
    for k, v in enumerate(scaled):
        if k:
            out.append(COMMA)
        out.extend([OPEN] if v is None or not np.isfinite(v) else list(f"{float(np.clip(v, -9.999, 9.999)):+.3f}"))
    return out


def forward_prompt(smiles: str) -> list[str]:
    return [BOS, FORWARD, *tokenize(smiles), SEP]


def inverse_prompt(scaled: Sequence[float | None]) -> list[str]:
    return [BOS, INVERSE, *value_tokens(scaled), SEP]


def parse_values(tokens: Sequence[str], n: int) -> np.ndarray:
    """The n values of a forward answer (NaN where a field does not parse)."""
    fields = "".join(t for t in tokens if t not in (EOS, PAD)).split(COMMA)
    out = np.full(n, np.nan)
    for k, text in enumerate(fields[:n]):
        try:
            out[k] = float(text)
        except ValueError:
            pass
    return out
