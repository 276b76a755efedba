"""The command line: outputs, one-line errors with exit code 2, and a light start-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from designer import cli
from designer.io import read


def designer_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["designer", *args])
    try:
        cli.main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def test_score_writes_every_oracle(tmp_path: Path, smiles_file: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "scored.sdf"
    code, stdout, _ = designer_cli(monkeypatch, capsys, "score", str(smiles_file), "-o", str(out),
                                   "--oracle", "qed", "--oracle", "pains", "--oracle", "similarity=CCO")
    assert code == 0 and "scored 6 molecules" in stdout and "1 invalid" in stdout
    table = read(out)
    assert {"qed", "pains", "similarity=CCO"} <= set(table.columns)


def test_filter_reports_each_rule(tmp_path: Path, smiles_file: Path, monkeypatch, capsys) -> None:
    code, stdout, _ = designer_cli(monkeypatch, capsys, "filter", str(smiles_file), "-o", str(tmp_path / "k.smi"),
                                   "--rule", "valid", "--rule", "unique", "--rule", "qed>=0.5")
    assert code == 0
    assert stdout.strip().startswith("kept 2 of 6 (valid: -1, unique: -1, qed>=0.5: -2)")


def test_run_and_resume(tmp_path: Path, smiles_file: Path, monkeypatch, capsys) -> None:
    config = tmp_path / "c.toml"
    config.write_text('name = "t"\n[input]\npath = "mols.smi"\n[score]\noracles = ["qed"]\n')
    code, stdout, _ = designer_cli(monkeypatch, capsys, "run", str(config), "--out", str(tmp_path / "r"))
    assert code == 0 and "6 produced, 1 invalid" in stdout
    code, _, err = designer_cli(monkeypatch, capsys, "run", str(config), "--out", str(tmp_path / "r"))
    assert code == 2 and "--resume" in err
    code, _, _ = designer_cli(monkeypatch, capsys, "run", str(config), "--out", str(tmp_path / "r"), "--resume")
    assert code == 0


@pytest.mark.parametrize(("args", "message"), [
    (["score", "{missing}", "-o", "x.csv", "--oracle", "qed"], "no such file or directory"),
    (["score", "{smi}", "-o", "x.csv", "--oracle", "qedd"], "unknown oracle 'qedd'; did you mean 'qed'"),
    (["filter", "{smi}", "-o", "x.smi", "--rule", "pain"], "unknown filter rule 'pain'; did you mean 'pains'"),
    (["score", "{bad_sdf}", "-o", "x.csv", "--oracle", "qed"], "not a readable SDF file"),
    (["run", "{bad_config}"], "unknown key 'score.oracle'; did you mean 'oracles'"),
    (["data", "fetch", "mosess-train"], "unknown data set 'mosess-train'; did you mean 'moses-train'"),
    (["campaign", "{campaign}", "--address", "ray://127.0.0.1:1"], "could not connect to the Ray cluster"),
    (["campaign", "{bad_config}"], "unknown key 'score.oracle'; did you mean 'oracles'"),
    (["generate", "--model", "tests.generators:pool", "--length", "9:3"], "--length '9:3': expected 0 < LOW <= HIGH"),
    (["generate", "--model", "tests.generators:pool", "--target", "qed=2"], "outside the range the model was trained"),
])
def test_bad_input_is_one_line_and_exit_code_2(tmp_path: Path, smiles_file: Path, monkeypatch, capsys,
                                                args: list[str], message: str) -> None:
    bad_sdf = tmp_path / "bad.sdf"
    bad_sdf.write_text("garbage\n$$$$\n")
    bad_config = tmp_path / "bad.toml"
    bad_config.write_text('[input]\npath = "mols.smi"\n[score]\noracle = ["qed"]\n')
    campaign = tmp_path / "campaign.toml"
    campaign.write_text('[input]\npath = "mols.smi"\n[score]\noracles = ["qed"]\n[campaign]\nshard_size = 2\n')
    paths = {"missing": tmp_path / "missing.smi", "smi": smiles_file, "bad_sdf": bad_sdf, "bad_config": bad_config,
             "campaign": campaign}
    monkeypatch.chdir(tmp_path)
    code, _, err = designer_cli(monkeypatch, capsys, *[a.format(**paths) for a in args])
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_listings(monkeypatch, capsys) -> None:
    code, stdout, _ = designer_cli(monkeypatch, capsys, "oracles")
    assert code == 0 and "xtb_gap" in stdout and "similarity=<" in stdout
    code, stdout, _ = designer_cli(monkeypatch, capsys, "models")
    assert code == 0 and "graph-dit" in stdout and "char-rnn (molecule, default for molecules)" in stdout
    assert "mw in [250.346, 349.434] g/mol, tolerance ±15" in stdout  # targets, ranges, units, tolerances
    assert "amp in [0, 1], tolerance ±0.1" in stdout
    code, stdout, _ = designer_cli(monkeypatch, capsys, "data", "list")
    assert code == 0 and "moses-train" in stdout and "qm9" in stdout
    code, stdout, _ = designer_cli(monkeypatch, capsys, "--version")
    assert code == 0 and stdout.startswith("designer ")


def test_help_imports_no_heavy_library() -> None:
    """`designer --help` stays fast because RDKit, torch, Ray and pandas load only inside commands."""
    probe = ("import sys, designer.cli; heavy = [m for m in ('torch', 'ray', 'rdkit', 'pandas', 'lightning') "
             "if m in sys.modules]; print(heavy)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_every_command_has_help_with_examples() -> None:
    for command in ("score", "filter", "generate", "run", "campaign", "optimize", "design-sequences"):
        result = subprocess.run([sys.executable, "-m", "designer.cli", command, "--help"], capture_output=True,
                                text=True, env={"COLUMNS": "200", "PATH": ""})
        assert result.returncode == 0 and "Example" in result.stdout, command


def test_generate_through_the_cli(tmp_path: Path, monkeypatch, capsys) -> None:
    from designer import registry
    from designer.workflows import pipeline

    entry = registry.ModelEntry("pool", "molecule", "test pool", "tests.generators:PoolGenerator")
    monkeypatch.setitem(registry._MODELS, "pool", entry)
    monkeypatch.setattr(pipeline, "_generators", {})
    out = tmp_path / "gen.sdf"
    code, stdout, _ = designer_cli(monkeypatch, capsys, "generate", "--model", "pool", "--target", "qed=0.6",
                                   "-n", "30", "--seed", "2", "-o", str(out), "--oracle", "sa")
    assert code == 0 and stdout.startswith("pool: delivered 30 of 30; ") and "qed MAE 0." in stdout
    table = read(out)
    assert {"target_qed", "qed", "sa"} <= set(table.columns) and table.valid.all()
    assert len(set(table.items)) == len(table)  # the default rules: valid, unique
    code, _, err = designer_cli(monkeypatch, capsys, "generate", "--model", "pool", "--target", "logp=2")
    assert code == 2 and "unknown target 'logp'" in err and "qed in [0, 1]" in err


def test_help_shows_plain_types_and_no_markup() -> None:
    for command in ("generate", "score", "filter", "optimize", "design-sequences"):
        result = subprocess.run([sys.executable, "-m", "designer.cli", command, "--help"], capture_output=True,
                                text=True, env={"COLUMNS": "120", "PATH": ""})
        text = result.stdout
        assert "<bool>" not in text and "<list" not in text and "``" not in text and ":func:" not in text, command
    assert "NAME=VALUE|default" in subprocess.run([sys.executable, "-m", "designer.cli", "generate", "--help"],
                                                  capture_output=True, text=True, env={"COLUMNS": "120"}).stdout


def test_generate_help_lists_each_models_targets_from_its_card() -> None:
    from designer.generators import describe_targets
    from designer.registry import model_entries
    from designer.workflows.pipeline import load_generator

    for name, entry in model_entries().items():  # the cards say what the loaded models take
        assert entry.card_facts()["targets"] == describe_targets(load_generator(name).conditions), name
    text = subprocess.run([sys.executable, "-m", "designer.cli", "generate", "--help"], capture_output=True,
                          text=True, env={"COLUMNS": "200"}).stdout
    text = " ".join(text.split())  # rich wraps the epilog
    assert "mw in [250.346, 349.434] g/mol, tolerance ±15" in text and "amp in [0, 1], tolerance ±0.1" in text


def test_terminal_table_shows_reasons(tmp_path: Path, smiles_file: Path, monkeypatch, capsys) -> None:
    code, out, err = designer_cli(monkeypatch, capsys, "score", str(smiles_file), "-o", str(tmp_path / "s.csv"),
                                  "--oracle", "qed", "--oracle", "xtb_gap=0.001")
    assert code == 0 and "reason" in err and "invalid SMILES" in err
    assert "1 invalid, " in out and "more with a NaN score" in out  # NaN scores counted, not only invalid rows


def test_models_listing_fits_80_columns(monkeypatch, capsys) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = designer_cli(monkeypatch, capsys, "models")
    lines = out.splitlines()
    assert code == 0
    for name in ("graph-dit", "char-rnn", "gumbel-flow-peptide", "gumbel-flow-protein"):
        assert any(line.startswith(f"{name} (") for line in lines), name  # names are never broken
    assert max(len(line) for line in lines) <= 80
