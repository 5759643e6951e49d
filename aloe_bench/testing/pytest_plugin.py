"""Pytest plugin for aloe-bench and its plugin authors (loaded through the ``pytest11`` entry point).

Fixtures:
- ``aloe_data_dir``: folder with the official ALOE files (``ALOE_BENCH_DATA_DIR``, else the
  ``shared/aloe-data`` folder beside the checkout); skips when neither exists.
- ``aloe_host``: a fresh :class:`~aloe_bench.plugins.PluginHost` with the ``scripted`` test
  provider added, so tests never depend on module-global state.
- ``scripted_model``: factory for :class:`~aloe_bench.testing.ScriptedModel`.
- ``openai_server``: a local OpenAI-compatible HTTP server on 127.0.0.1 (see
  :mod:`aloe_bench.testing.openai_server`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aloe_bench.testing import ScriptedModel, ScriptedPlugin, find_aloe_data


@pytest.fixture(scope="session")
def aloe_data_dir() -> Path:
    """Folder holding the four official ALOE persona files."""
    found = find_aloe_data()
    if found is None:
        pytest.skip("ALOE data not found: set ALOE_BENCH_DATA_DIR")
    return found


@pytest.fixture
def aloe_host(aloe_data_dir, monkeypatch):
    """A fresh plugin host (installed plugins + ``scripted``), with the ALOE data folder set."""
    from aloe_bench.plugins import PluginHost

    monkeypatch.setenv("ALOE_BENCH_DATA_DIR", str(aloe_data_dir))
    return PluginHost(extra_plugins={"scripted": ScriptedPlugin()})


@pytest.fixture
def scripted_model():
    """Factory for :class:`ScriptedModel` instances."""
    return ScriptedModel


@pytest.fixture
def openai_server():
    """A running local OpenAI-compatible server; yields the server object (``.base_url``,
    ``.script``, ``.requests``, fault injection: see its docs). Stopped after the test."""
    from aloe_bench.testing.openai_server import OpenAICompatServer

    server = OpenAICompatServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
