"""Retry classification, Retry-After parsing, backoff bounds and secret scrubbing."""

from __future__ import annotations

import random
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from aloe_bench_litellm.model import load_litellm
from aloe_bench_litellm.redact import public_options, scrub
from aloe_bench_litellm.retry import MAX_RETRY_AFTER, backoff_delay, classify, retry_after


@pytest.fixture(scope="module")
def litellm():
    return load_litellm()


def rate_limit(litellm, headers: dict[str, str]):
    return litellm.RateLimitError("slow down", llm_provider="openai", model="m",
                                  response=httpx.Response(429, headers=headers,
                                                          request=httpx.Request("POST", "http://x")))


def test_classify(litellm):
    assert classify(rate_limit(litellm, {})) == "transient"
    assert classify(litellm.InternalServerError("boom", llm_provider="openai", model="m")) == "transient"
    assert classify(litellm.ServiceUnavailableError("busy", llm_provider="openai", model="m")) == "transient"
    assert classify(litellm.Timeout("slow", model="m", llm_provider="openai")) == "transient"
    assert classify(litellm.APIConnectionError("refused", llm_provider="openai", model="m")) == "transient"
    assert classify(litellm.AuthenticationError("bad key", llm_provider="openai", model="m")) == "auth"
    assert classify(litellm.InternalServerError("Missing credentials. Please pass an `api_key`",
                                                llm_provider="openai", model="m")) == "auth"
    assert classify(litellm.NotFoundError("no model", llm_provider="openai", model="m")) == "not_found"
    assert classify(litellm.BadRequestError("bad", llm_provider="openai", model="m")) == "permanent"
    assert classify(ValueError("anything else")) == "permanent"


def test_retry_after_forms(litellm):
    assert retry_after(rate_limit(litellm, {"Retry-After": "3"})) == 3.0
    assert retry_after(rate_limit(litellm, {"Retry-After": "0.25"})) == 0.25
    assert retry_after(rate_limit(litellm, {"retry-after-ms": "1500", "Retry-After": "9"})) == 1.5
    assert retry_after(rate_limit(litellm, {"Retry-After": "86400"})) == MAX_RETRY_AFTER
    assert retry_after(rate_limit(litellm, {})) is None
    assert retry_after(rate_limit(litellm, {"Retry-After": "soon"})) is None
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    date = format_datetime(now + timedelta(seconds=7), usegmt=True)
    assert retry_after(rate_limit(litellm, {"Retry-After": date}), now=now.timestamp()) == pytest.approx(7)
    assert retry_after(ValueError("no response")) is None


def test_backoff_is_full_jitter_and_capped():
    rng = random.Random(1)
    for attempt in range(12):
        delays = [backoff_delay(attempt, 0.5, 20.0, rng) for _ in range(200)]
        bound = min(20.0, 0.5 * 2 ** attempt)
        assert all(0 <= d <= bound for d in delays)
        assert max(delays) > 0.8 * bound  # the whole range is used, not a fixed delay


def test_scrub_and_public_options():
    key = "sk-proj-abcdef1234567890"
    text = f"bad key {key}; header Bearer {key}; other sk-zzzzzzzzzz; custom tok-999999"
    out = scrub(text, [key, "tok-999999"])
    assert key not in out and "sk-zzzzzzzzzz" not in out and "tok-999999" not in out
    assert out.count("<redacted>") == 4
    assert public_options({"api_key": "x", "aws_secret_access_key": "y", "vertex_credentials": "z",
                           "extra_headers": {"Authorization": "k"}, "max_tokens": 5, "user": "u"}) == {
        "max_tokens": 5, "user": "u"}
