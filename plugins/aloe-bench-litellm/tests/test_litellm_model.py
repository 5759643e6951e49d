"""LiteLLMModel against the project's OpenAI-compatible server over real HTTP (no patched calls)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import pytest

from aloe_bench.components import GenerationParams
from aloe_bench.errors import ConfigError
from aloe_bench.protocols.judges import AloeJudge
from aloe_bench.records import Message
from aloe_bench.testing.openai_server import OpenAICompatServer

from aloe_bench_litellm.model import LiteLLMModel

KEY = "sk-test-5f3a9c1e7b2d4a6f"
PARAMS = GenerationParams(max_tokens=50)
HELLO = [Message(role="user", content="hello there")]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """No key or endpoint from the developer's environment leaks into these tests."""
    for var in ("OPENAI_API_KEY", "OPENAI_API_BASE", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture
def make_model(aloe_openai_server):
    """Factory of models pointed at the test server, with fast backoff."""

    def make(name: str = "openai/mut", **options) -> LiteLLMModel:
        options.setdefault("api_base", aloe_openai_server.base_url)
        options.setdefault("api_key", KEY)
        options.setdefault("backoff_base", 0.001)
        options.setdefault("backoff_cap", 0.01)
        return LiteLLMModel(name, **options)

    return make


def run(coro):
    return asyncio.run(coro)


def test_generation_returns_server_reply_and_usage(aloe_openai_server, make_model):
    aloe_openai_server.script = lambda messages: "Hi! How was the hike?"
    reply = run(make_model().acomplete(HELLO, GenerationParams(max_tokens=50, temperature=0.7, top_p=0.9,
                                                                seed=3, stop=("\n\n",))))
    assert reply.ok, reply.error
    assert reply.text == "Hi! How was the hike?"
    assert reply.finish_reason == "stop"
    assert (reply.prompt_tokens, reply.completion_tokens) == (2, 5)
    assert reply.cost == 0.0  # a served model litellm has no price for
    [req] = aloe_openai_server.chat_requests()
    body = req["json"]
    assert body["model"] == "mut"
    assert body["messages"] == [{"role": "user", "content": "hello there"}]
    assert (body["max_tokens"], body["temperature"], body["top_p"], body["seed"], body["stop"]) == (
        50, 0.7, 0.9, 3, ["\n\n"])
    assert req["had_auth"] and req["headers"]["authorization"] == "REDACTED"


def test_unset_params_are_not_sent(aloe_openai_server, make_model):
    run(make_model().acomplete(HELLO, GenerationParams(max_tokens=20, temperature=None, seed=None)))
    body = aloe_openai_server.chat_requests()[0]["json"]
    assert body["max_tokens"] == 20
    for key in ("temperature", "top_p", "seed", "stop"):
        assert key not in body


def test_extra_options_pass_through_and_show_in_identity(aloe_openai_server, make_model):
    model = make_model(frequency_penalty=0.5)
    assert run(model.acomplete(HELLO, PARAMS)).ok
    assert aloe_openai_server.chat_requests()[0]["json"]["frequency_penalty"] == 0.5
    assert model.identity()["options"] == {"frequency_penalty": 0.5}


def test_known_model_gets_a_cost(aloe_openai_server, make_model):
    reply = run(make_model("gpt-4o-mini").acomplete(HELLO, PARAMS))
    assert reply.ok, reply.error
    assert reply.cost > 0


def test_concurrent_requests_overlap(aloe_openai_server, make_model):
    aloe_openai_server.latency = 0.3
    model = make_model(concurrency=8)
    run(model.acomplete(HELLO, PARAMS))  # warm up (litellm import, client creation)
    batch = [[Message(role="user", content=f"message {i}")] for i in range(8)]
    start = time.perf_counter()
    replies = run(model.agenerate(batch, PARAMS))
    elapsed = time.perf_counter() - start
    assert all(r.ok for r in replies)
    assert len({r.text for r in replies}) == 8
    assert elapsed < 4 * 0.3, f"8 requests at concurrency 8 took {elapsed:.2f}s"

    serial = make_model(concurrency=2)
    start = time.perf_counter()
    run(serial.agenerate(batch, PARAMS))
    assert time.perf_counter() - start >= 4 * 0.3 * 0.95  # 4 waves of 2: the limit is honoured


def test_rate_limit_is_retried_and_retry_after_honoured(aloe_openai_server, make_model):
    aloe_openai_server.inject("429", count=2, retry_after=0.25)
    model = make_model()
    start = time.perf_counter()
    reply = run(model.acomplete(HELLO, PARAMS))
    elapsed = time.perf_counter() - start
    assert reply.ok, reply.error
    assert aloe_openai_server.status_counts[429] == 2 and aloe_openai_server.status_counts[200] == 1
    assert model.stats["attempts"] == 3 and model.stats["retries"] == 2
    assert elapsed >= 0.5  # backoff is capped at 0.01 s here: only Retry-After explains the wait


@pytest.mark.parametrize("kind", ["500", "503"])
def test_server_errors_are_retried_then_succeed(aloe_openai_server, make_model, kind):
    aloe_openai_server.inject(kind, count=3)
    reply = run(make_model().acomplete(HELLO, PARAMS))
    assert reply.ok, reply.error
    assert aloe_openai_server.status_counts[int(kind)] == 3 and aloe_openai_server.status_counts[200] == 1


def test_timeout_is_retried(aloe_openai_server, make_model):
    aloe_openai_server.timeout_delay = 3.0
    aloe_openai_server.inject("timeout")
    model = make_model(timeout=0.5)
    reply = run(model.acomplete(HELLO, PARAMS))
    assert reply.ok, reply.error
    assert len(aloe_openai_server.chat_requests()) == 2
    assert model.stats["retries"] == 1


def test_permanent_failure_returns_error_reply(aloe_openai_server, make_model):
    aloe_openai_server.inject("500", count=100)
    model = make_model(max_retries=2)
    reply = run(model.acomplete(HELLO, PARAMS))
    assert not reply.ok and reply.text == ""
    assert "after 3 attempts" in reply.error
    assert aloe_openai_server.status_counts[500] == 3
    assert model.stats["failed_transient"] == 1


def test_wrong_key_is_not_retried(make_model):
    with OpenAICompatServer(api_key="sk-the-right-key-0000") as server:
        model = make_model(api_base=server.base_url)
        reply = run(model.acomplete(HELLO, PARAMS))
        assert not reply.ok
        assert "OPENAI_API_KEY" in reply.error
        assert server.status_counts == {401: 1}
        assert KEY not in reply.error
        assert model.stats["failed_auth"] == 1


def test_missing_key_says_what_to_set(aloe_openai_server, make_model):
    reply = run(make_model(api_key=None).acomplete(HELLO, PARAMS))
    assert not reply.ok
    assert "OPENAI_API_KEY" in reply.error and "after 1 attempt" in reply.error
    assert aloe_openai_server.chat_requests() == []


def test_bad_request_is_not_retried(aloe_openai_server, make_model):
    aloe_openai_server.inject("400", count=5)
    reply = run(make_model().acomplete(HELLO, PARAMS))
    assert not reply.ok and "after 1 attempt" in reply.error
    assert aloe_openai_server.status_counts == {400: 1}


def test_environment_variables_configure_the_endpoint(aloe_openai_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_BASE", aloe_openai_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    model = LiteLLMModel("openai/mut")
    assert run(model.acomplete(HELLO, PARAMS)).ok
    assert model.identity()["api_base"] == aloe_openai_server.base_url
    assert aloe_openai_server.chat_requests()[0]["had_auth"]


def test_api_key_never_in_identity_or_errors(aloe_openai_server, make_model):
    def script(messages):
        raise RuntimeError("upstream echoed: " + messages[-1]["content"])

    aloe_openai_server.script = script
    model = make_model(max_retries=0, request_options={"api_token": "tok-abcdef123"})
    ident = json.dumps(model.identity())
    assert KEY not in ident and "tok-abcdef123" not in ident and "api_key" not in ident
    reply = run(model.acomplete([Message(role="user", content=f"my key is {KEY}")], PARAMS))
    assert not reply.ok
    assert "upstream echoed" in reply.error and "<redacted>" in reply.error
    assert KEY not in reply.error


def test_choice_probs_from_logprobs(aloe_openai_server, make_model):
    aloe_openai_server.script = lambda messages: "4\nFits well."
    model = make_model(logprobs=True)
    assert model.supports_choice_probs
    [probs] = run(model.achoice_probs([HELLO], ("1", "2", "3", "4", "5"), PARAMS))
    assert max(probs, key=probs.get) == "4"
    assert probs["4"] > 0.75 and abs(sum(probs.values()) - 1) < 1e-9
    body = aloe_openai_server.chat_requests()[0]["json"]
    assert body["logprobs"] is True and body["top_logprobs"] == 20 and body["max_tokens"] == 1


def test_choice_probs_none_when_server_has_no_logprobs(aloe_openai_server, make_model):
    aloe_openai_server.logprobs = False
    model = make_model(logprobs="true")
    assert run(model.achoice_probs([HELLO, HELLO], ("1", "2", "3", "4", "5"), PARAMS)) == [None, None]
    assert model.stats["no_logprobs"] == 2


def test_judge_uses_probabilities_and_falls_back_to_text(aloe_openai_server, make_model, aloe_data_dir):
    from aloe_bench.components import JudgeRequest
    from aloe_bench.records import Persona

    aloe_openai_server.script = lambda messages: "2\nToo generic." if "Rate the reply" in messages[-1]["content"] else "?"
    persona = Persona(id="p1", profile="Teacher in Lyon.", personality="Warm, curious.")
    req = JudgeRequest(persona=persona, history=[], user_message="I graded papers all day.", reply="Nice.", turn=1)
    judge = AloeJudge(make_model(logprobs=True))
    [verdict] = run(judge.score([req]))
    assert verdict.probs is not None and verdict.argmax == 2
    assert 1.5 < verdict.score < 2.5 and verdict.score != 2.0

    aloe_openai_server.logprobs = False
    [verdict] = run(judge.score([req]))
    assert verdict.probs is None and verdict.score == 2.0  # parsed from the text answer


def test_without_logprobs_option_no_choice_probs(make_model):
    assert make_model().supports_choice_probs is False


@pytest.mark.parametrize("options, message", [
    ({"timeout": "soon"}, "Option 'timeout' of the litellm provider: expected a number, got 'soon'."),
    ({"max_retries": -1}, "Option 'max_retries' of the litellm provider: expected a number of at least 0, got -1."),
    ({"logprobs": "maybe"},
     "Option 'logprobs' of the litellm provider: expected true or false (also 1/0, yes/no, on/off), got 'maybe'."),
    ({"temperature": "warm"}, "Option 'temperature' of the litellm provider: expected a number, got 'warm'."),
    ({"request_options": {"stream": True}}, "Option 'request_options' of the litellm provider: key 'stream' is set "
                                            "by aloe-bench and cannot be given here, got {'stream': True}."),
])
def test_bad_options_are_one_line_config_errors(aloe_openai_server, make_model, options, message):
    with pytest.raises(ConfigError) as info:
        make_model(**options)
    assert info.value.message == message and "\n" not in str(info.value) and info.value.hint
    assert aloe_openai_server.chat_requests() == []


@pytest.mark.parametrize("typo, meant", [("api_bse", "api_base"), ("max_retires", "max_retries"),
                                         ("logprob", "logprobs"), ("temprature", "temperature")])
def test_unknown_option_suggests_the_close_key(aloe_openai_server, make_model, typo, meant):
    from aloe_bench_litellm.plugin import make_model as factory

    for build in (lambda: make_model(**{typo: "1"}), lambda: factory("openai/x", **{typo: "1"})):
        with pytest.raises(ConfigError) as info:
            build()
        assert info.value.message == f"Unknown option {typo!r} for the litellm provider. Did you mean {meant!r}?"
        assert info.value.hint.startswith("Accepted options: ") and "api_base, api_key," in info.value.hint
    assert aloe_openai_server.chat_requests() == []


def test_api_key_value_never_echoed_in_option_errors():
    with pytest.raises(ConfigError) as info:
        LiteLLMModel("openai/x", api_key={"value": KEY})
    assert "'api_key'" in info.value.message and KEY not in str(info.value)
    with pytest.raises(ConfigError) as info:  # a key-shaped value under an ordinary option
        LiteLLMModel("openai/x", timeout=KEY)
    assert KEY not in str(info.value) and "<redacted>" in str(info.value)
    assert KEY not in repr(LiteLLMModel("openai/x", api_key=KEY).options)


def test_request_parameters_are_typed_and_sent(aloe_openai_server, make_model):
    model = make_model(temperature="0.25", stop="END", seed="7", extra_body={"top_k": 5},
                       request_options={"min_p": 0.1})
    assert run(model.acomplete(HELLO, GenerationParams(max_tokens=20, temperature=0.9))).ok
    body = aloe_openai_server.chat_requests()[0]["json"]
    # Options override the run's generation settings of this role, with their JSON types.
    assert (body["temperature"], body["stop"], body["seed"]) == (0.25, ["END"], 7)
    assert (body["top_k"], body["min_p"]) == (5, 0.1)
    assert model.identity()["options"]["temperature"] == 0.25


def test_request_params_are_litellm_completion_parameters():
    import inspect

    from aloe_bench_litellm.model import load_litellm
    from aloe_bench_litellm.options import RESERVED_REQUEST_KEYS, REQUEST_PARAMS, LitellmOptions

    litellm = load_litellm()
    known = set(inspect.signature(litellm.acompletion).parameters) | set(getattr(litellm, "OPENAI_CHAT_COMPLETION_PARAMS", ()))
    assert set(REQUEST_PARAMS) <= known | {"extra_body"}
    assert set(REQUEST_PARAMS) <= set(LitellmOptions.accepted_keys())
    assert not set(REQUEST_PARAMS) & RESERVED_REQUEST_KEYS


def test_provider_is_registered_and_resolves_bare_specs():
    from aloe_bench.plugins import PluginHost
    from aloe_bench.backends.resolve import resolve_model

    host = PluginHost()
    assert "litellm" in host.models.names()
    assert resolve_model("gpt-4o-mini", host).model == "gpt-4o-mini"
    model = resolve_model("litellm:openai/foo", host, logprobs=True)
    assert model.model == "openai/foo" and model.supports_choice_probs
    with pytest.raises(ConfigError):
        resolve_model("litellm:", host)


def test_plugin_import_does_not_import_litellm():
    code = ("import sys, aloe_bench_litellm.plugin, aloe_bench.plugins as p; p.PluginHost().models; "
            "assert 'litellm' not in sys.modules, 'litellm imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
