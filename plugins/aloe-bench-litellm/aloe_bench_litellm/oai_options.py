"""``OaiOptions``: the typed options of the ``oai`` provider (``--model-option KEY=VALUE``).

The ``oai`` provider speaks the OpenAI chat-completions protocol itself (see
:mod:`aloe_bench_litellm.oai`), so its options are the protocol's own, not litellm's:

- where to send requests: ``base_url`` (``api_base`` is accepted as the litellm provider's name
  for it), ``api_key``;
- transport: ``timeout``, ``max_retries``, ``backoff_base``, ``backoff_cap``, ``concurrency``;
- answer probabilities for judges: ``logprobs``, ``top_logprobs``;
- sampling, overriding the run's setting for that role: ``temperature``, ``top_p``,
  ``max_tokens``, ``seed``, ``stop``;
- ``extra_body``: extra JSON fields sent with every request (vLLM's ``top_k``, ``min_p``,
  ``chat_template_kwargs``), which may not set a field the provider writes itself
  (:data:`RESERVED_BODY_KEYS`).

Any other key is an error with the closest accepted key as a suggestion.
"""

from __future__ import annotations

from typing import Any, Optional

from pydantic import Field, field_validator, model_validator

from aloe_bench.options import Flag
from aloe_bench.secrets import redact

from aloe_bench_litellm.options import MAX_TOP_LOGPROBS, TransportOptions

#: Request fields the ``oai`` provider sets itself (or through its own options): ``extra_body``
#: may not set them.
RESERVED_BODY_KEYS = frozenset({
    "model", "messages", "stream", "stream_options", "n", "logprobs", "top_logprobs", "max_tokens",
    "max_completion_tokens", "temperature", "top_p", "seed", "stop",
})

#: Options that override the run's sampling parameters of the role, in request order.
SAMPLING_OPTIONS = ("temperature", "top_p", "max_tokens", "seed", "stop")


class OaiOptions(TransportOptions):
    """Options of the ``oai`` provider; see the module docstring."""

    base_url: Optional[str] = Field(None, description="the server's OpenAI-compatible API, e.g. http://localhost:8000/v1 "
                                                      "(else OPENAI_API_BASE / OPENAI_BASE_URL)")
    api_base: Optional[str] = Field(None, description="the same as base_url (the litellm provider's name for it)")
    api_key: Optional[str] = Field(None, description="bearer key (else OPENAI_API_KEY; none is sent when neither is set)")
    logprobs: Flag = Field(False, description="score judges from answer probabilities (the server must return logprobs)")
    top_logprobs: int = Field(MAX_TOP_LOGPROBS, ge=1,
                              description=f"alternatives per token for logprobs (default and ceiling {MAX_TOP_LOGPROBS})")

    temperature: Optional[float] = Field(None, ge=0, description="sampling temperature (overrides the run's)")
    top_p: Optional[float] = Field(None, ge=0, le=1, description="nucleus sampling mass (overrides the run's)")
    max_tokens: Optional[int] = Field(None, ge=1, description="most tokens per reply (overrides the run's)")
    seed: Optional[int] = Field(None, description="sampling seed (overrides the run's)")
    stop: Optional[list[str]] = Field(None, description="stop strings (a string or a list; override the run's)")
    extra_body: Optional[dict[str, Any]] = Field(None, description='extra JSON fields for the server, e.g. '
                                                                   '{"top_k": 20, "min_p": 0.05} for vLLM')

    @field_validator("extra_body")
    @classmethod
    def _no_owned_keys(cls, value: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
        """``extra_body`` may not set a field the provider writes itself."""
        for key in value or {}:
            if key in SAMPLING_OPTIONS:
                raise ValueError(f"key {key!r} has its own option: use {key}=... instead")
            if key in RESERVED_BODY_KEYS:
                raise ValueError(f"key {key!r} is set by aloe-bench and cannot be given here")
        return value

    @model_validator(mode="after")
    def _one_base_url(self) -> "OaiOptions":
        """``base_url`` and ``api_base`` name the same thing: both given must agree."""
        if self.base_url and self.api_base and self.base_url.rstrip("/") != self.api_base.rstrip("/"):
            raise ValueError("base_url and api_base are the same option; give one")
        return self

    def __repr_args__(self):
        """Field values for ``repr``: secret keys redacted at any depth (``extra_body`` may hold a
        token), not only at the top."""
        for name, value in super().__repr_args__():
            yield name, redact(value)

    def sampling_overrides(self) -> dict[str, Any]:
        """The sampling options that are set (they replace the run's values for this role)."""
        return {name: getattr(self, name) for name in SAMPLING_OPTIONS if getattr(self, name) is not None}
