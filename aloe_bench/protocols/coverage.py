"""The coverage judge (judge task ``coverage``): how many of a persona's golden facts an inferred
profile covers, for RLPA's profile reward and ``evaluate --profile-probe``.

One call per request: the prompt lists the golden facts (numbered) and the inferred profile's lines
and asks for one whole number. A fact is covered when the profile states it or something that
clearly implies it (a paraphrase counts; a contradiction or a vague statement does not). The
answer is parsed robustly (:func:`parse_count`); an unreadable answer is re-asked a bounded number
of times and then recorded as missing (covered None), never guessed. An empty profile or an empty
list of golden facts needs no call: covered 0. :func:`aloe_bench.profile.profile_f1` turns the
count into precision, recall and F1 (clamping it to the lines there are).

Unreadable answers are re-asked through :func:`aloe_bench.protocols.asking.ask_until_readable`.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from aloe_bench.components import ChatModel, CoverageRequest, CoverageVerdict, GenerationParams
from aloe_bench.prompts import prompt_hash, render
from aloe_bench.protocols.asking import MISSING, ask_until_readable, bulleted, json_field, numbered
from aloe_bench.records import Message

PROMPT = "coverage_judge.v1"
RETRY_PROMPT = "coverage_retry.v1"
#: Text every coverage prompt contains, first ask and re-ask (tests and scripted backends
#: recognise coverage prompts by it).
COVERAGE_MARKER = "How many of the golden facts"

#: Spelled-out counts a judge may answer with.
NUMBER_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty".split())}
_WORD = "|".join(sorted(NUMBER_WORDS, key=len, reverse=True))
#: One count: digits (a sign or a decimal part is caught and refused) or a number word.
_COUNT = r"(-?\d+(?:\.\d+)?|\b(?:" + _WORD + r")\b)"
_Q = r"[*_`\"'\s]*"
_LABELLED = re.compile(r"\b(?:covered(?:\s+facts)?|count|answer|total|result|number\s+of\s+(?:covered\s+)?"
                       r"(?:golden\s+)?facts(?:\s+covered)?)" + _Q + r"(?:is|=|:|-|–|—)?" + _Q + _COUNT, re.I)
_OUT_OF = re.compile(_COUNT + r"\s*(?:/|out\s+of|of\s+(?:the\s+)?)\s*\d+", re.I)
_ANY = re.compile(_COUNT, re.I)
_NONE = {"none", "no facts", "no fact", "nothing", "no golden facts", "not a single one"}
_JSON_KEYS = ("covered", "count", "answer", "total", "number", "n")


def _value(token: str) -> int | None:
    """The count a matched token stands for; None for a negative or fractional number."""
    token = token.strip().lower()
    if token in NUMBER_WORDS:
        return NUMBER_WORDS[token]
    if token.startswith("-") or "." in token:
        return None
    return int(token)


def _from_json(text: str) -> int | None | bool:
    """The count of a JSON answer (``{"covered": 3}``); False when the text holds no such JSON."""
    value = json_field(text, _JSON_KEYS)
    if value is MISSING:
        return False
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and re.fullmatch(_COUNT, value.strip(), re.I):
        return _value(value)
    return None


def parse_count(text: str, most: int | None = None) -> int | None:
    """The count in a coverage judge's answer, or None when it holds no usable one.

    Reads, in this order: a JSON answer (``{"covered": 3}``); a labelled count anywhere
    (``Covered: 3``, ``Answer - **3**``, ``The number of golden facts covered is three``); a
    count out of a total (``3/5``, ``3 out of 5``); a first line that says none (``None.``) -> 0;
    else the first number in the answer (``**3**``, ``3 facts``, ``Three.``). Spelled numbers
    ``zero`` to ``twenty`` count. A negative or fractional number, or one above ``most`` (the
    golden facts there are: such an answer is no count of them), gives None.
    """
    if not text or not text.strip():
        return None
    stripped = text.strip()
    found = _from_json(stripped)
    if found is False:
        found = None
        for pattern in (_LABELLED, _OUT_OF):
            match = pattern.search(stripped)
            if match:
                found = _value(match.group(1))
                break
        else:
            first = stripped.splitlines()[0].strip(" \t*_`#>\"'.!:;,()[]").lower()
            if first in _NONE:
                found = 0
            else:
                match = _ANY.search(stripped)
                found = _value(match.group(1)) if match else None
    if found is None or found < 0 or (most is not None and found > most):
        return None
    return found


class AloeCoverageJudge:
    """Counts how many golden facts an inferred profile covers (judge task ``coverage``), one
    call per request answering a whole number; an empty profile or no golden facts needs no call."""

    name = "aloe-coverage"

    def __init__(self, backend: ChatModel, *, params: GenerationParams | None = None, max_retries: int = 2):
        self.backend = backend
        self.params = params or GenerationParams(max_tokens=40, temperature=None)
        #: Re-asks after an unreadable answer (so at most ``max_retries + 1`` attempts per request).
        self.max_retries = max(0, max_retries)

    def build_messages(self, req: CoverageRequest) -> list[Message]:
        """The backend's chat for one request: one user message with the whole prompt."""
        return [Message(role="user", content=render(PROMPT, golden=numbered(req.golden),
                                                    inferred=bulleted(req.inferred), total=str(len(req.golden))))]

    async def count(self, requests: Sequence[CoverageRequest]) -> list[CoverageVerdict]:
        """One verdict per request, in order. An unreadable answer (none, a negative or fractional
        number, more than the golden facts listed) is re-asked; after the last attempt covered is
        None, with ``error`` set only when the last call failed."""
        out: list[CoverageVerdict | None] = [None] * len(requests)
        asked = [i for i, r in enumerate(requests) if r.inferred and r.golden]
        for i, r in enumerate(requests):
            if i not in asked:
                out[i] = CoverageVerdict(covered=0, attempts=0)
        if asked:
            totals = [len(requests[i].golden) for i in asked]
            answers = await ask_until_readable(
                self.backend, [self.build_messages(requests[i]) for i in asked], self.params, self.max_retries,
                parse=lambda k, text: parse_count(text, most=totals[k]),
                retry=lambda k: render(RETRY_PROMPT, total=str(totals[k])).strip())
            for i, a in zip(asked, answers):
                out[i] = CoverageVerdict(covered=a.value, raw=a.raw, attempts=a.attempts, error=a.error, usage=a.usage)
        return [v for v in out if v is not None]

    def describe(self) -> dict[str, Any]:
        """Options and prompt hashes for run.json."""
        return {"kind": self.name, "options": {"max_retries": self.max_retries,
                                               "params": self.params.model_dump(mode="json")},
                "prompt_hashes": {n: prompt_hash(n) for n in (PROMPT, RETRY_PROMPT)}}
