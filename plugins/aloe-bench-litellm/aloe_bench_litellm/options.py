"""``LitellmOptions``: the typed options of the ``litellm`` provider (``--model-option KEY=VALUE``).

Two kinds of keys:

- the plugin's own: ``api_base``, ``api_key``, ``timeout``, ``max_retries``, ``backoff_base``,
  ``backoff_cap``, ``concurrency``, ``logprobs``, ``top_logprobs``;
- request parameters (:data:`REQUEST_PARAMS`), sent with every ``litellm.acompletion`` call and
  overriding the run's generation settings of that role: the OpenAI chat-completion parameters
  litellm translates for every provider (``temperature``, ``frequency_penalty``,
  ``reasoning_effort``, ...), plus ``extra_body`` (extra JSON fields for the server: vLLM's
  ``top_k``, ``min_p``, ``chat_template_kwargs``) and ``request_options``, a table of any other
  ``litellm.acompletion`` keyword (provider-specific ones such as Anthropic's ``top_k``), which
  may not name a key the plugin sets itself (:data:`RESERVED_REQUEST_KEYS`) or one that has its
  own option.

Any other key is an error with the closest accepted key as a suggestion (``api_bse`` -> ``api_base``),
so a typo can no longer travel to the API as a silently ignored parameter. The list is fixed here
rather than read from litellm at run time: litellm's lists differ per model, hold keys the plugin
must own (``stream``, ``n``, ``max_retries``), and would need litellm imported just to validate.
"""

from __future__ import annotations

from typing import Any, Optional

from pydantic import Field, field_validator

from aloe_bench.options import Flag, ProviderOptions

#: OpenAI's ceiling on ``top_logprobs`` (vLLM's default ``max_logprobs`` is the same).
MAX_TOP_LOGPROBS = 20

#: Options sent to ``litellm.acompletion`` under their own name (when set).
REQUEST_PARAMS = ("temperature", "top_p", "seed", "stop", "frequency_penalty", "presence_penalty", "logit_bias",
                  "reasoning_effort", "verbosity", "response_format", "user", "service_tier", "prompt_cache_key",
                  "thinking", "api_version", "extra_headers", "extra_body")

#: ``litellm.acompletion`` keywords that ``request_options`` may not set: the plugin sets them
#: (model, messages, token limits, retries, logprobs) or they would break reading the reply.
RESERVED_REQUEST_KEYS = frozenset({
    "model", "messages", "max_tokens", "max_completion_tokens", "timeout", "num_retries", "max_retries",
    "drop_params", "api_key", "api_base", "base_url", "logprobs", "top_logprobs", "stream", "stream_options",
    "n", "tools", "tool_choice", "functions", "function_call", "parallel_tool_calls", "mock_response",
})


class TransportOptions(ProviderOptions):
    """What the ``litellm`` and ``oai`` providers share: per-attempt timeout, retries with
    full-jitter backoff, requests in flight, and one stop-string rule."""

    timeout: float = Field(60.0, gt=0, description="seconds per attempt (default 60)")
    max_retries: int = Field(5, ge=0, description="retries of a transient failure (default 5)")
    backoff_base: float = Field(0.5, ge=0, description="first full-jitter backoff in seconds (default 0.5)")
    backoff_cap: float = Field(20.0, ge=0, description="longest backoff in seconds (default 20)")
    concurrency: Optional[int] = Field(None, ge=1, description="requests in flight (default: the run's --concurrency)")

    @field_validator("stop", mode="before", check_fields=False)
    @classmethod
    def _one_stop_string(cls, value: Any) -> Any:
        """A single stop string is a list of one."""
        return [value] if isinstance(value, str) else value


def resolve_options(cls: type[TransportOptions], provider: str, options: Any, keyword_options: dict[str, Any]
                    ) -> TransportOptions:
    """The validated options of a model built as ``Model(name, options=...)`` or
    ``Model(name, **keyword_options)`` (a user's key named ``options`` is reported as unknown)."""
    if options is not None and not isinstance(options, cls):
        keyword_options["options"] = options
    elif options is not None and keyword_options:
        raise TypeError(f"the {provider} provider takes options= or keyword options, not both")
    return cls.parse(provider, keyword_options if options is None else options)


def apply_transport(model: Any, opts: TransportOptions) -> None:
    """Set the transport attributes both providers use: timeout, retries and backoff, requests in
    flight, answer probabilities."""
    model.timeout = opts.timeout
    model.max_retries = opts.max_retries
    model.backoff_base = opts.backoff_base
    model.backoff_cap = opts.backoff_cap
    if opts.concurrency is not None:
        model.concurrency = opts.concurrency
    model.logprobs = opts.logprobs
    model.top_logprobs = min(MAX_TOP_LOGPROBS, opts.top_logprobs)
    model.supports_choice_probs = model.logprobs


class LitellmOptions(TransportOptions):
    """Options of the ``litellm`` provider; see the module docstring for the two kinds of keys."""

    api_base: Optional[str] = Field(None, description="endpoint URL, e.g. http://localhost:8000/v1 for a local server")
    api_key: Optional[str] = Field(None, description="API key (prefer the provider's *_API_KEY environment variable)")
    logprobs: Flag = Field(False, description="score judges from answer probabilities where the server returns logprobs")
    top_logprobs: int = Field(MAX_TOP_LOGPROBS, ge=1,
                              description=f"alternatives per token for logprobs (default and ceiling {MAX_TOP_LOGPROBS})")

    temperature: Optional[float] = Field(None, ge=0, description="sampling temperature (overrides the run's)")
    top_p: Optional[float] = Field(None, ge=0, le=1, description="nucleus sampling mass (overrides the run's)")
    seed: Optional[int] = Field(None, description="sampling seed (overrides the run's)")
    stop: Optional[list[str]] = Field(None, description="stop strings (a string or a list; override the run's)")
    frequency_penalty: Optional[float] = Field(None, description="OpenAI frequency_penalty")
    presence_penalty: Optional[float] = Field(None, description="OpenAI presence_penalty")
    logit_bias: Optional[dict[str, float]] = Field(None, description="token id -> bias")
    reasoning_effort: Optional[str] = Field(None, description="reasoning models: minimal, low, medium or high")
    verbosity: Optional[str] = Field(None, description="low, medium or high (models that support it)")
    response_format: Optional[dict[str, Any]] = Field(None, description='e.g. {"type": "json_object"}')
    user: Optional[str] = Field(None, description="end-user id sent to the provider")
    service_tier: Optional[str] = Field(None, description="provider service tier (auto, default, flex, ...)")
    prompt_cache_key: Optional[str] = Field(None, description="OpenAI prompt-cache routing key")
    thinking: Optional[dict[str, Any]] = Field(None, description='Anthropic extended thinking, e.g. {"type": "enabled", '
                                                                 '"budget_tokens": 1024}')
    api_version: Optional[str] = Field(None, description="Azure API version (else AZURE_API_VERSION)")
    extra_headers: Optional[dict[str, str]] = Field(None, description="extra HTTP headers (never stored in run files)")
    extra_body: Optional[dict[str, Any]] = Field(None, description='extra JSON fields for the server, e.g. '
                                                                   '{"top_k": 20, "min_p": 0.05} for vLLM')
    request_options: dict[str, Any] = Field(default_factory=dict,
                                            description="a table of other litellm.acompletion keywords, "
                                                        "e.g. {\"top_k\": 40} for Anthropic")

    @field_validator("request_options")
    @classmethod
    def _no_owned_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        """``request_options`` may not set what the plugin sets or what has its own option."""
        for key in value:
            if key in RESERVED_REQUEST_KEYS:
                raise ValueError(f"key {key!r} is set by aloe-bench and cannot be given here")
            if key in cls.model_fields:
                raise ValueError(f"key {key!r} has its own option: use {key}=... instead")
        return value

    def request_params(self) -> dict[str, Any]:
        """The keyword arguments these options add to every ``litellm.acompletion`` call: the
        request parameters that are set, then ``request_options``."""
        params = {name: getattr(self, name) for name in REQUEST_PARAMS if getattr(self, name) is not None}
        params.update(self.request_options)
        return params
