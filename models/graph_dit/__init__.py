"""Graph DiT (Liu et al., NeurIPS 2024): multi-conditional molecular graph diffusion with a
graph-dependent noise model, AdaLN Transformer denoiser and classifier-free guidance.

``load_default()`` returns the shipped MOSES checkpoint as a :class:`designer.generators.Generator`.
Imports are lazy so that listing models does not import torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["GraphDiTGenerator", "load", "load_default"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from designer.models.graph_dit import sample

        return getattr(sample, name)
    raise AttributeError(name)
