"""Turn spec strings into components: ``provider:rest`` -> a chat model, wrapped in the cache."""

from __future__ import annotations

from typing import Any

from aloe_bench.components import ChatModel
from aloe_bench.errors import ConfigError, UnknownComponentError


def split_spec(spec: str, providers) -> tuple[str, str]:
    """(provider, rest) of a model spec.

    ``hf:Qwen/Qwen2-7B-Instruct`` -> (hf, Qwen/Qwen2-7B-Instruct); ``smollm2`` -> (smollm2, "");
    a spec whose prefix names no provider (``gpt-4o-mini``, ``openai/gpt-4o``) -> (litellm, spec).
    """
    if not spec or not spec.strip():
        raise ConfigError("Empty model spec.", "Use e.g. --model smollm2, --model hf:PATH or --model gpt-4o-mini.")
    spec = spec.strip()
    provider, sep, rest = spec.partition(":")
    if sep and provider in providers:
        return provider, rest
    if not sep and spec in providers:
        return spec, ""
    if "litellm" in providers:
        return "litellm", spec
    raise UnknownComponentError(
        f"Unknown model provider {provider if sep else spec!r} in spec {spec!r}.",
        f"Available providers: {', '.join(sorted(providers)) or 'none'}. "
        "Install aloe-bench-litellm for API models (`pip install -e plugins/aloe-bench-litellm`).",
    )


def resolve_model(spec: str, host, **options: Any) -> ChatModel:
    """A chat model for ``spec`` built by the registered provider factory.

    The model's ``provided_by`` is set to the distribution (name and version) of the plugin that
    registered the provider, so :class:`~aloe_bench.backends.cache.CachedModel` can key calls by the code
    that answers them (see :attr:`~aloe_bench.components.ChatModel.identity_pins_replies`).
    """
    provider, rest = split_spec(spec, host.models.names())
    entry = host.models.get(provider)
    model = entry.factory(rest, **options)
    if not isinstance(model, ChatModel):
        raise ConfigError(f"Provider {provider!r} returned {type(model).__name__}, not a ChatModel.")
    model.spec = model.spec or spec
    distribution_of = getattr(host, "distribution_of", None)
    if distribution_of is not None:
        dist, version = distribution_of(entry.plugin)
        model.provided_by = {"dist": dist, "version": version}
    return model
