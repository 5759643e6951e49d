"""``aloe-bench generate``: ALOE's preference data (tree-structured conversations) from a persona
source, into TRL-ready sft.jsonl and dpo.jsonl."""

from __future__ import annotations

import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from aloe_bench.errors import ConfigError

_ROLE_HELP = {
    "user": "User-simulator backend spec",
    "induction": "Induction backend spec (writes what the user has revealed)",
    "hinted": "Hinted responder backend spec (answers with the induced persona as a hint)",
    "unhinted": "Unhinted responder backend spec (answers without a hint)",
    "pair_judge": "Pairwise judge backend spec (sees the true persona and both replies)",
}


def _role_options(fn):
    from aloe_bench.generation import ROLES

    for role in reversed(ROLES):
        flag = role.replace("_", "-")
        fn = click.option(f"--{flag}-option", f"{role}_option", multiple=True, metavar="KEY=VALUE",
                          help=f"Option passed to the {flag} backend (repeatable).")(fn)
        fn = click.option(f"--{flag}-protocol", f"{role}_protocol",
                          help=f"Protocol of the {flag} role registered by a plugin.")(fn)
        fn = click.option(f"--{flag}", role, metavar="SPEC",
                          help=f"{_ROLE_HELP[role]}; default: the installed default provider's model (smollm2).")(fn)
    return fn


def default_output(config) -> Path:
    """runs/generate-<personas>-<timestamp> under the current folder."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", config.personas).strip("_")
    return Path("runs") / f"generate-{name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def print_generation_header(config, host) -> None:
    """Each role's spec and protocol, and a note when a demo-quality backend plays a role."""
    from rich.markup import escape

    from aloe_bench.backends.resolve import split_spec
    from aloe_bench.cli.common import console
    from aloe_bench.generation.config import ROLES
    from aloe_bench.generation.engine import role_entry

    parts, demo = [], set()
    for role in ROLES:
        entry = role_entry(config, host, role)
        spec = config.spec(role)
        parts.append(f"{role.replace('_', '-')} [bold]{escape(spec)}[/] ({entry.name})")
        if entry.meta.get("needs_backend", True) and host.models.get(split_spec(spec, host.models)[0]).meta.get("demo_quality"):
            demo.add(spec)
    console.print(" · ".join(parts))
    if demo:
        console.print(f"[yellow]Note:[/] {escape(', '.join(sorted(demo)))} is a demo-quality backend: the data is fine "
                      "for trying the pipeline, not for training. For the paper's setting use --preset aloe-paper "
                      "(gpt-4o in every role) or --preset aloe-code (gpt-4o-mini), or name each role's model.")


def print_stats(stats) -> None:
    """The summary table at the end of a run."""
    from rich.table import Table

    from aloe_bench.cli.common import fmt, out

    flag = "" if stats.status == "complete" else f"  [{stats.status.upper()}]"
    t = Table(title=f"aloe-bench generate: {stats.conversations} conversations x {stats.turns} turns{flag}")
    t.add_column("what")
    t.add_column("value", justify="right")
    t.add_row("pairs judged", str(stats.pairs))
    t.add_row("consistent (both orders agree on a winner)", str(stats.consistent))
    t.add_row("ties (both orders say tie)", str(stats.ties))
    t.add_row("inconsistent", f"{stats.inconsistent} ({stats.unreadable_verdicts} unreadable verdicts)")
    t.add_row("agreement between the two orders", fmt(stats.order_agreement))
    t.add_row("hinted reply chosen (of consistent)", fmt(stats.hinted_win_rate))
    t.add_row("first-shown reply wins (position bias)", fmt(stats.first_position_rate))
    t.add_row("words: chosen / rejected", f"{fmt(stats.chosen_words, 1)} / {fmt(stats.rejected_words, 1)}")
    t.add_row("rows: sft.jsonl / dpo.jsonl", f"{stats.sft_rows} / {stats.dpo_rows}")
    t.add_row("spend $", f"{stats.spend:.4f}")
    out.print(t)


def exit_for_stats(stats, resume_cmd: str) -> None:
    """Exit code 3 with what is missing and how to resume when the run is incomplete."""
    from rich.markup import escape

    from aloe_bench.cli.common import console
    from aloe_bench.errors import EXIT_INCOMPLETE

    if stats.status == "complete":
        return
    console.print("[bold red]Incomplete run:[/] the data does not cover every conversation turn.")
    if stats.stopped == "max_cost":
        console.print(f"  - stopped at --max-cost (${stats.spend:.4f} spent): resume with a higher --max-cost")
    if stats.cut_short:
        detail = ", ".join(f"{k.removesuffix('_failed')} {v}" for k, v in sorted(stats.failed.items()))
        console.print(f"  - {stats.cut_short} conversation(s) cut short by a failed call ({detail})")
    if stats.unplayed:
        console.print(f"  - {stats.unplayed} conversation(s) with turns not played yet")
    for role, err in stats.errors.items():
        console.print(f"  - first {role} error: {escape(err)}")
    console.print(f"Resume with:\n  {escape(resume_cmd)}")
    raise SystemExit(EXIT_INCOMPLETE)


@click.command("generate")
@click.option("--personas", help="Persona source (default aloe-train: the 3,310 ALOE training personas; jsonl:PATH; sample).")
@click.option("--turns", type=click.IntRange(min=1), help="Turns per conversation (default 10).")
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N personas.")
@click.option("--seed", type=int, help="Seed of the sampling and of the reply that continues each turn (default 0).")
@_role_options
@click.option("--pair-judge-mode", type=click.Choice(["turn", "history"]), help="turn: persona, message, both replies (default); history: the dialogue too.")
@click.option("--protocol-option", "protocol_option", multiple=True, metavar="ROLE.KEY=VALUE", help="Option passed to a role's protocol (repeatable), e.g. pair_judge.max_retries=4.")
@click.option("--concurrency", type=click.IntRange(min=1), help="Requests in flight per backend for API backends (default 16).")
@click.option("--preset", type=click.Choice(["aloe-code", "aloe-paper"]), help="aloe-paper: gpt-4o in every role (the paper); aloe-code: gpt-4o-mini-2024-07-18, max_tokens 300 (the published code).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML file with the same keys as these options (and ROLE_params / ROLE_protocol_options tables).")
@click.option("--output", "-o", type=click.Path(file_okay=False), help="Output folder (default runs/generate-PERSONAS-TIMESTAMP).")
@click.option("--resume", is_flag=True, help="Continue the run in --output, making only the missing calls.")
@click.option("--dry-run", is_flag=True, help="Print the calls per role and estimated tokens, cost and wall time; make no call.")
@click.option("--max-cost", type=click.FloatRange(min=0), help="Stop cleanly (resumable) once the run's spend reaches USD (backend-reported costs).")
@click.option("--no-cache", is_flag=True, help="Do not read or write the shared call cache.")
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
def command(**opts: Any) -> None:
    """Generate ALOE preference data: per persona, a K-turn conversation in which a user
    simulator speaks, an induction model writes what the user has revealed, a hinted and an
    unhinted responder answer, and a pairwise judge compares the two replies in both orders.

    Writes run.json, personas.jsonl, trees.jsonl (one line per turn), sft.jsonl and dpo.jsonl
    (TRL conversational rows, one per turn whose two verdicts agree) and stats.json to the
    output folder. Exit code 0: complete; 3: incomplete (what failed and the resume command are
    printed); 1: an error; 2: a usage error.
    """
    import asyncio

    from rich.markup import escape

    from aloe_bench.cli.common import console, parse_options, show_progress
    from aloe_bench.cli.evaluate import build_config, cache_path, resume_hint
    from aloe_bench.cli.progress import LiveRunDisplay
    from aloe_bench.evaluation.preflight import check_cache_writable, check_run_dir_writable
    from aloe_bench.generation.config import PRESETS, ROLES, GenerateConfig
    from aloe_bench.generation.engine import Generation, validate_generation
    from aloe_bench.plugins import default_host

    values: dict[str, Any] = {k: opts[k] for k in ("personas", "turns", "limit", "seed", "concurrency",
                                                   "pair_judge_mode", "max_cost")}
    if opts["no_cache"]:
        values["cache"] = False
    for role in ROLES:
        values[role] = opts[role]
        values[f"{role}_protocol"] = opts[f"{role}_protocol"]
        parsed = parse_options(opts[f"{role}_option"], f"--{role.replace('_', '-')}-option")
        if parsed:
            values[f"{role}_options"] = parsed
    for key, value in parse_options(opts["protocol_option"], "--protocol-option").items():
        role, dot, name = key.partition(".")
        if not dot or role not in ROLES or not name:
            raise ConfigError(f"--protocol-option expects ROLE.KEY=VALUE with ROLE one of {', '.join(ROLES)}; got {key!r}.")
        values.setdefault(f"{role}_protocol_options", {})[name] = value
    config = build_config(values, opts["preset"], opts["config_file"], model=GenerateConfig, presets=PRESETS,
                          command="generate")
    if opts["config_file"]:  # protocol options from the command line join those of the file
        from aloe_bench.cli.common import load_toml

        file_data = load_toml(opts["config_file"])
        merged = {f"{r}_protocol_options": {**file_data.get(f"{r}_protocol_options", {}),
                                            **values.get(f"{r}_protocol_options", {})} for r in ROLES}
        config = config.model_copy(update={k: v for k, v in merged.items() if v})
    host = default_host()
    config = config.with_default_specs(host)
    validate_generation(config, host)
    print_generation_header(config, host)
    if opts["dry_run"]:
        from aloe_bench.evaluation.estimate import estimate, print_estimate

        gen = Generation(config, ".", host)
        print_estimate(estimate("generate", config, host, len(gen.personas())))
        return
    output = Path(opts["output"]) if opts["output"] else default_output(config)
    check_run_dir_writable(output)
    if config.cache:
        check_cache_writable(cache_path())
    resume_cmd = resume_hint(sys.argv[1:], output)
    console.print(f"Output folder: [bold]{output}[/]")
    progress = LiveRunDisplay(console, enabled=show_progress(opts["quiet"]), labels=("turns", "judged"))
    gen = Generation(config, output, host, resume=opts["resume"], cache_path=cache_path(), progress=progress)
    try:
        with progress:
            stats = asyncio.run(gen.run())
    except KeyboardInterrupt:
        console.print(f"\n[yellow]Stopped.[/] Every judged turn is saved. Resume with:\n  {escape(resume_cmd)}")
        raise SystemExit(130) from None
    print_stats(stats)
    console.print(f"Data in [bold]{output}[/]: sft.jsonl ({stats.sft_rows} rows), dpo.jsonl ({stats.dpo_rows} rows), "
                  "trees.jsonl, stats.json.")
    exit_for_stats(stats, resume_cmd)
