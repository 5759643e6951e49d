"""``LmevalOptions``: the options of the ``lmeval`` provider (``--model-option KEY=VALUE``),
checked before any model is built. Everything else goes into the spec's model arguments, in
lm-eval's own syntax."""

from __future__ import annotations

from typing import Optional

from pydantic import Field

from aloe_bench.options import ProviderOptions


class LmevalOptions(ProviderOptions):
    """Options of the ``lmeval`` provider: what ``lm_eval --batch_size`` and ``--device`` set.
    A ``batch_size`` or ``device`` in the model arguments wins over these."""

    batch_size: Optional[int] = Field(
        None, ge=1, description="requests per batch (default: 16 for hf, the backend's own default otherwise)")
    device: Optional[str] = Field(None, description="device for local backends (cpu, cuda, cuda:N; default: the "
                                                    "backend's)")
