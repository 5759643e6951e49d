"""Test helpers for aloe-bench and its plugin authors (the testing kit).

The pytest fixtures live in :mod:`aloe_bench.testing.pytest_plugin` (loaded automatically through
the ``pytest11`` entry point). This package holds what they use, and needs no pytest:

- :class:`ScriptedModel` (deterministic answers from a Python function; the built-in
  ``scripted`` model provider), :func:`default_script` and :class:`ScriptedPlugin`
  (:mod:`aloe_bench.testing.scripted`);
- :func:`sample_personas`, the built-in ``sample`` persona source (:mod:`aloe_bench.testing.sample`);
- :func:`find_aloe_data`, the official ALOE files when present (:mod:`aloe_bench.testing.data`);
- :mod:`aloe_bench.testing.openai_server`, a local OpenAI-compatible server.

Names are imported on first use, so importing this package (and the pytest plugin, which every
pytest run of an environment with aloe-bench loads) costs next to nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aloe_bench.testing.data import find_aloe_data
    from aloe_bench.testing.sample import sample_personas
    from aloe_bench.testing.scripted import ScriptedModel, ScriptedPlugin, default_script

#: Public name -> the submodule that defines it.
_EXPORTS = {
    "ScriptedModel": "aloe_bench.testing.scripted",
    "ScriptedPlugin": "aloe_bench.testing.scripted",
    "default_script": "aloe_bench.testing.scripted",
    "sample_personas": "aloe_bench.testing.sample",
    "find_aloe_data": "aloe_bench.testing.data",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import a public name from its submodule on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """Module attributes, the not yet imported public names included."""
    return sorted(set(globals()) | set(_EXPORTS))
