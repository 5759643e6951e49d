"""Reply formats of the model under test: ``plain`` replies (ALOE), or ``rlpa`` (an RLPA policy's
output: ``<profile>`` one fact per line ``</profile>`` then ``<response>...</response>``).

Under ``rlpa`` the model gets the project's RLPA policy instruction (``prompts/rlpa_policy.v1.txt``,
the prompt the RLPA trainer uses too) as its system prompt. The user simulator and the judge only
ever see the response; the model's own history keeps its earlier outputs as ``history`` says:

- ``latest`` (the default, as the published RLPA code builds its prompts): its previous output
  whole (profile and response), older ones the response only, so it can update the profile it
  last wrote;
- ``responses``: responses only (it infers the profile afresh each turn);
- ``full``: every earlier output whole.

Nothing here calls a model: it builds messages and reads outputs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

from aloe_bench.prompts import load_prompt, prompt_hash
from aloe_bench.records import Conversation, Message

#: The RLPA policy instruction (a versioned prompt; its hash goes into run.json).
RLPA_PROMPT = "rlpa_policy.v1"
#: What the model's own history keeps of its earlier outputs under ``rlpa`` (see the module doc).
RLPA_HISTORIES = ("latest", "responses", "full")

_TAG = re.compile(r"</?\s*(?:profile|response)\s*>", re.I)
_CLOSED_PROFILE = re.compile(r"<profile>.*?</profile>", re.I | re.S)
_OPEN_RESPONSE = re.compile(r"<response>", re.I)
_OPEN_PROFILE = re.compile(r"<profile>", re.I)


def rlpa_instruction() -> str:
    """The RLPA policy instruction: the system prompt of a model under ``--reply-format rlpa``
    and of the RLPA trainer's policy."""
    return load_prompt(RLPA_PROMPT)


def policy_messages(exchanges: Sequence[tuple[str, str, str]], user_message: str,
                    history: str = "latest") -> list[Message]:
    """The messages an RLPA policy gets for its next output: the instruction as system prompt,
    the dialogue so far and the user's latest message.

    ``exchanges``: the earlier turns as (user message, the model's whole output, the response the
    user saw); ``history``: what the model's own earlier turns show (:data:`RLPA_HISTORIES`)."""
    if history not in RLPA_HISTORIES:
        raise ValueError(f"history must be one of {RLPA_HISTORIES}, not {history!r}")
    out = [Message(role="system", content=rlpa_instruction())]
    last = len(exchanges) - 1
    for i, (user, output, response) in enumerate(exchanges):
        whole = history == "full" or (history == "latest" and i == last)
        out.append(Message(role="user", content=user))
        out.append(Message(role="assistant", content=output if whole else response))
    out.append(Message(role="user", content=user_message))
    return out


def conversation_policy_messages(conv: Conversation, user_message: str, history: str = "latest") -> list[Message]:
    """:func:`policy_messages` for the next turn of a stored conversation (its ``ok`` turns)."""
    exchanges = []
    for t in conv.turns:
        if t.status != "ok":
            break
        reply = t.reply or ""
        exchanges.append((t.user, t.output if t.output is not None else reply, reply))
    return policy_messages(exchanges, user_message, history)


@dataclass(frozen=True)
class PolicyOutput:
    """An RLPA policy's output read for the dialogue: what the user and the judge see, the
    profile, and what was wrong with the format."""

    #: What the user and the judge see: the response, or (malformed) the output without its
    #: profile and tags; never a tag.
    reply: str
    #: The profile's facts, or None without a readable section.
    profile: list[str] | None
    #: What is wrong with the output (:func:`aloe_bench.profile.parse_rlpa_output`); None when well formed.
    malformed: str | None


def read_policy_output(output: str) -> PolicyOutput:
    """Split an RLPA policy's ``output`` into what the user sees, the profile and the problem.

    Well formed: the response. Malformed: the response when one could be read; else the text
    after an unclosed ``<response>``; else the output with its profile section (closed, or
    unclosed up to the end) removed; any leftover tag is removed too, so no profile text or tag
    ever reaches the user or the judge (the reply may then be empty)."""
    from aloe_bench.profile import parse_rlpa_output

    parsed = parse_rlpa_output(output)
    if parsed.response is not None:
        reply = parsed.response
    else:
        text = output or ""
        opened = list(_OPEN_RESPONSE.finditer(text))
        if opened:
            text = text[opened[-1].end():]
        else:
            text = _CLOSED_PROFILE.sub("", text)
            unclosed = _OPEN_PROFILE.search(text)
            if unclosed:
                text = text[:unclosed.start()]
        reply = text
    reply = _TAG.sub("", reply).strip()
    return PolicyOutput(reply=reply, profile=parsed.profile, malformed=parsed.malformed)


def describe_reply_format(reply_format: str, history: str) -> dict[str, Any] | None:
    """What run.json records about a reply format (None for ``plain``)."""
    if reply_format == "plain":
        return None
    return {"name": reply_format, "prompt": RLPA_PROMPT, "prompt_hash": prompt_hash(RLPA_PROMPT),
            "history": history}
