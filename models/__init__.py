"""Model families (``designer.models.<family>``). The package is also callable:
``designer.models()`` lists the generative models as a DataFrame (see :func:`designer.api.models`).

>>> designer.models()
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _ListingModule(types.ModuleType):
    """``designer.models`` is both this package and the listing function users call in notebooks."""

    def __call__(self) -> Any:
        from designer.api import models

        return models()


sys.modules[__name__].__class__ = _ListingModule
