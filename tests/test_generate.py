"""``aloe-bench generate`` end to end: every role is an API model reached by litellm over real
HTTP on the project's OpenAI-compatible server, with scripted answers per role (both orders of
the pairwise judge, a judge that disagrees with itself, ties, unreadable answers), faults,
kill -9 and resume, ``--dry-run`` and ``--max-cost``.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from aloe_bench.protocols.induction import INDUCTION_MARKER
from aloe_bench.protocols.pairwise import PAIR_MARKER
from aloe_bench.protocols.responders import HINT_MARKER
from aloe_bench.testing.openai_server import default_reply
from tests.helpers import kill_9_after, run_served, served_env, serving
from tests.helpers import jsonl_rows as rows
from tests.test_e2e_litellm import aloe_bench_command

API_KEY = "sk-generate-5e1d7c3b9a2f4e60"
FAIL_MARK = "ZEBRA"  # in the profile of the persona whose simulator calls fail
N, TURNS = 3, 3
ROLE_MODELS = ("--user", "openai/sim", "--induction", "openai/ind", "--hinted", "openai/hint",
               "--unhinted", "openai/plain", "--pair-judge", "openai/pj")
NO_RETRY = tuple(a for role in ("user", "induction", "hinted", "unhinted", "pair-judge")
                 for a in (f"--{role}-option", "max_retries=0"))


class Roles:
    """The server's script: answers each role's prompts; ``judge`` picks the pairwise behaviour
    (``prefer_hinted``, ``always_a``, ``tie``, ``garbage``)."""

    def __init__(self, judge: str = "prefer_hinted"):
        self.judge = judge

    def __call__(self, messages):
        first, last = messages[0]["content"], messages[-1]["content"]
        if PAIR_MARKER in first:
            if self.judge == "always_a":
                return "A\nThe first one."
            if self.judge == "tie":
                return "tie"
            if self.judge == "garbage":
                return "Both have their merits, really."
            a = re.search(r"Reply A:\n(.*?)\n\nReply B:", first, re.S).group(1)
            return ("A" if a.startswith("HINTED") else "B") + "\nIt fits the person."
        if INDUCTION_MARKER in first:
            return "Profile: likes the sea\nPersonality: warm"
        if HINT_MARKER in first:
            return f"HINTED reply to: {last[:30]}. Tell me more about the sea!"
        if "friendly chatbot" in first:
            return f"PLAIN reply to: {last[:30]}."
        if FAIL_MARK in first:
            raise RuntimeError("simulator down for this persona")
        return default_reply(messages)


@pytest.fixture
def srv(server):
    with serving(server, Roles()) as served:
        yield served


def write_personas(path: Path, fail: bool = False) -> Path:
    rows = [{"id": "ana", "profile": "Ana is a nurse in Lisbon who loves surfing.", "personality": "Warm."},
            {"id": "bo", "profile": f"Bo is a {FAIL_MARK if fail else 'goat'} keeper at the zoo.", "personality": "Terse."},
            {"id": "cy", "profile": "Cy is a retired chess teacher.", "personality": "Curious."}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def personas_file(tmp_path) -> Path:
    return write_personas(tmp_path / "people.jsonl")


@pytest.fixture
def env(server, tmp_path):
    return served_env(server, tmp_path, API_KEY)


def aloe(env, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return run_served(env, *args, timeout=timeout)


def generate_args(personas_file: Path, out: Path, *extra: str, roles=ROLE_MODELS) -> list[str]:
    return ["generate", *roles, "--personas", f"jsonl:{personas_file}", "--turns", str(TURNS), "-o", str(out),
            "-q", *NO_RETRY, *extra]


def generate(env, personas_file, out, *extra, roles=ROLE_MODELS) -> subprocess.CompletedProcess:
    return aloe(env, *generate_args(personas_file, out, *extra, roles=roles))



def stats_of(out: Path) -> dict:
    return json.loads((out / "stats.json").read_text())


def test_generate_writes_trees_and_trl_files(srv, env, personas_file, tmp_path):
    out = tmp_path / "gen"
    res = generate(env, personas_file, out, "--no-cache")
    assert res.returncode == 0, res.stderr
    trees = rows(out / "trees.jsonl")
    assert len(trees) == N * TURNS and {t["status"] for t in trees} == {"ok"}
    for t in trees:
        assert t["schema_version"] == 1
        assert t["hinted"].startswith("HINTED") and t["unhinted"].startswith("PLAIN")
        assert t["induced"] == "Profile: likes the sea\nPersonality: warm"
        assert [v["first"] for v in t["verdicts"]] == ["hinted", "unhinted"]
        assert [v["winner"] for v in t["verdicts"]] == ["A", "B"]  # the judge saw both orders
        assert t["agreement"] == "consistent" and t["chosen"] == "hinted"
        assert t["continued"] in ("hinted", "unhinted")
    # both orders were really asked: once with the hinted reply as A, once as B
    judged = [r["json"]["messages"][0]["content"] for r in srv.chat_requests() if r["json"]["model"] == "pj"]
    assert len(judged) == 2 * N * TURNS
    assert sum(bool(re.search(r"Reply A:\nHINTED", p)) for p in judged) == N * TURNS

    sft, dpo = rows(out / "sft.jsonl"), rows(out / "dpo.jsonl")
    assert len(sft) == len(dpo) == N * TURNS
    by_key = {(t["conversation_id"], t["turn"]): t for t in trees}
    for s, d in zip(sft, dpo):
        assert s["prompt"] == d["prompt"] and s["turn"] == d["turn"] and s["persona_id"] == d["persona_id"]
        assert s["completion"] == d["chosen"] == [{"role": "assistant", "content": by_key[(s["conversation_id"], s["turn"])]["hinted"]}]
        assert d["rejected"][0]["content"].startswith("PLAIN")
        assert [m["role"] for m in s["prompt"]] == ["user", "assistant"] * (s["turn"] - 1) + ["user"]
        # the history is the continued branch: each earlier turn's continued reply
        for k in range(1, s["turn"]):
            earlier = by_key[(s["conversation_id"], k)]
            assert s["prompt"][2 * (k - 1)]["content"] == earlier["user"]
            assert s["prompt"][2 * k - 1]["content"] == earlier[earlier["continued"]]
    # the seeded coin picks both sides somewhere in 9 turns
    assert {t["continued"] for t in trees} == {"hinted", "unhinted"}
    stats = stats_of(out)
    assert stats["status"] == "complete" and stats["pairs"] == N * TURNS and stats["consistent"] == N * TURNS
    assert stats["hinted_win_rate"] == 1.0 and stats["order_agreement"] == 1.0
    assert stats["first_position_rate"] == 0.5 and stats["sft_rows"] == N * TURNS
    assert stats["chosen_words"] > stats["rejected_words"]
    spec = json.loads((out / "run.json").read_text())
    roles = {c["role"]: c for c in spec["components"]}
    assert set(roles) == {"user", "induction", "hinted", "unhinted", "pair_judge"}
    assert all(c["prompt_hashes"] for c in roles.values())
    assert roles["pair_judge"]["kind"] == "aloe-pairwise" and spec["personas_hash"]
    assert "pairs judged" in res.stdout


def test_a_judge_that_disagrees_with_itself_gives_no_labels(srv, env, personas_file, tmp_path):
    srv.script = Roles(judge="always_a")
    out = tmp_path / "gen"
    res = generate(env, personas_file, out, "--no-cache")
    assert res.returncode == 0, res.stderr
    trees = rows(out / "trees.jsonl")
    assert {t["agreement"] for t in trees} == {"inconsistent"} and {t["chosen"] for t in trees} == {None}
    assert [v["picks"] for v in trees[0]["verdicts"]] == ["hinted", "unhinted"]
    assert rows(out / "sft.jsonl") == [] and rows(out / "dpo.jsonl") == []
    s = stats_of(out)
    assert s["inconsistent"] == N * TURNS and s["first_position_rate"] == 1.0 and s["order_agreement"] == 0.0


def test_ties_and_unreadable_verdicts_are_counted_never_forced(srv, env, personas_file, tmp_path):
    srv.script = Roles(judge="tie")
    out = tmp_path / "ties"
    assert generate(env, personas_file, out, "--no-cache").returncode == 0
    s = stats_of(out)
    assert s["ties"] == N * TURNS and s["consistent"] == 0 and s["sft_rows"] == 0 and s["order_agreement"] == 1.0

    srv.reset()
    srv.script = Roles(judge="garbage")
    out = tmp_path / "garbage"
    res = generate(env, personas_file, out, "--no-cache", "--protocol-option", "pair_judge.max_retries=1")
    assert res.returncode == 0, res.stderr  # unreadable answers are permanent outcomes, not failures
    trees = rows(out / "trees.jsonl")
    assert all(v["winner"] is None and v["attempts"] == 2 for t in trees for v in t["verdicts"])
    assert len([r for r in srv.chat_requests() if r["json"]["model"] == "pj"]) == 2 * 2 * N * TURNS  # re-asked once
    s = stats_of(out)
    assert s["unreadable_verdicts"] == 2 * N * TURNS and s["inconsistent"] == N * TURNS and s["dpo_rows"] == 0


def test_a_failed_simulator_ends_its_conversation_and_resume_completes(srv, env, tmp_path):
    people = write_personas(tmp_path / "people.jsonl", fail=True)
    out = tmp_path / "gen"
    res = generate(env, people, out)
    assert res.returncode == 3, res.stderr
    assert "Incomplete run" in res.stderr and "--resume" in res.stderr.split("Resume with:")[1]
    s = stats_of(out)
    assert s["status"] == "incomplete" and s["failed"] == {"user_failed": 1} and s["cut_short"] == 1
    assert "user" in s["errors"]
    assert s["pairs"] == (N - 1) * TURNS and s["sft_rows"] == (N - 1) * TURNS

    write_personas(people, fail=False)  # same ids, changed text: a resume must refuse it
    res = generate(env, people, out, "--resume")
    assert res.returncode == 2 and "personas" in res.stderr.lower()

    write_personas(people, fail=True)
    srv.reset()
    srv.script = Roles()
    srv.script.__class__ = type("Healed", (Roles,), {"__call__": lambda self, m: Roles.__call__(
        self, [{**x, "content": x["content"].replace(FAIL_MARK, "zebra")} for x in m])})
    res = generate(env, people, out, "--resume")
    assert res.returncode == 0, res.stderr
    # only the failed conversation was played again
    sims = [r for r in srv.chat_requests() if r["json"]["model"] == "sim"]
    assert len(sims) == TURNS
    s = stats_of(out)
    assert s["status"] == "complete" and s["pairs"] == N * TURNS and s["failed"] == {}
    assert s["usage"]["user"]["calls"] >= N * TURNS + 1  # the failed try is counted too

    srv.reset()
    res = generate(env, people, out, "--resume")  # finished: no call
    assert res.returncode == 0 and srv.chat_requests() == []


def test_a_run_with_no_successful_turn_takes_corrected_settings_on_resume(srv, env, tmp_path):
    """As evaluate: when every turn so far failed, nothing was measured, so a resume with other
    settings replaces the stored ones, with a warning, instead of being refused."""
    people = tmp_path / "people.jsonl"
    people.write_text(json.dumps({"id": "zed", "profile": f"Zed keeps a {FAIL_MARK}.", "personality": "Dry."}) + "\n",
                      encoding="utf-8")
    out = tmp_path / "gen"
    res = generate(env, people, out, "--no-cache")
    assert res.returncode == 1 and "Every conversation failed at turn 1" in " ".join(res.stderr.split())
    srv.script.__class__ = type("Healed", (Roles,), {"__call__": lambda self, m: Roles.__call__(
        self, [{**x, "content": x["content"].replace(FAIL_MARK, "zebra")} for x in m])})
    res = generate(env, people, out, "--resume", "--no-cache", "--seed", "5")
    assert res.returncode == 0, res.stderr
    assert "no successful turn yet: its settings are replaced" in " ".join(res.stderr.split())
    assert stats_of(out)["status"] == "complete" and stats_of(out)["pairs"] == TURNS


def test_a_different_config_is_refused_with_the_differing_keys(srv, env, personas_file, tmp_path):
    out = tmp_path / "gen"
    assert generate(env, personas_file, out, "--no-cache").returncode == 0
    res = generate(env, personas_file, out, "--resume", "--seed", "7")
    assert res.returncode == 2 and "seed: 0 -> 7" in res.stderr
    res = generate(env, personas_file, out)
    assert res.returncode == 2 and "--resume" in res.stderr


def test_kill_9_then_resume_loses_and_duplicates_nothing(srv, env, personas_file, tmp_path):
    srv.latency = 0.15
    out = tmp_path / "gen"
    trees = out / "trees.jsonl"
    kill_9_after([*aloe_bench_command(), *generate_args(personas_file, out)], env, trees, 4, timeout=120)
    before = len(rows(trees))
    assert 4 <= before < N * TURNS
    srv.latency = 0
    srv.reset()
    res = generate(env, personas_file, out, "--resume")
    assert res.returncode == 0, res.stderr
    stored = rows(trees)
    keys = [(t["conversation_id"], t["turn"]) for t in stored]
    assert len(keys) == len(set(keys)) == N * TURNS  # nothing lost, nothing twice
    # the resume played only the missing turns: at most 6 calls per missing turn (plus calls in flight at the kill)
    assert len(srv.chat_requests()) <= 6 * (N * TURNS - before) + 6 * N
    assert stats_of(out)["status"] == "complete"
    srv.reset()
    assert generate(env, personas_file, out, "--resume").returncode == 0 and srv.chat_requests() == []


def test_dry_run_makes_no_request_and_counts_every_call(srv, env, personas_file, tmp_path):
    out = tmp_path / "never"
    res = generate(env, personas_file, out, "--dry-run")
    assert res.returncode == 0, res.stderr
    assert srv.chat_requests() == [] and not out.exists()
    table = res.stdout
    assert re.search(r"pair_judge\s.*\s18\s", table) and re.search(r"total\s.*\s54\s", table)  # 3 x 3 x 6 calls
    res = aloe(env, "evaluate", "--model", "openai/mut", "--user", "openai/sim", "--judge", "openai/judge",
               "--personas", f"jsonl:{personas_file}", "--turns", "2", "--dry-run", "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert srv.chat_requests() == [] and not out.exists() and re.search(r"total\s.*\s18\s", res.stdout)


def test_max_cost_stops_cleanly_and_resumes(srv, env, personas_file, tmp_path):
    priced = tuple(a if not a.startswith("openai/") else "openai/gpt-4o-mini" for a in ROLE_MODELS)
    out = tmp_path / "gen"
    res = generate(env, personas_file, out, "--no-cache", "--max-cost", "0.00001", roles=priced)
    assert res.returncode == 3, res.stderr
    assert "max-cost" in res.stderr
    s = stats_of(out)
    assert s["status"] == "incomplete" and s["stopped"] == "max_cost" and 0 < s["spend"]
    assert s["pairs"] < N * TURNS
    res = generate(env, personas_file, out, "--no-cache", "--resume", "--max-cost", "10", roles=priced)
    assert res.returncode == 0, res.stderr
    s = stats_of(out)
    assert s["status"] == "complete" and s["stopped"] is None and s["pairs"] == N * TURNS

    run = tmp_path / "run"  # evaluate has the same limit
    res = aloe(env, "evaluate", "--model", "openai/gpt-4o-mini", "--user", "openai/gpt-4o-mini", "--judge",
               "openai/gpt-4o-mini", "--personas", f"jsonl:{personas_file}", "--turns", "3", "-o", str(run), "-q",
               "--no-cache", "--max-cost", "0.00001")
    assert res.returncode == 3 and "max-cost" in res.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "incomplete" and summary["stopped"] == "max_cost"
