"""Run folders for the reporting tests, made through the real engine with scripted components.

Provider ``trend``: ``trend:BASE:SLOPE`` is a model under test whose replies carry a marker the
``trend:judge`` judge reads back, so AL(k) rises by about SLOPE per turn from BASE (plus a
deterministic per-persona jitter): curves that differ between models, as real ones do.
``trend:xss`` answers with markup that would run if a report failed to escape it;
``trend:flaky`` writes multi-line replies, gets no valid judge score at turn 2 and fails at turn
3 for some personas.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path
from typing import Sequence

from aloe_bench.evaluation.config import EvalConfig
from aloe_bench.evaluation.engine import Evaluation
from aloe_bench.hookspecs import hookimpl
from aloe_bench.records import Message
from aloe_bench.testing import ScriptedModel, default_script

XSS_REPLY = ('Sure! <script>window.__pwned=1</script> <img src=x onerror="window.__pwned=2"> '
             '</textarea></script><b>bold?</b> & "quotes"')
_MARK = re.compile(r"\[q=(-?[\d.]+) s=(-?[\d.]+) t=(\d+)\]")


def _model_script(base: float, slope: float):
    def script(messages: Sequence[Message]) -> str:
        turn = sum(1 for m in messages if m.role == "user")
        return f"[q={base} s={slope} t={turn}] Reply at turn {turn} to: {messages[-1].content[:30]}"
    return script


def _flaky_script(messages: Sequence[Message]) -> str:
    turn = sum(1 for m in messages if m.role == "user")
    tag = " [nojudge]" if turn == 2 else ""
    return f"[q=3 s=0.2 t={turn}]{tag} First line of turn {turn}.\nSecond line, with  spaces."


def _flaky_fail(messages: Sequence[Message]) -> str | None:
    turn = sum(1 for m in messages if m.role == "user")
    first = int(hashlib.sha256(messages[0].content.encode()).hexdigest(), 16)
    return "backend exploded (HTTP 500)" if turn == 3 and first % 2 else None


def _judge_script(messages: Sequence[Message]) -> str:
    if any("[nojudge]" in m.content for m in messages):
        return "I would rather not say."
    prompt = messages[-1].content
    if "Rate the reply from 1 to 5" not in prompt:
        return default_script(messages)
    marks = _MARK.findall(prompt.split("The chatbot's reply:")[-1])
    if not marks:
        return "3\nNo marker in the reply."
    base, slope, turn = float(marks[-1][0]), float(marks[-1][1]), int(marks[-1][2])
    jitter = int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % 3 - 1
    score = max(1, min(5, round(base + slope * (turn - 1) + jitter)))
    return f"{score}\nScore {score} <i>for</i> turn {turn}."


def trend_model(rest: str = "", **options) -> ScriptedModel:
    """Factory of the ``trend`` provider (see the module docstring)."""
    if rest == "judge":
        return ScriptedModel(rest, script=_judge_script, **options)
    if rest == "xss":
        return ScriptedModel(rest, script=lambda messages: XSS_REPLY, **options)
    if rest == "flaky":  # multi-line replies; unjudgeable at turn 2; fails at turn 3 for some
        return ScriptedModel(rest, script=_flaky_script, fail=_flaky_fail, **options)
    base, _, slope = rest.partition(":")
    return ScriptedModel(rest, script=_model_script(float(base or 3), float(slope or 0)), **options)


class TrendPlugin:
    """Registers the ``trend`` provider."""

    @staticmethod
    @hookimpl
    def aloe_register_models(register):
        register("trend", trend_model, description="Scripted replies with a score trend (reporting tests)")


def make_host(aloe_data_dir: Path, monkeypatch):
    """A plugin host with the ``scripted`` and ``trend`` providers."""
    from aloe_bench.plugins import PluginHost
    from aloe_bench.testing import ScriptedPlugin

    monkeypatch.setenv("ALOE_BENCH_DATA_DIR", str(aloe_data_dir))
    return PluginHost(extra_plugins={"scripted": ScriptedPlugin(), "trend": TrendPlugin()})


def make_run(run_dir: Path, host, model: str = "trend:3:0.3", *, turns: int = 4, limit: int = 6,
             judge: str = "trend:judge", user: str = "scripted", **config) -> Path:
    """Evaluate ``model`` into ``run_dir`` with scripted user and judge; returns ``run_dir``."""
    cfg = EvalConfig(model=model, user=user, judge=judge, turns=turns, limit=limit, personas="aloe-eval",
                     cache=False, bootstrap=200, **config)
    asyncio.run(Evaluation(cfg, run_dir, host).run())
    return run_dir
