"""Test helpers for aloe-bench and its plugin authors.

The pytest fixtures live in :mod:`aloe_bench.testing.pytest_plugin` (loaded automatically through
the ``pytest11`` entry point); this module holds what they use and needs no pytest:
:class:`ScriptedModel` (deterministic answers from a Python function), :class:`ScriptedPlugin`
(registers it as the ``scripted`` provider) and :func:`find_aloe_data`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable, Sequence

from aloe_bench.components import ChatModel, GenerationParams, Reply
from aloe_bench.hookspecs import hookimpl
from aloe_bench.records import Message


def default_script(messages: Sequence[Message]) -> str:
    """Deterministic stand-in answers: a judge prompt gets a score, anything else a short line
    derived from the last message."""
    last = messages[-1].content if messages else ""
    if "Rate the reply from 1 to 5" in last or "could not be read" in last:
        digest = int(hashlib.sha256(last.encode()).hexdigest(), 16)
        return f"{digest % 5 + 1}\nScripted rationale."
    digest = hashlib.sha256("\x1f".join(m.content for m in messages).encode()).hexdigest()[:8]
    return f"Scripted message {digest} about: {last[:40].strip()}"


class ScriptedModel(ChatModel):
    """A chat model answering from a Python function; counts its calls. For tests and demos of
    the plugin path without any ML library."""

    def __init__(self, rest: str = "", *, script: Callable[[Sequence[Message]], str] | None = None,
                 fail: Callable[[Sequence[Message]], str | None] | None = None, **options):
        self.spec = f"scripted:{rest}" if rest else "scripted"
        self.script = script or default_script
        self.fail = fail
        self.calls = 0
        self.options = options

    def identity(self):
        return {"spec": self.spec, "options": {k: str(v) for k, v in self.options.items()}}

    async def acomplete(self, messages: Sequence[Message], params: GenerationParams) -> Reply:
        self.calls += 1
        if self.fail is not None:
            err = self.fail(messages)
            if err:
                return Reply(error=err)
        text = self.script(messages)
        return Reply(text=text, prompt_tokens=sum(len(m.content.split()) for m in messages),
                     completion_tokens=len(text.split()))


class ScriptedPlugin:
    """Registers the ``scripted`` model provider."""

    @staticmethod
    @hookimpl
    def aloe_register_models(register):
        register("scripted", ScriptedModel, description="Deterministic scripted replies (tests)")


def find_aloe_data() -> Path | None:
    """The official ALOE data folder for tests, or None."""
    env = os.environ.get("ALOE_BENCH_DATA_DIR")
    if env and Path(env).is_dir():
        return Path(env)
    here = Path.cwd().resolve()
    for parent in [here, *here.parents]:
        cand = parent / "shared" / "aloe-data"
        if (cand / "profile_eval.jsonl").is_file():
            return cand
        cand = parent.parent / "shared" / "aloe-data"
        if (cand / "profile_eval.jsonl").is_file():
            return cand
    return None
