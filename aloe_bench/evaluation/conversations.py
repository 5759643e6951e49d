"""Conversations of a run: its personas, and conversations rebuilt from stored turns."""

from __future__ import annotations

import warnings
from typing import Any, Callable, Sequence, TypeVar

from aloe_bench.errors import AloeBenchWarning
from aloe_bench.evaluation.config import EvalConfig
from aloe_bench.evaluation.run_folder import RunStore
from aloe_bench.personas import load_personas
from aloe_bench.records import Conversation, Persona, Turn

C = TypeVar("C")


def select_personas(config: EvalConfig, host) -> list[Persona]:
    """The run's personas: the source, cut to ``limit``."""
    personas = load_personas(config.personas, host)
    return personas[: config.limit] if config.limit else personas


def run_personas(store: RunStore, config: EvalConfig, host) -> list[Persona]:
    """The personas of a stored run: its own personas.jsonl, else (runs made before it was
    stored) its persona source, cut to its limit."""
    stored = store.read_personas()
    return stored if stored is not None else select_personas(config, host)


def rebuild_chains(personas: Sequence[Persona], seed: int, records: Sequence[Any], make: Callable[..., C], *,
                   keep_failed: bool = False, repeats: int = 1) -> list[C]:
    """One ``make(id=..., persona=...)`` per persona (with ``repeats`` above 1, one per persona
    and repeat, persona by persona: ``make(..., sample=r)`` for repeat r > 0, whose id is
    :meth:`Conversation.make_id` of the persona, ``seed`` and r), in persona order, holding in
    ``.turns`` the stored per-turn ``records`` of its conversation from turn 1 on; records after a
    gap are ignored.

    A failed record (``status`` other than ``ok``) ends the chain when ``keep_failed``; otherwise
    it is dropped so that a resumed run plays that turn again. Shared by ``evaluate``'s
    conversations and ``generate``'s branches."""
    by_conv: dict[str, dict[int, Any]] = {}
    for r in records:
        by_conv.setdefault(r.conversation_id, {})[r.turn] = r
    out = []
    for p, repeat in ((p, r) for p in personas for r in range(repeats)):
        cid = Conversation.make_id(p.id, seed, repeat)
        stored = by_conv.get(cid, {})
        chain = make(id=cid, persona=p, **({"sample": repeat} if repeat else {}))
        k = 1
        while k in stored:
            if stored[k].status != "ok":
                if keep_failed:
                    chain.turns.append(stored[k])
                break
            chain.turns.append(stored[k])
            k += 1
        out.append(chain)
    return out


def rebuild_conversations(personas: Sequence[Persona], seed: int, turns: Sequence[Turn], *,
                          keep_failed: bool = False, drift: Any = None, repeats: int = 1) -> list[Conversation]:
    """Conversations with their stored turns, in persona order (``repeats`` conversations per
    persona, its repeats in order, ``sample`` = the repeat); turns after a gap are ignored.

    A failed turn (simulator or model error) ends the conversation when ``keep_failed``; otherwise
    it is dropped so that a resumed run tries that turn again (errors are often transient: rate
    limits, a missing key fixed since). ``drift`` (a run's
    :class:`~aloe_bench.evaluation.drift.RunDrift`) gives each conversation its drifted persona.
    """
    convs = rebuild_chains(personas, seed, turns, Conversation, keep_failed=keep_failed, repeats=repeats)
    if drift is not None:
        drift.attach(convs)
    return convs


def warn_transcript_gaps(store: RunStore, convs: Sequence[Conversation], turns: int) -> None:
    """Warn when a stored run's transcripts lack turns (a run stopped early, a truncated or torn
    file), with counts, so that nothing computed from them looks whole when it is not."""
    short = [c for c in convs if sum(t.status == "ok" for t in c.turns) < turns]
    if short:
        have = sum(sum(t.status == "ok" for t in c.turns) for c in convs)
        warnings.warn(f"{store.transcripts_path} holds {have} of {len(convs) * turns} turns: {len(short)} of "
                      f"{len(convs)} conversation(s) are incomplete; only the stored replies are used.",
                      AloeBenchWarning, stacklevel=2)
