"""Turn spec strings into chat models: ``provider:rest`` -> the registered provider's ChatModel.

The core names no provider. A spec's prefix picks a registered provider (``hf:Qwen/x``); a whole
spec can be a provider's name (``smollm2``). Everything else belongs to the provider that
registered ``claims=`` for it: the litellm plugin claims bare API model names (``gpt-4o-mini``,
``openai/my-model``). A spec nobody claims is an error with suggestions *before any call*
("Unknown model provider 'hff'. Did you mean: hf?"). One provider may register ``default=True``:
its name is the spec used when a role names none (the hf plugin's embedded ``smollm2``).
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from aloe_bench.components import ChatModel
from aloe_bench.errors import ConfigError, UnknownComponentError

_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")


def split_spec(spec: str, models) -> tuple[str, str]:
    """(provider, rest) of a model spec, given the model-provider registry ``models``.

    ``hf:Qwen/Qwen2-7B-Instruct`` -> (hf, Qwen/Qwen2-7B-Instruct); ``smollm2`` -> (smollm2, "");
    a spec a provider claims (``gpt-4o-mini`` for litellm) -> (that provider, the whole spec).
    An unclaimed spec is an :class:`UnknownComponentError` that suggests close provider names.
    """
    if not spec or not spec.strip():
        raise ConfigError("Empty model spec.", "Name a model, e.g. --model hf:PATH; `aloe-bench plugins` lists "
                                               "the providers.")
    spec = spec.strip()
    names = models.names() if hasattr(models, "names") else sorted(models)
    provider, sep, rest = spec.partition(":")
    if sep and provider in names:
        return provider, rest
    if not sep and spec in names:
        return spec, ""
    for entry in (models.with_meta("claims") if hasattr(models, "with_meta") else []):
        if entry.meta["claims"](spec):
            return entry.name, spec
    asked = provider if sep and _PREFIX.match(provider) else spec
    close = difflib.get_close_matches(asked, names, n=3, cutoff=0.6)
    raise UnknownComponentError(
        f"Unknown model provider {asked!r} in spec {spec!r}." + (f" Did you mean: {', '.join(close)}?" if close else ""),
        f"Installed providers: {', '.join(names) or 'none'}. Specs are PROVIDER:NAME; install the plugin that "
        "provides the one you need (`aloe-bench plugins` lists what is installed).",
    )


def default_spec(host) -> str | None:
    """The spec of the provider registered with ``default=True`` (None when no plugin has one)."""
    defaults = host.models.with_meta("default")
    return defaults[0].name if defaults else None


def validate_spec(spec: str, host) -> str:
    """The provider that will serve ``spec``; raises before anything is built or called."""
    return split_spec(spec, host.models)[0]


def resolve_model(spec: str, host, **options: Any) -> ChatModel:
    """A chat model for ``spec`` built by the registered provider factory.

    The model's ``provided_by`` is set to the distribution (name and version) of the plugin that
    registered the provider, so :class:`~aloe_bench.backends.cache.CachedModel` can key calls by the code
    that answers them (see :attr:`~aloe_bench.components.ChatModel.identity_pins_replies`).
    """
    provider, rest = split_spec(spec, host.models)
    entry = host.models.get(provider)
    model = entry.build(rest, **options)
    model.spec = model.spec or spec
    if entry.meta.get("demo_quality"):
        model.demo_quality = True
    distribution_of = getattr(host, "distribution_of", None)
    if distribution_of is not None:
        dist, version = distribution_of(entry.plugin)
        model.provided_by = {"dist": dist, "version": version}
    return model
