"""Keep API keys out of error messages, logs and run files."""

from __future__ import annotations

import os
import re
from typing import Iterable

from aloe_bench.secrets import REDACTED, is_secret_key, redact_text

#: Besides the names core treats as secrets (:func:`aloe_bench.secrets.is_secret_key`), request
#: headers never leave the process: they carry Authorization.
_HEADERS_OPTION = re.compile(r"(^|[_-])headers$", re.I)


def env_secrets(environ: dict[str, str] | None = None) -> list[str]:
    """Values of environment variables that look like credentials (``*_API_KEY``, ``*_TOKEN``...)."""
    env = os.environ if environ is None else environ
    return [v for k, v in env.items()
            if v and len(v) >= 4 and re.search(r"(API_KEY|_TOKEN|_SECRET|PASSWORD)$", k.upper())]


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every known secret (this model's API key, credential environment variables)
    replaced by ``<redacted>``, then passed through core's :func:`aloe_bench.secrets.redact_text`
    (URL credentials, secret query parameters, bearer tokens, key shapes such as ``sk-...``), the
    one redaction every value leaving aloe-bench goes through."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return redact_text(text)


def public_options(options: dict) -> dict:
    """``options`` without secret-looking keys, values as JSON-friendly scalars or strings."""
    out = {}
    for key, value in options.items():
        if is_secret_key(key) or _HEADERS_OPTION.search(key):
            continue
        out[key] = value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
    return out
