"""The conversation engine: turn-synchronous, batched, concurrent, cached, resumable.

At turn k every live conversation needs its user message, then its reply, then its score.
Local backends that gain from batches get all user messages of turn k as one batch and all
replies as one batch (one padded forward pass each); with API backends every conversation is in
flight at once and asks for its reply as soon as its own user message exists. Judging of turn k
runs as a background task that overlaps turn k+1. Wall time therefore approaches
K x (one simulator call + one model call).

Every record is appended to the run folder as soon as it exists, so a killed run resumes with
only the missing calls; finished conversations and scored turns are never redone.
"""

from __future__ import annotations

import asyncio
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from aloe_bench import __version__
from aloe_bench.cache import CachedModel, CallCache
from aloe_bench.components import GenerationParams, JudgeRequest, SimRequest
from aloe_bench.config import EvalConfig, diff_configs  # noqa: F401  (EvalConfig is part of this module's API)
from aloe_bench.errors import AloeBenchError, AloeBenchWarning, ConfigError, ResumeConflictError
from aloe_bench.events import RunFinished, RunStarted, TurnFinished, TurnScored
from aloe_bench.metrics import RunData
from aloe_bench.personas import load_personas
from aloe_bench.records import (ComponentSpec, Conversation, Message, Persona, RunSpec, RunSummary, Turn,
                                TurnScore, Usage, stable_hash, utc_now)
from aloe_bench.resolve import resolve_model
from aloe_bench.run_status import assess, status_of
from aloe_bench.secrets import redact, redact_text
from aloe_bench.store import JsonlWriter, RunStore, atomic_write_json


class Progress:
    """Receives progress updates from the engine. The CLI draws them; the default ignores them."""

    def start(self, total_turns: int, done_turns: int, conversations: int) -> None: ...
    def turn(self, turn: int, live: int, failed: int) -> None: ...
    def advance(self, role: str, n: int = 1) -> None: ...
    def scored(self, n: int) -> None: ...
    def usage(self, role: str, usage: Usage, calls: int, hits: int) -> None: ...


@dataclass
class Components:
    """The resolved components of a run."""

    model: CachedModel
    simulator: Any
    judge: Any
    backends: list[CachedModel] = field(default_factory=list)

    @property
    def pipelined(self) -> bool:
        """True when neither the simulator's backend nor the model gains from whole batches."""
        sim_backend = getattr(self.simulator, "backend", None)
        return not (self.model.prefers_batches or sim_backend is None or sim_backend.prefers_batches)

    def close(self) -> None:
        """Close every backend once."""
        for b in self.backends:
            b.close()


class BackendPool:
    """One backend instance per (spec, options), shared by every role that names it."""

    def __init__(self, host, cache: CallCache | None, concurrency: int):
        self.host, self.cache, self.concurrency = host, cache, concurrency
        self._made: dict[str, CachedModel] = {}

    def get(self, spec: str, options: dict[str, Any]) -> CachedModel:
        key = stable_hash([spec, options])
        if key not in self._made:
            inner = resolve_model(spec, self.host, **options)
            inner.concurrency = self.concurrency
            self._made[key] = CachedModel(inner, self.cache)
        return self._made[key]

    def all(self) -> list[CachedModel]:
        return list(self._made.values())


def build_components(config: EvalConfig, host, cache: CallCache | None, *, need_model: bool = True,
                     need_user: bool = True, need_judge: bool = True) -> Components:
    """Resolve model, simulator and judge (sharing backends that name the same spec)."""
    pool = BackendPool(host, cache, config.concurrency)
    model = pool.get(config.model, config.model_options) if need_model else None
    simulator = judge = None
    if need_user:
        sim_factory = host.simulators.get(config.user_protocol).factory
        simulator = sim_factory(pool.get(config.user, config.user_options), params=config.user_params)
    if need_judge:
        judge_factory = host.judges.get(config.judge_protocol).factory
        judge = judge_factory(pool.get(config.judge, config.judge_options), mode=config.judge_mode,
                              params=config.judge_params)
    return Components(model=model, simulator=simulator, judge=judge, backends=pool.all())


def component_specs(config: EvalConfig, comps: Components) -> list[ComponentSpec]:
    """What run.json records about each component."""
    out = []
    if comps.model is not None:
        out.append(ComponentSpec(role="model", spec=config.model, options=redact(config.model_options),
                                 identity=redact(comps.model.identity())))
    if comps.simulator is not None:
        d = comps.simulator.describe()
        out.append(ComponentSpec(role="user", spec=config.user, kind=d.get("kind", ""), options=d.get("options", {}),
                                 prompt_hashes=d.get("prompt_hashes", {}), identity=redact(comps.simulator.backend.identity())
                                 if hasattr(comps.simulator, "backend") else {}))
    if comps.judge is not None:
        d = comps.judge.describe()
        out.append(ComponentSpec(role="judge", spec=config.judge, kind=d.get("kind", ""), options=d.get("options", {}),
                                 prompt_hashes=d.get("prompt_hashes", {}), identity=redact(comps.judge.backend.identity())
                                 if hasattr(comps.judge, "backend") else {}))
    return out


def select_personas(config: EvalConfig, host) -> list[Persona]:
    """The run's personas: the source, cut to ``limit``."""
    personas = load_personas(config.personas, host)
    return personas[: config.limit] if config.limit else personas


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


class Scorer:
    """Judges stored turns into a score file; used during a run (overlapping the next turn)
    and by ``aloe-bench judge`` over stored transcripts."""

    def __init__(self, judge, writer: JsonlWriter, judge_spec: str, samples: int, progress: Progress,
                 usage: Usage):
        self.judge, self.writer, self.judge_spec = judge, writer, judge_spec
        self.samples, self.progress, self.usage = samples, progress, usage

    def requests_for(self, conv: Conversation, turn: Turn) -> JudgeRequest:
        history = conv.history()[: 2 * (turn.turn - 1)]
        return JudgeRequest(persona=conv.persona, history=history, user_message=turn.user,
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
                                usage=v.usage)
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


def missing_score_items(convs: Sequence[Conversation], scores: Sequence[TurnScore], samples: int, *,
                        rejudge_missing: bool = False) -> list[tuple[Conversation, Turn, int]]:
    """(conversation, turn, sample) triples whose reply exists but still needs a judgement: no
    score record, or a judge call that failed; with ``rejudge_missing`` also the answers that
    stayed unreadable after the re-asks (``scores`` holds the last record of each triple)."""
    done = ("ok",) if rejudge_missing else ("ok", "unreadable")
    have = {(s.conversation_id, s.turn, s.sample) for s in scores if s.status in done}
    return [(c, t, s) for c in convs for t in c.turns if t.status == "ok"
            for s in range(samples) if (c.id, t.turn, s) not in have]


def summarize(config: EvalConfig, spec: RunSpec, convs: list[Conversation], scores: list[TurnScore],
              usage: dict[str, Usage], host, run_dir: str) -> RunSummary:
    """Compute every registered metric, the run's status and failure counts, and build its summary.

    ``convs`` are rebuilt with their failed last turns kept and ``scores`` hold one record per
    (conversation, turn, sample). A plugin metric that raises becomes a warning and an
    ``{"error": ...}`` entry under its name in ``extra``: one broken plugin never costs a run.
    """
    data = RunData(conversations=convs, scores=scores, turns=config.turns)
    align = host.metrics.get("alignment").factory()(data, resamples=config.bootstrap, seed=config.seed)
    extra = {}
    for entry in host.metrics:
        if entry.name != "alignment":
            try:
                extra[entry.name] = entry.factory()(data)
            except Exception as exc:  # a plugin's bug: report it under its name, keep the run
                message = f"{type(exc).__name__}: {exc}"
                plugin = getattr(entry, "plugin", "") or "a plugin"
                warnings.warn(f"metric {entry.name!r} (from {plugin}) failed and was skipped: {message}",
                              AloeBenchWarning, stacklevel=2)
                extra[entry.name] = {"error": message}
    failures = assess(convs, scores, config.turns, config.judge_samples)
    return RunSummary(run_dir=run_dir, model=redact_text(config.model), user=redact_text(config.user),
                      judge=redact_text(config.judge), judge_mode=config.judge_mode,
                      personas_source=redact_text(config.personas), personas_count=len(convs),
                      turns=config.turns, status=status_of(failures), failures=failures, usage=usage,
                      components=spec.components, extra=extra, **align)


class Evaluation:
    """One evaluation run in one folder.

    ``rejudge_missing`` also asks the judge again for replies whose answers stayed unreadable
    after the re-asks (replies whose judge call failed are always asked again on resume).
    """

    def __init__(self, config: EvalConfig, run_dir: str | Path, host, *, resume: bool = False,
                 cache_path: str | Path | None = None, progress: Progress | None = None,
                 rejudge_missing: bool = False):
        self.config, self.host = config, host
        self.store = RunStore(run_dir)
        self.resume = resume
        self.rejudge_missing = rejudge_missing
        self.cache_path = cache_path
        self.progress = progress or Progress()
        self.usage = {role: Usage() for role in ("user", "model", "judge")}

    def _check_resume(self, spec_hash: str) -> RunSpec | None:
        if not self.store.exists():
            return None
        if not self.resume:
            raise ConfigError(f"{self.store.dir} already holds a run.",
                              "Add --resume to continue it, or choose another --output folder.")
        old = self.store.read_spec()
        if old.config_hash != spec_hash:
            diffs = diff_configs(old.config, self.config.result_keys())
            raise ResumeConflictError(
                f"{self.store.dir} holds a run with a different configuration ({'; '.join(diffs)}).",
                "Resume with the stored settings or use another --output folder.")
        return old

    async def run(self) -> RunSummary:
        """Run (or resume) the evaluation and write summary.json (``status`` says whether the run
        is complete). Holds the run folder's lock throughout."""
        cfg = self.config
        personas = select_personas(cfg, self.host)
        with self.store.lock():
            old = self._check_resume(cfg.config_hash())
            cache = CallCache(self.cache_path) if (cfg.cache and self.cache_path) else None
            try:
                comps = build_components(cfg, self.host, cache)
                try:
                    return await self._run(personas, old, comps)
                finally:
                    comps.close()
            finally:
                if cache is not None:
                    cache.close()

    async def _run(self, personas: list[Persona], old: RunSpec | None, comps: Components) -> RunSummary:
        cfg, store = self.config, self.store
        personas_hash = stable_hash([p.model_dump(exclude={"source"}) for p in personas])
        spec = old or RunSpec(aloe_bench_version=__version__, plugin_versions=self.host.versions(),
                              config=cfg.result_keys(), config_hash=cfg.config_hash(),
                              components=component_specs(cfg, comps), personas_source=redact_text(cfg.personas),
                              personas_count=len(personas), personas_hash=personas_hash, seed=cfg.seed)
        if old is None:
            store.write_spec(spec)
        elif old.personas_hash != personas_hash:
            raise ResumeConflictError(f"The personas of {cfg.personas!r} changed since {store.dir} was started.",
                                      "Resume with the same persona files or start a new run.")
        if old is None or not store.personas_path.is_file():
            store.write_personas(personas)
        stored_turns, _ = store.read_turns()
        stored_scores, _ = store.read_scores()
        convs = rebuild_conversations(personas, cfg.seed, stored_turns)
        done = sum(len(c.turns) for c in convs)
        self.progress.start(len(convs) * cfg.turns, done, len(convs))
        self.host.emit(RunStarted(run_dir=str(store.dir), conversations=len(convs), turns=cfg.turns, done_turns=done))

        transcripts = store.transcript_writer()
        scores_out = store.score_writer()
        scorer = Scorer(comps.judge, scores_out, cfg.judge, cfg.judge_samples, self.progress, self.usage["judge"])
        pending: list[asyncio.Task] = []

        async def judge_task(items, turn):
            new = await scorer.score(items)
            self.host.emit(TurnScored(run_dir=str(store.dir), turn=turn, scored=sum(s.score is not None for s in new),
                                      missing=sum(s.score is None for s in new)))

        try:
            backlog = missing_score_items(convs, stored_scores, cfg.judge_samples,
                                          rejudge_missing=self.rejudge_missing)
            if backlog:
                pending.append(asyncio.create_task(judge_task(backlog, 0)))
            for k in range(1, cfg.turns + 1):
                live = [c for c in convs if len(c.turns) == k - 1 and not c.closed]
                if not live:
                    continue
                new_turns = await self._play_turn(k, live, comps, transcripts)
                failed = sum(t.status != "ok" for t in new_turns)
                if failed == len(live) and not any(t.status == "ok" for c in convs for t in c.turns):
                    first = next(t.error for t in new_turns if t.error)
                    raise AloeBenchError(
                        f"Every conversation failed at turn {k}; the first error: {first}",
                        "Check the --model/--user specs, API keys (OPENAI_API_KEY, ...) and OPENAI_API_BASE, "
                        "then add --resume: failed turns are tried again.")
                self.progress.turn(k, len(live) - failed, failed)
                self.host.emit(TurnFinished(run_dir=str(store.dir), turn=k, live=len(live) - failed, failed=failed))
                items = [(c, t, s) for c, t in zip(live, new_turns) if t.status == "ok"
                         for s in range(cfg.judge_samples)]
                pending.append(asyncio.create_task(judge_task(items, k)))
            await asyncio.gather(*pending)
        except BaseException:
            for task in pending:
                task.cancel()
            raise
        finally:
            transcripts.close()
            scores_out.close()
            self._report_usage(comps)

        # The summary is computed from what is on disk, exactly as `report` and `judge` see it.
        final = rebuild_conversations(personas, cfg.seed, store.read_turns(warn=False)[0], keep_failed=True)
        summary = summarize(cfg, spec, final, store.read_scores(warn=False)[0], store.usage(), self.host,
                            str(store.dir))
        store.write_summary(summary)
        store.write_spec(spec.model_copy(update={"finished": utc_now()}))
        self.host.emit(RunFinished(run_dir=str(store.dir), summary=summary.model_dump(mode="json")))
        return summary

    async def _play_turn(self, k: int, live: list[Conversation], comps: Components, out: JsonlWriter) -> list[Turn]:
        """Turn ``k`` of every live conversation. Batched backends get the turn as one batch per
        role; otherwise each conversation goes on to its reply as soon as its user message exists
        (no barrier inside the turn), under each backend's concurrency limit."""
        if comps.pipelined:
            groups = await asyncio.gather(*(self._play_group(k, [c], comps, out) for c in live))
            turns = [t for group in groups for t in group]
        else:
            turns = await self._play_group(k, live, comps, out)
        self._report_usage(comps)
        return turns

    async def _play_group(self, k: int, live: list[Conversation], comps: Components, out: JsonlWriter) -> list[Turn]:
        cfg = self.config
        sim_replies = await comps.simulator.next_messages([
            SimRequest(persona=c.persona, history=c.history(), turn=k, total_turns=cfg.turns, conversation_id=c.id)
            for c in live])
        for r in sim_replies:
            self.usage["user"].add(r.usage())
        self.progress.advance("user", len(live))
        ask = [i for i, r in enumerate(sim_replies) if r.ok]
        model_replies = await comps.model.agenerate(
            [c.history() + [Message(role="user", content=sim_replies[i].text)] for i, c in
             ((i, live[i]) for i in ask)], cfg.model_params) if ask else []
        for r in model_replies:
            self.usage["model"].add(r.usage())
        self.progress.advance("model", len(ask))
        by_index = dict(zip(ask, model_replies))
        turns = []
        for i, conv in enumerate(live):
            sim = sim_replies[i]
            if not sim.ok:
                t = Turn(conversation_id=conv.id, persona_id=conv.persona.id, turn=k, user="", reply=None,
                         status="user_failed", error=redact_text(sim.error), usage={"user": sim.usage()})
            else:
                rep = by_index[i]
                t = Turn(conversation_id=conv.id, persona_id=conv.persona.id, turn=k, user=sim.text,
                         reply=rep.text if rep.ok else None, status="ok" if rep.ok else "model_failed",
                         error=redact_text(rep.error), reply_tokens=rep.completion_tokens or None,
                         usage={"user": sim.usage(), "model": rep.usage()})
            out.write(t)
            conv.turns.append(t)
            turns.append(t)
        return turns

    def _report_usage(self, comps: Components) -> None:
        roles = {"model": comps.model, "user": getattr(comps.simulator, "backend", None),
                 "judge": getattr(comps.judge, "backend", None)}
        for role, backend in roles.items():
            if backend is not None:
                self.progress.usage(role, self.usage[role], backend.calls, backend.hits)


def run_personas(store: RunStore, config: EvalConfig, host) -> list[Persona]:
    """The personas of a stored run: its own personas.jsonl, else (runs made before it was
    stored) its persona source, cut to its limit."""
    stored = store.read_personas()
    return stored if stored is not None else select_personas(config, host)


def warn_transcript_gaps(store: RunStore, convs: Sequence[Conversation], turns: int) -> None:
    """Warn when a stored run's transcripts lack turns (a run stopped early, a truncated or torn
    file), with counts, so that nothing computed from them looks whole when it is not."""
    short = [c for c in convs if sum(t.status == "ok" for t in c.turns) < turns]
    if short:
        have = sum(sum(t.status == "ok" for t in c.turns) for c in convs)
        warnings.warn(f"{store.transcripts_path} holds {have} of {len(convs) * turns} turns: {len(short)} of "
                      f"{len(convs)} conversation(s) are incomplete; only the stored replies are used.",
                      AloeBenchWarning, stacklevel=2)


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


def default_judgement_name(judge_spec: str, protocol: str, mode: str, samples: int) -> str:
    """``SPEC[-PROTOCOL]-MODE[-sN]``: the protocol when it is not ``aloe``, samples when above 1."""
    parts = [judge_spec] + ([protocol] if protocol != "aloe" else []) + [mode] + ([f"s{samples}"] if samples > 1 else [])
    return _slug("-".join(parts))


async def rescore(run_dir: str | Path, judge_spec: str, host, *, name: str | None = None,
                  judge_protocol: str = "aloe", judge_mode: str | None = None, judge_options: dict | None = None,
                  judge_params: GenerationParams | None = None, samples: int = 1,
                  cache_path: str | Path | None = None, concurrency: int = 8,
                  progress: Progress | None = None, rejudge_missing: bool = False) -> tuple[RunSummary, Path]:
    """Score a stored run's transcripts with another judge into ``judgements/NAME/`` (resumable:
    only replies without a score, or whose judge call failed, are judged). A re-scoring under an
    existing name with a different identity (:func:`judgement_identity`) is refused."""
    base = RunStore(run_dir)
    spec = base.read_spec()
    old_cfg = EvalConfig.model_validate({**spec.config})
    cfg = old_cfg.model_copy(update={"judge": judge_spec, "judge_protocol": judge_protocol,
                                     "judge_mode": judge_mode or old_cfg.judge_mode,
                                     "judge_options": judge_options or {},
                                     "judge_params": judge_params or old_cfg.judge_params,
                                     "judge_samples": samples, "concurrency": concurrency})
    name = name or default_judgement_name(judge_spec, judge_protocol, cfg.judge_mode, samples)
    store = RunStore(run_dir, scores_name=name)
    personas = run_personas(base, cfg, host)
    with store.lock():
        turns, _ = base.read_turns()
        convs = rebuild_conversations(personas, cfg.seed, turns, keep_failed=True)
        warn_transcript_gaps(base, convs, cfg.turns)
        cache = CallCache(cache_path) if cache_path else None
        try:
            comps = build_components(cfg, host, cache, need_model=False, need_user=False)
            try:
                identity = judgement_identity(judge_spec, judge_protocol, samples, cfg.judge_options, comps.judge)
                _check_judgement(store, identity)
                existing, _ = store.read_scores()
                progress = progress or Progress()
                writer = store.score_writer()
                try:
                    items = missing_score_items(convs, existing, samples, rejudge_missing=rejudge_missing)
                    progress.start(len(items), 0, len(convs))
                    await Scorer(comps.judge, writer, judge_spec, samples, progress, Usage()).score(items)
                finally:
                    writer.close()
            finally:
                comps.close()
        finally:
            if cache is not None:
                cache.close()
        rspec = spec.model_copy(update={"components": [c for c in spec.components if c.role != "judge"]
                                        + component_specs(cfg, comps)})
        summary = summarize(cfg, rspec, convs, store.read_scores(warn=False)[0], store.usage(), host, str(base.dir))
        store.write_summary(summary)
    return summary, store.scores_dir


def _check_judgement(store: RunStore, identity: dict[str, Any]) -> None:
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
