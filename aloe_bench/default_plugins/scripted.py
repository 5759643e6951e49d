"""Built-in ``scripted`` model provider: deterministic replies without any model, so a plugin can
be run end to end offline (``--model scripted --user scripted --judge scripted``).

Registered ``demo_quality=True``: runs simulated or judged by it are flagged, never mistaken for
measurements. Registration imports nothing: the backend (:mod:`aloe_bench.testing.scripted`)
loads when a spec names it. A test may put its own plugin in this one's place by giving it the
name ``scripted`` (``PluginHost(extra_plugins={"scripted": ...})``).
"""

from __future__ import annotations

from aloe_bench.hookspecs import hookimpl


def scripted(rest: str = "", **options):
    """A :class:`~aloe_bench.testing.ScriptedModel` for the spec ``scripted[:REST]``."""
    from aloe_bench.testing.scripted import ScriptedModel

    return ScriptedModel(rest, **options)


@hookimpl
def aloe_register_models(register):
    """Register ``scripted``."""
    register("scripted", scripted, demo_quality=True, price=lambda rest: (0.0, 0.0),
             description="Deterministic scripted replies, no model (tests, plugin development)")
