"""Test doubles for the Generator protocol, importable by Ray workers as ``tests.generators:...``."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import ClassVar

from designer.generators import Condition
from designer.workflows.pipeline import SEED_STRIDE


def shard_of(seed: int) -> int:
    """The campaign shard (or run chunk) a sampling seed belongs to: rounds of shard k use k·STRIDE + r."""
    return seed // SEED_STRIDE

POOL = ["CCO", "c1ccccc1", "CC(=O)Oc1ccccc1C(=O)O", "Cn1c(=O)c2c(ncn2C)n(C)c1=O", "CCN", "C1CC", "CCCCCC",
        *(f"{'C' * k}O" for k in range(3, 31)), *(f"{'C' * k}N" for k in range(3, 31)),
        *(f"c1ccccc1{'C' * k}O" for k in range(1, 21))]  # enough distinct molecules for exact-n tests


class PoolGenerator:
    """Draws from a fixed pool with a seeded RNG: deterministic per seed, like a real sampler."""

    name, kind = "pool", "molecule"
    conditions: ClassVar = {
        "qed": Condition("qed", "numeric", 0.0, 1.0, default=0.8, default_note="test default"),
        "pains_free": Condition("pains_free", "categorical", choices=("yes", "no"), default="yes")}
    card: ClassVar = {"trained_on": "a fixed pool", "metrics": {"validity": 0.86}}

    def sample(self, n, targets, *, guidance=1.0, seed=0, batch_size=256, progress=False):
        rng = random.Random(seed)
        return [rng.choice(POOL) for _ in range(n)]


class DiesOnceGenerator(PoolGenerator):
    """Kills its own worker process the first time it samples shard 2 (a marker file remembers)."""

    def sample(self, n, targets, *, guidance=1.0, seed=0, batch_size=256, progress=False):
        marker = Path(os.environ["DESIGNER_TEST_MARKER"])
        if shard_of(seed) == 2 and not marker.exists():
            marker.write_text("died")
            os._exit(1)  # what the OOM killer or a SIGKILL looks like to Ray
        return super().sample(n, targets, guidance=guidance, seed=seed)


class FailsOnShardGenerator(PoolGenerator):
    """Raises on shard 1, every time: a shard that keeps failing."""

    def sample(self, n, targets, *, guidance=1.0, seed=0, batch_size=256, progress=False):
        if shard_of(seed) == 1:
            raise ValueError("this shard always fails")
        return super().sample(n, targets, guidance=guidance, seed=seed)


class SlowGenerator(PoolGenerator):
    """Sleeps per shard, so a test can kill the driver mid-campaign."""

    def sample(self, n, targets, *, guidance=1.0, seed=0, batch_size=256, progress=False):
        import time

        time.sleep(0.4)
        return super().sample(n, targets, guidance=guidance, seed=seed)


def pool() -> PoolGenerator:
    return PoolGenerator()


def dies_once() -> DiesOnceGenerator:
    return DiesOnceGenerator()


def fails_on_shard() -> FailsOnShardGenerator:
    return FailsOnShardGenerator()


def slow() -> SlowGenerator:
    return SlowGenerator()
