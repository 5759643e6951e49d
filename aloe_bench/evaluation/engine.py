"""The conversation engine: turn-synchronous, batched, concurrent, cached, resumable.

At turn k every live conversation needs its user message, then its reply, then its score.
Local backends that gain from batches get all user messages of turn k as one batch and all
replies as one batch (one padded forward pass each); with API backends every conversation is in
flight at once and asks for its reply as soon as its own user message exists. Judging of turn k
runs as a background task that overlaps turn k+1. Wall time therefore approaches
K x (one simulator call + one model call).

With a profile measurement (``--profile-probe``, ``--reply-format rlpa``) each turn's inferred
profiles are scored in the background too (:mod:`aloe_bench.evaluation.profiling`), beside its
judging. Under ``--reply-format rlpa`` the model's output is split (:mod:`aloe_bench.evaluation.reply_format`):
the user simulator and the judge see only its response.

With a persona drift (``--drift-at K``, :mod:`aloe_bench.evaluation.drift`) the simulator plays the
drifted persona from turn K on (told of the change at K), and each reply is judged, and each
profile scored, against the persona played at its turn.

Every record is appended to the run folder as soon as it exists, so a killed run resumes with
only the missing calls; finished conversations and scored turns are never redone.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from aloe_bench import __version__
from aloe_bench.backends.cache import CallCache
from aloe_bench.components import SimRequest
from aloe_bench.errors import AloeBenchError, ConfigError, ResumeConflictError
from aloe_bench.evaluation.budget import Budget
from aloe_bench.evaluation.config import EvalConfig, check_resume
from aloe_bench.evaluation.conversations import rebuild_conversations, select_personas
from aloe_bench.evaluation.drift import RunDrift, handles_drift, plan_drift
from aloe_bench.evaluation.judging import panel
from aloe_bench.evaluation.listener import RunListener
from aloe_bench.evaluation.profiling import ProfileScorer, describe_profile_measurement, unscored_profiles
from aloe_bench.evaluation.repeats import repeat_simulators, simulator_seeds
from aloe_bench.evaluation.reply_format import conversation_policy_messages, describe_reply_format, read_policy_output
from aloe_bench.evaluation.roles import RunRoles, build_roles, role_specs, validate_roles, with_served_models
from aloe_bench.evaluation.run_folder import JsonlWriter, RunStore
from aloe_bench.evaluation.summary import summarize
from aloe_bench.events import RunFinished, RunStarted, TurnFinished, TurnScored
from aloe_bench.records import Conversation, Message, Persona, RunSpec, RunSummary, Turn, Usage, stable_hash, utc_now
from aloe_bench.secrets import redact, redact_text


class Evaluation:
    """One evaluation run in one folder.

    ``rejudge_missing`` also asks the judge again for replies whose answers stayed unreadable
    after the re-asks (replies whose judge call failed are always asked again on resume).
    """

    def __init__(self, config: EvalConfig, run_dir: str | Path, host, *, resume: bool = False,
                 cache_path: str | Path | None = None, progress: RunListener | None = None,
                 rejudge_missing: bool = False, dry: dict | None = None):
        self.config, self.host = config.with_default_specs(host), host
        #: A ``--dry-run`` tally (stand-in backends, no cache, no events); see BackendPool.
        self.dry = dry
        self.budget = Budget(self.config.max_cost)
        self.stopped: str | None = None
        self.store = RunStore(run_dir)
        self.resume = resume
        self.rejudge_missing = rejudge_missing
        self.cache_path = cache_path
        self.progress = progress or RunListener()
        self.usage = {role: Usage() for role in ("user", "model", "judge")}
        self._drift: RunDrift | None = None
        #: The simulator of each repeat (``--repeats``; one without), set when the run starts.
        self._simulators: list = []
        if self.config.profile_source is not None:
            self.usage.update({role: Usage() for role in ("probe", "profile_judge")})

    def _check_resume(self) -> RunSpec | None:
        return check_resume(self.store, self.resume, self.config, what="a run",
                            measured=lambda: any(t.status == "ok" for t in self.store.read_turns(warn=False)[0]))

    async def run(self) -> RunSummary:
        """Run (or resume) the evaluation and write summary.json (``status`` says whether the run
        is complete). Holds the run folder's lock throughout."""
        cfg = self.config
        validate_roles(cfg, self.host)  # bad specs and protocols fail here, before any folder or call
        personas = select_personas(cfg, self.host)
        drift = plan_drift(cfg, self.host, personas)  # a source that cannot drift fails here
        golden = None
        if cfg.profile_source is not None:  # a bad facts file fails here too
            from aloe_bench.personas.facts import golden_facts

            golden = golden_facts(personas, cfg.facts)
        with self.store.lock():
            old = self._check_resume()
            cache = CallCache(self.cache_path) if (cfg.cache and self.cache_path and self.dry is None) else None
            try:
                comps = build_roles(cfg, self.host, cache, dry=self.dry)
                try:
                    if drift is not None and not handles_drift(comps.simulator):
                        raise ConfigError(f"The simulator protocol {cfg.user_protocol!r} does not say that it plays a "
                                          "change of persona (handles_change_notice), which --drift-at needs.",
                                          "Use --user-protocol aloe, or drop --drift-at.")
                    self._simulators = repeat_simulators(comps.simulator, cfg)
                    return await self._run(personas, old, comps, golden, drift)
                finally:
                    comps.close()
            finally:
                if cache is not None:
                    cache.close()

    async def _run(self, personas: list[Persona], old: RunSpec | None, comps: RunRoles, golden,
                   drift: RunDrift | None = None) -> RunSummary:
        cfg, store = self.config, self.store
        self._drift = drift
        personas_hash = stable_hash([p.model_dump(exclude={"source"}) for p in personas])
        profile = (describe_profile_measurement(cfg.profile_source, golden, cfg.probe_params if cfg.profile_probe
                                                else None) if golden is not None else None)
        spec = old or RunSpec(aloe_bench_version=__version__, plugin_versions=self.host.versions(),
                              config=cfg.result_keys(), config_hash=cfg.config_hash(),
                              components=role_specs(cfg, comps), personas_source=redact_text(cfg.personas),
                              personas_count=len(personas), personas_hash=personas_hash, seed=cfg.seed,
                              reply_format=describe_reply_format(cfg.reply_format, cfg.rlpa_history),
                              profile=redact(profile) if profile is not None else None,
                              drift=drift.describe() if drift is not None else None,
                              repeats={"count": cfg.repeats, "simulator_seeds": simulator_seeds(self._simulators)}
                              if cfg.repeats > 1 else None)
        if old is None:
            store.write_spec(spec)
        elif old.personas_hash != personas_hash:
            raise ResumeConflictError(f"The personas of {cfg.personas!r} changed since {store.dir} was started.",
                                      "Resume with the same persona files or start a new run.")
        elif profile is not None and old.profile is not None and \
                stable_hash(old.profile.get("facts")) != stable_hash(redact(profile).get("facts")):
            raise ResumeConflictError(f"The golden facts changed since {store.dir} was started "
                                      f"({old.profile.get('facts')} -> {redact(profile).get('facts')}).",
                                      "Resume with the same --facts file, or start a new run.")
        elif drift is not None and (old.drift or {}).get("targets_hash") != drift.targets_hash():
            raise ResumeConflictError(f"The drifted personas of {cfg.personas!r} changed since {store.dir} was "
                                      "started (the persona source is not what it was).",
                                      "Resume with the same persona source, or start a new run.")
        if old is None or not store.personas_path.is_file():
            store.write_personas(personas)
        if drift is not None and (old is None or not store.drift_personas_path.is_file()):
            store.write_drift_personas(drift.personas())
        stored_turns, _ = store.read_turns()
        stored_scores, _ = store.read_scores()
        convs = rebuild_conversations(personas, cfg.seed, stored_turns, drift=drift, repeats=cfg.repeats)
        done = sum(len(c.turns) for c in convs)
        self.budget = Budget(cfg.max_cost, sum(u.cost for u in store.usage().values()),
                             lambda: sum(u.cost for u in self.usage.values()))
        self.progress.start(len(convs) * cfg.turns, done, len(convs))
        self._emit(RunStarted(run_dir=str(store.dir), conversations=len(convs), turns=cfg.turns, done_turns=done))

        transcripts = store.transcript_writer()
        scores_out = store.score_writer()
        judges = panel(comps, scores_out, cfg.judge_samples, self.progress, self.usage["judge"])
        pending: list[asyncio.Task] = []
        profiler = probes_out = None
        if cfg.profile_source is not None:
            probes_out = store.probe_writer()
            batched = [b for b in (comps.probe_model, getattr(comps.profile_judge, "backend", None)) if b is not None]
            profiler = ProfileScorer(cfg.profile_source, comps.profile_judge, golden, probes_out, self.progress,
                                     self.usage, model=comps.probe_model, params=cfg.probe_params,
                                     judge_spec=cfg.profile_judge_spec or "",
                                     pipelined=not any(b.prefers_batches for b in batched))

        async def profile_task(items):
            if self.budget.reached:  # left unscored: a resume with a higher --max-cost scores them
                self.stopped = "max_cost"
                return
            await profiler.score(items)

        async def judge_task(work, turn):
            if self.budget.reached:  # left unjudged: a resume with a higher --max-cost judges them
                self.stopped = "max_cost"
                return
            new = await judges.score(work)
            self._emit(TurnScored(run_dir=str(store.dir), turn=turn, scored=sum(s.score is not None for s in new),
                                      missing=sum(s.score is None for s in new)))

        try:
            backlog = judges.unjudged(convs, stored_scores, cfg.judge_samples, rejudge_missing=self.rejudge_missing)
            if any(backlog):
                pending.append(asyncio.create_task(judge_task(backlog, 0)))
            if profiler is not None:
                stored_probes = store.read_probes()[0]
                unscored = unscored_profiles(convs, stored_probes, rejudge_missing=self.rejudge_missing)
                self.progress.profiles(len(convs) * cfg.turns, done - len(unscored))
                if unscored:
                    pending.append(asyncio.create_task(profile_task(unscored)))
            for k in range(1, cfg.turns + 1):
                live = [c for c in convs if len(c.turns) == k - 1 and not c.closed]
                if not live:
                    continue
                if self.budget.reached:
                    self.stopped = "max_cost"
                    break
                new_turns = await self._play_turn(k, live, comps, transcripts)
                failed = sum(t.status != "ok" for t in new_turns)
                if failed == len(live) and not any(t.status == "ok" for c in convs for t in c.turns):
                    first = next(t.error for t in new_turns if t.error)
                    raise AloeBenchError(
                        f"Every conversation failed at turn {k}; the first error: {first}",
                        "Check the --model/--user specs, API keys (OPENAI_API_KEY, ...) and OPENAI_API_BASE, "
                        "then add --resume: failed turns are tried again.")
                self.progress.turn(k, len(live) - failed, failed)
                self._emit(TurnFinished(run_dir=str(store.dir), turn=k, live=len(live) - failed, failed=failed))
                items = [(c, t, s) for c, t in zip(live, new_turns) if t.status == "ok"
                         for s in range(cfg.judge_samples)]
                pending.append(asyncio.create_task(judge_task(judges.every(items), k)))
                if profiler is not None:
                    pending.append(asyncio.create_task(profile_task(
                        [(c, t, None) for c, t in zip(live, new_turns) if t.status == "ok"])))
            await asyncio.gather(*pending)
        except BaseException:
            for task in pending:
                task.cancel()
            raise
        finally:
            transcripts.close()
            scores_out.close()
            if probes_out is not None:
                probes_out.close()
            self._report_usage(comps)

        # The summary is computed from what is on disk, exactly as `report` and `judge` see it.
        final = rebuild_conversations(personas, cfg.seed, store.read_turns(warn=False)[0], keep_failed=True,
                                      drift=drift, repeats=cfg.repeats)
        summary = summarize(cfg, spec, final, store.read_scores(warn=False)[0], store.usage(), self.host,
                            str(store.dir), probes=store.read_probes(warn=False)[0] if profiler is not None else None)
        if self.stopped and summary.status != "complete":
            summary = summary.model_copy(update={"stopped": self.stopped})
        store.write_summary(summary)
        store.write_spec(spec.model_copy(update={"finished": utc_now(),
                                                 "components": with_served_models(spec.components, comps)}))
        self._emit(RunFinished(run_dir=str(store.dir), summary=summary.model_dump(mode="json")))
        return summary

    def _emit(self, event) -> None:
        if self.dry is None:
            self.host.emit(event)

    async def _play_turn(self, k: int, live: list[Conversation], comps: RunRoles, out: JsonlWriter) -> list[Turn]:
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

    async def _play_group(self, k: int, live: list[Conversation], comps: RunRoles, out: JsonlWriter) -> list[Turn]:
        cfg = self.config
        drift = self._drift
        requests = [SimRequest(persona=c.persona, history=c.history(), turn=k, total_turns=cfg.turns,
                               conversation_id=c.id)
                    if drift is None else drift.request(c, k, history=c.history(), total_turns=cfg.turns)
                    for c in live]
        sim_replies = await self._simulate(live, requests, comps)
        for r in sim_replies:
            self.usage["user"].add(r.usage())
        self.progress.advance("user", len(live))
        ask = [i for i, r in enumerate(sim_replies) if r.ok]
        model_replies = await comps.model.agenerate(
            [self._model_messages(live[i], sim_replies[i].text) for i in ask], cfg.model_params) if ask else []
        for r in model_replies:
            self.usage["model"].add(r.usage())
        self.progress.advance("model", len(ask))
        by_index = dict(zip(ask, model_replies))
        turns = []
        for i, conv in enumerate(live):
            sim = sim_replies[i]
            # The persona played at k (a drift run) and the repeat (--repeats) the turn belongs to.
            active = {"active_persona_id": conv.persona_at(k).id} if drift is not None else {}
            active["sample"] = conv.sample
            if not sim.ok:
                t = Turn(conversation_id=conv.id, persona_id=conv.persona.id, turn=k, user="", reply=None,
                         status="user_failed", error=redact_text(sim.error), usage={"user": sim.usage()}, **active)
            else:
                rep = by_index[i]
                sections: dict = {}
                if rep.ok and cfg.reply_format == "rlpa":
                    read = read_policy_output(rep.text)
                    sections = {"output": rep.text, "profile": read.profile, "malformed": read.malformed}
                    reply = read.reply
                else:
                    reply = rep.text if rep.ok else None
                t = Turn(conversation_id=conv.id, persona_id=conv.persona.id, turn=k, user=sim.text,
                         reply=reply, status="ok" if rep.ok else "model_failed",
                         error=redact_text(rep.error), reply_tokens=rep.completion_tokens or None,
                         usage={"user": sim.usage(), "model": rep.usage()}, **sections, **active)
            out.write(t)
            conv.turns.append(t)
            turns.append(t)
        return turns

    async def _simulate(self, live: list[Conversation], requests: list[SimRequest], comps: RunRoles) -> list:
        """The user messages of ``live`` (one batch per repeat: each repeat has its own simulator
        seed), in order."""
        sims = self._simulators or [comps.simulator]
        by_repeat: dict[int, list[int]] = {}
        for i, c in enumerate(live):
            by_repeat.setdefault(c.sample, []).append(i)
        if len(by_repeat) == 1:
            (repeat, _), = by_repeat.items()
            return await sims[repeat].next_messages(requests)
        parts = await asyncio.gather(*(sims[r].next_messages([requests[i] for i in idx])
                                       for r, idx in by_repeat.items()))
        out: list = [None] * len(live)
        for idx, replies in zip(by_repeat.values(), parts):
            for i, reply in zip(idx, replies):
                out[i] = reply
        return out

    def _model_messages(self, conv: Conversation, user_message: str) -> list[Message]:
        """What the model under test gets for its next reply: the dialogue so far and the user's
        message; under ``--reply-format rlpa`` the policy instruction first and its own history as
        ``rlpa_history`` says."""
        if self.config.reply_format == "rlpa":
            return conversation_policy_messages(conv, user_message, self.config.rlpa_history)
        return conv.history() + [Message(role="user", content=user_message)]

    def _report_usage(self, comps: RunRoles) -> None:
        roles = {"model": [comps.model], "user": [getattr(comps.simulator, "backend", None)],
                 "judge": list({id(b): b for b in (getattr(p, "backend", None) for _, p in comps.members)
                                if b is not None}.values()) or [getattr(comps.judge, "backend", None)]}
        for role, backends in roles.items():
            backends = [b for b in backends if b is not None]
            if backends:
                self.progress.usage(role, self.usage[role], sum(b.calls for b in backends),
                                    sum(b.hits for b in backends))
        # The probe and the coverage judge usually share the model's and the judge's backends:
        # their own tallies say what they cost.
        for role in ("probe", "profile_judge"):
            u = self.usage.get(role)
            if u is not None and u.calls:
                self.progress.usage(role, u, u.calls - u.cached_calls, u.cached_calls)
