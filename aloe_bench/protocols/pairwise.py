"""The ALOE pairwise judge of ``aloe-bench generate``: which of two replies fits a persona better.

The judge sees the true persona, the user message (in mode ``history`` also the dialogue before
it) and both replies, labelled "A" (shown first) and "B" (shown second), and answers ``A``, ``B``
or ``tie``. Answers are parsed robustly (:func:`parse_pair_verdict`); an unreadable answer is
re-asked a bounded number of times and then recorded as missing (winner None), never guessed.
Which reply is shown first is the caller's choice (``generate`` randomises it).
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from aloe_bench.components import ChatModel, GenerationParams, PairRequest, PairVerdict
from aloe_bench.errors import ConfigError
from aloe_bench.prompts import load_prompt, prompt_hash, render
from aloe_bench.protocols.asking import ask_until_readable, json_field, rationale
from aloe_bench.protocols.judges import format_history
from aloe_bench.records import Message

PROMPTS = {"turn": "pair_judge_aloe_turn.v1", "history": "pair_judge_aloe_history.v1"}
RETRY_PROMPT = "pair_judge_retry.v1"
#: Text every pairwise prompt contains, first ask and re-ask (tests and the scripted backend
#: recognise pairwise prompts by it).
PAIR_MARKER = "Which reply fits this person better"
WINNERS = ("A", "B", "tie")

_TIE_WORDS = {"tie", "a tie", "its a tie", "it is a tie", "draw", "a draw", "equal", "equally good",
              "both", "both equally", "neither", "none", "same", "the same", "even"}
_PREFIX = re.compile(r"^(?:(?:my\s+)?(?:final\s+)?(?:answer|winner|verdict|choice|decision|result|pick|judgement|judgment"
                     r"|(?:the\s+)?better\s+(?:reply|response|one)|preferred(?:\s+(?:reply|response))?)"
                     r"(?:\s+is)?\s*[:=\-–—]?\s*)", re.I)
_NOUN = r"(?i:reply|response|option|answer|candidate)"
#: A label with nothing after it that reads as a word (an article "A reply ..." is not a label).
_END = r"(?=\s*(?:$|[^\w\s]|\b(?i:because|since|as|is|was|fits|suits|wins|matches|better)\b))"
#: Labels are upper-case letters (a lower-case "a" is an article) or tie words.
_LABEL = r"([AB]|(?i:tie|draw|neither|both))"
_Q = r"[*_`\"']*"
_EXPLICIT = [
    # Answer: B / Winner is Reply A / Verdict - tie / my choice: **B**
    re.compile(r"\b(?i:answer|winner|verdict|choice|decision|preferred|pick)\s*(?:(?i:is)|:|=|-|–|—)?\s*" + _Q
               + r"\s*(?:" + _NOUN + r"\s+)?" + _LABEL + _Q + _END),
    # The better reply is B / better one: A
    re.compile(r"\b(?i:better\s+(?:reply|response|one|fit))\s*(?:(?i:is)|:)\s*" + _Q + r"\s*(?:" + _NOUN
               + r"\s+)?" + _LABEL + _Q + _END),
    # Reply A is better / B fits her better / A wins
    re.compile(r"(?:\b" + _NOUN + r"\s+|(?<![\w'])|[*_`\"'(]+)([AB])[*_`\"')]*\s+(?i:is\s+(?:clearly\s+|much\s+"
               r"|slightly\s+|a\s+bit\s+)?(?:the\s+)?(?:better|stronger|preferable|superior|more\s+(?:fitting|suitable|suited|"
               r"appropriate|personal|personali[sz]ed|tailored|relevant))|wins"
               r"|fits\s+(?:\w+\s+){0,3}better|suits\s+(?:\w+\s+){0,3}better)\b"),
    # I prefer B / I'd pick Reply A
    re.compile(r"\b(?i:prefer|pick|choose|chose|select|go\s+with)\s+(?:" + _NOUN + r"\s+)?" + _Q + r"([AB])\b"
               + _Q + _END),
]
#: A first line that starts with a label as a verdict: "A - warmer", "Reply B: ...", "A." ("A is
#: better" is read by :data:`_EXPLICIT`; "A reply ..." is an article).
_LEAD = re.compile(r"(?:" + _NOUN + r"\s+)?([AB])[*_`\"')]*(?=\s*(?:$|[.:,;!\-–—]))")
_LEAD_TIE = re.compile(r"(?i:tie|draw|neither)[*_`\"')]*(?=\s*(?:$|[.:,;!\-–—]))")
_TIE_PHRASES = [
    re.compile(r"\b(?:it'?s|it\s+is|this\s+is|that'?s|call\s+it|result\s+is)\s+(?:a\s+)?(?:tie|draw)\b", re.I),
    re.compile(r"\b(?:both|the\s+two)(?:\s+(?:replies|responses|of\s+them))?\s+(?:are|fit|work|do|suit|seem)\s+"
               r"(?:about\s+|roughly\s+)?equally\b", re.I),
    re.compile(r"\bequally\s+(?:good|well|fitting|suited|suitable|strong|weak|bad|poor|matched|appropriate)\b", re.I),
    re.compile(r"\bno\s+clear\s+(?:winner|difference|preference)\b", re.I),
    re.compile(r"\bneither\s+(?:" + _NOUN + r"\s+|one\s+)?(?:is|fits|suits)\s+(?:\w+\s+){0,2}better\b", re.I),
]


def _as_label(text: str) -> str | None:
    """``A``, ``B`` or ``tie`` when ``text`` is nothing but a label (``**Reply A**``, ``Tie.``,
    ``(b)``, ``Answer: A``); None otherwise."""
    s = text.strip()
    for _ in range(3):  # markdown around a prefix around markdown: "**Answer:** *A*"
        s = s.strip(" \t*_`#>\"'“”()[]{}.,;:!-–—")
        s = _PREFIX.sub("", s)
    s = re.sub(r"^" + _NOUN + r"\s+", "", s.strip(" \t*_`#>\"'“”()[]{}.,;:!-–—"), flags=re.I)
    s = s.strip(" \t*_`#>\"'“”()[]{}.,;:!-–—").lower().replace("'", "").replace("’", "")
    if s in ("a", "b"):
        return s.upper()
    if s in _TIE_WORDS:
        return "tie"
    return None


def _from_json(text: str) -> str | None:
    value = json_field(text, ("winner", "verdict", "answer", "choice", "better", "preferred", "preference"))
    return _as_label(value) if isinstance(value, str) else None


def _normalise(label: str) -> str:
    return label if label in ("A", "B") else "tie"


def parse_pair_verdict(text: str) -> str | None:
    """The winner in a pairwise judge's answer: ``"A"``, ``"B"``, ``"tie"``, or None when the
    answer names none or is ambiguous.

    Reads a first line that is only a label (``A``, ``**B**``, ``Tie.``, ``Reply A``,
    ``Answer: B``, ``Winner: A``), JSON (``{"winner": "B"}``), a first line that starts with a
    label as a verdict (``A is better because ...``, ``B - warmer``) and explicit phrasing
    anywhere (``the winner is B``, ``I prefer Reply A``, ``Both are equally good``, ``Neither is
    better`` -> tie). An article ("A reply that ...") is not a label. Texts that name different
    winners ("Winner: A ... winner: B") give None.
    """
    if not text or not text.strip():
        return None
    stripped = text.strip()
    lines = [ln for ln in stripped.splitlines() if ln.strip()]
    first = lines[0].strip()
    label = _as_label(first)
    if label is not None:  # the answer format the prompt asks for: authoritative
        return label
    label = _from_json(stripped)
    if label is not None:
        return label
    found: set[str] = set()
    bare = first.lstrip(" \t*_`#>\"'(")
    lead = _LEAD.match(bare)
    if lead:
        found.add(lead.group(1))
    if _LEAD_TIE.match(bare):
        found.add("tie")
    for pat in _EXPLICIT:
        for hit in pat.finditer(stripped):
            word = hit.group(1)
            found.add(_normalise(word))
    if any(p.search(stripped) for p in _TIE_PHRASES):
        found.add("tie")
    return found.pop() if len(found) == 1 else None


def split_pair_rationale(text: str) -> str:
    """The rationale part of an answer: everything after the first line, or the first line
    without its leading label."""
    return rationale(text, r"^[\W_]*(?:(?:" + _NOUN + r"\s+)?[AB]\b|tie\b)[\W_]*")


class AloePairwiseJudge:
    """Says which of two replies fits the persona better, or tie (ALOE's pairwise judge);
    ``mode`` ``turn`` (persona, user message, replies) or ``history`` (the dialogue too)."""

    name = "aloe-pairwise"

    def __init__(self, backend: ChatModel, *, mode: str = "turn", params: GenerationParams | None = None,
                 max_retries: int = 2):
        if mode not in PROMPTS:
            raise ConfigError(f"Unknown pairwise judge mode {mode!r}.", "Use mode turn or history.")
        self.backend = backend
        self.mode = mode
        self.params = params or GenerationParams(max_tokens=80, temperature=None)
        #: Re-asks after an unreadable answer (so at most ``max_retries + 1`` attempts per pair).
        self.max_retries = max(0, max_retries)

    def build_messages(self, req: PairRequest) -> list[Message]:
        """The backend's chat for one request: one user message with the whole prompt."""
        values = dict(profile=req.persona.profile, personality=req.persona.personality,
                      user_message=req.user_message, first=req.first, second=req.second)
        if self.mode == "history":
            values["history"] = format_history(req.history)
        return [Message(role="user", content=render(PROMPTS[self.mode], **values))]

    async def compare(self, requests: Sequence[PairRequest]) -> list[PairVerdict]:
        """One verdict per request. An unreadable answer is re-asked (the answer and the retry
        prompt are appended, the seed moves on); a failed call is asked again. After the last
        attempt: winner None, with ``error`` set only when the last call failed."""
        retry = load_prompt(RETRY_PROMPT).strip()
        answers = await ask_until_readable(self.backend, [self.build_messages(r) for r in requests], self.params,
                                           self.max_retries, parse=lambda _, text: parse_pair_verdict(text),
                                           retry=lambda _: retry)
        return [PairVerdict(winner=a.value, rationale=split_pair_rationale(a.raw) if a.value else "", raw=a.raw,
                            attempts=a.attempts, usage=a.usage, error=a.error) for a in answers]

    def describe(self) -> dict[str, Any]:
        """Spec, options and prompt hashes for run.json."""
        names = [PROMPTS[self.mode], RETRY_PROMPT]
        return {"kind": self.name, "options": {"mode": self.mode, "max_retries": self.max_retries,
                                               "params": self.params.model_dump(mode="json")},
                "prompt_hashes": {n: prompt_hash(n) for n in names}}
