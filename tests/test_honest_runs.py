"""Runs that never lie: incomplete runs are loud, failed judge calls are retried, one writer per
run folder, re-scorings know their identity, usage covers every invocation.

Every CLI run here is a real ``aloe-bench`` process talking through litellm over HTTP to the
project's OpenAI-compatible server on 127.0.0.1, with faults injected on the server.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from aloe_bench.testing.openai_server import GARBAGE_REPLIES, default_reply
from tests.helpers import run_served, served_env, serving
from tests.test_e2e_litellm import aloe_bench_command

API_KEY = "sk-honest-0f3b9c2d7e6a4b1c"
JUDGE_MARK = "Rate the reply"
FAIL_MARK = "ZEBRA"  # in the profile of the personas whose model calls fail
TURNS = 2
NO_RETRY = ("--model-option", "max_retries=0", "--user-option", "max_retries=0", "--judge-option", "max_retries=0")


@pytest.fixture
def srv(server):
    with serving(server, default_reply) as served:
        yield served


@pytest.fixture(scope="module")
def personas_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("personas") / "people.jsonl"
    rows = [{"id": "ana", "profile": "Ana is a nurse in Lisbon who loves surfing.", "personality": "Warm."},
            {"id": "bo", "profile": f"Bo is a {FAIL_MARK} keeper at the zoo.", "personality": "Terse."},
            {"id": "cy", "profile": "Cy is a retired chess teacher.", "personality": "Curious."},
            {"id": "di", "profile": f"Di trains a {FAIL_MARK} for films.", "personality": "Blunt."}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def env(server, tmp_path):
    return served_env(server, tmp_path, API_KEY)


def aloe(env, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return run_served(env, *args, timeout=timeout)


def evaluate(env, personas_file, run_dir, *extra: str) -> subprocess.CompletedProcess:
    return aloe(env, "evaluate", "--model", "openai/mut", "--user", "openai/sim", "--judge", "openai/judge",
                "--personas", f"jsonl:{personas_file}", "--turns", str(TURNS), "-o", str(run_dir), "--no-cache",
                "-q", *NO_RETRY, *extra)


def summary_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def judge_calls(server) -> int:
    return len([r for r in server.chat_requests() if r["json"]["model"] == "judge"])


def test_failed_judge_calls_make_the_run_incomplete_and_resume_asks_again(srv, env, personas_file, tmp_path):
    run = tmp_path / "run"
    srv.inject("500", count=10**6, match=JUDGE_MARK)  # the judge's server is down for the whole run
    res = evaluate(env, personas_file, run)
    assert res.returncode == 3, res.stderr
    assert "Incomplete run" in res.stderr and "8 judge call(s) failed" in res.stderr
    assert "--resume" in res.stderr.split("Resume with:")[1]
    s = summary_of(run)
    assert s["status"] == "incomplete" and s["failures"]["scores"]["failed"] == 4 * TURNS
    assert all(a is None for a in s["al"])
    assert {r["status"] for r in records(run / "scores.jsonl")} == {"failed"}
    first_judge_calls = s["usage"]["judge"]["calls"]
    assert first_judge_calls >= 4 * TURNS

    srv.reset()  # the judge is back
    res = evaluate(env, personas_file, run, "--resume")
    assert res.returncode == 0, res.stderr
    assert {r["json"]["model"] for r in srv.chat_requests()} == {"judge"}  # no simulator or model call
    assert judge_calls(srv) == 4 * TURNS
    s = summary_of(run)
    assert s["status"] == "complete" and s["failures"]["scores"] == {"failed": 0, "unreadable": 0, "unscored": 0}
    assert all(a is not None for a in s["al"]) and s["n"] == [4] * TURNS
    # usage covers both invocations: the failed tries and the resumed ones
    assert s["usage"]["judge"]["calls"] == first_judge_calls + 4 * TURNS
    assert s["usage"]["model"]["calls"] == 4 * TURNS and s["usage"]["user"]["calls"] == 4 * TURNS

    srv.reset()
    res = evaluate(env, personas_file, run, "--resume")  # finished: no call, usage unchanged
    assert res.returncode == 0 and srv.chat_requests() == []
    assert summary_of(run)["usage"] == s["usage"]


def test_unreadable_answers_are_permanent_until_rejudge_missing(srv, env, personas_file, tmp_path):
    run = tmp_path / "run"
    srv.script = lambda messages: (GARBAGE_REPLIES[0] if JUDGE_MARK in messages[0]["content"]
                                   else default_reply(messages))
    res = evaluate(env, personas_file, run)
    assert res.returncode == 0, res.stderr  # a permanent outcome: counted, not incomplete
    s = summary_of(run)
    assert s["status"] == "complete" and s["failures"]["scores"]["unreadable"] == 4 * TURNS
    assert "stayed unreadable" in res.stderr
    assert all(r["status"] == "unreadable" and r["raw"] == GARBAGE_REPLIES[0] for r in records(run / "scores.jsonl"))

    srv.reset()
    srv.script = default_reply
    assert evaluate(env, personas_file, run, "--resume").returncode == 0
    assert srv.chat_requests() == []  # unreadable is not retried by a plain resume

    res = evaluate(env, personas_file, run, "--resume", "--rejudge-missing")
    assert res.returncode == 0, res.stderr
    assert judge_calls(srv) == 4 * TURNS
    s = summary_of(run)
    assert s["failures"]["scores"]["unreadable"] == 0 and s["n"] == [4] * TURNS


def test_failed_model_calls_exit_3_and_the_leaderboard_keeps_the_run_apart(srv, env, personas_file, tmp_path):
    runs = tmp_path / "runs"

    def script(messages):
        text = " ".join(str(m.get("content")) for m in messages)
        if JUDGE_MARK not in text and FAIL_MARK in text:
            return "Hello FAILME friend, tell me something."  # this simulated user's messages break the model
        return default_reply(messages)

    srv.script = script
    srv.inject("500", count=10**6, match="FAILME")
    res = evaluate(env, personas_file, runs / "broken")
    assert res.returncode == 3, res.stderr
    s = summary_of(runs / "broken")
    assert s["status"] == "incomplete"
    assert s["failures"]["conversations"] == 2 and s["failures"]["turns"] == {"user": 0, "model": 2}
    assert "500" in s["failures"]["errors"]["model"] or "error" in s["failures"]["errors"]["model"].lower()
    assert "2 conversation(s) cut short" in res.stderr

    srv.reset()
    srv.script = default_reply
    assert evaluate(env, personas_file, runs / "whole").returncode == 0

    res = aloe(env, "leaderboard", str(runs), "--format", "json")
    assert res.returncode == 0, res.stderr
    assert [r["run"] for r in json.loads(res.stdout)["rows"]] == ["whole"]
    assert "left out broken is INCOMPLETE" in " ".join(res.stderr.split())
    res = aloe(env, "leaderboard", str(runs), "--format", "json", "--include-incomplete")
    rows = {r["run"]: r for r in json.loads(res.stdout)["rows"]}
    assert rows["whole"]["rank"] == "1" and rows["broken"]["rank"] == "—"
    assert rows["broken"]["status"] == "incomplete"

    srv.reset()
    res = evaluate(env, personas_file, runs / "broken", "--resume")  # the model is fixed: finish it
    assert res.returncode == 0, res.stderr
    models = [r["json"]["model"] for r in srv.chat_requests()]
    assert models.count("mut") == 2 * TURNS  # only the two cut conversations, from their failed turn
    assert summary_of(runs / "broken")["status"] == "complete"


def test_a_spec_nobody_provides_fails_before_any_call_or_folder(srv, env, personas_file, tmp_path):
    for bad, said in (("foo:bar", "Unknown model provider 'foo'"), ("hff:Qwen/x", "Did you mean: hf?")):
        res = aloe(env, "evaluate", "--model", "openai/mut", "--user", "openai/sim", "--judge", bad,
                   "--personas", f"jsonl:{personas_file}", "--turns", "1", "-o", str(tmp_path / "r"), "--no-cache", "-q")
        assert res.returncode == 2 and said in res.stderr, res.stderr
    assert srv.chat_requests() == [] and not (tmp_path / "r").exists()


def test_a_run_whose_first_turn_failed_entirely_resumes_with_corrected_specs(srv, env, personas_file, tmp_path):
    run = tmp_path / "run"
    srv.inject("401", count=10**6)  # a wrong key for every call
    res = evaluate(env, personas_file, run)
    assert res.returncode == 1 and "Every conversation failed at turn 1" in res.stderr
    srv.reset()
    res = aloe(env, "evaluate", "--model", "openai/mut2", "--user", "openai/sim", "--judge", "openai/judge",
               "--personas", f"jsonl:{personas_file}", "--turns", str(TURNS), "-o", str(run), "--no-cache", "-q",
               *NO_RETRY, "--resume")
    assert res.returncode == 0, res.stderr
    assert "no successful turn yet" in res.stderr and "model: 'openai/mut' -> 'openai/mut2'" in res.stderr
    assert json.loads((run / "run.json").read_text())["config"]["model"] == "openai/mut2"
    assert summary_of(run)["status"] == "complete"


def test_two_writers_of_one_run_folder_one_is_refused(server, env, personas_file, tmp_path):
    run = tmp_path / "run"
    server.reset()
    server.latency = 0.3
    try:
        args = [*aloe_bench_command(), "evaluate", "--model", "openai/mut", "--user", "openai/sim", "--judge",
                "openai/judge", "--personas", f"jsonl:{personas_file}", "--turns", str(TURNS), "-o", str(run),
                "--no-cache", "-q"]
        first = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        while not (run / ".lock.owner").exists() and time.time() < deadline:
            time.sleep(0.05)
        second = subprocess.run([*args, "--resume"], env=env, capture_output=True, text=True, timeout=120)
        _, err = first.communicate(timeout=120)
    finally:
        server.latency = 0.0
    assert first.returncode == 0, err
    assert second.returncode == 1, second.stderr
    assert f"is in use by process {first.pid}" in second.stderr and "Traceback" not in second.stderr
    turns = records(run / "transcripts.jsonl")
    assert len(turns) == len({(t["conversation_id"], t["turn"]) for t in turns}) == 4 * TURNS
    scores = records(run / "scores.jsonl")
    assert len(scores) == len({(s["conversation_id"], s["turn"]) for s in scores}) == 4 * TURNS


def test_rescoring_identity_refuses_a_mismatch_and_defaults_apart(srv, env, personas_file, tmp_path):
    run = tmp_path / "run"
    assert evaluate(env, personas_file, run).returncode == 0
    srv.reset()
    res = aloe(env, "judge", str(run), "--judge", "openai/j2", "--judge-samples", "2", "--no-cache")
    assert res.returncode == 0, res.stderr
    assert (run / "judgements" / "openai_j2-turn-s2" / "judgement.json").is_file()
    assert len(srv.chat_requests()) == 2 * 4 * TURNS

    srv.reset()
    res = aloe(env, "judge", str(run), "--judge", "openai/j2", "--no-cache")  # samples 1: its own folder
    assert res.returncode == 0, res.stderr
    assert len(srv.chat_requests()) == 4 * TURNS
    assert records(run / "judgements" / "openai_j2-turn" / "scores.jsonl")[0]["sample"] == 0

    srv.reset()
    res = aloe(env, "judge", str(run), "--judge", "openai/j2", "--judge-mode", "history", "--name", "openai_j2-turn",
               "--no-cache")
    assert res.returncode == 2 and "different identity" in res.stderr and "mode: 'turn' -> 'history'" in res.stderr
    assert srv.chat_requests() == []


def test_failed_judge_calls_of_a_rescoring_are_retried_by_running_it_again(srv, env, personas_file, tmp_path):
    run = tmp_path / "run"
    assert evaluate(env, personas_file, run).returncode == 0
    srv.reset()
    srv.inject("500", count=10**6, match=FAIL_MARK)  # judge prompts hold the profile: two personas' replies fail
    res = aloe(env, "judge", str(run), "--judge", "openai/j3", "--name", "j3", "--no-cache",
               "--judge-option", "max_retries=0")
    assert res.returncode == 3, res.stderr
    s = json.loads((run / "judgements" / "j3" / "summary.json").read_text())
    assert s["status"] == "incomplete" and s["failures"]["scores"]["failed"] == 2 * TURNS
    srv.reset()
    res = aloe(env, "judge", str(run), "--judge", "openai/j3", "--name", "j3", "--no-cache",
               "--judge-option", "max_retries=0")
    assert res.returncode == 0, res.stderr
    assert len(srv.chat_requests()) == 2 * TURNS
    s = json.loads((run / "judgements" / "j3" / "summary.json").read_text())
    assert s["status"] == "complete" and s["n"] == [4] * TURNS
    # every call of both invocations: 2*TURNS good, 2*TURNS x 3 failed attempts, 2*TURNS retried
    assert s["usage"]["judge"]["calls"] == 2 * TURNS + 3 * 2 * TURNS + 2 * TURNS
