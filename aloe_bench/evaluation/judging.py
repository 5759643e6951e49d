"""Judging: scoring stored turns, during a run (overlapping the next turn) and afterwards
(``aloe-bench judge``: a stored run judged again into ``judgements/NAME/``).

One word for the act in code: *judge*. A judge protocol produces a verdict per reply; each is
stored as a :class:`~aloe_bench.records.TurnScore` in a score file (``scores.jsonl``); a run
judged again by another judge is a *judgement* (``judgements/NAME/``, with ``judgement.json``
saying what defines it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from aloe_bench.backends.cache import CallCache
from aloe_bench.components import GenerationParams, JudgeRequest
from aloe_bench.errors import AloeBenchError, ResumeConflictError
from aloe_bench.evaluation.config import EvalConfig, diff_configs
from aloe_bench.evaluation.listener import RunListener
from aloe_bench.evaluation.conversations import rebuild_conversations, run_personas, warn_transcript_gaps
from aloe_bench.evaluation.drift import stored_drift
from aloe_bench.evaluation.roles import build_roles, role_specs
from aloe_bench.evaluation.run_folder import JsonlWriter, RunStore, atomic_write_json
from aloe_bench.evaluation.summary import summarize
from aloe_bench.records import Conversation, RunSummary, Turn, TurnScore, Usage, stable_hash, utc_now
from aloe_bench.secrets import redact, redact_text


class TurnJudger:
    """Judges stored turns into a score file; used during a run (overlapping the next turn)
    and by ``aloe-bench judge`` over stored transcripts."""

    def __init__(self, judge, writer: JsonlWriter, judge_spec: str, samples: int, progress: RunListener,
                 usage: Usage, member: str | None = None):
        self.judge, self.writer, self.judge_spec = judge, writer, judge_spec
        self.samples, self.progress, self.usage = samples, progress, usage
        #: The judge-ensemble member this judger is (its records' ``member``); None for one judge.
        self.member = member

    def requests_for(self, conv: Conversation, turn: Turn) -> JudgeRequest:
        """The judge's request for one reply: against the persona played at its turn (the drifted
        one from K on in a drift run), with the dialogue before it."""
        history = conv.history()[: 2 * (turn.turn - 1)]
        return JudgeRequest(persona=conv.persona_at(turn.turn), history=history, user_message=turn.user,
                            reply=turn.reply or "", turn=turn.turn, conversation_id=conv.id)

    async def score(self, items: Sequence[tuple[Conversation, Turn, int]]) -> list[TurnScore]:
        """Score (conversation, turn, sample) items and append them to the score file."""
        if not items:
            return []
        judge = self.judge
        out: list[TurnScore] = []
        by_sample: dict[int, list[tuple[Conversation, Turn]]] = {}
        for conv, turn, sample in items:
            by_sample.setdefault(sample, []).append((conv, turn))
        for sample, pairs in sorted(by_sample.items()):
            if sample and hasattr(judge, "params") and judge.params.seed is not None:
                judge = _with_seed(self.judge, self.judge.params.seed + 1000 * sample)
            verdicts = await judge.score([self.requests_for(c, t) for c, t in pairs])
            if len(verdicts) != len(pairs):
                raise AloeBenchError(f"Judge {self.judge_spec!r} returned {len(verdicts)} verdicts for "
                                     f"{len(pairs)} replies.", "Its protocol must return one verdict per request.")
            for (conv, turn), v in zip(pairs, verdicts):
                status = "ok" if v.score is not None else ("failed" if v.error else "unreadable")
                rec = TurnScore(conversation_id=conv.id, persona_id=conv.persona.id, turn=turn.turn, score=v.score,
                                judge=self.judge_spec, mode=getattr(self.judge, "mode", "turn"),
                                rationale=v.rationale, raw=v.raw, argmax=v.argmax, probs=v.probs,
                                attempts=v.attempts, sample=sample, status=status, error=redact_text(v.error),
                                usage=v.usage, member=self.member, active_persona_id=conv.persona_at(turn.turn).id
                                if conv.drifted is not None else None)
                self.writer.write(rec)
                self.usage.add(v.usage)
                out.append(rec)
            self.progress.scored(len(pairs))
        return out


def _with_seed(judge, seed: int):
    """A shallow copy of ``judge`` whose sampling seed differs (repeated judge samples)."""
    import copy

    clone = copy.copy(judge)
    clone.params = judge.params.model_copy(update={"seed": seed})
    return clone


def unjudged_turns(convs: Sequence[Conversation], scores: Sequence[TurnScore], samples: int, *,
                        rejudge_missing: bool = False, member: str | None = None
                   ) -> list[tuple[Conversation, Turn, int]]:
    """(conversation, turn, sample) triples whose reply exists but still needs a judgement of
    ``member`` (a judge-ensemble member's name; None: the one judge): no score record, or a judge
    call that failed; with ``rejudge_missing`` also the answers that stayed unreadable after the
    re-asks (``scores`` holds the last record of each (conversation, turn, member, sample))."""
    done = ("ok",) if rejudge_missing else ("ok", "unreadable")
    have = {s.key for s in scores if s.status in done}
    return [(c, t, s) for c in convs for t in c.turns if t.status == "ok"
            for s in range(samples) if (c.id, t.turn, member, s) not in have]


class JudgePanel:
    """The judges of a run: one :class:`TurnJudger` (one judge) or one per judge-ensemble member,
    each writing its own records (``member``) into the same score file."""

    def __init__(self, judgers: Sequence[TurnJudger]):
        self.judgers = list(judgers)

    def unjudged(self, convs: Sequence[Conversation], scores: Sequence[TurnScore], samples: int, *,
                 rejudge_missing: bool = False) -> list[list[tuple[Conversation, Turn, int]]]:
        """Per judger, in order, what it still has to judge (:func:`unjudged_turns`)."""
        return [unjudged_turns(convs, scores, samples, rejudge_missing=rejudge_missing, member=j.member)
                for j in self.judgers]

    def every(self, items: Sequence[tuple[Conversation, Turn, int]]) -> list[list[tuple[Conversation, Turn, int]]]:
        """The same items for every judger (new replies: every member judges them)."""
        return [list(items) for _ in self.judgers]

    async def score(self, work: Sequence[Sequence[tuple[Conversation, Turn, int]]]) -> list[TurnScore]:
        """Each judger scores its items (``work``, one list per judger), all at once."""
        import asyncio

        done = await asyncio.gather(*(j.score(items) for j, items in zip(self.judgers, work)))
        return [s for part in done for s in part]


def panel(comps, writer: JsonlWriter, samples: int, progress: RunListener, usage: Usage) -> JudgePanel:
    """The :class:`JudgePanel` of resolved roles (``RunRoles.members``)."""
    return JudgePanel([TurnJudger(protocol, writer, member.spec, samples, progress, usage, member=member.name)
                       for member, protocol in comps.members])


def judgement_identity(judge_spec: str, protocol: str, samples: int, options: dict, judge) -> dict[str, Any]:
    """What defines a re-scoring's scores: judge spec, protocol, mode, samples, the backend's
    identity (what its provider says shapes its outputs: operational options such as retries or
    timeouts are not in it), the protocol's options and sampling parameters, and prompt hashes
    (secrets redacted). Stored as ``judgement.json``."""
    d = judge.describe()
    backend = getattr(judge, "backend", None)
    return redact({"judge": judge_spec, "protocol": protocol, "mode": getattr(judge, "mode", "turn"),
                   "samples": samples, "backend": backend.identity() if backend is not None else options,
                   "kind": d.get("kind", ""), "protocol_options": d.get("options", {}),
                   "prompt_hashes": d.get("prompt_hashes", {})})


def default_judgement_name(judge_spec: str | Sequence[str], protocol: str, mode: str, samples: int,
                           aggregate: str = "mean") -> str:
    """``SPEC[-PROTOCOL]-MODE[-sN]``: the protocol when it is not ``aloe``, samples when above 1;
    for a judge ensemble the members' specs joined by ``+`` (then ``-median`` with that aggregate)."""
    specs = [judge_spec] if isinstance(judge_spec, str) else list(judge_spec)
    parts = (["+".join(specs)] + ([protocol] if protocol != "aloe" else []) + [mode]
             + ([f"s{samples}"] if samples > 1 else [])
             + (["median"] if len(specs) > 1 and aggregate == "median" else []))
    return _slug("-".join(parts))


async def judge_run(run_dir: str | Path, judge_spec: str | Sequence[str], host, *, name: str | None = None,
                  judge_protocol: str = "aloe", judge_mode: str | None = None, judge_options: dict | None = None,
                  judge_params: GenerationParams | None = None, samples: int = 1,
                  cache_path: str | Path | None = None, concurrency: int = 8,
                  progress: RunListener | None = None, rejudge_missing: bool = False,
                  aggregate: str = "mean") -> tuple[RunSummary, Path]:
    """Score a stored run's transcripts with another judge into ``judgements/NAME/`` (resumable:
    only replies without a score, or whose judge call failed, are judged). A re-scoring under an
    existing name with a different identity (:func:`judgement_identity`) is refused.

    ``judge_spec`` may list two or more specs: a judge ensemble (members ``j1``, ``j2``, ... with
    the same protocol, options and parameters; ``aggregate``: ``mean`` or ``median`` of their
    scores), whose summary reports each member and their agreement (docs/validity.md)."""
    from aloe_bench.evaluation.config import JudgeMember

    specs = [judge_spec] if isinstance(judge_spec, str) else list(judge_spec)
    base = RunStore(run_dir)
    spec = base.read_spec()
    old_cfg = EvalConfig.model_validate({**spec.config})
    cfg = old_cfg.model_copy(update={"judge": specs[0], "judge_protocol": judge_protocol,
                                     "judge_mode": judge_mode or old_cfg.judge_mode,
                                     "judge_options": judge_options or {},
                                     "judge_params": judge_params or old_cfg.judge_params,
                                     "judge_samples": samples, "concurrency": concurrency,
                                     "judges": [JudgeMember(spec=s) for s in specs] if len(specs) > 1 else [],
                                     "judge_aggregate": aggregate})
    cfg.check_ensemble_settings()
    name = name or default_judgement_name(specs if len(specs) > 1 else specs[0], judge_protocol, cfg.judge_mode,
                                          samples, aggregate)
    store = RunStore(run_dir, scores_name=name)
    personas = run_personas(base, cfg, host)
    drift = stored_drift(base, spec, cfg, host, personas)
    with store.lock():
        turns, _ = base.read_turns()
        convs = rebuild_conversations(personas, cfg.seed, turns, keep_failed=True, drift=drift, repeats=cfg.repeats)
        warn_transcript_gaps(base, convs, cfg.turns)
        cache = CallCache(cache_path) if cache_path else None
        try:
            comps = build_roles(cfg, host, cache, need_model=False, need_user=False, need_profile_judge=False)
            try:
                identities = [judgement_identity(m.spec, m.protocol, samples, m.options, protocol)
                              for m, protocol in comps.members]
                identity = identities[0] if not cfg.judges else {
                    "members": [{"name": m.name, **ident} for (m, _), ident in zip(comps.members, identities)],
                    "aggregate": aggregate}
                check_judgement(store, identity)
                existing, _ = store.read_scores()
                progress = progress or RunListener()
                writer = store.score_writer()
                try:
                    judges = panel(comps, writer, samples, progress, Usage())
                    work = judges.unjudged(convs, existing, samples, rejudge_missing=rejudge_missing)
                    progress.start(sum(len(w) for w in work), 0, len(convs))
                    await judges.score(work)
                finally:
                    writer.close()
            finally:
                comps.close()
        finally:
            if cache is not None:
                cache.close()
        rspec = spec.model_copy(update={"components": [c for c in spec.components if not is_judge_role(c.role)]
                                        + role_specs(cfg, comps)})
        # The run's profile scores (if any) do not depend on the judge: they are the run's own.
        probes = base.read_probes(warn=False)[0] if cfg.profile_source is not None else None
        summary = summarize(cfg, rspec, convs, store.read_scores(warn=False)[0], store.usage(), host, str(base.dir),
                            probes=probes)
        store.write_summary(summary)
    return summary, store.scores_dir


def is_judge_role(role: str) -> bool:
    """True for the judge's role in run.json's components: ``judge``, or ``judge:NAME`` (a
    member of a judge ensemble other than the first)."""
    return role == "judge" or role.startswith("judge:")


def check_judgement(store: RunStore, identity: dict[str, Any]) -> None:
    """Write judgement.json for a new re-scoring; refuse one whose stored identity differs."""
    path = store.judgement_path
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8")).get("identity", {})
        except (OSError, ValueError) as exc:
            raise AloeBenchError(f"{path} is unreadable ({type(exc).__name__}).",
                                 "Delete that re-scoring folder or choose another --name.") from None
        if stable_hash(old) != stable_hash(identity):
            diffs = diff_configs(_flat(old), _flat(identity))
            raise ResumeConflictError(
                f"{store.scores_dir} holds a re-scoring with a different identity ({'; '.join(diffs)}).",
                "Choose another --name for this re-scoring, or repeat the stored settings.")
        return
    if store.scores_path.is_file():  # made before judgement.json existed: its identity is unknown
        raise ResumeConflictError(f"{store.scores_dir} holds a re-scoring of unknown settings.",
                                  "Choose another --name for this re-scoring.")
    atomic_write_json(path, {"schema_version": 1, "identity": identity, "identity_hash": stable_hash(identity),
                             "created": utc_now()})


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:80] or "judge"
