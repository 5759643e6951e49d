"""The ALOE induction protocol (``aloe-bench generate``): which persona facts and traits the user
has revealed so far, over any chat backend.

The induction model sees the true persona and the dialogue so far (ending with the current user
message) and writes what the user's own messages give direct evidence for, as two labelled
lines (``Profile: ...`` and ``Personality: ...``, ``None`` where nothing is evident). The text
is handed to the hinted responder as written; :func:`split_induced` reads its two parts for the
training record.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from aloe_bench.components import ChatModel, GenerationParams, InductionRequest, Reply
from aloe_bench.prompts import prompt_hash, render
from aloe_bench.protocols.asking import generate_nonempty
from aloe_bench.protocols.judges import format_history
from aloe_bench.records import Message

PROMPT = "induction_aloe.v1"
#: Text every induction prompt contains (tests and the scripted backend recognise it by this).
INDUCTION_MARKER = "revealed about themselves"

_LABEL = re.compile(r"^[\s>*_#`-]*(profile|personality)(?:\s+(?:facts|traits|details|information|info))?\b[\s*_`]*(?:\([^)\n]*\))?[\s*_`]*[:\-–—]\s*", re.I | re.M)
_EMPTY = re.compile(r"^(?:none|nothing|n/?a|unknown|not\s+(?:yet\s+)?(?:revealed|evident|known|mentioned))"
                    r"(?:\s+(?:yet|so\s+far|evident|revealed|mentioned|known|identified|shown|at\s+all))*$", re.I)


def _clean_part(text: str) -> str | None:
    """One section's text with markdown and list markup trimmed; None when empty or "None"."""
    lines = [re.sub(r"^[\s*_`-]+|[\s*_`]+$", "", ln) for ln in text.strip().splitlines()]
    value = "\n".join(ln for ln in lines if ln).strip()
    probe = value.strip(" \t.!\"'()[]").strip()
    if not probe or _EMPTY.match(probe):
        return None
    return value


def split_induced(text: str) -> tuple[str | None, str | None]:
    """The ``(profile, personality)`` parts of an induction answer.

    Reads the two labelled sections the prompt asks for (``Profile: ...`` and
    ``Personality: ...``, also with markdown such as ``**Profile:**``, in either order, a section
    may span several lines). A part that is missing, empty or says ``None`` is None.
    """
    if not text:
        return None, None
    found: dict[str, str | None] = {}
    marks = list(_LABEL.finditer(text))
    for k, m in enumerate(marks):
        key = m.group(1).lower()
        if key in found:  # the first section of each label counts
            continue
        end = marks[k + 1].start() if k + 1 < len(marks) else len(text)
        found[key] = _clean_part(text[m.end():end])
    return found.get("profile"), found.get("personality")


def format_dialogue(dialogue: Sequence[Message]) -> str:
    """The dialogue as text for the induction prompt."""
    return format_history(dialogue)


class AloeInduction:
    """Writes the profile facts and personality traits the user has revealed so far (direct
    evidence only; ``None`` for a part with nothing evident): ALOE's induction step."""

    name = "aloe-induction"

    def __init__(self, backend: ChatModel, *, params: GenerationParams | None = None, max_retries: int = 1):
        self.backend = backend
        self.params = params or GenerationParams()
        #: Re-asks after an empty answer (so at most ``max_retries + 1`` attempts per request).
        self.max_retries = max(0, max_retries)

    def build_messages(self, req: InductionRequest) -> list[Message]:
        """The backend's chat for one request: one user message with the whole prompt."""
        return [Message(role="user", content=render(PROMPT, profile=req.persona.profile,
                                                     personality=req.persona.personality,
                                                     dialogue=format_dialogue(req.dialogue)))]

    async def induce(self, requests: Sequence[InductionRequest]) -> list[Reply]:
        """One induced persona text per request; an empty answer is re-asked with another seed,
        then returned as an error. Each reply adds up the calls and usage of its attempts."""
        batch = [self.build_messages(r) for r in requests]
        return await generate_nonempty(self.backend, batch, self.params, self.max_retries,
                                        str.strip, "induction model wrote an empty answer")

    def describe(self) -> dict[str, Any]:
        """Spec, options and prompt hashes for run.json."""
        return {"kind": self.name, "options": {"params": self.params.model_dump(mode="json"),
                                               "max_retries": self.max_retries},
                "prompt_hashes": {PROMPT: prompt_hash(PROMPT)}}


