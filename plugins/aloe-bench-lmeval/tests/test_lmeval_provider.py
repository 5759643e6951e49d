"""The ``lmeval:BACKEND:MODEL_ARGS`` provider: spec parsing, one-line errors, generation kwargs,
the same greedy replies as ``hf:`` on one checkpoint (in-process and in a whole ALOE evaluation
whose simulator and judge the project's OpenAI-compatible server answers over HTTP), an lm-eval
HTTP backend as the simulator, and what run.json records."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aloe_bench.components import GenerationParams
from aloe_bench.errors import ConfigError
from aloe_bench.records import Message

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests"))
from helpers import run_served, served_env, serving  # noqa: E402

API_KEY = "sk-lmeval-7c1e5b9a2d4f8063"
CHATS = [[Message(role="user", content="Hello! How are you doing today?")],
         [Message(role="system", content="Be brief."), Message(role="user", content="I work as a nurse.")],
         [Message(role="user", content="I love gardening."), Message(role="assistant", content="Nice!"),
          Message(role="user", content="What should I plant in spring?")]]


def test_specs_split_at_the_first_colon_and_read_args_like_lm_eval():
    from aloe_bench_lmeval.spec import parse_backend_spec

    spec = parse_backend_spec("local-chat-completions:model=m,base_url=http://127.0.0.1:8000/v1/chat/completions,"
                              "num_concurrent=4,tokenized_requests=False")
    assert spec.backend == "local-chat-completions"
    assert spec.args == {"model": "m", "base_url": "http://127.0.0.1:8000/v1/chat/completions", "num_concurrent": 4,
                         "tokenized_requests": False}
    assert parse_backend_spec("dummy").args == {} and parse_backend_spec("hf:").text == "hf"


@pytest.mark.parametrize("rest, message", [
    ("", "needs a backend"),
    (":pretrained=x", "needs a backend"),
    ("hf:pretrained", "Bad lm-eval model argument 'pretrained'"),
    ("hf:pretrained=a,=b", "Bad lm-eval model argument '=b'"),
    ("hf:pretrained=a,pretrained=b", "given twice"),
])
def test_bad_specs_are_one_line_config_errors(rest, message):
    from aloe_bench_lmeval.spec import parse_backend_spec

    with pytest.raises(ConfigError, match=message) as info:
        parse_backend_spec(rest)
    assert "\n" not in str(info.value)


def test_unknown_backend_names_close_matches_from_lm_evals_registry():
    from aloe_bench_lmeval.spec import backend_class

    with pytest.raises(ConfigError, match=r"no model backend 'hff'\. Did you mean: .*\bhf\b") as info:
        backend_class("hff")
    assert "local-chat-completions" in info.value.hint  # the hint lists the registry


def test_arguments_a_backend_cannot_take_are_refused_before_it_builds():
    from aloe_bench_lmeval.spec import build_lm, parse_backend_spec

    with pytest.raises(ConfigError, match=r"takes no model argument 'base_ur'.*Did you mean: base_url"):
        build_lm(parse_backend_spec("local-chat-completions:model=m,base_ur=http://127.0.0.1:9/v1/chat/completions"))


def test_generation_params_map_onto_gen_kwargs(tiny_lm):
    from aloe_bench_lmeval.chat_model import LmevalChatModel
    from aloe_bench_lmeval.spec import BackendSpec

    model = LmevalChatModel(BackendSpec("hf", "pretrained=x", {"pretrained": "x"}), lm=tiny_lm)
    assert model.gen_kwargs(GenerationParams(max_tokens=40, stop=("\n\n",))) == {
        "until": ["\n\n"], "max_gen_toks": 40, "do_sample": False, "temperature": 0.0}
    assert model.gen_kwargs(GenerationParams(temperature=0.7, top_p=0.9, seed=5)) == {
        "until": [], "max_gen_toks": 300, "do_sample": True, "temperature": 0.7, "top_p": 0.9}
    vllm = LmevalChatModel(BackendSpec("vllm", "pretrained=x", {"pretrained": "x"}), lm=tiny_lm)
    assert vllm.gen_kwargs(GenerationParams(temperature=1.0, seed=5))["seed"] == 5  # vLLM's SamplingParams
    identity = model.identity()
    assert identity["backend"] == "hf" and identity["class"] == "lm_eval.models.huggingface.HFLM"
    assert identity["lm_eval"] and identity["args"] == {"pretrained": "x"}


def test_greedy_replies_equal_the_hf_providers_on_one_checkpoint(tiny_model_dir, tiny_lm):
    import asyncio

    from aloe_bench_hf.plugin import hf_model
    from aloe_bench_lmeval.chat_model import LmevalChatModel
    from aloe_bench_lmeval.spec import parse_backend_spec

    params = GenerationParams(max_tokens=24, temperature=0)
    ours = LmevalChatModel(parse_backend_spec(f"hf:pretrained={tiny_model_dir},dtype=float32"), lm=tiny_lm)
    theirs = hf_model(str(tiny_model_dir), device="cpu", batch_size=16, threads=1)
    try:
        mine = asyncio.run(ours.agenerate(CHATS, params))
        reference = theirs.generate(CHATS, params)
    finally:
        theirs.close()
    assert [r.text for r in mine] == [r.text for r in reference]
    assert all(r.ok and r.text for r in mine)
    assert [r.prompt_tokens for r in mine] == [r.prompt_tokens for r in reference]
    # a stop sequence cuts the reply where the hf provider cuts it
    stop = reference[0].text.split()[1]
    cut = GenerationParams(max_tokens=24, temperature=0, stop=(stop,))
    assert [r.text for r in ours.generate(CHATS[:1], cut)] == [r.text for r in theirs_generate(tiny_model_dir, cut)]


def theirs_generate(folder: Path, params: GenerationParams):
    """The hf provider's replies to the first chat (a fresh instance)."""
    from aloe_bench_hf.plugin import hf_model

    model = hf_model(str(folder), device="cpu", threads=1)
    try:
        return model.generate(CHATS[:1], params)
    finally:
        model.close()


def test_a_model_without_chat_template_is_refused(tmp_path, tiny_model_dir):
    import shutil

    folder = tmp_path / "base"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "chat_template.jinja").unlink()
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    from aloe_bench_lmeval.plugin import lmeval_model

    with pytest.raises(ConfigError, match="cannot apply a chat template"):
        lmeval_model(f"hf:pretrained={folder}", device="cpu")


def test_an_lm_eval_http_backend_plays_the_simulated_user(aloe_openai_server):
    """local-chat-completions against the project's server: lm-eval's own HTTP client, the
    messages as sent, the scripted answer back."""
    from aloe_bench_lmeval.plugin import lmeval_model

    aloe_openai_server.script = lambda messages: f"I am a sim; you said {messages[-1]['content']!r}"
    model = lmeval_model(f"local-chat-completions:model=sim,base_url={aloe_openai_server.base_url}/chat/completions,"
                         "tokenizer_backend=none,max_retries=1")
    replies = model.generate(CHATS[:2], GenerationParams(max_tokens=20))
    assert [r.text for r in replies] == ["I am a sim; you said 'Hello! How are you doing today?'",
                                         "I am a sim; you said 'I work as a nurse.'"]
    sent = [r["json"] for r in aloe_openai_server.requests]
    assert {body["messages"][-1]["content"] for body in sent} == {"Hello! How are you doing today?",
                                                                  "I work as a nurse."}
    assert all(body["max_tokens"] == 20 and body["temperature"] == 0.0 for body in sent)


# -- a whole ALOE evaluation through the CLI -------------------------------------------------------

@pytest.fixture(scope="module")
def server():
    """The project's OpenAI-compatible server on 127.0.0.1: the simulated user and the judge."""
    from aloe_bench.testing.openai_server import OpenAICompatServer, default_reply

    with OpenAICompatServer() as running:
        with serving(running, default_reply) as served:
            yield served


def evaluate(env: dict, model: str, people: Path, out: Path) -> subprocess.CompletedProcess:
    return run_served(env, "evaluate", "--model", model, "--user", "openai/sim", "--judge", "openai/judge",
                      "--personas", f"jsonl:{people}", "--turns", "2", "--max-tokens", "16", "-o", str(out),
                      "--no-cache", "-q", timeout=240)


def test_an_aloe_evaluation_with_lmeval_hf_replies_like_hf(server, tiny_model_dir, tmp_path):
    people = tmp_path / "people.jsonl"
    people.write_text("".join(json.dumps(p) + "\n" for p in (
        {"id": "ana", "profile": "Ana is a nurse in Lisbon who loves surfing.", "personality": "Warm."},
        {"id": "bo", "profile": "Bo keeps goats at the city zoo.", "personality": "Terse."})), encoding="utf-8")
    env = served_env(server, tmp_path, API_KEY)
    runs = {}
    for name, model in (("lmeval", f"lmeval:hf:pretrained={tiny_model_dir},dtype=float32,device=cpu"),
                        ("hf", f"hf:{tiny_model_dir}")):
        proc = evaluate(env, model, people, tmp_path / name)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        runs[name] = [json.loads(line) for line in (tmp_path / name / "transcripts.jsonl").read_text().splitlines()]
    key = lambda t: (t["conversation_id"], t["turn"])  # noqa: E731
    mine, reference = sorted(runs["lmeval"], key=key), sorted(runs["hf"], key=key)
    assert len(mine) == 4 and [t["reply"] for t in mine] == [t["reply"] for t in reference]
    assert all(t["reply"] for t in mine)
    run = json.loads((tmp_path / "lmeval" / "run.json").read_text())
    model = next(c for c in run["components"] if c["role"] == "model")
    assert model["identity"]["provider"] == "lmeval" and model["identity"]["backend"] == "hf"
    assert model["identity"]["args"]["dtype"] == "float32" and model["identity"]["lm_eval"]
    assert len(model["identity"]["fingerprints"]["pretrained"]) == 16


def test_bad_lmeval_specs_fail_the_evaluation_in_one_line(server, tmp_path):
    env = served_env(server, tmp_path, API_KEY)
    (tmp_path / "none.jsonl").write_text(json.dumps({"id": "ana", "profile": "Ana.", "personality": "Warm."}) + "\n")
    for spec, message in (("lmeval:hff:pretrained=x", "lm-eval has no model backend 'hff'. Did you mean:"),
                          ("lmeval:hf:pretrained", "Bad lm-eval model argument 'pretrained'"),
                          ("lmeval:hf:pretrained=/no/such/checkpoint,device=cpu", "lm-eval could not build backend 'hf'")):
        proc = evaluate(env, spec, tmp_path / "none.jsonl", tmp_path / "bad")
        assert proc.returncode == 2, proc.stdout + proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
        assert len(lines) == 1 and message in lines[0], proc.stderr
