"""Keep secrets (API keys, tokens) out of run folders, reports and published results."""

from __future__ import annotations

import re
from typing import Any

# Whole option names (or their last part: hf_token, openai_api_key), not max_tokens.
SECRET_KEY = re.compile(r"(^|[_-])(api[_-]?key|key|token|secret|password|passwd|authorization|bearer|"
                        r"credentials?)$", re.I)
REDACTED = "<redacted>"


def is_secret_key(name: object) -> bool:
    """True for option names that hold secrets (``api_key``, ``hf_token``), not ``max_tokens``."""
    return isinstance(name, str) and bool(SECRET_KEY.search(name))


def redact(obj: Any) -> Any:
    """A copy of ``obj`` with non-empty values under secret-looking keys replaced by ``<redacted>``."""
    if isinstance(obj, dict):
        return {k: (REDACTED if is_secret_key(k) and v else redact(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact(v) for v in obj]
    return obj
