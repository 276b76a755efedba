"""Ray campaigns: end to end, resume after SIGKILL, a worker dying mid-shard, a failing shard,
bad configs and addresses. One local Ray instance (loopback only) serves the whole module."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import designer
from designer.errors import DesignerError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ray_local(tmp_path_factory: pytest.TempPathFactory):
    from designer.workflows.campaign import ray_session

    marker = tmp_path_factory.mktemp("marker") / "died"
    with ray_session(None, num_cpus=2, env_vars={"PYTHONPATH": str(ROOT), "DESIGNER_TEST_MARKER": str(marker)}):
        yield marker


def config(model: str, **campaign: object) -> dict:
    return {"name": "c", "generate": {"model": f"tests.generators:{model}", "n": 12, "seed": 0,
                                      "targets": {"qed": 0.6}},
            "filter": {"rules": ["valid"]}, "score": {"oracles": ["qed"]},
            "export": {"formats": ["csv"]}, "campaign": {"shard_size": 4, **campaign}}


def test_local_campaign_end_to_end(tmp_path: Path, ray_local: Path) -> None:
    cfg = config("pool", variants=[{"name": "low", "targets": {"qed": 0.4}}, {"name": "high"}],
                 guidance_grid=[1.0, 2.0])
    result = designer.campaign(cfg, tmp_path / "run")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["shards"] == 2 * 2 * 3 and not summary["failed_shards"]
    assert set(result.candidates.columns["variant"]) == {"low@1", "low@2", "high@1", "high@2"}
    assert summary["kept"] == 48 and summary["target"]["delivered"] == 48  # each shard delivers its size
    assert summary["produced"] == summary["target"]["samples_drawn"] >= 48 + summary["invalid"]
    report = (tmp_path / "run" / "report.html").read_text()
    assert "<h2>Targets</h2>" in report and "<svg" in report and "success_rate" in report
    assert "<td>low@1</td>" in report and "&lt;Candidates" not in report  # per variant, no raw reprs
    again = designer.campaign(cfg, tmp_path / "run2")
    assert again.candidates.items == result.candidates.items  # same seed, same candidates


def test_resume_after_sigkill_loses_and_duplicates_nothing(tmp_path: Path, ray_local: Path) -> None:
    cfg = config("slow")
    cfg["generate"]["n"] = 40  # 10 shards of 4, 0.4 s each
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    script = ("import json, designer; designer.campaign(json.load(open('c.json')), 'run', "
              "address=None)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    chunks = tmp_path / "run" / "chunks"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(chunks.glob("*.jsonl"))) < 3:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # the driver and the Ray instance it started, at once
    process.wait()
    finished_before = len(list(chunks.glob("*.jsonl")))
    assert 3 <= finished_before < 10, "the campaign should have been killed part-way"
    result = designer.campaign(cfg, tmp_path / "run", resume=True)
    assert result.summary["resumed_shards"] == finished_before
    assert result.summary["kept"] == 40
    ids = result.candidates.ids
    assert len(ids) == len(set(ids)) == result.summary["kept"]
    reference = designer.campaign(cfg, tmp_path / "reference")
    assert sorted(ids) == sorted(reference.candidates.ids)


def test_a_worker_killed_mid_shard_is_retried(tmp_path: Path, ray_local: Path) -> None:
    result = designer.campaign(config("dies_once"), tmp_path / "run")
    assert ray_local.exists(), "the worker should have died once"
    assert result.summary["failed_shards"] == [] and result.summary["kept"] == 12


def test_a_failing_shard_is_reported_not_fatal(tmp_path: Path, ray_local: Path) -> None:
    result = designer.campaign(config("fails_on_shard"), tmp_path / "run")
    failed = result.summary["failed_shards"]
    assert len(failed) == 1 and failed[0]["shard"] == 1 and "this shard always fails" in failed[0]["error"]
    assert result.summary["kept"] == 8  # the other two shards
    assert "this shard always fails" in (tmp_path / "run" / "report.html").read_text()


def test_tfg_flow_campaign_fans_guided_sampling_out(tmp_path: Path, ray_local: Path) -> None:
    """The shipped TFG-Flow, guided towards two gap targets, one variant per target, in shards on Ray:
    3D molecules with the guide's prediction and the held-out evaluator's score (short chains: 20 steps, K 8)."""
    cfg = {"name": "tfg", "generate": {"model": "tfg-flow", "n": 2, "seed": 0, "options": {"steps": 20, "k": 8}},
           "filter": {"rules": ["valid"]}, "score": {"oracles": ["gap"]}, "export": {"formats": ["sdf"]},
           "campaign": {"shard_size": 1, "variants": [{"name": "low", "targets": {"gap": 5.5}},
                                                      {"name": "high", "targets": {"gap": 8.5}}]}}
    result = designer.campaign(cfg, tmp_path / "run")
    table = result.candidates
    assert result.summary["shards"] == 4 and not result.summary["failed_shards"] and len(table) == 4
    assert all(mol.GetConformer().Is3D() and any(a.GetSymbol() == "H" for a in mol.GetAtoms()) for mol in table.mols)
    assert {"guide_gap", "gap"} <= set(table.columns)
    variant, guide = list(table.columns["variant"]), table.columns["guide_gap"]
    low = [g for v, g in zip(variant, guide, strict=True) if v == "low"]
    high = [g for v, g in zip(variant, guide, strict=True) if v == "high"]
    assert max(low) < min(high)  # each variant guided towards its own target


def test_input_campaign_scores_in_shards(tmp_path: Path, smiles_file: Path, ray_local: Path) -> None:
    cfg = {"name": "s", "input": {"path": str(smiles_file)}, "score": {"oracles": ["qed", "sa"]},
           "campaign": {"shard_size": 2}}
    result = designer.campaign(cfg, tmp_path / "run")
    assert result.summary["shards"] == 3 and result.summary["produced"] == 6
    assert {"qed", "sa"} <= set(result.candidates.columns)


@pytest.mark.parametrize(("change", "message"), [
    ({"generate": {"model": "graph-ditt", "n": 4}}, "unknown model 'graph-ditt'"),
    ({"score": {"oracles": ["qedd"]}}, "unknown oracle 'qedd'"),
    ({"campaign": {"shard_size": 0}}, "campaign.shard_size"),
    ({"campaign": {"shards": 3}}, "unknown key 'campaign.shards'"),
    ({"generate": {"model": "char-rnn", "n": 4}, "campaign": {"variants": [{"name": "a", "targets": {"mw": 350}}]}},
     "target mw=350 is outside the range the model was trained on"),
])
def test_bad_campaign_configs(tmp_path: Path, change: dict, message: str) -> None:
    cfg = {**config("pool"), **change}
    with pytest.raises(DesignerError, match=message):
        designer.campaign(cfg, tmp_path / "run")


def test_unreachable_address_fails_fast() -> None:
    from designer.workflows.campaign import check_address

    started = time.monotonic()
    with pytest.raises(DesignerError, match=r"could not connect to the Ray cluster at 'ray://127\.0\.0\.1:1'"):
        check_address("ray://127.0.0.1:1")
    with pytest.raises(DesignerError, match="bad Ray address"):
        check_address("localhost:port")
    assert time.monotonic() - started < 5


def process_tree(root: int) -> set[int]:
    """``root`` and every process descended from it (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, grew = {root}, True
    while grew:
        children = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= children
        grew = bool(children)
    return tree


@pytest.mark.skipif(shutil.which("ss") is None, reason="ss (iproute2) is not installed")
def test_private_instance_listens_on_loopback_only_with_token_auth(tmp_path: Path) -> None:
    """A campaign's own Ray instance: every listening socket of every process it started is on
    127.0.0.1 / ::1, and the GCS runs with token authentication, whatever the caller's environment says."""
    cfg = config("slow")
    cfg["generate"]["n"] = 40
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    script = "import json, designer; designer.campaign(json.load(open('c.json')), 'run')"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_AUTH_MODE": "disabled", "RAY_ADDRESS": "127.0.0.1:1"}
    process = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not list((tmp_path / "run" / "chunks").glob("*.jsonl")):
            time.sleep(0.2)
        assert process.poll() is None, "the campaign ended before it could be inspected"
        tree = process_tree(process.pid)
        sockets = []
        for line in subprocess.run(["ss", "-H", "-ltnp"], capture_output=True, text=True).stdout.splitlines():
            pids = {int(p) for p in re.findall(r"pid=(\d+)", line)}
            if pids & tree:
                sockets.append(line.split()[3])
        assert len(sockets) >= 3, sockets  # GCS, raylet, workers at least
        exposed = [s for s in sockets if not re.match(r"^(127\.0\.0\.1|\[::1\]|\[::ffff:127\.0\.0\.1\]):\d+$", s)]
        assert exposed == [], f"listening beyond loopback: {exposed}"
        gcs = [pid for pid in tree if "gcs_server" in (Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="ignore")
                                                          if Path(f"/proc/{pid}").exists() else "")]
        assert gcs and b"RAY_AUTH_MODE=token" in Path(f"/proc/{gcs[0]}/environ").read_bytes()
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.mark.parametrize(("change", "message"), [
    ({"campaign": {"variants": [{"name": "a"}, {"name": "a"}]}}, "variant names must be distinct; repeated: a"),
    ({"campaign": {"guidance_grid": [1.0, 1.0]}}, "guidance_grid values must be distinct"),
    ({"campaign": {"workers": 64}}, "campaign.workers = 64 but the Ray cluster has 2 CPU"),
    ({"campaign": {"num_gpus_per_worker": 1}}, "num_gpus_per_worker = 1 but the Ray cluster has 0 GPU"),
])
def test_unplaceable_or_ambiguous_campaigns_fail_at_once(tmp_path: Path, ray_local: Path, change: dict,
                                                         message: str) -> None:
    cfg = config("pool")
    cfg["campaign"].update(change["campaign"])
    with pytest.raises(DesignerError, match=message):
        designer.campaign(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()  # a failed start leaves nothing that blocks the corrected rerun


def test_input_campaigns_take_no_variants(tmp_path: Path, smiles_file: Path) -> None:
    cfg = {"input": {"path": str(smiles_file)}, "campaign": {"variants": [{"name": "a"}]}}
    with pytest.raises(DesignerError, match="variants and guidance_grid apply to \\[generate\\] campaigns"):
        designer.campaign(cfg, tmp_path / "run")


def test_resume_checks_inputs_and_may_change_workers(tmp_path: Path, ray_local: Path) -> None:
    source = tmp_path / "in.smi"
    source.write_text("CCO\nCCN\nc1ccccc1\nCCCC\n")
    config_path = tmp_path / "c.toml"
    config_path.write_text('name = "s"\n[input]\npath = "in.smi"\n[score]\noracles = ["qed"]\n'
                           '[campaign]\nshard_size = 2\nworkers = 1\n')
    designer.campaign(config_path, tmp_path / "run")
    stored = (tmp_path / "run" / "config.toml").read_text()
    assert str(source.resolve()) in stored  # resumable from the run's own config.toml, from anywhere
    (tmp_path / "run" / "chunks" / "000001.jsonl").unlink()
    config_path.write_text(config_path.read_text().replace("workers = 1", "workers = 2"))
    resumed = designer.campaign(config_path, tmp_path / "run", resume=True)
    assert resumed.summary["resumed_shards"] == 1 and len(resumed.summary["shard_timings"]) == 2
    assert sum(resumed.summary["nodes"].values()) == 2  # both sessions' shards counted
    assert resumed.summary["elapsed_total_s"] >= resumed.summary["elapsed_s"]
    assert "<h2>Shards</h2>" in (tmp_path / "run" / "report.html").read_text()
    source.write_text("CCO\nCCN\nc1ccccc1\nCCCCO\n")  # an edited input must not be mixed in
    with pytest.raises(DesignerError, match="input file changed since the run started"):
        designer.campaign(config_path, tmp_path / "run", resume=True)


def test_cli_exits_3_when_shards_failed(tmp_path: Path, ray_local: Path, monkeypatch, capsys) -> None:
    from tests.test_cli import designer_cli

    path = tmp_path / "c.toml"
    path.write_text('name = "c"\n[generate]\nmodel = "tests.generators:fails_on_shard"\nn = 12\n'
                    '[filter]\nrules = ["valid"]\n[campaign]\nshard_size = 4\n')
    code, _, err = designer_cli(monkeypatch, capsys, "campaign", str(path), "--out", str(tmp_path / "run"))
    assert code == 3 and "warning: 1 shard(s) failed (first: shard 1: this shard always fails)" in err
    assert (tmp_path / "run" / "candidates.csv").exists()  # the other shards' output is written
