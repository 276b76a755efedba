"""Reports: every run and every `designer generate -o DIR/` writes one self-contained HTML file, and a
real headless browser renders it without console errors (skipped, with the reason, without chromium)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import designer
from tests.test_cli import designer_cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def browse(page: Path, screenshot: Path) -> list[str]:
    """Open ``page`` in headless chromium, save a screenshot, return the console messages it logged."""
    assert CHROMIUM is not None
    result = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
                             "--v=0", f"--screenshot={screenshot}", "--window-size=1280,2000", page.as_uri()],
                            capture_output=True, text=True, timeout=120)
    return [line for line in result.stderr.splitlines() if ":CONSOLE" in line]


def test_generate_to_a_folder_writes_candidates_summary_and_report(tmp_path: Path, pool_model: str, monkeypatch,
                                                                     capsys) -> None:
    out = tmp_path / "run1"
    code, _, _ = designer_cli(monkeypatch, capsys, "generate", "--model", "pool", "--target", "qed=0.45",
                              "--tolerance", "qed=0.1", "-n", "12", "-o", str(out), "--oracle", "pains")
    assert code == 0 and {p.name for p in out.iterdir()} == {"candidates.sdf", "summary.json", "report.html"}
    report = (out / "report.html").read_text()
    assert "<h2>Targets</h2>" in report and "qed: requested (dashed)" in report and "<svg" in report
    assert "<td>delivered</td><td>12</td>" in report and "{'" not in report  # a readable table, no dict reprs
    assert json.loads((out / "summary.json").read_text())["delivered"] == 12


def test_every_run_writes_a_report(tmp_path: Path, smiles_file: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'name = "screen"\n[input]\npath = "{smiles_file}"\n[score]\noracles = ["qed", "pains"]\n')
    designer.run(config, tmp_path / "r")
    report = (tmp_path / "r" / "report.html").read_text()
    assert "<h1>screen</h1>" in report and "fraction of candidates" in report  # PAINS counts as bars


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_report_renders_in_a_headless_browser_without_console_errors(tmp_path: Path, pool_model: str) -> None:
    from PIL import Image

    control = tmp_path / "broken.html"
    control.write_text("<html><body><script>undefined_function_call();</script></body></html>")
    assert browse(control, tmp_path / "broken.png"), "the console check must see a deliberate error"
    table = designer.generate({"qed": 0.45}, model="pool", n=10, tolerance={"qed": 0.1})
    from designer.workflows.report import write_report

    page = write_report(table, table.summary, tmp_path / "report.html", title="browser check")
    shot = tmp_path / "report.png"
    assert browse(page, shot) == []
    pixels = Image.open(shot).convert("L")
    assert pixels.size == (1280, 2000) and len(set(pixels.getdata())) > 50  # drawn, not blank
