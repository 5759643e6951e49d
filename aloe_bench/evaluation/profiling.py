"""Profile inference during a run: what the model under test has understood about its user.

After every turn, each conversation's inferred profile is scored against the persona's golden
facts by a coverage judge (a judge registered with ``task="coverage"``) and appended to
``probes.jsonl`` (:class:`~aloe_bench.records.ProbeRecord`). The profile comes from

- a **probe** (``--profile-probe``): a side call to the model under test with the dialogue so far,
  exactly as the model saw it, plus one final user message (``prompts/profile_probe.v1.txt``)
  asking what it has learned about the user inside ``<profile>...</profile>``. The answer never
  enters the dialogue: the next turn's context is the same as without the probe;
- the **reply** (``--reply-format rlpa``): the ``<profile>`` section the model wrote with its reply.

Like judging, scoring turn k runs in the background while turn k+1 plays. Local backends that
gain from batches get one probe batch and one judge batch per turn; with API backends each
conversation's probe goes on to its count as soon as it returns. Calls go through the call cache
and are counted per role (``probe``, ``profile_judge``). A failed probe or coverage-judge call is
recorded and asked again on ``--resume`` (a stored probe answer is reused, not asked again).

In a run with a persona drift (``--drift-at K``, docs/drift.md) each profile is scored against the
persona played at its turn and, as ``ProbeRecord.other``, against the conversation's other persona
(PF1 against the old and the new profile at every turn); both counts go through the same judge, cache
and resume, and a resumed record keeps the count that succeeded and asks only the one that failed.
"""

from __future__ import annotations

import asyncio
from typing import Any, Sequence

from aloe_bench.errors import AloeBenchError
from aloe_bench.evaluation.listener import RunListener
from aloe_bench.evaluation.run_folder import JsonlWriter
from aloe_bench.prompts import load_prompt, prompt_hash
from aloe_bench.records import Conversation, Message, Persona, ProbeRecord, ProbeScore, Turn, Usage, utc_now
from aloe_bench.secrets import redact_text

#: The probe's question (a versioned prompt; its hash goes into run.json).
PROBE_PROMPT = "profile_probe.v1"
#: Text of the probe question by which tests and scripted servers recognise a probe call.
PROBE_MARKER = "what have you learned about me so far"

#: One item to score: a conversation, one of its turns, and the turn's last stored record (None
#: when it has none yet).
ProbeItem = tuple[Conversation, Turn, "ProbeRecord | None"]


def probe_question() -> str:
    """The probe's question, as the final user message of a probe call."""
    return load_prompt(PROBE_PROMPT).strip()


def probe_messages(conv: Conversation, turn: int) -> list[Message]:
    """The probe call after ``turn``: the dialogue up to and including that turn, as the model
    under test saw it, plus the probe question."""
    return conv.history()[: 2 * turn] + [Message(role="user", content=probe_question())]


def describe_profile_measurement(source: str, golden, probe_params: Any = None) -> dict[str, Any]:
    """What run.json records about the profile measurement (``RunSpec.profile``)."""
    out: dict[str, Any] = {"source": source}
    if source == "probe":
        out["probe_prompt"] = PROBE_PROMPT
        out["probe_prompt_hash"] = prompt_hash(PROBE_PROMPT)
        if probe_params is not None:
            out["probe_params"] = probe_params.model_dump(mode="json")
    out["facts"] = golden.describe()
    return out


def unscored_profiles(convs: Sequence[Conversation], stored: Sequence[ProbeRecord], *,
                      rejudge_missing: bool = False) -> list[ProbeItem]:
    """(conversation, turn, last record) of every successful turn whose profile still needs a
    score: no record, or a failed probe or coverage-judge call; with ``rejudge_missing`` also
    the counts that stayed unreadable after the re-asks (``stored``: the last record of each
    (conversation, turn))."""
    last = {(r.conversation_id, r.turn): r for r in stored}
    out = []
    for c in convs:
        for t in c.turns:
            if t.status != "ok":
                continue
            r = last.get((c.id, t.turn))
            if r is None or not r.done or (rejudge_missing and r.status == "unreadable"):
                out.append((c, t, r))
    return out


def _other_persona(conv: Conversation, turn: int) -> Persona | None:
    """In a drift run, the persona not played at ``turn`` (the drifted one before K, the starting
    one from K on); None without a drift."""
    if conv.drifted is None or conv.drift_at is None:
        return None
    return conv.persona if turn >= conv.drift_at else conv.drifted


class ProfileScorer:
    """Scores the inferred profiles of turns into ``probes.jsonl``.

    ``source``: ``probe`` (ask ``model`` with ``params``) or ``reply`` (read ``Turn.profile``);
    ``judge``: a coverage judge (:class:`~aloe_bench.components.CoverageJudge`); ``golden``: the
    run's golden facts (``facts(persona)``, ``origin(persona)``); ``usage``: the run's tallies,
    updated under ``probe`` and ``profile_judge``; ``pipelined``: API backends (one chain per
    conversation) rather than one batch per role."""

    def __init__(self, source: str, judge, golden, writer: JsonlWriter, progress: RunListener,
                 usage: dict[str, Usage], *, model=None, params=None, judge_spec: str = "",
                 pipelined: bool = False):
        if source not in ("probe", "reply"):
            raise ValueError(f"source must be probe or reply, not {source!r}")
        if source == "probe" and (model is None or params is None):
            raise ValueError("a probe needs the model under test and its sampling parameters")
        self.source, self.judge, self.golden, self.writer = source, judge, golden, writer
        self.progress, self.usage, self.model, self.params = progress, usage, model, params
        self.judge_spec, self.pipelined = judge_spec, pipelined
        for role in ("probe", "profile_judge"):
            usage.setdefault(role, Usage())

    async def score(self, items: Sequence[ProbeItem]) -> list[ProbeRecord]:
        """Score ``items`` and append one record per item; returns the records in order."""
        if not items:
            return []
        if self.pipelined:
            groups = await asyncio.gather(*(self._score_group([item]) for item in items))
            return [r for group in groups for r in group]
        return await self._score_group(list(items))

    async def _score_group(self, items: list[ProbeItem]) -> list[ProbeRecord]:
        n = len(items)
        raws: list[str] = [""] * n
        usages: list[dict[str, Usage]] = [{} for _ in range(n)]
        failed: dict[int, str] = {}
        ask = []
        for i, (conv, turn, prev) in enumerate(items):
            if self.source == "probe":
                if prev is not None and prev.status != "probe_failed":
                    raws[i] = prev.raw  # the model answered: only the count(s) are asked again
                else:
                    ask.append(i)
        if ask:
            replies = await self.model.agenerate([probe_messages(items[i][0], items[i][1].turn) for i in ask],
                                                 self.params)
            if len(replies) != len(ask):
                raise AloeBenchError(f"The model under test returned {len(replies)} probe answers for {len(ask)} "
                                     "probes.", "Its backend must return one reply per request.")
            for i, rep in zip(ask, replies):
                usages[i]["probe"] = rep.usage()
                self.usage["probe"].add(rep.usage())
                if rep.ok:
                    raws[i] = rep.text
                else:
                    failed[i] = redact_text(rep.error) or "the probe call failed"
            self.progress.advance("probe", len(ask))

        inferred: list[list[str] | None] = [None] * n
        malformed: list[str | None] = [None] * n
        for i, (conv, turn, _prev) in enumerate(items):
            if i in failed:
                continue
            if self.source == "reply":
                inferred[i] = list(turn.profile) if turn.profile is not None else None
                if turn.profile is None:
                    malformed[i] = turn.malformed or "no <profile>...</profile> section"
            else:
                from aloe_bench.profile import parse_profile

                parsed = parse_profile(raws[i])
                inferred[i], malformed[i] = parsed.profile, parsed.malformed

        # Whom each profile is scored against: the persona played at its turn and, in a drift run,
        # the conversation's other persona too (PF1 against the old and the new profile).
        active = [conv.persona_at(turn.turn) for conv, turn, _p in items]
        others = [_other_persona(conv, turn.turn) for conv, turn, _p in items]
        golden = [list(self.golden.facts(p)) for p in active]
        # A count already made for a profile (a resumed record whose other count failed) is kept.
        keep_main = [prev is not None and prev.status == "ok" and prev.inferred == inferred[i]
                     for i, (_c, _t, prev) in enumerate(items)]
        keep_other = [prev is not None and prev.other is not None and prev.other.status == "ok"
                      and prev.inferred == inferred[i] and others[i] is not None
                      and prev.other.persona_id == others[i].id for i, (_c, _t, prev) in enumerate(items)]
        asks = [(i, "main", active[i]) for i in range(n) if i not in failed and inferred[i] and not keep_main[i]]
        asks += [(i, "other", others[i]) for i in range(n)
                 if others[i] is not None and i not in failed and inferred[i] and not keep_other[i]]
        verdicts: dict[tuple[int, str], Any] = {}
        if asks:
            from aloe_bench.components import CoverageRequest

            requests = [CoverageRequest(persona=persona, golden=list(self.golden.facts(persona)), inferred=inferred[i],
                                        turn=items[i][1].turn, conversation_id=items[i][0].id)
                        for i, _which, persona in asks]
            answers = await self.judge.count(requests)
            if len(answers) != len(requests):
                raise AloeBenchError(f"Coverage judge {self.judge_spec!r} returned {len(answers)} counts for "
                                     f"{len(requests)} profiles.", "Its protocol must return one verdict per request.")
            verdicts = {(i, which): a for (i, which, _p), a in zip(asks, answers)}

        out = []
        for i, (conv, turn, prev) in enumerate(items):
            rec = (self._kept(prev, raws[i], usages[i]) if keep_main[i] else
                   self._record(conv, turn, raws[i], inferred[i], malformed[i], failed.get(i), golden[i],
                                verdicts.get((i, "main")), usages[i]))
            if conv.drifted is not None:
                other = None
                if others[i] is not None and i not in failed:
                    other = prev.other.model_copy(update={"usage": Usage()}) if keep_other[i] else \
                        self._other(others[i], inferred[i], verdicts.get((i, "other")))
                rec = rec.model_copy(update={"active_persona_id": active[i].id, "other": other})
            out.append(rec)
        for rec in out:
            self.writer.write(rec)
        self.progress.probed(len(out))
        return out

    def _kept(self, prev: ProbeRecord, raw: str, usage: dict[str, Usage]) -> ProbeRecord:
        """``prev`` written again with its count kept (no call, so no profile-judge usage)."""
        return prev.model_copy(update={"raw": raw, "usage": usage, "error": None, "created": utc_now()})

    def _other(self, persona: Persona, inferred: list[str] | None, verdict) -> ProbeScore:
        """The second scoring of a drift run: the profile against ``persona``'s golden facts."""
        from aloe_bench.profile import profile_f1

        golden = self.golden.facts(persona)
        base: dict[str, Any] = dict(persona_id=persona.id, golden=len(golden), facts_origin=self.golden.origin(persona))
        if inferred is None:
            return ProbeScore(**base, status="malformed", precision=0.0, recall=0.0, f1=0.0)
        if verdict is None:  # an empty profile covers nothing
            s = profile_f1(0, 0, len(golden))
            return ProbeScore(**base, covered=0, precision=s.precision, recall=s.recall, f1=s.f1)
        self.usage["profile_judge"].add(verdict.usage)
        base.update(judge_raw=verdict.raw, attempts=verdict.attempts, usage=verdict.usage)
        if verdict.covered is None:
            if verdict.error:
                return ProbeScore(**base, status="judge_failed", error=redact_text(verdict.error))
            return ProbeScore(**base, status="unreadable")
        s = profile_f1(verdict.covered, len(inferred), len(golden))
        return ProbeScore(**base, covered=s.covered, precision=s.precision, recall=s.recall, f1=s.f1)

    def _record(self, conv: Conversation, turn: Turn, raw: str, inferred: list[str] | None, malformed: str | None,
                probe_error: str | None, golden: list[str], verdict, usage: dict[str, Usage]) -> ProbeRecord:
        from aloe_bench.profile import profile_f1

        base: dict[str, Any] = dict(conversation_id=conv.id, persona_id=conv.persona.id, turn=turn.turn,
                                    source=self.source, raw=raw, golden=len(golden),
                                    facts_origin=self.golden.origin(conv.persona_at(turn.turn)), usage=usage)
        if probe_error is not None:
            return ProbeRecord(**base, status="probe_failed", error=probe_error)
        if inferred is None:
            return ProbeRecord(**base, status="malformed", malformed=malformed, precision=0.0, recall=0.0, f1=0.0)
        if verdict is None:  # an empty profile covers nothing: no call needed
            s = profile_f1(0, 0, len(golden))
            return ProbeRecord(**base, status="ok", inferred=inferred, covered=0, precision=s.precision,
                               recall=s.recall, f1=s.f1)
        usage["profile_judge"] = verdict.usage
        self.usage["profile_judge"].add(verdict.usage)
        base.update(inferred=inferred, judge_raw=verdict.raw, attempts=verdict.attempts)
        if verdict.covered is None:
            if verdict.error:
                return ProbeRecord(**base, status="judge_failed", error=redact_text(verdict.error))
            return ProbeRecord(**base, status="unreadable")
        s = profile_f1(verdict.covered, len(inferred), len(golden))
        return ProbeRecord(**base, status="ok", covered=s.covered, precision=s.precision, recall=s.recall, f1=s.f1)
