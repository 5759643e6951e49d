"""``aloe-bench generate``: ALOE's multi-LLM preference conversations, on the evaluation engine's
batching, concurrency, call cache and resume.

Per conversation and turn k: the user simulator writes the user message; the induction model
reads the dialogue so far with the true persona and writes what the user has revealed; the
hinted responder answers with that text as a hint and the unhinted responder without it; the
pairwise judge compares the two replies twice, once in each order; a seeded random choice picks
the reply that continues the dialogue (a tree with one sibling per turn). The turn's record is
appended to trees.jsonl as soon as it is judged.

Turn-synchronous like evaluation: local backends that gain from batches get each role's calls
of a turn as one batch; with API backends every conversation goes through its own turn as fast
as its calls return, under each backend's concurrency limit. A killed run resumes with only the
missing calls (the call cache answers the calls of a turn that was cut before its record).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aloe_bench import __version__
from aloe_bench.backends.cache import CallCache
from aloe_bench.components import InductionRequest, PairRequest, RespondRequest, SimRequest
from aloe_bench.errors import AloeBenchError, ConfigError, ResumeConflictError
from aloe_bench.evaluation.budget import Budget
from aloe_bench.evaluation.config import check_resume
from aloe_bench.evaluation.listener import RunListener
from aloe_bench.evaluation.roles import BackendPool, protocol_spec, with_served_models
from aloe_bench.events import RunStarted, TurnFinished
from aloe_bench.generation.config import ROLE_REGISTRY, ROLES, GenerateConfig
from aloe_bench.generation.export import Branch, compute_stats, export_rows, rebuild_branches
from aloe_bench.generation.store import GenerationStore
from aloe_bench.personas import load_personas
from aloe_bench.records import (GenerationStats, Message, PairJudgement, Persona, RunSpec, TreeTurn, Usage,
                                stable_hash, utc_now)
from aloe_bench.secrets import redact_text


def role_entry(config: GenerateConfig, host, role: str):
    """The registry entry of ``role``'s protocol; an unknown name, or one registered for another
    role or judge task, is an error with suggestions."""
    registry, key, value = ROLE_REGISTRY[role]
    name = getattr(config, f"{role}_protocol")
    flag = f"--{role.replace('_', '-')}-protocol"
    reg = host.registries[registry]
    return reg.get_for(name, key, value, what=flag) if key else reg.get(name)


def validate_generation(config: GenerateConfig, host) -> None:
    """Check every protocol name and backend spec before anything is built or called."""
    from aloe_bench.backends.resolve import validate_spec

    if config.pair_judge_mode not in ("turn", "history"):
        raise ConfigError(f"Unknown pair_judge_mode {config.pair_judge_mode!r}.", "Use turn or history.")
    for role in ROLES:
        if role_entry(config, host, role).meta.get("needs_backend", True):
            validate_spec(config.spec(role), host)


def build_generation_roles(config: GenerateConfig, host, cache: CallCache | None,
                           dry: dict | None = None) -> tuple[dict[str, Any], BackendPool]:
    """Each role's protocol over its backend (backends that several roles name with the same
    spec and options are built once)."""
    pool = BackendPool(host, cache, config.concurrency, dry=dry)
    out = {}
    for role in ROLES:
        entry = role_entry(config, host, role)
        backend = (pool.get(config.spec(role), getattr(config, f"{role}_options"), role)
                   if entry.meta.get("needs_backend", True) else None)
        defaults: dict[str, Any] = {"params": getattr(config, f"{role}_params")}
        if role == "pair_judge":
            defaults["mode"] = config.pair_judge_mode
        out[role] = entry.build(backend, defaults=defaults, **getattr(config, f"{role}_protocol_options"))
    return out, pool


def continued_side(seed: int, conversation_id: str, turn: int) -> str:
    """The reply that continues the dialogue: a seeded coin flip per (conversation, turn),
    independent of the verdict and the same on every resume."""
    return "hinted" if int(stable_hash([seed, conversation_id, turn]), 16) % 2 == 0 else "unhinted"


def judge_pair(verdicts: list[PairJudgement]) -> tuple[str, str | None]:
    """(agreement, chosen) from the two verdicts: ``consistent`` when both pick the same reply
    (it is chosen), ``tie`` when both say tie, ``inconsistent`` otherwise (unreadable included)."""
    picks = [v.picks for v in verdicts]
    if len(picks) == 2 and picks[0] == picks[1] and picks[0] in ("hinted", "unhinted"):
        return "consistent", picks[0]
    if len(picks) == 2 and picks[0] == picks[1] == "tie":
        return "tie", None
    return "inconsistent", None


def _picks(winner: str | None, first: str) -> str | None:
    other = "unhinted" if first == "hinted" else "hinted"
    return {"A": first, "B": other, "tie": "tie"}.get(winner or "")


class _Stop(Exception):
    """The spend limit was reached: stop starting new calls."""


class Generation:
    """One generate run in one folder. ``dry``: a ``--dry-run`` tally (see
    :class:`~aloe_bench.evaluation.roles.BackendPool`): stand-in backends, no cache, no events."""

    def __init__(self, config: GenerateConfig, out_dir: str | Path, host, *, resume: bool = False,
                 cache_path: str | Path | None = None, progress: RunListener | None = None,
                 dry: dict | None = None):
        self.config, self.host = config.with_default_specs(host), host
        self.store = GenerationStore(out_dir)
        self.resume = resume
        self.cache_path = cache_path
        self.progress = progress or RunListener()
        self.dry = dry
        self.usage = {role: Usage() for role in ROLES}
        #: The part of :attr:`usage` that went into stored records.
        self.recorded = {role: Usage() for role in ROLES}
        self.budget = Budget(self.config.max_cost)
        self.stopped: str | None = None

    def personas(self) -> list[Persona]:
        """The run's personas: the source, cut to ``limit``."""
        personas = load_personas(self.config.personas, self.host)
        return personas[: self.config.limit] if self.config.limit else personas

    def _check_resume(self) -> RunSpec | None:
        return check_resume(self.store, self.resume, self.config, what="a generate run",
                            measured=lambda: any(t.status == "ok" for t in self.store.read_trees(warn=False)))

    async def run(self) -> GenerationStats:
        """Run (or resume) the generation; write trees.jsonl as it goes, then sft.jsonl,
        dpo.jsonl and stats.json. Holds the folder's lock throughout."""
        cfg = self.config
        validate_generation(cfg, self.host)
        personas = self.personas()
        with self.store.lock():
            old = self._check_resume()
            cache = CallCache(self.cache_path) if (cfg.cache and self.cache_path and self.dry is None) else None
            try:
                roles, pool = build_generation_roles(cfg, self.host, cache, self.dry)
                try:
                    return await self._run(personas, old, roles)
                finally:
                    for b in pool.all():
                        b.close()
            finally:
                if cache is not None:
                    cache.close()

    def _emit(self, event) -> None:
        if self.dry is None:
            self.host.emit(event)

    async def _run(self, personas: list[Persona], old: RunSpec | None, roles: dict[str, Any]) -> GenerationStats:
        cfg, store = self.config, self.store
        personas_hash = stable_hash([p.model_dump(exclude={"source"}) for p in personas])
        spec = old or RunSpec(aloe_bench_version=__version__, plugin_versions=self.host.versions(),
                              config=cfg.result_keys(), config_hash=cfg.config_hash(),
                              components=[protocol_spec(r, cfg.spec(r), roles[r]) for r in ROLES],
                              personas_source=redact_text(cfg.personas), personas_count=len(personas),
                              personas_hash=personas_hash, seed=cfg.seed)
        if old is None:
            store.write_spec(spec)
        elif old.personas_hash != personas_hash:
            raise ResumeConflictError(f"The personas of {cfg.personas!r} changed since {store.dir} was started.",
                                      "Resume with the same persona files or start a new run.")
        if old is None or not store.personas_path.is_file():
            store.write_personas(personas)
        branches = rebuild_branches(personas, cfg.seed, store.read_trees())
        prior = store.usage()
        self.budget = Budget(cfg.max_cost, sum(u.cost for u in prior.values()),
                             lambda: sum(u.cost for u in self.usage.values()))
        done = sum(len(b.turns) for b in branches)
        self.progress.start(len(branches) * cfg.turns, done, len(branches))
        self._emit(RunStarted(run_dir=str(store.dir), conversations=len(branches), turns=cfg.turns, done_turns=done))
        pipelined = not any(getattr(getattr(p, "backend", None), "prefers_batches", False) for p in roles.values())
        out = store.tree_writer()
        try:
            for k in range(1, cfg.turns + 1):
                live = [b for b in branches if len(b.turns) == k - 1 and not b.closed]
                if not live:
                    continue
                if self.budget.reached:
                    self.stopped = "max_cost"
                    break
                if pipelined:
                    groups = await asyncio.gather(*(self._play_group(k, [b], roles, out) for b in live))
                    new = [t for g in groups for t in g]
                else:
                    new = await self._play_group(k, live, roles, out)
                self._report_usage(roles)
                failed = sum(t.status != "ok" for t in new)
                if new and failed == len(new) and not any(t.status == "ok" for b in branches for t in b.turns):
                    first = next(t.error for t in new if t.error)
                    raise AloeBenchError(f"Every conversation failed at turn {k}; the first error: {first}",
                                         "Check the role specs, API keys (OPENAI_API_KEY, ...) and OPENAI_API_BASE, "
                                         "then add --resume: failed turns are tried again.")
                self.progress.turn(k, len(new) - failed, failed)
                self._emit(TurnFinished(run_dir=str(store.dir), turn=k, live=len(new) - failed, failed=failed))
                if self.stopped:
                    break
        finally:
            out.close()
            self._report_usage(roles)
            self._store_unrecorded_usage()
        return self.finish(personas, spec, roles)

    def _store_unrecorded_usage(self) -> None:
        """Keep the usage of calls whose turn was never stored (a stop at --max-cost, Ctrl-C, a
        turn cut by a crash): it was spent, so the run's spend must show it."""
        left = {}
        for role, u in self.usage.items():
            r = self.recorded[role]
            diff = Usage(calls=u.calls - r.calls, cached_calls=u.cached_calls - r.cached_calls,
                         prompt_tokens=u.prompt_tokens - r.prompt_tokens,
                         completion_tokens=u.completion_tokens - r.completion_tokens, cost=u.cost - r.cost)
            if diff.calls > 0:
                left[role] = diff
        if left:
            self.store.add_unrecorded_usage(left)

    def finish(self, personas: list[Persona], spec: RunSpec, roles: dict[str, Any] | None = None) -> GenerationStats:
        """Rebuild the outputs from what is on disk: sft.jsonl, dpo.jsonl, stats.json, and
        run.json's finish time and served model names."""
        store = self.store
        trees = store.read_trees(warn=False)
        sft, dpo = export_rows(rebuild_branches(personas, self.config.seed, trees))
        store.write_rows(sft, dpo)
        stats = compute_stats(rebuild_branches(personas, self.config.seed, trees, keep_failed=True),
                              self.config.turns, store.usage(), stopped=self.stopped,
                              sft_rows=len(sft), dpo_rows=len(dpo))
        store.write_stats(stats)
        components = spec.components
        if roles is not None:
            components = with_served_models(components, {r: getattr(p, "backend", None) for r, p in roles.items()})
        store.write_spec(spec.model_copy(update={"finished": utc_now(), "components": components}))
        return stats

    def _check_budget(self) -> None:
        if self.budget.reached:
            self.stopped = "max_cost"
            raise _Stop

    async def _play_group(self, k: int, live: list[Branch], roles: dict[str, Any], out) -> list[TreeTurn]:
        """Turn ``k`` of the conversations in ``live`` (one batch per role); returns the records
        written. Once the spend limit is reached, no further call starts and the turns not yet
        judged are left for a resume."""
        cfg = self.config
        usage: list[dict[str, Usage]] = [{} for _ in live]
        records: list[TreeTurn | None] = [None] * len(live)

        def fail(i: int, status: str, error: str | None, **fields: Any) -> None:
            b = live[i]
            records[i] = TreeTurn(conversation_id=b.id, persona_id=b.persona.id, turn=k, status=status,
                                  error=redact_text(error) or f"{status.replace('_', ' ')}", usage=usage[i],
                                  user=fields.pop("user", ""), **fields)

        def account(role: str, i: int, u: Usage) -> None:
            usage[i].setdefault(role, Usage()).add(u)
            self.usage[role].add(u)

        try:
            self._check_budget()
            histories = [b.history() for b in live]
            sims = await roles["user"].next_messages([
                SimRequest(persona=b.persona, history=histories[i], turn=k, total_turns=cfg.turns, conversation_id=b.id)
                for i, b in enumerate(live)])
            for i, r in enumerate(sims):
                account("user", i, r.usage())
                if not r.ok:
                    fail(i, "user_failed", r.error)
            self.progress.advance("user", len(live))
            todo = [i for i in range(len(live)) if records[i] is None]
            self._check_budget()
            induced = await roles["induction"].induce([
                InductionRequest(persona=live[i].persona, turn=k, conversation_id=live[i].id,
                                 dialogue=histories[i] + [Message(role="user", content=sims[i].text)]) for i in todo])
            hints: dict[int, str] = {}
            for i, r in zip(todo, induced):
                account("induction", i, r.usage())
                if r.ok:
                    hints[i] = r.text
                else:
                    fail(i, "induction_failed", r.error, user=sims[i].text)
            todo = [i for i in todo if records[i] is None]
            self._check_budget()

            def ask(hint: bool) -> list[RespondRequest]:
                return [RespondRequest(history=histories[i], user_message=sims[i].text, hint=hints[i] if hint else None,
                                       turn=k, conversation_id=live[i].id) for i in todo]

            hinted, unhinted = await asyncio.gather(roles["hinted"].respond(ask(True)),
                                                    roles["unhinted"].respond(ask(False)))
            replies: dict[int, tuple[str, str]] = {}
            for i, h, u in zip(todo, hinted, unhinted):
                account("hinted", i, h.usage())
                account("unhinted", i, u.usage())
                common = dict(user=sims[i].text, induced=hints[i], hinted=h.text if h.ok else None,
                              unhinted=u.text if u.ok else None)
                if not h.ok:
                    fail(i, "hinted_failed", h.error, **common)
                elif not u.ok:
                    fail(i, "unhinted_failed", u.error, **common)
                else:
                    replies[i] = (h.text, u.text)
            todo = [i for i in todo if records[i] is None]
            self.progress.advance("model", len(live))
            self._check_budget()
            requests = []
            for i in todo:
                h, u = replies[i]
                base = dict(persona=live[i].persona, history=histories[i], user_message=sims[i].text, turn=k,
                            conversation_id=live[i].id)
                requests += [PairRequest(first=h, second=u, **base), PairRequest(first=u, second=h, **base)]
            verdicts = await roles["pair_judge"].compare(requests) if requests else []
            for n, i in enumerate(todo):
                pair = verdicts[2 * n: 2 * n + 2]
                judged = []
                for v, first in zip(pair, ("hinted", "unhinted")):
                    account("pair_judge", i, v.usage)
                    judged.append(PairJudgement(first=first, winner=v.winner, picks=_picks(v.winner, first),
                                                raw=redact_text(v.raw) or "", rationale=v.rationale, attempts=v.attempts,
                                                error=redact_text(v.error)))
                h, u = replies[i]
                common = dict(user=sims[i].text, induced=hints[i], hinted=h, unhinted=u, verdicts=judged)
                err = next((v.error for v in judged if v.error), None)
                if err:
                    fail(i, "judge_failed", err, **common)
                    continue
                agreement, chosen = judge_pair(judged)
                b = live[i]
                records[i] = TreeTurn(conversation_id=b.id, persona_id=b.persona.id, turn=k, agreement=agreement,
                                      chosen=chosen, continued=continued_side(cfg.seed, b.id, k), usage=usage[i],
                                      **common)
            self.progress.scored(len(todo))
        except _Stop:
            pass
        written = []
        for i, rec in enumerate(records):
            if rec is not None:
                out.write(rec)
                for role, u in rec.usage.items():
                    self.recorded[role].add(u)
                live[i].turns.append(rec)
                written.append(rec)
        return written

    def _report_usage(self, roles: dict[str, Any]) -> None:
        for role, protocol in roles.items():
            backend = getattr(protocol, "backend", None)
            if backend is not None:
                self.progress.usage(role, self.usage[role], backend.calls, backend.hits)
