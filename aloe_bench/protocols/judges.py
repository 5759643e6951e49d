"""The ALOE judge: a 1-5 persona-fit score for each reply, over any chat backend.

Backends that return next-token probabilities (local transformers models; API models with
logprobs) are scored from the probabilities of the answers "1".."5": the probability-weighted
mean is the score and the argmax is recorded too (as G-Eval does), so a small local judge always
yields a valid score. Other backends answer in text, parsed robustly; an unreadable answer is
re-asked a bounded number of times and then recorded as missing (None), never as a number.
"""

from __future__ import annotations

import json
import re
from typing import Any, Sequence

from aloe_bench.components import ChatModel, GenerationParams, JudgeRequest, Verdict
from aloe_bench.errors import ConfigError
from aloe_bench.prompts import load_prompt, prompt_hash, render
from aloe_bench.protocols.asking import ask_until_readable, rationale
from aloe_bench.records import Message, Usage

PROMPTS = {"turn": "judge_aloe_turn.v1", "history": "judge_aloe_history.v1"}
RETRY_PROMPT = "judge_retry.v1"
CHOICES = ("1", "2", "3", "4", "5")

_NUM = r"([0-9]+(?:\.[0-9]+)?)"
_PATTERNS = [
    re.compile(r"(?:score|rating|grade)\s*(?:is|of|=|:)?\s*[*_`\"']*\s*" + _NUM, re.I),
    re.compile(_NUM + r"\s*(?:/|out\s+of)\s*5\b", re.I),
    re.compile(r"^\W*" + _NUM + r"(?![0-9.]*\s*(?:%|/\s*(?:10|100)))"),
]


def parse_score(text: str, low: int = 1, high: int = 5) -> float | None:
    """The score in a judge's answer, or None if it has no unambiguous score in [low, high].

    Reads ``4``, ``Score: 4``, ``**4**``, ``4/5``, ``4 out of 5``, ``{"score": 4}`` and the like.
    """
    if not text:
        return None
    stripped = text.strip()
    candidate: float | None = None
    match = re.search(r"\{.*\}", stripped, re.S)
    if match:
        try:
            obj = json.loads(match.group(0))
            if isinstance(obj, dict):
                for key in ("score", "rating", "Score", "Rating"):
                    if isinstance(obj.get(key), (int, float, str)):
                        candidate = float(obj[key])
                        break
        except (json.JSONDecodeError, ValueError):
            pass
    if candidate is None:
        for pat in _PATTERNS:
            m = pat.search(stripped)
            if m:
                candidate = float(m.group(1))
                break
    if candidate is None or not (low <= candidate <= high):
        return None
    return candidate


def split_rationale(text: str) -> str:
    """The rationale part of an answer: everything after the first line (or the whole text)."""
    return rationale(text, r"^\W*[1-5](?:\s*/\s*5)?\W*")


def format_history(history: Sequence[Message]) -> str:
    """The dialogue as text for a history-aware judge."""
    if not history:
        return "(this is the first message)"
    names = {"user": "Person", "assistant": "Chatbot"}
    return "\n".join(f"{names.get(m.role, m.role)}: {m.content}" for m in history)


class AloeJudge:
    """Scores replies 1-5 for how well they fit the persona (ALOE protocol)."""

    name = "aloe"

    def __init__(self, backend: ChatModel, *, mode: str = "turn", params: GenerationParams | None = None,
                 max_retries: int = 2, use_probs: bool | None = None):
        if mode not in PROMPTS:
            raise ConfigError(f"Unknown judge mode {mode!r}.", "Use --judge-mode turn or history.")
        self.backend = backend
        self.mode = mode
        self.params = params or GenerationParams(max_tokens=80, temperature=None)
        #: Re-asks after an unreadable answer (so at most ``max_retries + 1`` attempts per reply).
        self.max_retries = max(0, max_retries)
        self.use_probs = backend.supports_choice_probs if use_probs is None else use_probs
        if self.use_probs and not backend.supports_choice_probs:
            raise ConfigError(f"Judge backend {backend.spec!r} cannot return answer probabilities.",
                              "Drop use_probs or pick a local (hf:) judge.")

    def build_messages(self, req: JudgeRequest) -> list[Message]:
        """The backend's chat for one request."""
        values = dict(profile=req.persona.profile, personality=req.persona.personality,
                      user_message=req.user_message, reply=req.reply)
        if self.mode == "history":
            values["history"] = format_history(req.history)
        return [Message(role="user", content=render(PROMPTS[self.mode], **values))]

    async def score(self, requests: Sequence[JudgeRequest]) -> list[Verdict]:
        """One verdict per request."""
        batch = [self.build_messages(r) for r in requests]
        if not self.use_probs:
            return await self._score_text(batch)
        verdicts = await self._score_probs(batch)
        # API backends may return no logprobs for some calls: fall back to parsing text there.
        fallback = [i for i, v in enumerate(verdicts) if v.score is None]
        if fallback:
            for i, v in zip(fallback, await self._score_text([batch[i] for i in fallback])):
                spent = Usage()
                spent.add(verdicts[i].usage)  # the probability call was made (and paid) too
                spent.add(v.usage)
                verdicts[i] = v.model_copy(update={"usage": spent})
        return verdicts

    async def _score_probs(self, batch: list[list[Message]]) -> list[Verdict]:
        probs = await self.backend.achoice_probs(batch, CHOICES, self.params)
        out = []
        for p in probs:
            cached = bool(getattr(p, "cached", False))
            usage = Usage(calls=1, cached_calls=int(cached)) if cached else getattr(p, "usage", None) or Usage(calls=1)
            if not p:
                out.append(Verdict(score=None, raw="(no probabilities returned)", usage=usage))
                continue
            total = sum(p.get(c, 0.0) for c in CHOICES)
            if total <= 0:
                out.append(Verdict(score=None, raw=json.dumps(p), usage=usage))
                continue
            norm = {c: p.get(c, 0.0) / total for c in CHOICES}
            score = sum(int(c) * v for c, v in norm.items())
            argmax = int(max(norm, key=norm.get))
            out.append(Verdict(score=round(score, 4), argmax=argmax, probs={c: round(v, 4) for c, v in norm.items()},
                               raw=json.dumps(norm), rationale=f"probability-weighted score; most likely {argmax}",
                               usage=usage))
        return out

    async def _score_text(self, batch: list[list[Message]]) -> list[Verdict]:
        retry = load_prompt(RETRY_PROMPT).strip()
        answers = await ask_until_readable(self.backend, batch, self.params, self.max_retries,
                                           parse=lambda _, text: parse_score(text), retry=lambda _: retry)
        return [Verdict(score=a.value, rationale=split_rationale(a.raw) if a.value is not None else "", raw=a.raw,
                        argmax=int(round(a.value)) if a.value is not None else None, attempts=a.attempts,
                        usage=a.usage, error=a.error) for a in answers]

    def describe(self) -> dict[str, Any]:
        """Spec, options and prompt hashes for run.json."""
        names = [PROMPTS[self.mode]] + ([] if self.use_probs else [RETRY_PROMPT])
        return {"kind": self.name, "options": {"mode": self.mode, "use_probs": self.use_probs,
                                               "max_retries": self.max_retries,
                                               "params": self.params.model_dump(mode="json")},
                "prompt_hashes": {n: prompt_hash(n) for n in names}}
