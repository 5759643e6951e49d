"""The project's OpenAI-compatible test server, over raw HTTP (urllib)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from aloe_bench.protocols.judges import parse_score
from aloe_bench.testing.openai_server import GARBAGE_REPLIES, OpenAICompatServer, default_reply

JUDGE_PROMPT = "Profile...\nRate the reply from 1 to 5 for how well it fits this person."


def post(server, body, *, key="sk-raw-test-key-123", path="/chat/completions", timeout=10):
    """(status, headers, parsed JSON or raw text) of one POST."""
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(server.base_url + path, data=json.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read().decode()
            ctype = resp.headers.get("Content-Type", "")
            return resp.status, resp.headers, json.loads(raw) if "json" in ctype else raw
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, json.loads(exc.read())


def chat(content, **extra):
    return {"model": "judge", "messages": [{"role": "user", "content": content}], **extra}


def test_chat_completion_shape(aloe_openai_server):
    status, _, body = post(aloe_openai_server, chat("hello", max_tokens=50))
    assert status == 200
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert body["model"] == "judge"
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == default_reply([{"role": "user", "content": "hello"}])
    assert choice["finish_reason"] == "stop" and choice["logprobs"] is None
    usage = body["usage"]
    assert usage["prompt_tokens"] == 1 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_default_script_scores_judge_prompts(aloe_openai_server):
    _, _, body = post(aloe_openai_server, chat(JUDGE_PROMPT))
    text = body["choices"][0]["message"]["content"]
    assert parse_score(text) in {1.0, 2.0, 3.0, 4.0, 5.0}
    _, _, again = post(aloe_openai_server, chat(JUDGE_PROMPT))
    assert again["choices"][0]["message"]["content"] == text  # deterministic


def test_custom_script_and_max_tokens(aloe_openai_server):
    aloe_openai_server.script = lambda messages: "one two three four"
    _, _, body = post(aloe_openai_server, chat("x", max_tokens=2))
    assert body["choices"][0]["message"]["content"] == "one two "
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 2


def test_models_endpoint_lists_seen_models(aloe_openai_server):
    post(aloe_openai_server, chat("hi"))
    with urllib.request.urlopen(aloe_openai_server.base_url + "/models") as resp:
        data = json.loads(resp.read())
    assert {"aloe-test", "judge"} <= {m["id"] for m in data["data"]}


def test_rate_limit_fault_has_retry_after_and_openai_error_body(aloe_openai_server):
    aloe_openai_server.inject("429", count=2, retry_after=2)
    for _ in range(2):
        status, headers, body = post(aloe_openai_server, chat("hi"))
        assert status == 429
        assert headers["Retry-After"] == "2" and headers["retry-after-ms"] == "2000"
        assert body["error"]["type"] == "rate_limit_error" and body["error"]["message"]
    assert post(aloe_openai_server, chat("hi"))[0] == 200
    assert aloe_openai_server.status_counts == {429: 2, 200: 1}


@pytest.mark.parametrize("kind", ["500", "503", "400", "401"])
def test_status_faults(aloe_openai_server, kind):
    aloe_openai_server.inject(kind)
    status, _, body = post(aloe_openai_server, chat("hi"))
    assert status == int(kind) and "message" in body["error"]
    assert aloe_openai_server.requests[-1]["fault"] == kind
    assert post(aloe_openai_server, chat("hi"))[0] == 200


def test_faults_target_matching_messages_only(aloe_openai_server):
    aloe_openai_server.inject("500", count=1, match="Rate the reply")
    assert post(aloe_openai_server, chat("a simulator prompt"))[0] == 200
    assert post(aloe_openai_server, chat(JUDGE_PROMPT))[0] == 500
    assert post(aloe_openai_server, chat(JUDGE_PROMPT))[0] == 200
    assert len(aloe_openai_server.chat_requests(match="Rate the reply")) == 2


def test_garbage_and_empty_answers(aloe_openai_server):
    aloe_openai_server.inject("garbage", count=2, match="Rate the reply")
    aloe_openai_server.inject("empty", count=1)
    texts = [post(aloe_openai_server, chat(JUDGE_PROMPT))[2]["choices"][0]["message"]["content"] for _ in range(4)]
    assert texts[:2] == list(GARBAGE_REPLIES[:2])
    assert all(parse_score(t) is None for t in GARBAGE_REPLIES)
    assert texts[2] == ""
    assert parse_score(texts[3]) is not None


def test_timeout_fault_holds_the_answer(aloe_openai_server):
    aloe_openai_server.timeout_delay = 5
    aloe_openai_server.inject("timeout")
    start = time.perf_counter()
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        post(aloe_openai_server, chat("hi"), timeout=0.3)
    assert time.perf_counter() - start < 2
    assert post(aloe_openai_server, chat("hi"))[0] == 200


def test_stop_cuts_sleeping_requests_short():
    server = OpenAICompatServer(timeout_delay=60).start()
    server.inject("timeout")
    outcome = []

    def call():
        try:
            outcome.append(post(server, chat("hi"), timeout=30))
        except OSError as exc:  # the server went away without answering: expected
            outcome.append(exc)

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    while not server.requests:
        time.sleep(0.01)
    start = time.perf_counter()
    server.stop()
    worker.join(timeout=5)
    assert time.perf_counter() - start < 5
    assert outcome and isinstance(outcome[0], OSError)


def test_latency_overlaps_across_requests(aloe_openai_server):
    aloe_openai_server.latency = 0.4
    start = time.perf_counter()
    threads = [threading.Thread(target=post, args=(aloe_openai_server, chat(f"m{i}"))) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    assert 0.4 <= elapsed < 1.6
    assert aloe_openai_server.status_counts[200] == 6


def test_logprobs_for_first_token(aloe_openai_server):
    aloe_openai_server.script = lambda messages: "4\nWarm and specific."
    _, _, body = post(aloe_openai_server, chat(JUDGE_PROMPT, logprobs=True, top_logprobs=5, max_tokens=1))
    choice = body["choices"][0]
    assert choice["message"]["content"] == "4"
    [first] = choice["logprobs"]["content"]
    assert first["token"] == "4"
    tops = first["top_logprobs"]
    assert [t["token"] for t in tops][0] == "4" and {t["token"] for t in tops} == {"1", "2", "3", "4", "5"}
    probs = {t["token"]: math.exp(t["logprob"]) for t in tops}
    assert probs["4"] == pytest.approx(0.8)
    assert probs["3"] == probs["5"] > probs["2"] > probs["1"]  # closer digits get more mass
    assert sum(probs.values()) <= 1.0

    aloe_openai_server.logprobs = False
    _, _, body = post(aloe_openai_server, chat(JUDGE_PROMPT, logprobs=True, top_logprobs=5))
    assert body["choices"][0]["logprobs"] is None


def test_streaming(aloe_openai_server):
    aloe_openai_server.script = lambda messages: "Hello there friend"
    status, _, raw = post(aloe_openai_server, chat("hi", stream=True, stream_options={"include_usage": True}))
    assert status == 200
    events = [line[len("data: "):] for line in raw.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Hello there friend"
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    assert chunks[-1]["usage"]["completion_tokens"] == 3


def test_requests_are_recorded_with_secrets_redacted(aloe_openai_server):
    post(aloe_openai_server, chat("hi"), key="sk-raw-test-key-123")
    post(aloe_openai_server, chat("hi"), key=None)
    first, second = aloe_openai_server.requests
    assert first["had_auth"] and first["headers"]["authorization"] == "REDACTED"
    assert "sk-raw-test-key-123" not in json.dumps(aloe_openai_server.requests)
    assert not second["had_auth"] and "authorization" not in second["headers"]
    assert first["json"]["messages"][0]["content"] == "hi" and first["status"] == 200


def test_required_api_key():
    with OpenAICompatServer(api_key="sk-right-0000") as server:
        assert post(server, chat("hi"), key="sk-wrong-0000")[0] == 401
        assert post(server, chat("hi"), key=None)[0] == 401
        assert post(server, chat("hi"), key="sk-right-0000")[0] == 200
        assert server.status_counts == {401: 2, 200: 1}


def test_bad_requests(aloe_openai_server):
    assert post(aloe_openai_server, {"model": "m", "messages": []})[0] == 400
    assert post(aloe_openai_server, chat("hi"), path="/nope")[0] == 404
    with pytest.raises(ValueError):
        aloe_openai_server.inject("teapot")


def test_script_errors_become_500(aloe_openai_server):
    def script(messages):
        raise RuntimeError("boom")

    aloe_openai_server.script = script
    status, _, body = post(aloe_openai_server, chat("hi"))
    assert status == 500 and "boom" in body["error"]["message"]


def test_binds_only_loopback():
    with pytest.raises(ValueError):
        OpenAICompatServer(host="0.0.0.0")
    with OpenAICompatServer(host="localhost") as server:
        assert server.base_url.startswith("http://127.0.0.1:")


def test_runs_as_a_module():
    proc = subprocess.Popen([sys.executable, "-m", "aloe_bench.testing.openai_server", "--port", "0",
                             "--latency", "0"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        base = line.split(" at ", 1)[1].split(" ", 1)[0]
        with urllib.request.urlopen(base + "/models", timeout=10) as resp:
            assert resp.status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
