"""The conversation engine: scoring, failures, caching, resume (in-process and after kill -9)."""

import asyncio
import json
import os
import signal
import subprocess
import time

import pytest

from aloe_bench.backends.cache import CachedModel, CallCache
from aloe_bench.components import GenerationParams
from aloe_bench.errors import ConfigError, ResumeConflictError
from aloe_bench.evaluation.config import EvalConfig
from aloe_bench.evaluation.engine import Evaluation
from aloe_bench.evaluation.judging import judge_run
from aloe_bench.plugins import PluginHost
from aloe_bench.records import Message
from aloe_bench.evaluation.run_folder import RunStore
from aloe_bench.testing import ScriptedModel, default_script
from aloe_bench.hookspecs import hookimpl
from tests.helpers import aloe_bench_exe, default_sigint, kill_9_after, run_cli


def evaluate(host, run_dir, resume=False, cache=None, **kw):
    cfg = EvalConfig(**{"model": "scripted:m", "user": "scripted:u", "judge": "scripted:j", "turns": 3,
                        "limit": 4, "cache": cache is not None, "bootstrap": 50, **kw})
    return asyncio.run(Evaluation(cfg, run_dir, host, resume=resume, cache_path=cache).run())


def test_run_writes_every_record(aloe_host, tmp_path):
    s = evaluate(aloe_host, tmp_path / "run")
    store = RunStore(tmp_path / "run")
    turns, torn = store.read_turns()
    scores, _ = store.read_scores()
    assert torn == 0 and len(turns) == 12 and len(scores) == 12
    assert s.n == [4, 4, 4] and s.missing == [0, 0, 0]
    assert all(1 <= x.score <= 5 for x in scores)
    assert s.al[0] == pytest.approx(sum(x.score for x in scores if x.turn == 1) / 4)
    spec = store.read_spec()
    assert spec.finished and spec.personas_count == 4 and spec.config["turns"] == 3
    roles = {c.role: c for c in spec.components}
    assert set(roles) == {"model", "user", "judge"}
    assert roles["judge"].prompt_hashes and roles["user"].prompt_hashes
    assert s.usage["model"].calls == 12 and s.usage["judge"].calls == 12
    assert "reply_length" in s.extra and len(s.reply_length) == 3
    # The model under test sees only the chat: no system prompt, no persona.
    first = turns[0]
    assert "Scripted message" in first.user


class _Plugin:
    def __init__(self, **models):
        self.models = models

    @hookimpl
    def aloe_register_models(self, register):
        for name, factory in self.models.items():
            register(name, factory)


def test_simulator_failure_closes_conversation_and_is_counted(aloe_data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ALOE_BENCH_DATA_DIR", str(aloe_data_dir))

    def sim_factory(rest, **kw):
        # fails for the first persona's conversation from turn 2 on (its history has 2 mirrored messages)
        def fail(messages):
            if "33-year-old mechanical engineer" in messages[0].content and len(messages) >= 4:
                return "simulator exploded"
            return None
        return ScriptedModel(rest, fail=fail)

    host = PluginHost(load_entrypoints=False, extra_plugins={"t": _Plugin(flaky=sim_factory)})
    s = evaluate(host, tmp_path / "run", user="flaky", limit=6)
    # personas 1..5 share profile 1 (profile-major): all 5 fail at turn 2; persona 6 goes on.
    assert s.n == [6, 1, 1]
    turns, _ = RunStore(tmp_path / "run").read_turns()
    failed = [t for t in turns if t.status == "user_failed"]
    assert len(failed) == 5 and all(t.turn == 2 and "exploded" in t.error for t in failed)


def test_unparseable_judge_is_missing_not_a_number(aloe_data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ALOE_BENCH_DATA_DIR", str(aloe_data_dir))

    def judge_factory(rest, **kw):
        def script(messages):
            if "Rate the reply" in messages[0].content and len(messages) == 1:
                return "What a lovely reply!"  # no score
            if "could not be read" in messages[-1].content:
                # second attempt: a score for turn-1 prompts only
                return "4" if "(You start the chat" in messages[0].content or True else "?"
            return default_script(messages)
        return ScriptedModel(rest, script=script)

    host = PluginHost(load_entrypoints=False, extra_plugins={"t": _Plugin(judgy=judge_factory)})
    s = evaluate(host, tmp_path / "run", judge="judgy", limit=2, turns=2)
    scores, _ = RunStore(tmp_path / "run").read_scores()
    assert all(x.score == 4 and x.attempts == 2 for x in scores)

    def never(rest, **kw):
        return ScriptedModel(rest, script=lambda m: "no idea" if "Rate" in m[0].content else default_script(m))

    host = PluginHost(load_entrypoints=False, extra_plugins={"t": _Plugin(never=never)})
    s = evaluate(host, tmp_path / "run2", judge="never", limit=2, turns=2)
    scores, _ = RunStore(tmp_path / "run2").read_scores()
    assert all(x.score is None and x.attempts == 3 and x.raw == "no idea" for x in scores)
    assert s.n == [0, 0] and s.missing == [2, 2] and s.avg is None


def test_resume_refuses_other_config_and_existing_folder(aloe_host, tmp_path):
    evaluate(aloe_host, tmp_path / "run")
    with pytest.raises(ConfigError, match="already holds a run"):
        evaluate(aloe_host, tmp_path / "run")
    with pytest.raises(ResumeConflictError, match=r"turns: 3 -> 4"):
        evaluate(aloe_host, tmp_path / "run", resume=True, turns=4)
    # operational keys may change on resume
    evaluate(aloe_host, tmp_path / "run", resume=True, concurrency=2)


def test_cache_makes_a_second_run_free(aloe_host, tmp_path):
    cache = tmp_path / "calls.sqlite"
    s1 = evaluate(aloe_host, tmp_path / "a", cache=cache)
    s2 = evaluate(aloe_host, tmp_path / "b", cache=cache)
    assert s1.al == s2.al
    assert s2.usage["model"].cached_calls == s2.usage["model"].calls == 12
    assert s2.usage["user"].cached_calls == 12 and s2.usage["judge"].cached_calls == 12


def test_cache_key_depends_on_params_and_messages(tmp_path):
    cache = CallCache(tmp_path / "c.sqlite")
    inner = ScriptedModel("x")
    model = CachedModel(inner, cache)
    msgs = [[Message(role="user", content="hi")]]
    asyncio.run(model.agenerate(msgs, GenerationParams(seed=1)))
    asyncio.run(model.agenerate(msgs, GenerationParams(seed=1)))
    assert inner.calls == 1
    asyncio.run(model.agenerate(msgs, GenerationParams(seed=2)))
    asyncio.run(model.agenerate([[Message(role="user", content="hi!")]], GenerationParams(seed=1)))
    assert inner.calls == 3
    failing = CachedModel(ScriptedModel("y", fail=lambda m: "boom"), cache)
    asyncio.run(failing.agenerate(msgs, GenerationParams()))
    asyncio.run(failing.agenerate(msgs, GenerationParams()))
    assert failing.inner.calls == 2  # failures are never cached


def test_rescore_with_another_judge(aloe_host, tmp_path):
    evaluate(aloe_host, tmp_path / "run")
    summary, folder = asyncio.run(judge_run(tmp_path / "run", "scripted:other", aloe_host, judge_mode="history"))
    assert folder == tmp_path / "run" / "judgements" / "scripted_other-history"
    scores = [json.loads(line) for line in (folder / "scores.jsonl").read_text().splitlines()]
    assert len(scores) == 12 and {s["judge"] for s in scores} == {"scripted:other"}
    assert {s["mode"] for s in scores} == {"history"}
    assert summary.judge == "scripted:other" and summary.n == [4, 4, 4]
    assert (tmp_path / "run" / "scores.jsonl").read_text().count("\n") == 12  # original untouched


def test_judge_samples_are_stored_and_averaged(aloe_host, tmp_path):
    s = evaluate(aloe_host, tmp_path / "run", judge_samples=2, turns=2, limit=2)
    scores, _ = RunStore(tmp_path / "run").read_scores()
    assert len(scores) == 8 and {x.sample for x in scores} == {0, 1}
    assert s.n == [2, 2]


# -- through the CLI, with the fake third-party plugin ----------------------------------------

def _cli_args(out, turns=4, limit=5):
    return ["evaluate", "--model", "fake:mut", "--user", "fake:sim", "--judge", "fake:judge", "--personas",
            "aloe-eval", "--limit", str(limit), "--turns", str(turns), "--output", str(out), "--no-cache", "-q",
            "--bootstrap", "100"]


def test_kill_9_then_resume_loses_nothing_and_duplicates_nothing(with_fake_plugin, aloe_data_dir, tmp_path):
    out = tmp_path / "run"
    calls = tmp_path / "calls.txt"
    env = {**os.environ, "ALOE_BENCH_FAKE_DELAY": "0.15", "ALOE_BENCH_FAKE_CALLS": str(calls),
           "ALOE_BENCH_DATA_DIR": str(aloe_data_dir)}
    transcripts = out / "transcripts.jsonl"
    kill_9_after([aloe_bench_exe(), *_cli_args(out)], env, transcripts, 7, timeout=60)
    before, _ = RunStore(out).read_turns()
    assert 7 <= len(before) < 20, "the run should have been killed mid-way"
    assert not (out / "summary.json").exists()

    res = run_cli(*_cli_args(out), "--resume", env={"ALOE_BENCH_FAKE_CALLS": str(calls),
                                                    "ALOE_BENCH_DATA_DIR": str(aloe_data_dir)})
    assert res.returncode == 0, res.stderr
    lines = [json.loads(x) for x in transcripts.read_text().splitlines() if x.strip()]
    keys = [(t["conversation_id"], t["turn"]) for t in lines]
    assert len(keys) == len(set(keys)) == 20, "every turn exactly once"
    after = {(t.conversation_id, t.turn): t for t in RunStore(out).read_turns()[0]}
    for t in before:  # nothing already finished was redone
        assert after[(t.conversation_id, t.turn)].reply == t.reply
    score_keys = [(s["conversation_id"], s["turn"]) for s in map(json.loads, (out / "scores.jsonl").read_text().splitlines())]
    assert len(score_keys) == len(set(score_keys)) == 20
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == [5, 5, 5, 5]

    n_calls = len(calls.read_text().splitlines())
    again = run_cli(*_cli_args(out), "--resume", env={"ALOE_BENCH_FAKE_CALLS": str(calls),
                                                      "ALOE_BENCH_DATA_DIR": str(aloe_data_dir)})
    assert again.returncode == 0, again.stderr
    assert len(calls.read_text().splitlines()) == n_calls, "a finished run re-run with --resume makes no calls"
    assert json.loads((out / "summary.json").read_text())["al"] == summary["al"]


def test_cli_resume_with_different_config_lists_keys(with_fake_plugin, aloe_data_dir, tmp_path):
    out = tmp_path / "run"
    run_cli(*_cli_args(out, turns=2, limit=2), check=True)
    res = run_cli(*_cli_args(out, turns=3, limit=2), "--resume")
    assert res.returncode == 2
    assert "different configuration (turns: 2 -> 3)" in res.stderr
    assert "Traceback" not in res.stderr
    res = run_cli(*_cli_args(out, turns=2, limit=2))
    assert res.returncode == 2 and "Add --resume" in res.stderr


def test_cli_prints_summary_with_cis(with_fake_plugin, aloe_data_dir, tmp_path):
    res = run_cli(*_cli_args(tmp_path / "run", turns=3, limit=5), env={"COLUMNS": "160"}, check=True)
    for text in ("AL(k)", "N(k)", "Average AL", "IR (slope)", "N-IR", "95% CI", "usage"):
        assert text in res.stdout, text


def test_cli_events_reach_observers(with_fake_plugin, aloe_data_dir, tmp_path):
    log = tmp_path / "events.txt"
    run_cli(*_cli_args(tmp_path / "run", turns=2, limit=2), env={"ALOE_BENCH_FAKE_EVENTS": str(log)}, check=True)
    names = log.read_text().split()
    assert names[0] == "RunStarted" and names[-1] == "RunFinished"
    assert names.count("TurnFinished") == 2 and names.count("TurnScored") == 2


def test_cli_fake_judge_protocol_and_persona_source(with_fake_plugin, tmp_path):
    res = run_cli("evaluate", "--model", "fake:m", "--user", "fake:u", "--judge", "fake:j", "--judge-protocol",
                  "fake-constant", "--user-protocol", "fake-sim", "--personas", "fake:3", "--turns", "2", "-o",
                  str(tmp_path / "r"), "-q", "--no-cache", check=True)
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["al"] == [3.0, 3.0] and summary["n"] == [3, 3] and summary["n_ir"] is None
    assert summary["extra"]["fake_turns"] == {"stored_turns": 6}
    assert res.returncode == 0


def test_ctrl_c_stops_cleanly_and_prints_the_resume_command(with_fake_plugin, aloe_data_dir, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "ALOE_BENCH_FAKE_DELAY": "0.15", "ALOE_BENCH_DATA_DIR": str(aloe_data_dir)}
    proc = subprocess.Popen([aloe_bench_exe(), *_cli_args(out)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    transcripts = out / "transcripts.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and not (transcripts.exists() and transcripts.read_text().count("\n") >= 5):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "Resume with:" in stderr and "--resume" in stderr and str(out) in stderr
    kept, torn = RunStore(out).read_turns()
    assert len(kept) >= 5 and torn == 0


def test_all_failing_first_turn_is_a_clear_error_and_resume_retries(aloe_data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ALOE_BENCH_DATA_DIR", str(aloe_data_dir))
    broken = {"on": True}

    def factory(rest, **kw):
        return ScriptedModel(rest, fail=lambda m: "AuthenticationError: no key" if broken["on"] else None)

    host = PluginHost(load_entrypoints=False, extra_plugins={"t": _Plugin(locked=factory)})
    with pytest.raises(ConfigError.__mro__[1], match="Every conversation failed at turn 1; the first error: "
                                                     "AuthenticationError: no key"):
        evaluate(host, tmp_path / "run", user="locked", limit=2, turns=2)
    turns, _ = RunStore(tmp_path / "run").read_turns()
    assert [t.status for t in turns] == ["user_failed", "user_failed"]
    broken["on"] = False  # the user fixed the key
    s = evaluate(host, tmp_path / "run", user="locked", limit=2, turns=2, resume=True)
    assert s.n == [2, 2]
    turns, _ = RunStore(tmp_path / "run").read_turns()
    assert len(turns) == 4 and all(t.status == "ok" for t in turns)


def test_cached_choice_probabilities_count_as_cache_hits(tmp_path):
    from aloe_bench.components import ChatModel, JudgeRequest
    from aloe_bench.protocols.judges import AloeJudge
    from aloe_bench.records import Persona

    class Probs(ChatModel):
        spec, supports_choice_probs, calls = "probs", True, 0

        async def achoice_probs(self, batch, choices, params):
            self.calls += len(batch)
            return [{"1": 0.1, "2": 0.1, "3": 0.2, "4": 0.5, "5": 0.1} for _ in batch]

    inner = Probs()
    judge = AloeJudge(CachedModel(inner, CallCache(tmp_path / "c.sqlite")))
    req = JudgeRequest(persona=Persona(id="p", profile="a", personality="b"), history=[], user_message="hi",
                       reply="hello", turn=1)
    first = asyncio.run(judge.score([req]))[0]
    second = asyncio.run(judge.score([req]))[0]
    assert inner.calls == 1 and first.score == second.score == pytest.approx(3.4)
    assert first.usage.cached_calls == 0 and second.usage.cached_calls == 1


def test_pipelined_and_batched_turns_give_the_same_conversations(aloe_data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ALOE_BENCH_DATA_DIR", str(aloe_data_dir))

    class Batched(ScriptedModel):
        prefers_batches = True

        def __init__(self, rest="", **kw):
            super().__init__(rest, **kw)
            self.batch_sizes = []

        async def agenerate(self, batch, params):
            self.batch_sizes.append(len(batch))
            return await super().agenerate(batch, params)

    made = []

    def batched(rest, **kw):
        made.append(Batched(rest, **kw))
        return made[-1]

    host = PluginHost(load_entrypoints=False, extra_plugins={"t": _Plugin(batched=batched)})
    evaluate(host, tmp_path / "piped", model="scripted:m", user="scripted:u", limit=5)
    evaluate(host, tmp_path / "batched", model="batched:m", user="batched:u", limit=5)
    assert made[0].batch_sizes[:2] == [5, 5]  # one batch per role per turn

    def texts(run):
        return {(t.conversation_id, t.turn): (t.user, t.reply) for t in RunStore(run).read_turns()[0]}

    piped, batched_ = texts(tmp_path / "piped"), texts(tmp_path / "batched")
    assert len(piped) == 15 and piped.keys() == batched_.keys()
    # ScriptedModel's text depends only on the messages, never on how calls were grouped
    assert [piped[k] for k in sorted(piped)] == [batched_[k] for k in sorted(batched_)]


def test_concurrency_limit_is_shared_by_concurrent_calls():
    from aloe_bench.components import ChatModel, Reply

    class Slow(ChatModel):
        spec, concurrency = "slow", 2

        def __init__(self):
            self.now = self.peak = 0

        async def acomplete(self, messages, params):
            self.now += 1
            self.peak = max(self.peak, self.now)
            await asyncio.sleep(0.01)
            self.now -= 1
            return Reply(text="ok")

    model = Slow()
    msgs = [Message(role="user", content="hi")]

    async def many():
        await asyncio.gather(*(model.agenerate([msgs], GenerationParams()) for _ in range(8)))

    asyncio.run(many())
    assert model.peak == 2
    asyncio.run(many())  # a new event loop gets a new limiter
    assert model.peak == 2
