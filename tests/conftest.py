"""Test-suite setup: offline, isolated cache, official ALOE data from ../shared, the fake plugin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aloe_bench.testing import find_aloe_data

ROOT = Path(__file__).resolve().parents[1]
FAKE_PLUGIN_SRC = ROOT / "tests" / "fake_plugin"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
_data = find_aloe_data()
if _data is not None:
    os.environ.setdefault("ALOE_BENCH_DATA_DIR", str(_data))


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Every test session gets its own cache dir unless ALOE_BENCH_CACHE_DIR is set already
    (CI keeps one so the converted SmolLM2 folder is reused across test modules)."""
    if "ALOE_BENCH_CACHE_DIR" not in os.environ:
        os.environ["ALOE_BENCH_CACHE_DIR"] = str(tmp_path_factory.mktemp("aloe-cache"))
    yield


@pytest.fixture(scope="session")
def fake_plugin_site(tmp_path_factory) -> Path:
    """The fake third-party plugin, pip-installed into a private folder (not the venv)."""
    target = tmp_path_factory.mktemp("fake-site")
    build = tmp_path_factory.mktemp("fake-build")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--no-compile", "--target", str(target), str(FAKE_PLUGIN_SRC)],
                   check=True, cwd=build, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    return target


@pytest.fixture
def with_fake_plugin(fake_plugin_site, monkeypatch) -> Path:
    """Make the fake plugin importable and discoverable in this process and in subprocesses."""
    monkeypatch.syspath_prepend(str(fake_plugin_site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(fake_plugin_site),
                                                                   os.environ.get("PYTHONPATH", "")])))
    return fake_plugin_site



@pytest.fixture(scope="module")
def server():
    """The project's OpenAI-compatible server on 127.0.0.1, one per test module; a module's tests
    set its script (tests.helpers.serving) and reach it over HTTP through litellm."""
    from aloe_bench.testing.openai_server import OpenAICompatServer

    with OpenAICompatServer() as srv:
        yield srv
