"""Asking a chat backend until the answer is usable: the re-ask loops shared by the protocols.

- :func:`generate_nonempty`: free text (the simulator, induction, responders, facts extraction):
  an empty reply is asked again as it was.
- :func:`ask_until_readable`: an answer to parse (the pairwise, coverage and engagement judges):
  an unreadable answer is appended to the chat with a retry prompt and asked again;
  :func:`json_field` reads the answers that come as a JSON object.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from aloe_bench.components import ChatModel, GenerationParams, Reply
from aloe_bench.records import Message, Usage


async def generate_nonempty(backend: ChatModel, batch: list[list[Message]], base: GenerationParams,
                             max_retries: int, clean, empty_error: str) -> list[Reply]:
    """Generate one reply per chat (the simulator, induction and responder protocols); a reply that
    is empty after ``clean`` is re-asked (seed + 1 per attempt) and finally returned with ``empty_error``. A retried
    reply accounts for the usage of every attempt."""
    out: list[Reply | None] = [None] * len(batch)
    todo = list(range(len(batch)))
    for attempt in range(max_retries + 1):
        seed = None if base.seed is None else base.seed + attempt
        params = base.model_copy(update={"seed": seed})
        replies = await backend.agenerate([batch[i] for i in todo], params)
        again = []
        for i, rep in zip(todo, replies):
            prev = out[i]
            if prev is not None:
                rep = rep.model_copy(update={"attempts": prev.attempts + rep.attempts,
                                             "prompt_tokens": prev.prompt_tokens + rep.prompt_tokens,
                                             "completion_tokens": prev.completion_tokens + rep.completion_tokens,
                                             "cost": prev.cost + rep.cost})
            if rep.ok:
                text = clean(rep.text)
                if text:
                    out[i] = rep.model_copy(update={"text": text})
                    continue
                rep = rep.model_copy(update={"error": empty_error})
            out[i] = rep
            again.append(i)
        todo = again
        if not todo:
            break
    return [r for r in out if r is not None]


@dataclass
class Asked:
    """What :func:`ask_until_readable` got for one chat: the parsed value (None when there is
    none), the last raw answer, the calls made, the last call's error and the usage of every call."""

    #: The parsed answer, or None.
    value: Any
    #: The last answer as written ("(error: ...)" after a failed call).
    raw: str = ""
    #: Calls made (re-asks included).
    attempts: int = 0
    #: The last call's error when it failed; None otherwise.
    error: str | None = None
    #: Usage of every call.
    usage: Usage = field(default_factory=Usage)


async def ask_until_readable(backend: ChatModel, chats: Sequence[list[Message]], params: GenerationParams,
                             max_retries: int, parse: Callable[[int, str], Any],
                             retry: Callable[[int], str]) -> list[Asked]:
    """Ask ``backend`` once per chat and re-ask until ``parse(index, answer)`` reads something.

    An unreadable answer is appended to its chat with the user message ``retry(index)`` and asked
    again; a failed call is asked again as it was. The seed moves on by one per attempt. After
    ``max_retries + 1`` attempts the value stays None, with ``error`` set only when the last call
    failed (a failed call is retried on resume; an unreadable answer is a permanent null)."""
    chats = [list(c) for c in chats]
    out = [Asked(value=None) for _ in chats]
    todo = list(range(len(chats)))
    for attempt in range(1, max(0, max_retries) + 2):
        seed = None if params.seed is None else params.seed + attempt - 1
        replies = await backend.agenerate([chats[i] for i in todo], params.model_copy(update={"seed": seed}))
        again = []
        for i, rep in zip(todo, replies):
            asked = out[i]
            asked.usage.add(rep.usage())
            asked.attempts = attempt
            asked.raw = rep.text if rep.ok else f"(error: {rep.error})"
            asked.error = None if rep.ok else rep.error
            value = parse(i, rep.text) if rep.ok else None
            if value is not None:
                asked.value = value
                continue
            if rep.ok:
                chats[i] = chats[i] + [Message(role="assistant", content=rep.text or "(empty)"),
                                       Message(role="user", content=retry(i))]
            again.append(i)
        todo = again
        if not todo:
            break
    return out


def numbered(lines: Sequence[str]) -> str:
    """``1. first``, ``2. second``, ... one per line."""
    return "\n".join(f"{n}. {line}" for n, line in enumerate(lines, 1))


def bulleted(lines: Sequence[str], empty: str = "(nothing)") -> str:
    """``- first``, ``- second``, ... one per line (``empty`` when there are none)."""
    return "\n".join(f"- {line}" for line in lines) if lines else empty


#: What :func:`json_field` returns when an answer holds no JSON object with one of the keys.
MISSING: Any = object()


def json_field(text: str, keys: Sequence[str]) -> Any:
    """The value of the first key of the JSON object in ``text`` (``{"winner": "B"}``, possibly
    inside other text) that is one of ``keys`` (case-insensitive); :data:`MISSING` when the text
    holds no such object (none, unparsable, not an object, no such key)."""
    match = re.search(r"\{.*\}", text, re.S)
    if not match:
        return MISSING
    try:
        obj = json.loads(match.group(0))
    except (json.JSONDecodeError, ValueError):
        return MISSING
    if not isinstance(obj, dict):
        return MISSING
    wanted = {k.lower() for k in keys}
    return next((value for key, value in obj.items() if str(key).lower() in wanted), MISSING)


def rationale(text: str, leading: str) -> str:
    """The rationale of a judge's answer whose first line carries the verdict: every line after
    the first, or, for a one-line answer, that line without its leading verdict (``leading``: a
    regular expression, matched case-insensitively at the start of the line)."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if len(lines) > 1:
        return " ".join(lines[1:])
    return re.sub(leading, "", lines[0], flags=re.I).strip() if lines else ""
