"""Every hook of aloe-bench. This module is the plugin API reference.

Plugins implement hooks with the :data:`hookimpl` marker::

    from aloe_bench import hookimpl

    @hookimpl
    def aloe_register_models(register):
        register("echo", EchoModel, description="Repeats the last user message")

and are found through the ``aloe_bench`` entry-point group (``[project.entry-points.aloe_bench]``
in their pyproject.toml). Built-in features use the very same hooks.

Hooks are called the pluggy way: by the argument names an implementation declares, so it may
accept any subset of a hook's arguments (``def aloe_register_metrics():`` is valid, and hooks can
gain arguments without breaking plugins). Anything an implementation or a factory raises is
reported as :class:`aloe_bench.errors.PluginError` naming the plugin.

Registration hooks take one ``register(name, factory, *, description="", **keywords)`` callback.
The host records which plugin registered each name; a name registered twice in one registry is
an error naming both plugins, and so is a keyword the kind does not take. Every registration
hook is called for every plugin (no first-result).

Factories are called with the keyword arguments their signature accepts: the core's own
(``params=``, ``mode=``) only where a factory declares them, the user's options (``--*-option``,
config tables) always (an option a factory does not take is a one-line error naming it). What a
factory returns is checked against its kind.
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

    def __call__(self, name: str, factory: Callable[..., Any], *, description: str = "", **keywords: Any) -> None: ...


@hookspec
def aloe_register_models(register: Register) -> None:
    """Register chat-model providers (models under test and backends of simulators and judges).

    ``name`` is the provider prefix of a model spec ``provider:rest`` (``hf``, ``litellm``), or a
    whole spec without a colon (``smollm2``). ``factory(rest: str, **options)`` returns a
    :class:`aloe_bench.components.ChatModel`; ``rest`` is the part after the colon ("" for a
    bare name) and ``options`` are the user's ``--model-option KEY=VALUE`` pairs (validate them:
    :class:`aloe_bench.options.ProviderOptions`). Import heavy libraries inside the factory.

    Keywords: ``claims=callable(spec) -> bool`` claims specs without a known prefix (the litellm
    plugin claims bare API model names; at most one provider may); ``default=True`` makes the
    provider's name the spec of roles that name none (at most one provider); ``demo_quality=True``
    says its models are demo quality (runs that simulate or judge with them are flagged);
    ``price=callable(rest) -> (usd_per_input_token, usd_per_output_token) | None`` tells
    ``--dry-run`` what a model costs without building it (None: unknown; local models: ``(0, 0)``).
    A spec nobody provides or claims is an error with suggestions before any call.
    """


@hookspec
def aloe_register_simulators(register: Register) -> None:
    """Register user-simulator protocols (``--user-protocol NAME``; built-in: ``aloe``).

    ``factory(backend: ChatModel | None, *, params: GenerationParams, **options)`` returns a
    :class:`aloe_bench.components.Simulator` that writes the next user message of each
    conversation in a batch, using ``backend`` for generation. ``params`` are the run's sampling
    parameters of the user role (passed only if the factory declares it); ``options`` come from
    ``--user-protocol-option KEY=VALUE`` / ``user_protocol_options``. Keyword
    ``needs_backend=False``: the protocol generates without a model; ``backend`` is then None and
    no backend is loaded. :func:`aloe_bench.protocols.build_simulator` reuses a registered one.
    """


@hookspec
def aloe_register_judges(register: Register) -> None:
    """Register judge protocols (``--judge-protocol NAME``; built-in: ``aloe``).

    ``factory(backend: ChatModel | None, *, mode: str = "turn", params: GenerationParams, **options)``
    returns a :class:`aloe_bench.components.Judge` that scores replies 1-5 for a persona. ``mode``
    is ``turn`` (persona, current user message, reply: the published protocol) or ``history``
    (the whole dialogue too); ``params`` are the judge role's sampling parameters (``mode`` and
    ``params`` are passed only if the factory declares them); ``options`` come from
    ``--judge-protocol-option KEY=VALUE`` / ``judge_protocol_options``. Keyword
    ``needs_backend=False`` as for simulators. :func:`aloe_bench.protocols.build_judge` reuses a
    registered judge (``build_judge("aloe", backend, mode=mode, params=params)``).

    One registry serves every judge-like role. Keyword ``task`` says which
    (:data:`aloe_bench.plugins.JUDGE_TASKS`): ``"score"`` (the default: the 1-5 judge above) or
    ``"pairwise"``: ``factory(backend, *, mode, params, **options)`` returns a
    :class:`aloe_bench.components.PairwiseJudge` whose ``compare(requests)`` says which of two
    replies fits the persona better (``generate``'s ``--pair-judge-protocol``; built-in
    ``aloe-pairwise``); ``"coverage"``: ``factory(backend, *, params, **options)`` returns a
    :class:`aloe_bench.components.CoverageJudge` whose ``count(requests)`` says how many golden
    facts an inferred profile covers (the ``profile`` reward, ``--profile-probe``; built-in
    ``aloe-coverage``); ``"engagement"``: returns an :class:`aloe_bench.components.EngagementJudge`
    whose ``decide(requests)`` says whether the user would want to keep chatting after a reply
    (the ``response`` reward; built-in ``aloe-engagement``). A role that needs one task refuses a
    judge registered for another.
    """


@hookspec
def aloe_register_rewards(register: Register) -> None:
    """Register rewards over policy outputs (RLPA's trainer; :func:`aloe_bench.rewards.build_reward`
    from Python). Built in: ``profile`` (F1 of the inferred profile from a coverage judge) and
    ``response`` (1 or 0 from an engagement judge).

    ``factory(backend: ChatModel | None, *, params: GenerationParams | None, host: PluginHost, **options)``
    returns a :class:`aloe_bench.components.Reward` whose ``reward(requests)`` gives one
    :class:`aloe_bench.components.RewardResult` per :class:`aloe_bench.components.RewardRequest`,
    in order. ``backend`` is the chat model of the judge spec the caller named; ``params`` the
    judge's sampling parameters (None: the judge's defaults); ``host`` the plugin host, to build a
    registered judge the reward wraps (``build_judge(name, backend, host=host, params=params)``,
    :func:`aloe_bench.protocols.build_judge`); ``params`` and ``host`` are passed only if the
    factory declares them; ``options`` are the caller's (``build_reward(name, spec, **options)``).
    The built-ins take ``judge=`` (the judge protocol they wrap: any judge registered for task
    ``coverage``, resp. ``engagement``) and pass their other options to that judge. Keyword
    ``needs_backend=False``: the reward asks no model (``backend`` is None, no spec is taken).

    A reward never raises for a bad answer or a failed call: a failed judge call is a result
    with ``error`` set and value None, not a reward of 0 (the caller decides). Example::

        class Brevity:
            name = "brevity"

            def __init__(self, backend=None, *, max_words: int = 30):
                self.max_words = int(max_words)

            async def reward(self, requests):
                from aloe_bench.components import RewardResult

                return [RewardResult(value=float(len((r.response or "").split()) <= self.max_words))
                        for r in requests]

            def describe(self):
                return {"kind": self.name, "options": {"max_words": self.max_words}, "prompt_hashes": {}}

        @hookimpl
        def aloe_register_rewards(register):
            register("brevity", Brevity, needs_backend=False, description="1.0 for a short reply")
    """


@hookspec
def aloe_register_generation_protocols(register: Register) -> None:
    """Register the generation protocols of ``aloe-bench generate`` (ALOE's preference data).

    Keyword ``role`` says which role the protocol can play
    (:data:`aloe_bench.plugins.GENERATION_ROLES`):

    - ``"induction"`` (``--induction-protocol``; built-in ``aloe-induction``):
      ``factory(backend, *, params, **options)`` returns an
      :class:`aloe_bench.components.Induction` that writes the persona facts and traits the user
      has revealed so far;
    - ``"responder"`` (``--hinted-protocol`` / ``--unhinted-protocol``; built-in ``aloe-hinted``
      and ``aloe-unhinted``): returns a :class:`aloe_bench.components.Responder` that answers the
      user message (with the induced persona as ``hint`` for the hinted role, None for the
      unhinted one).

    ``params`` are the role's sampling parameters (passed only if the factory declares it);
    ``options`` come from the config's ``ROLE_protocol_options`` tables. Keyword
    ``needs_backend=False``: the protocol generates without a model (``backend`` is None).
    """


@hookspec
def aloe_register_metrics(register: Register) -> None:
    """Register run metrics.

    Register the function ``metric(data: aloe_bench.metrics.RunData) -> dict`` itself, or a
    zero-argument factory that returns it. Its result is stored in ``summary.json`` under
    ``extra[name]`` and reaches leaderboard rows (``extra``) and the HTML report; a metric that
    raises becomes a warning and ``{"error": ...}`` there, never a lost run. The alignment metrics (AL(k),
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
    """Register trainers: ``aloe-bench train NAME --config FILE [--set KEY=VALUE]... [--preset P]``.

    ``factory()`` (no arguments) returns a trainer object with:

    - ``config_class``: the trainer's typed config, a pydantic model (``extra="forbid"``: an
      unknown key is a one-line error naming the close matches), a dataclass, or any class taking
      a dict. The core builds it from the trainer's defaults < the preset < the TOML file <
      ``--set`` pairs (dotted keys reach tables: ``trl.learning_rate=2e-5``);
      ``aloe-bench train NAME --show-config`` prints its keys, defaults and descriptions.
    - ``presets`` (optional): ``{name: (description, settings)}``; ``--preset name`` applies the
      settings under the file's.
    - ``train(config, *, output=None, resume=False, quiet=False) -> dict``: the core passes only
      the keywords ``train`` declares (``--output``, ``--resume``, ``--quiet``; a flag the trainer
      does not take is an error). The dict holds ``status`` (``"complete"``, else exit code 3),
      ``output`` (the folder written), ``model`` (the spec of the trained model, e.g.
      ``"hf:OUTPUT"``) and ``base_model`` (the spec of the model it started from), which
      ``--then-evaluate`` evaluates under one protocol; anything else (losses, tokens/s) is shown
      when it has the names the built-in trainers use (``final_loss``, ``tokens_per_s``). Raise
      :class:`aloe_bench.errors.ConfigError` for bad configs; ``KeyboardInterrupt`` passes through
      (the CLI prints how to resume, exit code 130).

    Built in with aloe-bench-trl: ``sft`` and ``dpo``. Example::

        class EchoTrainer:
            config_class = EchoConfig  # a pydantic model
            presets = {"short": ("one step", {"steps": 1})}

            def train(self, config, *, output=None):
                ...  # write a model folder into output
                return {"status": "complete", "output": str(output), "model": f"hf:{output}",
                        "base_model": config.model}

        @hookimpl
        def aloe_register_trainers(register):
            register("echo", EchoTrainer, description="Copies the model")
    """


@hookspec
def aloe_register_reporters(register: Register) -> None:
    """Register leaderboard formats (``aloe-bench leaderboard --format NAME``).

    Register the function ``render(rows: list[dict], notes: list[str]) -> str`` itself, or a
    zero-argument factory that returns it. Each row is one run with the keys of
    :data:`aloe_bench.reporting.leaderboard.ROW_FIELDS` (model, judge, avg and
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
