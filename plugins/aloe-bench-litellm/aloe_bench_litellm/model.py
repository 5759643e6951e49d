"""``LiteLLMModel``: a :class:`~aloe_bench.components.ChatModel` over ``litellm.acompletion``.

One request per conversation, run concurrently (``concurrency`` in flight, set by the run's
``--concurrency``). Retries are done here, not by litellm or the OpenAI SDK, so every attempt
is counted and the backoff is ours (see :mod:`aloe_bench_litellm.retry`). A call that fails for
good returns ``Reply(error=...)`` with a message saying what to do; it never raises. API keys
never appear in :meth:`LiteLLMModel.identity` (which goes into run.json and cache keys) nor in
error messages.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
import re
from collections import Counter
from typing import Any, Sequence

from aloe_bench.components import ChatModel, ChoiceProbs, GenerationParams, Reply
from aloe_bench.errors import ConfigError, MissingDependencyError
from aloe_bench.records import Message, Usage

from aloe_bench_litellm.options import MAX_TOP_LOGPROBS, LitellmOptions, apply_transport, resolve_options
from aloe_bench_litellm.redact import env_secrets, public_options, scrub
from aloe_bench_litellm.retry import backoff_delay, classify, retry_after

log = logging.getLogger("aloe_bench_litellm")

_EXC_PREFIX = re.compile(r"^(?:litellm\.)?[A-Za-z]*(?:Error|Exception|Timeout)\s*[:-]\s*")

_HINTS = {
    "auth": "Check the API key: set OPENAI_API_KEY (or the provider's own *_API_KEY variable); "
            "a local OpenAI-compatible server accepts any non-empty value.",
    "not_found": "Check the model name and the api_base (a local server lists its model names at /v1/models).",
    "transient": "The service kept failing; retry later, lower --concurrency, or raise the max_retries / timeout "
                 "options.",
    "permanent": "The request was rejected; check the model name and its options.",
}


def load_litellm():
    """Import litellm quietly: local cost map (no network lookup at import), no debug banners."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        import litellm
    except ImportError as exc:  # pragma: no cover - the distribution depends on litellm
        raise MissingDependencyError("litellm is not installed.",
                                     "pip install -e plugins/aloe-bench-litellm (or pip install litellm).") from exc
    litellm.suppress_debug_info = True
    litellm.set_verbose = False
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    return litellm


def _field(obj: Any, name: str) -> Any:
    """``obj.name`` or ``obj[name]`` (litellm returns objects, some providers plain dicts)."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def response_tokens(response: Any) -> tuple[int, int]:
    """(prompt tokens, completion tokens) of a chat-completions response (a litellm object or the
    plain JSON dict of an OpenAI-compatible server); 0 where the server reported none."""
    usage = _field(response, "usage")
    return int(_field(usage, "prompt_tokens") or 0), int(_field(usage, "completion_tokens") or 0)


def choice_probs_from_response(response: Any, choices: Sequence[str]) -> dict[str, float] | None:
    """Normalised probabilities of ``choices`` as the first generated token, read from the
    response's ``top_logprobs``; None when the response carries none of them."""
    first_choice = (_field(response, "choices") or [None])[0]
    content = _field(_field(first_choice, "logprobs"), "content")
    if not content:
        return None
    first = content[0]
    candidates = list(_field(first, "top_logprobs") or []) or [first]
    wanted = set(choices)
    mass: dict[str, float] = {}
    for entry in candidates:
        token, logprob = _field(entry, "token"), _field(entry, "logprob")
        if token is None or logprob is None:
            continue
        token = str(token).strip()
        if token in wanted:
            mass[token] = mass.get(token, 0.0) + math.exp(float(logprob))
    total = sum(mass.values())
    if total <= 0:
        return None
    return {c: mass.get(c, 0.0) / total for c in choices}


class LiteLLMModel(ChatModel):
    """A chat model reached through litellm (any provider litellm knows, or any
    OpenAI-compatible server with ``openai/<name>`` and ``api_base``).

    Options are a :class:`~aloe_bench_litellm.options.LitellmOptions` (or its keys as keyword
    arguments, validated here before anything is sent): ``api_base``, ``api_key`` (else
    litellm's environment variables), ``timeout`` (seconds per attempt, default 60),
    ``max_retries`` (default 5), ``backoff_base`` / ``backoff_cap`` (full-jitter backoff, seconds;
    default 0.5 / 20), ``concurrency``, ``logprobs`` (score judges from answer probabilities),
    ``top_logprobs`` (default 20), and the request parameters that go to ``litellm.acompletion``
    (:data:`~aloe_bench_litellm.options.REQUEST_PARAMS`, ``request_options``).
    """

    #: A hosted model id (plus endpoint and options, see :meth:`identity`) names the model that
    #: answers, not this plugin's code: cached replies survive a new aloe-bench-litellm release.
    identity_pins_replies = True

    def __init__(self, model: str, *, options: LitellmOptions | None = None, **keyword_options: Any):
        model = (model or "").strip()
        if not model:
            raise ConfigError("The litellm provider needs a model name.",
                              "Use e.g. --model litellm:gpt-4o-mini or --model openai/<served-name>.")
        opts = resolve_options(LitellmOptions, "litellm", options, keyword_options)
        self.options = opts
        self.model = model
        self.spec = f"litellm:{model}"
        self.api_base = opts.api_base or None
        self._api_key = opts.api_key or None
        apply_transport(self, opts)
        #: Keyword arguments added to every request (request parameters and ``request_options``).
        self.extra = opts.request_params()
        #: Counts of attempts, retries and final failures (by kind), for reports and tests.
        self.stats: Counter = Counter()
        self._rng = random.Random()

    # -- description ----------------------------------------------------------------------------
    def effective_api_base(self) -> str | None:
        """The endpoint requests go to: the ``api_base`` option, else (for OpenAI-style model
        names) ``OPENAI_API_BASE`` / ``OPENAI_BASE_URL``; None means the provider's default."""
        if self.api_base:
            return self.api_base
        if "/" not in self.model or self.model.startswith(("openai/", "text-completion-openai/")):
            return os.environ.get("OPENAI_API_BASE") or os.environ.get("OPENAI_BASE_URL") or None
        return None

    def identity(self) -> dict[str, Any]:
        """Model name, endpoint and the options that change outputs. Never the API key; timeouts,
        retries and concurrency are left out because they do not change what is generated."""
        base = self.effective_api_base()
        ident: dict[str, Any] = {"spec": self.spec, "provider": "litellm", "model": self.model,
                                 "api_base": scrub(base, self._secrets()) if base else None}
        if self.logprobs:
            ident["logprobs"] = True
            ident["top_logprobs"] = self.top_logprobs
        extra = public_options(self.extra)
        if extra:
            ident["options"] = extra
        return ident

    def _secrets(self) -> list[str]:
        return [s for s in [self._api_key, *env_secrets()] if s]

    def scrub(self, text: str) -> str:
        """``text`` with this model's API key, credential environment variables and anything
        :func:`aloe_bench.secrets.redact_text` finds (URL credentials, key shapes) redacted."""
        return scrub(text, self._secrets())

    # -- requests -------------------------------------------------------------------------------
    def request_kwargs(self, messages: Sequence[Message], params: GenerationParams) -> dict[str, Any]:
        """The keyword arguments of one ``litellm.acompletion`` call (without retries)."""
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "timeout": self.timeout,
            # Retries are ours: litellm's and the OpenAI SDK's are switched off so each attempt is counted once.
            "num_retries": 0,
            "max_retries": 0,
            # Providers without e.g. `seed` drop it instead of failing the call.
            "drop_params": True,
            "max_tokens": params.max_tokens,
        }
        if self.api_base:
            kwargs["api_base"] = self.api_base
        if self._api_key:
            kwargs["api_key"] = self._api_key
        if params.temperature is not None:
            kwargs["temperature"] = params.temperature
        if params.top_p is not None:
            kwargs["top_p"] = params.top_p
        if params.seed is not None:
            kwargs["seed"] = params.seed
        if params.stop:
            kwargs["stop"] = list(params.stop)
        kwargs.update(self.extra)
        return kwargs

    async def _request(self, kwargs: dict[str, Any]) -> tuple[Any, str | None]:
        """(response, None) or (None, error message) after up to ``max_retries`` retries."""
        litellm = load_litellm()
        attempt = 0
        while True:
            self.stats["attempts"] += 1
            try:
                return await litellm.acompletion(**kwargs), None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every API failure is classified below; nothing is dropped
                kind = classify(exc)
                if kind == "transient" and attempt < self.max_retries:
                    wait = retry_after(exc)
                    if wait is None:
                        wait = backoff_delay(attempt, self.backoff_base, self.backoff_cap, self._rng)
                    attempt += 1
                    self.stats["retries"] += 1
                    log.debug("%s: %s; retry %d in %.2fs", self.model, type(exc).__name__, attempt, wait)
                    await asyncio.sleep(wait)
                    continue
                self.stats[f"failed_{kind}"] += 1
                return None, self._error_message(exc, kind, attempt + 1)

    def _error_message(self, exc: BaseException, kind: str, attempts: int) -> str:
        detail = " ".join(str(exc).split())
        while True:  # litellm stacks class names: "litellm.XError: XError: OpenAIException - ..."
            stripped = _EXC_PREFIX.sub("", detail, count=1)
            if stripped == detail:
                break
            detail = stripped
        if len(detail) > 400:
            detail = detail[:400] + "..."
        where = self.effective_api_base()
        label = "authentication failed" if kind == "auth" else type(exc).__name__
        msg = (f"{self.model}{f' at {where}' if where else ''}: {label}: {detail} "
               f"(after {attempts} attempt{'s' if attempts != 1 else ''}). {_HINTS[kind]}")
        return self.scrub(msg)

    def _cost(self, response: Any) -> float:
        # litellm knows prices only for models in its cost map; a served or unknown model costs 0.
        hidden = getattr(response, "_hidden_params", None) or {}
        if "response_cost" in hidden:  # litellm priced the response already: do not price it twice
            cost = hidden["response_cost"]
            return float(cost) if cost and math.isfinite(float(cost)) else 0.0
        litellm = load_litellm()
        try:
            cost = litellm.completion_cost(completion_response=response)
        except Exception:  # unknown model / missing price: not an error of the call
            return 0.0
        return float(cost) if cost and math.isfinite(float(cost)) else 0.0

    async def acomplete(self, messages: Sequence[Message], params: GenerationParams) -> Reply:
        """One reply; ``Reply(error=...)`` after the last failed attempt."""
        response, error = await self._request(self.request_kwargs(messages, params))
        if error is not None:
            return Reply(error=error)
        choice = (_field(response, "choices") or [None])[0]
        if choice is None:
            self.stats["failed_permanent"] += 1
            return Reply(error=self.scrub(f"{self.model}: the response has no choices. {_HINTS['permanent']}"))
        text = _field(_field(choice, "message"), "content") or ""
        prompt_tokens, completion_tokens = response_tokens(response)
        return Reply(text=text, finish_reason=_field(choice, "finish_reason"), prompt_tokens=prompt_tokens,
                     completion_tokens=completion_tokens, cost=self._cost(response))

    async def achoice_probs(self, batch: Sequence[Sequence[Message]], choices: Sequence[str],
                            params: GenerationParams) -> list[dict[str, float] | None]:
        """Probabilities of ``choices`` as the first token (one-token requests with
        ``logprobs``); None for an item whose response had no usable logprobs or failed (the
        judge then asks for a text answer)."""
        sem = self.limiter()
        top = min(MAX_TOP_LOGPROBS, max(len(choices), self.top_logprobs))

        async def one(messages: Sequence[Message]) -> dict[str, float] | None:
            kwargs = self.request_kwargs(messages, params.model_copy(update={"max_tokens": 1}))
            kwargs.update(logprobs=True, top_logprobs=top)
            async with sem:
                response, error = await self._request(kwargs)
            if error is not None:
                log.warning("choice probabilities unavailable: %s", error)
                return None
            probs = choice_probs_from_response(response, choices)
            if probs is None:
                self.stats["no_logprobs"] += 1
                return None
            prompt_tokens, completion_tokens = response_tokens(response)
            return ChoiceProbs(probs, Usage(calls=1, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                                            cost=self._cost(response)))

        return list(await asyncio.gather(*(one(m) for m in batch)))
