"""Oracles (``designer.oracles.<module>``). The package is also callable:
``designer.oracles()`` lists the oracles as a DataFrame (see :func:`designer.api.oracles`).

>>> designer.oracles()
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _ListingModule(types.ModuleType):
    """``designer.oracles`` is both this package and the listing function users call in notebooks."""

    def __call__(self) -> Any:
        from designer.api import oracles

        return oracles()


sys.modules[__name__].__class__ = _ListingModule
