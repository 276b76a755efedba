"""Workflows from configs: run directories, summaries, resume after an interruption, generation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import designer
from designer.config import load_config
from designer.errors import DesignerError
from designer.workflows import pipeline


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.toml"
    path.write_text(text)
    return path


INPUT_CONFIG = """
version = 1
name = "screen"
chunk_size = 2
[input]
path = "mols.smi"
[filter]
rules = ["unique", "mw<=300"]
[score]
oracles = ["qed", "sa"]
[export]
formats = ["sdf", "csv"]
sort_by = "qed"
"""


def test_run_from_an_input_file(tmp_path: Path, smiles_file: Path) -> None:
    result = designer.run(write_config(tmp_path, INPUT_CONFIG), tmp_path / "out")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["produced"] == 6 and summary["invalid"] == 1
    assert summary["dropped"] == {"unique": 1, "mw<=300": 1}  # OCC repeats CCO; the invalid ring has no MW
    assert summary["kept"] == len(result.candidates) == 4
    qed = result.candidates.columns["qed"]
    assert list(qed) == sorted(qed, reverse=True)
    assert {p.name for p in result.exports} == {"candidates.sdf", "candidates.csv"}
    assert designer.read(tmp_path / "out" / "candidates.sdf").items == result.candidates.items
    assert (tmp_path / "out" / "config.toml").exists()


def test_invalid_candidates_are_kept_and_counted_without_a_valid_rule(tmp_path: Path, smiles_file: Path) -> None:
    config = INPUT_CONFIG.replace('rules = ["unique", "mw<=300"]', "rules = []")
    result = designer.run(write_config(tmp_path, config), tmp_path / "out")
    assert result.summary["invalid"] == 1 and result.summary["kept"] == 6
    assert result.summary["scores"]["qed"]["nan"] == 1
    bad = result.candidates.items.index("C1CC")
    assert "invalid SMILES" in result.candidates.reasons[bad]


def test_resume_after_an_interruption_redoes_only_missing_chunks(tmp_path: Path, smiles_file: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_config(tmp_path, INPUT_CONFIG)
    complete = designer.run(config, tmp_path / "reference")
    calls = []
    original = pipeline.score

    def interrupted(table, *args, **kwargs):
        calls.append(len(table))
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed while scoring the second chunk
        return original(table, *args, **kwargs)

    monkeypatch.setattr(pipeline, "score", interrupted)
    with pytest.raises(KeyboardInterrupt):
        designer.run(config, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out" / "chunks").iterdir()) == ["000000.jsonl"]
    with pytest.raises(DesignerError, match="already holds a run; pass --resume"):
        designer.run(config, tmp_path / "out")
    monkeypatch.setattr(pipeline, "score", original)
    resumed = designer.run(config, tmp_path / "out", resume=True)
    assert resumed.summary["resumed_chunks"] == 1
    assert resumed.candidates.ids == complete.candidates.ids  # nothing lost, nothing twice
    assert resumed.summary["kept"] == complete.summary["kept"]


def test_resume_refuses_a_different_config(tmp_path: Path, smiles_file: Path) -> None:
    config = write_config(tmp_path, INPUT_CONFIG)
    designer.run(config, tmp_path / "out")
    config.write_text(INPUT_CONFIG.replace('"sa"', '"logp"'))
    with pytest.raises(DesignerError, match="different config"):
        designer.run(config, tmp_path / "out", resume=True)
    with pytest.raises(DesignerError, match="no run to resume"):
        designer.run(config, tmp_path / "elsewhere", resume=True)


@pytest.mark.parametrize(("text", "message"), [
    ('name = "x"\n[input]\npath = "a.smi"\n[scor]\n', "unknown key 'scor'; did you mean 'score'"),
    ('[input]\npath = "a.smi"\n[score]\noracle = ["qed"]\n', "unknown key 'score.oracle'; did you mean 'oracles'"),
    ('version = 7\n[input]\npath = "a.smi"\n', "schema version 7 is not supported"),
    ('[input]\npath = "a.smi"\n[generate]\nn = 3\n', "exactly one source"),
    ("[input\n", "not valid TOML"),
])
def test_bad_configs_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DesignerError, match=message):
        load_config(write_config(tmp_path, text))


def test_generate_run_is_deterministic_and_resumable(tmp_path: Path, pool_model: str) -> None:
    config = write_config(tmp_path, """
name = "gen"
chunk_size = 5
[generate]
model = "pool"
n = 12
seed = 3
targets = { qed = 0.7 }
[score]
oracles = ["qed"]
""")
    first = designer.run(config, tmp_path / "a")
    second = designer.run(config, tmp_path / "b")
    assert first.candidates.items == second.candidates.items and len(first.candidates) == 12
    assert first.summary["chunks"] == 3
    np.testing.assert_allclose(first.candidates.columns["target_qed"], 0.7)
    assert "qed" in first.summary["target_mae"]


def test_generate_api_validates_targets(pool_model: str) -> None:
    table = designer.generate({"qed": None}, model="pool", n=20, seed=1, rules=["valid"])
    assert table.valid.all() and "qed" in table.columns
    np.testing.assert_allclose(table.columns["target_qed"], 0.8)  # the model's default
    assert designer.generate({"qed": 0.5}, model="pool", n=20, seed=1).items == \
        designer.generate({"qed": 0.5}, model="pool", n=20, seed=1).items
    with pytest.raises(DesignerError, match=r"outside the range the model was trained on \(qed in \[0, 1\]\)"):
        designer.generate({"qed": 1.5}, model="pool")
    with pytest.raises(DesignerError, match=r"unknown target 'logp'.*conditioned on: qed in"):
        designer.generate({"logp": 2}, model="pool")
    with pytest.raises(DesignerError, match="not one of yes, no"):
        designer.generate({"pains_free": "maybe"}, model="pool")
    with pytest.raises(DesignerError, match=r"unknown model 'graph-ditt'; did you mean 'graph-dit'\?"):
        designer.generate({"qed": 0.5}, model="graph-ditt")
