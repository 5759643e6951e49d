"""The engagement judge (judge task ``engagement``): would the user want to keep chatting after a
reply? RLPA's response reward (../shared/METHOD.md §2), 1 or 0, judged strictly: natural and brief,
fits the user's interests, logical, engaging, no flattery or echoing.

The judge sees who the user is (the persona, or the policy's inferred profile when the request
gives one), the dialogue up to the user's latest message and the reply, and answers yes or no on
the first line. Answers are parsed robustly (:func:`parse_keep`); an unreadable one is re-asked a
bounded number of times (:func:`~aloe_bench.protocols.asking.ask_until_readable`) and then
recorded as missing (keep None), never guessed.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from aloe_bench.components import ChatModel, EngagementRequest, EngagementVerdict, GenerationParams
from aloe_bench.prompts import load_prompt, prompt_hash, render
from aloe_bench.protocols.asking import ask_until_readable, bulleted, json_field, rationale
from aloe_bench.protocols.judges import format_history
from aloe_bench.records import Message

#: The first ask: the judge sees the persona (``persona``) or the inferred profile (``profile``).
PROMPTS = {"persona": "engagement_judge_persona.v1", "profile": "engagement_judge_profile.v1"}
RETRY_PROMPT = "engagement_retry.v1"
#: Text every engagement prompt contains, first ask and re-ask (tests and scripted backends
#: recognise engagement prompts by it).
ENGAGEMENT_MARKER = "Would this person want to keep chatting"

_WORDS = {"yes": True, "y": True, "1": True, "true": True, "keep": True, "no": False, "n": False, "0": False,
          "false": False}
_PREFIX = re.compile(r"^(?:(?:my\s+)?(?:final\s+)?(?:answer|verdict|decision|judgement|judgment|keep\s+chatting"
                     r"|would\s+keep\s+chatting|result)\s*(?:is)?\s*[:=\-–—]?\s*)", re.I)
_MARKS = " \t*_`#>\"'“”()[]{}.,;:!?-–—"
#: ``Answer: yes`` / ``verdict is **no**`` anywhere in the answer.
_LABELLED = re.compile(r"\b(?:answer|verdict|decision|keep\s+chatting)\s*(?:is|:|=|-|–|—)\s*[*_`\"']*\s*"
                       r"(yes|no|1|0)\b", re.I)
#: A first line that starts with the decision: ``Yes, because ...``, ``No - it flatters``, ``No.``
_LEAD = re.compile(r"(yes|no)\b(?!\s+(?:one|longer|matter|doubt|idea)\b)", re.I)


def _as_decision(text: str) -> bool | None:
    """True/False when ``text`` is nothing but a decision (``Yes``, ``**no**``, ``Answer: 1``)."""
    s = text.strip()
    for _ in range(3):  # markdown around a prefix around markdown: "**Answer:** *yes*"
        s = _PREFIX.sub("", s.strip(_MARKS))
    return _WORDS.get(s.strip(_MARKS).lower())


def _from_json(text: str) -> bool | None:
    value = json_field(text, ("keep", "keep_chatting", "answer", "verdict", "decision", "continue"))
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, str)):
        return _WORDS.get(str(value).strip().lower())
    return None


def parse_keep(text: str) -> bool | None:
    """The decision in an engagement judge's answer: True (yes), False (no), or None when it
    holds none or contradicts itself.

    Reads a first line that is only a decision (``yes``, ``No.``, ``**Yes**``, ``1``, ``0``,
    ``Answer: no``), JSON (``{"keep": true}``), a first line that starts with one (``Yes, it
    asks about her garden.``, ``No - it flatters``) and labelled decisions anywhere (``Verdict:
    no``). Answers naming both ("Answer: yes. Answer: no") give None.
    """
    if not text or not text.strip():
        return None
    stripped = text.strip()
    first = next(ln for ln in stripped.splitlines() if ln.strip())
    decision = _as_decision(first)
    if decision is not None:  # the answer format the prompt asks for: authoritative
        return decision
    decision = _from_json(stripped)
    if decision is not None:
        return decision
    found: set[bool] = set()
    lead = _LEAD.match(_PREFIX.sub("", first.strip().lstrip(_MARKS)))
    if lead:
        found.add(_WORDS[lead.group(1).lower()])
        if len({_WORDS[w.lower()] for w in re.findall(r"\b(yes|no)\b", first, re.I)}) > 1:
            return None  # "Yes and no", "No, yes it is polite": no decision
    for hit in _LABELLED.finditer(stripped):
        found.add(_WORDS[hit.group(1).lower()])
    return found.pop() if len(found) == 1 else None


def split_keep_rationale(text: str) -> str:
    """The rationale part of an answer: everything after the first line, or the first line
    without its leading decision."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if len(lines) == 1 and _as_decision(lines[0]) is not None:
        return ""  # only the decision ("**Answer:** yes"): no rationale
    return rationale(text, r"^[\W_]*(?:yes|no)\b[\W_]*")


class AloeEngagementJudge:
    """Decides strictly whether the user would want to keep chatting after a reply (judge task
    ``engagement``): yes (1) or no (0). A request with a ``profile`` is judged from that inferred
    profile, one without from the persona."""

    name = "aloe-engagement"

    def __init__(self, backend: ChatModel, *, params: GenerationParams | None = None, max_retries: int = 2):
        self.backend = backend
        self.params = params or GenerationParams(max_tokens=80, temperature=None)
        #: Re-asks after an unreadable answer (so at most ``max_retries + 1`` attempts per reply).
        self.max_retries = max(0, max_retries)

    def build_messages(self, req: EngagementRequest) -> list[Message]:
        """The backend's chat for one request: one user message with the whole prompt."""
        values = dict(history=format_history(req.history), reply=req.reply)
        if req.profile is None:
            text = render(PROMPTS["persona"], profile=req.persona.profile, personality=req.persona.personality,
                          **values)
        else:
            text = render(PROMPTS["profile"], inferred=bulleted(req.profile, "(nothing yet)"), **values)
        return [Message(role="user", content=text)]

    async def decide(self, requests: Sequence[EngagementRequest]) -> list[EngagementVerdict]:
        """One verdict per request, in order. An unreadable answer is re-asked; after the last
        attempt keep is None, with ``error`` set only when the last call failed."""
        answers = await ask_until_readable(self.backend, [self.build_messages(r) for r in requests], self.params,
                                           self.max_retries, parse=lambda _i, text: parse_keep(text),
                                           retry=lambda _i: load_prompt(RETRY_PROMPT).strip())
        return [EngagementVerdict(keep=a.value, rationale=split_keep_rationale(a.raw) if a.value is not None else "",
                                  raw=a.raw, attempts=a.attempts, error=a.error, usage=a.usage) for a in answers]

    def describe(self) -> dict[str, Any]:
        """Options and prompt hashes for run.json."""
        names = [*PROMPTS.values(), RETRY_PROMPT]
        return {"kind": self.name, "options": {"max_retries": self.max_retries,
                                               "params": self.params.model_dump(mode="json")},
                "prompt_hashes": {n: prompt_hash(n) for n in names}}
