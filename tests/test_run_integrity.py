"""Run integrity in process: a plugin metric that raises, self-contained run folders, warnings
for torn or truncated transcripts, AL(1)/AL(K)/range stored, probability-judge usage."""

from __future__ import annotations

import asyncio
import json
import warnings

import pytest

from aloe_bench.errors import AloeBenchWarning
from aloe_bench.evaluation.config import EvalConfig
from aloe_bench.evaluation.engine import Evaluation
from aloe_bench.evaluation.judging import judge_run
from aloe_bench.hookspecs import hookimpl
from aloe_bench.reporting.report import build_report
from aloe_bench.plugins import PluginHost
from aloe_bench.evaluation.run_folder import RunStore
from aloe_bench.testing import ScriptedPlugin


class ExplodingMetric:
    @staticmethod
    @hookimpl
    def aloe_register_metrics(register):
        register("exploding", lambda: (lambda data: 1 / 0), description="always raises")
        register("counting", lambda: (lambda data: {"conversations": len(data.conversations)}))


def evaluate(host, run_dir, **kw):
    cfg = EvalConfig(**{"model": "scripted:m", "user": "scripted:u", "judge": "scripted:j", "turns": 2,
                        "limit": 3, "cache": False, "bootstrap": 20, **kw})
    return asyncio.run(Evaluation(cfg, run_dir, host).run())


def test_a_plugin_metric_that_raises_becomes_a_warning_and_an_error_entry(aloe_data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("ALOE_BENCH_DATA_DIR", str(aloe_data_dir))
    host = PluginHost(extra_plugins={"scripted": ScriptedPlugin(), "exploding": ExplodingMetric()})
    with pytest.warns(AloeBenchWarning, match="metric 'exploding' .* failed and was skipped: ZeroDivisionError"):
        s = evaluate(host, tmp_path / "run")
    assert s.status == "complete" and s.al[0] is not None
    assert s.extra["exploding"] == {"error": "ZeroDivisionError: division by zero"}
    assert s.extra["counting"] == {"conversations": 3}  # the other metrics still ran
    stored = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert stored["extra"]["exploding"]["error"].startswith("ZeroDivisionError")


def test_summary_stores_first_last_and_range(aloe_host, tmp_path):
    s = evaluate(aloe_host, tmp_path / "run", turns=3)
    stored = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert stored["al_first"] == s.al[0] and stored["al_last"] == s.al[2]
    assert stored["al_range"] == pytest.approx(max(s.al) - min(s.al))
    assert stored["status"] == "complete" and stored["failures"]["conversations"] == 0


def test_run_folder_is_self_contained(aloe_host, tmp_path, monkeypatch):
    people = tmp_path / "people.jsonl"
    people.write_text("".join(json.dumps({"id": f"p{i}", "profile": f"Profile {i}: a baker.",
                                          "personality": "Calm."}) + "\n" for i in range(3)))
    monkeypatch.chdir(tmp_path)
    evaluate(aloe_host, tmp_path / "run", personas="jsonl:people.jsonl")
    people.unlink()  # elsewhere, or the source is gone: the run folder still knows its personas
    monkeypatch.chdir(tmp_path / "run")
    report = build_report(tmp_path / "run", host=aloe_host)
    assert "Profile 1: a baker." in report.html
    assert not [w for w in report.warnings if "unavailable" in w]
    summary, folder = asyncio.run(judge_run(tmp_path / "run", "scripted:j2", aloe_host, name="j2"))
    assert summary.status == "complete" and summary.n == [3, 3]


def test_truncated_transcripts_are_reported_by_judge_and_report(aloe_host, tmp_path):
    evaluate(aloe_host, tmp_path / "run")
    path = tmp_path / "run" / "transcripts.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-2]) + lines[-2][: len(lines[-2]) // 2])  # one line lost, one torn
    with pytest.warns(AloeBenchWarning) as caught:
        summary, _ = asyncio.run(judge_run(tmp_path / "run", "scripted:j2", aloe_host, name="j2"))
    text = " ".join(str(w.message) for w in caught)
    assert "torn last line" in text and "holds 4 of 6 turns" in text
    assert summary.status == "incomplete" and summary.failures.unplayed == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = build_report(tmp_path / "run", host=aloe_host)
    assert any("holds 4 of 6 turns" in w for w in report.warnings)


def test_probability_judge_usage_is_counted(aloe_host, tmp_path, aloe_openai_server, monkeypatch):
    pytest.importorskip("litellm")
    evaluate(aloe_host, tmp_path / "run")
    monkeypatch.setenv("OPENAI_API_BASE", aloe_openai_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-usage-0000000000")
    summary, _ = asyncio.run(judge_run(tmp_path / "run", "openai/pj", aloe_host, name="pj",
                                     judge_options={"logprobs": True}))
    assert summary.status == "complete"
    scores = RunStore(tmp_path / "run", scores_name="pj").read_scores()[0]
    assert all(s.probs for s in scores)
    judge = summary.usage["judge"]
    assert judge.calls == 6 and judge.prompt_tokens > 0 and judge.completion_tokens > 0
