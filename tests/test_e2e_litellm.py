"""End to end through the CLI: every role is an API model reached by litellm over real HTTP.

``aloe-bench evaluate`` runs in a subprocess against the project's OpenAI-compatible server
(in this process), with rate limits, server errors, empty simulator answers and unreadable judge
answers injected. Then: resuming a finished run makes no request, and ``aloe-bench judge``
re-scores with another judge while calling neither the simulator nor the model under test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from aloe_bench.testing.openai_server import GARBAGE_REPLIES, default_reply

API_KEY = "sk-e2e-7c41f0d9a2b84e6f"
JUDGE_MARK = "Rate the reply"  # in every first-attempt judge prompt, in no other prompt
LIMIT, TURNS = 4, 3


def aloe_bench_command() -> list[str]:
    """The installed console script (beside this interpreter), else the CLI entry function."""
    script = Path(sys.executable).with_name("aloe-bench")
    if script.exists():
        return [str(script)]
    found = shutil.which("aloe-bench")
    if found:
        return [found]
    return [sys.executable, "-c", "from aloe_bench.cli import main; main()"]


class StubbornJudgeTarget:
    """Server script: the first judge prompt it sees gets an unreadable answer on every attempt
    (so that reply ends up with no score); everything else gets the default answers."""

    def __init__(self):
        self.target: str | None = None
        self.lock = threading.Lock()

    def __call__(self, messages):
        first = messages[0]["content"]
        if JUDGE_MARK in first:
            with self.lock:
                if self.target is None and len(messages) == 1:
                    self.target = first
            if first == self.target:
                return GARBAGE_REPLIES[0]
        return default_reply(messages)


def cli(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    proc = subprocess.run([*aloe_bench_command(), *args], env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert API_KEY not in proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="module")
def env(server, aloe_data_dir, tmp_path_factory):
    """Environment of the CLI subprocesses: litellm's standard variables point at the server."""
    out = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ALOE_BENCH_"))}
    out.update(OPENAI_API_BASE=server.base_url, OPENAI_API_KEY=API_KEY, ALOE_BENCH_DATA_DIR=str(aloe_data_dir),
               ALOE_BENCH_CACHE_DIR=str(tmp_path_factory.mktemp("cache")), LITELLM_LOCAL_MODEL_COST_MAP="True",
               HF_HUB_OFFLINE="1", NO_COLOR="1")
    return out


@pytest.fixture(scope="module")
def finished_run(server, env, tmp_path_factory):
    """A 4-persona, 3-turn run with faults injected; returns (run dir, server stats at its end)."""
    run_dir = tmp_path_factory.mktemp("e2e") / "run"
    server.reset()
    server.script = StubbornJudgeTarget()
    server.inject("429", count=3, match=JUDGE_MARK, retry_after=0.05)
    server.inject("500", count=2)
    server.inject("empty", count=1, match="You start the chat")
    server.inject("garbage", count=2, match=JUDGE_MARK)
    cli(env, "evaluate", "--model", "litellm:openai/mut", "--user", "openai/sim", "--judge", "openai/judge",
        "--personas", "aloe-eval", "--limit", str(LIMIT), "--turns", str(TURNS), "-o", str(run_dir),
        "--no-cache", "-q")
    stats = {"status": dict(server.status_counts), "requests": list(server.requests),
             "faults_left": [f for f in server._faults if f.used < f.count]}
    server.script = default_reply
    return run_dir, stats


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_run_completes_with_every_turn_scored_and_counted(finished_run):
    run_dir, stats = finished_run
    assert stats["faults_left"] == []
    assert stats["status"][429] == 3 and stats["status"][500] == 2

    turns = read_jsonl(run_dir / "transcripts.jsonl")
    assert len(turns) == LIMIT * TURNS
    assert all(t["status"] == "ok" and t["user"] and t["reply"] for t in turns)

    scores = read_jsonl(run_dir / "scores.jsonl")
    assert sorted((s["conversation_id"], s["turn"]) for s in scores) == sorted(
        (t["conversation_id"], t["turn"]) for t in turns)
    missing = [s for s in scores if s["score"] is None]
    assert len(missing) == 1  # unreadable on all 3 attempts: null, never a number
    assert missing[0]["attempts"] == 3 and missing[0]["raw"] == GARBAGE_REPLIES[0]
    reasked = [s for s in scores if s["score"] is not None and s["attempts"] == 2]
    assert len(reasked) == 2  # the injected garbage answers, read on the second attempt
    assert all(s["score"] in (1, 2, 3, 4, 5) for s in scores if s["score"] is not None)

    summary = json.loads((run_dir / "summary.json").read_text())
    for key in ("al", "n", "avg", "ir", "n_ir", "r2", "n_r2", "ci", "usage", "missing"):
        assert key in summary
    # N(k) counts the scored replies of turn k; the reply left unscored is counted in missing(k).
    lost = missing[0]["turn"] - 1
    assert summary["missing"] == [1 if k == lost else 0 for k in range(TURNS)]
    assert summary["n"] == [LIMIT - 1 if k == lost else LIMIT for k in range(TURNS)]
    for k in range(1, TURNS + 1):
        got = [s["score"] for s in scores if s["turn"] == k and s["score"] is not None]
        assert summary["al"][k - 1] == pytest.approx(sum(got) / len(got))
    assert summary["usage"]["model"]["calls"] == LIMIT * TURNS
    assert summary["usage"]["judge"]["calls"] == LIMIT * TURNS + 2 * 1 + 2  # + re-asks

    chats = [r for r in stats["requests"] if r["path"].endswith("/chat/completions")]
    answered = {m: sum(r["status"] == 200 for r in chats if r["json"]["model"] == m) for m in ("mut", "sim", "judge")}
    assert answered == {"mut": LIMIT * TURNS, "sim": LIMIT * TURNS + 1, "judge": LIMIT * TURNS + 4}
    assert len(chats) == sum(answered.values()) + 3 + 2  # + the 429s and 500s, each retried once
    assert all(r["had_auth"] for r in stats["requests"])


def test_api_key_is_in_no_file_of_the_run(finished_run):
    run_dir, _ = finished_run
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"run.json", "transcripts.jsonl", "scores.jsonl", "summary.json"}
    for path in files:
        assert API_KEY not in path.read_text(errors="replace"), path
    spec = json.loads((run_dir / "run.json").read_text())
    assert {c["role"]: c["identity"]["model"] for c in spec["components"]} == {
        "model": "openai/mut", "user": "openai/sim", "judge": "openai/judge"}


def test_resuming_a_finished_run_makes_no_requests(finished_run, server, env):
    run_dir, _ = finished_run
    before = (run_dir / "scores.jsonl").read_text()
    server.reset()
    cli(env, "evaluate", "--model", "litellm:openai/mut", "--user", "openai/sim", "--judge", "openai/judge",
        "--personas", "aloe-eval", "--limit", str(LIMIT), "--turns", str(TURNS), "-o", str(run_dir),
        "--no-cache", "-q", "--resume")
    assert server.requests == []
    assert (run_dir / "scores.jsonl").read_text() == before


def test_judge_command_rescores_without_simulator_or_model_calls(finished_run, server, env):
    run_dir, _ = finished_run
    server.reset()
    cli(env, "judge", str(run_dir), "--judge", "openai/judge2", "--name", "judge2", "--no-cache")
    chats = server.chat_requests()
    assert {r["json"]["model"] for r in chats} == {"judge2"}
    assert len(chats) == LIMIT * TURNS
    scores = read_jsonl(run_dir / "judgements" / "judge2" / "scores.jsonl")
    assert len(scores) == LIMIT * TURNS and all(s["score"] is not None for s in scores)
    summary = json.loads((run_dir / "judgements" / "judge2" / "summary.json").read_text())
    assert summary["n"] == [LIMIT] * TURNS and summary["missing"] == [0] * TURNS


def test_judge_command_with_logprob_scoring(finished_run, server, env):
    run_dir, _ = finished_run
    server.reset()
    cli(env, "judge", str(run_dir), "--judge", "openai/judge3", "--judge-option", "logprobs=true",
        "--name", "judge3", "--no-cache")
    chats = server.chat_requests()
    assert len(chats) == LIMIT * TURNS
    assert all(r["json"]["logprobs"] is True and r["json"]["max_tokens"] == 1 for r in chats)
    scores = read_jsonl(run_dir / "judgements" / "judge3" / "scores.jsonl")
    assert all(s["probs"] is not None and 1 <= s["score"] <= 5 for s in scores)
    assert any(s["score"] != int(s["score"]) for s in scores)  # probability-weighted, not a parsed digit
