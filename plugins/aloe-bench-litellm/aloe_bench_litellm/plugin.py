"""Entry point of the plugin: registers the ``litellm`` model provider.

Nothing heavy is imported here: litellm loads only when a ``litellm`` model is built.
"""

from __future__ import annotations

from typing import Any

from aloe_bench.hookspecs import hookimpl


def make_model(rest: str, **options: Any):
    """Factory of the ``litellm`` provider: ``rest`` is the litellm model name
    (``gpt-4o-mini``, ``openai/my-model``, ``anthropic/claude-3-5-haiku-latest``)."""
    from aloe_bench_litellm.model import LiteLLMModel

    return LiteLLMModel(rest, **options)


@hookimpl
def aloe_register_models(register):
    """Register the ``litellm`` provider."""
    register("litellm", make_model,
             description="Any API model through litellm (OpenAI, Anthropic, vLLM/SGLang/TGI/llama.cpp servers, ...)")
