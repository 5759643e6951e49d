"""Fixtures for the trainer tests: a tiny random chat model (built once per session) and small data
files in exactly the shapes `aloe-bench generate` writes (sft.jsonl, dpo.jsonl, a generate output
folder with stats.json) plus multi-turn mix-in chat data."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

_TOPICS = [("I just got back from a long walk with my dog.", "That sounds lovely! What breed is your dog?",
            "Nice walk! Dogs are nice."),
           ("I work as a nurse and I love gardening.", "Nursing is demanding; gardening must help you unwind. "
            "What do you grow?", "Gardening is a hobby."),
           ("Could you recommend a good history book?", "Since you read before bed, try a narrative history "
            "such as SPQR.", "Read a book."),
           ("My kids are learning the piano this year.", "How exciting for them! Are they enjoying practice?",
            "Piano is an instrument.")]


def _rows(kind: str) -> list[dict]:
    rows = []
    for i, (user, chosen, rejected) in enumerate(_TOPICS):
        for turn in (1, 2):
            prompt = [{"role": "user", "content": user}]
            if turn == 2:
                prompt += [{"role": "assistant", "content": chosen}, {"role": "user", "content": "Tell me more."}]
            row = {"schema_version": 1, "prompt": prompt, "persona_id": f"p{i}", "conversation_id": f"c{i}",
                   "turn": turn}
            if kind == "sft":
                row["completion"] = [{"role": "assistant", "content": chosen}]
            else:
                row["chosen"] = [{"role": "assistant", "content": chosen}]
                row["rejected"] = [{"role": "assistant", "content": rejected}]
            rows.append(row)
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    """Write ``rows`` as JSONL."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """A generate output folder (complete) holding sft.jsonl and dpo.jsonl, plus mix.jsonl beside it."""
    base = tmp_path_factory.mktemp("trl-data")
    gen = base / "gen"
    write_jsonl(gen / "sft.jsonl", _rows("sft"))
    write_jsonl(gen / "dpo.jsonl", _rows("dpo"))
    write_jsonl(gen / "trees.jsonl", [])
    (gen / "run.json").write_text("{}", encoding="utf-8")
    (gen / "stats.json").write_text(json.dumps({"status": "complete"}), encoding="utf-8")
    write_jsonl(base / "mix.jsonl", [
        {"messages": [{"role": "user", "content": "List files in the folder."},
                      {"role": "assistant", "content": "I will run ls."},
                      {"role": "user", "content": "Observation: a.txt b.txt"},
                      {"role": "assistant", "content": "The folder holds a.txt and b.txt."}]},
        {"messages": [{"role": "system", "content": "You are a coding agent."},
                      {"role": "user", "content": "Print hello."},
                      {"role": "assistant", "content": "print('hello')"}]},
    ])
    return base


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """Folder of a tiny random Llama chat model (512-token BPE, ChatML template with generation markers)."""
    from aloe_bench_hf.tiny import build_tiny_chat_model

    return build_tiny_chat_model(tmp_path_factory.mktemp("tiny-llama"), arch="llama")


@pytest.fixture(scope="session")
def hf_cache_dir(tmp_path_factory) -> Path:
    """The aloe-bench cache folder for tests that need SmolLM2 (ALOE_BENCH_TEST_CACHE_DIR keeps it)."""
    env = os.environ.get("ALOE_BENCH_TEST_CACHE_DIR")
    path = Path(env) if env else tmp_path_factory.getbasetemp() / "aloe-trl-cache"
    path.mkdir(parents=True, exist_ok=True)
    return path
