"""Is a run complete? What a run folder is missing, counted by kind.

A run is *complete* when nothing is left that ``--resume`` could do: every conversation has all
its turns, every reply has a score record for every judge sample, no judge call failed and, in a
run with a profile measurement, every reply's profile is scored (no probe or coverage-judge call
failed).
Permanent outcomes (a judge answer still unreadable after the re-asks) are counted but do not
make a run incomplete. Everything else (calls that failed after their retries, conversations
cut by a failure, a run stopped early or a truncated transcript) makes it *incomplete*: such a
run is never shown as a finished one.
"""

from __future__ import annotations

from typing import Sequence

from aloe_bench.records import Conversation, ProbeRecord, RunFailures, TurnScore


def assess(conversations: Sequence[Conversation], scores: Sequence[TurnScore], turns: int,
           samples: int = 1, probes: Sequence[ProbeRecord] | None = None,
           members: Sequence[str | None] = (None,)) -> RunFailures:
    """Count what ``conversations`` (rebuilt with their failed last turn kept) and ``scores``
    (one record per (conversation, turn, member, sample), the last one) are missing; with
    ``probes`` (a run with a profile measurement: the last record per (conversation, turn)) also
    the replies whose profile is not scored. ``members``: the judge-ensemble members' names
    (every reply needs a record of each), or ``(None,)`` for one judge. Score counts are per
    judgement: a reply counts once per member and sample."""
    out = RunFailures()
    if probes is not None:
        out.probes = {"failed": 0, "unreadable": 0, "unscored": 0}
        by_turn = {(r.conversation_id, r.turn): r for r in probes}
    by_key = {s.key: s for s in scores}
    for conv in conversations:
        ok_turns = [t for t in conv.turns if t.status == "ok"]
        last = conv.turns[-1] if conv.turns else None
        if last is not None and last.status != "ok":
            out.conversations += 1
            role = "user" if last.status == "user_failed" else "model"
            out.turns[role] = out.turns.get(role, 0) + 1
            if last.error and role not in out.errors:
                out.errors[role] = last.error
        elif len(ok_turns) < turns:
            out.unplayed += 1
        for t in ok_turns:
            for member, sample in ((m, k) for m in members for k in range(samples)):
                s = by_key.get((conv.id, t.turn, member, sample))
                if s is None:
                    out.scores["unscored"] += 1
                elif s.status == "failed":
                    out.scores["failed"] += 1
                    if s.error and "judge" not in out.errors:
                        out.errors["judge"] = s.error
                elif s.status == "unreadable":
                    out.scores["unreadable"] += 1
            if probes is not None:
                r = by_turn.get((conv.id, t.turn))
                other = r.other if r is not None else None  # the second scoring of a drift run
                if r is None:
                    out.probes["unscored"] += 1
                elif r.status in ("probe_failed", "judge_failed") or (other is not None and not other.done):
                    out.probes["failed"] += 1
                    role = "probe" if r.status == "probe_failed" else "profile_judge"
                    error = r.error or (other.error if other is not None else None)
                    if error and role not in out.errors:
                        out.errors[role] = error
                elif r.status == "unreadable" or (other is not None and other.status == "unreadable"):
                    out.probes["unreadable"] += 1
    return out


def status_of(failures: RunFailures) -> str:
    """``incomplete`` when ``--resume`` could still do work, else ``complete``."""
    return "incomplete" if failures.retryable else "complete"
