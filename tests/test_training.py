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


def tiny(name: str, family: str, path: Path, **data: object) -> dict:
    return {"name": name, "family": family, "data": {"path": str(path), **data}, "model": {"size": "tiny"},
            "train": {"max_steps": 12, "batch_size": 8, "export_every_steps": 6}}


def generated(name: str, n: int, targets: dict | None = None, **options: object) -> list:
    from designer.registry import model_entry

    return model_entry(name).load().sample(n, targets or {}, seed=0, **options)


def test_graph_dit_trains_on_numeric_and_categorical_columns(series: Path) -> None:
    table = series.read_text().splitlines()
    rows = [table[0] + ",kind"] + [f"{line},{'ring' if '1' in line.split(',')[0] else 'chain'}" for line in table[1:]]
    (series.parent / "kinds.csv").write_text("\n".join(rows) + "\n")
    folder = designer.train(tiny("graph-series", "graph-dit", series.parent / "kinds.csv", properties=["size"],
                                 categorical=["kind"], split="column:set"))
    card = json.loads((folder / "model.json").read_text())
    assert card["kind"] == "molecule" and card["training"]["steps"] == 12
    assert {"test_loss", "valid", "unique", "novel"} <= set(card["metrics"])
    assert (folder / "model_reference.npz").exists()  # p(n | targets) draws sizes from the user's molecules
    from designer.registry import model_entry

    generator = model_entry("graph-series").load()
    assert set(generator.conditions) == {"size", "kind"}
    assert generator.conditions["kind"].choices == ("chain", "ring")
    assert len(generated("graph-series", 3, {"size": 5.0, "kind": "ring"})) == 3


def test_char_rnn_trains_on_smiles_and_reports_held_out_numbers(series: Path) -> None:
    folder = designer.train(tiny("rnn-series", "char-rnn", series, split="column:set"))
    card = json.loads((folder / "model.json").read_text())
    assert card["dataset"]["dropped"] == {"invalid SMILES": 1}  # no property column, so the blank one is kept
    assert card["metrics"]["test_nll_per_token"] > 0 and 0 <= card["metrics"]["valid"] <= 1
    assert len(generated("rnn-series", 4)) == 4


def test_gumbel_flow_trains_on_sequences_with_and_without_a_guide(series: Path) -> None:
    rng = np.random.default_rng(0)
    sequences = ["".join(rng.choice(list("ACGT"), 16)) for _ in range(40)]
    gc = [(s.count("G") + s.count("C")) / 16 for s in sequences]
    (series.parent / "library.csv").write_text("sequence,gc\n" + "".join(
        f"{s},{v}\n" for s, v in zip(sequences, gc, strict=True)) + "ACGTXX,0.5\n")
    folder = designer.train(tiny("dna-series", "gumbel-flow", series.parent / "library.csv", structure="sequence",
                                 properties=["gc"]))
    card = json.loads((folder / "model.json").read_text())
    assert card["alphabet"] == "dna" and "guide_test_r2" in card["metrics"]
    assert card["dataset"]["dropped"] == {"letters outside the dna alphabet (ACGT)": 1}
    out = generated("dna-series", 3, {"gc": 0.7}, guidance=1.0)
    assert len(out) == 3 and all(set(s) <= set("ACGT") for s in out)
    (series.parent / "library.fasta").write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(sequences)))
    folder = designer.train(tiny("dna-plain", "gumbel-flow", series.parent / "library.fasta", structure="sequence"))
    assert "guide_test_r2" not in json.loads((folder / "model.json").read_text())["metrics"]
    assert len(generated("dna-plain", 2)) == 2


def backbone_folder(folder: Path, count: int) -> Path:
    from designer.models.foldingdiff.data import load_chains
    from designer.structure import backbone_pdb

    folder.mkdir()
    chains = load_chains()
    for i in range(count):
        coords = chains.coords[i]
        (folder / f"chain{i}.pdb").write_text(backbone_pdb(coords, "G" * len(coords), {}))
    (folder / "broken.pdb").write_text("not a pdb\n")
    return folder


@pytest.mark.parametrize("init", [None, "foldingdiff"])
def test_foldingdiff_trains_on_a_pdb_folder(series: Path, init: str | None) -> None:
    folder = backbone_folder(series.parent / "pdbs", 20)
    cfg = tiny("fold-series", "foldingdiff", folder)
    if init:
        cfg["init"], cfg["train"]["max_steps"] = init, 4
    model = designer.train(cfg)
    card = json.loads((model / "model.json").read_text())
    assert card["dataset"]["kept"] == 20 and card["dataset"]["dropped"] == {"not a readable PDB file": 1}
    assert card["kind"] == "backbone" and card["metrics"]["test_loss"] > 0
    backbones = generated("fold-series", 2)  # lengths drawn from the training chains
    assert len(backbones) == 2 and backbones[0].shape[1:] == (4, 3)


@pytest.mark.parametrize(("change", "message"), [
    ({"family": "tfg-flow"}, "TFG-Flow trains on QM9 geometries only"),
    ({"family": "char-rnn"}, "is unconditional: remove data.properties"),
    ({"family": "des-inverse", "init": "graph-dit"}, "cannot start from a checkpoint"),
    ({"family": "graph-dit", "init": "my-series"}, "is a des-inverse model; a graph-dit model cannot start from it"),
    ({"family": "graph-dit", "init": "README.md"}, "not a graph-dit checkpoint"),
    ({"family": "foldingdiff", "data": {"properties": []}}, "expected a folder of .pdb files"),
])
def test_family_specific_bad_input(series: Path, change: dict, message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if "my-series" in str(change):
        designer.train(config(series, max_steps=2))
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    cfg = config(series)
    for key, value in change.items():
        cfg[key] = {**cfg[key], **value} if isinstance(value, dict) else value
    with pytest.raises(DesignerError, match=message):
        designer.train({**cfg, "name": "other"})
    from designer.training import user_models

    assert "other" not in user_models()


def test_fine_tuned_graph_dit_follows_a_custom_property(series: Path) -> None:
    """The shipped Graph DiT fine-tuned on the bundled 2,000-molecule series with a new condition
    head for TPSA: asked for TPSA 100, it makes more polar molecules than asked for TPSA 40."""
    from rdkit import Chem
    from rdkit.Chem import Descriptors
    from scipy.stats import mannwhitneyu

    root = Path(__file__).resolve().parents[1]
    folder = designer.train({"name": "tpsa-series", "family": "graph-dit", "init": "graph-dit",
                             "data": {"path": str(root / "configs/examples/series_tpsa.csv"), "properties": ["tpsa"]},
                             "train": {"max_steps": 500, "batch_size": 32, "lr": 8e-4, "export_every_steps": 250}})
    card = json.loads((folder / "model.json").read_text())
    assert card["metrics"]["new_condition_heads"] == ["tpsa"] and card["dataset"]["kept"] == 2000
    achieved = {}
    for target in (40.0, 100.0):
        mols = [Chem.MolFromSmiles(s) for s in generated("tpsa-series", 200, {"tpsa": target}) if s]
        achieved[target] = [Descriptors.TPSA(m) for m in mols if m is not None]
        assert len(achieved[target]) >= 100  # most samples are valid molecules
    assert mannwhitneyu(achieved[100.0], achieved[40.0], alternative="greater").pvalue < 0.01


@pytest.mark.parametrize("family", ["des-diffusion", "des-multitask"])
def test_other_property_transformers_train_through_the_one_command(series: Path, family: str) -> None:
    folder = designer.train({**config(series, max_steps=6, export_every_steps=3), "family": family,
                             "name": family})
    card = json.loads((folder / "model.json").read_text())
    assert card["family"] == family and card["training"]["steps"] == 6
    assert (family in set(designer.models()["name"])) == (family == "des-diffusion")  # generators are listed


def test_example_training_configs_are_valid() -> None:
    from designer.training import parse_config, read_backbone_folder, read_molecules, read_sequences

    readers = {"molecules": read_molecules, "sequences": read_sequences, "backbones": read_backbone_folder}
    from designer.training import FAMILIES

    paths = sorted((Path(__file__).resolve().parents[1] / "configs").glob("train_*.toml"))
    assert len(paths) >= 5
    for path in paths:
        cfg, base = parse_config(path)
        report = readers[FAMILIES[cfg.family].data](cfg, base)[-1]  # the bundled data read cleanly
        assert report["kept"] == report["rows"], (path.name, report["dropped"])


def test_smi_and_sdf_files_are_read_with_their_fields(series: Path) -> None:
    from rdkit import Chem

    from designer.training import parse_config, read_molecules

    (series.parent / "plain.smi").write_text("".join(f"{s} m{i}\n" for i, s in enumerate(SMILES)) + "C1CC\n")
    cfg, base = parse_config(tiny("smi", "char-rnn", series.parent / "plain.smi"))
    molecules, report = read_molecules(cfg, base)
    assert report["rows"] == 17 and report["kept"] == 16 and report["dropped"] == {"invalid SMILES": 1}
    writer = Chem.SDWriter(str(series.parent / "series.sdf"))
    for i, s in enumerate(SMILES):
        mol = Chem.MolFromSmiles(s)
        mol.SetProp("pic50", str(5 + 0.1 * i))
        writer.write(mol)
    writer.close()
    cfg, base = parse_config(tiny("sdf", "graph-dit", series.parent / "series.sdf", properties=["pic50"]))
    molecules, report = read_molecules(cfg, base)
    assert report["kept"] == 16 and molecules.numeric[:, 0].tolist() == pytest.approx([5 + 0.1 * i for i in range(16)])


def test_sampler_options_reach_the_model_and_unknown_ones_are_one_error(series: Path) -> None:
    from designer import cli

    cli_options = cli._parse_sampler_options(["steps=5", "spacing=cubic", "naive_discrete=true", "tau=0.5"])
    assert cli_options == {"steps": 5, "spacing": "cubic", "naive_discrete": True, "tau": 0.5}
    with pytest.raises(DesignerError, match="expected KEY=VALUE"):
        cli._parse_sampler_options(["steps"])
    with pytest.raises(DesignerError, match="has no sampler option 'k'"):
        designer.generate({"qed": 0.8}, model="graph-dit", n=1, options={"k": 4})
    table = designer.generate({"qed": 0.8}, model="graph-dit", n=2, max_samples=4, options={"steps": 5}, seed=0)
    assert 2 <= table.summary["samples_drawn"] <= 4  # sampled with 5 reverse steps, within the budget
