"""The stand-in backend of ``--dry-run``: it answers every call of a role with a fixed text of a
typical length for that role and counts the calls and (estimated) tokens, so the real engine
and the real protocols run a sample of the job without any model or network.

Token counts are estimates: about 4 characters per token for prompts, and the
:data:`TYPICAL_OUTPUT_TOKENS` of each role (capped by its ``max_tokens``) for answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from aloe_bench.components import ChatModel, GenerationParams, Reply
from aloe_bench.records import Message

#: Assumed output tokens per call of each role (a chat message of two or three sentences; a
#: verdict of a few tokens). Replies of real models vary; the estimate says so.
TYPICAL_OUTPUT_TOKENS: dict[str, int] = {
    "user": 45, "model": 90, "judge": 4, "induction": 70, "hinted": 90, "unhinted": 90, "pair_judge": 2,
}

#: What each role's stand-in answers (parseable by the built-in protocols: a score, a verdict).
_ANSWERS: dict[str, str] = {"judge": "4", "pair_judge": "A",
                            "induction": "Profile: None\nPersonality: None",
                            # --profile-probe: a one-fact profile, so the coverage judge is asked as in a run
                            "probe": "<profile>\n- word\n</profile>", "profile_judge": "1"}


def _rlpa_instructed(messages: Sequence[Message]) -> bool:
    """True when the chat starts with an instruction to write ``<profile>`` and ``<response>``
    sections (``--reply-format rlpa``): the stand-in answer then has both, so the run goes on
    (and scores the profile) as a real one would."""
    first = messages[0] if messages else None
    return first is not None and first.role == "system" and "<profile>" in first.content \
        and "<response>" in first.content


def estimate_tokens(text: str) -> int:
    """Rough token count of ``text``: one token per 4 characters (at least 1)."""
    return max(1, (len(text) + 3) // 4)


@dataclass
class DryTally:
    """Calls and estimated tokens of one role in a dry run."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


class DryBackend(ChatModel):
    """A backend that makes no call: it answers as :data:`_ANSWERS` (or a filler of the role's
    typical length) and tallies the role's calls and tokens."""

    def __init__(self, spec: str, role: str, tally: DryTally):
        self.spec = spec
        self.role = role
        self.tally = tally

    def identity(self) -> dict[str, Any]:
        """The spec and the role (dry backends are never cached)."""
        return {"spec": self.spec, "dry_run_role": self.role}

    async def acomplete(self, messages: Sequence[Message], params: GenerationParams) -> Reply:
        """A stand-in answer; counts the call."""
        out_tokens = min(params.max_tokens, TYPICAL_OUTPUT_TOKENS.get(self.role, 60))
        text = _ANSWERS.get(self.role) or " ".join(["word"] * max(1, int(out_tokens * 0.75)))
        if _rlpa_instructed(messages):
            text = f"<profile>\n- word\n</profile>\n<response>{text}</response>"
        prompt_tokens = sum(estimate_tokens(m.content) + 4 for m in messages)
        self.tally.calls += 1
        self.tally.prompt_tokens += prompt_tokens
        self.tally.completion_tokens += out_tokens
        return Reply(text=text, prompt_tokens=prompt_tokens, completion_tokens=out_tokens)
