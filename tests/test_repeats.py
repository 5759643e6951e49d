"""Repeat runs (``evaluate --repeats R``; docs/validity.md): every persona played R times, each
repeat with its own simulator seed and stable conversation ids; summary.json's ``repeats`` gives
each repeat's Average and IR and their spread, and the intervals resample personas.

End to end over real HTTP: the simulator (answered by the project's OpenAI-compatible server)
writes the seed its request carried into its message and the judge scores by it, so each repeat's
figures are known exactly. Resume after kill -9; ``--dry-run`` scales with R; R = 1 leaves the
config hash and every record as they were.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from aloe_bench.errors import ConfigError
from aloe_bench.evaluation.config import EvalConfig, repeat_seed
from aloe_bench.records import Conversation
from aloe_bench.testing import sample_personas
from tests.helpers import aloe_bench_exe, kill_9_after, run_served, served_env, serving
from tests.helpers import host_with_plain_simulator, jsonl_rows as rows

API_KEY = "sk-repeats-2c8e4a6f0b9d1357"
TURNS = 4
SIM_MARKER = "You are playing a real person"
JUDGE_MARKER = "Rate the reply from 1 to 5"
SEEDS = [0, repeat_seed(0, 0, 1)]


def body_of(srv, messages) -> dict:
    """The recorded request body whose message list is ``messages``."""
    for r in reversed(srv.chat_requests()):
        body = r.get("json")
        if isinstance(body, dict) and body.get("messages") is messages:
            return body
    raise AssertionError("request not recorded")


def make_script(srv):
    """The simulator says which seed it was called with; the judge gives turn + 1 to a dialogue
    under seed 0 (repeat 0) and 3 under any other seed (repeat 1)."""
    def script(messages):
        first, last = messages[0]["content"], messages[-1]["content"]
        if JUDGE_MARKER in first or JUDGE_MARKER in last:
            text = first + last
            turn, seed = int(re.findall(r"message (\d+)", text)[-1]), int(re.findall(r"seed (\d+)", text)[-1])
            return f"{turn + 1 if seed == 0 else 3}\nOk."
        if messages[0]["role"] == "system" and SIM_MARKER in first:
            turn = sum(m["role"] == "assistant" for m in messages) + 1
            return f"Hello, seed {body_of(srv, messages).get('seed')}, message {turn}."
        return "Nice to meet you."
    return script


@pytest.fixture
def srv(server):
    with serving(server, None) as served:
        served.script = make_script(served)
        yield served


@pytest.fixture
def env(server, tmp_path):
    return served_env(server, tmp_path, API_KEY)



def evaluate_args(out: Path, *extra: str, repeats: int = 2) -> list[str]:
    return ["evaluate", "--model", "openai/mut", "--user", "openai/sim", "--judge", "openai/judge", "--personas",
            "sample", "--limit", "2", "--turns", str(TURNS), "--repeats", str(repeats), "-o", str(out), "-q",
            "--no-cache", "--bootstrap", "100", "--model-option", "max_retries=0", *extra]


def test_two_repeats_have_their_own_ids_seeds_and_figures(srv, env, tmp_path):
    out = tmp_path / "run"
    res = run_served(env, *evaluate_args(out))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Repeats (2 per persona" in res.stdout and f"simulator seed {SEEDS[1]}" in res.stdout, res.stdout

    personas = [p.id for p in sample_personas()[:2]]
    turns = rows(out / "transcripts.jsonl")
    assert len(turns) == 2 * 2 * TURNS
    ids = {(t["persona_id"], t["sample"]): t["conversation_id"] for t in turns}
    assert ids == {(p, r): Conversation.make_id(p, 0, r) for p in personas for r in (0, 1)}
    for t in turns:
        assert f"seed {SEEDS[t['sample']]}," in t["user"]
    # The simulator's requests carried the seed of their repeat.
    seeds = [r["json"].get("seed") for r in srv.chat_requests() if r["json"]["model"] == "sim"]
    assert sorted(set(seeds)) == sorted(SEEDS) and seeds.count(SEEDS[1]) == 2 * TURNS

    s = json.loads((out / "summary.json").read_text())
    assert s["personas_count"] == 2 and s["n"] == [4] * TURNS and s["status"] == "complete"
    assert s["al"] == [2.5, 3.0, 3.5, 4.0] and s["avg"] == pytest.approx(3.25)
    rep = s["repeats"]
    assert rep["count"] == 2 and rep["bootstrap"] == "personas"
    assert [(r["repeat"], r["seed"], r["conversations"]) for r in rep["runs"]] == [(0, SEEDS[0], 2), (1, SEEDS[1], 2)]
    assert [r["avg"] for r in rep["runs"]] == pytest.approx([3.5, 3.0])
    assert [r["ir"] for r in rep["runs"]] == pytest.approx([1.0, 0.0])
    assert rep["spread"]["avg"] == pytest.approx({"sd": 0.125 ** 0.5, "min": 3.0, "max": 3.5,
                                                  "range": 0.5})
    assert rep["spread"]["ir"] == pytest.approx({"sd": 0.5 ** 0.5, "min": 0.0, "max": 1.0, "range": 1.0})
    # Every persona has the same mean curve over its repeats: resampling personas gives no spread
    # (resampling conversations would).
    assert s["ci"]["avg"]["low"] == pytest.approx(3.25) and s["ci"]["avg"]["high"] == pytest.approx(3.25)

    spec = json.loads((out / "run.json").read_text())
    assert spec["config"]["repeats"] == 2 and spec["repeats"] == {"count": 2, "simulator_seeds": SEEDS}
    from aloe_bench.reporting.report import build_report

    html = build_report(out).html  # the report's cards show the spread over the repeats
    assert "Repeats (2)" in html and f"{0.125 ** 0.5:.3f}" in html and "3.00–3.50" in html
    assert "× 2 repeats" in html


def test_kill_9_then_resume_finishes_every_repeat(srv, env, tmp_path):
    out = tmp_path / "run"
    srv.latency = 0.06
    transcripts = out / "transcripts.jsonl"
    kill_9_after([aloe_bench_exe(), *evaluate_args(out)], env, transcripts, 6, timeout=90)
    assert 6 <= len(rows(transcripts)) < 16, "the run should have been killed mid-way"

    srv.latency = 0
    res = run_served(env, *evaluate_args(out, "--resume"))
    assert res.returncode == 0, res.stdout + res.stderr
    turns = rows(transcripts)
    keys = [(t["conversation_id"], t["turn"]) for t in turns]
    assert len(keys) == len(set(keys)) == 16
    assert all(f"seed {SEEDS[t['sample']]}," in t["user"] for t in turns)
    s = json.loads((out / "summary.json").read_text())
    assert s["al"] == [2.5, 3.0, 3.5, 4.0] and [r["avg"] for r in s["repeats"]["runs"]] == pytest.approx([3.5, 3.0])
    # Resuming with another R is refused, naming the key.
    res = run_served(env, *evaluate_args(out, "--resume", repeats=3))
    assert res.returncode == 2 and "repeats: 2 -> 3" in res.stderr, res.stderr


def test_dry_run_scales_with_the_repeats(aloe_host):
    from aloe_bench.evaluation.estimate import estimate

    cfg = EvalConfig(model="scripted:m", user="scripted:u", judge="scripted:j", turns=2, personas="sample")
    one = {r.role: r.calls for r in estimate("evaluate", cfg, aloe_host, 4).roles}
    three = estimate("evaluate", cfg.model_copy(update={"repeats": 3}), aloe_host, 4)
    assert three.repeats == 3 and {r.role: r.calls for r in three.roles} == {k: 3 * v for k, v in one.items()}
    assert all(r.calls_per_turn == pytest.approx(1.0) for r in three.roles)


def test_one_repeat_leaves_the_run_as_it_was(aloe_host, tmp_path):
    """R = 1 and one judge: the config hash of before repeats and ensembles existed (computed with
    the code of then), no new key in run.json, records or the summary, the same ids."""
    from aloe_bench.evaluation.engine import Evaluation

    cfg = EvalConfig(model="scripted:m", user="scripted:u", judge="scripted:j", turns=3, personas="sample", limit=3,
                     cache=False, bootstrap=50, judge_samples=2)
    assert cfg.config_hash() == "a746f71e21ecd80b"
    summary = asyncio.run(Evaluation(cfg, tmp_path / "run", aloe_host).run())
    data = summary.model_dump(mode="json")
    assert "repeats" not in data and "judges" not in data and summary.personas_count == 3
    spec = json.loads((tmp_path / "run" / "run.json").read_text())
    assert "repeats" not in spec and not {"repeats", "judges", "judge_aggregate"} & set(spec["config"])
    turns = rows(tmp_path / "run" / "transcripts.jsonl")
    assert {t["conversation_id"] for t in turns} == {Conversation.make_id(p.id, 0) for p in sample_personas()[:3]}
    assert all(t["sample"] == 0 for t in turns)


def test_a_simulator_without_sampling_parameters_cannot_repeat(tmp_path):
    from aloe_bench.evaluation.engine import Evaluation

    host = host_with_plain_simulator("fixed")
    cfg = EvalConfig(model="scripted:m", user="scripted:u", user_protocol="fixed", judge="scripted:j", turns=2,
                     personas="sample", limit=1, cache=False, repeats=2)
    with pytest.raises(ConfigError, match="--repeats needs"):
        asyncio.run(Evaluation(cfg, tmp_path / "run", host).run())
