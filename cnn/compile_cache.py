"""JAX's persistent compilation cache, so that running an experiment again loads its compiled programs.

Compiling LeNet-5's train, eval and init programs takes about 4 s of a 2-core machine's start-up;
with the cache a second run of the same config (or a resumed one) reads them from disk. The cache
lives in `$CNN_COMPILATION_CACHE`, else `$XDG_CACHE_HOME/cnn/jax` (`~/.cache/cnn/jax`); setting
`CNN_COMPILATION_CACHE=off` leaves it off. JAX keys each entry on the program, the backend, the
compiler flags and the jax/jaxlib versions, so a stale entry is never used.
"""

from __future__ import annotations

import os

import jax

from cnn.paths import cache_home

ENV = "CNN_COMPILATION_CACHE"
# Programs that compile faster than this are not worth a file; LeNet-5's train step takes about 1.5 s.
MIN_COMPILE_SECONDS = 0.3


def enable() -> str | None:
    """Turns the cache on in the folder the environment names; returns the folder, or None when off."""
    directory = os.environ.get(ENV) or cache_home("jax")
    if directory == "off":
        return None
    jax.config.update("jax_compilation_cache_dir", directory)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    return directory
