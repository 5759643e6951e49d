"""The model a trainer starts from and the folder it saves.

``model`` in a config is ``smollm2`` (the embedded SmolLM2-135M-Instruct, converted once by the hf
plugin), ``hf:HUB_ID`` or ``hf:FOLDER``. A folder may be an earlier output of ``aloe-bench train``:
a merged model, or an adapter folder (``merge = false``) whose adapter is merged into its base
before training goes on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aloe_bench.errors import ConfigError

from aloe_bench_hf.loading import ModelRef, locate


@dataclass(frozen=True)
class StartModel:
    """Where training starts: the spec as written, what ``from_pretrained`` gets, and the base
    model's spec for ``--then-evaluate`` (the same spec: the model before this training)."""

    spec: str
    ref: ModelRef

    @property
    def source(self) -> str:
        """A folder or hub id for ``from_pretrained``."""
        return self.ref.source

    def train_json(self) -> dict[str, Any] | None:
        """The train.json of a folder written by ``aloe-bench train`` (None otherwise)."""
        if self.ref.folder is None:
            return None
        path = self.ref.folder / "train.json"
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None


    def root_source(self) -> str:
        """The model a chain of ``aloe-bench train`` runs started from (the SFT's base for DPO
        from an SFT output): what ``--then-evaluate`` compares the trained model with."""
        record, seen = self.train_json(), set()
        source = self.source
        while record and isinstance(record.get("base_model"), dict) and source not in seen:
            seen.add(source)
            source = record["base_model"].get("source") or source
            path = Path(source) / "train.json"
            try:
                record = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
            except (OSError, ValueError):
                record = None
        return source


def start_model(spec: str) -> StartModel:
    """The :class:`StartModel` of a config's ``model``; a one-line error for anything else."""
    spec = spec.strip()
    if spec == "smollm2":
        from aloe_bench_hf.smollm2 import smollm2_path

        return StartModel("smollm2", ModelRef(name="SmolLM2-135M-Instruct", folder=smollm2_path()))
    provider, sep, rest = spec.partition(":")
    if provider != "hf" or not sep or not rest:
        raise ConfigError(f"model = {spec!r} is not a model the trainers can load.",
                          "Use hf:HUB_ID, hf:FOLDER (e.g. an earlier train output) or smollm2.")
    return StartModel(spec, locate(rest))


def load_for_training(start: StartModel, dtype: Any):
    """(model, tokenizer) to train: a whole model, or an adapter folder's base with the adapter merged."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(start.source)
        if start.ref.adapter_base is not None:
            from aloe_bench_hf.loading import load_adapter_model

            model = load_adapter_model(start.ref, dtype, False)
        else:
            model = AutoModelForCausalLM.from_pretrained(start.source, dtype=dtype)
    except (OSError, ValueError, KeyError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise ConfigError(f"Cannot load model {start.spec!r}: {first}",
                          "Give a local folder with a causal LM and its tokenizer, or a hub id that is cached "
                          "(HF_HUB_OFFLINE=1 allows no downloads).") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def training_dtype(name: str, on_gpu: bool, bf16_ok: bool):
    """The torch dtype of the weights while training (``auto``: bfloat16 on a GPU that has it)."""
    import torch

    if name == "auto":
        return torch.bfloat16 if on_gpu and bf16_ok else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def merge_adapter(adapter_dir: Path, start: StartModel, target: Path, dtype: Any) -> None:
    """Load the starting model (an adapter folder: its base with that adapter merged), merge the
    adapter saved in ``adapter_dir`` and save the merged model to ``target`` (done from the saved
    files, so it works after any distributed setup)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    if start.ref.adapter_base is not None:
        from aloe_bench_hf.loading import load_adapter_model

        base = load_adapter_model(start.ref, dtype, False)
    else:
        base = AutoModelForCausalLM.from_pretrained(start.source, dtype=dtype)
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    merged.save_pretrained(target)


def check_sft_output(start: StartModel) -> None:
    """For the sft-dpo preset: ``model`` must be a folder written by ``aloe-bench train sft``."""
    record = start.train_json()
    if record is None or record.get("trainer") != "sft":
        raise ConfigError(f"from_sft (the sft-dpo preset) needs model = \"hf:OUTPUT_OF_TRAIN_SFT\"; {start.spec!r} "
                          "is not a folder written by `aloe-bench train sft`.",
                          "Train SFT first, or drop the preset to run DPO from the base model.")
    if record.get("status") != "complete":
        raise ConfigError(f"{start.spec!r} holds an unfinished SFT run (status {record.get('status')!r}).",
                          "Finish it with `aloe-bench train sft --resume` first.")
