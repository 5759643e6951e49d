"""Fixtures for the lm-eval plugin tests: two tiny random chat models on disk (built once per
session, see :mod:`aloe_bench_hf.tiny`) and the tiny model loaded once through lm-eval's ``hf``
backend."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Before anything imports huggingface_hub, which reads these once at import time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """Folder of a tiny random Llama chat model (512-token BPE, ChatML template)."""
    from aloe_bench_hf.tiny import build_tiny_chat_model

    return build_tiny_chat_model(tmp_path_factory.mktemp("tiny-llama"), arch="llama")


@pytest.fixture(scope="session")
def other_model_dir(tmp_path_factory) -> Path:
    """Another tiny model (other weights): the "trained" side of comparisons."""
    from aloe_bench_hf.tiny import build_tiny_chat_model

    return build_tiny_chat_model(tmp_path_factory.mktemp("tiny-llama-1"), arch="llama", seed=1)


@pytest.fixture(scope="session")
def tiny_lm(tiny_model_dir):
    """The tiny model as an lm-eval ``HFLM`` built through lm-eval's registry (CPU, float32)."""
    from aloe_bench_lmeval.spec import build_lm, parse_backend_spec

    return build_lm(parse_backend_spec(f"hf:pretrained={tiny_model_dir},dtype=float32"), device="cpu")
