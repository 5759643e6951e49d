"""Plugin host: entry-point discovery, allow/block lists, duplicates, misspelt hooks, observers."""

import json
import warnings

import pytest

from aloe_bench import hookimpl
from aloe_bench.errors import DuplicateComponentError, PluginError, UnknownComponentError
from aloe_bench.events import RunStarted
from aloe_bench.plugins import PluginHost
from aloe_bench.registry import Registry
from tests.helpers import run_cli


def test_fake_plugin_is_discovered_through_its_entry_point(with_fake_plugin):
    host = PluginHost()
    info = {i.name: i for i in host.plugin_infos()}["fake"]
    assert info.distribution == "aloe-bench-fake-plugin" and info.version == "0.0.1" and not info.builtin
    assert "fake" in host.models and "fake-constant" in host.judges and "fake" in host.persona_sources
    assert "fake-trainer" in host.trainers and "fake-format" in host.reporters and "fake-hash" in host.embedders
    assert host.models.get("fake").plugin == "fake"
    assert "aloe_on_event" in info.hooks and "aloe_register_commands" in info.hooks


def test_plugins_command_lists_the_fake_plugin(with_fake_plugin):
    proc = run_cli("plugins", "--json", check=True)
    data = json.loads(proc.stdout)
    fake = next(p for p in data["plugins"] if p["name"] == "fake")
    assert fake["distribution"] == "aloe-bench-fake-plugin"
    assert fake["registered"]["models"] == ["fake"]
    builtin = [p for p in data["plugins"] if p["builtin"]]
    assert any("aloe-eval" in p["registered"].get("persona_sources", []) for p in builtin)
    table = run_cli("plugins", env={"COLUMNS": "200"}, check=True).stdout
    assert "aloe-bench-fake-plugin" in table


def test_plugin_commands_are_added(with_fake_plugin):
    assert run_cli("fake-hello", check=True).stdout.strip() == "hello from the fake plugin"


@pytest.mark.parametrize("var,value", [("ALOE_BENCH_DISABLE_PLUGINS", "fake"),
                                       ("ALOE_BENCH_DISABLE_PLUGINS", "aloe-bench-fake-plugin"),
                                       ("ALOE_BENCH_PLUGINS", "something-else")])
def test_fake_plugin_can_be_blocked(with_fake_plugin, var, value):
    host = PluginHost(env={var: value})
    assert "fake" not in host.models and "fake" in host.skipped
    assert "aloe" in host.judges  # built-ins always load
    proc = run_cli("plugins", "--json", env={var: value}, check=True)
    assert "fake" not in [p["name"] for p in json.loads(proc.stdout)["plugins"]]


def test_allow_list_admits_named_plugin(with_fake_plugin):
    assert "fake" in PluginHost(env={"ALOE_BENCH_PLUGINS": "fake"}).models


def test_duplicate_name_names_both_plugins(with_fake_plugin, monkeypatch):
    monkeypatch.setenv("ALOE_BENCH_FAKE_DUPLICATE", "1")
    with pytest.raises(DuplicateComponentError) as info:
        PluginHost().judges
    assert "'core.roles'" in str(info.value) and "'fake'" in str(info.value)
    proc = run_cli("plugins")
    assert proc.returncode == 1
    assert "registered by two plugins: 'core.roles' and 'fake'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_misspelt_hook_is_an_error():
    class Typo:
        @hookimpl
        def aloe_register_model(self, register):  # missing "s"
            pass

    with pytest.raises(PluginError, match="hook that does not exist"):
        PluginHost(load_entrypoints=False, extra_plugins={"typo": Typo()})


def test_unknown_name_suggests_close_matches():
    reg = Registry("judge protocol")
    reg.register("litellm", object, plugin="a")
    reg.register("hf", object, plugin="b")
    with pytest.raises(UnknownComponentError) as info:
        reg.get("litelm")
    assert "Unknown judge protocol 'litelm'. Did you mean: litellm?" in str(info.value)
    assert "Available: hf, litellm" in str(info.value)


def test_observer_that_raises_is_a_warning(with_fake_plugin, monkeypatch, tmp_path):
    log = tmp_path / "events.txt"
    monkeypatch.setenv("ALOE_BENCH_FAKE_EVENTS", str(log))
    host = PluginHost()
    host.emit(RunStarted(run_dir="x", conversations=1, turns=1))
    assert log.read_text().split() == ["RunStarted"]
    monkeypatch.setenv("ALOE_BENCH_FAKE_BAD_OBSERVER", "1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        host.emit(RunStarted(run_dir="x", conversations=1, turns=1))
    assert any("observer 'fake' failed" in str(w.message) for w in caught)


def test_broken_plugin_import_warns_and_is_skipped(tmp_path, monkeypatch):
    dist = tmp_path / "broken_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[aloe_bench]\nbroken = broken_plugin_mod\n")
    (tmp_path / "broken_plugin_mod.py").write_text("raise ImportError('needs a missing library')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        host = PluginHost()
    assert "broken" in host.skipped
    assert any("ALOE_BENCH_DISABLE_PLUGINS=broken" in str(w.message) for w in caught)


def test_fake_trainer_reporter_embedder_work(with_fake_plugin):
    host = PluginHost()
    assert host.trainers.get("fake-trainer").factory().train({"a": 1, "b": 2}) == {"keys": 2}
    assert host.reporters.get("fake-format").factory()([{}, {}], []) == "2 rows"
    vecs = host.embedders.get("fake-hash").factory().encode(["abc", "abd"])
    assert vecs.shape == (2, 32)
