"""Judge ensembles (``--judge`` given several times; docs/validity.md): every member scores every
reply, the reply's score is the members' mean (or median), the summary reports each member and
their agreement.

End to end over real HTTP: the project's OpenAI-compatible server answers each judge by the model
named in its request (judge-a, judge-b, judge-c give different, known scores), so member records,
AL(k) under mean and median, and the agreement figures are exact; resume after kill -9 and after
one member's failed call (the duplicate key holds the member); ``aloe-bench judge`` with three
members; per-member settings from the config file; usage errors; single-judge runs unchanged.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import numpy as np
import pytest

from aloe_bench.errors import ConfigError
from aloe_bench.evaluation.config import EvalConfig
from aloe_bench.metrics import mean_score_matrix
from aloe_bench.records import Conversation, TurnScore
from aloe_bench.validity.agreement import cohen_kappa, confusion_table
from tests.helpers import aloe_bench_exe, kill_9_after, run_served, served_env, serving
from tests.helpers import jsonl_rows as rows

API_KEY = "sk-ensemble-7f3a9c2e5b1d4068"
TURNS = 4
SIM_MARKER = "You are playing a real person"
JUDGE_MARKER = "Rate the reply from 1 to 5"
#: Each judge's score at turn k: judge-a k+1, judge-b as listed, judge-c always 5.
SCORES = {"judge-a": [2, 3, 4, 5], "judge-b": [1, 2, 4, 5], "judge-c": [5, 5, 5, 5]}
MEAN_AB = [1.5, 2.5, 4.0, 5.0]
MEDIAN_ABC = [2.0, 3.0, 4.0, 5.0]


def model_of(srv, messages) -> str:
    """The model named in the request whose message list is ``messages`` (the server records each
    request's body, and hands the script that body's own list)."""
    for r in reversed(srv.chat_requests()):
        body = r.get("json")
        if isinstance(body, dict) and body.get("messages") is messages:
            return body["model"]
    raise AssertionError("request not recorded")


def make_script(srv):
    def script(messages):
        first, last = messages[0]["content"], messages[-1]["content"]
        if JUDGE_MARKER in first or JUDGE_MARKER in last:
            turn = int(re.findall(r"message (\d+)", first + last)[-1])
            return f"{SCORES[model_of(srv, messages)][turn - 1]}\nBecause."
        if messages[0]["role"] == "system" and SIM_MARKER in first:
            return f"Hello there, message {sum(m['role'] == 'assistant' for m in messages) + 1}."
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



def evaluate_args(out: Path, *extra: str, judges=("judge-a", "judge-b")) -> list[str]:
    args = ["evaluate", "--model", "openai/mut", "--user", "openai/sim", "--personas", "sample", "--limit", "2",
            "--turns", str(TURNS), "-o", str(out), "-q", "--no-cache", "--bootstrap", "100",
            "--model-option", "max_retries=0", "--judge-option", "max_retries=0"]
    for j in judges:
        args += ["--judge", f"openai/{j}"]
    return args + list(extra)


def expected_agreement(a, b, convs=2):
    ga, gb = np.array(a * convs), np.array(b * convs)
    table = confusion_table(ga, gb)
    return float(np.trace(table) / table.sum()), cohen_kappa(table, quadratic=True)


def test_two_judges_score_every_reply_and_the_summary_reports_them(srv, env, tmp_path):
    out = tmp_path / "run"
    res = run_served(env, *evaluate_args(out))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "judge ensemble of 2" in res.stderr and "agreement j1-j2 over 8 replies" in res.stdout, res.stdout

    scores = rows(out / "scores.jsonl")
    assert len(scores) == 2 * 2 * TURNS  # conversations x turns x members
    for s in scores:
        member = {"openai/judge-a": "j1", "openai/judge-b": "j2"}[s["judge"]]
        assert s["member"] == member and s["score"] == SCORES[s["judge"][7:]][s["turn"] - 1]
    keys = [(s["conversation_id"], s["turn"], s["member"], s["sample"]) for s in scores]
    assert len(set(keys)) == len(keys)

    summary = json.loads((out / "summary.json").read_text())
    assert summary["al"] == MEAN_AB and summary["avg"] == pytest.approx(3.25) and summary["status"] == "complete"
    assert summary["judge"] == "openai/judge-a + openai/judge-b"
    j = summary["judges"]
    assert j["aggregate"] == "mean"
    assert [(m["name"], m["spec"], m["protocol"], m["scored"]) for m in j["members"]] == \
        [("j1", "openai/judge-a", "aloe", 8), ("j2", "openai/judge-b", "aloe", 8)]
    assert j["members"][0]["avg"] == pytest.approx(3.5) and j["members"][1]["avg"] == pytest.approx(3.0)
    assert j["members"][0]["ir"] == pytest.approx(1.0)
    (pair,) = j["agreement"]
    exact, qk = expected_agreement(SCORES["judge-a"], SCORES["judge-b"])
    assert (pair["a"], pair["b"], pair["n"]) == ("j1", "j2", 8)
    assert pair["exact"] == pytest.approx(exact) == 0.5
    assert pair["kappa_quadratic"] == pytest.approx(qk) and pair["spearman"] == pytest.approx(1.0)
    assert set(pair["ci"]) == {"exact", "kappa", "kappa_quadratic", "spearman", "alpha"}
    assert j["mean_agreement"]["kappa_quadratic"] == pytest.approx(qk)

    spec = json.loads((out / "run.json").read_text())
    assert [m["spec"] for m in spec["config"]["judges"]] == ["openai/judge-a", "openai/judge-b"]
    assert spec["config"]["judge"] == "openai/judge-a" and spec["config"]["judge_aggregate"] == "mean"
    judges = [(c["role"], c.get("member")) for c in spec["components"] if c["role"].startswith("judge")]
    assert judges == [("judge", "j1"), ("judge:j2", "j2")]
    assert summary["usage"]["judge"]["calls"] == 16
    from aloe_bench.reporting.report import build_report

    html = build_report(out).html  # the report's cards show the members and their agreement
    assert "Judges (mean of 2)" in html and "j1 3.50, j2 3.00" in html and f"quadratic kappa {qk:.2f}" in html


def test_kill_9_then_resume_judges_each_member_once(srv, env, tmp_path):
    out = tmp_path / "run"
    srv.latency = 0.06
    scores = out / "scores.jsonl"
    kill_9_after([aloe_bench_exe(), *evaluate_args(out)], env, scores, 5, timeout=90)
    before = rows(scores)
    assert 5 <= len(before) < 16, "the run should have been killed mid-way"

    srv.latency = 0
    res = run_served(env, *evaluate_args(out, "--resume"))
    assert res.returncode == 0, res.stdout + res.stderr
    after = [s for s in rows(scores) if s["status"] == "ok"]
    keys = [(s["conversation_id"], s["turn"], s["member"], s["sample"]) for s in after]
    assert len(keys) == len(set(keys)) == 16, "every (conversation, turn, member, sample) exactly once"
    assert json.loads((out / "summary.json").read_text())["al"] == MEAN_AB


def test_one_members_failed_call_is_asked_again_for_that_member_only(srv, env, tmp_path):
    out = tmp_path / "run"
    srv.inject("500", count=1, match="message 3.\n\nThe chatbot's reply")  # the first judge call at turn 3
    args = evaluate_args(out, "--judge-protocol-option", "max_retries=0")
    res = run_served(env, *args)
    assert res.returncode == 3, res.stdout + res.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failures"]["scores"]["failed"] == 1 and summary["status"] == "incomplete"
    failed = [s for s in rows(out / "scores.jsonl") if s["status"] == "failed"]
    assert len(failed) == 1

    srv.reset()
    res = run_served(env, *args, "--resume")
    assert res.returncode == 0, res.stdout + res.stderr
    asked = [r["json"] for r in srv.chat_requests()]
    assert len(asked) == 1 and asked[0]["model"] == failed[0]["judge"][len("openai/"):]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["al"] == MEAN_AB


def test_aloe_bench_judge_with_three_members_and_the_median(srv, env, tmp_path):
    out = tmp_path / "run"
    assert run_served(env, *evaluate_args(out, judges=("judge-a",))).returncode == 0
    srv.reset()
    args = ["judge", str(out), "--judge", "openai/judge-a", "--judge", "openai/judge-b", "--judge", "openai/judge-c",
            "--judge-aggregate", "median", "--judge-option", "max_retries=0", "--no-cache"]
    res = run_served(env, *args)
    assert res.returncode == 0, res.stdout + res.stderr
    folder = out / "judgements" / "openai_judge-a_openai_judge-b_openai_judge-c-turn-median"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["al"] == MEDIAN_ABC
    assert [m["name"] for m in summary["judges"]["members"]] == ["j1", "j2", "j3"]
    assert [(p["a"], p["b"]) for p in summary["judges"]["agreement"]] == [("j1", "j2"), ("j1", "j3"), ("j2", "j3")]
    identity = json.loads((folder / "judgement.json").read_text())["identity"]
    assert identity["aggregate"] == "median" and [m["judge"] for m in identity["members"]] == \
        ["openai/judge-a", "openai/judge-b", "openai/judge-c"]
    assert len(rows(folder / "scores.jsonl")) == 3 * 2 * TURNS
    # The run's own scores are untouched (one judge, no member field).
    assert all("member" not in s for s in rows(out / "scores.jsonl"))
    # Again: nothing left to judge; with the mean instead, another folder.
    srv.reset()
    assert run_served(env, *args).returncode == 0 and not srv.chat_requests()
    mean = run_served(env, *args[:-5], "--judge-aggregate", "mean", "--judge-option", "max_retries=0", "--no-cache")
    assert mean.returncode == 0, mean.stdout + mean.stderr
    again = json.loads((out / "judgements" / "openai_judge-a_openai_judge-b_openai_judge-c-turn" / "summary.json")
                       .read_text())
    assert again["al"] == pytest.approx([8 / 3, 10 / 3, 13 / 3, 5.0])


def test_members_from_the_config_file_have_their_own_settings(srv, env, tmp_path):
    out = tmp_path / "run"
    config = tmp_path / "ensemble.toml"
    config.write_text('judge_aggregate = "median"\n'
                      '[[judges]]\nspec = "openai/judge-a"\nname = "alpha"\n'
                      '[[judges]]\nspec = "openai/judge-b"\nname = "beta"\nprotocol_options = {mode = "history"}\n'
                      '[[judges]]\nspec = "openai/judge-c"\n', encoding="utf-8")
    args = ["evaluate", "--model", "openai/mut", "--user", "openai/sim", "--personas", "sample", "--limit", "2",
            "--turns", str(TURNS), "-o", str(out), "-q", "--no-cache", "--bootstrap", "50", "--config", str(config),
            "--judge-option", "max_retries=0"]
    res = run_served(env, *args)
    assert res.returncode == 0, res.stdout + res.stderr
    scores = rows(out / "scores.jsonl")
    assert {(s["member"], s["mode"]) for s in scores} == {("alpha", "turn"), ("beta", "history"), ("j3", "turn")}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["al"] == MEDIAN_ABC and summary["judges"]["aggregate"] == "median"


def test_usage_errors_are_one_line(env, tmp_path):
    res = run_served(env, *evaluate_args(tmp_path / "r", "--judge-aggregate", "median", judges=("judge-a",)))
    assert res.returncode == 2 and "--judge-aggregate applies only to a judge ensemble" in res.stderr, res.stderr
    one = EvalConfig(model="m", user="u", judges=[{"spec": "a"}])
    with pytest.raises(ConfigError, match="two or more members"):
        one.check_ensemble_settings()
    twice = EvalConfig(model="m", user="u", judges=[{"spec": "a", "name": "x"}, {"spec": "b", "name": "x"}])
    with pytest.raises(ConfigError, match="names repeat: x"):
        twice.check_ensemble_settings()
    bad = EvalConfig(model="m", user="u", judges=[{"spec": "a", "name": "a b"}, {"spec": "b"}])
    with pytest.raises(ConfigError, match="not allowed"):
        bad.check_ensemble_settings()


def test_roles_that_default_to_the_judge_take_the_first_member():
    cfg = EvalConfig(model="m", user="u", judges=[{"spec": "first"}, {"spec": "second"}], profile_probe=True)
    assert cfg.judge == "first" and cfg.profile_judge_spec == "first"
    members = cfg.judge_members()
    assert [(m.name, m.role) for m in members] == [("j1", "judge"), ("j2", "judge:j2")]


def test_member_samples_are_averaged_before_the_members():
    def s(member, score, sample=0):
        return TurnScore(conversation_id="c", persona_id="p", turn=1, score=score, judge="x", member=member,
                         sample=sample)

    scores = [s("a", 1, 0), s("a", 3, 1), s("b", 5), s("c", 4)]
    assert mean_score_matrix(scores, {"c": 0}, 1)[0, 0] == pytest.approx((2 + 5 + 4) / 3)
    assert mean_score_matrix(scores, {"c": 0}, 1, "median")[0, 0] == pytest.approx(4.0)
    assert mean_score_matrix([s(None, 1, 0), s(None, 4, 1)], {"c": 0}, 1)[0, 0] == pytest.approx(2.5)


def test_single_judge_runs_write_no_member(aloe_host, tmp_path):
    from aloe_bench.evaluation.engine import Evaluation

    cfg = EvalConfig(model="scripted:m", user="scripted:u", judge="scripted:j", turns=2, personas="sample", limit=2,
                     cache=False, bootstrap=10)
    assert not {"judges", "judge_aggregate", "repeats"} & set(cfg.result_keys())
    summary = asyncio.run(Evaluation(cfg, tmp_path / "run", aloe_host).run())
    assert summary.judges is None and "judges" not in summary.model_dump(mode="json")
    assert all("member" not in s for s in rows(tmp_path / "run" / "scores.jsonl"))
    spec = json.loads((tmp_path / "run" / "run.json").read_text())
    assert all("member" not in c for c in spec["components"])
    # An old record (no member) reads back with member None, keyed as before.
    old = TurnScore.model_validate({"conversation_id": Conversation.make_id("p", 0), "persona_id": "p", "turn": 1,
                                    "score": 3, "judge": "j"})
    assert old.member is None and old.key == (old.conversation_id, 1, None, 0)


def test_dry_run_prices_every_member(aloe_host):
    from aloe_bench.evaluation.estimate import estimate

    cfg = EvalConfig(model="scripted:m", user="scripted:u", judges=[{"spec": "scripted:a"}, {"spec": "scripted:b"}],
                     turns=2, personas="sample")
    roles = {r.role: (r.spec, r.calls) for r in estimate("evaluate", cfg, aloe_host, 4).roles}
    assert roles["judge"] == ("scripted:a", 8) and roles["judge:j2"] == ("scripted:b", 8)
