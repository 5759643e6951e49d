"""Every hook of aloe-bench. This module is the plugin API reference.

Plugins implement hooks with the :data:`hookimpl` marker::

    from aloe_bench import hookimpl

    @hookimpl
    def aloe_register_models(register):
        register("echo", EchoModel, description="Repeats the last user message")

and are found through the ``aloe_bench`` entry-point group (``[project.entry-points.aloe_bench]``
in their pyproject.toml). Built-in features use the very same hooks.

Registration hooks take one ``register(name, factory, *, description="")`` callback. The host
records which plugin registered each name; a name registered twice in one registry is an error
naming both plugins. Every registration hook is called for every plugin (no first-result).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Protocol

import pluggy

if TYPE_CHECKING:  # pragma: no cover - typing only
    import click

    from aloe_bench.events import Event

PROJECT = "aloe_bench"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class Register(Protocol):
    """The callback passed to every ``aloe_register_*`` hook."""

    def __call__(self, name: str, factory: Callable[..., Any], *, description: str = "") -> None: ...


@hookspec
def aloe_register_models(register: Register) -> None:
    """Register chat-model providers (models under test and backends of simulators and judges).

    ``name`` is the provider prefix of a model spec ``provider:rest`` (``hf``, ``litellm``), or a
    whole spec without a colon (``smollm2``). ``factory(rest: str, **options)`` returns a
    :class:`aloe_bench.components.ChatModel`; ``rest`` is the part after the colon ("" for a
    bare name). A spec whose prefix names no provider goes to the ``litellm`` provider whole.
    Import heavy libraries inside the factory, not at module import.
    """


@hookspec
def aloe_register_simulators(register: Register) -> None:
    """Register user-simulator protocols (``--user-protocol NAME``; built-in: ``aloe``).

    ``factory(backend: ChatModel, **options)`` returns a
    :class:`aloe_bench.components.Simulator` that writes the next user message of each
    conversation in a batch, using ``backend`` for generation.
    """


@hookspec
def aloe_register_judges(register: Register) -> None:
    """Register judge protocols (``--judge-protocol NAME``; built-in: ``aloe``).

    ``factory(backend: ChatModel, *, mode: str = "turn", **options)`` returns a
    :class:`aloe_bench.components.Judge` that scores replies 1-5 for a persona. ``mode`` is
    ``turn`` (persona, current user message, reply: the published protocol) or ``history``
    (the whole dialogue too).
    """


@hookspec
def aloe_register_metrics(register: Register) -> None:
    """Register run metrics.

    ``factory()`` returns a callable ``metric(data: aloe_bench.metrics.RunData) -> dict`` whose
    result is stored in ``summary.json`` under ``extra[name]``. The alignment metrics (AL(k),
    N(k), IR, N-IR, R2, N-R2, CIs) are the built-in ``alignment`` metric and fill the summary's
    top-level fields.
    """


@hookspec
def aloe_register_persona_sources(register: Register) -> None:
    """Register persona sources by scheme.

    A persona source string is ``scheme`` or ``scheme:argument`` (``aloe-eval``,
    ``jsonl:path/to/file.jsonl``). ``factory(argument: str) -> list[Persona]`` returns the
    personas in a stable order with stable ids, or raises :class:`aloe_bench.errors.DataError`.
    """


@hookspec
def aloe_register_trainers(register: Register) -> None:
    """Register trainers (``aloe-bench train NAME --config FILE``).

    ``factory()`` returns an object with ``config_class`` (a dataclass or pydantic model built
    from the TOML config) and ``train(config) -> dict`` (paths and metrics of the result).
    """


@hookspec
def aloe_register_reporters(register: Register) -> None:
    """Register leaderboard formats (``aloe-bench leaderboard --format NAME``).

    ``factory()`` returns a callable ``render(rows: list[dict], notes: list[str]) -> str``. Each
    row is one run with the keys of :data:`aloe_bench.reporting.ROW_FIELDS` (model, judge, avg and
    its CI, ir, n_ir, r2, AL(1), AL(K), cost, rank, comparable, ...), sorted by Average; ``notes``
    explain flags such as runs whose protocols differ.
    """


@hookspec
def aloe_register_commands(cli: "click.Group") -> None:
    """Add subcommands to the ``aloe-bench`` click group (``cli.add_command(...)``)."""


@hookspec
def aloe_on_event(event: "Event") -> None:
    """Observe run events (progress, logging, uploaders).

    ``event`` is a frozen dataclass from :mod:`aloe_bench.events`. Every implementation is
    called; one that raises is reported as a warning and never stops the run.
    """


@hookspec
def aloe_register_embedders(register: Register) -> None:
    """Register sentence embedders (persona de-duplication; ``--embedder NAME``).

    ``factory(**options)`` returns an object with ``name: str`` and
    ``encode(texts: list[str]) -> numpy.ndarray`` of L2-normalised rows, one per text.
    """
