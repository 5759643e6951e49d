"""`aloe-bench train sft|dpo` on a tiny random model (and SmolLM2, slow): data shapes and loss
masks, LoRA and merging, the DPO reference, resume, outputs evaluated by `aloe-bench evaluate`,
`--then-evaluate`, accelerate launch, and one-line errors for bad configs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests"))
from helpers import run_cli  # noqa: E402

from aloe_bench.errors import ConfigError, DataError, ResumeConflictError  # noqa: E402

QUIET_ENV = {"HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True", "COLUMNS": "200"}


def toml_file(path: Path, text: str) -> Path:
    """Write a TOML config."""
    path.write_text(text, encoding="utf-8")
    return path


def tiny_settings(model_dir: Path, data: Path, **extra) -> dict:
    """A config dict for a few quick CPU steps on the tiny model."""
    trl = {"per_device_train_batch_size": 2, "max_steps": 2, "learning_rate": 1e-3, "max_length": 256,
           **extra.pop("trl", {})}
    return {"model": f"hf:{model_dir}", "data": str(data), "effective_batch_size": 2, "trl": trl, **extra}


def train(name: str, settings: dict, output: Path, *, resume: bool = False) -> dict:
    """Run a trainer in-process through its registered factory."""
    from aloe_bench.plugins import PluginHost

    trainer = PluginHost(env={"ALOE_BENCH_PLUGINS": "trl,hf"}).trainers.get(name).build()
    return trainer.train(trainer.config_class.model_validate(settings), output=output, resume=resume, quiet=True)


def record(output: Path) -> dict:
    """The output folder's train.json."""
    return json.loads((output / "train.json").read_text(encoding="utf-8"))


# -- data shapes and loss masks ----------------------------------------------------------------------

def test_rows_are_brought_into_one_shape(data_dir):
    from aloe_bench_trl.data import chat_row, load_mix_data, load_sft_data

    chosen = load_sft_data(str(data_dir / "gen"), "chosen", None)
    assert chosen.path.endswith("sft.jsonl") and len(chosen.rows) == 8 and set(chosen.rows[0]) == {"prompt", "completion"}
    rejected = load_sft_data(str(data_dir / "gen"), "rejected", 3)
    assert rejected.path.endswith("dpo.jsonl") and len(rejected.rows) == 3
    assert rejected.rows[0]["completion"][0]["content"] == "Nice walk! Dogs are nice."
    mix = load_mix_data(str(data_dir / "mix.jsonl"), 1.5, seed=0)
    assert len(mix.rows) == 3  # every row once plus a seeded half
    split = chat_row("x", {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
                                        {"role": "assistant", "content": "a"}, {"role": "user", "content": "o"},
                                        {"role": "assistant", "content": "b"}]})
    assert [m["role"] for m in split["prompt"]] == ["system", "user"]
    assert [m["role"] for m in split["completion"]] == ["assistant", "user", "assistant"]
    sharegpt = chat_row("x", {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]})
    assert sharegpt["completion"] == [{"role": "assistant", "content": "yo"}]
    with pytest.raises(DataError, match=r"sft.jsonl:1: expected 'prompt' and 'rejected'"):
        load_sft_data(str(data_dir / "gen" / "sft.jsonl"), "rejected", None)


def test_incomplete_generation_is_announced(tmp_path, data_dir):
    from aloe_bench.errors import AloeBenchWarning
    from aloe_bench_trl.data import load_dpo_data

    gen = tmp_path / "gen"
    gen.mkdir()
    (gen / "dpo.jsonl").write_bytes((data_dir / "gen" / "dpo.jsonl").read_bytes())
    (gen / "stats.json").write_text('{"status": "incomplete"}')
    with pytest.warns(AloeBenchWarning, match="INCOMPLETE generation"):
        assert load_dpo_data(str(gen), None).generate_status == "incomplete"


def test_mix_in_loss_falls_on_assistant_turns_only(tiny_model_dir, data_dir, tmp_path):
    """sft.jsonl rows: loss on the completion; mix-in rows: on every assistant turn, never on the
    user turns inside the completion."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from aloe_bench_trl.data import load_mix_data, load_sft_data
    from aloe_bench_trl.trainers import SFTRunner

    runner = SFTRunner()
    config = runner.config_class.model_validate(tiny_settings(tiny_model_dir, data_dir / "gen"))
    data = [load_sft_data(str(data_dir / "gen"), "chosen", 1), load_mix_data(str(data_dir / "mix.jsonl"), 1, 0)]
    settings = runner.trl_settings(config, data, set())
    assert settings == {"completion_only_loss": True, "assistant_only_loss": True}
    from trl import SFTConfig

    args = SFTConfig(output_dir=str(tmp_path), packing=False, max_length=256, use_cpu=True, bf16=False,
                     report_to="none", **settings)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    trainer = runner.build(config, args, AutoModelForCausalLM.from_pretrained(tiny_model_dir), tok,
                           Dataset.from_list([r for d in data for r in d.rows]), None)

    def trained_text(i):
        row = trainer.train_dataset[i]
        return tok.decode([t for t, label in zip(row["input_ids"], row["labels"]) if label != -100])

    assert trained_text(0) == "That sounds lovely! What breed is your dog?<|im_end|>"
    assert trained_text(1) == "I will run ls.<|im_end|>The folder holds a.txt and b.txt.<|im_end|>"
    assert "Observation" not in trained_text(1)


SMOL_TEMPLATE = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
                 "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
                 "<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
                 "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
                 "{% endif %}")


def test_an_unknown_chatml_template_gets_a_marked_copy_that_renders_alike(tiny_model_dir):
    from transformers import AutoTokenizer

    from aloe_bench_trl.templates import has_generation_markers, renders_alike, training_template

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.chat_template = SMOL_TEMPLATE
    marked = training_template(tok, "smol-like")
    assert has_generation_markers(marked) and renders_alike(tok, SMOL_TEMPLATE, marked)
    assert "named SmolLM" in marked
    tok.chat_template = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
    with pytest.raises(ConfigError, match="neither TRL nor aloe-bench can mark it"):
        training_template(tok, "odd")


# -- training runs ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sft_output(tiny_model_dir, data_dir, tmp_path_factory):
    """`aloe-bench train sft` through the CLI on the generate folder: 3 steps."""
    base = tmp_path_factory.mktemp("sft")
    config = toml_file(base / "sft.toml", f"""
model = "hf:{tiny_model_dir}"
data = "{data_dir / 'gen'}"
effective_batch_size = 2
[trl]
per_device_train_batch_size = 2
max_steps = 3
max_length = 256
learning_rate = 1e-3
save_steps = 2
""")
    proc = run_cli("train", "sft", "--config", str(config), "--output", str(base / "out"), env=QUIET_ENV)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return base / "out", proc


def test_sft_writes_a_plain_model_folder_and_train_json(sft_output, data_dir):
    from aloe_bench_trl.data import sha256_file

    out, proc = sft_output
    assert "Trained: status complete" in proc.stdout and "Traceback" not in proc.stderr
    assert (out / "config.json").is_file() and (out / "model.safetensors").is_file()
    assert not list(out.glob("checkpoint-*")) and not (out / "adapter_config.json").exists()
    rec = record(out)
    assert rec["status"] == "complete" and rec["trainer"] == "sft" and rec["global_steps"] == 3
    assert [s["step"] for s in rec["steps"]] == [1, 2, 3] and rec["final_loss"] == rec["steps"][-1]["loss"]
    assert rec["data"][0]["sha256"] == sha256_file(data_dir / "gen" / "sft.jsonl") and rec["data"][0]["rows"] == 8
    assert rec["versions"]["trl"] and rec["versions"]["torch"] and rec["tokens_per_s"] > 0 and rec["wall_time_s"] > 0
    args = rec["trl_args"]
    assert (args["bf16"], args["use_cpu"], args["learning_rate"], args["gradient_accumulation_steps"]) == \
        (False, True, 1e-3, 1)
    assert args["activation_checkpointing"] is False and args["completion_only_loss"] is True
    assert rec["config"]["trl"]["max_steps"] == 3 and "output_dir" not in rec["config"]


def test_the_sft_output_is_evaluated_as_is(sft_output, tmp_path):
    """`aloe-bench evaluate --model hf:OUTPUT`, with the user simulator and the judge served over
    HTTP by the project's OpenAI-compatible server on 127.0.0.1 (through litellm)."""
    from aloe_bench.testing.openai_server import OpenAICompatServer

    out, _ = sft_output
    with OpenAICompatServer() as server:
        env = {**QUIET_ENV, "OPENAI_API_BASE": server.base_url, "OPENAI_API_KEY": "sk-test-trl-0000",
               "ALOE_BENCH_CACHE_DIR": str(tmp_path / "cache")}
        proc = run_cli("evaluate", "--model", f"hf:{out}", "--user", "openai/sim", "--judge", "openai/judge",
                       "--personas", "sample", "--turns", "2", "--limit", "2", "-o", str(tmp_path / "run"), env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert server.requests and "sk-test-trl-0000" not in proc.stdout + proc.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["n"] == [2, 2] and summary["model"] == f"hf:{out}"


def test_an_existing_output_needs_resume(sft_output, tiny_model_dir, data_dir):
    out, _ = sft_output
    config = toml_file(out.parent / "again.toml", f'model = "hf:{tiny_model_dir}"\ndata = "{data_dir / "gen"}"\n')
    proc = run_cli("train", "sft", "--config", str(config), "-o", str(out), env=QUIET_ENV)
    assert proc.returncode == 2 and "already holds a training run" in proc.stderr and "--resume" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_lora_merged_and_dpo_from_the_sft_output_with_an_adapter(sft_output, data_dir, tmp_path):
    """SFT with LoRA merges into a plain folder; DPO (sft-dpo preset) from the SFT output keeps its
    adapter (merge = false), the reference is the adapter switched off (first margin exactly 0),
    and the hf: provider loads the adapter folder."""
    import torch
    from safetensors.torch import load_file

    sft_dir, _ = sft_output
    merged = tmp_path / "lora-merged"
    train("sft", tiny_settings(sft_dir, data_dir / "gen", lora={"r": 4, "alpha": 8},
                               trl={"learning_rate": 5e-2}), merged)
    assert (merged / "model.safetensors").is_file() and not (merged / "adapter_config.json").exists()
    before, after = load_file(sft_dir / "model.safetensors"), load_file(merged / "model.safetensors")
    assert set(before) == set(after) and any(not torch.equal(before[k], after[k]) for k in before)

    dpo = tmp_path / "dpo"
    settings = tiny_settings(sft_dir, data_dir / "gen" / "dpo.jsonl", merge=False, lora={"r": 4}, from_sft=True)
    result = train("dpo", settings, dpo)
    rec = record(dpo)
    assert rec["reference"] == "starting model with the LoRA adapter off" and rec["saved"]["adapter"] is True
    assert rec["steps"][0]["rewards/margins"] == 0.0 and "rewards/accuracies" in rec["steps"][-1]
    # --then-evaluate compares with the model the chain started from, not the SFT output
    assert result["base_model"] == f"hf:{record(sft_dir)['base_model']['source']}" and result["model"] == f"hf:{dpo}"
    assert (dpo / "adapter_config.json").is_file() and not (dpo / "config.json").exists()

    from aloe_bench.components import GenerationParams
    from aloe_bench.records import Message
    from aloe_bench_hf.plugin import hf_model

    import asyncio

    model = hf_model(str(dpo), device="cpu", threads=1)
    try:
        [reply] = asyncio.run(model.agenerate([[Message(role="user", content="Hello")]],
                                              GenerationParams(max_tokens=4)))
        assert reply.error is None and model.identity()["fingerprint"]
    finally:
        model.close()


def test_full_dpo_gets_a_frozen_reference_copy(tiny_model_dir, data_dir, tmp_path):
    train("dpo", tiny_settings(tiny_model_dir, data_dir / "gen"), tmp_path / "dpo")
    rec = record(tmp_path / "dpo")
    assert rec["reference"] == "frozen copy of the starting model"
    assert rec["steps"][0]["rewards/margins"] == 0.0 and rec["trl_args"]["beta"] == 0.9
    with pytest.raises(ConfigError, match="not a folder written by `aloe-bench train sft`"):
        train("dpo", tiny_settings(tiny_model_dir, data_dir / "gen", from_sft=True), tmp_path / "dpo2")


def test_resume_continues_from_the_last_checkpoint(tiny_model_dir, data_dir, tmp_path, monkeypatch):
    from aloe_bench_trl.callbacks import RichProgressCallback

    out = tmp_path / "out"
    settings = tiny_settings(tiny_model_dir, data_dir / "gen", trl={"max_steps": 4, "save_steps": 2})

    def stop_at_3(self, args, state, control, **kwargs):
        if state.global_step == 3:
            raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(RichProgressCallback, "on_step_end", stop_at_3)
        with pytest.raises(KeyboardInterrupt):
            train("sft", settings, out)
    assert record(out)["status"] == "interrupted" and (out / "checkpoint-2").is_dir()
    with pytest.raises(ResumeConflictError, match=r"different config: trl: .*'max_steps': 4"):
        train("sft", {**settings, "trl": {**settings["trl"], "max_steps": 5}}, out, resume=True)
    train("sft", settings, out, resume=True)
    rec = record(out)
    assert rec["status"] == "complete" and rec["resumed"] == 1 and rec["global_steps"] == 4
    assert [s["step"] for s in rec["steps"]] == [1, 2, 3, 4]  # steps before the checkpoint come from it
    again = train("sft", settings, out, resume=True)  # finished: nothing to do
    assert again["status"] == "complete" and again["model"] == f"hf:{out}"


def test_a_run_that_failed_before_its_first_checkpoint_starts_over(tiny_model_dir, data_dir, tmp_path, monkeypatch):
    """Nothing to keep, so a fixed config is neither refused as "already holds a run" nor as a
    "different config"; a folder another process is writing is refused."""
    from aloe_bench.errors import RunLockedError
    from aloe_bench.evaluation.run_folder import RunLock
    from aloe_bench_trl.trainers import SFTRunner

    out = tmp_path / "out"
    settings = tiny_settings(tiny_model_dir, data_dir / "gen")

    def broken(self, *args):
        raise RuntimeError("simulated TRL failure")

    with monkeypatch.context() as m:
        m.setattr(SFTRunner, "build", broken)
        with pytest.raises(ConfigError, match="simulated TRL failure"):
            train("sft", settings, out)
    assert record(out)["status"] == "failed" and "simulated TRL failure" in record(out)["error"]
    train("sft", {**settings, "trl": {**settings["trl"], "max_steps": 1}}, out)  # no --resume needed
    assert record(out)["status"] == "complete" and record(out)["global_steps"] == 1
    busy = tmp_path / "busy"
    with RunLock(busy):
        with pytest.raises(RunLockedError, match="is in use by process"):
            train("sft", settings, busy)


def test_then_evaluate_compares_tuned_and_base_over_shared_personas(tiny_model_dir, data_dir, tmp_path):
    eval_toml = toml_file(tmp_path / "eval.toml", 'user = "scripted"\njudge = "scripted"\npersonas = "sample"\n'
                                                  "turns = 2\nlimit = 2\ncache = false\nbootstrap = 50\n")
    config = toml_file(tmp_path / "sft.toml", f'model = "hf:{tiny_model_dir}"\ndata = "{data_dir / "gen"}"\n'
                                              'effective_batch_size = 2\n[trl]\nper_device_train_batch_size = 2\n'
                                              "max_steps = 1\nmax_length = 128\n")
    out = tmp_path / "out"
    proc = run_cli("train", "sft", "--config", str(config), "-o", str(out), "--then-evaluate", str(eval_toml),
                   env=QUIET_ENV)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    comparison = json.loads((out / "eval" / "comparison.json").read_text())
    assert comparison["personas"] == 2 and set(comparison["avg"]) >= {"tuned", "base", "diff", "low", "high"}
    assert comparison["avg"]["diff"] == pytest.approx(comparison["avg"]["tuned"] - comparison["avg"]["base"])
    assert "Tuned minus base" in proc.stdout and "Average AL" in proc.stdout
    # the leaderboard of the two runs: ranks 1 and 2, or one tied rank 1–2 when two personas cannot separate them
    assert "| 1 |" in proc.stdout or "| 1–2 |" in proc.stdout
    assert json.loads((out / "eval" / "base" / "summary.json").read_text())["model"] == f"hf:{tiny_model_dir}"
    # a finished run again, reusing the base run: nothing is trained or evaluated anew
    proc = run_cli("train", "sft", "--config", str(config), "-o", str(out), "--resume", "--then-evaluate",
                   str(eval_toml), "--baseline", str(out / "eval" / "base"), env=QUIET_ENV)
    assert proc.returncode == 0 and "already trained" in proc.stderr, proc.stderr
    other = toml_file(tmp_path / "other.toml", eval_toml.read_text().replace("turns = 2", "turns = 3"))
    proc = run_cli("train", "sft", "--config", str(config), "-o", str(out), "--resume", "--then-evaluate",
                   str(other), "--baseline", str(out / "eval" / "base"), env=QUIET_ENV)
    assert proc.returncode == 2 and "another protocol: turns: 2 -> 3" in proc.stderr


def test_paired_difference_is_exact_for_a_shifted_run():
    import numpy as np

    from aloe_bench.cli.train import paired_difference
    from aloe_bench.reporting.results import ScoreMatrix

    rng = np.random.default_rng(1)
    values = rng.integers(1, 6, size=(6, 3)).astype(float)
    base = ScoreMatrix([f"c{i}" for i in range(6)], [f"p{i}" for i in range(6)], values)
    tuned = ScoreMatrix(["x0", "x1", "x2"], ["p0", "p1", "p9"], values[:3] + np.array([0.0, 0.5, 1.0]))
    c = paired_difference(tuned, base, resamples=200)
    assert c["personas"] == 2  # p0, p1: p9 has no base run
    assert c["avg"]["diff"] == pytest.approx(0.5) and c["avg"]["low"] == pytest.approx(0.5)
    assert c["ir"]["diff"] == pytest.approx(0.5) and c["ir"]["high"] == pytest.approx(0.5)


# -- errors, presets, registry, launch ---------------------------------------------------------------

@pytest.mark.parametrize("args,toml,expected", [
    (["sft"], "modle = 'smollm2'\n", "Unknown setting 'modle'"),
    (["sft"], "[trl]\nlearnin_rate = 1e-5\n", "Unknown TRL option [trl].learnin_rate"),
    (["sft"], "[trl]\noutput_dir = 'x'\n", "[trl].output_dir is not allowed"),
    (["sft"], "data = './missing.jsonl'\n", "'./missing.jsonl' does not exist"),
    (["sft"], "[lora]\nrank = 4\n", "Unknown setting 'lora.rank'"),
    (["sft"], "effective_batch_size = 5\n[trl]\nper_device_train_batch_size = 2\n", "not a multiple"),
    (["sfft"], "", "Unknown trainer 'sfft'. Did you mean: sft?"),
    (["dpo", "--preset", "sft-chosen"], "", "has no preset 'sft-chosen'"),
])
def test_bad_configs_are_one_line_errors(tmp_path, tiny_model_dir, data_dir, args, toml, expected):
    header = f'model = "hf:{tiny_model_dir}"\n' if "model" not in toml and "modle" not in toml else ""
    data = f'data = "{data_dir / "gen"}"\n' if "data" not in toml else ""
    config = toml_file(tmp_path / "c.toml", header + data + toml)
    proc = run_cli("train", *args, "--config", str(config), "-o", str(tmp_path / "out"), env=QUIET_ENV, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("Warning")]
    assert lines[0].startswith("Error:") and expected in lines[0] and len(lines) <= 2, proc.stderr
    assert not (tmp_path / "out").exists()  # nothing was written


def test_help_lists_the_trainers_and_show_config_the_defaults():
    proc = run_cli("train", "--help", env=QUIET_ENV)
    assert proc.returncode == 0 and "Registered trainers" in proc.stdout
    assert "sft" in proc.stdout and "dpo" in proc.stdout and "[trl]" in proc.stdout
    proc = run_cli("train", "dpo", "--show-config", env=QUIET_ENV)
    assert proc.returncode == 0 and "beta = 0.9" in proc.stdout and "learning_rate = 1e-05" in proc.stdout
    assert "sft-dpo" in proc.stdout and 'reference = "auto"' in proc.stdout
    proc = run_cli("train", "sft", "--show-config", env=QUIET_ENV)
    for text in ("packing = true", "max_length = 8192", "effective_batch_size = 48", "sft-rejected", "agent-only",
                 "[[mix]]", "[lora]"):
        assert text in proc.stdout, text


def test_presets_say_what_they_train_on():
    from aloe_bench_trl.config import DPO_PRESETS, SFT_PRESETS

    assert set(SFT_PRESETS) == {"sft-chosen", "sft-rejected", "agent-only"} and set(DPO_PRESETS) == {"sft-dpo"}
    assert "sft.jsonl" in SFT_PRESETS["sft-chosen"][0] and "`rejected` field of dpo.jsonl" in \
        SFT_PRESETS["sft-rejected"][0]
    assert SFT_PRESETS["agent-only"][1] == {"train_on": "mix-only"} and DPO_PRESETS["sft-dpo"][1] == {"from_sft": True}


def test_what_a_trainer_factory_returns_is_checked():
    from aloe_bench import hookimpl
    from aloe_bench.errors import PluginError
    from aloe_bench.plugins import PluginHost

    class Bad:
        @hookimpl
        def aloe_register_trainers(self, register):
            register("no-train", lambda: object())

    host = PluginHost(extra_plugins={"bad": Bad()}, load_entrypoints=False)
    with pytest.raises(PluginError, match="lacks train"):
        host.trainers.get("no-train").build()
    real = PluginHost(env={"ALOE_BENCH_PLUGINS": "trl,hf"}).trainers.get("sft").build()
    assert real.config_class.__name__ == "SFTTrainConfig"


def test_accelerate_configs_ship_and_launch_runs_the_cli(tiny_model_dir, data_dir, tmp_path):
    import yaml

    from aloe_bench_trl import ACCELERATE_CONFIGS, accelerate_config

    kinds = {name: yaml.safe_load(accelerate_config(name).read_text())["distributed_type"]
             for name in ACCELERATE_CONFIGS}
    assert kinds == {"single_gpu": "NO", "ddp": "MULTI_GPU", "fsdp": "FSDP", "zero2": "DEEPSPEED",
                     "zero3": "DEEPSPEED"}
    config = toml_file(tmp_path / "c.toml", f'model = "hf:{tiny_model_dir}"\ndata = "{data_dir / "gen"}"\n'
                                            'effective_batch_size = 2\n[trl]\nper_device_train_batch_size = 2\n'
                                            "max_steps = 1\nmax_length = 128\n")
    launcher = Path(sys.executable).parent / "accelerate"
    proc = subprocess.run([str(launcher), "launch", "--cpu", "--num_processes", "1", "--num_machines", "1",
                           "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "aloe_bench", "train", "sft",
                           "--config", str(config), "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300, env={**os.environ, **QUIET_ENV})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert record(tmp_path / "out")["status"] == "complete"


@pytest.mark.slow
def test_smollm2_sft_two_steps_with_its_template_marked(data_dir, hf_cache_dir, tmp_path, monkeypatch):
    """SmolLM2's ChatML template has no generation markers and TRL does not know it: with mix-in
    chat data the trainer brings a marked copy; the saved folder keeps the original template."""
    monkeypatch.setenv("ALOE_BENCH_CACHE_DIR", str(hf_cache_dir))
    from aloe_bench_hf.smollm2 import smollm2_path

    original = (smollm2_path() / "chat_template.jinja").read_text()
    out = tmp_path / "smol"
    train("sft", {"model": "smollm2", "data": str(data_dir / "gen"), "effective_batch_size": 2, "limit": 2,
                  "mix": [{"data": str(data_dir / "mix.jsonl")}], "lora": {"r": 4},
                  "trl": {"per_device_train_batch_size": 2, "max_steps": 2, "max_length": 256}}, out)
    rec = record(out)
    assert rec["status"] == "complete" and rec["global_steps"] == 2 and rec["trl_args"]["assistant_only_loss"]
    assert all(s["loss"] > 0 for s in rec["steps"])
    assert (out / "chat_template.jinja").read_text() == original
