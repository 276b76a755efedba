"""Joining a Ray cluster with token authentication: a head and a second node on loopback, both
started with `ray start` and a token; a campaign joins with the token and uses both nodes, and
without the token it stops with one error line that names the fix."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RAY = Path(sys.executable).parent / "ray"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def cluster(tmp_path: Path):
    """Two one-CPU nodes with token authentication; yields (address, environment with the token)."""
    token = tmp_path / "token"
    token.write_text(secrets.token_hex(32))
    token.chmod(0o600)
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token), "PYTHONPATH": str(ROOT)}
    env.pop("RAY_ADDRESS", None)
    port = free_port()
    common = ["--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--disable-usage-stats"]
    try:
        subprocess.run([RAY, "start", "--head", "--port", str(port), "--include-dashboard", "false", *common],
                       env=env, check=True, capture_output=True, timeout=120)
        subprocess.run([RAY, "start", "--address", f"127.0.0.1:{port}", *common], env=env, check=True,
                       capture_output=True, timeout=120)
        time.sleep(2)
        yield f"127.0.0.1:{port}", env
    finally:
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)


def test_campaign_joins_an_authenticated_two_node_cluster(tmp_path: Path, cluster) -> None:
    address, env = cluster
    config = {"name": "c", "generate": {"model": "tests.generators:pool", "n": 24, "seed": 0, "targets": {"qed": 0.6}},
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
