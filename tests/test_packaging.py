"""The distribution: every package folder is installed under designer.*, no generic top-level names."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAPPING = {"designer": "designer", "models": "designer.models", "oracles": "designer.oracles",
           "workflows": "designer.workflows"}


def test_every_package_folder_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    for folder, name in MAPPING.items():
        assert config["package-dir"][name] == folder
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            assert ".".join((name, *relative)) in listed, f"{init.parent} is missing from pyproject packages"


def test_no_generic_top_level_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert all(name == "designer" or name.startswith("designer.") for name in config["packages"])


def test_torch_pin_admits_the_cpu_build_on_disk() -> None:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "torch>=2.13,<2.14" in dependencies
