"""A small OpenAI-compatible HTTP server for tests and benchmarks (standard library only).

It serves ``POST /v1/chat/completions`` (JSON, or server-sent events with ``stream: true``) and
``GET /v1/models`` on 127.0.0.1, answers from a Python function, and lets a test inject faults
(429 with ``Retry-After``, 500, 503, timeouts, unreadable or empty answers), add latency, and
inspect every request it received. litellm, the OpenAI SDK, lm-eval's API backends or curl talk
to it over real HTTP, exactly as they would to vLLM or the OpenAI API.

Use it in tests through the ``aloe_openai_server`` fixture of :mod:`aloe_bench.testing`::

    def test_x(aloe_openai_server):
        aloe_openai_server.inject("429", count=2, match="Rate the reply")
        ... point OPENAI_API_BASE at aloe_openai_server.base_url ...
        assert aloe_openai_server.status_counts[429] == 2

or run it as a process (e.g. for the concurrency benchmark)::

    python -m aloe_bench.testing.openai_server --port 8000 --latency 0.5

Replies come from ``script(messages) -> str`` where ``messages`` is the request's list of
``{"role": ..., "content": ...}`` dicts. The default script follows
:func:`aloe_bench.testing.default_script`: a judge prompt gets a digit and a one-line rationale,
anything else a short deterministic line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

#: Fault kinds accepted by :meth:`OpenAICompatServer.inject`.
FAULT_KINDS = ("429", "500", "503", "401", "400", "timeout", "garbage", "empty")

#: Answers returned by the ``garbage`` fault, in turn; none of them holds a 1-5 score.
GARBAGE_REPLIES = ("I cannot rate this.", "Hard to say, it depends on the person.",
                   "That is an interesting reply.")

#: Hosts the server agrees to bind: it must never be reachable from another machine.
LOCAL_HOSTS = ("127.0.0.1", "localhost")

_SECRET_HEADERS = ("authorization", "api-key", "x-api-key", "proxy-authorization")
_ERRORS = {
    400: ("invalid_request_error", "Bad request (injected)."),
    401: ("invalid_request_error", "Incorrect API key provided."),
    429: ("rate_limit_error", "Rate limit reached (injected). Please retry after a short wait."),
    500: ("server_error", "The server had an error while processing your request (injected)."),
    503: ("server_error", "The engine is currently overloaded (injected)."),
}


def default_reply(messages: list[dict[str, Any]]) -> str:
    """The default script: :func:`aloe_bench.testing.default_script` over the request's messages."""
    from aloe_bench.records import Message
    from aloe_bench.testing import default_script

    msgs = [Message(role=m["role"] if m.get("role") in ("system", "user", "assistant") else "user",
                    content=message_text(m)) for m in messages]
    return default_script(msgs)


def message_text(message: dict[str, Any]) -> str:
    """The text of one OpenAI message (a string, or a list of content parts)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def split_tokens(text: str) -> list[str]:
    """A crude tokenisation for ``max_tokens``, usage counts and streaming: a leading digit is a
    token of its own (as in real tokenizers), then words with their trailing whitespace."""
    head: list[str] = []
    m = re.match(r"\s*\d", text)
    if m:
        head, text = [m.group(0)], text[m.end():]
    return head + (re.findall(r"\s*\S+\s*", text) or ([text] if text else []))


def first_token_logprobs(text: str, top_n: int) -> dict[str, Any]:
    """OpenAI-shaped ``choices[0].logprobs`` for the first token of ``text``.

    The first token gets probability 0.8; the digits "1".."5" other than it share 0.15, more for
    digits closer to it; a few non-digit tokens share the rest. Deterministic.
    """
    tokens = split_tokens(text)
    first = tokens[0].strip() if tokens else ""
    others = [d for d in "12345" if d != first]
    if first.isdigit():
        weights = [1.0 / (1 + abs(int(d) - int(first))) for d in others]
    else:
        weights = [1.0] * len(others)
    total = sum(weights)
    entries = [(first, 0.8)] + [(d, 0.15 * w / total) for d, w in zip(others, weights)]
    fillers = [t for t in ("The", "I", "\n", "Score", "**") if t != first]
    entries += [(t, 0.05 / len(fillers)) for t in fillers]
    top = [{"token": t, "logprob": math.log(p), "bytes": list(t.encode())} for t, p in entries[: max(0, top_n)]]
    return {"content": [{"token": first, "logprob": math.log(0.8), "bytes": list(first.encode()),
                         "top_logprobs": top}]}


@dataclass
class Fault:
    """An injected fault: the next ``count`` chat requests whose last message contains
    ``match`` (any request when None) get ``kind`` instead of a normal answer."""

    kind: str
    count: int
    match: str | None = None
    retry_after: float = 0.1
    used: int = 0

    def applies(self, last_message: str) -> bool:
        """True while the fault has uses left and matches this request."""
        return self.used < self.count and (self.match is None or self.match in last_message)


class OpenAICompatServer:
    """An OpenAI-compatible chat server on 127.0.0.1, in a background thread.

    ``port=0`` picks a free port; :attr:`base_url` is ``http://127.0.0.1:PORT/v1``.
    ``latency`` (seconds, settable any time) delays every chat answer inside its own handler
    thread, so concurrent requests overlap as on a real server. ``api_key``, when given, is
    required (a request without it gets 401). ``logprobs=False`` (settable) makes the server
    ignore ``logprobs`` requests, as servers without logprob support do. Thread-safe.

    Inspection: :attr:`requests` (one dict per request: ``method``, ``path``, ``json``,
    ``headers`` (lower-case names, secrets replaced by ``REDACTED``), ``had_auth``, ``status``, ``fault``) and
    :attr:`status_counts` (a Counter keyed by HTTP status; ``"timeout"`` for dropped requests).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, latency: float = 0.0,
                 script: Callable[[list[dict[str, Any]]], str] | None = None, *,
                 api_key: str | None = None, timeout_delay: float = 30.0, logprobs: bool = True,
                 model_names: tuple[str, ...] = ("aloe-test",)):
        if host not in LOCAL_HOSTS:
            raise ValueError(f"OpenAICompatServer only binds 127.0.0.1, not {host!r}.")
        self.host = "127.0.0.1"
        self.port = port
        self.latency = latency
        self.script = script or default_reply
        self.api_key = api_key
        self.timeout_delay = timeout_delay
        self.logprobs = logprobs
        self.model_names = tuple(model_names)
        self.requests: list[dict[str, Any]] = []
        self.status_counts: Counter = Counter()
        self._faults: list[Fault] = []
        self._garbage_index = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> "OpenAICompatServer":
        """Bind and serve in a daemon thread; returns self."""
        if self._httpd is not None:
            return self
        handler = type("Handler", (_Handler,), {"server_obj": self})
        httpd = _Server((self.host, self.port), handler)
        httpd.daemon_threads = True
        httpd.block_on_close = False
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._stopping.clear()
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"openai-server-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; requests still sleeping (latency, timeout faults) are cut short."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "OpenAICompatServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    # -- faults and inspection ------------------------------------------------------------------
    def inject(self, kind: str, count: int = 1, match: str | None = None, *, retry_after: float = 0.1) -> Fault:
        """Make the next ``count`` chat requests whose last message contains ``match`` fail with
        ``kind``: ``"429"`` (with ``Retry-After: retry_after`` seconds), ``"500"``, ``"503"``,
        ``"401"``, ``"400"``, ``"timeout"`` (no answer for ``timeout_delay`` seconds),
        ``"garbage"`` (a 200 answer without a score) or ``"empty"`` (a 200 answer with no text).
        Faults are used in the order they were injected."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"Unknown fault {kind!r}; expected one of {', '.join(FAULT_KINDS)}.")
        fault = Fault(kind=kind, count=count, match=match, retry_after=retry_after)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Drop every fault not yet used up."""
        with self._lock:
            self._faults.clear()

    def reset(self) -> None:
        """Forget recorded requests, counters and faults."""
        with self._lock:
            self.requests.clear()
            self.status_counts.clear()
            self._faults.clear()

    def chat_requests(self, match: str | None = None) -> list[dict[str, Any]]:
        """Recorded chat-completion requests, optionally only those whose last message contains
        ``match``."""
        with self._lock:
            reqs = [r for r in self.requests if r["path"].endswith("/chat/completions")]
        if match is None:
            return reqs
        return [r for r in reqs if match in _last_text(r.get("json") or {})]

    # -- request handling (called from handler threads) -----------------------------------------
    def _record(self, method: str, path: str, headers: dict[str, str], body: Any) -> dict[str, Any]:
        clean = {k.lower(): ("REDACTED" if k.lower() in _SECRET_HEADERS else v) for k, v in headers.items()}
        rec = {"method": method, "path": path, "json": body, "headers": clean,
               "had_auth": any(k.lower() in _SECRET_HEADERS for k in headers),
               "status": None, "fault": None, "time": time.time()}
        with self._lock:
            self.requests.append(rec)
        return rec

    def _finish(self, rec: dict[str, Any], status: Any) -> None:
        with self._lock:
            rec["status"] = status
            self.status_counts[status] += 1

    def _take_fault(self, last_message: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.applies(last_message):
                    fault.used += 1
                    return fault
        return None

    def _next_garbage(self) -> str:
        with self._lock:
            text = GARBAGE_REPLIES[self._garbage_index % len(GARBAGE_REPLIES)]
            self._garbage_index += 1
        return text

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)


def _last_text(body: dict[str, Any]) -> str:
    messages = body.get("messages") or []
    return message_text(messages[-1]) if messages and isinstance(messages[-1], dict) else ""


def _auth_token(headers: dict[str, str]) -> str | None:
    for key, value in headers.items():
        if key.lower() == "authorization":
            return value.split(" ", 1)[1].strip() if " " in value else value.strip()
        if key.lower() in ("api-key", "x-api-key"):
            return value.strip()
    return None


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer with a listen backlog deep enough for bursts of concurrent clients (the
    default of 5 drops connections, which clients retry only after a 1 s SYN timeout)."""

    request_queue_size = 128


class _Handler(BaseHTTPRequestHandler):
    """HTTP handler; ``server_obj`` is set on a subclass per server instance."""

    server_obj: OpenAICompatServer
    protocol_version = "HTTP/1.1"
    _rec: dict[str, Any] | None = None

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silence the default per-request stderr log."""

    # -- plumbing -------------------------------------------------------------------------------
    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self._done(status)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout fault)
            self.close_connection = True

    def _done(self, status: Any) -> None:
        # Counted before the answer is written, so a client that has its answer sees it counted.
        rec, self._rec = self._rec, None
        if rec is not None:
            self.server_obj._finish(rec, status)

    def _send_error(self, status: int, message: str | None = None, headers: dict[str, str] | None = None) -> None:
        etype, default = _ERRORS.get(status, ("server_error", "Error."))
        self._send_json(status, {"error": {"message": message or default, "type": etype, "param": None,
                                           "code": str(status)}}, headers)

    def _headers(self) -> dict[str, str]:
        return {k: v for k, v in self.headers.items()}

    # -- routes ---------------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        """``GET /v1/models``."""
        srv = self.server_obj
        self._rec = srv._record("GET", self.path, self._headers(), None)
        if self.path.rstrip("/") not in ("/v1/models", "/models"):
            self._send_error(404, f"No route {self.path}.")
            return
        with srv._lock:
            seen = [r["json"].get("model") for r in srv.requests if isinstance(r.get("json"), dict)]
        names = list(dict.fromkeys([*srv.model_names, *[s for s in seen if s]]))
        self._send_json(200, {"object": "list", "data": [
            {"id": n, "object": "model", "created": 0, "owned_by": "aloe-bench"} for n in names]})

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        """``POST /v1/chat/completions``."""
        srv = self.server_obj
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = None
        headers = self._headers()
        rec = self._rec = srv._record("POST", self.path, headers, body)
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._send_error(404, f"No route {self.path}.")
            return
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
            self._send_error(400, "Request body must be JSON with a non-empty 'messages' list.")
            return
        if srv.api_key is not None and _auth_token(headers) != srv.api_key:
            self._send_error(401)
            return
        fault = srv._take_fault(_last_text(body))
        if fault is not None:
            rec["fault"] = fault.kind
        srv._sleep(srv.latency)
        if fault is not None and fault.kind.isdigit():
            status = int(fault.kind)
            extra = {}
            if status == 429:
                extra = {"Retry-After": f"{fault.retry_after:g}",
                         "retry-after-ms": str(int(round(fault.retry_after * 1000)))}
            self._send_error(status, headers=extra)
            return
        if fault is not None and fault.kind == "timeout":
            self._done("timeout")
            srv._sleep(srv.timeout_delay)
            self.close_connection = True
            return
        try:
            if fault is not None and fault.kind == "garbage":
                text = srv._next_garbage()
            elif fault is not None and fault.kind == "empty":
                text = ""
            else:
                text = srv.script(body["messages"])
        except Exception as exc:  # a broken script must show up in the test, not hang it
            self._send_error(500, f"script failed: {exc!r}")
            return
        self._answer(body, text)

    def _answer(self, body: dict[str, Any], text: str) -> None:
        tokens = split_tokens(text)
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        finish = "stop"
        if isinstance(limit, int) and 0 < limit < len(tokens):
            tokens, finish = tokens[:limit], "length"
            text = "".join(tokens)
        prompt_tokens = sum(len(message_text(m).split()) for m in body["messages"] if isinstance(m, dict))
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(tokens),
                 "total_tokens": prompt_tokens + len(tokens)}
        model = str(body.get("model") or "aloe-test")
        cid = "chatcmpl-" + uuid.uuid4().hex[:24]
        created = int(time.time())
        logprobs = None
        if body.get("logprobs") and self.server_obj.logprobs:
            logprobs = first_token_logprobs(text, int(body.get("top_logprobs") or 0))
        if body.get("stream"):
            self._stream(cid, created, model, tokens, finish, logprobs, usage,
                         bool((body.get("stream_options") or {}).get("include_usage")))
            return
        fingerprint = "fp_" + hashlib.sha256(model.encode()).hexdigest()[:10]
        self._send_json(200, {
            "id": cid, "object": "chat.completion", "created": created, "model": model,
            "system_fingerprint": fingerprint,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "logprobs": logprobs, "finish_reason": finish}],
            "usage": usage,
        })

    def _stream(self, cid: str, created: int, model: str, tokens: list[str], finish: str,
                logprobs: dict[str, Any] | None, usage: dict[str, int], include_usage: bool) -> None:
        def chunk(delta: dict[str, Any], finish_reason: str | None = None, lp: Any = None) -> bytes:
            payload = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                       "choices": [{"index": 0, "delta": delta, "logprobs": lp, "finish_reason": finish_reason}]}
            return f"data: {json.dumps(payload)}\n\n".encode()

        self._done(200)
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(chunk({"role": "assistant", "content": ""}))
            for i, tok in enumerate(tokens):
                self.wfile.write(chunk({"content": tok}, lp=logprobs if i == 0 else None))
            self.wfile.write(chunk({}, finish))
            if include_usage:
                tail = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                        "choices": [], "usage": usage}
                self.wfile.write(f"data: {json.dumps(tail)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True


def main(argv: list[str] | None = None) -> None:
    """Run the server in the foreground until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m aloe_bench.testing.openai_server",
                                     description="OpenAI-compatible test server on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8000, help="Port (0 picks a free one). Default 8000.")
    parser.add_argument("--latency", type=float, default=0.0, help="Seconds added to every chat answer.")
    parser.add_argument("--api-key", default=None, help="Require this bearer key (default: accept any).")
    args = parser.parse_args(argv)
    server = OpenAICompatServer(port=args.port, latency=args.latency, api_key=args.api_key).start()
    print(f"Serving an OpenAI-compatible API at {server.base_url} (latency {args.latency:g} s). Ctrl-C stops.",
          flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
