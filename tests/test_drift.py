"""Preference drift (``aloe-bench evaluate --drift-at K``; docs/drift.md): the user changes at turn
K and the judge scores against the persona played at each turn.

End to end over real HTTP (the model under test, the user simulator, the judge and the coverage
judge all answered by the project's OpenAI-compatible server through litellm) with a judge whose
score depends on which profile it is shown, so the AL curve before and after K is known exactly;
the change notice reaching the simulator at K only; the records; PF1 against the old and the new
profile; resume after kill -9 and after a failed second coverage count; the leaderboard and the
report; the mapping over ``aloe-eval``; usage errors; old runs unchanged.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from aloe_bench.errors import ConfigError
from aloe_bench.evaluation.config import EvalConfig
from aloe_bench.evaluation.drift import NOTICE_MARKER, NOTICE_PROMPT
from aloe_bench.evaluation.profiling import PROBE_MARKER
from aloe_bench.personas.drift import drift_targets
from aloe_bench.prompts import prompt_hash
from aloe_bench.protocols.coverage import COVERAGE_MARKER
from aloe_bench.records import Persona, ProbeRecord, RunSpec, RunSummary, Turn, TurnScore
from tests.helpers import aloe_bench_exe, kill_9_after, run_served, served_env, serving
from tests.helpers import host_with_plain_simulator, jsonl_rows as rows

API_KEY = "sk-drift-5e2a7c9b1d3f4860"
TURNS, AT = 6, 3
SIM_MARKER = "You are playing a real person"
JUDGE_MARKER = "Rate the reply from 1 to 5"
MOVED = "Big news: I moved to the city zoo"
# A 2 x 2 source: profiles ANA, BO; personalities warm, terse (profile-major, as aloe-eval).
ANA = "Ana is a nurse in Lisbon who loves surfing."
BO = "Bo keeps goats at the city zoo and plays the tuba."
FACTS = {ANA: ["Works as a nurse in Lisbon", "Loves surfing"], BO: ["Keeps goats at a zoo", "Plays the tuba"]}
SOURCE = [("p1-t1", ANA, "Warm and chatty."), ("p1-t2", ANA, "Terse and dry."),
          ("p2-t1", BO, "Warm and chatty."), ("p2-t2", BO, "Terse and dry.")]


def write_source(folder: Path) -> tuple[Path, Path]:
    personas, facts = folder / "people.jsonl", folder / "facts.jsonl"
    personas.write_text("".join(json.dumps({"id": i, "profile": p, "personality": q}) + "\n" for i, p, q in SOURCE),
                        encoding="utf-8")
    facts.write_text("".join(json.dumps({"schema_version": 1, "facts": golden,
                                         "profile_sha256": hashlib.sha256(prof.encode()).hexdigest()}) + "\n"
                             for prof, golden in FACTS.items()), encoding="utf-8")
    return personas, facts


def since_move(messages: list[dict]) -> int:
    """User messages from the one announcing the move on (0 before it)."""
    users = [m["content"] for m in messages if m["role"] == "user"]
    first = next((i for i, u in enumerate(users) if MOVED in u), None)
    return 0 if first is None else len(users) - first


def roles(messages: list[dict]) -> str:
    """Every role by its prompt. The simulator says it moved when told its situation changed; the
    model under test replies ``adapted N`` (N: its replies since the move); the judge gives 5 for
    a reply judged against Ana's profile and 2 + N against Bo's, so AL = 5, 5, 2, 3, 4, 5 with
    K = 3. The probe lists OLD facts before the move and up to two NEW ones after it; the coverage
    judge counts OLD lines against Ana's golden facts and NEW lines against Bo's."""
    first, last = messages[0]["content"], messages[-1]["content"]
    if COVERAGE_MARKER in first or COVERAGE_MARKER in last:
        text = first + last
        inferred = text.split("inferred profile:")[1].split("How many of the golden facts")[0]
        return str(inferred.count("OLDFACT") if FACTS[ANA][0] in text else inferred.count("NEWFACT"))
    if JUDGE_MARKER in first or JUDGE_MARKER in last:
        text = first + last
        if ANA in text:
            return "5\nFits Ana."
        adapted = int(re.search(r"adapted (\d+)", text).group(1))
        return f"{min(5, 2 + adapted)}\nFits Bo {adapted}."
    if messages[0]["role"] == "system" and SIM_MARKER in first:
        turn = sum(m["role"] == "assistant" for m in messages) + 1
        if NOTICE_MARKER in first:
            return f"{MOVED}, message {turn}."
        return f"Hi, I am {'Ana' if ANA in first else 'Bo'}, message {turn}."
    if PROBE_MARKER in last:
        n = since_move(messages[:-1])
        lines = ["- OLDFACT nurse"] if n == 0 else [f"- NEWFACT {i}" for i in range(1, min(n, 2) + 1)]
        return "<profile>\n" + "\n".join(lines) + "\n</profile>"
    return f"Nice chat (adapted {max(0, since_move(messages) - 1)})."


EXPECTED_AL = [5.0, 5.0, 2.0, 3.0, 4.0, 5.0]
F1_HALF = 2 * 1.0 * 0.5 / 1.5  # one line, right, of two golden facts
EXPECTED_PF1_OLD = [F1_HALF, F1_HALF, 0.0, 0.0, 0.0, 0.0]
EXPECTED_PF1_NEW = [0.0, 0.0, F1_HALF, 1.0, 1.0, 1.0]


@pytest.fixture
def srv(server):
    with serving(server, roles) as served:
        yield served


@pytest.fixture
def env(server, tmp_path):
    return served_env(server, tmp_path, API_KEY)



def evaluate_args(tmp_path: Path, out: Path, *extra: str, probe: bool = False, drift: bool = True) -> list[str]:
    personas, facts = write_source(tmp_path)
    args = ["evaluate", "--model", "openai/mut", "--user", "openai/sim", "--judge", "openai/judge",
            "--personas", f"jsonl:{personas}", "--limit", "2", "--turns", str(TURNS), "-o", str(out), "-q",
            "--no-cache", "--bootstrap", "200", "--model-option", "max_retries=0"]
    if drift:
        args += ["--drift-at", str(AT)]
    if probe:
        args += ["--profile-probe", "--profile-judge", "openai/coverage", "--profile-judge-option", "max_retries=0",
                 "--facts", str(facts)]
    return args + list(extra)


def sim_requests(srv) -> list[tuple[int, str]]:
    """(turn, system prompt) of every simulator call."""
    out = []
    for r in srv.chat_requests():
        body = r["json"]
        if body["model"] == "sim":
            out.append((sum(m["role"] == "assistant" for m in body["messages"]) + 1, body["messages"][0]["content"]))
    return out


def test_drift_curve_records_notice_and_pf1_old_new(srv, env, tmp_path):
    out = tmp_path / "run"
    res = run_served(env, *evaluate_args(tmp_path, out, probe=True))
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"Drift at turn {AT} (profile)" in res.stdout and "turns to recover: 3" in res.stdout, res.stdout

    s = json.loads((out / "summary.json").read_text())
    assert s["al"] == EXPECTED_AL and s["n"] == [2] * TURNS  # exactly: the judge saw the persona of each turn
    d = s["drift"]
    assert (d["at"], d["kind"], d["before"], d["at_k"], d["drop"]) == (AT, "profile", 5.0, 2.0, 3.0)
    assert d["recovery"] == pytest.approx(1.0) and d["turns_to_recover"] == 3
    assert d["ci"]["recovery"]["low"] == pytest.approx(1.0) and d["ci"]["recovery"]["high"] == pytest.approx(1.0)
    assert d["pf1_old"] == pytest.approx(EXPECTED_PF1_OLD) and d["pf1_new"] == pytest.approx(EXPECTED_PF1_NEW)
    assert s["pf1"] == pytest.approx([F1_HALF, F1_HALF, F1_HALF, 1.0, 1.0, 1.0])  # against the active persona
    assert s["status"] == "complete"

    # run.json: the drift settings; the conversations keep their starting persona's id
    spec = json.loads((out / "run.json").read_text())
    assert spec["config"]["drift_at"] == AT and spec["config"]["drift_kind"] == "profile"
    assert spec["drift"]["targets"] == {"p1-t1": "p2-t1", "p1-t2": "p2-t2"}  # over the source, before --limit
    assert spec["drift"]["notice_prompt_hash"] == prompt_hash(NOTICE_PROMPT)
    assert [p["id"] for p in rows(out / "drift_personas.jsonl")] == ["p2-t1", "p2-t2"]
    turns = rows(out / "transcripts.jsonl")
    assert len(turns) == 2 * TURNS
    for t in turns:
        start = t["persona_id"]
        assert start in ("p1-t1", "p1-t2")
        assert t["active_persona_id"] == (start if t["turn"] < AT else start.replace("p1", "p2"))
        assert (MOVED in t["user"]) == (t["turn"] == AT)
    scores = rows(out / "scores.jsonl")
    assert {(x["persona_id"], x["turn"], x["active_persona_id"]) for x in scores} == \
        {(t["persona_id"], t["turn"], t["active_persona_id"]) for t in turns}
    probes = rows(out / "probes.jsonl")
    assert len(probes) == 2 * TURNS
    for r in probes:
        assert r["active_persona_id"] == (r["persona_id"] if r["turn"] < AT else r["persona_id"].replace("p1", "p2"))
        other = r["other"]
        assert other["persona_id"] == (r["persona_id"].replace("p1", "p2") if r["turn"] < AT else r["persona_id"])
        assert other["status"] == "ok" and other["golden"] == 2
    assert s["usage"]["profile_judge"]["calls"] == len(srv.chat_requests(COVERAGE_MARKER)) == 4 * TURNS

    # The simulator: the starting persona before K, the notice at K only, the new persona after.
    calls = sim_requests(srv)
    assert len(calls) == 2 * TURNS
    for turn, system in calls:
        assert (NOTICE_MARKER in system) == (turn == AT)
        if turn < AT:
            assert ANA in system and BO not in system
        elif turn == AT:  # who it is now, and who it was before the change
            assert system.index(BO) < system.index(NOTICE_MARKER) < system.rindex(ANA)
        else:
            assert BO in system and ANA not in system
    # ... and it keeps the conversation, its own old messages included
    last_turn = [r["json"] for r in srv.chat_requests() if r["json"]["model"] == "sim"
                 and sum(m["role"] == "assistant" for m in r["json"]["messages"]) == TURNS - 1]
    assert all(any("I am Ana" in m["content"] for m in b["messages"]) for b in last_turn)


def test_leaderboard_columns_comparability_and_report_marker(srv, env, tmp_path):
    drift_run, plain = tmp_path / "drift", tmp_path / "plain"
    assert run_served(env, *evaluate_args(tmp_path, drift_run)).returncode == 0
    assert run_served(env, *evaluate_args(tmp_path, plain, drift=False)).returncode == 0
    assert "drift" not in json.loads((plain / "summary.json").read_text())
    twin = tmp_path / "drift-twin"
    shutil.copytree(drift_run, twin)

    # Two runs that drift the same way: the drift columns, one protocol.
    board = run_served(env, "leaderboard", str(drift_run), str(twin), "--format", "markdown")
    assert board.returncode == 0, board.stderr
    header = [c.strip() for c in board.stdout.splitlines()[0].strip("|").split("|")]
    for col in ("Drift@K", "AL before → AL(K)", "Recovery slope [95% CI]", "Turns to recover"):
        assert col in header, header
    first = [c.strip() for c in board.stdout.splitlines()[2].strip("|").split("|")]
    assert first[header.index("Drift@K")] == f"{AT} (profile)"
    assert first[header.index("AL before → AL(K)")] == "5.00 → 2.00"
    assert first[header.index("Recovery slope [95% CI]")].startswith("1.000")
    assert first[header.index("Turns to recover")] == "3"
    assert "Not comparable" not in board.stdout
    latex = run_served(env, "leaderboard", str(drift_run), str(twin), "--format", "latex")
    assert "Drift@$K$" in latex.stdout and "5.00 $\\to$ 2.00" in latex.stdout

    # With a run without the drift: other protocols, no drift columns.
    mixed = run_served(env, "leaderboard", str(drift_run), str(plain), "--format", "markdown")
    assert mixed.returncode == 0, mixed.stderr
    assert "Drift@K" not in mixed.stdout.splitlines()[0]
    assert "persona drift (off -> at 3, profile" in mixed.stdout or "persona drift (at 3, profile" in mixed.stdout
    data = json.loads(run_served(env, "leaderboard", str(drift_run), "--format", "json").stdout)
    row = data["rows"][0]
    assert (row["drift_at"], row["drift_before"], row["drift_at_k"], row["drift_turns_to_recover"]) == (AT, 5.0, 2.0, 3)

    report = run_served(env, "report", str(drift_run), "--output", str(tmp_path / "report.html"))
    assert report.returncode == 0, report.stderr
    page = (tmp_path / "report.html").read_text()
    assert f"Dotted line: the persona drift at turn {AT}" in page and f"Drift at turn {AT}" in page
    svgs = [base64.b64decode(b).decode() for b in re.findall(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)", page)]
    assert any(f'id="drift-marker-{AT}"' in svg for svg in svgs)  # the vertical marker on the AL(k) curve
    assert '"active":"p2-t1"' in page  # the transcript browser knows who was played at each turn


def test_kill_9_then_resume_keeps_the_drift(srv, env, tmp_path):
    out = tmp_path / "run"
    srv.latency = 0.08
    transcripts = out / "transcripts.jsonl"
    kill_9_after([aloe_bench_exe(), *evaluate_args(tmp_path, out)], env, transcripts, 5, timeout=90)
    before = rows(transcripts)
    assert 5 <= len(before) < 2 * TURNS, "the run should have been killed mid-way"
    assert not (out / "summary.json").exists()

    srv.latency = 0
    res = run_served(env, *evaluate_args(tmp_path, out, "--resume"))
    assert res.returncode == 0, res.stdout + res.stderr
    turns = rows(transcripts)
    keys = [(t["conversation_id"], t["turn"]) for t in turns]
    assert len(keys) == len(set(keys)) == 2 * TURNS, "every turn exactly once"
    for t in turns:
        assert t["active_persona_id"] == (t["persona_id"] if t["turn"] < AT else t["persona_id"].replace("p1", "p2"))
        assert (MOVED in t["user"]) == (t["turn"] == AT)
    s = json.loads((out / "summary.json").read_text())
    assert s["al"] == EXPECTED_AL and s["drift"]["turns_to_recover"] == 3

    # Resuming with another drift is refused, listing the keys.
    res = run_served(env, *evaluate_args(tmp_path, out, "--resume", "--drift-kind", "both"))
    assert res.returncode == 2 and "drift_kind: 'profile' -> 'both'" in res.stderr


def test_a_failed_second_coverage_count_is_asked_again_on_resume(srv, env, tmp_path):
    out = tmp_path / "run"
    # The first coverage call against Bo's facts before K is the second scoring of a turn-1 or -2 probe.
    srv.inject("500", count=1, match=FACTS[BO][0])
    args = evaluate_args(tmp_path, out, "--profile-judge-protocol-option", "max_retries=0", probe=True)
    res = run_served(env, *args)
    assert res.returncode == 3, res.stdout + res.stderr
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == "incomplete" and s["failures"]["probes"]["failed"] == 1
    failed = [r for r in rows(out / "probes.jsonl") if r["other"]["status"] == "judge_failed"]
    assert len(failed) == 1 and failed[0]["status"] == "ok" and failed[0]["other"]["error"]

    srv.reset()
    res = run_served(env, *args, "--resume")
    assert res.returncode == 0, res.stdout + res.stderr
    asked = [r["json"] for r in srv.chat_requests()]
    assert len(asked) == 1 and COVERAGE_MARKER in json.dumps(asked[0]) and FACTS[BO][0] in json.dumps(asked[0])
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == "complete" and s["drift"]["pf1_old"] == pytest.approx(EXPECTED_PF1_OLD)
    assert s["drift"]["pf1_new"] == pytest.approx(EXPECTED_PF1_NEW)


def test_usage_errors_are_one_line(env, tmp_path):
    base = EvalConfig(model="scripted", user="scripted", judge="scripted", turns=4)
    for at in (1, 5, 0, -2):
        with pytest.raises(ConfigError, match=r"outside 2\.\.4"):
            base.model_copy(update={"drift_at": at}).check_drift_settings()
    base.model_copy(update={"drift_at": 4}).check_drift_settings()
    with pytest.raises(ConfigError, match="only with --drift-at"):
        base.model_copy(update={"drift_kind": "both"}).check_drift_settings()
    one = [Persona(id=f"x{i}", profile="Same profile.", personality=f"Trait {i}.") for i in range(3)]
    with pytest.raises(ConfigError, match="at least two distinct profile texts"):
        drift_targets(one, one, "profile")
    assert drift_targets(one, one, "personality")["x2"].id == "x0"  # wraps after the last
    with pytest.raises(ConfigError, match="at least two distinct profile texts"):
        drift_targets(one, one, "both")

    personas, _ = write_source(tmp_path)
    common = ["evaluate", "--model", "scripted", "--user", "scripted", "--judge", "scripted", "--turns", "4",
              "-o", str(tmp_path / "x")]
    for extra, message in ((["--personas", "sample", "--drift-at", "1"], "outside 2..4"),
                           (["--personas", "sample", "--drift-at", "5"], "outside 2..4"),
                           (["--personas", "sample", "--drift-kind", "both"], "only with --drift-at")):
        res = run_served(env, *common, *extra)
        assert res.returncode == 2 and message in res.stderr, (extra, res.stderr)
        assert len([line for line in res.stderr.splitlines() if line.strip()]) <= 2  # the error and its hint
    assert not (tmp_path / "x" / "run.json").exists()


def test_aloe_eval_drifts_to_the_next_profile_and_personality(aloe_data_dir):
    from aloe_bench.personas.official import eval_personas

    source = eval_personas()
    by_id = {p.id: p for p in source}
    run = [by_id[i] for i in ("aloe-eval-p01-t3", "aloe-eval-p20-t5", "aloe-eval-p07-t1")]
    assert {k: v.id for k, v in drift_targets(source, run, "profile").items()} == {
        "aloe-eval-p01-t3": "aloe-eval-p02-t3", "aloe-eval-p20-t5": "aloe-eval-p01-t5",
        "aloe-eval-p07-t1": "aloe-eval-p08-t1"}
    assert {k: v.id for k, v in drift_targets(source, run, "personality").items()} == {
        "aloe-eval-p01-t3": "aloe-eval-p01-t4", "aloe-eval-p20-t5": "aloe-eval-p20-t1",
        "aloe-eval-p07-t1": "aloe-eval-p07-t2"}
    assert {k: v.id for k, v in drift_targets(source, run, "both").items()} == {
        "aloe-eval-p01-t3": "aloe-eval-p02-t4", "aloe-eval-p20-t5": "aloe-eval-p01-t1",
        "aloe-eval-p07-t1": "aloe-eval-p08-t2"}
    # The mapping is over the whole source: a run cut to one persona drifts the same way.
    assert drift_targets(source, run[:1], "profile")["aloe-eval-p01-t3"] == by_id["aloe-eval-p02-t3"]


def test_a_drifted_persona_outside_the_source_gets_its_own_id():
    source = [Persona(id="a", profile="P1.", personality="T1."), Persona(id="b", profile="P2.", personality="T2.")]
    targets = drift_targets(source, source, "profile")
    assert targets["a"].id == "a~drift-profile" and (targets["a"].profile, targets["a"].personality) == ("P2.", "T1.")
    assert drift_targets(source, source, "both")["a"].id == "b"  # (P2, T2) exists: its id


def test_runs_without_a_drift_are_unchanged(aloe_host, tmp_path):
    """No drift: no new key in any record or in the config's result keys (old runs keep their
    config hash and resume), and records written before drift existed read back."""
    cfg = EvalConfig(model="scripted:m", user="scripted:u", judge="scripted:j", turns=2)
    assert not {"drift_at", "drift_kind"} & set(cfg.result_keys())
    for record in (Turn(conversation_id="c", persona_id="p", turn=1, user="u", reply="r"),
                   TurnScore(conversation_id="c", persona_id="p", turn=1, score=4, judge="j"),
                   ProbeRecord(conversation_id="c", persona_id="p", turn=1)):
        data = record.model_dump(mode="json")
        assert "active_persona_id" not in data and "other" not in data
        assert type(record).model_validate(data) == record
    spec = RunSpec(aloe_bench_version="0", config={}, config_hash="h", personas_source="s", personas_count=1,
                   personas_hash="h", seed=0)
    assert "drift" not in spec.model_dump(mode="json")
    summary = RunSummary(model="m", user="u", judge="j", judge_mode="turn", personas_source="s", personas_count=1,
                         turns=1, al=[4.0], n=[1], missing=[0], avg=4.0, ir=None, n_ir=None, r2=None, n_r2=None)
    assert "drift" not in summary.model_dump(mode="json")


def test_judge_of_a_stored_drift_run_scores_against_the_persona_of_each_turn(aloe_host, tmp_path):
    from aloe_bench.evaluation.engine import Evaluation
    from aloe_bench.evaluation.judging import judge_run
    from aloe_bench.evaluation.run_folder import RunStore

    personas, _ = write_source(tmp_path)
    cfg = EvalConfig(model="scripted:m", user="scripted:u", judge="scripted:j", turns=3, drift_at=2,
                     drift_kind="both", personas=f"jsonl:{personas}", limit=2, cache=False, bootstrap=20)
    summary = asyncio.run(Evaluation(cfg, tmp_path / "run", aloe_host).run())
    assert summary.drift.at == 2 and summary.drift.kind == "both"
    spec = RunStore(tmp_path / "run").read_spec()
    assert spec.drift["targets"] == {"p1-t1": "p2-t2", "p1-t2": "p2-t1"}
    rescored, folder = asyncio.run(judge_run(tmp_path / "run", "scripted:other", aloe_host))
    assert rescored.drift is not None and rescored.drift.at == 2
    active = {(t["conversation_id"], t["turn"]): t["active_persona_id"] for t in rows(tmp_path / "run" / "transcripts.jsonl")}
    again = rows(folder / "scores.jsonl")
    assert len(again) == 6 and all(s["active_persona_id"] == active[(s["conversation_id"], s["turn"])] for s in again)


def test_a_simulator_that_cannot_play_a_change_is_refused(tmp_path):
    from aloe_bench.evaluation.engine import Evaluation

    host = host_with_plain_simulator("plain")
    personas, _ = write_source(tmp_path)
    cfg = EvalConfig(model="scripted:m", user="scripted:u", judge="scripted:j", turns=3, drift_at=2,
                     user_protocol="plain", personas=f"jsonl:{personas}", cache=False)
    with pytest.raises(ConfigError, match="handles_change_notice"):
        asyncio.run(Evaluation(cfg, tmp_path / "run", host).run())
    assert not (tmp_path / "run" / "transcripts.jsonl").exists()
