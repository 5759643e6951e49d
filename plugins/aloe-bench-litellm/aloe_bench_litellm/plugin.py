"""Entry point of the plugin: registers the ``litellm`` and ``oai`` model providers.

Nothing heavy is imported here: litellm loads only when a ``litellm`` model is built, aiohttp
only when an ``oai`` model is.
"""

from __future__ import annotations

from typing import Any

from aloe_bench.hookspecs import hookimpl


def make_model(rest: str, **options: Any):
    """Factory of the ``litellm`` provider: ``rest`` is the litellm model name
    (``gpt-4o-mini``, ``openai/my-model``, ``anthropic/claude-3-5-haiku-latest``); ``options`` are
    checked against :class:`~aloe_bench_litellm.options.LitellmOptions` first."""
    from aloe_bench_litellm.model import LiteLLMModel
    from aloe_bench_litellm.options import LitellmOptions

    return LiteLLMModel(rest, options=LitellmOptions.parse("litellm", options))


def make_oai_model(rest: str, **options: Any):
    """Factory of the ``oai`` provider: ``rest`` is the model name the OpenAI-compatible server
    serves; ``options`` are checked against :class:`~aloe_bench_litellm.oai_options.OaiOptions`
    first (see :mod:`aloe_bench_litellm.oai`)."""
    from aloe_bench_litellm.oai import OaiModel
    from aloe_bench_litellm.oai_options import OaiOptions

    return OaiModel(rest, options=OaiOptions.parse("oai", options))


def claims(spec: str) -> bool:
    """True for bare litellm model names, which need no ``litellm:`` prefix: ``gpt-4o-mini``,
    ``openai/my-model``, ``ollama/llama3:8b`` (a colon only after a ``/``). ``hff:Qwen/x`` and
    ``foo:bar`` look like provider prefixes, so they are left to the core's "unknown provider"
    error instead of failing later as a litellm request."""
    head = spec.split("/", 1)[0]
    return bool(spec.strip()) and ":" not in head and not any(c.isspace() for c in spec)


def price(rest: str) -> tuple[float, float] | None:
    """USD per input and output token of a litellm model name, from litellm's local price map
    (``--dry-run``); None for a model the map does not know (a self-served model)."""
    from aloe_bench_litellm.model import load_litellm

    litellm = load_litellm()
    info = litellm.model_cost.get(rest) or litellm.model_cost.get(rest.split("/", 1)[-1])
    if not info or info.get("input_cost_per_token") is None:
        return None
    return float(info["input_cost_per_token"]), float(info.get("output_cost_per_token") or 0.0)


@hookimpl
def aloe_register_models(register):
    """Register the ``litellm`` provider (it also claims bare API model names) and the ``oai``
    provider (``oai:MODEL``: OpenAI-compatible servers over a lean aiohttp transport)."""
    register("litellm", make_model, claims=claims, price=price,
             description="Any API model through litellm (OpenAI, Anthropic, vLLM/SGLang/TGI/llama.cpp servers, ...); "
                         "bare model names need no prefix")
    register("oai", make_oai_model,
             description="OpenAI-compatible servers (vLLM, SGLang, TGI, llama.cpp, ...) over a lean aiohttp "
                         "transport: oai:<served-model-name>, base_url option or OPENAI_API_BASE")
