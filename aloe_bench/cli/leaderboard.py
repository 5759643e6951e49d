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
@click.option("--plot", "plots", multiple=True, type=click.Path(dir_okay=False),
              help="Also draw the runs' AL(k) curves to FILE (.png, .svg or .pdf; repeatable).")
def command(run_dirs, fmt, output, judgements, plots):
    """Compare runs: model, simulator, judge, personas, Average AL and IR with 95% CIs, N-IR, R2,
    AL(1), AL(K), reply length and cost, sorted by Average.

    RUN_DIR is a run folder, a RUN_DIR/judgements/NAME re-scoring, or a folder of run folders
    (e.g. results/runs). Runs whose protocols differ (user simulator, judge, judge mode,
    persona set, turns, prompt versions) are not ranked together: ranks restart per protocol
    (A1, A2, B1) and a note says what differs.

    \b
    Example:
      aloe-bench leaderboard runs/qwen runs/llama --format markdown --plot al_curves.png
    """
    from pathlib import Path

    from aloe_bench.cli.common import console
    from aloe_bench.plugins import default_host
    from aloe_bench.reporting import leaderboard_rows
    from aloe_bench.run_results import load_results
    from aloe_bench.store import atomic_write_text

    render = default_host().reporters.get(fmt).factory()
    results = load_results(run_dirs, judgements=judgements)
    rows, notes = leaderboard_rows(results)
    text = render(rows, notes)
    if output:
        atomic_write_text(Path(output), text)
        console.print(f"Leaderboard ({fmt}, {len(rows)} runs) written to [bold]{output}[/]")
    else:
        click.echo(text, nl=not text.endswith("\n"))
    if plots:
        from aloe_bench.plots import plot_curves

        for path in plot_curves(results, plots):
            console.print(f"AL(k) curves written to [bold]{path}[/]")
