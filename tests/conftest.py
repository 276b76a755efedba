"""Shared fixtures: a private cache directory (xTB results) and small molecule/sequence files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

MOLECULES = {
    "aspirin": "CC(=O)Oc1ccccc1C(=O)O",
    "caffeine": "Cn1c(=O)c2c(ncn2C)n(C)c1=O",
    "ethanol": "CCO",
    "benzene": "c1ccccc1",
    "ethanol_again": "OCC",
}


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Caches (xTB) go to a temporary folder; MOSES reads keep the user's data cache."""
    path = tmp_path_factory.getbasetemp() / "designer-cache"
    monkeypatch.setenv("DESIGNER_XTB_CACHE", str(path / "xtb-cache.sqlite"))
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def smiles_file(tmp_path: Path) -> Path:
    """A .smi file with five molecules (one duplicate) and one invalid SMILES."""
    path = tmp_path / "mols.smi"
    lines = [f"{smiles} {name}" for name, smiles in MOLECULES.items()]
    lines.insert(2, "C1CC bad_ring")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> None:
    """Tests run beside other work on 2 cores: one intra-op thread avoids oversubscription stalls."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _quiet_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    os.environ.setdefault("PYTHONHASHSEED", "0")


@pytest.fixture
def pool_model(monkeypatch: pytest.MonkeyPatch) -> str:
    """The test double ``tests.generators:PoolGenerator`` registered as model "pool"."""
    from designer import registry
    from designer.workflows import pipeline

    entry = registry.ModelEntry("pool", "molecule", "test pool", "tests.generators:PoolGenerator")
    monkeypatch.setitem(registry._MODELS, "pool", entry)
    monkeypatch.setattr(pipeline, "_generators", {})
    return "pool"
