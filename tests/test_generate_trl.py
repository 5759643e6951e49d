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
