"""One progress bar for long loops (rich), silent when not asked for."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def track(items: Iterable[T], total: int, show: bool, description: str) -> Iterator[T]:
    """Yield ``items``, drawing a transient rich progress bar on stderr when ``show``."""
    if not show or total == 0:
        yield from items
        return
    from rich.console import Console
    from rich.progress import track as rich_track

    yield from rich_track(items, total=total, description=description, transient=True, console=Console(stderr=True))
