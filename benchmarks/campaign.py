"""Campaign scaling on Ray at 100,000 candidates, in one run: scoring (qed, sa, logp, pains) of MOSES
test molecules and sampling from the default generator (char-rnn), each as a plain in-process loop
(the baseline, one process), on 1 Ray worker and on 2; Ray start-up; and a two-node cluster on
loopback with token authentication (two `ray start` processes) showing shards spread over both nodes.
Writes benchmarks/results/campaign.{json,md}.

    python benchmarks/campaign.py [--n 100000] [--shard-size 2000] [--skip-two-node]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from designer.config import CampaignConfig, RunConfig, dump_config
from designer.data import moses_smiles
from designer.workflows.campaign import campaign
from designer.workflows.pipeline import run

RESULTS = Path(__file__).parent / "results"
ORACLES = ["qed", "sa", "logp", "pains"]


def make_configs(source: dict, shard_size: int, workers: int | None) -> tuple[RunConfig, CampaignConfig]:
    """The same work as a run (one process: scoring workers = 1) and as a campaign with ``workers``."""
    body = {"name": "scaling", "chunk_size": shard_size, **source, "score": {"oracles": ORACLES, "workers": 1},
            "export": {"formats": ["csv"]}}
    return (RunConfig.model_validate(body),
            CampaignConfig.model_validate({**body, "campaign": {"shard_size": shard_size, "workers": workers}}))


def timed_campaign(config: CampaignConfig, workdir: Path, label: str, address: str | None = None,
                   num_cpus: int | None = None) -> dict:
    import ray

    from designer.workflows.campaign import ray_session

    start_ray = time.perf_counter()
    with ray_session(address, num_cpus=num_cpus):
        ray_startup = time.perf_counter() - start_ray
        started = time.perf_counter()
        result = campaign(config, workdir / label)
        elapsed = time.perf_counter() - started
        nodes = len({n["NodeID"] for n in ray.nodes() if n["Alive"]})
    return {"seconds": round(elapsed, 2), "ray_startup_s": round(ray_startup, 2), "kept": result.summary["kept"],
            "nodes_used": len(result.summary["nodes"]), "nodes_alive": nodes,
            "shards_per_node": result.summary["nodes"]}


def two_node(config: CampaignConfig, workdir: Path, port: int = 26379) -> dict:
    """A head and a second node, one CPU each, both on 127.0.0.1; the campaign joins by address."""
    ray_bin = str(Path(sys.executable).parent / "ray")
    token = workdir / "token"
    token.write_text(secrets.token_hex(32))
    token.chmod(0o600)
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
    env = {**os.environ, **auth}
    own = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short (Ray's socket paths) and ours alone
    common = ["--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--temp-dir", own]
    subprocess.run([ray_bin, "start", "--head", "--port", str(port), "--include-dashboard", "false", *common],
                   env=env, check=True, capture_output=True)
    try:
        subprocess.run([ray_bin, "start", "--address", f"127.0.0.1:{port}", *common], env=env, check=True,
                       capture_output=True)
        time.sleep(3)
        # The driver joins with the token, set before its Python starts (as Ray requires).
        (workdir / "two_node.toml").write_text(dump_config(config))
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "designer.cli", "campaign", str(workdir / "two_node.toml"), "--address",
                        f"127.0.0.1:{port}", "--out", str(workdir / "two_node")], env=env, check=True,
                       capture_output=True)
        summary = json.loads((workdir / "two_node" / "summary.json").read_text())
        return {"seconds": round(time.perf_counter() - started, 2), "nodes_used": len(summary["nodes"]),
                "shards_per_node": {node[:8]: count for node, count in summary["nodes"].items()}}
    finally:  # stop this cluster only (`ray stop` would stop every Ray instance of the user)
        subprocess.run(["pkill", "-9", "-f", own], capture_output=True)
        shutil.rmtree(own, ignore_errors=True)


def scaling(label: str, source: dict, args: argparse.Namespace, workdir: Path, cores: int) -> dict:
    """In-process loop, 1 Ray worker and all cores on the same work; efficiency and overhead."""
    import torch

    plain, _ = make_configs(source, args.shard_size, None)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the baseline gets what one Ray worker gets: one CPU, one torch thread
    started = time.perf_counter()
    run(plain, workdir / f"{label}_in_process")
    torch.set_num_threads(threads)
    row: dict = {"in_process_s": round(time.perf_counter() - started, 2)}
    _, one = make_configs(source, args.shard_size, 1)
    row["ray_1_worker"] = timed_campaign(one, workdir, f"{label}_one_worker", num_cpus=1)
    _, every = make_configs(source, args.shard_size, cores)
    row["ray_all_cores"] = timed_campaign(every, workdir, f"{label}_all_cores", num_cpus=cores)
    one_s, all_s = row["ray_1_worker"]["seconds"], row["ray_all_cores"]["seconds"]
    row["parallel_efficiency"] = round(one_s / (all_s * cores), 3)
    row["parallel_efficiency_vs_in_process"] = round(row["in_process_s"] / (all_s * cores), 3)
    row["ray_overhead_vs_in_process"] = round(one_s / row["in_process_s"] - 1, 3)
    print(label, json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--shard-size", type=int, default=2000)
    parser.add_argument("--skip-two-node", action="store_true")
    parser.add_argument("--skip-generation", action="store_true")
    parser.add_argument("--only", choices=["scoring", "generation", "two_node"], nargs="+",
                        help="measure these parts again and keep the others from the current results file")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="designer-campaign-bench-"))
    smiles_path = workdir / "molecules.smi"
    smiles_path.write_text("\n".join(moses_smiles("test")[: args.n]) + "\n")
    cores = os.cpu_count() or 1
    results: dict = {"n": args.n, "shard_size": args.shard_size, "oracles": ORACLES, "cores": cores,
                     "load_average_at_start": os.getloadavg()}
    wanted = set(args.only or ["scoring", "generation", "two_node"])
    if args.only:  # the other parts come from the last full run (same n and shard size)
        kept = json.loads((RESULTS / "campaign.json").read_text())
        same = (kept["n"], kept["shard_size"]) == (args.n, args.shard_size)
        assert same, "--only needs the same --n and --shard-size as the kept results"
        results.update({k: v for k, v in kept.items() if k in {"scoring", "generation", "two_node"} - wanted})
        results["remeasured"] = sorted(wanted)
    if "scoring" in wanted:
        results["scoring"] = scaling("scoring", {"input": {"path": str(smiles_path)}}, args, workdir, cores)
    if "generation" in wanted and not args.skip_generation:
        results["generation"] = scaling("generation", {"generate": {"model": "char-rnn", "n": args.n, "seed": 0},
                                                        "filter": {"rules": ["valid"]}}, args, workdir, cores)
    if "two_node" in wanted and not args.skip_two_node:
        _, every = make_configs({"input": {"path": str(smiles_path)}}, args.shard_size, None)
        results["two_node"] = two_node(every, workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "campaign.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = ["# Campaign scaling", "",
             f"{args.n:,} candidates per setting, shards of {args.shard_size:,}; {cores} cores; load average at start "
             f"{[round(x, 2) for x in results['load_average_at_start']]}. Scoring: MOSES test molecules with "
             f"{', '.join(ORACLES)} (standardised in the shards). Generation: the default model (char-rnn), rule "
             "valid, scored with the same oracles. Baseline: the same workflow as an in-process loop (one process, "
             "one torch thread: what one Ray worker with one CPU gets)."
             + (f" Parts measured again in this run: {', '.join(results['remeasured'])}; the others are from the "
                "previous full run." if "remeasured" in results else ""),
             "", "| work | in-process loop (s) | Ray, 1 worker (s) | Ray overhead | Ray, 2 workers (s) | "
             "2-worker efficiency (vs 1 worker / vs in-process) |", "|---|---|---|---|---|---|"]
    for label in ("scoring", "generation"):
        if label in results:
            r = results[label]
            lines.append(f"| {label} | {r['in_process_s']} | {r['ray_1_worker']['seconds']} | "
                         f"{100 * r['ray_overhead_vs_in_process']:.1f} % | {r['ray_all_cores']['seconds']} | "
                         f"{r['parallel_efficiency']:.3f} / {r['parallel_efficiency_vs_in_process']:.3f} |")
    lines += ["", f"Ray start-up {results['scoring']['ray_all_cores']['ray_startup_s']} s (not in the times above). "
              "Goals (issue #21): 2-worker efficiency >= 0.85 and Ray overhead <= 5 %."]
    if "two_node" in results:
        t = results["two_node"]
        lines += ["", f"Two nodes on loopback with token authentication (head + worker, 1 CPU each), the scoring "
                      f"work: {t['seconds']} s, shards per node {t['shards_per_node']} ({t['nodes_used']} nodes used)."]
    (RESULTS / "campaign.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
