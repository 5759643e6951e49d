"""Pairing profiles with personalities into a persona set (``aloe-bench personas pair``).

ALOE pairs each training profile with 10 randomly drawn personalities. Here the draw for a
profile ranks every personality by a hash of (seed, profile id, personality id) and keeps the
``per_profile`` lowest: the result depends only on the ids and the seed, not on file order or
on the random-number generator, so persona ids stay stable when either pool grows (a profile's
draw changes only if a new personality outranks one it had).
"""

from __future__ import annotations

import hashlib
from typing import Sequence

from aloe_bench.errors import ConfigError
from aloe_bench.personas.pool import PoolEntry
from aloe_bench.records import Persona

#: Separator between the two entry ids in a persona id.
ID_SEPARATOR = "+"


def _rank(seed: int, profile_id: str, personality_id: str) -> str:
    return hashlib.sha256(f"{seed}\x1f{profile_id}\x1f{personality_id}".encode("utf-8")).hexdigest()


def pair_personas(profiles: Sequence[PoolEntry], personalities: Sequence[PoolEntry], *, per_profile: int = 10,
                  seed: int = 0, source: str = "pool") -> list[Persona]:
    """Each profile with ``per_profile`` distinct personalities drawn by seeded hash.

    Personas come profile-major in the profiles' order, each profile's personalities in their
    pool order; the id is ``PROFILE_ID+PERSONALITY_ID``."""
    if per_profile < 1:
        raise ConfigError("--per-profile must be at least 1.")
    if not profiles or not personalities:
        raise ConfigError("Pairing needs at least one profile and one personality.")
    if per_profile > len(personalities):
        raise ConfigError(f"--per-profile {per_profile} exceeds the {len(personalities)} personalities available.",
                          f"Use --per-profile {len(personalities)} or grow the personality pool.")
    for entries, what in ((profiles, "profile"), (personalities, "personality")):
        ids = [e.id for e in entries]
        if len(set(ids)) != len(ids):
            raise ConfigError(f"Duplicate {what} id {next(i for i in ids if ids.count(i) > 1)!r}.")
    order = {e.id: i for i, e in enumerate(personalities)}
    out: list[Persona] = []
    for prof in profiles:
        drawn = sorted(personalities, key=lambda q: _rank(seed, prof.id, q.id))[:per_profile]
        for q in sorted(drawn, key=lambda q: order[q.id]):
            out.append(Persona(id=f"{prof.id}{ID_SEPARATOR}{q.id}", profile=prof.text, personality=q.text,
                               source=source))
    return out
