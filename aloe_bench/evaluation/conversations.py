"""Conversations of a run: its personas, and conversations rebuilt from stored turns."""

from __future__ import annotations

import warnings
from typing import Sequence

from aloe_bench.errors import AloeBenchWarning
from aloe_bench.evaluation.config import EvalConfig
from aloe_bench.evaluation.run_folder import RunStore
from aloe_bench.personas import load_personas
from aloe_bench.records import Conversation, Persona, Turn


def select_personas(config: EvalConfig, host) -> list[Persona]:
    """The run's personas: the source, cut to ``limit``."""
    personas = load_personas(config.personas, host)
    return personas[: config.limit] if config.limit else personas


def run_personas(store: RunStore, config: EvalConfig, host) -> list[Persona]:
    """The personas of a stored run: its own personas.jsonl, else (runs made before it was
    stored) its persona source, cut to its limit."""
    stored = store.read_personas()
    return stored if stored is not None else select_personas(config, host)


def rebuild_conversations(personas: Sequence[Persona], seed: int, turns: Sequence[Turn], *,
                          keep_failed: bool = False) -> list[Conversation]:
    """Conversations with their stored turns, in persona order; turns after a gap are ignored.

    A failed turn (simulator or model error) ends the conversation when ``keep_failed``; otherwise
    it is dropped so that a resumed run tries that turn again (errors are often transient: rate
    limits, a missing key fixed since).
    """
    by_conv: dict[str, dict[int, Turn]] = {}
    for t in turns:
        by_conv.setdefault(t.conversation_id, {})[t.turn] = t
    convs = []
    for p in personas:
        cid = Conversation.make_id(p.id, seed)
        stored = by_conv.get(cid, {})
        conv = Conversation(id=cid, persona=p)
        k = 1
        while k in stored:
            if stored[k].status != "ok":
                if keep_failed:
                    conv.turns.append(stored[k])
                break
            conv.turns.append(stored[k])
            k += 1
        convs.append(conv)
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
