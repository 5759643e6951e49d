"""``aloe-bench leaderboard``: one row per run, ranked by Average AL within a protocol."""

from __future__ import annotations

import click


@click.command("leaderboard")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path())
@click.option("--format", "-f", "fmt", default="markdown", show_default=True,
              help="Output format: markdown, csv, html, json, latex, or one a plugin registers.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write to FILE instead of standard output.")
@click.option("--judgements", is_flag=True,
              help="Also list every re-scoring (RUN_DIR/judgements/NAME) as its own row.")
@click.option("--include-incomplete", is_flag=True,
              help="Also list incomplete runs (and runs of unknown status), marked and not ranked.")
@click.option("--plot", "plots", multiple=True, type=click.Path(dir_okay=False),
              help="Also draw the runs' AL(k) curves to FILE (.png, .svg or .pdf; repeatable).")
@click.option("--resamples", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Bootstrap resamples of the paired difference that decides tied ranks (0: no tie check).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of those resamples.")
def command(run_dirs, fmt, output, judgements, include_incomplete, plots, resamples, seed):
    """Compare runs: model, simulator, judge, personas, Average AL and IR with 95% CIs, the
    length-adjusted Average, N-IR, R2, AL(1), AL(K), reply length and cost, sorted by Average.

    RUN_DIR is a run folder, a RUN_DIR/judgements/NAME re-scoring, or a folder of run folders
    (e.g. results/runs). Runs whose protocols differ (user simulator, judge, judge mode,
    persona set, turns, prompt versions) are not ranked together: ranks restart per protocol
    (A1, A2, B1) and a note says what differs. Two runs of one protocol whose paired difference
    of Average (bootstrap over their shared personas) has a 95% interval containing 0 share a
    tied rank range (1–2). Incomplete runs (a run that `--resume` could
    still add to) are left out with a warning, or listed unranked with --include-incomplete.

    \b
    Example:
      aloe-bench leaderboard runs/qwen runs/llama --format markdown --plot al_curves.png
    """
    from pathlib import Path

    from rich.markup import escape

    from aloe_bench.cli.common import console
    from aloe_bench.errors import DataError
    from aloe_bench.plugins import default_host
    from aloe_bench.evaluation.preflight import check_output_file_writable
    from aloe_bench.reporting.leaderboard import leaderboard_rows
    from aloe_bench.reporting.results import load_results
    from aloe_bench.evaluation.run_folder import atomic_write_text

    render = default_host().reporters.get(fmt).callable()
    for target, option in [(output, "--output"), *((p, "--plot") for p in plots)]:
        if target:
            check_output_file_writable(target, option=option)

    def skip(path, error) -> None:
        console.print(f"[yellow]Warning:[/] skipped {escape(str(path))}: {escape(error.message)}", soft_wrap=True)

    results = load_results(run_dirs, judgements=judgements, on_error=skip)
    if not include_incomplete:
        for r in results:
            if not r.complete:
                console.print(f"[yellow]Warning:[/] left out {escape(r.status_note())} "
                              "(--include-incomplete lists it, unranked)")
        results = [r for r in results if r.complete]
        if not results:
            raise DataError("None of the given runs is complete.",
                            "Finish them with `aloe-bench evaluate --output RUN_DIR --resume`, or pass "
                            "--include-incomplete to list them unranked.")
    rows, notes = leaderboard_rows(results, resamples=resamples, seed=seed)
    text = render(rows, notes)
    if output:
        atomic_write_text(Path(output), text)
        console.print(f"Leaderboard ({fmt}, {len(rows)} runs) written to [bold]{output}[/]")
    else:
        click.echo(text, nl=not text.endswith("\n"))
    if plots:
        from aloe_bench.reporting.plots import plot_curves

        for path in plot_curves(results, plots):
            console.print(f"AL(k) curves written to [bold]{path}[/]")
