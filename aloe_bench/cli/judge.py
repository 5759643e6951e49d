"""``aloe-bench judge``: re-score a stored run with another judge, without re-running conversations."""

from __future__ import annotations

import shlex
import sys

import click


@click.command("judge")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--judge", "judge_spec", required=True, multiple=True, help="Judge backend spec (e.g. gpt-4o, hf:PATH, smollm2). Give it two or more times for a judge ensemble: members j1, j2, ... (same protocol and options) each score every reply; the reply's score is their mean (--judge-aggregate) and the summary reports their agreement (docs/validity.md).")
@click.option("--judge-aggregate", type=click.Choice(["mean", "median"]), default="mean", show_default=True, help="With a judge ensemble: mean or median of the members' scores of a reply.")
@click.option("--judge-protocol", default="aloe", show_default=True, help="Judge protocol.")
@click.option("--judge-mode", type=click.Choice(["turn", "history"]), help="Default: the run's mode.")
@click.option("--judge-samples", type=click.IntRange(min=1), default=1, show_default=True, help="Judgements per reply.")
@click.option("--judge-option", multiple=True, metavar="KEY=VALUE", help="Option for the judge backend (repeatable).")
@click.option("--name", help="Name of the score set (default: judge spec (an ensemble's specs joined by +), protocol if not aloe, mode, samples if above 1, median for a median ensemble).")
@click.option("--rejudge-missing", is_flag=True, help="Also ask again for replies whose judge answers stayed unreadable.")
@click.option("--concurrency", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--no-cache", is_flag=True, help="Do not use the shared call cache.")
def command(run_dir, judge_spec, judge_aggregate, judge_protocol, judge_mode, judge_samples, judge_option, name,
            rejudge_missing, concurrency, no_cache):
    """Score RUN_DIR's transcripts with another judge into RUN_DIR/judgements/NAME/ (resumable).

    Running the same command again judges only what is missing (replies never judged, judge
    calls that failed). A NAME that holds a re-scoring with other settings is refused. Exit code
    0: complete; 3: incomplete (judge calls failed; run the command again); 1: error; 2: usage.
    """
    import asyncio

    from aloe_bench.cli.common import console, parse_options
    from aloe_bench.cli.evaluate import cache_path, print_ensemble
    from aloe_bench.cli.summary import exit_for_status, print_summary
    from aloe_bench.evaluation.judging import judge_run
    from aloe_bench.plugins import default_host
    from aloe_bench.evaluation.preflight import check_cache_writable, check_judgements_writable
    from aloe_bench.secrets import redact_argv

    check_judgements_writable(run_dir, name)  # before any judge call
    if not no_cache:
        check_cache_writable(cache_path())
    summary, folder = asyncio.run(judge_run(
        run_dir, list(judge_spec) if len(judge_spec) > 1 else judge_spec[0], default_host(), name=name, judge_protocol=judge_protocol, judge_mode=judge_mode,
        judge_options=parse_options(judge_option, "--judge-option"), samples=judge_samples,
        cache_path=None if no_cache else cache_path(), concurrency=concurrency, rejudge_missing=rejudge_missing,
        aggregate=judge_aggregate))
    print_summary(summary)
    if summary.judges is not None:
        print_ensemble(summary.judges)
    console.print(f"Scores in [bold]{folder}[/]")
    exit_for_status(summary, "aloe-bench " + " ".join(shlex.quote(a) for a in redact_argv(sys.argv[1:])))
