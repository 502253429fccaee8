"""The one wording for an unknown name (model, dataset, optimizer, config key): the nearest known one, then all."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def unknown(kind: str, name: str, known: Iterable[str]) -> str:
    """`unknown <kind> '<name>'. Did you mean 'x'? Known <kind>s: a, b, c` (the hint when one is close)."""
    known = sorted(known)
    close = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"unknown {kind} {name!r}.{hint} Known {kind}s: {', '.join(known)}"
