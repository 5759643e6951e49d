"""The ``sft`` and ``dpo`` trainers: what ``aloe-bench train sft|dpo`` runs, and the run machinery
the ``rlpa`` trainer (:mod:`aloe_bench_trl.rlpa`) shares through :class:`TrainerBase`'s hooks.

Each trainer object has ``config_class`` (its typed config), ``presets`` and
``train(config, *, output, resume, quiet) -> dict``. A run

1. checks the config (``[trl]`` keys against TRL's config class), the output folder (an existing run
   needs ``--resume``; a resume with another config is refused, listing the differing keys) and the
   data, before any model is loaded;
2. writes ``train.json`` (status ``running``), loads the model, trains with TRL under a live
   display, resuming from the last ``checkpoint-*`` with ``--resume``;
3. saves a plain Hugging Face model folder (a LoRA adapter merged by default) and completes
   ``train.json``: config, data hashes, versions, per-step and final loss (DPO: reward margins and
   accuracies), wall time and tokens/s.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import shutil
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from aloe_bench.errors import AloeBenchError, ConfigError, ResumeConflictError
from aloe_bench.fileio import atomic_write_json

from aloe_bench_trl import config as cfg
from aloe_bench_trl.data import LoadedData

#: train.json's schema version.
SCHEMA_VERSION = 1
#: Packages whose versions train.json records.
VERSIONED = ("aloe-bench", "aloe-bench-trl", "aloe-bench-hf", "torch", "transformers", "trl", "peft", "accelerate",
             "datasets")
#: The run lock's files (RunLock): an output folder holding only these is empty.
LOCK_FILES = (".lock", ".lock.owner")
#: Keys of TRL's per-step logs kept in train.json.
STEP_KEYS = ("loss", "learning_rate", "grad_norm", "num_tokens", "mean_token_accuracy", "rewards/chosen",
             "rewards/rejected", "rewards/margins", "rewards/accuracies")


def _versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for name in VERSIONED:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _checkpoints(folder: Path) -> list[Path]:
    return sorted((p for p in folder.glob("checkpoint-*") if p.is_dir()),
                  key=lambda p: int(p.name.split("-")[-1]) if p.name.split("-")[-1].isdigit() else -1)


def _main_process() -> bool:
    """True in the process that writes train.json and holds the lock (rank 0 of an ``accelerate
    launch`` / torchrun job, or the only process)."""
    return int(os.environ.get("RANK", "0")) == 0


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


class TrainerBase:
    """What the two trainers share; subclasses set the names and supply data, TRL class and
    trainer construction."""

    name = ""
    config_class: type[cfg.ModelTrainConfig] = cfg.TrainConfigBase
    #: preset name -> (what it trains on, the settings it applies)
    presets: dict[str, tuple[str, dict[str, Any]]] = {}
    #: Keys of TRL's per-step logs kept in train.json's ``steps``.
    step_keys: tuple[str, ...] = STEP_KEYS

    def train(self, config: cfg.TrainConfigBase, *, output: str | Path | None = None, resume: bool = False,
              quiet: bool = False) -> dict[str, Any]:
        """Train as ``config`` says into ``output`` (default: ``config.output_dir``); returns what
        train.json records plus ``output``, ``model`` (the ``hf:`` spec of the trained model) and
        ``base_model`` (the spec of the starting model, for a comparison)."""
        return _Run(self, config, output, resume, quiet).execute()

    # -- per trainer ----------------------------------------------------------------------------
    def trl_classes(self):  # pragma: no cover - abstract
        """(TRL config class, TRL trainer class)."""
        raise NotImplementedError

    def load_data(self, config) -> list[LoadedData]:  # pragma: no cover - abstract
        """The data sources, loaded and checked."""
        raise NotImplementedError

    def check_start(self, config, start) -> None:
        """Checks of the starting model beyond loading it (the sft-dpo preset's)."""

    def trl_settings(self, config, data: list[LoadedData], given: set[str]) -> dict[str, Any]:
        """TRL options this trainer derives from its config and data (the user's [trl] wins)."""
        return {}

    def build(self, config, args, model, tokenizer, dataset, peft_config):  # pragma: no cover - abstract
        """The TRL trainer."""
        raise NotImplementedError

    def batch_settings(self, config, settings: dict[str, Any], given: set[str], world: int, trl_class) -> None:
        """Set ``gradient_accumulation_steps`` in ``settings`` from ``effective_batch_size`` (unless
        the user's ``[trl]`` names it)."""
        per_device = int(settings.get("per_device_train_batch_size", trl_class.per_device_train_batch_size))
        if "gradient_accumulation_steps" not in given:
            steps, rest = divmod(config.effective_batch_size, per_device * world)
            if steps < 1 or rest:
                raise ConfigError(f"effective_batch_size {config.effective_batch_size} is not a multiple of "
                                  f"per_device_train_batch_size {per_device} x {world} process(es).",
                                  "Change one of them, or set [trl].gradient_accumulation_steps yourself.")
            settings["gradient_accumulation_steps"] = steps

    def check_args(self, config, args, data: list[LoadedData], world: int) -> None:
        """Checks of the resolved TRL config against the data, before anything is loaded."""

    def run_info(self) -> dict[str, Any]:
        """What train.json records about the run beyond the common keys (known once built)."""
        return {}

    def before_train(self, checkpoint: str | None) -> None:
        """Called after the TRL trainer is built, before training starts (``checkpoint``: the
        checkpoint a resumed run continues from)."""

    def after_train(self, record: dict[str, Any]) -> None:
        """Called when training ends, also after an error: add to ``record``, release resources."""

    def result_extras(self) -> dict[str, Any]:
        """Keys ``train()`` returns beyond train.json's (e.g. ``evaluate_settings`` for
        ``--then-evaluate``)."""
        return {}


class SFTRunner(TrainerBase):
    """``aloe-bench train sft``: TRL's SFTTrainer on conversational prompt-completion rows."""

    name = "sft"
    config_class = cfg.SFTTrainConfig
    presets = cfg.SFT_PRESETS

    def trl_classes(self):
        """(trl.SFTConfig, trl.SFTTrainer)."""
        from trl import SFTConfig, SFTTrainer

        return SFTConfig, SFTTrainer

    def load_data(self, config: cfg.SFTTrainConfig) -> list[LoadedData]:
        """sft.jsonl completions (or dpo.jsonl rejected replies) plus the [[mix]] sources."""
        from aloe_bench_trl.data import load_mix_data, load_sft_data

        out = []
        if config.train_on == "mix-only":
            if not config.mix:
                raise ConfigError("train_on = \"mix-only\" (the agent-only preset) needs [[mix]] entries.",
                                  "Add e.g. mix = [{data = \"codeact.jsonl\", weight = 1.0}].")
        elif not config.data:
            raise ConfigError("No data: set data = a generate output folder or sft.jsonl (dpo.jsonl for "
                              "train_on = \"rejected\").", "Or use --set data=PATH.")
        else:
            out.append(load_sft_data(config.data, config.train_on, config.limit))
        for i, mix in enumerate(config.mix):
            out.append(load_mix_data(mix.data, mix.weight, seed=i))
        return out

    def trl_settings(self, config, data, given):
        """Loss on completions; on assistant turns only when a completion holds several turns."""
        from aloe_bench_trl.data import needs_assistant_mask

        settings: dict[str, Any] = {"completion_only_loss": True}
        if any(needs_assistant_mask(d.rows) for d in data):
            settings["assistant_only_loss"] = True
        return settings

    def build(self, config, args, model, tokenizer, dataset, peft_config):
        """An SFTTrainer; with assistant-only loss, a marked copy of the chat template when TRL has none."""
        from trl import SFTTrainer

        if args.assistant_only_loss:
            from aloe_bench_trl.templates import training_template

            marked = training_template(tokenizer, config.model, config.chat_template)
            if marked is not None:
                tokenizer.chat_template = marked
        return SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                          peft_config=peft_config)


class DPORunner(TrainerBase):
    """``aloe-bench train dpo``: TRL's DPOTrainer with a reference that is never stale."""

    name = "dpo"
    config_class = cfg.DPOTrainConfig
    presets = cfg.DPO_PRESETS

    def trl_classes(self):
        """(trl.DPOConfig, trl.DPOTrainer)."""
        from trl import DPOConfig, DPOTrainer

        return DPOConfig, DPOTrainer

    def load_data(self, config: cfg.DPOTrainConfig) -> list[LoadedData]:
        """dpo.jsonl rows."""
        from aloe_bench_trl.data import load_dpo_data

        if not config.data:
            raise ConfigError("No data: set data = a generate output folder or dpo.jsonl.", "Or use --set data=PATH.")
        return [load_dpo_data(config.data, config.limit)]

    def check_start(self, config: cfg.DPOTrainConfig, start) -> None:
        """The sft-dpo preset: the model must be a finished ``train sft`` output."""
        if config.from_sft:
            from aloe_bench_trl.models import check_sft_output

            check_sft_output(start)

    def trl_settings(self, config, data, given):
        """Precomputed reference log-probs when asked for."""
        if config.reference == "precompute":
            if "precompute_ref_log_probs" in given and not config.trl["precompute_ref_log_probs"]:
                raise ConfigError("reference = \"precompute\" contradicts [trl].precompute_ref_log_probs = false.")
            return {"precompute_ref_log_probs": True}
        if config.trl.get("precompute_ref_log_probs"):
            raise ConfigError("[trl].precompute_ref_log_probs = true: set reference = \"precompute\" instead.",
                              "The reference is chosen by `reference` (auto, copy, precompute).")
        return {}

    def build(self, config, args, model, tokenizer, dataset, peft_config):
        """A DPOTrainer. Reference: with LoRA the adapter switched off (no copy); for full training
        a frozen copy of the starting weights, so TRL never reloads a reference from disk."""
        from trl import DPOTrainer

        ref_model = None
        if config.reference == "copy" or (config.reference == "auto" and peft_config is None):
            ref_model = copy.deepcopy(model).eval()
            ref_model.requires_grad_(False)
        return DPOTrainer(model=model, ref_model=ref_model, args=args, train_dataset=dataset,
                          processing_class=tokenizer, peft_config=peft_config)

    @staticmethod
    def reference_kind(config: cfg.DPOTrainConfig, lora: bool) -> str:
        """What the reference is, for train.json."""
        if config.reference == "precompute":
            return "precomputed log-probs of the starting model"
        if config.reference == "copy" or not lora:
            return "frozen copy of the starting model"
        return "starting model with the LoRA adapter off"


class _Run:
    """One ``train`` invocation."""

    def __init__(self, trainer: TrainerBase, config, output, resume: bool, quiet: bool):
        self.trainer, self.config, self.resume, self.quiet = trainer, config, resume, quiet
        target = output or config.output_dir
        if not target:
            raise ConfigError("No output folder.", "Set output_dir in the config or pass --output DIR.")
        self.output = Path(target).expanduser().resolve()
        self.record_path = self.output / "train.json"
        self.t0 = time.monotonic()

    # -- checks before anything heavy -----------------------------------------------------------
    def _previous(self, announce: bool = True) -> dict[str, Any] | None:
        """The output folder's train.json when resuming; errors for a folder that needs --resume.

        A run that stopped before its first checkpoint (``failed`` or ``interrupted`` with no
        ``checkpoint-*``) has nothing to keep: it is started over, with or without ``--resume``,
        so a fixed config is not refused as "different"."""
        import json

        previous = None
        if self.record_path.is_file():
            try:
                previous = json.loads(self.record_path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ConfigError(f"{self.record_path} is unreadable ({type(exc).__name__}).",
                                  "Remove the folder to train from scratch.") from None
        checkpoints = _checkpoints(self.output) if self.output.is_dir() else []
        if previous is not None and previous.get("status") != "complete" and not checkpoints:
            if announce:
                from aloe_bench.cli.common import console

                console.print(f"{self.output} holds a {previous.get('status', 'unfinished')} run with no "
                              "checkpoint yet: starting it over.")
            return None
        if not self.resume:
            if previous is not None or checkpoints:
                raise ConfigError(f"{self.output} already holds a training run (train.json or checkpoints).",
                                  "Add --resume to continue it, or choose another output folder.")
            if self.output.is_dir() and any(p.name not in LOCK_FILES for p in self.output.iterdir()):
                raise ConfigError(f"{self.output} is not empty.", "Choose a new or empty output folder.")
            return None
        if previous is None:
            return None
        if previous.get("trainer") != self.trainer.name:
            raise ResumeConflictError(f"{self.output} holds a {previous.get('trainer')!r} run, not {self.trainer.name!r}.")
        old, new = previous.get("config", {}), self.config.result_keys()
        diffs = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new))
                 if k not in self.config.OPERATIONAL and old.get(k) != new.get(k)]
        if diffs:
            raise ResumeConflictError(f"Cannot resume {self.output} with a different config: {'; '.join(diffs)}.",
                                      "Resume with the original config, or train into another folder.")
        return previous

    def _trl_args(self, trl_class, data: list[LoadedData], on_gpu: bool, bf16_ok: bool):
        fields = {f.name for f in dataclasses.fields(trl_class)}
        given = set(self.config.trl)
        settings: dict[str, Any] = dict(self.config.TRL_DEFAULTS)
        settings.update(cfg.machine_defaults(on_gpu, bf16_ok, fields, given))
        settings.update(self.trainer.trl_settings(self.config, data, given))
        settings.update(self.config.trl)
        world = int(os.environ.get("WORLD_SIZE", "1"))
        self.trainer.batch_settings(self.config, settings, given, world, trl_class)
        settings.update(output_dir=str(self.output), disable_tqdm=True)
        if settings.get("seed") is None:
            settings["seed"] = 0
        try:
            args = trl_class(**settings)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"TRL refused the [trl] settings: {_first_line(exc)}",
                              f"See trl.{trl_class.__name__} for the accepted values.") from None
        self.effective_batch = args.per_device_train_batch_size * args.gradient_accumulation_steps * world
        self.trainer.check_args(self.config, args, data, world)
        return args

    # -- the run ----------------------------------------------------------------------------------
    def execute(self) -> dict[str, Any]:
        from aloe_bench_trl.models import start_model

        trl_config, _ = self.trainer.trl_classes()
        cfg.check_trl_keys(self.config, {f.name for f in dataclasses.fields(trl_config)})
        start = start_model(self.config.model)
        self.trainer.check_start(self.config, start)
        previous = self._previous(announce=False)  # refuse early, before loading data and TRL
        if previous is not None and previous.get("status") == "complete":
            from aloe_bench.cli.common import console

            console.print(f"{self.output} is already trained (train.json status complete); nothing to resume.")
            return {**previous, "output": str(self.output), "model": f"hf:{self.output}",
                    "base_model": f"hf:{start.root_source()}", **self.trainer.result_extras()}
        data = self.trainer.load_data(self.config)

        import torch

        on_gpu = torch.cuda.is_available()
        bf16_ok = on_gpu and torch.cuda.is_bf16_supported()
        args = self._trl_args(trl_config, data, on_gpu, bf16_ok)
        with self._lock():
            if _main_process():
                previous = self._previous()  # again, under the lock: another process may have started
            return self._locked(start, data, args, on_gpu, bf16_ok, previous)

    def _lock(self):
        """The output folder's run lock (one writer at a time; the main process only, since
        every process of ``accelerate launch`` runs this)."""
        import contextlib

        if not _main_process():
            self.output.mkdir(parents=True, exist_ok=True)
            return contextlib.nullcontext()
        from aloe_bench.evaluation.run_folder import RunLock

        return RunLock(self.output)

    def _locked(self, start, data, args, on_gpu, bf16_ok, previous) -> dict[str, Any]:
        record = self._record(start, data, args, previous)
        self._write(record)
        try:
            result = self._train(start, data, args, on_gpu, bf16_ok, record)
        except KeyboardInterrupt:
            record.update(status="interrupted", finished=_now())
            self._write(record)
            raise
        except BaseException as exc:
            record.update(status="failed", error=f"{type(exc).__name__}: {_first_line(exc)}", finished=_now())
            self._write(record)
            raise
        return result

    def _record(self, start, data: list[LoadedData], args, previous) -> dict[str, Any]:
        from aloe_bench.backends.checkpoints import folder_fingerprint

        fingerprint = folder_fingerprint(start.ref.folder) if start.ref.folder is not None else None
        return {
            "schema_version": SCHEMA_VERSION,
            "trainer": self.trainer.name,
            "status": "running",
            "config": self.config.result_keys(),
            "trl_args": {k: v for k, v in args.to_dict().items() if not k.startswith("_")},
            "effective_batch_size": self.effective_batch,
            "base_model": {"spec": start.spec, "source": start.source, "fingerprint": fingerprint},
            "data": [d.describe() for d in data],
            "versions": _versions(),
            "started": (previous or {}).get("started", _now()),
            "resumed": (previous or {}).get("resumed", 0) + (1 if previous else 0),
            "previous_wall_time_s": (previous or {}).get("wall_time_s", 0.0),
        }

    def _write(self, record: dict[str, Any]) -> None:
        if _main_process():
            atomic_write_json(self.record_path, record)

    def _dataset(self, data: list[LoadedData]):
        from datasets import Dataset

        rows = [row for d in data for row in d.rows]
        return Dataset.from_list(rows)

    def _train(self, start, data, args, on_gpu, bf16_ok, record) -> dict[str, Any]:
        import datasets
        from huggingface_hub.utils import disable_progress_bars
        from transformers.utils import logging as hf_logging

        from aloe_bench_trl.models import load_for_training, training_dtype

        hf_logging.set_verbosity_error()
        datasets.disable_progress_bars()
        disable_progress_bars()  # "Writing model shards" bars would break into the display
        dtype = training_dtype(self.config.dtype, on_gpu, bf16_ok)
        model, tokenizer = load_for_training(start, dtype)
        peft_config = None
        if self.config.lora is not None:
            from peft import LoraConfig

            lora = self.config.lora
            peft_config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                     target_modules=lora.target_modules, task_type="CAUSAL_LM")
        if self.trainer.name == "dpo":
            record["reference"] = DPORunner.reference_kind(self.config, peft_config is not None)
        dataset = self._dataset(data)
        with warnings.catch_warnings():
            # transformers 5 renames (gradient -> activation checkpointing) warned about inside TRL
            warnings.filterwarnings("ignore", category=FutureWarning)
            return self._run_trainer(start, args, model, tokenizer, dataset, peft_config, dtype, record)

    def _run_trainer(self, start, args, model, tokenizer, dataset, peft_config, dtype, record) -> dict[str, Any]:
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        from aloe_bench.cli.common import console, show_progress
        from aloe_bench_trl.callbacks import RichProgressCallback

        original_template = tokenizer.chat_template
        try:
            trainer = self.trainer.build(self.config, args, model, tokenizer, dataset, peft_config)
        except AloeBenchError:
            raise
        except (ValueError, RuntimeError) as exc:
            raise ConfigError(f"TRL cannot train with this configuration: {_first_line(exc)}",
                              "Check the [trl] settings and the data shape.") from None
        record.update(self.trainer.run_info())
        self._write(record)
        for callback in (PrinterCallback, ProgressCallback):
            trainer.remove_callback(callback)
        display = RichProgressCallback(console, f"{self.trainer.name} {start.spec}", enabled=show_progress(self.quiet))
        trainer.add_callback(display)
        checkpoint = None
        if self.resume:
            found = _checkpoints(self.output)
            checkpoint = str(found[-1]) if found else None
            console.print(f"Resuming from {checkpoint}." if checkpoint else "No checkpoint yet: training from the start.")
        try:
            self.trainer.before_train(checkpoint)
            trainer.train(resume_from_checkpoint=checkpoint)
        finally:
            display.close()
            self.trainer.after_train(record)
        tokenizer.chat_template = original_template  # the saved folder keeps the model's own template
        self._save(trainer, tokenizer, start, dtype, peft_config is not None)
        return self._finish(trainer, record, checkpoint, start)

    def _save(self, trainer, tokenizer, start, dtype, lora: bool) -> None:
        if lora and self.config.merge:
            from aloe_bench_trl.models import merge_adapter

            adapter = self.output / ".adapter"
            trainer.save_model(str(adapter))
            if trainer.accelerator.is_main_process:
                merge_adapter(adapter, start, self.output, dtype)
                shutil.rmtree(adapter, ignore_errors=True)
        else:
            trainer.save_model(str(self.output))  # a full model, or the adapter (merge = false)
        if trainer.accelerator.is_main_process:
            tokenizer.save_pretrained(str(self.output))
            if not self.config.keep_checkpoints:
                for checkpoint in _checkpoints(self.output):
                    shutil.rmtree(checkpoint, ignore_errors=True)

    def _finish(self, trainer, record, checkpoint, start) -> dict[str, Any]:
        history = trainer.state.log_history
        resumed_step = int(checkpoint.rsplit("-", 1)[-1]) if checkpoint else 0
        steps = [{"step": h["step"], "epoch": h.get("epoch"), **{k: h[k] for k in self.trainer.step_keys if k in h}}
                 for h in history if "loss" in h and "step" in h]
        summary = next((h for h in reversed(history) if "train_runtime" in h), {})
        runtime = float(summary.get("train_runtime") or 0.0)
        tokens_now = [s["num_tokens"] for s in steps if "num_tokens" in s and s["step"] > resumed_step]
        tokens_before = [s["num_tokens"] for s in steps if "num_tokens" in s and s["step"] <= resumed_step]
        tokens = (tokens_now[-1] - (tokens_before[-1] if tokens_before else 0.0)) if tokens_now else None
        final = steps[-1] if steps else {}
        wall = time.monotonic() - self.t0
        record.update(
            status="complete",
            finished=_now(),
            steps=steps,
            global_steps=trainer.state.global_step,
            final_loss=final.get("loss"),
            train_loss=summary.get("train_loss"),
            final_reward_margin=final.get("rewards/margins"),
            final_reward_accuracy=final.get("rewards/accuracies"),
            train_runtime_s=runtime,
            wall_time_s=record.pop("previous_wall_time_s", 0.0) + wall,
            train_tokens=tokens,
            tokens_per_s=(tokens / runtime) if tokens and runtime else None,
            saved={"spec": f"hf:{self.output}", "merged": self.config.lora is None or self.config.merge,
                    "adapter": self.config.lora is not None and not self.config.merge},
        )
        self._write(record)
        return {**record, "output": str(self.output), "model": f"hf:{self.output}",
                "base_model": f"hf:{start.root_source()}", **self.trainer.result_extras()}
