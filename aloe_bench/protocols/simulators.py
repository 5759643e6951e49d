"""The ALOE user simulator: role-plays a persona over any chat backend."""

from __future__ import annotations

import re
from typing import Any, Sequence

from aloe_bench.components import ChatModel, GenerationParams, Reply, SimRequest
from aloe_bench.prompts import load_prompt, prompt_hash, render
from aloe_bench.protocols.asking import generate_nonempty
from aloe_bench.records import Message

SYSTEM_PROMPT = "simulator_aloe.v1"
OPENING_PROMPT = "simulator_aloe_opening.v1"

_SPEAKER = re.compile(r"^\s*\**\s*(user|me|you|friend|assistant|chatbot|ai|bot|person|[A-Z][a-z]+)\s*\**\s*:\s*", re.I)
_OTHER_SPEAKER = re.compile(r"\n\s*\**\s*(assistant|chatbot|ai|bot|friend|them|other person)\s*\**\s*:", re.I)


def clean_user_message(text: str) -> str:
    """Strip what models add around a role-played message: a speaker tag, wrapping quotes, and
    anything after the simulator starts writing the other side's reply."""
    text = text.strip()
    cut = _OTHER_SPEAKER.search(text)
    if cut:
        text = text[: cut.start()]
    text = _SPEAKER.sub("", text, count=1).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'“”":
        text = text[1:-1].strip()
    if text.startswith("“") and text.endswith("”"):
        text = text[1:-1].strip()
    return text


class AloeSimulator:
    """Writes the next user message for a persona: topic from the profile, style from the
    personality, a little of the profile per turn, speaks first, writes only its own message.

    The chat is mirrored for the backend: the simulator's own earlier messages become
    ``assistant`` messages and the model-under-test's replies become ``user`` messages.

    At the turn a persona drift happens (``evaluate --drift-at K``, docs/drift.md) the request's
    ``change_notice`` follows the persona in the system prompt (``persona`` is then the new
    persona); the history, the simulator's own messages as the old persona included, is kept.
    """

    name = "aloe"
    #: It passes a request's ``change_notice`` on to its model (``--drift-at`` needs that).
    handles_change_notice = True

    def __init__(self, backend: ChatModel, *, params: GenerationParams | None = None, max_retries: int = 1):
        self.backend = backend
        self.params = params or GenerationParams(max_tokens=120)
        #: Re-asks after an empty or unusable user message.
        self.max_retries = max(0, max_retries)

    def build_messages(self, req: SimRequest) -> list[Message]:
        """The backend's chat for one request."""
        system = render(SYSTEM_PROMPT, profile=req.persona.profile, personality=req.persona.personality)
        notice = req.change_notice
        if notice:
            system = system.rstrip() + "\n\n" + notice.strip()
        msgs = [Message(role="system", content=system),
                Message(role="user", content=load_prompt(OPENING_PROMPT).strip())]
        for m in req.history:
            msgs.append(Message(role="assistant" if m.role == "user" else "user", content=m.content))
        return msgs

    async def next_messages(self, requests: Sequence[SimRequest]) -> list[Reply]:
        """One user message per request; an empty message is retried with another seed, then
        returned as an error."""
        batch = [self.build_messages(r) for r in requests]
        return await generate_nonempty(self.backend, batch, self.params, self.max_retries, clean_user_message,
                                       "simulator wrote an empty message")

    def describe(self) -> dict[str, Any]:
        """Spec, options and prompt hashes for run.json."""
        return {"kind": self.name, "options": {"params": self.params.model_dump(mode="json"), "max_retries": self.max_retries},
                "prompt_hashes": {SYSTEM_PROMPT: prompt_hash(SYSTEM_PROMPT), OPENING_PROMPT: prompt_hash(OPENING_PROMPT)}}
