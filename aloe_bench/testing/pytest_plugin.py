"""Pytest plugin for aloe-bench and its plugin authors (loaded through the ``pytest11`` entry point).

Every pytest run in an environment where aloe-bench is installed loads this module, so it imports
nothing but pytest at import time: each fixture imports what it needs when a test asks for it.

Fixtures:
- ``aloe_host``: a fresh :class:`~aloe_bench.plugins.PluginHost` (built-ins, including the
  ``scripted`` provider and the ``sample`` persona source, plus the installed plugins), so tests
  never depend on module-global state. Needs no data files; when the official ALOE files are
  found it points ``ALOE_BENCH_DATA_DIR`` at them, so ``aloe-eval`` works too.
- ``aloe_data_dir``: folder with the official ALOE files (``ALOE_BENCH_DATA_DIR``, else a
  ``shared/aloe-data`` folder in or beside the checkout); skips the test when there is none.
- ``scripted_model``: the :class:`~aloe_bench.testing.ScriptedModel` class, to build instances.
- ``aloe_openai_server``: a local OpenAI-compatible HTTP server on 127.0.0.1 (see
  :mod:`aloe_bench.testing.openai_server`). Formerly ``openai_server``.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def aloe_data_dir():
    """Folder holding the four official ALOE persona files (a :class:`pathlib.Path`); skips the
    test when they cannot be found."""
    from aloe_bench.testing.data import find_aloe_data

    found = find_aloe_data()
    if found is None:
        pytest.skip("ALOE data not found: set ALOE_BENCH_DATA_DIR to the folder with profile_eval.jsonl")
    return found


@pytest.fixture
def aloe_host(monkeypatch):
    """A fresh plugin host: the built-ins (``scripted`` provider, ``sample`` personas, ...) and
    the installed plugins. ``ALOE_BENCH_DATA_DIR`` is set when the official files are found."""
    from aloe_bench.plugins import PluginHost
    from aloe_bench.testing.data import find_aloe_data

    found = find_aloe_data()
    if found is not None:
        monkeypatch.setenv("ALOE_BENCH_DATA_DIR", str(found))
    return PluginHost()


@pytest.fixture
def scripted_model():
    """The :class:`~aloe_bench.testing.ScriptedModel` class (call it to build a backend)."""
    from aloe_bench.testing.scripted import ScriptedModel

    return ScriptedModel


@pytest.fixture
def aloe_openai_server():
    """A running local OpenAI-compatible server; yields the server object (``.base_url``,
    ``.script``, ``.requests``, fault injection: see its docs). Stopped after the test."""
    from aloe_bench.testing.openai_server import OpenAICompatServer

    server = OpenAICompatServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
