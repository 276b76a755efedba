"""Campaign scaling on Ray: the same 10,000-candidate scoring campaign on 1 worker, on all local
cores, and as a plain in-process loop without Ray; Ray start-up; and a two-node cluster on loopback
(two `ray start` processes) showing shards spread over both nodes.
Writes benchmarks/results/campaign.{json,md}.

    python benchmarks/campaign.py [--n 10000] [--skip-two-node]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from designer.config import CampaignConfig, RunConfig
from designer.data import moses_smiles
from designer.workflows.campaign import campaign
from designer.workflows.pipeline import run

RESULTS = Path(__file__).parent / "results"
ORACLES = ["qed", "sa", "logp", "pains"]


def make_configs(smiles_path: Path, shard_size: int, workers: int | None) -> tuple[RunConfig, CampaignConfig]:
    body = {"name": "scaling", "chunk_size": shard_size, "input": {"path": str(smiles_path)},
            "score": {"oracles": ORACLES}, "export": {"formats": ["csv"]}}
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
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    common = ["--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--include-dashboard", "false"]
    subprocess.run([ray_bin, "stop", "--force"], env=env, capture_output=True)
    subprocess.run([ray_bin, "start", "--head", "--port", str(port), *common[:4]], env=env, check=True,
                   capture_output=True)
    try:
        subprocess.run([ray_bin, "start", "--address", f"127.0.0.1:{port}", *common[:4]], env=env, check=True,
                       capture_output=True)
        time.sleep(3)
        return timed_campaign(config, workdir, "two_node", address=f"127.0.0.1:{port}")
    finally:
        subprocess.run([ray_bin, "stop", "--force"], env=env, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--shard-size", type=int, default=250)
    parser.add_argument("--skip-two-node", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    workdir = Path(tempfile.mkdtemp(prefix="designer-campaign-bench-"))
    smiles_path = workdir / "molecules.smi"
    smiles_path.write_text("\n".join(moses_smiles("test")[: args.n]) + "\n")
    cores = os.cpu_count() or 1
    results: dict = {"n": args.n, "shard_size": args.shard_size, "oracles": ORACLES, "cores": cores,
                     "load_average_at_start": os.getloadavg()}
    plain, _ = make_configs(smiles_path, args.shard_size, None)
    started = time.perf_counter()
    run(plain, workdir / "in_process")
    results["in_process_s"] = round(time.perf_counter() - started, 2)
    _, one = make_configs(smiles_path, args.shard_size, 1)
    results["ray_1_worker"] = timed_campaign(one, workdir, "one_worker", num_cpus=1)
    _, all_cores = make_configs(smiles_path, args.shard_size, None)
    results["ray_all_cores"] = timed_campaign(all_cores, workdir, "all_cores", num_cpus=cores)
    one_s, all_s = results["ray_1_worker"]["seconds"], results["ray_all_cores"]["seconds"]
    results["parallel_efficiency"] = round(one_s / (all_s * cores), 3)
    results["ray_overhead_vs_in_process"] = round(one_s / results["in_process_s"] - 1, 3)
    if not args.skip_two_node:
        results["two_node"] = two_node(all_cores, workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "campaign.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = ["# Campaign scaling", "",
             f"{args.n} MOSES test molecules scored with {', '.join(ORACLES)} in shards of {args.shard_size}; "
             f"{cores} cores; load average at start {[round(x, 2) for x in results['load_average_at_start']]}.", "",
             "| setting | seconds | ratio |", "|---|---|---|",
             f"| in-process loop, no Ray (baseline) | {results['in_process_s']} | 1.00 |",
             f"| Ray, 1 worker | {one_s} | {one_s / results['in_process_s']:.2f} |",
             f"| Ray, {cores} workers | {all_s} | {all_s / results['in_process_s']:.2f} |", "",
             f"Parallel efficiency (1-worker time / ({cores} x {cores}-worker time)): "
             f"{results['parallel_efficiency']}; "
             f"Ray overhead vs the in-process loop: {100 * results['ray_overhead_vs_in_process']:.1f} %; "
             f"Ray start-up {results['ray_all_cores']['ray_startup_s']} s."]
    if "two_node" in results:
        t = results["two_node"]
        lines += ["", f"Two nodes on loopback (head + worker, 1 CPU each): {t['seconds']} s, shards per node "
                      f"{t['shards_per_node']} ({t['nodes_used']} nodes used)."]
    (RESULTS / "campaign.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
