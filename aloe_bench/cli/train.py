"""``aloe-bench train NAME``: run a trainer a plugin registered (``aloe_register_trainers``).

The core knows no training library: it reads the trainer's typed config class, builds the config
(defaults < ``--preset`` < ``--config`` file < ``--set KEY=VALUE``), calls the trainer's ``train``
and, with ``--then-evaluate``, evaluates the trained model and its base model under one protocol
and prints the paired difference of Average AL and IR with a bootstrap interval over the shared
personas. With ``--then-regress TASKS`` it runs ``aloe-bench regress`` (a command the
aloe-bench-lmeval plugin adds) on the base and the trained model and prints the change per task:
the general-capability check that the data mix kept general skills.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import sys
from pathlib import Path
from typing import Any

import click

from aloe_bench.errors import EXIT_INCOMPLETE, AloeBenchError, ConfigError


class TrainCommand(click.Command):
    """``train`` whose ``--help`` lists the installed trainers when run from the command line
    (the generated reference, built without the CLI's context, shows the fixed text only)."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The registered trainers, then the epilog."""
        if ctx.find_root().obj is not None:
            try:
                from aloe_bench.plugins import default_host

                entries = list(default_host().trainers)
            except AloeBenchError:
                entries = []
            with formatter.section("Registered trainers"):
                formatter.write_dl([(e.name, f"{e.description} [{e.plugin}]") for e in entries]
                                   or [("(none)", "install aloe-bench-trl for sft and dpo")])
        super().format_epilog(ctx, formatter)


# -- building the config ---------------------------------------------------------------------------

def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {key}: {part!r} is not a table.")
        node = child
    node[parts[-1]] = value


def parse_sets(pairs: tuple[str, ...]) -> list[tuple[str, Any]]:
    """``--set KEY=VALUE`` pairs; dotted keys reach into tables (``trl.learning_rate=2e-5``,
    ``lora.r=8``); values are read as JSON when they can be (numbers, booleans, lists), else text."""
    out = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects KEY=VALUE, got {pair!r}.")
        try:
            parsed: Any = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        out.append((key.strip(), parsed))
    return out


def _unwrap_model(annotation: Any):
    """The pydantic model class inside ``annotation`` (``X``, ``X | None``), else None."""
    from pydantic import BaseModel

    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _validation_error(exc, config_class, config_file: str | None, name: str) -> ConfigError:
    import difflib

    first = exc.errors()[0]
    loc = [str(p) for p in first["loc"]]
    where = ".".join(loc)
    if first["type"] != "extra_forbidden":
        return ConfigError(f"Invalid setting {where!r}: {first['msg']}.",
                           f"`aloe-bench train {name} --show-config` lists the keys and their defaults.")
    model = config_class
    for part in loc[:-1]:
        field = getattr(model, "model_fields", {}).get(part)
        model = _unwrap_model(field.annotation) if field else None
        if model is None:
            break
    valid = list(getattr(model, "model_fields", {})) if model is not None else []
    close = difflib.get_close_matches(loc[-1], valid, n=3, cutoff=0.6)
    return ConfigError(f"Unknown setting {where!r}" + (f" in {config_file}" if config_file else "") + "."
                       + (f" Did you mean: {', '.join(close)}?" if close else ""),
                       f"Valid keys{' of [' + '.'.join(loc[:-1]) + ']' if loc[:-1] else ''}: {', '.join(valid)}.")


def build_train_config(trainer, name: str, config_file: str | None, preset: str | None,
                       sets: list[tuple[str, Any]]):
    """The trainer's config: its defaults < ``preset`` < the TOML file < ``--set`` pairs,
    validated by its ``config_class`` (a pydantic model, a dataclass, or any class taking a dict)."""
    from aloe_bench.cli.common import load_toml

    data: dict[str, Any] = {}
    if preset:
        data.update(presets_of(trainer)[preset][1])
    if config_file:
        data.update(load_toml(config_file))
    for key, value in sets:
        _set_dotted(data, key, value)
    config_class = trainer.config_class
    if hasattr(config_class, "model_validate"):
        from pydantic import ValidationError

        try:
            return config_class.model_validate(data)
        except ValidationError as exc:
            raise _validation_error(exc, config_class, config_file, name) from None
    if dataclasses.is_dataclass(config_class):
        known = {f.name for f in dataclasses.fields(config_class)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"Unknown setting(s) {', '.join(map(repr, unknown))} for trainer {name!r}.",
                              f"Valid keys: {', '.join(sorted(known))}.")
        try:
            return config_class(**data)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"Invalid config for trainer {name!r}: {exc}.") from None
    return config_class(data)


def presets_of(trainer) -> dict[str, tuple[str, dict[str, Any]]]:
    """The trainer's presets: name -> (what it trains on, the settings it applies)."""
    return dict(getattr(trainer, "presets", None) or {})


def config_reference(trainer, name: str) -> str:
    """The trainer's config keys with their defaults and descriptions, as commented TOML (keys
    without a default are shown commented out)."""
    import re

    config_class = trainer.config_class
    lines = [f"# aloe-bench train {name}: {config_class.__name__}"]
    doc = (config_class.__doc__ or "").strip().splitlines()
    if doc:
        lines.append("# " + re.sub(r"``([^`]*)``", r"`\1`", doc[0]))
    trl_defaults = getattr(config_class, "TRL_DEFAULTS", None)
    tables: list[tuple[str, Any, bool]] = []

    def entry(key: str, default: Any, description: str | None) -> str:
        text = f"{key} = {json.dumps(default)}" if default is not None else f"# {key} = ..."
        return text + (f"  # {description}" if description else "")

    if hasattr(config_class, "model_fields"):
        for key, field in config_class.model_fields.items():
            if key == "trl" and trl_defaults:
                continue  # shown as its own table below
            sub = _unwrap_model(field.annotation)
            if sub is None:
                sub = next((_unwrap_model(a) for a in getattr(field.annotation, "__args__", ()) if _unwrap_model(a)),
                           None)
                if sub is not None:  # a list of tables
                    tables.append((key, sub, True))
                    continue
            else:
                tables.append((key, sub, False))
                continue
            default = None if field.is_required() else field.get_default(call_default_factory=True)
            lines.append(entry(field.alias or key, default, field.description))
        for key, sub, many in tables:
            lines += ["", f"[[{key}]]  # repeatable table" if many else f"[{key}]  # optional table"]
            for k, f in sub.model_fields.items():
                d = None if f.is_required() else f.get_default(call_default_factory=True)
                lines.append(entry(k, d, f.description))
    elif dataclasses.is_dataclass(config_class):
        for f in dataclasses.fields(config_class):
            default = f.default if f.default is not dataclasses.MISSING else None
            lines.append(entry(f.name, default, None))
    if trl_defaults:
        lines += ["", f"[trl]  # passed to trl.{getattr(config_class, 'TRL_CLASS', '')} unchanged; aloe-bench's "
                      "defaults below (plus bf16 and gradient checkpointing on a GPU, use_cpu without one)"]
        lines += [f"{k} = {json.dumps(v)}" for k, v in trl_defaults.items()]
    presets = presets_of(trainer)
    if presets:
        lines += ["", "# presets (--preset NAME):"]
        lines += [f"#   {p}: {desc}; sets {json.dumps(settings)}" for p, (desc, settings) in presets.items()]
    return "\n".join(lines)


# -- after training: evaluation -----------------------------------------------------------------------

#: Evaluation settings a reused baseline run must share with the tuned run's.
PROTOCOL_KEYS = ("user", "judge", "user_protocol", "judge_protocol", "judge_mode", "judge_samples", "personas",
                 "turns", "limit", "seed", "user_params", "judge_params", "model_params", "reply_format",
                 "rlpa_history", "profile_probe")


def paired_difference(tuned, base, *, resamples: int = 1000, seed: int = 0, level: float = 0.95) -> dict[str, Any]:
    """Average AL and IR of ``tuned`` minus ``base`` (two :class:`~aloe_bench.reporting.results.ScoreMatrix`)
    over the personas both were evaluated on, with a paired percentile bootstrap interval
    (:func:`aloe_bench.metrics.paired_difference`)."""
    from aloe_bench.errors import AloeBenchError
    from aloe_bench.metrics import paired_difference as paired

    try:
        return paired(tuned.values, tuned.persona_ids, base.values, base.persona_ids, resamples=resamples,
                      seed=seed, level=level)
    except AloeBenchError as exc:
        raise ConfigError(exc.message, exc.hint) from None


def _check_baseline(baseline: Path, config) -> None:
    from aloe_bench.reporting.results import load_result

    old = load_result(baseline).spec.config
    new = config.result_keys()
    diffs = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in PROTOCOL_KEYS if old.get(k) != new.get(k)]
    if diffs:
        raise ConfigError(f"--baseline {baseline} was evaluated under another protocol: {'; '.join(diffs)}.",
                          "Give the evaluation config the baseline used, or leave --baseline out to evaluate the "
                          "base model again.")


def _evaluate(config, run_dir: Path, host, quiet: bool):
    import asyncio

    from aloe_bench.cli.common import console, show_progress
    from aloe_bench.cli.evaluate import cache_path
    from aloe_bench.cli.progress import LiveRunDisplay
    from aloe_bench.evaluation.engine import Evaluation
    from aloe_bench.evaluation.preflight import check_cache_writable, check_run_dir_writable

    check_run_dir_writable(run_dir)
    if config.cache:
        check_cache_writable(cache_path())
    console.print(f"Evaluating [bold]{config.model}[/] into {run_dir}")
    progress = LiveRunDisplay(console, enabled=show_progress(quiet))
    ev = Evaluation(config, run_dir, host, resume=(run_dir / "run.json").is_file(), cache_path=cache_path(),
                    progress=progress)
    with progress:
        return asyncio.run(ev.run())


def then_evaluate(result: dict[str, Any], eval_config: str | None, baseline: str | None, quiet: bool) -> int:
    """Evaluate the trained model (and its base model, unless ``baseline`` names a finished run of
    it) under one protocol into OUTPUT/eval/; print the leaderboard and the paired difference.
    ``result["evaluate_settings"]`` (optional): evaluation keys the trainer requires for both runs
    (the rlpa trainer: ``reply_format = "rlpa"``, ``profile_probe = true``), over the file's.
    Returns the exit code (3 when a run is incomplete)."""
    from aloe_bench.cli.common import console, out
    from aloe_bench.cli.evaluate import build_config
    from aloe_bench.evaluation.roles import validate_roles
    from aloe_bench.fileio import atomic_write_json
    from aloe_bench.plugins import default_host
    from aloe_bench.reporting.leaderboard import leaderboard_rows, render_markdown
    from aloe_bench.reporting.results import load_result

    for key in ("output", "model", "base_model"):
        if not result.get(key):
            raise ConfigError(f"--then-evaluate: the trainer returned no {key!r}.",
                              "The trainer's train() must return output, model and base_model.")
    host = default_host()
    # A trainer may name evaluation settings its model needs (rlpa: its reply format), over the file's.
    base = build_config(dict(result.get("evaluate_settings") or {}), None, eval_config or None)
    tuned_cfg = base.model_copy(update={"model": result["model"]}).with_default_specs(host)
    base_cfg = base.model_copy(update={"model": result["base_model"]}).with_default_specs(host)
    validate_roles(tuned_cfg, host)
    eval_dir = Path(result["output"]) / "eval"
    if baseline:
        _check_baseline(Path(baseline), tuned_cfg)
    else:
        validate_roles(base_cfg, host)
    summaries = {"tuned": _evaluate(tuned_cfg, eval_dir / "tuned", host, quiet)}
    base_dir = Path(baseline) if baseline else eval_dir / "base"
    if not baseline:
        summaries["base"] = _evaluate(base_cfg, base_dir, host, quiet)
    results = [load_result(eval_dir / "tuned"), load_result(base_dir)]
    rows, notes = leaderboard_rows(results)
    out.print(render_markdown(rows, notes))
    incomplete = [r.name for r in results if not r.complete]
    if incomplete or any(r.matrix is None for r in results):
        console.print(f"[bold red]Incomplete evaluation:[/] {', '.join(incomplete)}; no paired difference. "
                      "Run the same command again to resume it.")
        return EXIT_INCOMPLETE
    comparison = paired_difference(results[0].matrix, results[1].matrix, resamples=max(base.bootstrap, 1),
                                   seed=base.seed)
    comparison.update(tuned=str(eval_dir / "tuned"), base=str(base_dir))
    atomic_write_json(eval_dir / "comparison.json", comparison)
    _print_comparison(comparison)
    return 0


def _print_comparison(c: dict[str, Any]) -> None:
    from rich.table import Table

    from aloe_bench.cli.common import fmt, out

    table = Table(title=f"Tuned minus base, paired over {c['personas']} shared persona(s) "
                        f"({int(c['level'] * 100)}% bootstrap interval, {c['resamples']} resamples)")
    for col in ("metric", "tuned", "base", "difference", "interval"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for key, label, digits in (("avg", "Average AL", 3), ("ir", "IR (slope)", 4)):
        m = c[key]
        interval = f"[{fmt(m['low'], digits)}, {fmt(m['high'], digits)}]" if m["low"] is not None else "—"
        table.add_row(label, fmt(m["tuned"], digits), fmt(m["base"], digits), f"{m['diff']:+.{digits}f}", interval)
    out.print(table)


# -- after training: general-capability check ----------------------------------------------------------

def regress_command(ctx: click.Context) -> click.Command:
    """The ``regress`` command some plugin added to the CLI (aloe-bench-lmeval); a
    :class:`ConfigError` when none did. Checked before training, so a long run never ends in it."""
    root = ctx.find_root().command
    found = root.get_command(ctx, "regress") if isinstance(root, click.Group) else None
    if found is None:
        raise ConfigError("--then-regress needs `aloe-bench regress`, which the aloe-bench-lmeval plugin adds, and it "
                          "is not installed.", "pip install aloe-bench-lmeval (or pip install -e "
                          "plugins/aloe-bench-lmeval in a checkout), or leave --then-regress out.")
    return found


def then_regress(ctx: click.Context, result: dict[str, Any], tasks: str, limit: float | None, quiet: bool) -> None:
    """Run ``aloe-bench regress`` on the base model and on the trained model (with the base run as
    its ``--baseline``), so the change per task and metric is printed with its standard error.

    regress.json goes beside the ALOE runs of ``--then-evaluate`` when they exist (OUTPUT/eval/base,
    OUTPUT/eval/tuned: the leaderboard then shows the figures), else into OUTPUT/regress-base and
    OUTPUT itself."""
    from aloe_bench.cli.common import console

    command = regress_command(ctx)
    for key in ("output", "model", "base_model"):
        if not result.get(key):
            raise ConfigError(f"--then-regress: the trainer returned no {key!r}.",
                              "The trainer's train() must return output, model and base_model.")
    output = Path(result["output"])
    evaluated = (output / "eval" / "tuned" / "run.json").is_file()
    base_dir = output / "eval" / "base" if (output / "eval" / "base" / "run.json").is_file() else output / "regress-base"
    tuned_dir = output / "eval" / "tuned" if evaluated else output
    common = ["--tasks", tasks] + (["--limit", repr(limit)] if limit is not None else []) + (["-q"] if quiet else [])
    for spec, folder, extra in ((result["base_model"], base_dir, []),
                                (result["model"], tuned_dir, ["--baseline", str(base_dir)])):
        console.print(f"General-capability check of [bold]{spec}[/] into {folder}")
        command.main([spec, "--output", str(folder), *common, *extra], prog_name="aloe-bench regress",
                     standalone_mode=False, obj=ctx.obj)


# -- the command -------------------------------------------------------------------------------------

@click.command("train", cls=TrainCommand)
@click.argument("name", required=False, metavar="NAME")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML config: the trainer's keys, a [trl] table passed to TRL, optional [lora] (see --show-config).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a config key (repeatable; dotted keys reach tables: trl.learning_rate=2e-5, lora.r=8).")
@click.option("--preset", help="A preset of the trainer (--show-config lists them), e.g. sft-rejected.")
@click.option("--output", "-o", type=click.Path(file_okay=False), help="Output folder (overrides output_dir of the config).")
@click.option("--resume", is_flag=True, help="Continue from the last checkpoint in the output folder.")
@click.option("--show-config", is_flag=True, help="Print the trainer's config keys with their defaults and presets, then exit.")
@click.option("--then-evaluate", "then_evaluate_config", is_flag=False, flag_value="", default=None, metavar="[EVAL_CONFIG]", help="Then evaluate the trained model and its base model under one protocol (an `evaluate` TOML config, or its defaults) into OUTPUT/eval/ and print the paired difference.")
@click.option("--baseline", type=click.Path(file_okay=False, exists=True), help="With --then-evaluate: reuse this finished evaluation run of the base model.")
@click.option("--then-regress", "then_regress_tasks", metavar="TASKS", help="Then run `aloe-bench regress` (plugin aloe-bench-lmeval) on the base and the trained model on these lm-eval tasks (comma-separated; aloe-regress is the offline suite) and print the change per task.")
@click.option("--regress-limit", type=float, metavar="N", help="With --then-regress: items per task (lm-eval's --limit).")
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
def command(name: str | None, config_file: str | None, sets: tuple[str, ...], preset: str | None, output: str | None,
            resume: bool, show_config: bool, then_evaluate_config: str | None, baseline: str | None,
            then_regress_tasks: str | None, regress_limit: float | None, quiet: bool) -> None:
    """Train a model with a registered trainer: aloe-bench train NAME --config FILE.toml.

    \b
    Examples (plugin aloe-bench-trl):
      aloe-bench train sft --config sft.toml --set data=runs/gen-1 --output runs/sft-1
      aloe-bench train dpo --config dpo.toml --set model=hf:runs/sft-1 --preset sft-dpo
      aloe-bench train sft --config sft.toml --then-evaluate --then-regress aloe-regress
      aloe-bench train sft --show-config
    Writes a Hugging Face model folder plus train.json; `aloe-bench evaluate --model hf:OUTPUT` runs
    it. Exit code 0: trained (and evaluated); 3: an evaluation is incomplete; 1: an error; 2: a usage
    error; 130: interrupted (resume with --resume).
    """
    from aloe_bench.cli.common import console, out
    from aloe_bench.plugins import default_host
    from aloe_bench.registry import accepted_kwargs

    if name is None:
        click.echo(click.get_current_context().get_help())
        return
    trainer = default_host().trainers.get(name).build()
    presets = presets_of(trainer)
    if preset is not None and preset not in presets:
        raise ConfigError(f"Trainer {name!r} has no preset {preset!r}.",
                          f"Its presets: {', '.join(presets) or 'none'}.")
    if show_config:
        out.print(config_reference(trainer, name), markup=False, highlight=False)
        return
    if baseline and then_evaluate_config is None:
        raise ConfigError("--baseline needs --then-evaluate.")
    if regress_limit is not None and not then_regress_tasks:
        raise ConfigError("--regress-limit needs --then-regress.")
    ctx = click.get_current_context()
    if then_regress_tasks:
        regress_command(ctx)  # the plugin must be there before hours of training
    config = build_train_config(trainer, name, config_file, preset, parse_sets(sets))
    offered = {"output": output, "resume": resume, "quiet": quiet}
    kwargs = accepted_kwargs(trainer.train, offered)
    for flag, value in offered.items():
        if value and flag not in kwargs:
            raise ConfigError(f"Trainer {name!r} does not take --{flag}.")
    try:
        result = trainer.train(config, **kwargs)
    except KeyboardInterrupt:
        args = [a for a in sys.argv[1:] if a != "--resume"]
        console.print("\n[yellow]Stopped.[/] Checkpoints are kept. Resume with:\n  "
                      + "aloe-bench " + " ".join(shlex.quote(a) for a in args) + " --resume")
        raise SystemExit(130) from None
    result = result if isinstance(result, dict) else {"result": result}
    _print_result(result)
    if result.get("status", "complete") != "complete":
        raise SystemExit(EXIT_INCOMPLETE)
    code = 0
    if then_evaluate_config is not None:
        code = then_evaluate(result, then_evaluate_config, baseline, quiet)
    if then_regress_tasks:
        then_regress(ctx, result, then_regress_tasks, regress_limit, quiet)
    if code:
        raise SystemExit(code)



def _print_result(result: dict[str, Any]) -> None:
    from aloe_bench.cli.common import out

    parts = [f"status {result.get('status', 'complete')}"]
    for key, label, digits in (("final_loss", "final loss", 4), ("final_reward_margin", "reward margin", 3),
                               ("final_reward_accuracy", "reward accuracy", 2), ("tokens_per_s", "tokens/s", 0),
                               ("wall_time_s", "wall time s", 1)):
        value = result.get(key)
        if isinstance(value, (int, float)):
            parts.append(f"{label} {value:.{digits}f}")
    out.print("Trained: " + ", ".join(parts), markup=False, highlight=False)
    if result.get("output"):
        out.print(f"Model folder: {result['output']} (train.json). Evaluate it with: aloe-bench evaluate --model "
                  f"{result.get('model', 'hf:' + str(result['output']))}", markup=False, highlight=False)
