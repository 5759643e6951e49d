"""Entry point of the plugin: the ``lmeval`` model provider and the ``regress`` command.

Nothing heavy is imported here (``aloe-bench --help`` loads every plugin module): lm_eval, torch
and pydantic load only when an ``lmeval`` model is built or ``regress`` runs.
"""

from __future__ import annotations

from typing import Any

from aloe_bench.hookspecs import hookimpl

#: lm-eval backends that call a paid or remote API: their price is unknown to ``--dry-run``.
API_BACKENDS = ("openai-completions", "openai-chat-completions", "local-completions", "local-chat-completions",
                "anthropic-chat", "anthropic-chat-completions", "anthropic-completions", "litellm", "litellm-chat",
                "litellm-chat-completions", "textsynth", "watsonx_llm", "azure-openai-chat-completions",
                "sglang-generate")


def lmeval_model(rest: str, **options: Any):
    """Factory of ``lmeval:BACKEND:MODEL_ARGS``: an
    :class:`~aloe_bench_lmeval.chat_model.LmevalChatModel` over the lm-eval backend built through
    lm-eval's registry; ``options`` (``--model-option``) are checked against
    :class:`~aloe_bench_lmeval.options.LmevalOptions` before anything is built."""
    from aloe_bench_lmeval.chat_model import LmevalChatModel
    from aloe_bench_lmeval.options import LmevalOptions
    from aloe_bench_lmeval.spec import parse_backend_spec

    opts = LmevalOptions.parse("lmeval", options)
    return LmevalChatModel(parse_backend_spec(rest), options=opts)


def price(rest: str) -> tuple[float, float] | None:
    """Local backends cost nothing per token; API backends' prices are unknown (``--dry-run``)."""
    backend = rest.partition(":")[0].strip()
    return None if backend in API_BACKENDS else (0.0, 0.0)


@hookimpl
def aloe_register_models(register):
    """Register the ``lmeval`` provider."""
    register("lmeval", lmeval_model, price=price,
             description="Any lm-eval backend: lmeval:BACKEND:MODEL_ARGS (hf, vllm, sglang, local-chat-completions, "
                         "...; lm_eval --model/--model_args syntax), with its chat template and generate_until")


@hookimpl
def aloe_register_commands(cli):
    """Add ``aloe-bench regress`` (general-capability check through lm-eval)."""
    from aloe_bench_lmeval.cli import regress_command

    cli.add_command(regress_command)
