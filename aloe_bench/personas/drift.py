"""Persona drift: whom a persona becomes when the user changes mid-conversation (``evaluate
--drift-at K``; docs/drift.md).

The rule is fixed and reproducible: ``profile`` replaces the persona's profile with the *next
distinct profile* of its source, ``personality`` its personality with the next distinct
personality, ``both`` does both. "Next" is in the source's own order of first appearance over
the whole source (before ``--limit``), wrapping after the last. For ``aloe-eval`` (20 profiles x
5 personalities, profile-major) profile p drifts to p+1 and personality t to t+1, so
``aloe-eval-p01-t3`` becomes ``aloe-eval-p02-t3`` under ``profile``.

A drifted persona that exists in the source (same profile and personality texts) keeps that
persona's id; otherwise it gets ``<starting id>~drift-<kind>``.
"""

from __future__ import annotations

from typing import Sequence

from aloe_bench.errors import ConfigError
from aloe_bench.records import Persona

#: What changes at K.
DRIFT_KINDS = ("profile", "personality", "both")
#: Version of the mapping rule (recorded in run.json): change it only with a new version.
DRIFT_MAPPING = "next-distinct-in-source-order.v1"


def _next_distinct(values: Sequence[str]) -> dict[str, str]:
    """Each distinct value -> the next distinct one in order of first appearance (wrapping)."""
    order = list(dict.fromkeys(values))
    return {v: order[(i + 1) % len(order)] for i, v in enumerate(order)}


def drift_targets(source: Sequence[Persona], personas: Sequence[Persona], kind: str, *,
                  source_name: str = "the persona source") -> dict[str, Persona]:
    """Starting persona id -> the persona it drifts to, for each of ``personas`` (the run's,
    after ``--limit``), by the rule above over ``source`` (the whole source, before the limit).

    A :class:`ConfigError` (one line) for an unknown ``kind`` or a source with fewer than two
    distinct profiles (``profile``, ``both``) or personalities (``personality``, ``both``)."""
    if kind not in DRIFT_KINDS:
        raise ConfigError(f"Unknown drift kind {kind!r}.", f"Use one of {', '.join(DRIFT_KINDS)}.")
    profiles = _next_distinct([p.profile for p in source])
    personalities = _next_distinct([p.personality for p in source])
    for what, table in (("profile", profiles), ("personality", personalities)):
        if kind in (what, "both") and len(table) < 2:
            raise ConfigError(f"--drift-kind {kind} needs at least two distinct {what} texts, and {source_name} "
                              f"has {len(table)}.",
                              "Use a persona source with several, or another --drift-kind.")
    by_content: dict[tuple[str, str], Persona] = {}
    for p in source:
        by_content.setdefault((p.profile, p.personality), p)
    ids = {p.id for p in source}
    out: dict[str, Persona] = {}
    for p in personas:
        if p.profile not in profiles or p.personality not in personalities:
            raise ConfigError(f"Persona {p.id!r} is not in {source_name}; no drift target can be found for it.")
        profile = profiles[p.profile] if kind in ("profile", "both") else p.profile
        personality = personalities[p.personality] if kind in ("personality", "both") else p.personality
        known = by_content.get((profile, personality))
        if known is not None:
            out[p.id] = known
            continue
        new_id, n = f"{p.id}~drift-{kind}", 1
        while new_id in ids:  # never the id of another persona of the source
            n += 1
            new_id = f"{p.id}~drift-{kind}-{n}"
        out[p.id] = Persona(id=new_id, profile=profile, personality=personality, source=p.source)
    return out
