"""designer: generative models, property oracles and workflows for molecules and sequences.

The API functions load on first use, so ``import designer`` and ``designer --help`` stay fast:
``generate`` (n on-target candidates), ``score``, ``filter``, ``optimize``, ``run``, ``campaign``,
``read``, ``write``, ``as_candidates``, ``design_sequences``, ``train``, ``models`` and ``oracles``.
They take what a notebook holds (lists of SMILES or RDKit molecules, pandas Series and DataFrames);
``help(designer.generate)`` and the others show an example each.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_API = {"score", "filter", "generate", "optimize", "run", "campaign", "read", "write", "as_candidates",
        "design_sequences", "train"}
_CALLABLE_PACKAGES = {"models", "oracles"}  # subpackages that are also the listing functions


def __getattr__(name: str) -> Any:
    if name in _API:
        from designer import api

        return getattr(api, name)
    if name in _CALLABLE_PACKAGES:
        import importlib

        return importlib.import_module(f"designer.{name}")
    if name == "Candidates":
        from designer.candidates import Candidates

        return Candidates
    raise AttributeError(f"module 'designer' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API, *_CALLABLE_PACKAGES, "Candidates"])
