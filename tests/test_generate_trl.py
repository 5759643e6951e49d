"""The files ``aloe-bench generate`` exports feed TRL as they are: ``sft.jsonl`` and ``dpo.jsonl``
load with ``datasets.load_dataset("json", ...)`` and train a tiny real transformers model for one
step each with TRL's ``SFTTrainer`` and ``DPOTrainer``."""

from __future__ import annotations

import json

import pytest

from tests.helpers import run_cli

pytest.importorskip("trl")


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "out"
    run_cli("generate", *[a for role in ("user", "induction", "hinted", "unhinted", "pair-judge")
                          for a in (f"--{role}", "scripted")],
            "--personas", "sample", "--turns", "3", "--no-cache", "-q", "-o", str(out), check=True)
    assert json.loads((out / "stats.json").read_text())["dpo_rows"] > 0
    return out


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from aloe_bench_hf.tiny import build_tiny_chat_model

    return build_tiny_chat_model(tmp_path_factory.mktemp("tiny") / "model")


def _cpu(config_cls, out_dir, **extra):
    return config_cls(output_dir=str(out_dir), max_steps=1, per_device_train_batch_size=2, bf16=False,
                      activation_checkpointing=False, use_cpu=True, report_to=[], logging_steps=1, save_strategy="no",
                      max_length=256, **extra)


def test_sft_jsonl_trains_one_step_with_sfttrainer(generated, tiny_model, tmp_path):
    from datasets import load_dataset
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    data = load_dataset("json", data_files=str(generated / "sft.jsonl"), split="train")
    assert {"prompt", "completion"} <= set(data.column_names)
    assert data[0]["completion"][0]["role"] == "assistant" and data[0]["prompt"][-1]["role"] == "user"
    trainer = SFTTrainer(model=str(tiny_model), processing_class=AutoTokenizer.from_pretrained(tiny_model),
                         args=_cpu(SFTConfig, tmp_path / "sft"), train_dataset=data)
    result = trainer.train()
    assert result.global_step == 1 and result.training_loss > 0


def test_dpo_jsonl_trains_one_step_with_dpotrainer(generated, tiny_model, tmp_path):
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    data = load_dataset("json", data_files=str(generated / "dpo.jsonl"), split="train")
    assert {"prompt", "chosen", "rejected"} <= set(data.column_names)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    ref = AutoModelForCausalLM.from_pretrained(tiny_model)
    trainer = DPOTrainer(model=model, ref_model=ref, processing_class=AutoTokenizer.from_pretrained(tiny_model),
                         args=_cpu(DPOConfig, tmp_path / "dpo", beta=0.9), train_dataset=data)
    result = trainer.train()
    assert result.global_step == 1
    assert any("rewards/margins" in entry for entry in trainer.state.log_history)


def test_generate_then_train_sft_then_dpo_then_evaluate(generated, tiny_model, tmp_path):
    """The whole chain through the command line: the generate folder above -> `train sft` ->
    `train dpo --preset sft-dpo` from the SFT output -> `evaluate --model hf:DPO_OUTPUT`."""
    pytest.importorskip("aloe_bench_trl")
    common = ('effective_batch_size = 2\n[trl]\nper_device_train_batch_size = 2\nmax_steps = 2\n'
              'max_length = 256\nlearning_rate = 1e-3\n')
    sft_toml, dpo_toml = tmp_path / "sft.toml", tmp_path / "dpo.toml"
    sft_toml.write_text(f'model = "hf:{tiny_model}"\ndata = "{generated}"\n{common}', encoding="utf-8")
    dpo_toml.write_text(f'data = "{generated}"\n{common}', encoding="utf-8")
    sft, dpo, run = tmp_path / "sft", tmp_path / "dpo", tmp_path / "run"
    run_cli("train", "sft", "--config", str(sft_toml), "-o", str(sft), "-q", check=True)
    proc = run_cli("train", "dpo", "--config", str(dpo_toml), "--preset", "sft-dpo", "--set", f"model=hf:{sft}",
                   "-o", str(dpo), "-q", check=True)
    assert f"aloe-bench evaluate --model hf:{dpo}" in proc.stdout
    sft_record = json.loads((sft / "train.json").read_text())
    dpo_record = json.loads((dpo / "train.json").read_text())
    stats = json.loads((generated / "stats.json").read_text())
    assert sft_record["data"][0]["rows"] == stats["sft_rows"] and dpo_record["data"][0]["rows"] == stats["dpo_rows"]
    assert dpo_record["base_model"]["source"] == str(sft) and dpo_record["config"]["from_sft"] is True
    assert dpo_record["status"] == "complete" and dpo_record["steps"][0]["rewards/margins"] == 0.0
    from aloe_bench.testing.openai_server import OpenAICompatServer

    with OpenAICompatServer() as server:  # the user and the judge over HTTP, through litellm
        run_cli("evaluate", "--model", f"hf:{dpo}", "--user", "openai/sim", "--judge", "openai/judge", "--personas",
                "sample", "--turns", "2", "--limit", "1", "--no-cache", "-q", "-o", str(run), check=True,
                env={"OPENAI_API_BASE": server.base_url, "OPENAI_API_KEY": "sk-test-chain-0000",
                     "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1"})
        assert server.requests
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["model"] == f"hf:{dpo}" and summary["n"] == [1, 1]
