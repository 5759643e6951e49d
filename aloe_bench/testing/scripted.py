"""The deterministic ``scripted`` chat backend: answers from a Python function, no model.

aloe-bench registers it as the built-in ``scripted`` model provider (``--model scripted``, flagged
demo quality), so a plugin can be run end to end offline in seconds::

    aloe-bench evaluate --model scripted --user scripted --judge scripted --personas sample --turns 2

Tests build their own instances (``ScriptedModel(script=..., fail=...)``) or register a
subclass in place of the built-in: ``PluginHost(extra_plugins={"scripted": MyPlugin()})``.
"""

from __future__ import annotations

import hashlib
from typing import Callable, Sequence

from aloe_bench.components import ChatModel, GenerationParams, Reply
from aloe_bench.hookspecs import hookimpl
from aloe_bench.personas.facts import FACTS_MARKER
from aloe_bench.protocols.coverage import COVERAGE_MARKER
from aloe_bench.protocols.engagement import ENGAGEMENT_MARKER
from aloe_bench.protocols.induction import INDUCTION_MARKER
from aloe_bench.protocols.pairwise import PAIR_MARKER
from aloe_bench.records import Message

#: Texts that mark a judge prompt of the built-in ``aloe`` judge (first ask and re-ask).
JUDGE_MARKERS = ("Rate the reply from 1 to 5", "could not be read")
#: Texts that mark a prompt of the built-in ``aloe-pairwise`` judge (first ask and re-ask).
PAIR_MARKERS = (PAIR_MARKER,)
#: Texts that mark a prompt of the built-in ``aloe-induction`` protocol.
INDUCTION_MARKERS = (INDUCTION_MARKER,)


#: Text of the ``--profile-probe`` question (aloe_bench/prompts/profile_probe.v1.txt).
PROBE_MARKERS = ("what have you learned about me so far",)


def _digest(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest(), 16)


def _profile_answer(last: str, messages: Sequence[Message]) -> str | None:
    """Answers of the profile prompts: facts extraction, the coverage count, the engagement
    verdict, the probe and an RLPA-instructed reply; None for any other prompt."""
    if FACTS_MARKER in last:
        return "\n".join(f"- Scripted fact {(_digest(last) + i) % 991}" for i in range(3))
    if COVERAGE_MARKER in last:
        golden = sum(1 for line in last.splitlines() if line[:1].isdigit() and ". " in line[:5])
        return str(_digest(last) % (max(golden, 0) + 1))
    if ENGAGEMENT_MARKER in last:
        return "yes" if _digest(last) % 3 else "no"
    if any(marker in last for marker in PROBE_MARKERS):
        return f"<profile>\n- Scripted fact {_digest(last) % 991}\n</profile>"
    first = messages[0] if messages else None
    if first is not None and first.role == "system" and "<profile>" in first.content and "<response>" in first.content:
        digest = hashlib.sha256("\x1f".join(m.content for m in messages).encode()).hexdigest()[:8]
        return (f"<profile>\n- Scripted fact {int(digest, 16) % 991}\n</profile>\n"
                f"<response>Scripted message {digest} about: {last[:40].strip()}</response>")
    return None


def default_script(messages: Sequence[Message]) -> str:
    """Deterministic stand-in answers: a pairwise-judge prompt gets ``A``, ``B`` or ``tie``
    (mostly A or B) with a rationale line, an induction prompt a ``Profile: ...`` and a
    ``Personality: ...`` line, a judge prompt a score; a facts-extraction prompt three fact
    lines, a coverage prompt a count up to the golden facts listed, an engagement prompt
    ``yes`` or ``no``, the profile probe a one-fact ``<profile>``, a chat under an RLPA
    instruction (a system message asking for ``<profile>`` and ``<response>``) both sections;
    anything else a short line derived from the last message. Every answer is a function of the
    prompt."""
    last = messages[-1].content if messages else ""
    profile_answer = _profile_answer(last, messages)
    if profile_answer is not None:
        return profile_answer
    if any(marker in last for marker in PAIR_MARKERS):
        pick = _digest(last) % 10
        winner = "A" if pick < 5 else "B" if pick < 9 else "tie"
        return f"{winner}\nScripted rationale."
    if any(marker in last for marker in INDUCTION_MARKERS):
        digest = _digest(last)
        personality = "None" if digest % 4 == 0 else f"Scripted trait {digest % 997}."
        return f"Profile: Scripted fact {digest % 991}.\nPersonality: {personality}"
    if any(marker in last for marker in JUDGE_MARKERS):
        digest = int(hashlib.sha256(last.encode()).hexdigest(), 16)
        return f"{digest % 5 + 1}\nScripted rationale."
    digest = hashlib.sha256("\x1f".join(m.content for m in messages).encode()).hexdigest()[:8]
    return f"Scripted message {digest} about: {last[:40].strip()}"


class ScriptedModel(ChatModel):
    """A chat model answering from a Python function; counts its calls. For tests and demos of
    the plugin path without any ML library.

    ``script(messages) -> str`` writes each reply (default :func:`default_script`);
    ``fail(messages) -> str | None`` returns an error text for the calls that should fail.
    Other keyword options are kept and go into :meth:`identity` (so they key the call cache).
    """

    def __init__(self, rest: str = "", *, script: Callable[[Sequence[Message]], str] | None = None,
                 fail: Callable[[Sequence[Message]], str | None] | None = None, **options):
        self.spec = f"scripted:{rest}" if rest else "scripted"
        self.script = script or default_script
        self.fail = fail
        self.calls = 0
        self.options = options

    def identity(self):
        """The spec and the options (as strings): what makes the replies what they are."""
        return {"spec": self.spec, "options": {k: str(v) for k, v in self.options.items()}}

    async def acomplete(self, messages: Sequence[Message], params: GenerationParams) -> Reply:
        """One scripted reply (or the error ``fail`` names for this call)."""
        self.calls += 1
        if self.fail is not None:
            err = self.fail(messages)
            if err:
                return Reply(error=err)
        text = self.script(messages)
        return Reply(text=text, prompt_tokens=sum(len(m.content.split()) for m in messages),
                     completion_tokens=len(text.split()))


class ScriptedPlugin:
    """Registers :class:`ScriptedModel` as the ``scripted`` model provider, without the
    demo-quality flag the built-in plugin ``core.scripted`` sets (for tests of unflagged runs).

    Given to a host under the name ``scripted`` (``PluginHost(extra_plugins={"scripted":
    ScriptedPlugin()})``) it takes the built-in's place instead of clashing with it."""

    @staticmethod
    @hookimpl
    def aloe_register_models(register):
        """Register ``scripted``."""
        register("scripted", ScriptedModel, description="Deterministic scripted replies (tests)")
