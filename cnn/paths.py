"""Where cnn keeps per-user files: downloaded datasets and compiled programs."""

from __future__ import annotations

import os


def cache_home(*parts: str) -> str:
    """`$XDG_CACHE_HOME/cnn/<parts>`, with `~/.cache` where XDG_CACHE_HOME is unset or relative."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says to ignore a relative XDG_CACHE_HOME.
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "cnn", *parts)
