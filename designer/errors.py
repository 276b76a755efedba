"""Errors a user can act on: the CLI prints them as one line and exits with a non-zero code."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class DesignerError(Exception):
    """A problem with the user's input, named in one line (file, line, what was expected)."""

    exit_code = 2


class UnknownNameError(DesignerError, KeyError):
    """A name (oracle, rule, model, config key, data set) that is not known, with close matches."""

    def __init__(self, what: str, name: str, known: Iterable[str]) -> None:
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        super().__init__(f"unknown {what} {name!r}{hint} (known: {', '.join(known)})")
        self.name = name

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])
