"""Keep secrets (API keys, tokens, passwords) out of run folders, reports, published results and
console hints.

One redaction serves every value that leaves the process:

- :func:`redact` copies a JSON-like value: values under secret-looking *names* (``api_key``,
  ``hf_token``, ``Authorization``) become ``<redacted>``, and every string is passed through
  :func:`redact_text`;
- :func:`redact_text` removes secrets *inside* text: the password (or lone token) of URL
  credentials (``https://user:PASS@host``), secret query parameters (``?api_key=...``,
  ``&sig=...``), ``name: value`` pairs with a secret name, ``Bearer`` tokens, and the shapes of
  well-known API keys (OpenAI, Anthropic, Hugging Face, AWS, Google, Groq, xAI, GitHub);
- :func:`redact_argv` does the same for a command line (the "Resume with:" hint).
"""

from __future__ import annotations

import re
from typing import Any, Sequence

# Whole option names (or their last part: hf_token, openai_api_key), not max_tokens.
SECRET_KEY = re.compile(r"(^|[_-])(api[_-]?key|key|token|secret|password|passwd|authorization|bearer|"
                        r"credentials?)$", re.I)
REDACTED = "<redacted>"

# Query-string parameters that carry credentials besides the names SECRET_KEY knows
# (signed URLs: ?sig=, X-Amz-Signature=, X-Goog-Signature=; ?pwd=, ?auth=).
_QUERY_SECRET_NAME = re.compile(r"(^|[_-])(sig|signature|pwd|auth|apikey|access[_-]?token)$", re.I)

# scheme://USERINFO@host: USERINFO runs to the last '@' before the path, so a password that
# itself holds an '@' is still removed whole.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^\s/?#\"'`]+)@")

# ?name=value / &name=value / ;name=value (the name is judged by _secret_query_name).
_QUERY_PARAM = re.compile(r"(?P<lead>[?&;])(?P<name>[A-Za-z0-9_.\-]+)=(?P<value>[^&#\s\"'`]+)")

# `api_key: xyz`, `"token": "xyz"`, `password=xyz`, `Authorization: Bearer xyz`: a secret name
# (ending like SECRET_KEY's names, but never a bare "key", which is ordinary prose) followed by
# ':' or '='. The value stops at quotes, whitespace, commas, braces and '&'.
_NAMED_VALUE = re.compile(
    r"(?P<name>(?<![A-Za-z0-9])[A-Za-z0-9_\-]*(?:api[_-]?key|token|secret|password|passwd|authorization)"
    r"[\"']?\s*[:=]\s*[\"']?(?:(?:Bearer|Basic|Token)\s+)?)"
    r"(?!<redacted>|(?:Bearer|Basic|Token)\s)(?P<value>[^\"'\s,;{}&]+)", re.I)

_KEY_SHAPES = [
    # Bearer tokens: at least 8 characters and a digit (so "Bearer instruments" stays).
    re.compile(r"(?P<keep>\bBearer\s+)(?=[A-Za-z0-9._~+/=\-*]*[0-9*])[A-Za-z0-9._~+/=\-*]{8,}"),
    # OpenAI (sk-..., sk-proj-..., sk-svcacct-...) and Anthropic (sk-ant-...), masked ones too.
    re.compile(r"(?<![A-Za-z0-9_\-])sk-[A-Za-z0-9_\-*]{8,}"),
    # Hugging Face user / org tokens.
    re.compile(r"(?<![A-Za-z0-9_])(?:hf|api_org)_[A-Za-z0-9]{20,}"),
    # Groq.
    re.compile(r"(?<![A-Za-z0-9_])gsk_[A-Za-z0-9]{20,}"),
    # xAI.
    re.compile(r"(?<![A-Za-z0-9_\-])xai-[A-Za-z0-9]{20,}"),
    # AWS access key ids (long-term AKIA, temporary ASIA).
    re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Za-z0-9])"),
    # Google API keys.
    re.compile(r"(?<![A-Za-z0-9_\-])AIza[0-9A-Za-z_\-]{35}(?![A-Za-z0-9_\-])"),
    # GitHub tokens.
    re.compile(r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})"),
]


def is_secret_key(name: object) -> bool:
    """True for option names that hold secrets (``api_key``, ``hf_token``), not ``max_tokens``."""
    return isinstance(name, str) and bool(SECRET_KEY.search(name))


def _secret_query_name(name: str) -> bool:
    return is_secret_key(name) or bool(_QUERY_SECRET_NAME.search(name))


def _userinfo(m: re.Match) -> str:
    user, sep, password = m.group("userinfo").partition(":")
    if sep:
        return f"{m.group('scheme')}{user}:{REDACTED if password else ''}@"
    return f"{m.group('scheme')}{REDACTED}@"  # a lone token (https://TOKEN@host)


def _query(m: re.Match) -> str:
    if not _secret_query_name(m.group("name")):
        return m.group(0)
    return f"{m.group('lead')}{m.group('name')}={REDACTED}"


def redact_text(text: str) -> str:
    """``text`` with the secrets found inside it replaced by ``<redacted>``: URL credentials
    (the password, or a lone token before ``@``), secret query parameters, ``name: value`` /
    ``name=value`` pairs with a secret name, ``Bearer`` tokens and well-known API-key shapes.
    Ordinary words (``max_tokens``, ``task-based``, ``skill``) are left alone. Idempotent."""
    if not isinstance(text, str) or not text:
        return text
    text = _URL_USERINFO.sub(_userinfo, text)
    text = _QUERY_PARAM.sub(_query, text)
    text = _NAMED_VALUE.sub(lambda m: m.group("name") + REDACTED, text)
    for pattern in _KEY_SHAPES:
        text = pattern.sub(lambda m: (m.groupdict().get("keep") or "") + REDACTED, text)
    return text


def redact(obj: Any) -> Any:
    """A copy of ``obj`` (dicts, lists, tuples, strings) with non-empty values under
    secret-looking keys replaced by ``<redacted>`` and every string passed through
    :func:`redact_text`. Other values are returned unchanged."""
    if isinstance(obj, dict):
        return {k: (REDACTED if is_secret_key(k) and v else redact(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(redact(v) for v in obj)
    if isinstance(obj, str):
        return redact_text(obj)
    return obj


_OPTION_FLAG = re.compile(r"^(--[A-Za-z0-9][A-Za-z0-9-]*-options?)(?:=(.*))?$", re.S)


def _redact_pair(pair: str) -> str:
    key, sep, value = pair.partition("=")
    if sep and value and is_secret_key(key.strip()):
        return f"{key}={REDACTED}"
    if sep:
        return f"{key}={redact_text(value)}"
    return redact_text(pair)


def redact_argv(argv: Sequence[str]) -> list[str]:
    """``argv`` with secrets replaced by ``<redacted>``: the value of every ``--X-option KEY=VALUE``
    (or ``--X-option=KEY=VALUE``) whose KEY names a secret, secrets inside the other option
    values (URL credentials, key shapes, see :func:`redact_text`), and secrets inside any other
    argument."""
    out: list[str] = []
    pair_next = False
    for arg in argv:
        if pair_next:
            out.append(_redact_pair(arg))
            pair_next = False
            continue
        m = _OPTION_FLAG.match(arg)
        if m and m.group(2) is None:
            out.append(arg)
            pair_next = True
        elif m:
            out.append(f"{m.group(1)}={_redact_pair(m.group(2))}")
        else:
            out.append(redact_text(arg))
    return out
