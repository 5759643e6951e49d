"""One redaction for every value that leaves the process: text, JSON values, command lines,
run folders, HTML reports, published results and the "Resume with:" hint."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from aloe_bench.backends.cache import CachedModel
from aloe_bench.cli.evaluate import resume_hint
from aloe_bench.components import ChatModel, GenerationParams, Reply
from aloe_bench.evaluation.config import EvalConfig
from aloe_bench.evaluation.engine import Evaluation
from aloe_bench.reporting.report import write_report
from aloe_bench.reporting.publish import publish_run
from aloe_bench.records import Message
from aloe_bench.secrets import REDACTED, redact, redact_argv, redact_text
from aloe_bench.evaluation.run_folder import RunStore
from tests.helpers import aloe_bench_exe, default_sigint

SECRET = "sk-secret123456789"
URL_SECRET = "pa55-w0rd-xyz"
QUERY_SECRET = "q7token99"


@pytest.mark.parametrize("text, secret, kept", [
    (f"http://user:{SECRET}@127.0.0.1:1/v1", SECRET, "http://user:<redacted>@127.0.0.1:1/v1"),
    ("https://ghtoken123@git.example.org/x.git", "ghtoken123", "https://<redacted>@git.example.org/x.git"),
    ("postgres://bob:p@ss@db:5432/x", "p@ss", "postgres://bob:<redacted>@db:5432/x"),
    (f"https://h/v1?api_key={QUERY_SECRET}&model=m", QUERY_SECRET, "https://h/v1?api_key=<redacted>&model=m"),
    (f"https://h/x?a=1&token={QUERY_SECRET}", QUERY_SECRET, "https://h/x?a=1&token=<redacted>"),
    (f"https://h/x?key={QUERY_SECRET}", QUERY_SECRET, "https://h/x?key=<redacted>"),
    (f"https://blob/x?sv=2020&sig={QUERY_SECRET}", QUERY_SECRET, "https://blob/x?sv=2020&sig=<redacted>"),
    (f"https://h/x?access_token={QUERY_SECRET}#top", QUERY_SECRET, "https://h/x?access_token=<redacted>#top"),
    ("key sk-proj-AbC123dEf456gHi789 leaked", "sk-proj-AbC123dEf456gHi789", "key <redacted> leaked"),
    ("Incorrect API key provided: sk-abc12**********wxyz.", "sk-abc12**********wxyz", None),
    ("sk-ant-api03-Zz9_yY8-xX7wW6vV5", "sk-ant-api03-Zz9_yY8-xX7wW6vV5", None),
    ("token hf_AbCdEfGhIjKlMnOpQrStUvWxYz123456", "hf_AbCdEfGhIjKlMnOpQrStUvWxYz123456", None),
    ("id AKIAIOSFODNN7EXAMPLE here", "AKIAIOSFODNN7EXAMPLE", "id <redacted> here"),
    ("AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI", "AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI", None),
    ("Authorization: Bearer eyJhbGciOi.J9x2", "eyJhbGciOi.J9x2", "Authorization: Bearer <redacted>"),
    ("gsk_8fH3kLm2Nq9Rt5Vw1Xy7Zb4Cd6", "gsk_8fH3kLm2Nq9Rt5Vw1Xy7Zb4Cd6", None),
    ("xai-8fH3kLm2Nq9Rt5Vw1Xy7Zb4Cd6", "xai-8fH3kLm2Nq9Rt5Vw1Xy7Zb4Cd6", None),
    ('{"api_key": "plain-secret", "max_tokens": 5}', "plain-secret", '{"api_key": "<redacted>", "max_tokens": 5}'),
])
def test_redact_text_removes_each_secret_shape(text, secret, kept):
    out = redact_text(text)
    assert secret not in out and REDACTED in out
    if kept is not None:
        assert out == kept
    assert redact_text(out) == out  # idempotent


@pytest.mark.parametrize("text", [
    "max_tokens=300 top_p=0.9", "a task-based, skill-focused plan", "sklearn and risk-averse desk-lamp",
    "http://127.0.0.1:8000/v1", "https://example.org/a?page=2&sort=asc", "The bearer of good news",
    "Bearer instruments", "hf_token and api_key are option names", "gpt-4o-mini-2024-07-18",
    "openai/Qwen2-7B-Instruct", "num_tokens: 12, tokenizer: fast", "email me at bob@example.org",
])
def test_redact_text_leaves_ordinary_text_alone(text):
    assert redact_text(text) == text


def test_redact_applies_to_names_and_to_every_string_inside():
    data = {"api_key": "k", "max_tokens": 5, "empty_token": "",
            "judge_options": {"api_base": f"http://u:{URL_SECRET}@h/v1", "stop": ["x", SECRET]},
            "pair": ("ok", f"Bearer {SECRET}")}
    out = redact(data)
    assert out["api_key"] == REDACTED and out["max_tokens"] == 5 and out["empty_token"] == ""
    assert out["judge_options"] == {"api_base": "http://u:<redacted>@h/v1", "stop": ["x", REDACTED]}
    assert out["pair"] == ("ok", "Bearer <redacted>")
    assert data["judge_options"]["stop"][1] == SECRET  # a copy: the input is unchanged


def test_redact_argv():
    argv = ["evaluate", "--model", "openai/m", "--model-option", f"api_key={SECRET}", "--model-option",
            "max_tokens=5", f"--judge-option=api_base=http://u:{URL_SECRET}@h/v1", "--user-option",
            "hf_token=abc", "--personas", f"jsonl:https://h/p.jsonl?token={QUERY_SECRET}", "--note", SECRET]
    out = redact_argv(argv)
    assert out == ["evaluate", "--model", "openai/m", "--model-option", "api_key=<redacted>", "--model-option",
                   "max_tokens=5", "--judge-option=api_base=http://u:<redacted>@h/v1", "--user-option",
                   "hf_token=<redacted>", "--personas", "jsonl:https://h/p.jsonl?token=<redacted>",
                   "--note", "<redacted>"]


def test_resume_hint_hides_secrets_and_says_so():
    hint = resume_hint(["evaluate", "--model", "openai/m", "--model-option", f"api_key={SECRET}",
                        "--judge-option", f"api_base=http://u:{URL_SECRET}@h/v1", "--resume"], Path("runs/x"))
    assert SECRET not in hint and URL_SECRET not in hint
    first, note = hint.split("\n")
    assert first == ("aloe-bench evaluate --model openai/m --model-option 'api_key=<redacted>' --judge-option "
                     "'api_base=http://u:<redacted>@h/v1' --output runs/x --resume")
    assert "secrets are not shown" in note and "environment" in note
    plain = resume_hint(["evaluate", "--model", "openai/m", "-o", "out"], Path("out"))
    assert plain == "aloe-bench evaluate --model openai/m -o out --resume"


class _LeakyModel(ChatModel):
    """Fails with an error that echoes its endpoint, credentials included (as API clients do)."""

    def __init__(self, base: str):
        self.spec, self.base = "leaky", base

    async def acomplete(self, messages, params):
        return Reply(error=f"connection refused at {self.base} (key {SECRET})")


def test_backend_error_texts_are_redacted():
    model = CachedModel(_LeakyModel(f"http://u:{URL_SECRET}@127.0.0.1:1/v1"), None)
    [reply] = asyncio.run(model.agenerate([[Message(role="user", content="hi")]], GenerationParams()))
    assert not reply.ok and "connection refused at http://u:<redacted>@127.0.0.1:1/v1" in reply.error
    assert URL_SECRET not in reply.error and SECRET not in reply.error


def _files_text(folder: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in folder.rglob("*") if p.is_file())


def test_run_folder_report_and_published_results_hold_no_secret(aloe_host, tmp_path):
    cfg = EvalConfig(model="scripted", user="scripted", judge="scripted", turns=2, limit=2, cache=False,
                     bootstrap=50, personas="aloe-eval",
                     judge_options={"api_base": f"http://user:{SECRET}@127.0.0.1:1/v1"},
                     model_options={"api_base": f"https://h/v1?api_key={QUERY_SECRET}"},
                     user_options={"endpoint": f"https://{URL_SECRET}@h/v1"})
    run_dir = tmp_path / "run"
    asyncio.run(Evaluation(cfg, run_dir, aloe_host).run())
    text = _files_text(run_dir)
    assert "run.json" in {p.name for p in run_dir.iterdir()}
    for secret in (SECRET, QUERY_SECRET, URL_SECRET):
        assert secret not in text
    spec = json.loads((run_dir / "run.json").read_text())
    assert spec["config"]["judge_options"]["api_base"] == "http://user:<redacted>@127.0.0.1:1/v1"

    write_report(run_dir, tmp_path / "report.html", host=aloe_host)
    page = (tmp_path / "report.html").read_text()
    assert "http://user:&lt;redacted&gt;@127.0.0.1:1/v1" in page
    for secret in (SECRET, QUERY_SECRET, URL_SECRET):
        assert secret not in page


def test_report_and_publish_redact_runs_written_before_the_fix(aloe_host, tmp_path):
    """Second line of defence: a run folder that still holds secrets (written by an older
    version) yields a secret-free report and published copy."""
    run_dir = tmp_path / "old"
    cfg = EvalConfig(model="scripted", user="scripted", judge="scripted", turns=2, limit=2, cache=False,
                     bootstrap=50, personas="aloe-eval")
    asyncio.run(Evaluation(cfg, run_dir, aloe_host).run())
    leaked = f"http://user:{SECRET}@127.0.0.1:1/v1"
    for name in ("run.json", "summary.json"):
        data = json.loads((run_dir / name).read_text())
        for comp in data["components"]:
            comp["options"]["api_base"] = leaked
            comp["identity"]["api_base"] = leaked
        if name == "run.json":
            data["config"]["judge_options"] = {"api_base": leaked}
        (run_dir / name).write_text(json.dumps(data))
    lines = (run_dir / "transcripts.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first["error"] = f"upstream at {leaked} failed"
    (run_dir / "transcripts.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")

    write_report(run_dir, tmp_path / "report.html", host=aloe_host)
    assert SECRET not in (tmp_path / "report.html").read_text()
    dest = publish_run(run_dir, tmp_path / "results", name="old")
    assert SECRET not in _files_text(dest)


def test_ctrl_c_resume_hint_shows_no_secret(with_fake_plugin, aloe_data_dir, tmp_path):
    out = tmp_path / "run"
    args = ["evaluate", "--model", "fake:mut", "--user", "fake:sim", "--judge", "fake:judge", "--personas",
            "aloe-eval", "--limit", "5", "--turns", "4", "--output", str(out), "--no-cache", "-q",
            "--bootstrap", "100", "--model-option", f"api_key={SECRET}",
            "--judge-option", f"api_base=http://u:{URL_SECRET}@127.0.0.1:1/v1"]
    env = {**os.environ, "ALOE_BENCH_FAKE_DELAY": "0.15", "ALOE_BENCH_DATA_DIR": str(aloe_data_dir)}
    proc = subprocess.Popen([aloe_bench_exe(), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=default_sigint)
    deadline = time.time() + 60
    while time.time() < deadline and len(RunStore(out).read_turns()[0] if out.exists() else []) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    printed = " ".join((stdout + stderr).split())  # the console may wrap long lines
    assert "Resume with:" in printed and "--model-option" in printed and "api_key=<redacted>" in printed
    assert "secrets are not shown" in printed
    assert SECRET not in printed and URL_SECRET not in printed
    assert SECRET not in _files_text(out) and URL_SECRET not in _files_text(out)
