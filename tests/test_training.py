"""`designer train`: a user's CSV → a registered model `designer generate` can use; bad input; resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import designer
from designer.errors import DesignerError

SMILES = ["CCO", "c1ccccc1O", "CC(=O)N", "CCN", "OCC(O)CO", "CC(C)(C)N", "FC(F)F", "C1CC1N", "CCOC(C)=O",
          "c1ccncc1", "CCCCO", "CC(=O)O", "NCCO", "c1ccc(N)cc1", "CCOCC", "OC1CCCCC1"]


@pytest.fixture()
def series(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A 64-row CSV with a custom numeric property, one invalid SMILES and one missing value."""
    monkeypatch.setenv("DESIGNER_DATA_DIR", str(tmp_path / "data"))
    rng = np.random.default_rng(0)
    rows = ["smiles,size,set"]
    for i in range(64):
        s = SMILES[i % len(SMILES)]
        part = "train" if i < 48 else ("validation" if i < 56 else "test")
        rows.append(f"{s},{len(s) + rng.normal(0, 0.1):.3f},{part}")
    rows += ["not_a_smiles,3.0,train", "CCO,,train"]
    (tmp_path / "series.csv").write_text("\n".join(rows) + "\n")
    return tmp_path / "series.csv"


def config(path: Path, **train: object) -> dict:
    return {"name": "my-series", "family": "des-inverse",
            "data": {"path": str(path), "properties": ["size"], "split": "column:set"},
            "model": {"size": "tiny"}, "train": {"max_steps": 40, "batch_size": 16, "export_every_steps": 20, **train}}


def test_csv_to_registered_generator(series: Path) -> None:
    folder = designer.train(config(series))
    card = json.loads((folder / "model.json").read_text())
    assert card["dataset"]["kept"] == 64
    assert card["dataset"]["dropped"] == {"invalid SMILES": 1, "missing property value": 1}
    assert card["dataset"]["split"] == {"train": 48, "validation": 8, "test": 8}
    assert len(card["dataset"]["sha256"]) == 64 and card["training"]["steps"] == 40
    assert "my-series" in set(designer.models()["name"])
    table = designer.generate({"size": 6.0}, model="my-series", n=2, max_samples=40, seed=0)
    assert table.summary["samples_drawn"] >= 2  # it samples through the one target loop


def test_scaffold_split_keeps_scaffolds_apart() -> None:
    from rdkit.Chem.Scaffolds import MurckoScaffold

    from designer.training import scaffold_split

    smiles = SMILES * 4
    split = scaffold_split(smiles, seed=0)
    scaffolds = [MurckoScaffold.MurckoScaffoldSmiles(smiles=s) for s in smiles]
    for part in (0, 1, 2):
        others = {sc for sc, p in zip(scaffolds, split, strict=True) if p != part}
        assert not ({sc for sc, p in zip(scaffolds, split, strict=True) if p == part} & others)
    assert (split == 0).mean() >= 0.5


@pytest.mark.parametrize(("change", "message"), [
    ({"data": {"properties": ["pic50"]}}, "has no column 'pic50'"),
    ({"data": {"split": "column:nope"}}, "split column 'nope'"),
    ({"family": "graph-dit-xl"}, "training config: family"),
    ({"data": {"split": "random", "path": "tiny.csv"}}, "too few rows for the split"),
    ({"data": {"properties": ["set"]}}, "property 'set' is not numeric in row 2"),
])
def test_bad_input_is_one_clear_error_and_registers_nothing(series: Path, change: dict, message: str) -> None:
    (series.parent / "tiny.csv").write_text("smiles,size\nCCO,1\nCCN,2\nCCC,3\n")
    cfg = config(series)
    for key, value in change.items():
        cfg[key] = {**cfg[key], **value} if isinstance(value, dict) else value
    if cfg["data"]["path"] == "tiny.csv":
        cfg["data"]["path"] = str(series.parent / "tiny.csv")
    with pytest.raises(DesignerError, match=message):
        designer.train(cfg)
    from designer.training import user_models

    assert user_models() == {}


def test_killed_training_registers_nothing_and_resumes(series: Path, tmp_path: Path) -> None:
    from designer.training import models_dir, user_models

    cfg = config(series, max_steps=100000)
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    code = f"import json, designer; designer.train(json.load(open({str(tmp_path / 'cfg.json')!r})))"
    child = subprocess.Popen([sys.executable, "-c", code], env=os.environ.copy())
    state = models_dir() / ".my-series.training" / "run.ckpt"
    deadline = time.time() + 120
    while not state.exists() and time.time() < deadline and child.poll() is None:
        time.sleep(0.5)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert state.exists() and user_models() == {}  # killed: nothing registered, the run's state kept
    import torch

    reached = int(torch.load(state, map_location="cpu", weights_only=False)["global_step"])  # how far it got
    before = torch.load(state.with_name("model.pt"), map_location="cpu", weights_only=True)["meta"]["training"]
    folder = designer.train(config(series, max_steps=reached + 40), resume=True)
    curve = json.loads((folder / "model.json").read_text())["training"]["curve"]
    # continued, not restarted: the killed run's points (with their CPU minutes) open the curve
    assert curve[:len(before["curve"])] == before["curve"] and curve[-1]["step"] == reached + 40
    assert set(user_models()) == {"my-series"}


def test_cli_train_prints_one_line(series: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture) -> None:
    from designer import cli

    toml = tmp_path / "train.toml"
    toml.write_text(f'name = "cli-series"\nfamily = "des-forward"\n[data]\npath = "{series}"\nproperties = ["size"]\n'
                    f'split = "column:set"\n[model]\nsize = "tiny"\n[train]\nmax_steps = 20\nexport_every_steps = 10\n')
    monkeypatch.setattr(sys, "argv", ["designer", "train", str(toml)])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code in (0, None)
    out = capsys.readouterr().out
    assert "cli-series: trained on 64 of 66 rows" in out
    card = json.loads((tmp_path / "data" / "models" / "cli-series" / "model.json").read_text())
    assert "size" in card["metrics"]  # held-out MAE of the forward model
