"""From stored tree turns to what a generate run hands on: conversations along their continued
branch, TRL-ready SFT and DPO rows, and stats.json.

Rows (one per turn whose two verdicts agree on a winner)::

    sft.jsonl  {"prompt": [...], "completion": [{"role": "assistant", "content": CHOSEN}],
                "persona_id", "conversation_id", "turn", "schema_version"}
    dpo.jsonl  {"prompt": [...], "chosen": [{"role": "assistant", "content": CHOSEN}],
                "rejected": [{"role": "assistant", "content": REJECTED}], same columns}

``prompt`` is the dialogue along the continued branch before the turn, then the turn's user
message, as role/content messages without a system message (ALOE's models see none).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from aloe_bench.evaluation.conversations import rebuild_chains
from aloe_bench.records import SCHEMA_VERSION, GenerationStats, Message, Persona, TreeTurn, Usage


@dataclass
class Branch:
    """One generated conversation: its persona and its stored turns in order (a failed turn,
    if kept, is the last one)."""

    id: str
    persona: Persona
    turns: list[TreeTurn] = field(default_factory=list)

    @property
    def closed(self) -> bool:
        """True when the last turn failed."""
        return bool(self.turns) and self.turns[-1].status != "ok"

    def history(self, upto: int | None = None) -> list[Message]:
        """The dialogue along the continued branch (user message, continued reply) of the ok turns
        before turn ``upto`` (all of them when None)."""
        out: list[Message] = []
        for t in self.turns:
            if t.status != "ok" or (upto is not None and t.turn >= upto):
                break
            out.append(Message(role="user", content=t.user))
            out.append(Message(role="assistant", content=t.reply(t.continued) or ""))
        return out


def rebuild_branches(personas: Sequence[Persona], seed: int, trees: Sequence[TreeTurn], *,
                     keep_failed: bool = False) -> list[Branch]:
    """Conversations with their stored turns, in persona order; turns after a gap are ignored.
    A failed turn ends its conversation when ``keep_failed``; otherwise it is dropped so that a
    resumed run plays that turn again (:func:`aloe_bench.evaluation.conversations.rebuild_chains`)."""
    return rebuild_chains(personas, seed, trees, Branch, keep_failed=keep_failed)


def _message(content: str) -> list[dict]:
    return [{"role": "assistant", "content": content}]


def export_rows(branches: Sequence[Branch]) -> tuple[list[dict], list[dict]]:
    """The sft.jsonl and dpo.jsonl rows of every turn with a consistent verdict, in
    conversation and turn order."""
    sft, dpo = [], []
    for b in branches:
        for t in b.turns:
            if t.status != "ok" or t.chosen is None:
                continue
            rejected = "unhinted" if t.chosen == "hinted" else "hinted"
            prompt = [m.model_dump() for m in b.history(upto=t.turn)] + [{"role": "user", "content": t.user}]
            cols = {"persona_id": t.persona_id, "conversation_id": t.conversation_id, "turn": t.turn,
                    "schema_version": SCHEMA_VERSION}
            sft.append({"prompt": prompt, "completion": _message(t.reply(t.chosen) or ""), **cols})
            dpo.append({"prompt": prompt, "chosen": _message(t.reply(t.chosen) or ""),
                        "rejected": _message(t.reply(rejected) or ""), **cols})
    return sft, dpo


def words(text: str | None) -> int:
    """Words in ``text`` (whitespace-separated)."""
    return len(re.findall(r"\S+", text or ""))


def _mean(values: list[int]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def compute_stats(branches: Sequence[Branch], turns: int, usage: dict[str, Usage], *,
                  stopped: str | None = None, sft_rows: int = 0, dpo_rows: int = 0) -> GenerationStats:
    """stats.json of a run from its conversations rebuilt with their failed last turn kept."""
    ok = [t for b in branches for t in b.turns if t.status == "ok"]
    consistent = [t for t in ok if t.agreement == "consistent"]
    ties = sum(t.agreement == "tie" for t in ok)
    failed: dict[str, int] = {}
    errors: dict[str, str] = {}
    cut = unplayed = 0
    for b in branches:
        last = b.turns[-1] if b.turns else None
        if last is not None and last.status != "ok":
            cut += 1
            failed[last.status] = failed.get(last.status, 0) + 1
            role = last.status.removesuffix("_failed")
            if last.error and role not in errors:
                errors[role] = last.error
        elif len(b.turns) < turns:
            unplayed += 1
    verdicts = [v for t in ok for v in t.verdicts]
    positional = [v for v in verdicts if v.winner in ("A", "B")]
    chosen = [words(t.reply(t.chosen)) for t in consistent]
    rejected = [words(t.reply("unhinted" if t.chosen == "hinted" else "hinted")) for t in consistent]
    incomplete = bool(cut or unplayed)
    return GenerationStats(
        status="incomplete" if incomplete else "complete", stopped=stopped if incomplete else None,
        conversations=len(branches), turns=turns, pairs=len(ok), consistent=len(consistent), ties=ties,
        inconsistent=len(ok) - len(consistent) - ties,
        unreadable_verdicts=sum(v.picks is None for v in verdicts),
        order_agreement=round((len(consistent) + ties) / len(ok), 4) if ok else None,
        hinted_win_rate=round(sum(t.chosen == "hinted" for t in consistent) / len(consistent), 4) if consistent else None,
        first_position_rate=round(sum(v.winner == "A" for v in positional) / len(positional), 4) if positional else None,
        chosen_words=_mean(chosen), rejected_words=_mean(rejected),
        hinted_words=_mean([words(t.hinted) for t in ok]), unhinted_words=_mean([words(t.unhinted) for t in ok]),
        sft_rows=sft_rows, dpo_rows=dpo_rows, failed=failed, cut_short=cut, unplayed=unplayed, errors=errors,
        usage=usage, spend=round(sum(u.cost for u in usage.values()), 6))
