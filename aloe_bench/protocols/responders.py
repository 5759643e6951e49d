"""The ALOE responders of ``aloe-bench generate``: the hinted and the unhinted reply to each user
message, over any chat backend.

Both see the same chat (a system prompt, the dialogue along the continued branch, the current
user message) and get the same length instruction (concise, about 3 sentences). Only the hinted
one's system prompt adds the induced persona and the instruction to infer the user's preferences
and tailor the reply to them. Keeping everything else equal controls the length confound: a
judge that prefers the hinted reply cannot be preferring it merely for being shorter or longer
because of a different instruction.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from aloe_bench.components import ChatModel, GenerationParams, Reply, RespondRequest
from aloe_bench.prompts import load_prompt, prompt_hash, render
from aloe_bench.protocols.asking import generate_nonempty
from aloe_bench.records import Message

PROMPTS = {True: "responder_hinted.v1", False: "responder_unhinted.v1"}
NAMES = {True: "aloe-hinted", False: "aloe-unhinted"}
#: Text the hinted responder's prompt puts just before the hint (tests and scripts find it by this).
HINT_MARKER = "What you know about this user"
#: The hint text of a hinted responder given no induced persona.
NO_HINT = "None"

_TAG = re.compile(r"^\s*[*_]*\s*(?:assistant|chatbot)\s*[*_]*\s*:(?:\s*(?:\*\*|__)(?=\s))?\s*", re.I)


def clean_reply(text: str) -> str:
    """A reply without surrounding whitespace and without a leading ``Assistant:`` or
    ``Chatbot:`` speaker tag."""
    return _TAG.sub("", text.strip(), count=1).strip()


class AloeResponder:
    """Answers user messages for ``generate``: ``hinted=True`` (``aloe-hinted``) with the
    induced persona as a hint and the instruction to tailor the reply to the user,
    ``hinted=False`` (``aloe-unhinted``) with neither. Both get the same length instruction, so the
    hint is the only difference between them (this controls the length confound)."""

    def __init__(self, backend: ChatModel, *, hinted: bool, params: GenerationParams | None = None,
                 max_retries: int = 1):
        self.backend = backend
        self.hinted = bool(hinted)
        #: ``aloe-hinted`` or ``aloe-unhinted``.
        self.name = NAMES[self.hinted]
        self.params = params or GenerationParams()
        #: Re-asks after an empty reply (so at most ``max_retries + 1`` attempts per request).
        self.max_retries = max(0, max_retries)

    @property
    def prompt_name(self) -> str:
        """The name of this responder's system prompt file."""
        return PROMPTS[self.hinted]

    def system_prompt(self, hint: str | None) -> str:
        """The system prompt: with ``hint`` (``None`` when missing or empty) for a hinted
        responder; the fixed unhinted prompt otherwise (the hint is then ignored)."""
        if not self.hinted:
            return load_prompt(self.prompt_name).strip()
        text = (hint or "").strip() or NO_HINT
        return render(self.prompt_name, hint=text).strip()

    def build_messages(self, req: RespondRequest) -> list[Message]:
        """The backend's chat for one request: system prompt + history + the user message."""
        return ([Message(role="system", content=self.system_prompt(req.hint))] + list(req.history)
                + [Message(role="user", content=req.user_message)])

    async def respond(self, requests: Sequence[RespondRequest]) -> list[Reply]:
        """One reply per request; an empty reply is re-asked with another seed, then returned as
        an error. Each reply adds up the calls and usage of its attempts."""
        batch = [self.build_messages(r) for r in requests]
        return await generate_nonempty(self.backend, batch, self.params, self.max_retries, clean_reply,
                                       "responder wrote an empty reply")

    def describe(self) -> dict[str, Any]:
        """Spec, options and prompt hashes for run.json."""
        return {"kind": self.name, "options": {"hinted": self.hinted, "params": self.params.model_dump(mode="json"),
                                               "max_retries": self.max_retries},
                "prompt_hashes": {self.prompt_name: prompt_hash(self.prompt_name)}}
