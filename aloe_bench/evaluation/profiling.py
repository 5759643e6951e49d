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
"""

from __future__ import annotations

import asyncio
from typing import Any, Sequence

from aloe_bench.errors import AloeBenchError
from aloe_bench.evaluation.listener import RunListener
from aloe_bench.evaluation.run_folder import JsonlWriter
from aloe_bench.prompts import load_prompt, prompt_hash
from aloe_bench.records import Conversation, Message, ProbeRecord, Turn, Usage
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
                if prev is not None and prev.status in ("judge_failed", "unreadable"):
                    raws[i] = prev.raw  # the model answered: only the count is asked again
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

        golden = [list(self.golden.facts(conv.persona)) for conv, _t, _p in items]
        ask_judge = [i for i in range(n) if i not in failed and inferred[i]]
        verdicts: dict[int, Any] = {}
        if ask_judge:
            from aloe_bench.components import CoverageRequest

            requests = [CoverageRequest(persona=items[i][0].persona, golden=golden[i], inferred=inferred[i],
                                        turn=items[i][1].turn, conversation_id=items[i][0].id) for i in ask_judge]
            answers = await self.judge.count(requests)
            if len(answers) != len(requests):
                raise AloeBenchError(f"Coverage judge {self.judge_spec!r} returned {len(answers)} counts for "
                                     f"{len(requests)} profiles.", "Its protocol must return one verdict per request.")
            verdicts = dict(zip(ask_judge, answers))

        out = []
        for i, (conv, turn, _prev) in enumerate(items):
            out.append(self._record(conv, turn, raws[i], inferred[i], malformed[i], failed.get(i), golden[i],
                                    verdicts.get(i), usages[i]))
        for rec in out:
            self.writer.write(rec)
        self.progress.probed(len(out))
        return out

    def _record(self, conv: Conversation, turn: Turn, raw: str, inferred: list[str] | None, malformed: str | None,
                probe_error: str | None, golden: list[str], verdict, usage: dict[str, Usage]) -> ProbeRecord:
        from aloe_bench.profile import profile_f1

        base: dict[str, Any] = dict(conversation_id=conv.id, persona_id=conv.persona.id, turn=turn.turn,
                                    source=self.source, raw=raw, golden=len(golden),
                                    facts_origin=self.golden.origin(conv.persona), usage=usage)
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
