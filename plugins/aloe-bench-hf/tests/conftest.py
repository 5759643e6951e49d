"""Fixtures for the transformers plugin tests: a tiny random chat model (built once per session)
and the real SmolLM2, converted once per session into a temporary cache.

``ALOE_BENCH_TEST_CACHE_DIR`` points the SmolLM2 conversion at a persistent folder instead (CI can
keep it between runs); under pytest-xdist the workers of one run share one folder, and the
conversion's file lock makes sure only one of them converts.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Before anything imports huggingface_hub, which reads these once at import time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def cpu_threads_per_worker() -> int:
    """torch threads per test process: the CPUs shared among pytest-xdist workers, or one when the
    machine is already busy. Oversubscribed OpenMP threads spin-wait and make CPU generation many
    times slower."""
    from aloe_bench_hf.chat_model import available_cpus

    cpus = available_cpus()
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if hasattr(os, "getloadavg") and os.getloadavg()[0] >= cpus:
        return 1  # other processes already fill the CPUs (measured: 2 threads ran 7x slower than 1)
    return max(1, cpus // max(1, workers))


@pytest.fixture(scope="session")
def cpu_threads() -> int:
    """torch threads for models loaded in tests (see :func:`cpu_threads_per_worker`)."""
    return cpu_threads_per_worker()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """Folder of a tiny random Llama chat model (512-token BPE, ChatML template)."""
    from aloe_bench_hf.tiny import build_tiny_chat_model

    return build_tiny_chat_model(tmp_path_factory.mktemp("tiny-llama"), arch="llama")


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    """The tiny model loaded once through the ``hf`` provider factory (CPU, float32)."""
    from aloe_bench_hf.plugin import hf_model

    # One thread: a hidden size of 64 gains nothing from more.
    model = hf_model(str(tiny_model_dir), device="cpu", batch_size=4, threads=1)
    yield model
    model.close()


@pytest.fixture(scope="session")
def hf_cache_dir(tmp_path_factory) -> Path:
    """The aloe-bench cache folder (``ALOE_BENCH_CACHE_DIR``) for tests that need SmolLM2."""
    env = os.environ.get("ALOE_BENCH_TEST_CACHE_DIR")
    if env:
        path = Path(env)
    else:
        base = tmp_path_factory.getbasetemp()
        # xdist workers get <run>/popen-gwN: share <run> so the model converts once per run.
        path = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "aloe-hf-cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def smollm2(hf_cache_dir):
    """The embedded SmolLM2 resolved offline through the plugin host from the spec ``smollm2``."""
    from aloe_bench.plugins import PluginHost
    from aloe_bench.backends.resolve import resolve_model

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALOE_BENCH_CACHE_DIR", str(hf_cache_dir))
        mp.setenv("HF_HUB_OFFLINE", "1")
        # Load only this plugin: the test must not depend on the state of other installed plugins.
        model = resolve_model("smollm2", PluginHost(env={"ALOE_BENCH_PLUGINS": "hf"}), device="cpu",
                              threads=cpu_threads_per_worker())
    yield model
    model.close()
