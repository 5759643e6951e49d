"""``aloe-bench judge``: re-score a stored run with another judge, without re-running conversations."""

from __future__ import annotations

import asyncio

import click


@click.command("judge")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--judge", "judge_spec", required=True, help="Judge backend spec (e.g. gpt-4o, hf:PATH, smollm2).")
@click.option("--judge-protocol", default="aloe", show_default=True, help="Judge protocol.")
@click.option("--judge-mode", type=click.Choice(["turn", "history"]), help="Default: the run's mode.")
@click.option("--judge-samples", type=click.IntRange(min=1), default=1, show_default=True, help="Judgements per reply.")
@click.option("--judge-option", multiple=True, metavar="KEY=VALUE", help="Option for the judge backend (repeatable).")
@click.option("--name", help="Name of the score set (default: from the judge spec and mode).")
@click.option("--concurrency", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--no-cache", is_flag=True, help="Do not use the shared call cache.")
def command(run_dir, judge_spec, judge_protocol, judge_mode, judge_samples, judge_option, name, concurrency, no_cache):
    """Score RUN_DIR's transcripts with another judge into RUN_DIR/judgements/NAME/ (resumable)."""
    from aloe_bench.cli.common import console, parse_options
    from aloe_bench.cli.evaluate import cache_path
    from aloe_bench.cli.summary import print_summary
    from aloe_bench.harness import rescore
    from aloe_bench.plugins import default_host

    summary, folder = asyncio.run(rescore(
        run_dir, judge_spec, default_host(), name=name, judge_protocol=judge_protocol, judge_mode=judge_mode,
        judge_options=parse_options(judge_option, "--judge-option"), samples=judge_samples,
        cache_path=None if no_cache else cache_path(), concurrency=concurrency))
    print_summary(summary)
    console.print(f"Scores in [bold]{folder}[/]")
