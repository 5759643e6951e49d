"""The testing kit: the built-in ``sample`` personas and ``scripted`` provider, the pytest plugin
(lazy import, fixtures), find_aloe_data, and the protocols of docs/tutorial_protocols.md."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from aloe_bench.errors import ConfigError, DuplicateComponentError
from aloe_bench.hookspecs import hookimpl
from aloe_bench.personas import load_personas
from aloe_bench.plugins import PluginHost

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "tutorial_protocols.md"
SAMPLE_IDS = [f"sample-{i:02d}" for i in range(1, 9)]
#: sha256 of aloe_bench/testing/sample_personas.jsonl: the sample set is stable; change it on purpose only.
SAMPLE_SHA256 = "d97222f01e8eb019"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ALOE_BENCH_DATA_DIR"}
    env.update(extra)
    return env


# -- the sample persona source --------------------------------------------------------------------

def test_sample_personas_are_stable_and_complete():
    host = PluginHost(load_entrypoints=False)
    personas = load_personas("sample", host)
    assert [p.id for p in personas] == SAMPLE_IDS
    assert all(p.profile and p.personality and p.source == "sample" for p in personas)
    assert len({p.content_hash() for p in personas}) == 8
    assert host.persona_sources.get("sample").plugin == "core.persona_sources"
    data = (ROOT / "aloe_bench" / "testing" / "sample_personas.jsonl").read_bytes()
    assert hashlib.sha256(data).hexdigest()[:16] == SAMPLE_SHA256
    with pytest.raises(ConfigError, match="takes no argument"):
        load_personas("sample:3", host)


def test_sample_personas_need_no_aloe_data(tmp_path):
    code = "from aloe_bench.personas import load_personas; print(len(load_personas('sample')))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          env=_env(ALOE_BENCH_DATA_DIR=str(tmp_path / "nothing-here")), timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "8", proc.stderr


# -- the scripted provider ------------------------------------------------------------------------

def test_scripted_is_a_builtin_demo_quality_provider():
    from aloe_bench.backends.resolve import resolve_model
    from aloe_bench.testing import ScriptedModel

    host = PluginHost(load_entrypoints=False)
    entry = host.models.get("scripted")
    assert entry.plugin == "core.scripted" and entry.meta["demo_quality"] is True
    model = resolve_model("scripted:a", host, flavour="x")
    assert isinstance(model, ScriptedModel) and model.demo_quality
    assert model.identity() == {"spec": "scripted:a", "options": {"flavour": "x"}}
    blocked = PluginHost(load_entrypoints=False, env={"ALOE_BENCH_DISABLE_PLUGINS": "core.scripted"})
    assert "scripted" not in blocked.models and "core.scripted" in blocked.skipped


def test_an_in_process_plugin_named_scripted_takes_the_builtins_place():
    from aloe_bench.testing import ScriptedModel, ScriptedPlugin

    class Counting(ScriptedModel):
        pass

    class Mine:
        @staticmethod
        @hookimpl
        def aloe_register_models(register):
            register("scripted", Counting)

    for plugin in (ScriptedPlugin(), Mine()):
        host = PluginHost(load_entrypoints=False, extra_plugins={"scripted": plugin})
        assert host.models.get("scripted").plugin == "scripted"
        assert host.pm.get_plugin("core.scripted") is None
    assert host.models.get("scripted").factory is Counting
    # under any other name the duplicate is an error naming both plugins
    with pytest.raises(DuplicateComponentError, match="'core.scripted' and 'other'"):
        PluginHost(load_entrypoints=False, extra_plugins={"other": Mine()}).models
    # an essential built-in is never replaced
    host = PluginHost(load_entrypoints=False, extra_plugins={"metrics": types.SimpleNamespace()})
    assert "alignment" in host.metrics


def test_cli_evaluate_with_scripted_and_sample_runs_offline(tmp_path):
    run = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "aloe_bench", "evaluate", "--model", "scripted", "--user", "scripted",
                           "--judge", "scripted", "--personas", "sample", "--turns", "2", "-o", str(run), "-q"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env=_env(ALOE_BENCH_CACHE_DIR=str(tmp_path / "cache"), ALOE_BENCH_PLUGINS=""))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["n"] == [8, 8] and summary["personas_source"] == "sample"
    flags = {c["role"]: c["demo_quality"] for c in json.loads((run / "run.json").read_text())["components"]}
    assert flags == {"model": True, "user": True, "judge": True}


# -- the pytest plugin ----------------------------------------------------------------------------

def test_the_pytest_plugin_imports_nothing_heavy():
    code = ("import sys, aloe_bench.testing.pytest_plugin; "
            "print(sorted(m for m in sys.modules if m.startswith(('aloe_bench', 'pydantic', 'numpy'))))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(["aloe_bench", "aloe_bench.hookspecs", "aloe_bench.testing",
                                       "aloe_bench.testing.pytest_plugin"])


def test_testing_exports_import_on_first_use():
    import aloe_bench.testing as testing

    assert {"ScriptedModel", "ScriptedPlugin", "default_script", "sample_personas", "find_aloe_data"} <= set(dir(testing))
    assert testing.ScriptedModel.__module__ == "aloe_bench.testing.scripted"
    with pytest.raises(AttributeError):
        testing.no_such_name  # noqa: B018


def test_fixtures_work_without_aloe_data(tmp_path):
    """In a project of its own, with no ALOE files anywhere: aloe_host works, aloe_data_dir skips."""
    (tmp_path / "conftest.py").write_text(textwrap.dedent("""
        import aloe_bench.testing.data as data

        data.find_aloe_data = lambda start=None: None  # as on a machine without the files
    """))
    (tmp_path / "test_kit.py").write_text(textwrap.dedent("""
        import asyncio, json, urllib.request
        from aloe_bench.evaluation.config import EvalConfig
        from aloe_bench.evaluation.engine import Evaluation

        def test_host(aloe_host, tmp_path):
            cfg = EvalConfig(model="scripted", user="scripted", judge="scripted", personas="sample",
                             turns=1, limit=2, cache=False, bootstrap=0)
            assert asyncio.run(Evaluation(cfg, tmp_path / "run", aloe_host).run()).n == [2]

        def test_data(aloe_data_dir):
            raise AssertionError("must skip")

        def test_server(aloe_openai_server, scripted_model):
            with urllib.request.urlopen(aloe_openai_server.base_url + "/models") as resp:
                assert resp.status == 200
            assert scripted_model(script=lambda m: "x").spec == "scripted"
    """))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", str(tmp_path)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env=_env(ALOE_BENCH_CACHE_DIR=str(tmp_path / "cache")))
    assert re.search(r"2 passed, 1 skipped", proc.stdout), proc.stdout + proc.stderr
    assert "ALOE data not found" in proc.stdout


# -- find_aloe_data -------------------------------------------------------------------------------

def test_find_aloe_data_knows_the_checkout_layout(tmp_path, monkeypatch):
    from aloe_bench.testing import find_aloe_data

    shared = tmp_path / "shared" / "aloe-data"
    shared.mkdir(parents=True)
    (shared / "profile_eval.jsonl").write_text("")
    checkout = tmp_path / "main" / "tests"
    checkout.mkdir(parents=True)
    monkeypatch.delenv("ALOE_BENCH_DATA_DIR", raising=False)
    assert find_aloe_data(checkout) == shared  # ../shared/aloe-data beside the checkout
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setenv("ALOE_BENCH_DATA_DIR", str(elsewhere))
    assert find_aloe_data(checkout) == elsewhere  # the variable wins
    monkeypatch.setenv("ALOE_BENCH_DATA_DIR", str(tmp_path / "missing"))
    assert find_aloe_data(checkout) == shared  # a variable naming no folder is ignored
    official = ROOT.parent / "shared" / "aloe-data"
    if (official / "profile_eval.jsonl").is_file():  # this repository's own layout, from any folder
        monkeypatch.delenv("ALOE_BENCH_DATA_DIR")
        assert find_aloe_data(Path("/")) == official


# -- docs/tutorial_protocols.md -------------------------------------------------------------------

def _tutorial_module() -> types.ModuleType:
    blocks = re.findall(r"^<!-- file: aloe_bench_tutorial.py -->\n```python\n(.*?)^```", TUTORIAL.read_text(),
                        re.M | re.S)
    assert len(blocks) == 3
    module = types.ModuleType("aloe_bench_tutorial")
    exec(compile("\n\n".join(blocks), str(TUTORIAL), "exec"), module.__dict__)
    return module


def test_the_tutorial_protocols_run(tmp_path):
    from aloe_bench.evaluation.config import EvalConfig
    from aloe_bench.evaluation.engine import Evaluation

    host = PluginHost(load_entrypoints=False, extra_plugins={"tutorial": _tutorial_module()})
    cfg = EvalConfig(model="scripted", user="scripted", judge="scripted", user_protocol="terse",
                     user_protocol_options={"max_words": 4}, judge_protocol="profile-use", personas="sample",
                     limit=3, turns=2, cache=False, bootstrap=0)
    summary = asyncio.run(Evaluation(cfg, tmp_path / "run", host).run())
    assert summary.n == [3, 3] and summary.status == "complete"
    turns = [json.loads(line) for line in (tmp_path / "run" / "transcripts.jsonl").read_text().splitlines()]
    assert all(len(t["user"].split()) <= 4 for t in turns)
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    judge = next(c for c in run["components"] if c["role"] == "judge")
    assert judge["kind"] == "profile-use" and set(judge["prompt_hashes"]) == {"profile-use.v1", "profile-use-retry.v1"}


def test_the_tutorial_judge_reasks_then_records_an_unreadable_answer():
    from aloe_bench.components import JudgeRequest
    from aloe_bench.testing import ScriptedModel, sample_personas

    module = _tutorial_module()
    answers = iter(["I would not say.", "Fine", "5\nIt uses the boat."])
    backend = ScriptedModel(script=lambda messages: next(answers))
    request = JudgeRequest(persona=sample_personas()[0], history=[], user_message="Hi", reply="How is the boat?",
                           turn=1)
    [unreadable] = asyncio.run(module.ProfileUseJudge(backend, max_retries=1).score([request]))
    assert (unreadable.score, unreadable.error, unreadable.attempts, unreadable.usage.calls) == (None, None, 2, 2)
    [verdict] = asyncio.run(module.ProfileUseJudge(backend, max_retries=0).score([request]))
    assert (verdict.score, verdict.rationale) == (5.0, "It uses the boat.")
