"""Joining a Ray cluster with token authentication: a head and a second node on loopback, both
started with `ray start` and a token; a campaign joins with the token and uses both nodes, and
without the token it stops with one error line that names the fix."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RAY = Path(sys.executable).parent / "ray"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def raylets() -> set[int]:
    """Process ids of the raylets running now (one per Ray node on this machine)."""
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return {int(line.split()[0]) for line in out.splitlines()[1:] if "raylet/raylet " in line}


@pytest.fixture
def cluster(tmp_path: Path):
    """Two one-CPU nodes with token authentication; yields (address, environment with the token)."""
    token = tmp_path / "token"
    token.write_text(secrets.token_hex(32))
    token.chmod(0o600)
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token), "PYTHONPATH": str(ROOT)}
    env.pop("RAY_ADDRESS", None)
    port = free_port()
    own = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short (Ray's socket paths) and ours alone
    common = ["--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--disable-usage-stats", "--temp-dir", own]
    try:
        subprocess.run([RAY, "start", "--head", "--port", str(port), "--include-dashboard", "false", *common],
                       env=env, check=True, capture_output=True, timeout=120)
        before = raylets()
        subprocess.run([RAY, "start", "--address", f"127.0.0.1:{port}", *common], env=env, check=True,
                       capture_output=True, timeout=120)
        time.sleep(2)
        env["TEST_WORKER_RAYLET"] = " ".join(str(pid) for pid in raylets() - before)
        yield f"127.0.0.1:{port}", env
    finally:  # stop this cluster only (`ray stop` would stop every Ray instance of the user)
        subprocess.run(["pkill", "-9", "-f", own], capture_output=True)
        shutil.rmtree(own, ignore_errors=True)


def test_campaign_joins_an_authenticated_two_node_cluster(tmp_path: Path, cluster) -> None:
    address, env = cluster
    # 20 shards of at least 0.4 s each: on a loaded machine the second node's worker can take seconds to
    # start, and 6 instant shards were all gone by then (the pool dispatches to whichever worker is ready)
    config = {"name": "c", "generate": {"model": "tests.generators:slow", "n": 80, "seed": 0, "targets": {"qed": 0.6}},
              "filter": {"rules": ["valid"]}, "score": {"oracles": ["qed"]}, "export": {"formats": ["csv"]},
              "campaign": {"shard_size": 4, "workers": 2}}
    (tmp_path / "c.json").write_text(json.dumps(config))
    script = (f"import json, designer; r = designer.campaign(json.load(open('c.json')), 'run', address={address!r}); "
              "print(json.dumps(r.summary['nodes']))")
    joined = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300)
    assert joined.returncode == 0, joined.stderr[-2000:]
    assert len(json.loads(joined.stdout.strip().splitlines()[-1])) == 2  # shards ran on both nodes
    (tmp_path / "c.toml").write_text('name = "c"\n[generate]\nmodel = "tests.generators:pool"\nn = 8\n'
                                     '[campaign]\nshard_size = 4\n')
    no_token = {k: v for k, v in env.items() if not k.startswith("RAY_AUTH")}
    no_token["HOME"] = str(tmp_path)  # no ~/.ray/auth_token to fall back on
    refused = subprocess.run([sys.executable, "-m", "designer.cli", "campaign", "c.toml", "--address", address,
                              "--out", "refused"], cwd=tmp_path, env=no_token, capture_output=True, text=True,
                             timeout=300)
    last = refused.stderr.strip().splitlines()[-1]
    assert refused.returncode == 2 and last.startswith("error: could not connect to the Ray cluster")
    assert "RAY_AUTH_MODE=token" in last and "RAY_AUTH_TOKEN_PATH" in last


def test_a_lost_node_shrinks_the_pool_and_its_shards_are_rerun(tmp_path: Path, cluster) -> None:
    """The second node dies mid-campaign (its raylet killed): the shards it held are requeued on the
    node that is left, the pool shrinks instead of waiting for time-outs, nothing is lost or doubled."""
    address, env = cluster
    config = {"name": "c", "generate": {"model": "tests.generators:slow", "n": 60, "seed": 0, "targets": {"qed": 0.6}},
              "filter": {"rules": ["valid"]}, "score": {"oracles": []}, "export": {"formats": ["csv"]},
              "campaign": {"shard_size": 4, "workers": 2, "shard_timeout_s": 600}}
    (tmp_path / "c.json").write_text(json.dumps(config))
    script = (f"import json, designer; r = designer.campaign(json.load(open('c.json')), 'run', address={address!r}); "
              "s = r.summary; print(json.dumps([s['kept'], len(s['failed_shards']), s['nodes'], "
              "sorted(t['shard'] for t in s['shard_timings']), s['shards']]))")
    process = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    chunks = tmp_path / "run" / "chunks"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(chunks.glob("*.jsonl"))) < 3:
        time.sleep(0.2)
    for pid in env["TEST_WORKER_RAYLET"].split():
        os.kill(int(pid), 9)  # the node goes, and its workers with it
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-2000:]
    kept, failed, nodes, shards, planned = json.loads(out.strip().splitlines()[-1])
    assert kept == 60 and failed == 0 and shards == list(range(planned))  # every shard once, none failed
    assert len(nodes) == 2  # both nodes had worked before the second was lost
