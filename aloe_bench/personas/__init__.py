"""Persona sources: the official ALOE sets, JSONL files, and the project's own pool."""

from __future__ import annotations

from pathlib import Path

from aloe_bench.errors import ConfigError
from aloe_bench.records import Persona


def shipped_file(*parts: str) -> Path:
    """A data file shipped inside the package (``aloe_bench/personas/data/...``: persona seeds,
    curated facts), found through :mod:`importlib.resources` so a wheel install without a source
    checkout has it too. The path may not exist (a trimmed installation); callers check."""
    from importlib.resources import files

    return Path(str(files("aloe_bench.personas").joinpath("data", *parts)))


def parse_source(source: str) -> tuple[str, str]:
    """Split ``scheme:argument`` (argument may be empty)."""
    if not source:
        raise ConfigError("Empty persona source.", "Use e.g. --personas aloe-eval or --personas jsonl:FILE.")
    scheme, _, arg = source.partition(":")
    return scheme, arg


def load_personas(source: str, host=None) -> list[Persona]:
    """Personas of ``source`` (``aloe-eval``, ``jsonl:PATH``, ...) through the registered sources."""
    from aloe_bench.plugins import default_host

    host = host or default_host()
    scheme, arg = parse_source(source)
    personas = host.persona_sources.get(scheme).build(arg)
    ids = [p.id for p in personas]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise ConfigError(f"Persona source {source!r} has a duplicate persona id {dup!r}.")
    return personas
