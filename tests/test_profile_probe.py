"""Profile inference during ``aloe-bench evaluate``: ``--profile-probe`` end to end over real HTTP
(the model under test, the user simulator, the judge and the coverage judge all served by the
project's OpenAI-compatible server, reached through litellm), the probe never entering the
dialogue, resume after failed probe and coverage calls, PF1 in the summary, the leaderboard and
the report; ``--reply-format rlpa`` with a scripted model; bad combinations.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import subprocess
from pathlib import Path

import pytest

from aloe_bench.evaluation.config import EvalConfig
from aloe_bench.evaluation.engine import Evaluation
from aloe_bench.evaluation.profiling import PROBE_MARKER, probe_question
from aloe_bench.evaluation.reply_format import RLPA_PROMPT, policy_messages, read_policy_output, rlpa_instruction
from aloe_bench.evaluation.run_folder import RunStore
from aloe_bench.hookspecs import hookimpl
from aloe_bench.plugins import PluginHost
from aloe_bench.prompts import prompt_hash
from aloe_bench.protocols.coverage import COVERAGE_MARKER
from aloe_bench.records import Message
from aloe_bench.testing import ScriptedModel, default_script
from tests.helpers import run_served, served_env, serving
from tests.helpers import jsonl_rows as rows

API_KEY = "sk-probe-3c1e9d7b5a2f4068"
TURNS = 3
SIM_MARKER = "You are playing a real person"
JUDGE_MARKER = "Rate the reply from 1 to 5"
PEOPLE = {"ana": ("Ana is a nurse in Lisbon who loves surfing. She has two cats.", "Warm.",
                  ["Is a nurse", "Lives in Lisbon", "Loves surfing", "Has two cats"]),
          "bo": ("Bo keeps goats at the city zoo. He is 61. He plays the tuba.", "Terse.",
                 ["Keeps goats", "Works at the city zoo", "Is 61 years old", "Plays the tuba", "Is a widower"])}


def write_people(folder: Path) -> tuple[Path, Path]:
    """A persona file and its facts file (known golden counts: ana 4, bo 5)."""
    personas = folder / "people.jsonl"
    facts = folder / "facts.jsonl"
    personas.write_text("".join(json.dumps({"id": pid, "profile": prof, "personality": pers}) + "\n"
                                for pid, (prof, pers, _) in PEOPLE.items()), encoding="utf-8")
    facts.write_text("".join(json.dumps({"schema_version": 1, "facts": golden,
                                         "profile_sha256": hashlib.sha256(prof.strip().encode()).hexdigest()}) + "\n"
                             for prof, _, golden in PEOPLE.values()), encoding="utf-8")
    return personas, facts


def probe_answer(who: str, turn: int) -> str:
    """What the model under test answers to the probe after ``turn``: ``turn`` lines, of which
    ``turn - 1`` are marked TRUE (the coverage judge counts those); bo's answer after turn 2
    has no profile section (malformed)."""
    if who == "bo" and turn == 2:
        return "I think you like goats, but I am not sure of much else."
    lines = [f"- TRUE fact {i} about {who}" for i in range(1, turn)] + ["- a guess"]
    return "<profile>\n" + "\n".join(lines) + "\n</profile>"


def roles_script(messages: list[dict]) -> str:
    """Answers every role by its prompt: the simulator speaks as the persona, the model under
    test replies, answers probes (:func:`probe_answer`); the judge gives 4; the coverage judge
    counts the inferred lines marked TRUE."""
    first, last = messages[0]["content"], messages[-1]["content"]
    if COVERAGE_MARKER in first or COVERAGE_MARKER in last:
        profile = first.split("inferred profile:")[1].split("How many of the golden facts")[0]
        return str(profile.count("TRUE"))
    if JUDGE_MARKER in first or JUDGE_MARKER in last:
        return "4\nIt fits."
    if messages[0]["role"] == "system" and SIM_MARKER in first:
        who = "ana" if "Ana is" in first else "bo"
        turn = sum(m["role"] == "assistant" for m in messages) + 1
        return f"Hi, I am {who.title()}, message {turn}."
    text = "\n".join(m["content"] for m in messages)
    who = "ana" if "I am Ana" in text else "bo"
    if PROBE_MARKER in last:
        return probe_answer(who, sum(m["role"] == "user" for m in messages) - 1)
    return f"Nice to meet you, {who.title()}! (reply {sum(m['role'] == 'user' for m in messages)})"


def expected_f1(golden: int, turn: int, malformed: bool = False) -> float:
    if malformed or turn == 1:
        return 0.0
    p, r = (turn - 1) / turn, (turn - 1) / golden
    return 2 * p * r / (p + r)


@pytest.fixture
def srv(server):
    with serving(server, roles_script) as served:
        yield served


@pytest.fixture
def env(server, tmp_path):
    return served_env(server, tmp_path, API_KEY)


def aloe(env, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return run_served(env, *args, timeout=timeout)


ROLE_ARGS = ("--model", "openai/mut", "--user", "openai/sim", "--judge", "openai/judge")
PROBE_ARGS = ("--profile-probe", "--profile-judge", "openai/coverage", "--profile-judge-option", "max_retries=0")


def evaluate(env, tmp_path: Path, out: Path, *extra: str, probe: bool = True) -> subprocess.CompletedProcess:
    personas, facts = write_people(tmp_path)
    args = ["evaluate", *ROLE_ARGS, "--personas", f"jsonl:{personas}", "--turns", str(TURNS), "-o", str(out),
            "-q", "--no-cache", "--bootstrap", "200", "--model-option", "max_retries=0"]
    if probe:
        args += [*PROBE_ARGS, "--facts", str(facts)]
    return aloe(env, *args, *extra)



def model_requests(srv, model: str = "mut", probes: bool = False) -> list[dict]:
    """The requests of the model under test, probes or dialogue turns."""
    return [r["json"] for r in srv.chat_requests() if r["json"]["model"] == model
            and (PROBE_MARKER in r["json"]["messages"][-1]["content"]) == probes]


def test_probe_end_to_end_probes_summary_leaderboard_report(srv, env, tmp_path):
    out = tmp_path / "run"
    res = evaluate(env, tmp_path, out)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "PF1(k)" in res.stdout and "Average PF1" in res.stdout

    probes = {(r["persona_id"], r["turn"]): r for r in rows(out / "probes.jsonl")}
    assert len(probes) == 2 * TURNS
    for (who, turn), r in probes.items():
        golden = len(PEOPLE[who][2])
        assert r["source"] == "probe" and r["golden"] == golden and r["facts_origin"] == "file"
        if who == "bo" and turn == 2:
            assert r["status"] == "malformed" and r["inferred"] is None and r["f1"] == 0.0
            assert "no <profile>" in r["malformed"] and r["covered"] is None
            continue
        assert r["status"] == "ok" and len(r["inferred"]) == turn and r["covered"] == turn - 1
        assert r["precision"] == pytest.approx((turn - 1) / turn)
        assert r["recall"] == pytest.approx((turn - 1) / golden)
        assert r["f1"] == pytest.approx(expected_f1(golden, turn))
        assert r["usage"]["probe"]["calls"] == 1
        assert r["inferred"][-1] == "a guess"  # list markers removed

    s = json.loads((out / "summary.json").read_text())
    want = [(expected_f1(4, k) + expected_f1(5, k, malformed=k == 2)) / 2 for k in range(1, TURNS + 1)]
    assert s["pf1"] == pytest.approx(want) and s["pf1_n"] == [2, 2, 2]
    assert s["pf1_avg"] == pytest.approx(sum(want) / TURNS)
    assert s["pf1_malformed"] == 1 and s["pf1_unreadable"] == 0 and s["pf1_source"] == "probe"
    assert s["ci"]["pf1_avg"]["low"] <= s["pf1_avg"] <= s["ci"]["pf1_avg"]["high"]
    assert s["pf1_recall"][2] == pytest.approx((2 / 4 + 2 / 5) / 2)
    assert s["status"] == "complete" and s["failures"]["probes"] == {"failed": 0, "unreadable": 0, "unscored": 0}
    assert s["usage"]["probe"]["calls"] == 2 * TURNS
    # every readable, non-empty profile is counted: 2 personas x 3 turns, less the malformed one
    assert s["usage"]["profile_judge"]["calls"] == 5 == len(srv.chat_requests(COVERAGE_MARKER))
    assert "reply_malformed" not in s

    spec = json.loads((out / "run.json").read_text())
    assert spec["config"]["profile_probe"] is True and spec["config"]["profile_judge"] == "openai/coverage"
    assert spec["profile"]["probe_prompt_hash"] == prompt_hash("profile_probe.v1")
    assert spec["profile"]["facts"]["origins"] == {"file": 2, "curated": 0, "sentence-split": 0}
    roles = {c["role"]: c for c in spec["components"]}
    assert roles["profile_judge"]["kind"] == "aloe-coverage" and roles["profile_judge"]["prompt_hashes"]
    assert roles["model"]["prompt_hashes"] == {"profile_probe.v1": prompt_hash("profile_probe.v1")}
    assert "reply_format" not in spec

    # A plain run beside it: the leaderboard shows PF1 and keeps the two protocols apart.
    plain = tmp_path / "plain"
    assert evaluate(env, tmp_path, plain, probe=False).returncode == 0
    plain_summary = json.loads((plain / "summary.json").read_text())
    assert not any(k.startswith("pf1") for k in plain_summary) and "probes" not in plain_summary["failures"]
    assert not (plain / "probes.jsonl").exists()
    board = aloe(env, "leaderboard", str(out), str(plain), "--format", "markdown")
    assert board.returncode == 0, board.stderr
    header = [c.strip() for c in board.stdout.splitlines()[0].strip("|").split("|")]
    assert "PF1 [95% CI]" in header
    cells = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")]
             for line in board.stdout.splitlines()[2:] if line.startswith("|")}
    probe_row = next(c for c in cells.values() if c[header.index("PF1 [95% CI]")] != "—")
    assert probe_row[header.index("PF1 [95% CI]")].startswith(f"{s['pf1_avg']:.3f}")
    assert "profile probe (off -> on" in board.stdout or "profile probe (on" in board.stdout
    data = json.loads(aloe(env, "leaderboard", str(out), "--format", "json").stdout)
    assert data["rows"][0]["pf1_avg"] == pytest.approx(s["pf1_avg"])

    report = aloe(env, "report", str(out), "--output", str(tmp_path / "report.html"))
    assert report.returncode == 0, report.stderr
    page = (tmp_path / "report.html").read_text()
    assert 'alt="PF1(k) curve of openai/mut"' in page and 'alt="AL(k) curve of openai/mut"' in page
    assert "Average PF1" in page and "<th class=\"n\">PF1(k)</th>" in page
    assert "TRUE fact 1 about ana" in page  # the inferred profiles travel with the transcripts


def test_the_probe_never_enters_the_dialogue(srv, env, tmp_path):
    assert evaluate(env, tmp_path, tmp_path / "with").returncode == 0
    with_probe = [json.dumps(r, sort_keys=True) for r in model_requests(srv)]
    probe_calls = model_requests(srv, probes=True)
    others = [r["json"] for r in srv.chat_requests() if r["json"]["model"] in ("sim", "judge")]
    srv.reset()
    assert evaluate(env, tmp_path, tmp_path / "without", probe=False).returncode == 0
    without = [json.dumps(r, sort_keys=True) for r in model_requests(srv)]
    assert len(with_probe) == 2 * TURNS and sorted(with_probe) == sorted(without)  # byte for byte
    assert len(probe_calls) == 2 * TURNS
    for r in probe_calls:  # the dialogue as the model saw it, then the question
        assert r["messages"][-1] == {"role": "user", "content": probe_question()}
        assert [m["role"] for m in r["messages"][:-1]] == ["user", "assistant"] * ((len(r["messages"]) - 1) // 2)
    for r in others:  # neither the simulator nor the judge ever sees a probe or its answer
        text = json.dumps(r)
        assert PROBE_MARKER not in text and "<profile>" not in text and "TRUE fact" not in text
    turns = rows(tmp_path / "with" / "transcripts.jsonl")
    assert turns == [t for t in turns if "TRUE fact" not in t["reply"] and PROBE_MARKER not in t["user"]]


def test_failed_probe_and_coverage_calls_are_asked_again_on_resume(srv, env, tmp_path):
    out = tmp_path / "run"
    srv.inject("500", count=2, match=PROBE_MARKER)
    srv.inject("500", count=1, match=COVERAGE_MARKER)
    no_reask = ("--profile-judge-protocol-option", "max_retries=0")  # the judge re-asks failed calls itself
    res = evaluate(env, tmp_path, out, *no_reask)
    assert res.returncode == 3, res.stdout + res.stderr
    assert "profile probe(s) failed" in res.stderr and "--resume" in res.stderr
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == "incomplete" and s["failures"]["probes"]["failed"] == 3
    stored = rows(out / "probes.jsonl")
    assert sum(r["status"] == "probe_failed" for r in stored) == 2
    judge_failed = [r for r in stored if r["status"] == "judge_failed"]
    assert len(judge_failed) == 1 and judge_failed[0]["inferred"] and judge_failed[0]["error"]
    dialogue_calls = len(model_requests(srv))

    srv.reset()
    res = evaluate(env, tmp_path, out, *no_reask, "--resume")
    assert res.returncode == 0, res.stdout + res.stderr
    assert len(model_requests(srv)) == 0  # no turn is played again
    assert len(model_requests(srv, probes=True)) == 2  # only the failed probes; the stored answer is reused
    assert dialogue_calls == 2 * TURNS
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == "complete" and s["failures"]["probes"]["failed"] == 0
    last = {(r["persona_id"], r["turn"]): r for r in rows(out / "probes.jsonl")}
    assert len(last) == 2 * TURNS and all(r["status"] in ("ok", "malformed") for r in last.values())
    assert s["pf1_n"] == [2, 2, 2]
    assert s["usage"]["probe"]["calls"] == 2 * TURNS + 2  # every try counts, failed ones included


def test_bad_combinations_are_one_line_errors(env, tmp_path):
    base = ["evaluate", "--model", "scripted", "--user", "scripted", "--judge", "scripted", "--personas", "sample",
            "--turns", "2", "-o", str(tmp_path / "x")]
    cases = [(["--facts", str(tmp_path / "f.jsonl")], "without a profile measurement"),
             (["--profile-judge", "scripted"], "without a profile measurement"),
             (["--rlpa-history", "full"], "only with --reply-format rlpa"),
             (["--profile-probe", "--profile-judge-protocol", "aloe"], "needs task='coverage'"),
             (["--profile-probe", "--facts", str(tmp_path / "missing.jsonl")], "does not exist")]
    for extra, message in cases:
        res = aloe(env, *base, *extra)
        assert res.returncode != 0, extra
        assert message in res.stderr, (extra, res.stderr)
    assert not (tmp_path / "x" / "run.json").exists()


# -- --reply-format rlpa, with a scripted model ---------------------------------------------------

class RlpaRoles:
    """One scripted backend for every role: an RLPA policy whose turn-2 output for one persona is
    malformed (no sections at all), a simulator, a judge and a coverage judge; it records what
    each role was shown."""

    def __init__(self):
        self.seen: dict[str, list[list[Message]]] = {"policy": [], "user": [], "judge": [], "coverage": []}

    def __call__(self, messages) -> str:
        first, last = messages[0].content, messages[-1].content
        if COVERAGE_MARKER in first:
            self.seen["coverage"].append(list(messages))
            return "1"
        if JUDGE_MARKER in first or JUDGE_MARKER in last:
            self.seen["judge"].append(list(messages))
            return "4\nFine."
        if messages[0].role == "system" and messages[0].content == rlpa_instruction():
            self.seen["policy"].append(list(messages))
            turn = sum(m.role == "user" for m in messages)
            if turn == 2 and "sample-01" in last:
                return f"<profile>\n- leaked fact\nPlain words for turn {turn}, sample-01."
            return (f"<profile>\n- fact {turn} of {last[-9:]}\n- likes boats\n</profile>\n\n"
                    f"<response>\nReply {turn} to {last[-9:]}.\n</response>")
        if SIM_MARKER in first:
            self.seen["user"].append(list(messages))
            pid = "sample-01" if "marine biologist" in first else "sample-02"
            return f"Hello from {pid}"
        return default_script(messages)


def test_reply_format_rlpa_user_and_judge_see_only_responses(tmp_path, monkeypatch):
    roles = RlpaRoles()

    class Plugin:
        @staticmethod
        @hookimpl
        def aloe_register_models(register):
            register("scripted", lambda rest="", **kw: ScriptedModel(rest, script=roles, **kw))

    host = PluginHost(load_entrypoints=False, extra_plugins={"scripted": Plugin()})
    cfg = EvalConfig(model="scripted:policy", user="scripted:sim", judge="scripted:judge", personas="sample",
                     limit=2, turns=TURNS, cache=False, bootstrap=100, reply_format="rlpa")
    s = asyncio.run(Evaluation(cfg, tmp_path / "run", host).run())
    store = RunStore(tmp_path / "run")
    turns = {(t.persona_id, t.turn): t for t in store.read_turns()[0]}
    assert len(turns) == 2 * TURNS and all(t.status == "ok" for t in turns.values())

    bad = turns[("sample-01", 2)]
    assert bad.malformed == "no <profile>...</profile> section" and bad.profile is None
    assert bad.reply == "" and "<profile>" in bad.output  # nothing of the unclosed profile reaches the user
    good = turns[("sample-02", 2)]
    assert good.malformed is None and good.reply == "Reply 2 to sample-02."
    assert good.profile == ["fact 2 of sample-02", "likes boats"] and good.output.startswith("<profile>")

    # The simulator and the judge never see a tag or a profile line.
    for role in ("user", "judge"):
        assert roles.seen[role]
        for messages in roles.seen[role]:
            text = "\n".join(m.content for m in messages)
            assert "<profile>" not in text and "<response>" not in text and "likes boats" not in text
            assert "leaked fact" not in text
    # The policy's own history (latest): its previous output whole, older ones the response only.
    third = [m for m in roles.seen["policy"] if sum(x.role == "user" for x in m) == 3 and "sample-02" in m[-1].content]
    assert len(third) == 1
    assistant = [m.content for m in third[0] if m.role == "assistant"]
    assert assistant[0] == "Reply 1 to sample-02." and assistant[1].startswith("<profile>")
    assert third[0][0] == Message(role="system", content=rlpa_instruction())

    probes = {(r.persona_id, r.turn): r for r in store.read_probes()[0]}
    assert len(probes) == 2 * TURNS and {r.source for r in probes.values()} == {"reply"}
    assert probes[("sample-01", 2)].status == "malformed" and probes[("sample-01", 2)].f1 == 0.0
    ok = probes[("sample-02", 1)]
    assert ok.status == "ok" and ok.covered == 1 and ok.inferred == ["fact 1 of sample-02", "likes boats"]
    assert ok.raw == "" and "probe" not in ok.usage
    assert s.pf1_source == "reply" and s.pf1_n == [2, 2, 2] and s.pf1_malformed == 1 and s.reply_malformed == 1
    assert s.status == "complete" and s.pf1_avg is not None
    spec = store.read_spec()
    assert spec.reply_format == {"name": "rlpa", "prompt": RLPA_PROMPT, "prompt_hash": prompt_hash(RLPA_PROMPT),
                                 "history": "latest"}
    assert spec.profile["source"] == "reply" and "probe_prompt" not in spec.profile
    assert spec.config["reply_format"] == "rlpa" and "profile_probe" not in spec.config
    assert s.usage["profile_judge"].calls == 5

    from aloe_bench.reporting.report import build_report

    page = build_report(tmp_path / "run", host=host).html
    assert 'alt="PF1(k) curve of scripted:policy"' in page and "written by the model with each reply" in page
    assert "leaked fact" in page  # the whole output is kept for inspection, in the JSON data only


@pytest.mark.parametrize("history,whole", [("latest", [False, True]), ("responses", [False, False]),
                                           ("full", [True, True])])
def test_policy_history_keeps_what_it_says(history, whole):
    exchanges = [("hi", "<profile>\n- a\n</profile>\n<response>\nR1\n</response>", "R1"),
                 ("and?", "<profile>\n- b\n</profile>\n<response>\nR2\n</response>", "R2")]
    msgs = policy_messages(exchanges, "last", history)
    assert msgs[0].role == "system" and msgs[-1] == Message(role="user", content="last")
    assistant = [m.content for m in msgs if m.role == "assistant"]
    assert [a.startswith("<profile>") for a in assistant] == whole


@pytest.mark.parametrize("output,reply,malformed", [
    ("<profile>\n- a\n</profile>\n<response>\nHi there.\n</response>", "Hi there.", None),
    ("<response>Hi first.</response><profile>- a</profile>", "Hi first.", "<response> comes before <profile>"),
    ("<profile>\n- a\n</profile>\nJust talking.", "Just talking.", "no <response>...</response> section"),
    ("<profile>\n- a\n- b\n<response>\nUnclosed profile, then a reply", "Unclosed profile, then a reply",
     "no <profile>...</profile> section"),
    ("No tags at all.", "No tags at all.", "no <profile>...</profile> section"),
    ("<profile>\n- only a profile, never closed", "", "no <profile>...</profile> section"),
])
def test_policy_output_shows_no_tag_or_profile_to_the_user(output, reply, malformed):
    read = read_policy_output(output)
    assert read.reply == reply and read.malformed == malformed
    assert not re.search(r"</?(profile|response)>", read.reply)


def test_plain_config_keeps_out_the_profile_keys(aloe_host, tmp_path):
    """Keys of the profile measurement stay out of a plain run's config (old runs resume)."""
    plain = EvalConfig(model="scripted", user="scripted", judge="scripted")
    assert not {"profile_probe", "reply_format", "facts", "profile_judge"} & set(plain.result_keys())
    probe = plain.model_copy(update={"profile_probe": True})
    assert probe.config_hash() != plain.config_hash() and probe.result_keys()["profile_probe"] is True


# -- in-process: unreadable counts, --rejudge-missing, re-scoring, the PF1 arithmetic --------------

class ProbeRoles:
    """A scripted backend for every role: the model states turn + 1 facts when probed; the
    coverage judge answers ``count`` (a string; unreadable while it is not a number)."""

    def __init__(self, count: str = "1"):
        self.count = count

    def __call__(self, messages) -> str:
        first, last = messages[0].content, messages[-1].content
        if COVERAGE_MARKER in first:
            return self.count
        if PROBE_MARKER in last:
            turn = sum(m.role == "user" for m in messages) - 1
            return "<profile>\n" + "\n".join(f"- fact {i}" for i in range(turn + 1)) + "\n</profile>"
        return default_script(messages)


def scripted_host(script) -> PluginHost:
    class Plugin:
        @staticmethod
        @hookimpl
        def aloe_register_models(register):
            register("scripted", lambda rest="", **kw: ScriptedModel(rest, script=script, **kw))

    return PluginHost(load_entrypoints=False, extra_plugins={"scripted": Plugin()})


def test_unreadable_counts_are_left_out_and_asked_again_with_rejudge_missing(tmp_path):
    from aloe_bench.evaluation.judging import judge_run

    roles = ProbeRoles(count="I cannot tell.")
    host = scripted_host(roles)
    cfg = EvalConfig(model="scripted:m", user="scripted:u", judge="scripted:j", personas="sample", limit=2, turns=2,
                     cache=False, bootstrap=50, profile_probe=True,
                     profile_judge_protocol_options={"max_retries": 0})
    s = asyncio.run(Evaluation(cfg, tmp_path / "run", host).run())
    assert s.status == "complete" and s.pf1_unreadable == 4 and s.failures.probes["unreadable"] == 4
    assert s.pf1 == [None, None] and s.pf1_n == [0, 0] and s.pf1_avg is None
    roles.count = "1"
    again = asyncio.run(Evaluation(cfg, tmp_path / "run", host, resume=True).run())
    assert again.pf1_unreadable == 4  # permanent unless asked
    again = asyncio.run(Evaluation(cfg, tmp_path / "run", host, resume=True, rejudge_missing=True).run())
    assert again.pf1_unreadable == 0 and again.pf1_n == [2, 2]
    # covered 1 of 2 lines (turn 1) and of 3 lines (turn 2); the sample profiles split into 3-4 sentences
    records = {(r.persona_id, r.turn): r for r in RunStore(tmp_path / "run").read_probes()[0]}
    assert all(r.status == "ok" and r.covered == 1 and r.raw.startswith("<profile>") for r in records.values())
    assert again.pf1[0] == pytest.approx(sum(records[(p, 1)].f1 for p in ("sample-01", "sample-02")) / 2)
    # a re-scoring by another judge keeps the run's PF1
    rescored, _ = asyncio.run(judge_run(tmp_path / "run", "scripted:other", host))
    assert rescored.pf1 == again.pf1 and rescored.pf1_avg == again.pf1_avg


def test_profile_metrics_and_status_count_what_is_missing():
    from aloe_bench.evaluation.status import assess
    from aloe_bench.metrics import profile_metrics
    from aloe_bench.records import Conversation, Persona, ProbeRecord, Turn

    convs = []
    for pid in ("a", "b", "c"):
        c = Conversation(id=f"c-{pid}", persona=Persona(id=pid, profile="x", personality="y"))
        c.turns = [Turn(conversation_id=c.id, persona_id=pid, turn=k, user="u", reply="r") for k in (1, 2)]
        convs.append(c)

    def rec(cid, turn, status, f1=None, p=None, r=None):
        return ProbeRecord(conversation_id=cid, persona_id=cid[-1], turn=turn, status=status, f1=f1, precision=p,
                           recall=r)

    probes = [rec("c-a", 1, "ok", 0.5, 1.0, 1 / 3), rec("c-b", 1, "malformed", 0.0, 0.0, 0.0),
              rec("c-c", 1, "unreadable"), rec("c-a", 2, "ok", 1.0, 1.0, 1.0), rec("c-b", 2, "judge_failed")]
    m = profile_metrics(probes, convs, 2, resamples=200)
    assert m["pf1"] == pytest.approx([0.25, 1.0]) and m["pf1_n"] == [2, 1]
    assert m["pf1_precision"] == pytest.approx([0.5, 1.0]) and m["pf1_recall"] == pytest.approx([1 / 6, 1.0])
    assert m["pf1_avg"] == pytest.approx(0.625) and m["pf1_ir"] == pytest.approx(0.75)
    assert m["pf1_malformed"] == 1 and m["pf1_unreadable"] == 1 and set(m["ci"]) == {"pf1_avg", "pf1_ir"}
    failures = assess(convs, [], 2, probes=probes)
    assert failures.probes == {"failed": 1, "unreadable": 1, "unscored": 1} and failures.retryable
    assert "profile_judge" not in failures.errors  # the record has no error text
    assert "probes" not in assess(convs, [], 2).model_dump()  # runs without a profile measurement


def test_dry_run_counts_the_probe_calls(aloe_host):
    from aloe_bench.evaluation.estimate import estimate

    cfg = EvalConfig(model="scripted", user="scripted", judge="scripted", personas="sample", turns=2,
                     profile_probe=True)
    est = estimate("evaluate", cfg, aloe_host, 8)
    roles = {r.role: r for r in est.roles}
    assert roles["probe"].calls == roles["model"].calls == 16 and roles["probe"].spec == "scripted"
    # the stand-in probe answer is a one-fact profile, so the coverage judge is counted too
    assert roles["profile_judge"].calls == 16
    rlpa = estimate("evaluate", cfg.model_copy(update={"profile_probe": False, "reply_format": "rlpa"}), aloe_host, 8)
    roles = {r.role: r for r in rlpa.roles}
    assert roles["model"].calls == 16 and roles["profile_judge"].calls == 16 and "probe" not in roles


@pytest.mark.parametrize("flags", [["--profile-probe"], ["--reply-format", "rlpa"],
                                   ["--reply-format", "rlpa", "--profile-probe"]])
def test_the_offline_scripted_demo_reports_pf1(tmp_path, flags):
    """Fully offline from the command line: every role on the built-in `scripted` backend, whose
    default script answers the probe, an RLPA instruction and the coverage judge."""
    from tests.helpers import run_cli

    out = tmp_path / "run"
    proc = run_cli("evaluate", "--model", "scripted", "--user", "scripted", "--judge", "scripted", "--personas",
                   "sample", "--limit", "2", "--turns", "2", "--no-cache", "-q", "-o", str(out), *flags,
                   env={"ALOE_BENCH_CACHE_DIR": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "complete" and len(summary["pf1"]) == 2 and summary["pf1_n"] == [2, 2]
    assert all(0.0 <= v <= 1.0 for v in summary["pf1"]) and summary["pf1_malformed"] == 0
    probes = [json.loads(line) for line in (out / "probes.jsonl").read_text().splitlines()]
    assert len(probes) == 4 and all(p["inferred"] for p in probes)
    turns = [json.loads(line) for line in (out / "transcripts.jsonl").read_text().splitlines()]
    assert len(turns) == 4 and all(t["reply"] and "<profile>" not in t["reply"] for t in turns)
    if flags == ["--profile-probe"]:  # the report's figures include PF1(k)
        figs = tmp_path / "figs"
        proc = run_cli("report", str(out), "--output", str(tmp_path / "r.html"), "--figures", str(figs))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert {"pf1_curve.png", "pf1_curve.svg", "al_curve.png"} <= {p.name for p in figs.iterdir()}
    if "--reply-format" in flags:
        assert all(p["source"] == "reply" for p in probes)
        assert all("<response>" in t["output"] and t["profile"] for t in turns)
        # with --profile-probe too: no side call, the replies' profiles are the measurement
        run = json.loads((out / "run.json").read_text())
        assert "probe" not in summary["usage"] and run["config"].get("profile_probe") in (None, False)
        if "--profile-probe" in flags:
            assert "the profile in each rlpa reply is scored" in " ".join(proc.stderr.split())
