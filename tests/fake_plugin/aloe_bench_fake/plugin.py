"""Implements every aloe-bench hook the way a third-party plugin would.

Environment knobs (tests only):
- ALOE_BENCH_FAKE_DUPLICATE=1: also register a judge named ``aloe`` (a duplicate of the built-in).
- ALOE_BENCH_FAKE_EVENTS=FILE: append the class name of every event to FILE.
- ALOE_BENCH_FAKE_CALLS=FILE: append one line per model call to FILE.
- ALOE_BENCH_FAKE_DELAY=SECONDS: each model call sleeps this long.
- ALOE_BENCH_FAKE_BAD_OBSERVER=1: the observer raises.
- ALOE_BENCH_FAKE_RAISE=1: the metrics registration hook raises (a plugin bug).
"""

from __future__ import annotations

import asyncio
import hashlib
import os

import click

from aloe_bench import hookimpl
from aloe_bench.components import ChatModel, Reply
from aloe_bench.records import Persona


class FakeModel(ChatModel):
    """Deterministic replies; judge prompts get a digit score."""

    def __init__(self, rest: str = "", **options):
        self.spec = f"fake:{rest}"
        self.options = options

    async def acomplete(self, messages, params):
        delay = float(os.environ.get("ALOE_BENCH_FAKE_DELAY", "0") or 0)
        if delay:
            await asyncio.sleep(delay)
        log = os.environ.get("ALOE_BENCH_FAKE_CALLS")
        if log:
            with open(log, "a", encoding="utf-8") as fh:
                fh.write(self.spec + "\n")
        last = messages[-1].content
        digest = hashlib.sha256("|".join(m.content for m in messages).encode()).hexdigest()
        if "Rate the reply from 1 to 5" in last:
            return Reply(text=f"{int(digest, 16) % 5 + 1}\nfake rationale", completion_tokens=3)
        return Reply(text=f"fake {self.spec} says {digest[:6]}", completion_tokens=4)


class ConstantJudge:
    """Gives every reply the same score."""

    name = "fake-constant"
    mode = "turn"

    def __init__(self, backend, *, mode="turn", params=None, value: float = 3.0):
        self.backend, self.mode, self.params, self.value = backend, mode, params, value

    async def score(self, requests):
        from aloe_bench.components import Verdict

        return [Verdict(score=self.value, rationale="constant") for _ in requests]

    def describe(self):
        return {"kind": self.name, "options": {"value": self.value}}


class HashEmbedder:
    """Bag-of-characters embedding, normalised (for tests of the embedder registry)."""

    name = "fake-hash"

    def encode(self, texts):
        import numpy as np

        out = np.zeros((len(texts), 32))
        for i, t in enumerate(texts):
            for ch in t.lower():
                out[i, ord(ch) % 32] += 1
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-9)


class FakeTrainer:
    """A trainer whose training is counting config keys."""

    config_class = dict

    def train(self, config):
        return {"keys": len(config)}


@hookimpl
def aloe_register_models(register):
    register("fake", FakeModel, description="Fake deterministic model (tests)")


class EchoSimulator:
    """A deterministic simulator that needs no model: its factory has the documented minimal
    signature (no ``params``, no ``**options``)."""

    name = "fake-echo"

    def __init__(self, backend):
        self.backend = backend

    async def next_messages(self, requests):
        return [Reply(text=f"Turn {r.turn}: tell me about {r.persona.profile[:20]}") for r in requests]

    def describe(self):
        return {"kind": self.name, "options": {}}


@hookimpl
def aloe_register_simulators(register):
    from aloe_bench.protocols.simulators import AloeSimulator

    register("fake-sim", AloeSimulator, description="The ALOE simulator under another name")
    register("fake-echo", EchoSimulator, needs_backend=False, description="Echoes the persona; no model")


@hookimpl
def aloe_register_judges(register):
    register("fake-constant", ConstantJudge, needs_backend=False, description="Constant score (option: value)")
    if os.environ.get("ALOE_BENCH_FAKE_DUPLICATE") == "1":
        register("aloe", ConstantJudge, description="Duplicate of the built-in judge")


def reply_chars(data):
    """A metric registered as the function itself (no factory)."""
    return {"chars": sum(len(t.reply or "") for c in data.conversations for t in c.turns)}


class UpperResponder:
    """A responder that needs no model: it answers with the user message in capitals (and the
    hint's length when it gets one)."""

    name = "fake-upper"

    def __init__(self, backend=None, *, suffix: str = "!"):
        self.suffix = suffix

    async def respond(self, requests):
        return [Reply(text=r.user_message.upper() + self.suffix + (f" [{len(r.hint)}]" if r.hint else ""))
                for r in requests]

    def describe(self):
        return {"kind": self.name, "options": {"suffix": self.suffix}, "prompt_hashes": {}}


@hookimpl
def aloe_register_generation_protocols(register):
    register("fake-upper", UpperResponder, role="responder", needs_backend=False,
             description="Capitalised echo responder; no model")


@hookimpl
def aloe_register_metrics(register):
    if os.environ.get("ALOE_BENCH_FAKE_RAISE") == "1":
        raise RuntimeError("fake registration bug")
    register("fake_chars", reply_chars, description="Characters of all replies")
    register("fake_turns", lambda: (lambda data: {"stored_turns": sum(len(c.turns) for c in data.conversations)}),
             description="Counts stored turns")


@hookimpl
def aloe_register_persona_sources(register):
    def personas(arg: str = ""):
        n = int(arg or 3)
        return [Persona(id=f"fake-{i}", profile=f"Fake profile {i}.", personality=f"Fake personality {i}.",
                        source="fake") for i in range(n)]

    register("fake", personas, description="fake[:N]: N synthetic personas")


@hookimpl
def aloe_register_trainers(register):
    register("fake-trainer", FakeTrainer, description="Counts config keys")


@hookimpl
def aloe_register_reporters(register):
    register("fake-format", lambda: (lambda rows, notes: f"{len(rows)} rows"), description="Counts rows")


@hookimpl
def aloe_register_embedders(register):
    register("fake-hash", HashEmbedder, description="Character histogram embedder")


class LengthReward:
    """A reward that needs no model: the reply's length in words over ``per`` (at most 1.0)."""

    name = "fake-length"

    def __init__(self, backend=None, *, per: int = 10):
        self.per = int(per)

    async def reward(self, requests):
        from aloe_bench.components import RewardResult

        return [RewardResult(value=min(1.0, len((r.response or "").split()) / self.per),
                             details={"words": len((r.response or "").split())}) for r in requests]

    def describe(self):
        return {"kind": self.name, "options": {"per": self.per}, "prompt_hashes": {}}


@hookimpl
def aloe_register_rewards(register):
    register("fake-length", LengthReward, needs_backend=False, description="Reply length in words / per (option: per)")


@hookimpl
def aloe_register_commands(cli):
    @cli.command("fake-hello")
    def hello():
        """Say hello from the fake plugin."""
        click.echo("hello from the fake plugin")


@hookimpl
def aloe_on_event(event):
    if os.environ.get("ALOE_BENCH_FAKE_BAD_OBSERVER") == "1":
        raise RuntimeError("observer failure")
    path = os.environ.get("ALOE_BENCH_FAKE_EVENTS")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(type(event).__name__ + "\n")
