"""Finding, fingerprinting and loading transformers checkpoints.

A model reference is a local folder or a hub id. A local folder may also hold a peft adapter
(``adapter_config.json`` and the adapter weights, as ``aloe-bench train ... merge = false`` writes):
its base model (``base_model_name_or_path``) is loaded and the adapter merged into it. Loading
failures (a missing folder, a hub id that is not cached while ``HF_HUB_OFFLINE=1``, a folder
without a tokenizer) become one-line :class:`~aloe_bench.errors.ConfigError` messages with a hint
instead of tracebacks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aloe_bench.backends.checkpoints import adapter_base
from aloe_bench.errors import ConfigError



@dataclass(frozen=True)
class ModelRef:
    """Where a checkpoint comes from: ``folder`` for local checkpoints, else a hub ``repo_id``."""

    name: str
    folder: Path | None = None
    revision: str | None = None
    #: For an adapter folder: the base model it adapts (a hub id or folder), loaded first.
    adapter_base: str | None = None

    @property
    def source(self) -> str:
        """What to pass to ``from_pretrained``."""
        return str(self.folder) if self.folder is not None else self.name


def _looks_like_path(text: str) -> bool:
    return text.startswith(("/", "./", "../", "~", ".\\")) or text in (".", "..") or "\\" in text


def locate(reference: str, revision: str | None = None) -> ModelRef:
    """A :class:`ModelRef` for a hub id or local path; an error for a local path that is not there."""
    reference = reference.strip()
    if not reference:
        raise ConfigError("The hf provider needs a model: a hub id or a local folder.",
                          "Use e.g. --model hf:HuggingFaceTB/SmolLM2-135M-Instruct or --model hf:/path/to/checkpoint.")
    path = Path(reference).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ConfigError(f"Model path {reference!r} is a file, not a checkpoint folder.",
                              "Point hf: at the folder holding config.json (for GGUF files use the folder and gguf_file=NAME).")
        if not (path / "config.json").is_file():
            base = adapter_base(path)
            if base is not None:
                return ModelRef(name=reference, folder=path.resolve(), revision=revision, adapter_base=base)
            raise ConfigError(f"No config.json in model folder {reference!r}.",
                              "Point hf: at a folder written by save_pretrained (or a hub snapshot), or at a peft "
                              "adapter folder (adapter_config.json).")
        return ModelRef(name=reference, folder=path.resolve(), revision=revision)
    if _looks_like_path(reference):
        raise ConfigError(f"Model folder {reference!r} does not exist.", "Check the path (relative paths start from the current folder).")
    return ModelRef(name=reference, revision=revision)


def hub_snapshot(ref: ModelRef) -> Path | None:
    """The local snapshot folder of a hub model once it is in the HF cache, else None."""
    if ref.folder is not None:
        return ref.folder
    try:
        from transformers.utils.hub import cached_file

        config = cached_file(ref.name, "config.json", revision=ref.revision,
                             _raise_exceptions_for_missing_entries=False)
    except Exception:  # noqa: BLE001 - any failure means "not resolvable to a folder": fingerprint falls back
        return None
    return Path(config).parent if config else None




def resolve_device_dtype(device: str | None, dtype: str | None) -> tuple[str, Any]:
    """(device, torch dtype): ``auto`` picks CUDA with bfloat16 when available, else CPU float32."""
    import torch

    device = (device or "auto").lower()
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"Device {device!r} requested but CUDA is not available.", "Use device=cpu or device=auto.")
    name = (dtype or "auto").lower()
    if name == "auto":
        on_cuda = device.startswith("cuda")
        return device, torch.bfloat16 if on_cuda and torch.cuda.is_bf16_supported() else (
            torch.float16 if on_cuda else torch.float32)
    aliases = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
               "float16": torch.float16, "fp16": torch.float16, "half": torch.float16}
    if name not in aliases:
        raise ConfigError(f"Unknown dtype {dtype!r}.", "Use auto, float32, bfloat16 or float16.")
    return device, aliases[name]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def _hub_offline() -> bool:
    try:
        from huggingface_hub import constants

        return bool(constants.HF_HUB_OFFLINE)
    except ImportError:  # pragma: no cover - transformers always brings huggingface_hub
        return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def load_model_and_tokenizer(ref: ModelRef, *, device: str, dtype: Any, trust_remote_code: bool = False):
    """Load tokenizer and causal LM for ``ref`` onto ``device`` in eval mode."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the per-load weight bar would break into the run's live display
    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if ref.revision:
        kwargs["revision"] = ref.revision
    offline = _hub_offline()
    try:
        tokenizer = AutoTokenizer.from_pretrained(ref.source, **kwargs)
        if ref.adapter_base is not None:
            model = load_adapter_model(ref, dtype, trust_remote_code)
        else:
            model = AutoModelForCausalLM.from_pretrained(ref.source, dtype=dtype, **kwargs)
    except (OSError, ValueError, KeyError) as exc:
        if ref.folder is not None:
            hint = "The folder must hold a causal LM and its tokenizer, as written by save_pretrained."
        elif offline:
            hint = "HF_HUB_OFFLINE=1 is set and the model is not in the local HF cache: download it first or pass a local folder."
        else:
            hint = "Check the hub id (and access rights: `hf auth login`) or pass a local folder."
        raise ConfigError(f"Cannot load model {ref.name!r}: {_first_line(exc)}", hint) from exc
    model.to(device)
    model.eval()
    return model, tokenizer


def load_adapter_model(ref: ModelRef, dtype: Any, trust_remote_code: bool):
    """The base model of an adapter folder with the adapter merged into its weights."""
    from transformers import AutoModelForCausalLM

    try:
        from peft import PeftModel
    except ImportError:
        from aloe_bench.errors import MissingDependencyError

        raise MissingDependencyError(f"{ref.name} is a peft adapter folder, and peft is not installed.",
                                     "pip install peft") from None
    base = locate(ref.adapter_base or "")
    model = AutoModelForCausalLM.from_pretrained(base.source, dtype=dtype, trust_remote_code=trust_remote_code)
    return PeftModel.from_pretrained(model, str(ref.folder)).merge_and_unload()

