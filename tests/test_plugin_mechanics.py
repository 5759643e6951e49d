"""Plugin mechanics through a plugin installed as a real distribution (tests/fake_plugin):
hooks called by argnames with plugin-attributed errors, specs validated before any call,
typed registries, replaceable built-ins, tracing, protocol options and backend-free protocols."""

from __future__ import annotations

import asyncio
import json

import pytest

from aloe_bench.errors import ConfigError, PluginError, UnknownComponentError
from aloe_bench.evaluation.config import EvalConfig
from aloe_bench.evaluation.engine import Evaluation
from aloe_bench.hookspecs import hookimpl
from aloe_bench.plugins import PluginHost
from aloe_bench.reporting.leaderboard import leaderboard_rows
from aloe_bench.reporting.results import load_result
from tests.helpers import run_cli


def test_a_hook_implementation_may_take_none_of_the_hooks_arguments(with_fake_plugin):
    host = PluginHost()
    assert "fake-minimal" in {i.name for i in host.plugin_infos()}
    assert "fake_chars" in host.metrics  # the registry was built: the no-argument hook was called
    import aloe_bench_fake.minimal as minimal

    assert minimal.CALLED


def test_a_plugin_that_raises_in_a_hook_is_named(with_fake_plugin, monkeypatch):
    monkeypatch.setenv("ALOE_BENCH_FAKE_RAISE", "1")
    with pytest.raises(PluginError, match="Plugin 'fake' failed in aloe_register_metrics: RuntimeError: fake"):
        PluginHost().metrics
    proc = run_cli("plugins")
    assert proc.returncode == 1 and "Plugin 'fake' failed in aloe_register_metrics" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_factory_that_raises_or_returns_the_wrong_thing_is_named():
    class Broken:
        @staticmethod
        @hookimpl
        def aloe_register_models(register):
            register("boom", lambda rest, **o: 1 / 0)
            register("notmodel", lambda rest, **o: "a string")

    host = PluginHost(load_entrypoints=False, extra_plugins={"broken": Broken()})
    with pytest.raises(PluginError, match="model provider 'boom' of plugin 'broken' failed to build: ZeroDivisionError"):
        host.models.get("boom").build("")
    with pytest.raises(PluginError, match="'notmodel' of plugin 'broken' returned str: not an aloe_bench.components.ChatModel"):
        host.models.get("notmodel").build("")


def test_registration_keywords_are_checked_per_kind():
    class Typo:
        @staticmethod
        @hookimpl
        def aloe_register_judges(register):
            register("j", lambda backend: None, needs_bakend=False)

    with pytest.raises(PluginError, match="unknown keyword.s. needs_bakend"):
        PluginHost(load_entrypoints=False, extra_plugins={"typo": Typo()}).judges


def test_unknown_providers_fail_with_suggestions_before_any_call(with_fake_plugin, aloe_data_dir, tmp_path):
    calls = tmp_path / "calls.log"
    proc = run_cli("evaluate", "--model", "fak:mut", "--user", "fake:sim", "--judge", "fake:j", "--personas", "fake:2",
                   "--turns", "1", "-o", str(tmp_path / "run"), "--no-cache", "-q",
                   env={"ALOE_BENCH_FAKE_CALLS": str(calls)})
    assert proc.returncode == 2 and "Unknown model provider 'fak'" in proc.stderr and "Did you mean: fake?" in proc.stderr
    assert not calls.exists() and not (tmp_path / "run").exists()
    host = PluginHost()
    with pytest.raises(UnknownComponentError, match="Did you mean: hf"):
        from aloe_bench.backends.resolve import split_spec

        split_spec("hff:Qwen/x", host.models)
    assert split_spec("gpt-4o-mini", host.models) == ("litellm", "gpt-4o-mini")  # litellm claims it
    assert split_spec("ollama/llama3:8b", host.models) == ("litellm", "ollama/llama3:8b")


def test_the_default_spec_comes_from_the_provider_that_declares_it():
    host = PluginHost()  # aloe-bench-hf declares smollm2 the default
    assert EvalConfig().with_default_specs(host).model == "smollm2"
    bare = PluginHost(env={"ALOE_BENCH_DISABLE_PLUGINS": "hf,aloe-bench-hf"})
    with pytest.raises(ConfigError, match="no installed plugin provides a default model"):
        EvalConfig().with_default_specs(bare)


def test_backend_free_protocols_with_options_load_no_backend(with_fake_plugin, tmp_path):
    calls = tmp_path / "calls.log"
    run = tmp_path / "run"
    proc = run_cli("evaluate", "--model", "fake:mut", "--user", "fake:unused-user", "--judge", "fake:unused-judge",
                   "--user-protocol", "fake-echo", "--judge-protocol", "fake-constant",
                   "--judge-protocol-option", "value=4", "--personas", "fake:2", "--turns", "2", "-o", str(run),
                   "--no-cache", "-q", env={"ALOE_BENCH_FAKE_CALLS": str(calls)})
    assert proc.returncode == 0, proc.stderr
    assert set(calls.read_text().split()) == {"fake:mut"}  # neither simulator nor judge had a backend
    summary = json.loads((run / "summary.json").read_text())
    assert summary["al"] == [4.0, 4.0]
    assert summary["extra"]["fake_chars"]["chars"] > 0  # a metric registered as the function itself
    spec = json.loads((run / "run.json").read_text())
    judge = next(c for c in spec["components"] if c["role"] == "judge")
    assert judge["kind"] == "fake-constant" and judge["options"] == {"value": 4} and judge["spec"] == ""
    assert "fake-constant" in proc.stderr and "Constant score" in proc.stderr  # the run header names it

    rows, _ = leaderboard_rows([load_result(run)])
    assert rows[0]["extra"]["fake_chars"]["chars"] == summary["extra"]["fake_chars"]["chars"]

    bad = run_cli("evaluate", "--model", "fake:mut", "--user-protocol", "fake-echo", "--judge-protocol",
                  "fake-constant", "--judge-protocol-option", "valeu=4", "--personas", "fake:2", "--turns", "1",
                  "-o", str(tmp_path / "bad"), "--no-cache", "-q")
    assert bad.returncode == 2 and "takes no option 'valeu'" in bad.stderr and "value" in bad.stderr


def test_built_ins_can_be_blocked_and_replaced(with_fake_plugin, monkeypatch):
    monkeypatch.setenv("ALOE_BENCH_FAKE_DUPLICATE", "1")  # the fake plugin also registers a judge "aloe"
    host = PluginHost(env={"ALOE_BENCH_DISABLE_PLUGINS": "core.roles"})
    assert host.judges.get("aloe").plugin == "fake"
    assert "core.roles" in host.skipped
    monkeypatch.delenv("ALOE_BENCH_FAKE_DUPLICATE")
    with pytest.warns(UserWarning, match="essential"):
        kept = PluginHost(env={"ALOE_BENCH_DISABLE_PLUGINS": "core.metrics"})
    assert "alignment" in kept.metrics


def test_hook_calls_can_be_traced(with_fake_plugin):
    proc = run_cli("plugins", env={"ALOE_BENCH_TRACE_PLUGINS": "1"})
    assert proc.returncode == 0
    assert "aloe_register_models -> plugin 'fake'" in proc.stderr
    assert "plugin 'fake' registered model provider 'fake'" in proc.stderr


def test_plugins_command_lists_components_with_descriptions(with_fake_plugin):
    proc = run_cli("plugins", "--json")
    data = json.loads(proc.stdout)
    comps = {(c["kind"], c["name"]): c for c in data["components"]}
    assert comps[("judge protocol", "fake-constant")]["description"].startswith("Constant score")
    assert "no backend" in comps[("judge protocol", "fake-constant")]["flags"]
    assert "default spec" in comps[("model provider", "smollm2")]["flags"]
    assert "claims bare model names" in comps[("model provider", "litellm")]["flags"]


def test_protocols_reuse_registered_ones_through_the_helper(aloe_host, scripted_model):
    from aloe_bench.components import GenerationParams, JudgeRequest
    from aloe_bench.protocols import build_judge
    from aloe_bench.records import Persona

    judge = build_judge("aloe", scripted_model(), host=aloe_host, mode="turn", params=GenerationParams(max_tokens=8))
    req = JudgeRequest(persona=Persona(id="p", profile="A cook.", personality="Calm."), history=[],
                       user_message="Hi", reply="Hello", turn=1)
    verdict = asyncio.run(judge.score([req]))[0]
    assert verdict.score is not None and judge.mode == "turn"


def test_a_run_with_scripted_roles_records_no_demo_flag_and_smollm2_declares_it(tmp_path):
    from aloe_bench.testing import ScriptedPlugin  # registers scripted without demo_quality (the built-in sets it)

    host = PluginHost(extra_plugins={"scripted": ScriptedPlugin()})
    cfg = EvalConfig(model="scripted:m", user="scripted:u", judge="scripted:j", turns=1, limit=1, cache=False,
                     bootstrap=10)
    summary = asyncio.run(Evaluation(cfg, tmp_path / "r", host).run())
    assert not any(c.demo_quality for c in summary.components)
    assert PluginHost().models.get("smollm2").meta["demo_quality"] is True


def test_a_plugin_generation_protocol_plays_a_generate_role(with_fake_plugin, tmp_path):
    host = PluginHost()
    assert "fake-upper" in host.generation_protocols
    assert host.generation_protocols.get("fake-upper").meta == {"needs_backend": False, "role": "responder"}
    out = tmp_path / "gen"
    roles = [a for role in ("user", "induction", "hinted", "unhinted", "pair-judge") for a in (f"--{role}", "scripted")]
    proc = run_cli("generate", *roles, "--hinted-protocol", "fake-upper", "--protocol-option", "hinted.suffix=?",
                   "--personas", "fake:2", "--turns", "2", "-o", str(out), "--no-cache", "-q")
    assert proc.returncode == 0, proc.stderr
    trees = [json.loads(line) for line in (out / "trees.jsonl").read_text().splitlines()]
    assert len(trees) == 4
    for t in trees:  # the hinted role was played by the plugin, with the induced text as its hint
        assert t["hinted"] == t["user"].upper() + f"? [{len(t['induced'])}]"
    hinted = {c["role"]: c for c in json.loads((out / "run.json").read_text())["components"]}["hinted"]
    assert hinted["kind"] == "fake-upper" and hinted["spec"] == "" and hinted["options"] == {"suffix": "?"}
    # a responder cannot judge, and a score judge cannot compare: one-line errors naming what fits
    proc = run_cli("generate", *roles, "--pair-judge-protocol", "fake-constant", "--personas", "fake:1",
                   "--turns", "1", "-o", str(tmp_path / "bad"), "--no-cache", "-q")
    assert proc.returncode == 2 and "task='score'" in proc.stderr and "aloe-pairwise" in proc.stderr
    assert "Traceback" not in proc.stderr
