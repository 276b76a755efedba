"""Batch campaigns on Ray: a workflow fanned out over many shards, locally or on any Ray cluster.

A campaign splits its work into shards (``shard_size`` candidates of one variant: its targets and
guidance). Long-lived Ray actors hold the model once per worker and run generate -> filter -> cheap
scoring for one shard at a time; expensive oracles (xTB) run as their own remote tasks. The driver
writes each finished shard to the run directory as it arrives, so a campaign killed at any moment
(SIGKILL included) resumes with ``--resume`` and redoes only shards without a file: nothing is lost
and nothing is counted twice. A worker that dies mid-shard is restarted and the shard retried by
Ray (``max_retries``); a shard that keeps failing is recorded with its error and the campaign goes on.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from designer.candidates import Candidates
from designer.config import CampaignConfig
from designer.errors import DesignerError
from designer.store import RunStore
from designer.workflows.pipeline import (
    RunResult,
    derive_seed,
    finalize,
    finish_scores,
    generate_chunk,
    process_chunk,
    started_store,
    validate,
    with_absolute_input,
)
from designer.workflows.pipeline import input_table as read_input


@dataclass(frozen=True)
class Shard:
    """One unit of work: ``size`` candidates of one variant, sampled with its own seed."""

    index: int
    variant: str
    size: int
    offset: int
    seed: int = 0
    guidance: float | None = None  # None: the model's default scale
    targets: dict[str, Any] = field(default_factory=dict)


def plan_shards(config: CampaignConfig, input_rows: int | None = None) -> list[Shard]:
    """Every shard of the campaign, in a fixed order (the index is the shard's identity on resume)."""
    size = config.campaign.shard_size
    if config.input is not None:
        assert input_rows is not None
        return [Shard(i, "input", min(size, input_rows - start), start)
                for i, start in enumerate(range(0, max(input_rows, 1), size))]
    step = config.generate
    assert step is not None
    arms: list[tuple[str, dict[str, Any], float]] = []
    variants = config.campaign.variants or [None]
    for variant in variants:
        name = variant.name if variant else "default"
        targets = variant.targets if variant and variant.targets is not None else step.targets
        guidance = variant.guidance if variant and variant.guidance is not None else step.guidance
        grid = config.campaign.guidance_grid or [guidance]
        arms += [(f"{name}@{g:g}" if config.campaign.guidance_grid else name, dict(targets), g) for g in grid]
    shards = []
    for name, targets, guidance in arms:
        for start in range(0, step.n, size):
            index = len(shards)
            shards.append(Shard(index, name, min(size, step.n - start), start, derive_seed(step.seed, index),
                                guidance, targets))
    return shards


def expensive_oracles(config: CampaignConfig) -> list[str]:
    """Oracles that run their own processes (xTB): scored in separate remote tasks."""
    from designer.scoring import resolve_oracles

    return [spec for spec, oracle in zip(config.score.oracles, resolve_oracles(config.score.oracles), strict=True)
            if oracle.uses_processes]


class ShardWorker:
    """Ray actor body: keeps the generator loaded between shards (one model per worker process)."""

    def __init__(self, config_json: str) -> None:
        config = CampaignConfig.model_validate_json(config_json)
        # Ray gives each worker one CPU: scoring in a process pool inside it would oversubscribe the node.
        self.config = config.model_copy(update={"score": config.score.model_copy(update={"workers": 1})})
        self.skip = frozenset(expensive_oracles(self.config))

    def node(self) -> str:
        """The node this worker runs on (the pool's start probe)."""
        import ray

        return ray.get_runtime_context().get_node_id()

    def run(self, shard: Shard, rows: Candidates | None) -> tuple[Candidates, dict[str, Any]]:
        import ray

        if rows is None:  # the target loop delivers the shard's candidates
            kept, meta = generate_chunk(self.config, shard.size, shard.offset, seed=shard.seed,
                                        targets=shard.targets, guidance=shard.guidance, id_prefix=shard.variant,
                                        skip_oracles=self.skip)
        else:
            kept, meta = process_chunk(rows, self.config, skip_oracles=self.skip)
        kept.columns["variant"] = np.full(len(kept), shard.variant, dtype=object)
        context = ray.get_runtime_context()
        meta.update(variant=shard.variant, node=context.get_node_id(), pid=os.getpid(),
                    restarted=bool(context.was_current_actor_reconstructed))
        return kept, meta


def _score_expensive(config_json: str, kept: Candidates, oracles: list[str]) -> Candidates:
    config = CampaignConfig.model_validate_json(config_json)
    return finish_scores(kept, config, oracles)


def check_address(address: str, timeout: float = 3.0) -> None:
    """Fail fast, in one line, when a ``host:port`` / ``ray://host:port`` address does not answer
    (Ray itself would wait for minutes)."""
    import socket

    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if address == "auto" or not sep:
        return
    if not port.isdigit():
        raise DesignerError(f"bad Ray address {address!r}: expected auto, host:port or ray://host:port")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as error:
        raise DesignerError(f"could not connect to the Ray cluster at {address!r}: {error.strerror or error}") from None


LOCAL_ONLY = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # Ray's local-only mode: the node IP is 127.0.0.1


@contextmanager
def local_only_environment() -> Iterator[None]:
    """Ray's supported local-only mode for the duration of a private instance, restored afterwards.

    Ray 2.60's servers (GCS, raylet, workers, agents) bind to the node IP, or to every interface,
    unless the node IP is loopback; ``_node_ip_address="127.0.0.1"`` is turned back into the machine's
    address, but ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (how Ray runs on laptops) makes the node IP
    127.0.0.1 for every process it starts. Token authentication stays on as a second wall:
    ``RAY_AUTH_MODE`` is unset for the session, so that Ray 2.59+ turns token mode on for the new
    local cluster itself (refreshing its own config; a token in ``~/.ray/auth_token`` is made if
    missing), even when the user's environment switches it off.
    """
    saved = {key: os.environ.get(key) for key in [*LOCAL_ONLY, "RAY_AUTH_MODE"]}
    os.environ.update(LOCAL_ONLY)
    os.environ.pop("RAY_AUTH_MODE", None)
    constants = sys.modules.get("ray._private.ray_constants")
    cluster_flag = getattr(constants, "ENABLE_RAY_CLUSTER", None)
    if constants is not None:  # Ray read the variable at import; this driver must see it too
        constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if constants is not None:
            constants.ENABLE_RAY_CLUSTER = cluster_flag


@contextmanager
def ray_session(address: str | None, num_cpus: int | None = None,
                env_vars: dict[str, str] | None = None) -> Iterator[Any]:
    """Ray, connected: a private local instance (address None: loopback only, token authentication,
    never another cluster even when ``RAY_ADDRESS`` is set) or an existing cluster (``"auto"``,
    ``host:port`` or ``ray://host:port``; its token comes from ``RAY_AUTH_TOKEN`` /
    ``RAY_AUTH_TOKEN_PATH`` / ``~/.ray/auth_token`` when the cluster requires one).

    A session that is already initialised (a notebook, the tests) is used as it is.
    """
    import ray

    if ray.is_initialized():
        yield ray
        return
    runtime_env = {"env_vars": {"PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(),
                                                                            os.environ.get("PYTHONPATH")])),
                                **(env_vars or {})}}
    if address is None:
        with local_only_environment():
            _init(ray, "start a local Ray instance", address="local", num_cpus=num_cpus, include_dashboard=False,
                  log_to_driver=False, runtime_env=runtime_env)
            try:
                yield ray
            finally:
                ray.shutdown()
        return
    check_address(address)
    _init(ray, f"connect to the Ray cluster at {address!r}", address=address, log_to_driver=False,
          runtime_env=runtime_env)
    try:
        yield ray
    finally:
        ray.shutdown()


def _init(ray: Any, what: str, **options: Any) -> None:
    """``ray.init`` with its failures as one DesignerError line; a refused join names the token fix
    (Ray reports a missing token only as "failed to connect")."""
    try:
        ray.init(**options)
    except Exception as error:  # Ray raises ConnectionError, RuntimeError, ValueError, AuthenticationError
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if options.get("address") != "local" and os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
            message += ("; if the cluster uses token authentication (Ray's default since 2.59), set "
                        "RAY_AUTH_MODE=token and RAY_AUTH_TOKEN_PATH (or RAY_AUTH_TOKEN) to its token before "
                        "starting designer (docs/cluster.md)")
        raise DesignerError(f"could not {what}: {message}") from None


@dataclass
class _Task:
    shard: Shard
    started: float
    worker: Any = None  # the actor of a "sample" task
    meta: dict[str, Any] | None = None  # set for an "expensive" task: the counts of its sample stage

    @property
    def stage(self) -> str:
        return "sample" if self.meta is None else "expensive"


def same_campaign(old: str, new: str) -> bool:
    """Whether a resumed campaign computes the same thing: only how the work is spread may change
    (workers, time-out, retries, GPUs per worker)."""
    import tomllib

    from designer.config import RESUMABLE_CHANGES

    def essence(text: str) -> dict:
        data = tomllib.loads(text)
        for key in RESUMABLE_CHANGES:
            data.get("campaign", {}).pop(key, None)
        return data

    return essence(old) == essence(new)


def campaign(config: CampaignConfig, directory: str | Path, *, address: str | None = None, resume: bool = False,
             progress: bool = False, base_dir: str | Path = ".") -> RunResult:
    """Run a campaign into ``directory`` on Ray (``address`` None: a private local instance sized to the
    machine, loopback only). A resume may change workers, time-outs and retries, not what is computed."""
    started = time.perf_counter()
    config = with_absolute_input(config, base_dir)
    assert isinstance(config, CampaignConfig)
    validate(config)
    with started_store(directory, config, resume=resume, same=same_campaign) as store:
        input_table = read_input(config, Path(".")) if config.input is not None else None
        shards = plan_shards(config, len(input_table) if input_table is not None else None)
        done = store.done()
        todo = deque(s for s in shards if s.index not in done)
        failed_dir = store.directory / "failed"
        failed_dir.mkdir(exist_ok=True)
        for shard in todo:  # a shard that failed before gets another chance on resume
            (failed_dir / f"{shard.index:06d}.json").unlink(missing_ok=True)
        skip = expensive_oracles(config)
        if todo:
            with ray_session(address) as ray:
                _drive(ray, config, store, todo, len(shards) - len(todo), len(shards), input_table, skip, progress)
    failures = [json.loads(p.read_text()) for p in sorted(failed_dir.glob("*.json"))]
    return finalize(config, store, started, {
        "shards": len(shards), "resumed_shards": len(done), "failed_shards": failures, "address": address or "local"})


def check_resources(settings: Any, resources: dict[str, float]) -> int:
    """How many workers the cluster can place, or one error line when it cannot place what the config
    asks for (Ray would wait until the shard time-out and then drop the shards)."""
    cpus = int(resources.get("CPU", 0))
    if settings.workers and settings.workers > cpus:
        raise DesignerError(f"campaign.workers = {settings.workers} but the Ray cluster has {cpus} CPU(s): each "
                            "worker needs one; lower workers or add nodes")
    gpus = resources.get("GPU", 0.0)
    if settings.num_gpus_per_worker > 0:
        placeable = int(gpus // settings.num_gpus_per_worker)
        if placeable == 0:
            raise DesignerError(f"campaign.num_gpus_per_worker = {settings.num_gpus_per_worker:g} but the Ray "
                                f"cluster has {gpus:g} GPU(s); set it to 0 to run on CPUs")
        return min(settings.workers or placeable, placeable, max(cpus, 1))
    return settings.workers or max(cpus, 1)


PLACEMENT_TIMEOUT_S = 120.0  # a worker not started by then cannot be placed: stop with the reason
NODE_CHECK_S = 2.0  # how often the driver looks for lost nodes


class _WorkerPool:
    """Sampling actors, handed out only once they have started (a probe call answered), each with the
    node it runs on, so that shards never queue behind an actor Ray cannot place and the pool shrinks
    when a node is lost."""

    def __init__(self, ray: Any, actor_class: Any, config_json: str, size: int) -> None:
        self.ray, self.actor_class, self.config_json = ray, actor_class, config_json
        self.starting: dict[Any, tuple[Any, float]] = {}  # probe ref -> (actor, when asked for)
        self.idle: deque[Any] = deque()
        self.node: dict[Any, str] = {}  # started actor -> node id
        self.failed_starts = 0
        for _ in range(size):
            self.spawn()

    def spawn(self) -> None:
        actor = self.actor_class.remote(self.config_json)
        self.starting[actor.node.remote()] = (actor, time.monotonic())

    def poll(self, ready: list[Any]) -> None:
        """Move actors whose probe answered to the idle queue; replace ones that died starting."""
        for ref in [r for r in ready if r in self.starting]:
            actor, _ = self.starting.pop(ref)
            try:
                self.node[actor] = self.ray.get(ref)
                self.idle.append(actor)
            except self.ray.exceptions.RayError as error:
                self.failed_starts += 1
                if self.failed_starts > 3 * max(1, len(self.node) + len(self.starting) + 1):
                    raise DesignerError(f"campaign workers keep failing to start: {_first_line(error)}") from None
                self.spawn()

    def stalled(self, now: float) -> bool:
        """No worker has started and the oldest request waited longer than the placement time-out."""
        return not self.node and bool(self.starting) and \
            now - min(t for _, t in self.starting.values()) > PLACEMENT_TIMEOUT_S

    def retire(self, actor: Any) -> None:
        self.node.pop(actor, None)
        try:
            self.ray.kill(actor)
        except Exception:  # already gone with its node
            pass

    def lost(self, alive: set[str]) -> set[Any]:
        """Actors on nodes that are no longer alive (retired); idle ones are dropped from the queue."""
        gone = {actor for actor, node in self.node.items() if node not in alive}
        self.idle = deque(a for a in self.idle if a not in gone)
        for actor in gone:
            self.retire(actor)
        return gone


def _drive(ray: Any, config: CampaignConfig, store: RunStore, todo: deque[Shard], already: int, total: int,
           input_table: Candidates | None, skip: list[str], progress: bool) -> None:
    """The driver loop: keep every started worker busy, store shards as they finish, retry or record
    failures, and requeue the shards of a node that is lost."""
    settings = config.campaign
    config_json = config.model_dump_json()
    n_workers = max(1, min(check_resources(settings, ray.cluster_resources()), len(todo)))
    actor_class = ray.remote(ShardWorker).options(
        num_cpus=1, num_gpus=settings.num_gpus_per_worker, max_restarts=-1,
        max_task_retries=settings.max_retries)
    expensive = ray.remote(_score_expensive).options(num_cpus=1, max_retries=settings.max_retries)
    pool = _WorkerPool(ray, actor_class, config_json, n_workers)
    pending: dict[Any, _Task] = {}
    lost: dict[int, int] = {}  # shard -> times its worker was lost under it
    counts = {"done": already, "failed": 0, "candidates": 0}
    bar = _Progress(progress, total, already)
    checked = time.monotonic()

    def fail(shard: Shard, error: str) -> None:
        record = {"shard": shard.index, "variant": shard.variant, "error": error}
        (store.directory / "failed" / f"{shard.index:06d}.json").write_text(json.dumps(record) + "\n")
        counts["failed"] += 1

    while todo or pending:
        while todo and pool.idle:
            shard, worker = todo.popleft(), pool.idle.popleft()
            rows = None if input_table is None else input_table.take(np.arange(shard.offset, shard.offset + shard.size))
            pending[worker.run.remote(shard, rows)] = _Task(shard, time.monotonic(), worker=worker)
        if todo and not pending and not pool.idle and not pool.starting and not pool.node:
            pool.spawn()  # every worker was lost with its node: ask for one where there is room
        ready, _ = ray.wait([*pending, *pool.starting], num_returns=1, timeout=0.5)
        pool.poll(ready)
        now = time.monotonic()
        if todo and not pending and not pool.idle and pool.stalled(now):
            raise DesignerError(f"no campaign worker could be placed in {PLACEMENT_TIMEOUT_S:g} s (each needs 1 CPU"
                                + (f" and {settings.num_gpus_per_worker:g} GPU" if settings.num_gpus_per_worker else "")
                                + "); finished shards are kept, continue with --resume once the cluster has room")
        if now - checked > NODE_CHECK_S:  # a lost node: requeue its shards, shrink the pool to what is left
            checked = now
            gone = pool.lost({n["NodeID"] for n in ray.nodes() if n["Alive"]})
            for ref, task in [(r, t) for r, t in pending.items() if t.worker in gone]:
                del pending[ref]
                todo.appendleft(task.shard)
        for ref, task in list(pending.items()):
            if ref not in ready and now - task.started > settings.shard_timeout_s:
                del pending[ref]
                fail(task.shard, f"timed out after {settings.shard_timeout_s:g} s")
                if task.stage == "sample":
                    pool.retire(task.worker)  # a stuck worker is replaced, not reused
                    pool.spawn()
                else:
                    ray.cancel(ref, force=True)
        for ref in [r for r in ready if r in pending]:
            task = pending.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayActorError as error:  # Ray already retried it on the same worker
                pool.retire(task.worker)  # dead or unreachable (its node may be going): never reused
                pool.spawn()  # gets work only once it has started, wherever there is room
                lost[task.shard.index] = lost.get(task.shard.index, 0) + 1
                if lost[task.shard.index] <= settings.max_retries:
                    todo.appendleft(task.shard)  # on another worker, maybe another node
                else:
                    fail(task.shard, f"its worker was lost {lost[task.shard.index]} times: {_first_line(error)}")
                continue
            except ray.exceptions.RayError as error:  # the shard's own error: retrying would repeat it
                fail(task.shard, _first_line(error))
                if task.worker is not None:
                    pool.idle.append(task.worker)
                continue
            if task.stage == "sample":
                pool.idle.append(task.worker)
                kept, meta = result
                if skip:  # expensive oracles run as their own remote task before the shard is stored
                    pending[expensive.remote(config_json, kept, skip)] = _Task(task.shard, time.monotonic(), meta=meta)
                    continue
            else:
                kept, meta = result, task.meta
            meta["seconds"] = round(time.monotonic() - task.started, 3)  # sampling and scoring, this shard
            meta["kept"] = len(kept)
            store.write_chunk(task.shard.index, kept, meta)
            counts["done"] += 1
            counts["candidates"] += meta["produced"]
        bar.update(counts)
    bar.close()


def _first_line(error: BaseException) -> str:
    """The innermost message of a Ray error, on one line."""
    text = str(getattr(error, "cause", None) or error).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(error).__name__


class _Progress:
    """A rich progress bar: shards done and failed, candidates per second, time remaining."""

    def __init__(self, show: bool, total: int, already: int) -> None:
        self.progress = None
        self.started = time.monotonic()
        if not show:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(TextColumn("shards"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[status]}"), TimeRemainingColumn())
        self.progress.start()
        self.task = self.progress.add_task("campaign", total=total, completed=already, status="")

    def update(self, counts: dict[str, int]) -> None:
        if self.progress is None:
            return
        rate = counts["candidates"] / max(time.monotonic() - self.started, 1e-9)
        self.progress.update(self.task, completed=counts["done"] + counts["failed"],
                             status=f"failed {counts['failed']}  {rate:.0f} candidates/s")

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def campaign_summary_line(result: RunResult) -> str:
    """One line for the terminal."""
    s = result.summary
    failed = len(s["failed_shards"])
    return (f"{s['shards']} shards ({s['resumed_shards']} from an earlier run, {failed} failed), {s['produced']} "
            f"produced, {s['invalid']} invalid, kept {s['kept']} on {len(s['nodes']) or 0} node(s) -> "
            f"{result.directory}")


__all__ = ["Shard", "campaign", "campaign_summary_line", "plan_shards", "ray_session"]
