"""Where aloe-bench keeps things on disk: the user cache folder and what lives in it.

Plugins use these too (the hf plugin caches converted models under :func:`cache_dir`), so they
live in this small public module rather than beside one feature.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Where aloe-bench caches downloads, converted models and model calls: ``ALOE_BENCH_CACHE_DIR``
    when set, else the platform's user cache folder (``~/.cache/aloe-bench`` on Linux)."""
    env = os.environ.get("ALOE_BENCH_CACHE_DIR")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("aloe-bench"))


def call_cache_path() -> Path:
    """The SQLite call cache shared by every run (``--no-cache`` bypasses it)."""
    return cache_dir() / "calls.sqlite"


def data_dir_override() -> Path | None:
    """``ALOE_BENCH_DATA_DIR``: a local folder holding the official ALOE files, if set."""
    env = os.environ.get("ALOE_BENCH_DATA_DIR")
    return Path(env) if env else None
