"""The target loop: exact n, determinism by seed, tolerances checked by the real oracle, the budget
shortfall (exit 3, file written), bad input (one error line, exit 2), run configs, every shipped
config, and the default model chosen by the target benchmark."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest

import designer
from designer import registry
from designer.config import CampaignConfig, RunConfig, load_config
from designer.errors import DesignerError
from designer.workflows import pipeline
from designer.workflows.targets import TargetShortfall, parse_tolerances, round_size, sample_to_target
from tests.test_cli import designer_cli

ROOT = Path(__file__).resolve().parents[1]


def rdkit_qed(smiles: list[str]) -> np.ndarray:
    from rdkit import Chem
    from rdkit.Chem import QED

    return np.array([QED.qed(Chem.MolFromSmiles(s)) for s in smiles])


def test_exact_n_valid_unique_and_within_tolerance_by_rdkit(pool_model: str) -> None:
    table = designer.generate({"qed": 0.45}, model="pool", n=15, tolerance={"qed": 0.1}, seed=0)
    assert len(table) == 15 and table.valid.all() and len(set(table.items)) == 15
    assert np.all(np.abs(rdkit_qed(table.items) - 0.45) <= 0.1)  # checked again, independently of the loop
    s = table.summary
    assert s["requested"] == s["delivered"] == 15 and s["samples_drawn"] >= 15 and not s["shortfall"]
    assert s["target_mae_delivered"]["qed"] <= 0.1 < s["target_mae_raw"]["qed"]
    assert 0 < s["acceptance_rate"] <= s["raw_validity"] <= 1


def test_same_seed_same_output_other_seed_other_output(pool_model: str) -> None:
    first = designer.generate({"qed": 0.45}, model="pool", n=12, tolerance={"qed": 0.1}, seed=4)
    again = designer.generate({"qed": 0.45}, model="pool", n=12, tolerance={"qed": 0.1}, seed=4)
    other = designer.generate({"qed": 0.45}, model="pool", n=12, tolerance={"qed": 0.1}, seed=5)
    assert first.items == again.items and first.ids == again.ids
    assert first.items != other.items


def test_without_tolerance_n_counts_candidates_passing_the_rules(pool_model: str) -> None:
    table = designer.generate(model="pool", n=40, seed=1)
    assert len(table) == 40 and table.valid.all() and len(set(table.items)) == 40
    assert table.summary["tolerance"] == {}


def test_budget_shortfall_warns_and_keeps_what_was_found(pool_model: str) -> None:
    with pytest.warns(TargetShortfall, match=r"delivered \d+ of 50 after 60 samples"):
        table = designer.generate({"qed": 0.45}, model="pool", n=50, tolerance={"qed": 0.05}, max_samples=60)
    assert 0 < len(table) < 50 and table.summary["shortfall"] and table.summary["samples_drawn"] == 60


def test_cli_shortfall_exits_3_and_writes_the_file(tmp_path: Path, pool_model: str, monkeypatch, capsys) -> None:
    out = tmp_path / "found.csv"
    code, stdout, err = designer_cli(monkeypatch, capsys, "generate", "--model", "pool", "--target", "qed=0.45",
                                     "--tolerance", "qed=0.05", "-n", "50", "--max-samples", "60", "-o", str(out))
    assert code == 3 and "pool: delivered" in stdout and "of 50" in stdout
    warning = err.strip().splitlines()[-1]  # after the table of what was found
    assert err.count("warning:") == 1 and warning.startswith("warning: the sample budget ran out")
    assert str(out) in warning
    written = designer.read(out)
    summary = json.loads((tmp_path / "found.summary.json").read_text())
    assert 0 < len(written) == summary["delivered"] < 50 and summary["samples_drawn"] == 60


def test_cli_success_line_and_summary(tmp_path: Path, pool_model: str, monkeypatch, capsys) -> None:
    out = tmp_path / "on_target.sdf"
    code, stdout, _ = designer_cli(monkeypatch, capsys, "generate", "--model", "pool", "--target", "qed=0.45",
                                   "--tolerance", "default", "-n", "10", "-o", str(out))
    assert code == 0 and stdout.startswith("pool: delivered 10 of 10; ") and "qed MAE raw" in stdout
    summary = json.loads((tmp_path / "on_target.summary.json").read_text())
    assert summary["tolerance"] == {"qed": 0.05} and summary["delivered"] == 10  # the per-property default
    table = designer.read(out)
    assert np.all(np.abs(table.columns["qed"] - 0.45) <= 0.05)


@pytest.mark.parametrize(("args", "message"), [
    (["--target", "qed=0.5", "--tolerance", "logp=0.5"], "tolerance for 'logp', which is not a target"),
    (["--target", "qed=0.5", "--tolerance", "qed=-0.1"], "tolerance qed='-0.1' must be a positive number"),
    (["--target", "qed=0.5", "--tolerance", "qed=abc"], "tolerance qed='abc' is not a number"),
    (["--target", "qed=0.5", "--tolerance", "qed"], "expected NAME=VALUE"),
    (["--target", "pains_free=yes", "--tolerance", "pains_free=1"], "categorical target"),
    (["--target", "qed=0.5", "--max-samples", "5"], "--max-samples 5 is below -n 10"),
    (["--target", "qed=1.5"], "outside the range the model was trained on"),
    (["-n", "0"], "-n must be a positive number"),
    (["-n", "-5"], "-n must be a positive number"),
    (["--tolerance", "default"], "--tolerance needs at least one --target"),
])
def test_bad_input_is_one_error_line_and_exit_2(args: list[str], message: str, pool_model: str, monkeypatch,
                                                capsys) -> None:
    code, _, err = designer_cli(monkeypatch, capsys, "generate", "--model", "pool", "-n", "10", *args)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and message in err, err


def test_output_under_a_file_fails_before_sampling(tmp_path: Path, pool_model: str, monkeypatch, capsys) -> None:
    (tmp_path / "generated.sdf").write_text("")
    code, _, err = designer_cli(monkeypatch, capsys, "generate", "--model", "pool", "-n", "3",
                                "-o", str(tmp_path / "generated.sdf" / "x.csv"))
    assert code == 2 and "is a file, not a folder" in err


def test_round_sizes_follow_the_acceptance_rate() -> None:
    assert round_size(100, 0, 0, 5000) == 100  # first round: n
    assert round_size(75, 25, 100, 4900) == 360  # 25 % accepted: 1.2 × 75 / 0.25
    assert round_size(100, 0, 100, 4900) == 400  # nothing accepted yet: grow 4-fold, not forever
    assert round_size(10, 90, 1000, 3) == 3  # never past the budget
    assert parse_tolerances(["default", "qed=0.02"]) == {"default": "default", "qed": "0.02"}


def test_selection_only_model_applies_default_tolerances() -> None:
    result = sample_to_target("char-rnn", {"qed": 0.85}, n=8, seed=0)  # the shipped default model
    assert result.summary["tolerance"] == {"qed": 0.05} and len(result.candidates) == 8
    assert np.all(np.abs(rdkit_qed(result.candidates.items) - 0.85) <= 0.05)


def test_run_config_delivers_exactly_n_unique_across_chunks_and_resumes(tmp_path: Path, pool_model: str) -> None:
    config = tmp_path / "run.toml"
    config.write_text('name = "t"\nchunk_size = 6\n[generate]\nmodel = "pool"\nn = 15\nseed = 2\n'
                      'targets = { qed = 0.45 }\ntolerance = { qed = 0.1 }\n[filter]\nrules = ["valid", "unique"]\n'
                      '[score]\noracles = ["sa"]\n')
    result = designer.run(config, tmp_path / "a")
    assert len(result.candidates) == 15 == len(set(result.candidates.items))
    target = result.summary["target"]
    assert target["requested"] == target["delivered"] == 15 and target["tolerance"] == {"qed": 0.1}
    assert np.all(np.abs(result.candidates.columns["qed"] - 0.45) <= 0.1)
    (tmp_path / "a" / "chunks" / "000001.jsonl").unlink()  # as if stopped before the second chunk
    resumed = designer.run(config, tmp_path / "a", resume=True)
    assert sorted(resumed.candidates.items) == sorted(result.candidates.items)


def test_run_config_rejects_a_tolerance_without_its_target(tmp_path: Path, pool_model: str) -> None:
    config = tmp_path / "run.toml"
    config.write_text('[generate]\nmodel = "pool"\nn = 5\ntargets = { qed = 0.5 }\ntolerance = { sa = 1 }\n')
    with pytest.raises(DesignerError, match="tolerance for 'sa', which is not a target"):
        designer.run(config, tmp_path / "r")


def test_learned_oracles_are_named_in_the_closing_line() -> None:
    from designer.workflows.targets import closing_line

    summary = {"model": "gumbel-flow-peptide", "requested": 5, "delivered": 5, "samples_drawn": 9, "rounds": 2,
               "raw_validity": 1.0, "acceptance_rate": 0.56, "tolerance": {"amp": 0.1},
               "target_mae_raw": {"amp": 0.3}, "target_mae_delivered": {"amp": 0.05}, "learned_oracles": ["amp"]}
    assert "amp (learned oracle) MAE raw 0.3 -> delivered 0.05" in closing_line(summary)
    from designer.registry import make_oracle

    assert make_oracle("amp").learned and not make_oracle("qed").learned


def training_configs() -> dict[str, dict]:
    """Config file name -> the model card that names it in its training command."""
    out = {}
    for card_path in (ROOT / "models").glob("*/checkpoints/*.json"):
        card = json.loads(card_path.read_text())
        for path in (ROOT / "configs").glob("*.toml"):
            if f"--config configs/{path.name}" in card.get("command", ""):
                out[path.name] = card
    return out


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_config_validates_fully(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Workflow and campaign configs: model, every target against its ranges, tolerances, rules and
    oracles. Training configs: the file a shipped checkpoint was trained from (identical where the
    card records its config)."""

    monkeypatch.chdir(ROOT / "configs")
    data = tomllib.loads(path.read_text())
    if "input" in data or "generate" in data:
        config = load_config(path, CampaignConfig if "campaign" in data else RunConfig)
        pipeline.validate(config)  # campaign variants' targets included
        if config.input is not None:
            assert (path.parent / config.input.path).exists(), config.input.path
        return
    if "family" in data:  # a `designer train` config on the user's own data
        from designer.training import parse_config

        parsed, base = parse_config(path)
        assert (base / parsed.data.path).exists(), parsed.data.path
        return
    cards = training_configs()
    out = data.get("train", {}).get("out", "")
    if path.name not in cards and out.startswith("models/graph_dit/training/"):
        # a Graph DiT run still in training (resumed across sessions): its sizes must build
        from designer.models.graph_dit.model import GraphDiTConfig

        m = data["model"]
        GraphDiTConfig(n_atom_types=7, max_atoms=27, n_bond_types=4, hidden=m["hidden"], depth=m["depth"],
                       heads=m["heads"], mlp_ratio=m["mlp_ratio"], n_numeric=4, categorical=[2],
                       condition_noise=m["condition_noise"])
        assert set(data["noise"]) <= {"T", "independent", "normalised"} and "resume_copy" in data["train"]
        return
    if path.name not in cards and out.startswith("models/des_transformer/"):
        # a property-transformer config whose checkpoint is still being trained (no model card yet): its
        # sizes must build
        from designer.models.des_transformer import model as des

        kind, sizes = data["model"]["kind"], {k: v for k, v in data["model"].items() if k != "kind"}
        config_class = {"forward": des.ForwardConfig, "multitask": des.PromptConfig}.get(kind, des.InverseConfig)
        extra = {} if kind == "multitask" else {"n_properties": 12}
        config_class(vocab_size=40, **sizes, **extra)
        assert data["data"]["set"] in ("qm9", "moses") and "--config" not in out
        return
    if path.name not in cards and data.get("checkpoint", "").startswith("models/foldingdiff/training/"):
        # a FoldingDiff run still in training (resumed across sessions): its sizes must build
        from designer.models.foldingdiff.model import AngleDenoiser

        AngleDenoiser(**data["model"])
        assert {"cpu_minutes", "run_dir", "resume_copy"} <= set(data)
        return
    if path.name not in cards and (out or data.get("train", {}).get("out_dir", "")).startswith("models/tfg_flow/"):
        # a TFG-Flow network still in training: its EGNN sizes must build
        from designer.models.tfg_flow.model import EGNNConfig, Predictor

        Predictor(EGNNConfig(**data["model"]))
        assert {"cpu_minutes", "run_dir"} <= set(data["train"])
        return
    assert path.name in cards, f"{path.name}: neither a workflow config nor the training config of a shipped model"
    if "config" in cards[path.name]:
        assert cards[path.name]["config"] == data


def test_default_model_is_the_benchmark_winner() -> None:
    results = json.loads((ROOT / "benchmarks" / "results" / "targets.json").read_text())
    best = max(results["models"], key=lambda name: results["models"][name]["delivered_per_s"])
    assert registry.default_model("molecule") == best == results["default"]
