"""``OaiModel``: the ``oai:MODEL`` provider, a lean transport for OpenAI-compatible servers.

It speaks the OpenAI chat-completions protocol directly (``POST {base_url}/chat/completions``)
over one pooled :class:`aiohttp.ClientSession` per model instance and event loop: a request is
one ``dict`` turned into JSON, one HTTP round trip on a kept-alive connection, and one
``json.loads``. No SDK objects, no per-call logging objects, no cost lookups; that is what makes
it cost a fraction of litellm's client CPU per call, which matters on a machine that also runs
the server, or in sweeps of hundreds of thousands of calls. Self-hosted servers (vLLM, SGLang,
TGI, llama.cpp's ``llama-server``, LM Studio, Ollama's ``/v1``) are what it is for; it prices
nothing (``Reply.cost`` is 0): hosted APIs with prices belong to the ``litellm`` provider.

Behaviour shared with the litellm provider: the retry policy of
:mod:`aloe_bench_litellm.retry` (full-jitter backoff on 429 honouring ``Retry-After``, on 5xx,
timeouts and connection errors; no retry on 400/401/403/404, which fail at once with a one-line
error and a hint), secret scrubbing (:func:`aloe_bench_litellm.redact.scrub`), answer
probabilities for the probability judge (``logprobs=true``), and ``Reply(error=...)`` instead of
an exception for every per-call failure.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import warnings
from collections import Counter
from typing import Any, Sequence
from urllib.parse import urlsplit, urlunsplit

from aloe_bench.components import ChatModel, ChoiceProbs, GenerationParams, Reply
from aloe_bench.errors import AloeBenchWarning, ConfigError, MissingDependencyError
from aloe_bench.records import Message, Usage
from aloe_bench.secrets import redact

from aloe_bench_litellm.model import choice_probs_from_response, response_tokens
from aloe_bench_litellm.oai_options import OaiOptions
from aloe_bench_litellm.options import MAX_TOP_LOGPROBS, apply_transport, resolve_options
from aloe_bench_litellm.redact import env_secrets, scrub
from aloe_bench_litellm.retry import backoff_delay, classify_status, retry_after_from_headers

try:  # a dependency of the distribution (and of litellm); checked again when a model is built
    import aiohttp
except ImportError:  # pragma: no cover - declared in pyproject.toml
    aiohttp = None  # type: ignore[assignment]

log = logging.getLogger("aloe_bench_litellm.oai")

#: Longest piece of a server's error message quoted in a reply's error.
_MAX_DETAIL = 300

_HINTS = {
    "auth": "Check the key: set OPENAI_API_KEY or --model-option api_key=... (a server started without a key "
            "accepts any value, or none).",
    "not_found": "Check the model name and base_url: the server lists its model names at GET {base}/models, "
                 "and base_url usually ends in /v1.",
    "transient": "The server kept failing; retry later, lower --concurrency, or raise the max_retries / timeout "
                 "options.",
    "permanent": "The server rejected the request; check the model name, base_url and the options.",
}


def _public_url(url: str) -> str:
    """``url`` without user credentials and trailing slash, with secret query values redacted."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]  # host[:port], whatever follows the credentials
    return scrub(urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), parts.query, "")))


def _completions_url(base: str, keep_credentials: bool) -> str:
    """The chat-completions endpoint under ``base`` (its query string kept after the path)."""
    parts = urlsplit(base)
    netloc = parts.netloc if keep_credentials else parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/") + "/chat/completions", parts.query, ""))


def _one_line(text: str, limit: int = _MAX_DETAIL) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "..."


def _error_detail(status: int, raw: bytes) -> str:
    """The server's error message from an OpenAI-style error body (else the raw text)."""
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict) and err.get("message"):
            return _one_line(err["message"])
        if isinstance(err, str) and err:
            return _one_line(err)
        if isinstance(data.get("detail"), str):  # FastAPI-style servers
            return _one_line(data["detail"])
    text = raw.decode("utf-8", "replace").strip()
    return _one_line(text) if text else f"HTTP {status} with an empty body"


class _Failure(Exception):
    """One failed attempt: its retry class, a one-line label and detail, and the server's
    ``Retry-After`` when it sent one. Internal to :class:`OaiModel`."""

    def __init__(self, kind: str, label: str, detail: str, wait: float | None = None):
        super().__init__(detail)
        self.kind, self.label, self.detail, self.wait = kind, label, detail, wait


class OaiModel(ChatModel):
    """A chat model behind an OpenAI-compatible ``/chat/completions`` endpoint, called directly
    over aiohttp (spec ``oai:MODEL``; ``MODEL`` is the name the server serves).

    Options are an :class:`~aloe_bench_litellm.oai_options.OaiOptions` (or its keys as keyword
    arguments): ``base_url`` (else ``OPENAI_API_BASE`` / ``OPENAI_BASE_URL``; one of them is
    required), ``api_key`` (else ``OPENAI_API_KEY``; no ``Authorization`` header without one),
    ``timeout``, ``max_retries``, ``backoff_base`` / ``backoff_cap``, ``concurrency``,
    ``logprobs`` / ``top_logprobs``, the sampling overrides ``temperature``, ``top_p``,
    ``max_tokens``, ``seed``, ``stop``, and ``extra_body``.

    :meth:`identity` is the model name, the base URL without credentials and what changes the
    outputs (never the key), so a finished run re-runs offline from the call cache. The model
    name the server reports in its responses is kept in :attr:`served_model`; a name other than
    the configured one is a warning (:class:`~aloe_bench.errors.AloeBenchWarning`), once.
    """

    #: The model name and the endpoint name what answers, not this plugin's code: cached replies
    #: survive a new aloe-bench-litellm release (as for the litellm provider).
    identity_pins_replies = True

    def __init__(self, model: str, *, options: OaiOptions | None = None, **keyword_options: Any):
        if aiohttp is None:  # pragma: no cover - declared dependency
            raise MissingDependencyError("The oai provider needs aiohttp.", "pip install aiohttp")
        model = (model or "").strip()
        if not model:
            raise ConfigError("The oai provider needs a model name.",
                              "Use --model oai:<served-model-name> (the server lists them at /v1/models).")
        opts = resolve_options(OaiOptions, "oai", options, keyword_options)
        self.options = opts
        self.model = model
        self.spec = f"oai:{model}"
        self._api_key = opts.api_key or os.environ.get("OPENAI_API_KEY") or None
        base = (opts.base_url or opts.api_base or os.environ.get("OPENAI_API_BASE")
                or os.environ.get("OPENAI_BASE_URL") or "").strip()
        if not base:
            raise ConfigError(f"The oai provider needs the server's URL for {model!r}.",
                              "Give --model-option base_url=http://HOST:PORT/v1 (or --user-option / --judge-option), "
                              "or set OPENAI_API_BASE.")
        parts = urlsplit(base)
        try:
            valid = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 0) >= 0
        except ValueError:  # a port that is not a number
            valid = False
        if not valid:
            raise ConfigError(f"The oai provider's base_url {_public_url(base)!r} is not an http(s) URL.",
                              "Use e.g. base_url=http://localhost:8000/v1.")
        self._url_password = parts.password
        #: The endpoint as identity, errors and logs show it: no credentials, no trailing slash.
        self.base_url = _public_url(base)
        # Credentials in the URL become HTTP basic auth, unless a bearer key is set (then it wins).
        self._url = _completions_url(base, keep_credentials=not self._api_key)
        apply_transport(self, opts)
        self._overrides = opts.sampling_overrides()
        self._extra_body = dict(opts.extra_body or {})
        #: The model name the server reported in its first response (None before any answer).
        self.served_model: str | None = None
        self._warned_served = False
        #: Counts of attempts, retries and final failures (by kind), as for the litellm provider.
        self.stats: Counter = Counter()
        self._rng = random.Random()
        self._sessions: dict[asyncio.AbstractEventLoop, Any] = {}

    # -- description ----------------------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        """Model name, base URL (no credentials) and the options that change outputs. Never the
        key, the reported model name (known only after a call: it would split the cache),
        timeouts, retries or concurrency."""
        ident: dict[str, Any] = {"spec": self.spec, "provider": "oai", "model": self.model, "base_url": self.base_url}
        if self.logprobs:
            ident["logprobs"] = True
            ident["top_logprobs"] = self.top_logprobs
        shown = dict(self._overrides)
        if self._extra_body:
            shown["extra_body"] = self._extra_body
        if shown:  # JSON values as given; secret-named keys (at any depth) and key shapes redacted
            ident["options"] = redact(shown)
        return ident

    def _secrets(self) -> list[str]:
        return [s for s in (self._api_key, self._url_password, *env_secrets()) if s]

    def scrub(self, text: str) -> str:
        """``text`` with this model's key, URL password, credential environment variables and
        anything :func:`aloe_bench.secrets.redact_text` finds redacted."""
        return scrub(text, self._secrets())

    # -- the session ----------------------------------------------------------------------------
    def _session(self) -> Any:
        """The pooled session of the running event loop (created on first use; sessions of
        loops that have closed are dropped)."""
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is not None and not session.closed:
            return session
        for old_loop in [lp for lp in self._sessions if lp.is_closed()]:
            _close_session(self._sessions.pop(old_loop), old_loop)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        session = aiohttp.ClientSession(
            # No connection limit of its own (the model's limiter caps requests in flight); a
            # threaded resolver, which needs no closing (aiodns' would).
            connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, resolver=aiohttp.ThreadedResolver()),
            headers=headers, timeout=aiohttp.ClientTimeout(total=self.timeout),
            cookie_jar=aiohttp.DummyCookieJar(), raise_for_status=False, trust_env=False)
        self._sessions[loop] = session
        return session

    async def aclose(self) -> None:
        """Close the sessions (await it from the loop that used the model)."""
        for loop, session in list(self._sessions.items()):
            del self._sessions[loop]
            try:
                current = asyncio.get_running_loop()
            except RuntimeError:  # pragma: no cover - aclose is awaited inside a loop
                current = None
            if loop is current:
                await session.close()
            else:
                _close_session(session, loop)

    def close(self) -> None:
        """Close the pooled sessions: connections are closed at once, from inside the event loop
        too (the engine calls it there); a later call opens a new session."""
        for loop in list(self._sessions):
            _close_session(self._sessions.pop(loop), loop)

    # -- requests -------------------------------------------------------------------------------
    def request_body(self, messages: Sequence[Message], params: GenerationParams) -> dict[str, Any]:
        """The JSON body of one chat-completions request: the run's parameters, overridden by
        this model's sampling options, then ``extra_body``; unset parameters are not sent."""
        body: dict[str, Any] = {"model": self.model,
                                "messages": [{"role": m.role, "content": m.content} for m in messages],
                                "max_tokens": params.max_tokens}
        if params.temperature is not None:
            body["temperature"] = params.temperature
        if params.top_p is not None:
            body["top_p"] = params.top_p
        if params.seed is not None:
            body["seed"] = params.seed
        if params.stop:
            body["stop"] = list(params.stop)
        if self._overrides:
            body.update(self._overrides)
        if self._extra_body:
            body.update(self._extra_body)
        return body

    async def _attempt(self, payload: bytes) -> dict[str, Any]:
        """One HTTP round trip: the parsed JSON of a 2xx answer, else :class:`_Failure`."""
        session = self._session()
        try:
            async with session.post(self._url, data=payload) as resp:
                raw = await resp.read()
                status = resp.status
                if status >= 300:
                    kind = classify_status(status)
                    wait = None
                    if kind == "transient":
                        wait = retry_after_from_headers({k.lower(): v for k, v in resp.headers.items()})
                    label = f"HTTP {status}" + (" authentication failed" if kind == "auth" else "")
                    raise _Failure(kind, label, _error_detail(status, raw), wait)
        except (asyncio.TimeoutError, TimeoutError):
            raise _Failure("transient", "timeout", f"no answer within {self.timeout:g}s") from None
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            raise _Failure("transient", "connection error", f"{type(exc).__name__}: {_one_line(exc)}") from None
        except aiohttp.ClientError as exc:
            raise _Failure("permanent", type(exc).__name__, _one_line(exc)) from None
        try:
            data = json.loads(raw)
        except ValueError:
            raise _Failure("permanent", "unreadable answer",
                           f"HTTP {status} without JSON: {_one_line(raw.decode('utf-8', 'replace'), 120)!r}") from None
        if not isinstance(data, dict):
            raise _Failure("permanent", "unreadable answer", f"HTTP {status} with JSON that is not an object")
        return data

    async def _request(self, body: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        """(response JSON, None) or (None, error message) after up to ``max_retries`` retries."""
        payload = json.dumps(body, ensure_ascii=False).encode()
        attempt = 0
        while True:
            self.stats["attempts"] += 1
            try:
                data = await self._attempt(payload)
            except asyncio.CancelledError:
                raise
            except _Failure as failure:
                if failure.kind == "transient" and attempt < self.max_retries:
                    wait = failure.wait
                    if wait is None:
                        wait = backoff_delay(attempt, self.backoff_base, self.backoff_cap, self._rng)
                    attempt += 1
                    self.stats["retries"] += 1
                    log.debug("%s: %s; retry %d in %.2fs", self.model, failure.label, attempt, wait)
                    await asyncio.sleep(wait)
                    continue
                self.stats[f"failed_{failure.kind}"] += 1
                return None, self._error_message(failure.kind, failure.label, failure.detail, attempt + 1)
            except Exception as exc:  # a bug or an unexpected library error: still a Reply, never a raise
                self.stats["failed_permanent"] += 1
                return None, self._error_message("permanent", type(exc).__name__, _one_line(exc), attempt + 1)
            self._note_served_model(data.get("model"))
            return data, None

    def _error_message(self, kind: str, label: str, detail: str, attempts: int) -> str:
        hint = _HINTS[kind].replace("{base}", self.base_url)
        return self.scrub(f"{self.model} at {self.base_url}: {label}: {detail} "
                          f"(after {attempts} attempt{'s' if attempts != 1 else ''}). {hint}")

    def _note_served_model(self, name: Any) -> None:
        if not isinstance(name, str) or not name:
            return
        if self.served_model is None:
            self.served_model = name
        if name != self.model and not self._warned_served:
            self._warned_served = True
            warnings.warn(f"oai:{self.model} at {self.base_url}: the server answers as model {name!r}; "
                          f"the run records the configured name {self.model!r}.", AloeBenchWarning, stacklevel=2)

    def _failed_reply(self, what: str) -> Reply:
        self.stats["failed_permanent"] += 1
        return Reply(error=self.scrub(f"{self.model} at {self.base_url}: {what}. {_HINTS['permanent']}"))

    async def acomplete(self, messages: Sequence[Message], params: GenerationParams) -> Reply:
        """One reply; ``Reply(error=...)`` after the last failed attempt (never raises)."""
        data, error = await self._request(self.request_body(messages, params))
        if error is not None:
            return Reply(error=error)
        choices = data.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else None
        if not isinstance(choice, dict):
            return self._failed_reply("the response has no choices")
        message = choice.get("message")
        text = message.get("content") if isinstance(message, dict) else None
        prompt_tokens, completion_tokens = response_tokens(data)
        return Reply(text=text if isinstance(text, str) else "", finish_reason=choice.get("finish_reason"),
                     prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)

    async def achoice_probs(self, batch: Sequence[Sequence[Message]], choices: Sequence[str],
                            params: GenerationParams) -> list[dict[str, float] | None]:
        """Probabilities of ``choices`` as the first token (one-token requests with
        ``logprobs``), each a :class:`~aloe_bench.components.ChoiceProbs` with the call's token
        usage; None for an item whose response had no usable logprobs or failed (the judge then
        asks for a text answer)."""
        sem = self.limiter()
        top = min(MAX_TOP_LOGPROBS, max(len(choices), self.top_logprobs))

        async def one(messages: Sequence[Message]) -> dict[str, float] | None:
            body = self.request_body(messages, params)
            body.update(max_tokens=1, logprobs=True, top_logprobs=top)
            async with sem:
                data, error = await self._request(body)
            if error is not None:
                log.warning("choice probabilities unavailable: %s", error)
                return None
            probs = choice_probs_from_response(data, choices)
            if probs is None:
                self.stats["no_logprobs"] += 1
                return None
            prompt_tokens, completion_tokens = response_tokens(data)
            return ChoiceProbs(probs, Usage(calls=1, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens))

        return list(await asyncio.gather(*(one(m) for m in batch)))


def _close_session(session: Any, loop: asyncio.AbstractEventLoop) -> None:
    """Close ``session`` (created on ``loop``) from synchronous code.

    A loop that is idle runs aiohttp's close to the end; a loop running in another thread gets it
    scheduled. Inside ``loop`` itself (the engine closes backends from a coroutine), or once
    ``loop`` has closed, nothing can be awaited: the connector's pooled connections are closed
    at once through the synchronous step of aiohttp's own close (the one its finaliser uses),
    which also marks the session closed. A task would not do: ``asyncio.run`` cancels tasks that
    have not started when the main coroutine returns."""
    if session.closed:
        return
    try:
        current = asyncio.get_running_loop()
    except RuntimeError:
        current = None
    if loop is not current and not loop.is_closed():
        if loop.is_running():
            asyncio.run_coroutine_threadsafe(session.close(), loop)
        else:
            loop.run_until_complete(session.close())
        return
    close_now = getattr(session.connector, "_close", None)
    if close_now is not None:
        close_now()
    elif current is not None:  # pragma: no cover - an aiohttp without the synchronous step
        current.create_task(session.close())
