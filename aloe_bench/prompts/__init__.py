"""Versioned prompt files. Each run records the sha256 of every prompt it used.

The texts are this project's own. Change a prompt by adding a new file (``NAME.v2.txt``) rather
than editing one in place, so old runs stay interpretable.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib.resources import files


@lru_cache(maxsize=None)
def load_prompt(name: str) -> str:
    """Text of ``aloe_bench/prompts/NAME.txt``."""
    return files("aloe_bench.prompts").joinpath(f"{name}.txt").read_text(encoding="utf-8")


def prompt_hash(name: str) -> str:
    """Short sha256 of a prompt file's text."""
    return hashlib.sha256(load_prompt(name).encode("utf-8")).hexdigest()[:16]


def render(name: str, **values: str) -> str:
    """The prompt with ``{placeholders}`` filled (str.format; literal braces are doubled)."""
    return load_prompt(name).format(**values)
