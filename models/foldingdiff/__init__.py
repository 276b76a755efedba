"""FoldingDiff (Wu et al., Nat. Commun. 2024): protein backbone generation by denoising diffusion
over six internal angles per residue, rebuilt to N/CA/C/O coordinates with NeRF.

``load_default()`` returns the shipped CPU-trained checkpoint as a
:class:`designer.generators.Generator` of kind "backbone". Imports are lazy (no torch on import).
"""

from __future__ import annotations

from typing import Any

__all__ = ["FoldingDiffGenerator", "load", "load_default"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from designer.models.foldingdiff import sample

        return getattr(sample, name)
    raise AttributeError(name)
