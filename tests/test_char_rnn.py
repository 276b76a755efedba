"""CharRNN baseline: tokenizer, a tiny model that learns a few SMILES, seeded sampling, checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from rdkit import Chem

from designer.errors import DesignerError
from designer.generators import Generator
from designer.models.char_rnn.lightning import CharRNNModule
from designer.models.char_rnn.model import CharRNNConfig, Vocabulary, tokenize
from designer.models.char_rnn.sample import CharRNNGenerator, load, save_checkpoint

SMILES = ["CCOc1ccc(Cl)cc1", "O=C(N)c1ccc[nH]1", "CC(C)Br", "C1CC2CCC1C2", "N#Cc1ccccc1F", "CS(=O)(=O)N"]


def test_tokenizer_keeps_multi_character_tokens() -> None:
    assert tokenize("c1cc[nH]c1Cl") == ["c", "1", "c", "c", "[nH]", "c", "1", "Cl"]
    assert tokenize("C%12CBr") == ["C", "%12", "C", "Br"]
    with pytest.raises(DesignerError, match="cannot tokenize"):
        tokenize("C&C")


def test_vocabulary_round_trip_and_unknown_token() -> None:
    vocabulary = Vocabulary.build(SMILES)
    for s in SMILES:
        ids = vocabulary.encode(s)
        assert ids[0] == 1 and ids[-1] == 2 and vocabulary.decode(ids[1:]) == s
    with pytest.raises(DesignerError, match="outside the vocabulary"):
        vocabulary.encode("C[Se]C")


@pytest.fixture(scope="module")
def trained() -> CharRNNGenerator:
    """A tiny LSTM trained until it reproduces its six training molecules."""
    torch.manual_seed(0)
    vocabulary = Vocabulary.build(SMILES)
    module = CharRNNModule(CharRNNConfig(len(vocabulary), hidden=64, layers=1, dropout=0.0), lr=1e-2)
    batch = torch.nn.utils.rnn.pad_sequence([torch.tensor(vocabulary.encode(s)) for s in SMILES], batch_first=True)
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-2)
    for _ in range(200):
        optimizer.zero_grad()
        loss = module.loss(batch)
        loss.backward()
        optimizer.step()
    assert float(loss.detach()) < 0.3
    return CharRNNGenerator(module.model, vocabulary)


def test_trained_model_samples_valid_training_like_molecules(trained: CharRNNGenerator) -> None:
    assert isinstance(trained, Generator)
    smiles = trained.sample(64, {}, seed=0, batch_size=32)
    valid = [s for s in smiles if s and Chem.MolFromSmiles(s) is not None]  # invalid strings come back as sampled
    assert len(valid) / len(smiles) > 0.8
    canonical = {Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in SMILES}
    assert sum(s in canonical for s in valid) / len(valid) > 0.8


def test_same_seed_same_samples(trained: CharRNNGenerator) -> None:
    assert trained.sample(16, seed=3, batch_size=5) == trained.sample(16, seed=3, batch_size=5)
    assert trained.sample_strings(16, seed=3) != trained.sample_strings(16, seed=4)


def test_unconditional_model_selects_only_for_its_card_targets(trained: CharRNNGenerator) -> None:
    assert trained.conditioning == "selection"
    with pytest.raises(DesignerError, match="cannot select for qed"):  # the tiny model's card names no targets
        trained.sample(2, {"qed": 0.9})


def test_checkpoint_round_trip_and_bad_files(trained: CharRNNGenerator, tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "rnn.pt", trained.model, trained.vocabulary, {"trained_on": "six molecules"})
    loaded = load(tmp_path / "rnn.pt")
    assert loaded.sample(8, seed=1) == trained.sample(8, seed=1)
    assert loaded.card["trained_on"] == "six molecules"
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    for bad in (tmp_path / "bad.pt", tmp_path / "missing.pt"):
        with pytest.raises(DesignerError) as info:
            load(bad)
        assert "\n" not in str(info.value)
