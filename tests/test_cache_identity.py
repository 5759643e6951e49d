"""The call cache keys calls by the code that answers them: a new release of the providing
plugin makes fresh calls, unless the provider declares that its identity pins its replies."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import aloe_bench.plugins as plugins_mod
from aloe_bench import __version__
from aloe_bench.backends.cache import CachedModel, CallCache
from aloe_bench.components import ChatModel, GenerationParams, Reply
from aloe_bench.hookspecs import hookimpl
from aloe_bench.plugins import ENTRY_POINT_GROUP, PluginHost
from aloe_bench.records import Message
from aloe_bench.backends.resolve import resolve_model
from aloe_bench.testing import ScriptedPlugin

HELLO = [[Message(role="user", content="hello")]]
PARAMS = GenerationParams()


class CountingModel(ChatModel):
    """Answers with how many calls it has made (so a cached reply is recognisable)."""

    calls = 0

    def __init__(self, rest: str = "", **options):
        self.spec = f"counting:{rest}"

    async def acomplete(self, messages, params):
        type(self).calls += 1
        return Reply(text=f"call {type(self).calls}")


class PinnedModel(CountingModel):
    """A hosted-API-like provider: its identity alone pins its replies."""

    identity_pins_replies = True

    def __init__(self, rest: str = "", **options):
        self.spec = f"pinned:{rest}"


class CountingPlugin:
    """Registers both providers."""

    @staticmethod
    @hookimpl
    def aloe_register_models(register):
        register("counting", CountingModel)
        register("pinned", PinnedModel)


def host_with_release(monkeypatch, version: str) -> PluginHost:
    """A host whose only external plugin comes from distribution aloe-bench-counting ``version``,
    discovered through the entry-point path like an installed plugin."""
    ep = SimpleNamespace(name="counting", value="aloe_bench_counting",
                         dist=SimpleNamespace(name="aloe-bench-counting", version=version),
                         load=lambda: CountingPlugin())
    monkeypatch.setattr(plugins_mod, "entry_points", lambda group: [ep] if group == ENTRY_POINT_GROUP else [])
    return PluginHost(env={})


def ask(host: PluginHost, spec: str, cache: CallCache) -> Reply:
    model = CachedModel(resolve_model(spec, host), cache)
    return asyncio.run(model.agenerate(HELLO, PARAMS))[0]


def test_a_new_plugin_release_misses_the_cache_unless_identity_pins_replies(monkeypatch, tmp_path):
    cache = CallCache(tmp_path / "calls.sqlite")
    try:
        v1 = host_with_release(monkeypatch, "1.0")
        first = ask(v1, "counting:x", cache)
        again = ask(v1, "counting:x", cache)
        assert not first.cached and again.cached and again.text == first.text  # same release: a hit

        v2 = host_with_release(monkeypatch, "2.0")
        fresh = ask(v2, "counting:x", cache)
        assert not fresh.cached and fresh.text != first.text  # new release: the new code answers

        pinned_v1 = ask(v1, "pinned:gpt", cache)
        pinned_v2 = ask(v2, "pinned:gpt", cache)
        assert not pinned_v1.cached and pinned_v2.cached and pinned_v2.text == pinned_v1.text
    finally:
        cache.close()


def test_resolve_model_records_the_providing_distribution(monkeypatch):
    host = host_with_release(monkeypatch, "3.1")
    model = resolve_model("counting:x", host)
    assert model.provided_by == {"dist": "aloe-bench-counting", "version": "3.1"}
    cached = CachedModel(model, None)
    assert cached.cache_identity() == {"backend": model.identity(),
                                       "code": {"dist": "aloe-bench-counting", "version": "3.1"}}
    assert CachedModel(resolve_model("pinned:x", host), None).cache_identity() == {"spec": "pinned:x"}
    # An in-process plugin object: the distribution its module belongs to (here aloe-bench).
    scripted = PluginHost(load_entrypoints=False, extra_plugins={"scripted": ScriptedPlugin()})
    assert resolve_model("scripted", scripted).provided_by == {"dist": "aloe-bench", "version": __version__}
    # One whose module no installed distribution provides (this test module): aloe-bench too.
    local = PluginHost(load_entrypoints=False, extra_plugins={"local": CountingPlugin()})
    assert resolve_model("counting:x", local).provided_by == {"dist": "aloe-bench", "version": __version__}


def test_litellm_provider_declares_that_its_identity_pins_replies():
    from aloe_bench_litellm.model import LiteLLMModel

    assert LiteLLMModel.identity_pins_replies is True
    assert ChatModel.identity_pins_replies is False
