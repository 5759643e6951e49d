"""HFChatModel on a tiny random model: batching, slicing, sampling, probabilities, truncation."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys

import pytest

from aloe_bench.components import GenerationParams
from aloe_bench.errors import AloeBenchError, ConfigError
from aloe_bench.records import Message

PROMPTS = [
    "Hi",
    "Tell me about your garden and the tomatoes you grow every summer in the backyard, please.",
    "What is two plus two?",
    "I like hiking in the mountains with my dog on weekends. Any trail tips?",
    "Ok",
    "My kids are learning the piano and the violin; how do I keep them practising without fights?",
]
GREEDY = GenerationParams(max_tokens=16, temperature=None)


def chat(*texts: str) -> list[Message]:
    """Alternating user/assistant messages starting with the user."""
    return [Message(role="user" if i % 2 == 0 else "assistant", content=t) for i, t in enumerate(texts)]


def run(coro):
    return asyncio.run(coro)


def test_tiny_builder_is_deterministic_and_marks_assistant_tokens(tmp_path):
    from transformers import AutoTokenizer

    from aloe_bench_hf.tiny import build_tiny_chat_model

    a = build_tiny_chat_model(tmp_path / "a")
    b = build_tiny_chat_model(tmp_path / "b")
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    assert (a / "tokenizer.json").read_bytes() == (b / "tokenizer.json").read_bytes()
    tok = AutoTokenizer.from_pretrained(a)
    assert tok.pad_token == "<|pad|>" and tok.eos_token == "<|im_end|>"
    out = tok.apply_chat_template([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello there"}],
                                  return_assistant_tokens_mask=True, return_dict=True)
    masked = [t for t, m in zip(out["input_ids"], out["assistant_masks"]) if m]
    assert tok.decode(masked) == "Hello there<|im_end|>"
    with pytest.raises(ConfigError):
        build_tiny_chat_model(tmp_path / "c", arch="gpt9")


def test_batched_generation_equals_one_by_one(tiny_model):
    batch = [chat(p) for p in PROMPTS] + [chat("Hi", "Hello, how are you?", "Fine, thanks. And you?")]
    together = run(tiny_model.agenerate(batch, GREEDY))  # batch_size 4: two padded chunks
    alone = [run(tiny_model.agenerate([c], GREEDY))[0] for c in batch]
    assert [r.text for r in together] == [r.text for r in alone]
    assert [r.completion_tokens for r in together] == [r.completion_tokens for r in alone]
    texts = [r.text for r in together]
    assert all(texts) and len(set(texts)) == len(texts), texts  # outputs depend on the input


def test_qwen2_architecture_batches_too(tmp_path):
    from aloe_bench_hf.plugin import hf_model
    from aloe_bench_hf.tiny import build_tiny_chat_model

    model = hf_model(str(build_tiny_chat_model(tmp_path / "q", arch="qwen2")), device="cpu", threads=1)
    assert type(model.model).__name__ == "Qwen2ForCausalLM"
    batch = [chat(p) for p in PROMPTS[:4]]
    assert [r.text for r in run(model.agenerate(batch, GREEDY))] == \
        [run(model.agenerate([c], GREEDY))[0].text for c in batch]
    model.close()


def test_reply_is_only_the_generated_tokens(tiny_model):
    message = "The secret word is PINEAPPLE-ZEBRA-7781, remember it for me please."
    reply = run(tiny_model.agenerate([chat(message)], GREEDY))[0]
    assert reply.ok and reply.text
    assert message not in reply.text and "PINEAPPLE" not in reply.text
    assert "<|im_start|>" not in reply.text and "<|im_end|>" not in reply.text
    assert reply.prompt_tokens == len(tiny_model.encode(chat(message)))
    assert 0 < reply.completion_tokens <= GREEDY.max_tokens
    assert reply.finish_reason in ("stop", "length") and reply.cost == 0.0


def test_stop_strings_cut_the_reply(tiny_model):
    full = run(tiny_model.agenerate([chat(PROMPTS[1])], GenerationParams(max_tokens=24)))[0].text
    assert len(full) > 8
    stop = full[5:8]
    cut = run(tiny_model.agenerate([chat(PROMPTS[1])], GenerationParams(max_tokens=24, stop=(stop,))))[0]
    assert cut.text == full[:full.index(stop)].strip()
    assert cut.finish_reason == "stop"


def test_sampling_is_reproducible_with_a_seed(tiny_model):
    batch = [chat(p) for p in PROMPTS[:3]]
    params = GenerationParams(max_tokens=16, temperature=1.0, top_p=0.95, seed=11)
    first = [r.text for r in run(tiny_model.agenerate(batch, params))]
    again = [r.text for r in run(tiny_model.agenerate(batch, params))]
    other = [r.text for r in run(tiny_model.agenerate(batch, params.model_copy(update={"seed": 12})))]
    greedy = [r.text for r in run(tiny_model.agenerate(batch, GREEDY.model_copy(update={"max_tokens": 16})))]
    assert first == again
    assert first != other
    assert first != greedy


def test_choice_probs_are_normalised_and_batch_independent(tiny_model):
    choices = ["1", "2", "3", "4", "5"]
    batch = [chat(p) for p in PROMPTS]
    probs = run(tiny_model.achoice_probs(batch, choices, GREEDY))
    assert len(probs) == len(batch)
    for p in probs:
        assert set(p) == set(choices)
        assert sum(p.values()) == pytest.approx(1.0, abs=1e-6)
        assert all(0.0 <= v <= 1.0 for v in p.values())
    alone = [run(tiny_model.achoice_probs([c], choices, GREEDY))[0] for c in batch]
    for a, b in zip(probs, alone):
        assert a == pytest.approx(b, abs=1e-5)
    assert len({json.dumps(p, sort_keys=True) for p in probs}) > 1  # depends on the input
    # each item carries its call's usage (the prompt's tokens), so probability judging is accounted
    assert all(p.usage.calls == 1 and p.usage.prompt_tokens == len(tiny_model.encode(m, 1)) for p, m in zip(probs, batch))
    # Both "4" and " 4" start the answer "4" in this byte-level tokenizer.
    assert all(len(ids) == 2 for ids in tiny_model.choice_token_ids(choices).values())


def test_choice_probs_reject_indistinguishable_choices(tiny_model):
    with pytest.raises(ConfigError, match="distinct first token"):
        run(tiny_model.achoice_probs([chat("Hi")], ["yes please", "yes thanks"], GREEDY))


def test_max_input_tokens_drops_oldest_messages_first(tiny_model_dir):
    from aloe_bench_hf.plugin import hf_model

    model = hf_model(str(tiny_model_dir), device="cpu", threads=1, max_input_tokens=48)
    history = chat("first message about gardening " * 3, "an old answer " * 3,
                   "second message about hiking " * 3, "another answer " * 3, "the latest question?")
    ids = model.encode(history)
    assert len(ids) <= 48
    text = model.tokenizer.decode(ids)
    assert "the latest question?" in text and "gardening" not in text
    assert text.startswith("<|im_start|>user")  # a whole user message leads after truncation
    huge = model.encode(chat("word " * 400))
    assert len(huge) == 48
    assert model.tokenizer.decode(huge).endswith("<|im_start|>assistant\n")  # the generation prompt survives
    reply = run(model.agenerate([history], GREEDY))[0]
    assert reply.ok and reply.prompt_tokens == len(ids)
    assert model.identity()["max_input_tokens"] == 48
    model.close()


def test_concurrent_roles_share_one_instance(tiny_model):
    batch = [chat(p) for p in PROMPTS[:3]]

    async def both():
        return await asyncio.gather(tiny_model.agenerate(batch, GREEDY),
                                    tiny_model.achoice_probs(batch, ["1", "2", "3", "4", "5"], GREEDY),
                                    tiny_model.agenerate(batch[::-1], GREEDY))

    replies, probs, reversed_replies = run(both())
    assert [r.text for r in replies] == [r.text for r in reversed_replies[::-1]]
    assert [r.text for r in replies] == [r.text for r in run(tiny_model.agenerate(batch, GREEDY))]
    assert all(p is not None for p in probs)


def test_identity_fingerprint_follows_the_checkpoint(tiny_model_dir, tmp_path):
    from aloe_bench_hf.plugin import hf_model

    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_model_dir, folder)
    model = hf_model(str(folder), device="cpu", threads=1)
    before = model.identity()
    assert before["provider"] == "hf" and before["dtype"] == "float32" and before["model"] == str(folder)
    model.close()
    config = json.loads((folder / "config.json").read_text())
    config["rms_norm_eps"] = 1e-5
    (folder / "config.json").write_text(json.dumps(config))
    model = hf_model(str(folder), device="cpu", threads=1)
    assert model.identity()["fingerprint"] != before["fingerprint"]
    model.close()


@pytest.mark.parametrize("rest, options, pattern", [
    ("/no/such/model/folder", {}, "does not exist"),
    ("./missing-checkpoint", {}, "does not exist"),
    ("", {}, "needs a model"),
    ("no-such-org/no-such-model-aloe", {}, "Cannot load model"),
    ("TINY", {"temperature": 0.5}, "Unknown option 'temperature' for the hf provider"),
    ("TINY", {"dtype": "float13"}, "Option 'dtype' of the hf provider: expected one of 'auto', .*, got 'float13'"),
    ("TINY", {"batch_size": 0}, "Option 'batch_size' of the hf provider: expected a number of at least 1, got 0"),
    ("TINY", {"repetition_penalty": "lots"}, "Option 'repetition_penalty' of the hf provider: expected a number"),
    ("TINY", {"repetition_penalty": 0}, "Option 'repetition_penalty' of the hf provider: expected a number greater "
                                        "than 0"),
    ("TINY", {"device": "cuda:7"} , "CUDA is not available"),
])
def test_bad_models_and_options_are_one_line_errors(tiny_model_dir, monkeypatch, rest, options, pattern):
    import torch

    from aloe_bench_hf.plugin import hf_model

    if options.get("device", "").startswith("cuda") and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(AloeBenchError, match=pattern) as info:
        hf_model(str(tiny_model_dir) if rest == "TINY" else rest, **{"threads": 1, **options})
    assert "\n" not in str(info.value) and info.value.hint


def test_folder_without_config_is_rejected(tmp_path):
    from aloe_bench_hf.plugin import hf_model

    with pytest.raises(ConfigError, match="No config.json"):
        hf_model(str(tmp_path))


def test_closed_model_refuses_work(tiny_model_dir):
    from aloe_bench_hf.plugin import hf_model

    model = hf_model(str(tiny_model_dir), device="cpu", threads=1)
    model.close()
    with pytest.raises(RuntimeError, match="closed"):
        run(model.agenerate([chat("Hi")], GREEDY))


def test_plugin_import_stays_light():
    code = ("import sys, aloe_bench_hf.plugin, aloe_bench_hf.tiny, aloe_bench_hf.smollm2; "
            "heavy = [m for m in ('torch', 'transformers') if m in sys.modules]; print(heavy); "
            "sys.exit(1 if heavy else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hub_id_loads_offline_from_the_hf_cache(tiny_model_dir, tmp_path):
    # A hub cache laid out as huggingface_hub writes it; a fresh process reads HF_HUB_CACHE at import.
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--aloe-test--tiny-chat"
    shutil.copytree(tiny_model_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    code = ("import asyncio, json; from aloe_bench_hf.plugin import hf_model; "
            "from aloe_bench.components import GenerationParams; from aloe_bench.records import Message; "
            "m = hf_model('aloe-test/tiny-chat', device='cpu', threads=1); "
            "r = asyncio.run(m.agenerate([[Message(role='user', content='Hi')]], GenerationParams(max_tokens=8))); "
            "print(json.dumps({'identity': m.identity(), 'ok': r[0].ok, 'tokens': r[0].completion_tokens}))")
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["ok"] and 0 < result["tokens"] <= 8
    assert result["identity"]["model"] == "aloe-test/tiny-chat"
    from aloe_bench.backends.checkpoints import folder_fingerprint

    assert result["identity"]["fingerprint"] == folder_fingerprint(repo / "snapshots" / commit)


def test_repetition_penalty_changes_greedy_output_and_identity(tiny_model_dir):
    from aloe_bench_hf.plugin import hf_model

    plain = hf_model(str(tiny_model_dir), device="cpu", threads=1)
    penalised = hf_model(str(tiny_model_dir), device="cpu", threads=1, repetition_penalty=5.0)
    params = GenerationParams(max_tokens=24, temperature=None)
    batch = [chat(p) for p in PROMPTS]
    a = run(plain.agenerate(batch, params))
    b = run(penalised.agenerate(batch, params))
    assert [r.text for r in a] != [r.text for r in b]
    assert plain.identity()["repetition_penalty"] is None
    assert penalised.identity()["repetition_penalty"] == 5.0  # part of the cache key
    plain.close()
    penalised.close()


@pytest.fixture
def nothing_loads(monkeypatch):
    """Make loading, device selection and the SmolLM2 conversion fail the test if reached."""
    from aloe_bench_hf import chat_model, plugin

    def reached(*args, **kwargs):
        raise AssertionError("a model was loaded before the options were checked")

    monkeypatch.setattr(chat_model, "load_model_and_tokenizer", reached)
    monkeypatch.setattr(chat_model, "resolve_device_dtype", reached)
    monkeypatch.setattr(plugin, "smollm2_path", reached)


@pytest.mark.parametrize("provider", ["hf", "smollm2"])
@pytest.mark.parametrize("options, message", [
    ({"batchsize": 4}, "Unknown option 'batchsize' for the {p} provider. Did you mean 'batch_size'?"),
    ({"trust_remote_code": "maybe"},
     "Option 'trust_remote_code' of the {p} provider: expected true or false (also 1/0, yes/no, on/off), got 'maybe'."),
    ({"threads": "two"}, "Option 'threads' of the {p} provider: expected a whole number, got 'two'."),
])
def test_options_are_checked_before_any_model_is_loaded(tiny_model_dir, nothing_loads, provider, options, message):
    from aloe_bench_hf.plugin import hf_model, smollm2_model

    with pytest.raises(ConfigError) as info:
        if provider == "hf":
            hf_model(str(tiny_model_dir), **options)
        else:
            smollm2_model(**options)
    assert info.value.message == message.format(p=provider)
    assert "\n" not in str(info.value) and info.value.hint


def test_cli_strings_and_numbers_are_coerced(tiny_model_dir):
    from aloe_bench_hf.plugin import hf_model

    # As `--model-option` delivers them: 1 is JSON-parsed to an int, the rest stay strings.
    model = hf_model(str(tiny_model_dir), device="CPU", dtype="FP32", threads="1", batch_size="2",
                     trust_remote_code=1, repetition_penalty="1.5")
    assert (model.device, str(model.dtype), model.threads, model.batch_size) == ("cpu", "torch.float32", 1, 2)
    assert model.options.trust_remote_code is True and model.identity()["repetition_penalty"] == 1.5
    model.close()


def test_smollm2_declares_demo_quality(tiny_model_dir, monkeypatch):
    from aloe_bench_hf import plugin, smollm2

    # The tiny model stands in for the converted SmolLM2 folder (no conversion in this test).
    monkeypatch.setattr(plugin, "smollm2_path", lambda: tiny_model_dir)
    monkeypatch.setattr(smollm2, "source_fingerprint", lambda: {"gguf": "stand-in"})
    demo = plugin.smollm2_model(device="cpu", threads=1, revision="ignored")
    assert demo.demo_quality is True
    assert demo.repetition_penalty == 1.2 and demo.options.revision is None
    plain = plugin.hf_model(str(tiny_model_dir), device="cpu", threads=1)
    assert getattr(plain, "demo_quality", False) is False
    demo.close()
    plain.close()


def test_fingerprint_ignores_what_aloe_bench_writes_into_a_model_folder(tmp_path):
    from aloe_bench.backends.checkpoints import folder_fingerprint

    (tmp_path / "config.json").write_text('{"a": 1}')
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    before = folder_fingerprint(tmp_path)
    (tmp_path / "train.json").write_text('{"status": "complete"}')
    (tmp_path / "regress.json").write_text('{"results": {}}')
    assert folder_fingerprint(tmp_path) == before
    (tmp_path / "config.json").write_text('{"a": 2}')
    assert folder_fingerprint(tmp_path) != before
