"""The ``oai:`` provider (OaiModel) against OpenAI-compatible servers over real HTTP: the project's
scripted server with injected faults, and small aiohttp servers for what it cannot do (report
another model name, count connections, answer without JSON)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import warnings

import pytest

from aloe_bench.components import ChoiceProbs, GenerationParams, JudgeRequest
from aloe_bench.errors import AloeBenchWarning, ConfigError
from aloe_bench.protocols.judges import AloeJudge
from aloe_bench.records import Message, Persona
from aloe_bench.testing.openai_server import GARBAGE_REPLIES, OpenAICompatServer

from aloe_bench_litellm.oai import OaiModel

KEY = "sk-test-oai-7c1d9e3b5a2f4e6d"
PARAMS = GenerationParams(max_tokens=50)
HELLO = [Message(role="user", content="hello there")]
CHOICES = ("1", "2", "3", "4", "5")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """No key or endpoint from the developer's environment leaks into these tests."""
    for var in ("OPENAI_API_KEY", "OPENAI_API_BASE", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture
def server():
    """The project's scripted OpenAI-compatible server (used directly, not through a fixture)."""
    with OpenAICompatServer() as srv:
        yield srv


@pytest.fixture
def make_model(server):
    """Factory of oai models pointed at the test server, with fast backoff."""

    def make(name: str = "mut", **options) -> OaiModel:
        options.setdefault("base_url", server.base_url)
        options.setdefault("api_key", KEY)
        options.setdefault("backoff_base", 0.001)
        options.setdefault("backoff_cap", 0.01)
        return OaiModel(name, **options)

    return make


def run(coro):
    return asyncio.run(coro)


async def complete_and_close(model, messages=HELLO, params=PARAMS):
    try:
        return await model.acomplete(messages, params)
    finally:
        await model.aclose()


async def with_app(handler, body):
    """Serve ``handler`` at POST /v1/chat/completions on 127.0.0.1 while ``body(base_url)`` runs."""
    from aiohttp import web

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        return await body(f"http://127.0.0.1:{runner.addresses[0][1]}/v1")
    finally:
        await runner.cleanup()


def completion(text: str, model: str = "mut", **extra) -> dict:
    return {"id": "x", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2}, **extra}


# -- replies ----------------------------------------------------------------------------------------
def test_reply_usage_and_request_body(server, make_model):
    server.script = lambda messages: "Hi! How was the hike?"
    model = make_model()
    reply = run(complete_and_close(model, params=GenerationParams(max_tokens=50, temperature=0.7, top_p=0.9,
                                                                 seed=3, stop=("\n\n",))))
    assert reply.ok, reply.error
    assert (reply.text, reply.finish_reason) == ("Hi! How was the hike?", "stop")
    assert (reply.prompt_tokens, reply.completion_tokens, reply.cost) == (2, 5, 0.0)
    [req] = server.chat_requests()
    body = req["json"]
    assert req["path"] == "/v1/chat/completions"
    assert body["model"] == "mut" and body["messages"] == [{"role": "user", "content": "hello there"}]
    assert (body["max_tokens"], body["temperature"], body["top_p"], body["seed"], body["stop"]) == (
        50, 0.7, 0.9, 3, ["\n\n"])
    assert "logprobs" not in body and "stream" not in body
    assert req["had_auth"] and req["headers"]["authorization"] == "REDACTED"
    assert model.served_model == "mut"
    assert model.stats["attempts"] == 1 and not model.stats["retries"]


def test_unset_params_are_not_sent(server, make_model):
    run(complete_and_close(make_model(), params=GenerationParams(max_tokens=20, temperature=None, seed=None)))
    body = server.chat_requests()[0]["json"]
    assert body["max_tokens"] == 20
    for key in ("temperature", "top_p", "seed", "stop"):
        assert key not in body


def test_options_override_the_run_and_reach_identity(server, make_model):
    model = make_model(temperature="0.25", stop="END", seed="7", max_tokens=9, top_p=0.5, extra_body={"top_k": 5})
    assert run(complete_and_close(model, params=GenerationParams(max_tokens=20, temperature=0.9))).ok
    body = server.chat_requests()[0]["json"]
    assert (body["temperature"], body["stop"], body["seed"], body["max_tokens"], body["top_p"], body["top_k"]) == (
        0.25, ["END"], 7, 9, 0.5, 5)
    assert model.identity()["options"] == {"temperature": 0.25, "top_p": 0.5, "max_tokens": 9, "seed": 7,
                                           "stop": ["END"], "extra_body": {"top_k": 5}}


def test_concurrent_requests_share_one_pooled_session(server, make_model):
    server.latency = 0.3
    model = make_model(concurrency=8)
    batch = [[Message(role="user", content=f"message {i}")] for i in range(8)]

    async def go():
        await model.acomplete(HELLO, PARAMS)
        session = model._session()
        start = time.perf_counter()
        replies = await model.agenerate(batch, PARAMS)
        elapsed = time.perf_counter() - start
        assert model._session() is session  # one session per model and loop
        await model.aclose()
        return replies, elapsed

    replies, elapsed = run(go())
    assert all(r.ok for r in replies) and len({r.text for r in replies}) == 8
    assert elapsed < 3 * 0.3, f"8 requests at concurrency 8 took {elapsed:.2f}s"


def test_connections_are_kept_alive_and_close_closes_them():
    from aiohttp import web

    peers = []

    async def handler(request):
        peers.append(request.transport.get_extra_info("peername"))
        return web.json_response(completion("ok"))

    async def body(base):
        model = OaiModel("mut", base_url=base)
        for _ in range(10):
            assert (await model.acomplete(HELLO, PARAMS)).ok
        session = model._session()
        model.close()  # synchronous, from inside the loop (as the engine calls it)
        assert session.closed
        assert (await model.acomplete(HELLO, PARAMS)).ok  # a later call opens a new session
        assert model._session() is not session
        await model.aclose()
        assert model._sessions == {}

    run(with_app(handler, body))
    assert len(set(peers[:10])) == 1  # ten sequential calls, one connection
    assert peers[10] != peers[0]


def test_a_new_event_loop_gets_a_new_session(server, make_model):
    model = make_model()
    assert run(model.acomplete(HELLO, PARAMS)).ok  # the loop ends without aclose
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        assert run(model.acomplete(HELLO, PARAMS)).ok
        assert len(model._sessions) == 1
        model.close()  # outside any loop
    assert model._sessions == {} and server.status_counts[200] == 2


def test_environment_variables_configure_endpoint_and_key(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_BASE", server.base_url + "/")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    model = OaiModel("mut")
    assert run(complete_and_close(model)).ok
    assert model.identity()["base_url"] == server.base_url
    assert server.chat_requests()[0]["had_auth"]
    monkeypatch.delenv("OPENAI_API_BASE")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    assert OaiModel("mut").base_url == server.base_url


def test_no_key_sends_no_authorization(server, make_model):
    assert run(complete_and_close(make_model(api_key=None))).ok
    assert not server.chat_requests()[0]["had_auth"]


def test_missing_base_url_is_a_config_error():
    with pytest.raises(ConfigError) as info:
        OaiModel("mut")
    assert "base_url" in info.value.hint and "OPENAI_API_BASE" in info.value.hint
    for bad in ("localhost:8000/v1", "http://localhost:80a0/v1", "ftp://host/v1"):
        with pytest.raises(ConfigError, match="not an http"):
            OaiModel("mut", base_url=bad)
    with pytest.raises(ConfigError, match="needs a model name"):
        OaiModel(" ", base_url="http://127.0.0.1:1/v1")


def test_identity_is_name_and_url_without_credentials(server):
    base = server.base_url.replace("http://", "http://bob:hunter2-pass@")
    model = OaiModel("mut", base_url=base + "/", api_key=KEY, logprobs=True, timeout=5, max_retries=1)
    ident = model.identity()
    assert ident == {"spec": "oai:mut", "provider": "oai", "model": "mut", "base_url": server.base_url,
                     "logprobs": True, "top_logprobs": 20}
    assert run(complete_and_close(model)).ok  # the bearer key wins over the URL's credentials
    assert model.identity() == ident  # the reported name does not change the cache key
    # api_base is the litellm provider's name for base_url, so an option table carries over.
    assert OaiModel("mut", api_base=server.base_url).identity()["base_url"] == server.base_url
    assert model.identity_pins_replies is True


# -- faults and retries ------------------------------------------------------------------------------
def test_rate_limit_is_retried_and_retry_after_honoured(server, make_model):
    server.inject("429", count=2, retry_after=0.25)
    model = make_model()
    start = time.perf_counter()
    reply = run(complete_and_close(model))
    elapsed = time.perf_counter() - start
    assert reply.ok, reply.error
    assert server.status_counts[429] == 2 and server.status_counts[200] == 1
    assert model.stats["attempts"] == 3 and model.stats["retries"] == 2
    assert elapsed >= 0.5  # backoff is capped at 0.01 s here: only Retry-After explains the wait


@pytest.mark.parametrize("kind", ["500", "503"])
def test_server_errors_are_retried_then_succeed(server, make_model, kind):
    server.inject(kind, count=3)
    model = make_model()
    reply = run(complete_and_close(model))
    assert reply.ok, reply.error
    assert server.status_counts[int(kind)] == 3 and server.status_counts[200] == 1
    assert model.stats["retries"] == 3


def test_timeout_is_retried(server, make_model):
    server.timeout_delay = 3.0
    server.inject("timeout")
    model = make_model(timeout=0.4)
    start = time.perf_counter()
    reply = run(complete_and_close(model))
    assert reply.ok, reply.error
    assert time.perf_counter() - start < 2.0
    assert len(server.chat_requests()) == 2 and model.stats["retries"] == 1


def test_timeouts_exhaust_retries_into_an_error_reply(server, make_model):
    server.timeout_delay = 3.0
    server.inject("timeout", count=5)
    model = make_model(timeout=0.2, max_retries=1)
    reply = run(complete_and_close(model))
    assert not reply.ok and reply.text == ""
    assert "timeout: no answer within 0.2s (after 2 attempts)" in reply.error
    assert model.stats["failed_transient"] == 1


def test_garbage_and_empty_answers_are_replies(server, make_model):
    server.inject("garbage")
    server.inject("empty")
    model = make_model()

    async def go():
        first = await model.acomplete(HELLO, PARAMS)
        second = await model.acomplete(HELLO, PARAMS)
        await model.aclose()
        return first, second

    garbage, empty = run(go())
    assert garbage.ok and garbage.text == GARBAGE_REPLIES[0]
    assert empty.ok and empty.text == ""


def test_judge_re_asks_after_garbage_and_empty_answers(server, make_model):
    server.inject("garbage")  # the judge is the only client: its first two answers are unreadable
    server.inject("empty")
    persona = Persona(id="p1", profile="Teacher in Lyon.", personality="Warm, curious.")
    req = JudgeRequest(persona=persona, history=[], user_message="I graded papers all day.", reply="Nice.", turn=1)
    model = make_model()
    [verdict] = run(AloeJudge(model).score([req]))
    run(model.aclose())
    assert verdict.score is not None and verdict.attempts == 3 and verdict.error is None


def test_persistent_server_error_returns_error_reply(server, make_model):
    server.inject("500", count=100)
    model = make_model(max_retries=2)
    reply = run(complete_and_close(model))
    assert not reply.ok and reply.text == ""
    assert reply.error.startswith(f"mut at {server.base_url}: HTTP 500: The server had an error")
    assert "after 3 attempts" in reply.error and "max_retries" in reply.error and "\n" not in reply.error
    assert server.status_counts[500] == 3 and model.stats["failed_transient"] == 1


def test_wrong_key_is_not_retried_and_says_what_to_set():
    with OpenAICompatServer(api_key="sk-the-right-key-0000") as srv:
        model = OaiModel("mut", base_url=srv.base_url, api_key=KEY)
        reply = run(complete_and_close(model))
        assert not reply.ok and "HTTP 401 authentication failed" in reply.error
        assert "OPENAI_API_KEY" in reply.error and "after 1 attempt)" in reply.error
        assert srv.status_counts == {401: 1}
        assert KEY not in reply.error and "\n" not in reply.error
        assert model.stats["failed_auth"] == 1


def test_bad_request_is_not_retried(server, make_model):
    server.inject("400", count=5)
    reply = run(complete_and_close(make_model()))
    assert not reply.ok and "HTTP 400: Bad request (injected)." in reply.error and "after 1 attempt)" in reply.error
    assert server.status_counts == {400: 1}


def test_unreachable_server_is_retried_then_an_error_reply():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    model = OaiModel("mut", base_url=f"http://127.0.0.1:{port}/v1", max_retries=2, backoff_base=0.001)
    reply = run(complete_and_close(model))
    assert not reply.ok and "connection error" in reply.error and "after 3 attempts" in reply.error


def test_unreadable_answers_are_error_replies():
    from aiohttp import web

    answers = [web.Response(text="<html>proxy page</html>", content_type="text/html"),
               web.json_response({"object": "chat.completion", "choices": []})]

    async def handler(request):
        return answers.pop(0)

    async def body(base):
        model = OaiModel("mut", base_url=base)
        html = await model.acomplete(HELLO, PARAMS)
        empty = await model.acomplete(HELLO, PARAMS)
        await model.aclose()
        return html, empty

    html, empty = run(with_app(handler, body))
    assert not html.ok and "unreadable answer: HTTP 200 without JSON" in html.error and "base_url" in html.error
    assert not empty.ok and "the response has no choices" in empty.error


def test_reported_model_name_is_recorded_and_a_different_one_warned():
    from aiohttp import web

    async def handler(request):
        return web.json_response(completion("ok", model="qwen2-7b-instruct-awq"))

    async def body(base):
        model = OaiModel("qwen2", base_url=base)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(3):
                assert (await model.acomplete(HELLO, PARAMS)).ok
        await model.aclose()
        return model, caught

    model, caught = run(with_app(handler, body))
    assert model.served_model == "qwen2-7b-instruct-awq"
    [warning] = [w for w in caught if issubclass(w.category, AloeBenchWarning)]
    assert "'qwen2-7b-instruct-awq'" in str(warning.message) and "'qwen2'" in str(warning.message)
    assert model.identity()["model"] == "qwen2"


def test_key_never_in_identity_errors_warnings_or_logs(server, make_model, caplog):
    def script(messages):
        raise RuntimeError("upstream echoed: " + messages[-1]["content"])

    server.script = script
    caplog.set_level(logging.DEBUG)
    model = make_model(max_retries=1, extra_body={"api_token": "tok-abcdef123456"})
    outputs = [json.dumps(model.identity()), repr(model.options)]
    for kind in ("429", "500", "503", "timeout"):
        server.inject(kind, count=2)  # each fails one reply (max_retries=1)
    server.inject("400")  # fails the fifth at once; the sixth gets the failing script's 500s
    server.timeout_delay = 2.0

    async def go():
        replies = [await model.acomplete([Message(role="user", content=f"my key is {KEY}")],
                                         PARAMS) for _ in range(6)]
        await model.aclose()
        return replies

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.timeout = 0.3
        replies = run(go())
    errors = [r.error for r in replies if r.error]
    assert len(errors) == 6 and any("upstream echoed" in e and "<redacted>" in e for e in errors)
    outputs += errors + [str(w.message) for w in caught] + [r.getMessage() for r in caplog.records]
    outputs.append(json.dumps(model.identity()))
    for text in outputs:
        assert KEY not in text and "tok-abcdef123456" not in text


# -- answer probabilities ---------------------------------------------------------------------------------
def test_choice_probs_from_logprobs_with_usage(server, make_model):
    server.script = lambda messages: "4\nFits well."
    model = make_model(logprobs=True)
    assert model.supports_choice_probs and not make_model().supports_choice_probs

    async def go():
        probs = await model.achoice_probs([HELLO], CHOICES, PARAMS)
        await model.aclose()
        return probs

    [probs] = run(go())
    assert isinstance(probs, ChoiceProbs)
    assert max(probs, key=probs.get) == "4" and probs["4"] > 0.75 and abs(sum(probs.values()) - 1) < 1e-9
    assert (probs.usage.calls, probs.usage.prompt_tokens, probs.usage.completion_tokens) == (1, 2, 1)
    body = server.chat_requests()[0]["json"]
    assert body["logprobs"] is True and body["top_logprobs"] == 20 and body["max_tokens"] == 1


def test_choice_probs_none_without_logprobs_or_on_failure(server, make_model):
    server.logprobs = False
    model = make_model(logprobs="true", max_retries=0)

    async def go():
        first = await model.achoice_probs([HELLO, HELLO], CHOICES, PARAMS)
        server.logprobs = True
        server.inject("500")
        second = await model.achoice_probs([HELLO], CHOICES, PARAMS)
        await model.aclose()
        return first, second

    assert run(go()) == ([None, None], [None])
    assert model.stats["no_logprobs"] == 2 and model.stats["failed_transient"] == 1


def test_judge_scores_from_probabilities_and_falls_back_to_text(server, make_model):
    server.script = lambda messages: "2\nToo generic." if "Rate the reply" in messages[-1]["content"] else "?"
    persona = Persona(id="p1", profile="Teacher in Lyon.", personality="Warm, curious.")
    req = JudgeRequest(persona=persona, history=[], user_message="I graded papers all day.", reply="Nice.", turn=1)
    model = make_model(logprobs=True)
    judge = AloeJudge(model)
    [verdict] = run(judge.score([req]))
    assert verdict.probs is not None and verdict.argmax == 2 and 1.5 < verdict.score < 2.5 and verdict.score != 2.0
    server.logprobs = False
    [verdict] = run(judge.score([req]))
    model.close()
    assert verdict.probs is None and verdict.score == 2.0  # parsed from the text answer


# -- options and registration ----------------------------------------------------------------------------------
@pytest.mark.parametrize("options, message", [
    ({"timeout": "soon"}, "Option 'timeout' of the oai provider: expected a number, got 'soon'."),
    ({"max_tokens": 0}, "Option 'max_tokens' of the oai provider: expected a number of at least 1, got 0."),
    ({"extra_body": {"stream": True}}, "Option 'extra_body' of the oai provider: key 'stream' is set by aloe-bench "
                                       "and cannot be given here, got {'stream': True}."),
    ({"extra_body": {"temperature": 1}}, "Option 'extra_body' of the oai provider: key 'temperature' has its own "
                                         "option: use temperature=... instead, got {'temperature': 1}."),
])
def test_bad_options_are_one_line_config_errors(server, make_model, options, message):
    with pytest.raises(ConfigError) as info:
        make_model(**options)
    assert info.value.message == message and info.value.hint
    assert server.chat_requests() == []


def test_unknown_option_suggests_the_close_key_and_never_echoes_the_key():
    from aloe_bench_litellm.plugin import make_oai_model

    with pytest.raises(ConfigError) as info:
        make_oai_model("mut", base_ur="http://127.0.0.1:1/v1")
    assert info.value.message == "Unknown option 'base_ur' for the oai provider. Did you mean 'base_url'?"
    with pytest.raises(ConfigError) as info:
        OaiModel("mut", base_url="http://127.0.0.1:1/v1", api_key={"v": KEY})
    assert KEY not in str(info.value)
    with pytest.raises(ConfigError, match="same option"):
        OaiModel("mut", base_url="http://127.0.0.1:1/v1", api_base="http://127.0.0.1:2/v1")
    assert KEY not in repr(OaiModel("mut", base_url="http://127.0.0.1:1/v1", api_key=KEY).options)


def test_provider_is_registered_next_to_litellm(server):
    from aloe_bench.backends.resolve import resolve_model
    from aloe_bench.plugins import PluginHost

    host = PluginHost()
    entry = host.models.get("oai")
    assert entry.plugin == host.models.get("litellm").plugin and not entry.meta.get("claims")
    model = resolve_model("oai:Qwen/Qwen2-7B-Instruct", host, base_url=server.base_url, logprobs="true")
    assert isinstance(model, OaiModel) and model.model == "Qwen/Qwen2-7B-Instruct" and model.supports_choice_probs
    assert resolve_model("oai:x", host, base_url=server.base_url).spec == "oai:x"


def test_retry_policy_helpers_read_statuses_and_headers():
    from aloe_bench_litellm.retry import MAX_RETRY_AFTER, classify_status, retry_after_from_headers

    assert [classify_status(s) for s in (429, 500, 503, 408, 401, 403, 404, 400, 422)] == [
        "transient", "transient", "transient", "transient", "auth", "auth", "not_found", "permanent", "permanent"]
    assert retry_after_from_headers({"retry-after": "2"}) == 2.0
    assert retry_after_from_headers({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_from_headers({"retry-after": "99999"}) == MAX_RETRY_AFTER
    assert retry_after_from_headers({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470.0) == 10.0
    assert retry_after_from_headers({}) is None


# -- a whole ALOE evaluation -------------------------------------------------------------------------------------
PERSONAS = [
    {"id": "p1", "profile": "A 34-year-old nurse in Porto who runs half-marathons.",
     "personality": "Direct, practical, dislikes small talk."},
    {"id": "p2", "profile": "A retired engineer in Osaka who restores radios.",
     "personality": "Patient, precise, enjoys technical detail."},
    {"id": "p3", "profile": "A 19-year-old art student in Leeds who works nights in a bakery.",
     "personality": "Playful, informal, easily bored by long answers."},
]


def evaluate(tmp_path, name: str, spec: str, options: dict, judge_options: dict | None = None, *,
             cache: bool = False):
    from aloe_bench.evaluation.config import EvalConfig
    from aloe_bench.evaluation.engine import Evaluation
    from aloe_bench.plugins import PluginHost

    personas = tmp_path / "personas.jsonl"
    personas.write_text("".join(json.dumps(p) + "\n" for p in PERSONAS))
    cfg = EvalConfig(model=spec.format(role="mut"), user=spec.format(role="sim"), judge=spec.format(role="judge"),
                     personas=f"jsonl:{personas}", turns=3, seed=11, cache=cache, bootstrap=0, concurrency=8,
                     model_options=options, user_options=options, judge_options={**options, **(judge_options or {})})
    return asyncio.run(Evaluation(cfg, tmp_path / name, PluginHost(), cache_path=tmp_path / "cache.sqlite").run())


@pytest.mark.parametrize("judge_options", [{}, {"logprobs": True}], ids=["text-judge", "probability-judge"])
def test_evaluation_al_curve_equals_litellm_on_the_same_server(server, tmp_path, judge_options):
    options = {"api_base": server.base_url, "api_key": KEY}
    oai = evaluate(tmp_path, "oai", "oai:{role}", options, judge_options)
    oai_requests = len(server.chat_requests())
    lite = evaluate(tmp_path, "litellm", "litellm:openai/{role}", options, judge_options)
    assert oai.status == lite.status == "complete"
    assert oai.n == lite.n == [3, 3, 3]
    assert oai.al == lite.al and oai.avg == lite.avg and all(a is not None for a in oai.al)
    assert len(set(oai.al)) > 1 or judge_options  # the script's scores vary by reply
    assert oai_requests == len(server.chat_requests()) - oai_requests == 27
    if judge_options:
        assert all(r["json"].get("logprobs") for r in server.chat_requests("Rate the reply"))
        assert any(a != round(a) for a in oai.al)  # expected scores from probabilities
    for usage_role in ("model", "user", "judge"):
        assert oai.usage[usage_role].calls == lite.usage[usage_role].calls
        assert oai.usage[usage_role].completion_tokens == lite.usage[usage_role].completion_tokens
    [model_spec] = [c for c in oai.components if c.role == "model"]
    assert model_spec.identity["base_url"] == server.base_url and KEY not in json.dumps(model_spec.identity)
    run_json = (tmp_path / "oai" / "run.json").read_text()
    assert KEY not in run_json and "oai:mut" in run_json
    served = {c["role"]: c["served_model"] for c in json.loads(run_json)["components"]}
    assert served == {"model": "mut", "user": "sim", "judge": "judge"}  # what the server reported


def test_finished_run_re_runs_offline_from_the_cache(tmp_path):
    with OpenAICompatServer() as srv:
        options = {"base_url": srv.base_url, "api_key": KEY}
        first = evaluate(tmp_path, "first", "oai:{role}", options, cache=True)
    # The server is gone; the same configuration is answered from the call cache.
    again = evaluate(tmp_path, "again", "oai:{role}", options, cache=True)
    assert again.status == "complete" and again.al == first.al and again.n == first.n
    assert all(again.usage[r].cached_calls == again.usage[r].calls > 0 for r in ("model", "user", "judge"))
