"""``HFOptions``: the typed options of the ``hf`` and ``smollm2`` providers
(``--model-option KEY=VALUE``), checked before any model is loaded or converted."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional

from pydantic import BeforeValidator, Field

from aloe_bench.options import Flag, ProviderOptions

#: dtype names accepted by :func:`aloe_bench_hf.loading.resolve_device_dtype` (case-insensitive).
DTYPES = ("auto", "float32", "fp32", "bfloat16", "bf16", "float16", "fp16", "half")


def _lower(value: Any) -> Any:
    """Strings lowercased and stripped (``BF16`` is ``bf16``); other values unchanged."""
    return value.strip().lower() if isinstance(value, str) else value


class HFOptions(ProviderOptions):
    """Options of the ``hf`` and ``smollm2`` providers (``smollm2`` ignores ``revision``)."""

    device: Annotated[Optional[str], BeforeValidator(_lower)] = Field(
        None, description="auto (CUDA if available, else CPU), cpu, cuda, cuda:N")
    dtype: Annotated[Optional[Literal[DTYPES]], BeforeValidator(_lower)] = Field(  # type: ignore[valid-type]
        None, description="auto (bfloat16 on CUDA, float32 on CPU), float32, bfloat16, float16")
    batch_size: int = Field(16, ge=1, description="conversations per padded batch (default 16)")
    max_input_tokens: Optional[int] = Field(
        None, ge=1, description="left-truncate longer histories, oldest messages first "
                                "(default: context size minus max_tokens)")
    trust_remote_code: Flag = Field(False, description="allow custom model code from the checkpoint (default false)")
    threads: Optional[int] = Field(
        None, ge=1, description="torch CPU threads (default: torch's choice, capped at the CPUs this process may use)")
    revision: Optional[str] = Field(None, description="hub revision (branch, tag or commit)")
    repetition_penalty: Optional[float] = Field(
        None, gt=0, description="penalise tokens already in the context (> 1.0; 1.0 = none; default: none, "
                                "1.2 for smollm2)")
