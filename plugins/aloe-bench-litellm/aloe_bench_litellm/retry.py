"""Which API errors are worth retrying, and how long to wait before the next attempt.

Transient failures (rate limits, 5xx, connection errors, timeouts) are retried with exponential
backoff and full jitter (``delay = uniform(0, min(cap, base * 2**attempt))``, after AWS's
"Exponential Backoff And Jitter"); a ``Retry-After`` header from the server wins over the
computed delay. Everything else (bad key, unknown model, bad request) fails at once: retrying
cannot fix it.

Both transports of the plugin use it: ``litellm`` classifies litellm's exceptions
(:func:`classify`, :func:`retry_after`), ``oai`` the HTTP status and headers it reads itself
(:func:`classify_status`, :func:`retry_after_from_headers`).
"""

from __future__ import annotations

import random
import re
import time
from email.utils import parsedate_to_datetime
from typing import Any, Literal

Kind = Literal["transient", "auth", "not_found", "permanent"]

#: HTTP statuses worth retrying.
TRANSIENT_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})

#: Longest Retry-After honoured, in seconds; longer ones are clipped so a run never stalls for hours.
MAX_RETRY_AFTER = 120.0


_MISSING_KEY = re.compile(r"missing credentials|api_key client option must be set|no api key provided|"
                         r"api key (?:is )?(?:missing|required|not (?:set|found))", re.I)


def classify_status(status: int) -> Kind:
    """Sort an HTTP error status into a retry class: rate limits, timeouts and 5xx are
    transient, 401/403 a bad key, 404 an unknown model or endpoint, anything else permanent."""
    if status in TRANSIENT_STATUSES or status >= 500:
        return "transient"
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "not_found"
    return "permanent"


def classify(exc: BaseException) -> Kind:
    """Sort an exception raised by ``litellm.acompletion`` into a retry class."""
    import openai

    if _MISSING_KEY.search(str(exc)):  # litellm reports a key that was never set as a 500
        return "auth"
    if isinstance(exc, (openai.APIConnectionError, TimeoutError)):  # includes litellm.Timeout
        return "transient"
    if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
        return "auth"
    if isinstance(exc, openai.NotFoundError):
        return "not_found"
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return classify_status(status)
    if isinstance(exc, (openai.RateLimitError, openai.InternalServerError)):
        return "transient"
    name = type(exc).__name__
    if name in ("ServiceUnavailableError", "BadGatewayError", "InternalServerError", "RateLimitError", "Timeout"):
        return "transient"
    return "permanent"


def response_headers(exc: BaseException) -> dict[str, str]:
    """The HTTP response headers carried by an API exception (lower-cased keys), if any."""
    found: dict[str, str] = {}
    for source in (getattr(getattr(exc, "response", None), "headers", None),
                   getattr(exc, "litellm_response_headers", None)):
        if source is None:
            continue
        try:
            items = source.items()
        except AttributeError:
            continue
        for k, v in items:
            found.setdefault(str(k).lower(), str(v))
    return found


def retry_after(exc: BaseException, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms`` or ``Retry-After`` as seconds or
    an HTTP date), clipped to :data:`MAX_RETRY_AFTER`; None when it did not say."""
    return retry_after_from_headers(response_headers(exc), now)


def retry_after_from_headers(headers: dict[str, str], now: float | None = None) -> float | None:
    """Seconds a response's headers (lower-cased names) ask the client to wait:
    ``retry-after-ms``, else ``Retry-After`` as seconds or an HTTP date; clipped to
    :data:`MAX_RETRY_AFTER`; None when they do not say."""
    value: float | None = None
    if "retry-after-ms" in headers:
        try:
            value = float(headers["retry-after-ms"]) / 1000.0
        except ValueError:
            value = None
    if value is None and "retry-after" in headers:
        raw = headers["retry-after"].strip()
        try:
            value = float(raw)
        except ValueError:
            try:
                when = parsedate_to_datetime(raw).timestamp()
            except (TypeError, ValueError, IndexError):
                return None
            value = when - (time.time() if now is None else now)
    if value is None:
        return None
    return min(max(0.0, value), MAX_RETRY_AFTER)


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | Any = random) -> float:
    """Full-jitter delay before retry number ``attempt`` (0 for the first retry)."""
    return rng.uniform(0.0, min(cap, base * (2 ** attempt)))
