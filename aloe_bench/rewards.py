"""Rewards over policy outputs: RLPA's profile and response rewards, and how to use any
registered reward from Python (docs/profile.md, "Rewards").

A reward (:class:`~aloe_bench.components.Reward`, registered through ``aloe_register_rewards``)
turns :class:`~aloe_bench.components.RewardRequest` items into
:class:`~aloe_bench.components.RewardResult` items. The built-ins wrap a judge protocol over any
backend spec:

- ``profile`` (:class:`ProfileReward`): a coverage judge (task ``coverage``; default
  ``aloe-coverage``) counts the golden facts the inferred profile covers;
  :func:`aloe_bench.profile.profile_f1` turns the count into precision, recall and F1, the reward;
- ``response`` (:class:`ResponseReward`): an engagement judge (task ``engagement``; default
  ``aloe-engagement``) decides whether the user would want to keep chatting: 1.0 or 0.0.

A malformed output, a missing or empty profile (``profile``) or a missing response (``response``)
is worth 0 with the reason in ``details``, without a call. A failed judge call is an ``error``
with value None, never a 0: the caller decides what such a sample is worth.

From Python, :func:`build_reward` resolves a judge spec into a backend (through the call cache)
and returns a :class:`BuiltReward`, usable from async code (``await reward.reward(requests)``)
and synchronous code (``reward.reward_sync(requests)``, e.g. a TRL reward function);
:func:`run_rewards` runs several on one batch; :func:`request_from_output` reads an RLPA output.

The reward types live in :mod:`aloe_bench.components` with the other types plugins implement
(one public import path for every protocol); this module holds what is built on them.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from typing import Any, Awaitable, Callable, Coroutine, Sequence, TypeVar

from aloe_bench.components import (ChatModel, CoverageRequest, EngagementRequest, GenerationParams, Reward,
                                   RewardRequest, RewardResult)
from aloe_bench.errors import ConfigError, PluginError
from aloe_bench.profile import parse_rlpa_output, profile_f1
from aloe_bench.records import Message, Persona

T = TypeVar("T")

#: What a reward's judge must be registered for, per built-in reward.
JUDGE_TASK = {"profile": "coverage", "response": "engagement"}
#: What the response reward's judge can see of the user: the true persona or the policy's
#: inferred profile (option ``sees``).
SEES = ("persona", "inferred")


def _wrapped_judge(reward: str, judge: str, backend: ChatModel | None, params: GenerationParams | None, host: Any,
                   options: dict[str, Any]) -> Any:
    """The judge protocol ``judge`` of the task ``reward`` needs, built from ``host``'s registry over
    ``backend`` with ``options`` (a judge registered for another task is a one-line error)."""
    if host is None:
        from aloe_bench.plugins import default_host

        host = default_host()
    task = JUDGE_TASK[reward]
    entry = host.judges.get_for(judge, "task", task, what=f"the {reward} reward's judge")
    if entry.meta.get("needs_backend", True) and backend is None:
        raise ConfigError(f"The {reward} reward's judge {judge!r} needs a model.",
                          f"Name a judge model spec, e.g. build_reward({reward!r}, 'openai/gpt-4o-mini').")
    return entry.build(backend if entry.meta.get("needs_backend", True) else None,
                       defaults={"params": params}, **options)


def _zero(reason: str) -> RewardResult:
    return RewardResult(value=0.0, details={"reason": reason})


async def _judged(judge: Any, requests: Sequence[RewardRequest], skip: Callable[[RewardRequest], str | None],
                  ask: Callable[[list[RewardRequest]], Awaitable[Sequence[Any]]],
                  read: Callable[[RewardRequest, Any], RewardResult | None], what: str) -> list[RewardResult]:
    """The skeleton of a judge-backed reward: a request ``skip`` gives a reason for is worth 0
    without a call; the others go to the judge in one batch (``ask``); ``read`` turns a verdict
    into a result, or None when the verdict holds no value: then the result's value is None, with
    the judge's ``error`` for a failed call or ``details["reason"]`` for an unreadable answer."""
    out: list[RewardResult | None] = [None] * len(requests)
    asked: list[int] = []
    for i, r in enumerate(requests):
        reason = skip(r)
        if reason:
            out[i] = _zero(reason)
        else:
            asked.append(i)
    if asked:
        verdicts = await ask([requests[i] for i in asked])
        _check_count(judge, verdicts, asked)
        for i, v in zip(asked, verdicts):
            result = read(requests[i], v)
            if result is None:
                details = {"raw": v.raw, "attempts": v.attempts}
                if v.error is None:
                    details["reason"] = f"unreadable {what} answer"
                result = RewardResult(value=None, details=details, error=v.error, usage=v.usage)
            out[i] = result
    return [r for r in out if r is not None]


class ProfileReward:
    """RLPA's profile reward: F1 of the inferred profile against the golden facts, from a
    coverage judge's count (``judge``: a :class:`~aloe_bench.components.CoverageJudge`).

    0 without a call for a malformed output, no profile, an empty profile or no golden facts
    (``details["reason"]`` says which). Otherwise ``details`` holds ``covered`` (clamped),
    ``answered`` (the judge's count), ``inferred``, ``golden``, ``precision``, ``recall``, ``f1``
    and the judge's ``raw`` answer. A failed judge call gives value None and ``error``; an
    unreadable answer value None and ``details["reason"]``."""

    name = "profile"

    def __init__(self, judge: Any):
        self.judge = judge
        self.backend = getattr(judge, "backend", None)

    async def reward(self, requests: Sequence[RewardRequest]) -> list[RewardResult]:
        """One result per request, in order."""
        def skip(r: RewardRequest) -> str | None:
            if r.malformed:
                return f"malformed: {r.malformed}"
            if r.profile is None:
                return "no profile"
            return "empty profile" if not r.profile else "no golden facts" if not r.golden else None

        async def ask(batch: list[RewardRequest]) -> Sequence[Any]:
            return await self.judge.count([
                CoverageRequest(persona=r.persona, golden=list(r.golden), inferred=list(r.profile or []), turn=r.turn,
                                conversation_id=r.conversation_id) for r in batch])

        def read(r: RewardRequest, v: Any) -> RewardResult | None:
            if v.covered is None:
                return None
            score = profile_f1(v.covered, len(r.profile or []), len(r.golden))
            return RewardResult(value=score.f1, usage=v.usage, details={
                "covered": score.covered, "answered": v.covered, "inferred": score.inferred, "golden": score.golden,
                "precision": score.precision, "recall": score.recall, "f1": score.f1, "raw": v.raw,
                "attempts": v.attempts})

        return await _judged(self.judge, requests, skip, ask, read, "coverage")

    def describe(self) -> dict[str, Any]:
        """The wrapped judge's kind and options, and its prompt hashes."""
        return _describe_wrapping(self.name, self.judge, {})


class ResponseReward:
    """RLPA's response reward: 1.0 when the engagement judge (``judge``: an
    :class:`~aloe_bench.components.EngagementJudge`) says the user would want to keep chatting,
    else 0.0.

    ``sees``: ``persona`` (the judge sees the true persona) or ``inferred`` (the policy's own
    inferred profile, as RLPA's judge does). 0 without a call for a malformed output or a
    missing or empty response (``details["reason"]``). Otherwise ``details`` holds ``keep``, the
    judge's ``rationale`` and ``raw`` answer. A failed judge call gives value None and ``error``;
    an unreadable answer value None and ``details["reason"]``."""

    name = "response"

    def __init__(self, judge: Any, *, sees: str = "persona"):
        _check_sees(sees)
        self.judge = judge
        self.backend = getattr(judge, "backend", None)
        self.sees = sees

    async def reward(self, requests: Sequence[RewardRequest]) -> list[RewardResult]:
        """One result per request, in order."""
        def skip(r: RewardRequest) -> str | None:
            if r.malformed:
                return f"malformed: {r.malformed}"
            return "no response" if not (r.response or "").strip() else None

        async def ask(batch: list[RewardRequest]) -> Sequence[Any]:
            return await self.judge.decide([
                EngagementRequest(persona=r.persona, history=list(r.history), reply=r.response or "",
                                  profile=list(r.profile or []) if self.sees == "inferred" else None, turn=r.turn,
                                  conversation_id=r.conversation_id) for r in batch])

        def read(r: RewardRequest, v: Any) -> RewardResult | None:
            if v.keep is None:
                return None
            return RewardResult(value=1.0 if v.keep else 0.0, usage=v.usage, details={
                "keep": v.keep, "rationale": v.rationale, "raw": v.raw, "attempts": v.attempts})

        return await _judged(self.judge, requests, skip, ask, read, "engagement")

    def describe(self) -> dict[str, Any]:
        """The wrapped judge's kind and options, ``sees``, and the judge's prompt hashes."""
        return _describe_wrapping(self.name, self.judge, {"sees": self.sees})


def _check_sees(sees: str) -> None:
    if sees not in SEES:
        raise ConfigError(f"Unknown value {sees!r} for the response reward's option sees.",
                          "Use sees=persona (the judge sees the true persona) or sees=inferred (the policy's "
                          "inferred profile).")


def _check_count(judge: Any, verdicts: Sequence[Any], asked: Sequence[int]) -> None:
    if len(verdicts) != len(asked):
        raise PluginError(f"The judge {getattr(judge, 'name', type(judge).__name__)!r} returned {len(verdicts)} "
                          f"verdicts for {len(asked)} requests.", "Report it to the judge's authors.")


def _describe_wrapping(name: str, judge: Any, options: dict[str, Any]) -> dict[str, Any]:
    described = judge.describe() or {}
    return {"kind": name, "options": {**options, "judge": described.get("kind", getattr(judge, "name", "")),
                                      "judge_options": described.get("options", {})},
            "prompt_hashes": dict(described.get("prompt_hashes", {}))}


def profile_reward(backend: ChatModel | None, *, params: GenerationParams | None = None, host: Any = None,
                   judge: str = "aloe-coverage", **judge_options: Any) -> ProfileReward:
    """The ``profile`` reward over the coverage judge ``judge`` (any judge registered for task
    ``coverage``) on ``backend``; ``judge_options`` go to that judge (e.g. ``max_retries=1``)."""
    return ProfileReward(_wrapped_judge("profile", judge, backend, params, host, judge_options))


def response_reward(backend: ChatModel | None, *, params: GenerationParams | None = None, host: Any = None,
                    judge: str = "aloe-engagement", sees: str = "persona", **judge_options: Any) -> ResponseReward:
    """The ``response`` reward over the engagement judge ``judge`` (any judge registered for task
    ``engagement``) on ``backend``; ``sees``: ``persona`` or ``inferred``; ``judge_options`` go to
    that judge."""
    _check_sees(sees)  # before the judge is built
    return ResponseReward(_wrapped_judge("response", judge, backend, params, host, judge_options), sees=sees)


def request_from_output(text: str, *, persona: Persona, golden: Sequence[str] = (),
                        history: Sequence[Message] = (), turn: int = 0, conversation_id: str = "") -> RewardRequest:
    """A :class:`~aloe_bench.components.RewardRequest` from an RLPA policy's output text
    (``<profile>`` one fact per line ``</profile>`` then ``<response>...</response>``, read by
    :func:`aloe_bench.profile.parse_rlpa_output`): its profile, response and what is malformed."""
    tagged = parse_rlpa_output(text)
    return RewardRequest(persona=persona, golden=list(golden), history=list(history), profile=tagged.profile,
                         response=tagged.response, malformed=tagged.malformed, turn=turn,
                         conversation_id=conversation_id)


# -- synchronous use ------------------------------------------------------------------------------

_loop_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
#: The process that started :data:`_loop` (a forked child has the variable but not the thread).
_loop_pid: int | None = None


async def _cancel_pending() -> None:
    """Cancel what is still running on the loop (a library's background workers) and wait for it,
    as ``asyncio.run`` does before it closes its loop."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_asyncgens()


def _stop_loop() -> None:
    """Stop the shared loop at exit, after cancelling what still runs on it."""
    global _loop
    with _loop_lock:
        loop, _loop = _loop, None
        if _loop_pid != os.getpid():  # a forked child: the loop's thread lives in the parent
            return
    if loop is None or not loop.is_running():
        return
    try:
        asyncio.run_coroutine_threadsafe(_cancel_pending(), loop).result(timeout=10)
    finally:
        loop.call_soon_threadsafe(loop.stop)


def _background_loop() -> asyncio.AbstractEventLoop:
    """The event loop, running in a daemon thread, that synchronous callers share: one loop for
    the whole process, so backends keep their connections across calls, and callers that run
    inside an event loop of their own (a notebook, an async trainer) can still wait on it."""
    global _loop, _loop_pid
    with _loop_lock:
        if _loop is None or _loop_pid != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="aloe-bench-rewards", daemon=True).start()
            atexit.register(_stop_loop)
            _loop, _loop_pid = loop, os.getpid()
        return _loop


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code, on the shared background loop, and
    return its result (an interrupt cancels it)."""
    future = asyncio.run_coroutine_threadsafe(coro, _background_loop())
    try:
        return future.result()
    except BaseException:
        future.cancel()
        raise


class BuiltReward:
    """A reward built by :func:`build_reward`: the registered reward (``inner``) with the backend
    and call cache it was given, which :meth:`close` releases (or use it in a ``with`` block).

    It is a :class:`~aloe_bench.components.Reward` itself (``name``, ``reward``, ``describe``) and
    adds :meth:`reward_sync` for synchronous callers."""

    #: The reward the registered factory built.
    inner: Any
    #: The reward's name (``inner.name``).
    name: str
    #: The judge model spec the reward was built with (None for a reward that asks no model).
    spec: str | None

    def __init__(self, inner: Any, *, spec: str | None = None, backends: Sequence[Any] = (), cache: Any = None):
        self.inner = inner
        self.name = getattr(inner, "name", "")
        self.spec = spec
        self._backends = list(backends)
        self._cache = cache

    @property
    def backend(self) -> Any:
        """The judge's chat model (None for a reward that asks no model)."""
        return self._backends[0] if self._backends else None

    async def reward(self, requests: Sequence[RewardRequest]) -> list[RewardResult]:
        """One result per request, in order (checked: a reward that returns another number of
        results, or anything but RewardResult items, is a plugin error)."""
        requests = list(requests)
        if not requests:
            return []
        results = await self.inner.reward(requests)
        if len(results) != len(requests) or not all(isinstance(r, RewardResult) for r in results):
            raise PluginError(f"The reward {self.name!r} returned {len(results)} results for {len(requests)} "
                              "requests, or items that are not RewardResult.", "Report it to the reward's authors.")
        return list(results)

    def reward_sync(self, requests: Sequence[RewardRequest]) -> list[RewardResult]:
        """:meth:`reward` for synchronous code (a TRL reward function): one batch, one call."""
        return run_sync(self.reward(requests))

    def describe(self) -> dict[str, Any]:
        """The reward's own ``describe()`` (``kind``, ``options``, ``prompt_hashes``)."""
        return self.inner.describe()

    def close(self) -> None:
        """Close the backend and the call cache (a second call does nothing)."""
        backends, self._backends = self._backends, []
        cache, self._cache = self._cache, None
        for backend in backends:
            backend.close()
        if cache is not None:
            cache.close()

    def __enter__(self) -> "BuiltReward":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def build_reward(name: str, spec: str | None = None, *, host: Any = None, params: GenerationParams | None = None,
                 backend_options: dict[str, Any] | None = None, cache: bool = True, concurrency: int = 8,
                 **options: Any) -> BuiltReward:
    """The reward registered as ``name`` (built-in: ``profile``, ``response``), its judge on the
    model ``spec`` (any model spec, e.g. ``openai/gpt-4o-mini``, ``hf:Qwen/Qwen2.5-7B-Instruct``;
    None for a reward registered with ``needs_backend=False``).

    The spec is resolved as ``aloe-bench evaluate`` resolves a role's: through the registered
    providers (``backend_options``: the provider's options, as ``--judge-option``), with the call
    cache unless ``cache=False``, ``concurrency`` requests in flight. ``params``: the judge's
    sampling parameters (None: its defaults). ``options`` go to the reward's factory (the
    built-ins: ``judge=`` the judge protocol to wrap, ``sees=`` for ``response``, and the judge's
    own options such as ``max_retries=``). Close the result when done (or use ``with``)."""
    from aloe_bench.backends.cache import CallCache
    from aloe_bench.evaluation.roles import BackendPool
    from aloe_bench.paths import call_cache_path

    if host is None:
        from aloe_bench.plugins import default_host

        host = default_host()
    entry = host.rewards.get(name)
    needs_backend = entry.meta.get("needs_backend", True)
    if needs_backend and not spec:
        raise ConfigError(f"The reward {name!r} needs a judge model spec.",
                          f"e.g. build_reward({name!r}, 'openai/gpt-4o-mini'); `aloe-bench plugins` lists the "
                          "model providers.")
    if not needs_backend and spec:
        raise ConfigError(f"The reward {name!r} asks no model; it takes no spec (got {spec!r}).",
                          f"Call build_reward({name!r}) without one.")
    call_cache = pool = None
    try:
        backend = None
        if needs_backend:
            call_cache = CallCache(call_cache_path()) if cache else None
            pool = BackendPool(host, call_cache, concurrency)
            backend = pool.get(spec, dict(backend_options or {}), "reward")
        reward = entry.build(backend, defaults={"params": params, "host": host}, **options)
    except BaseException:
        for made in pool.all() if pool is not None else []:
            made.close()
        if call_cache is not None:
            call_cache.close()
        raise
    return BuiltReward(reward, spec=spec, backends=pool.all() if pool is not None else [], cache=call_cache)


def run_rewards(rewards: Sequence[Reward], requests: Sequence[RewardRequest]) -> list[list[RewardResult]]:
    """Run several rewards on one batch from synchronous code, concurrently: one list of results
    per reward, in the order of ``rewards`` (e.g. RLPA's total reward per sample is the sum of the
    ``profile`` and ``response`` values)."""
    requests = list(requests)

    async def all_of() -> list[list[RewardResult]]:
        return list(await asyncio.gather(*(r.reward(requests) for r in rewards)))

    return run_sync(all_of())
