"""``aloe-bench report``: one run as a self-contained HTML page, optionally its figures too."""

from __future__ import annotations

import click


@click.command("report")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--output", "-o", type=click.Path(dir_okay=False),
              help="HTML file to write (default RUN_DIR/report.html).")
@click.option("--judgement", help="Report a re-scoring (RUN_DIR/judgements/NAME) instead of the run's own scores.")
@click.option("--compare", multiple=True, type=click.Path(file_okay=False),
              help="Another run to draw on the same curve chart and list beside this one (repeatable).")
@click.option("--figures", type=click.Path(file_okay=False),
              help="Also write al_curve.png/.svg and heatmap.png/.svg to this folder (and pf1_curve.png/.svg for runs with --profile-probe or --reply-format rlpa).")
def command(run_dir, output, judgement, compare, figures):
    """Write a single static HTML file for RUN_DIR: summary, AL(k) curve, per-persona heatmap and
    a transcript browser (persona, every turn, judge score and rationale).

    The file needs no network and no server: open it in any browser or attach it to an issue.
    All model, simulator and persona text is escaped.

    \b
    Example:
      aloe-bench report runs/smollm2-demo --output report.html
    """
    from pathlib import Path

    from aloe_bench.cli.common import console
    from aloe_bench.reporting.report import write_report
    from aloe_bench.plugins import default_host
    from aloe_bench.evaluation.preflight import check_folder_writable, check_output_file_writable

    target = Path(output) if output else Path(run_dir) / "report.html"
    check_output_file_writable(target)
    if figures:
        check_folder_writable(figures, what="--figures folder", hint="Choose another --figures folder.")
    report = write_report(run_dir, target, host=default_host(), judgement=judgement, compare=compare)
    for warning in report.warnings:
        console.print(f"[yellow]Warning:[/] {warning}")
    console.print(f"Report written to [bold]{target}[/] ({len(report.html) / 1024:.0f} KiB)")
    if figures:
        from aloe_bench.reporting.plots import plot_curves, plot_heatmap, plot_pf1_curves
        from aloe_bench.reporting.results import load_result

        result = load_result(run_dir, judgement)
        others = [load_result(p) for p in compare]
        folder = Path(figures)
        written = plot_curves([result, *others], [folder / "al_curve.png", folder / "al_curve.svg"])
        with_pf1 = [r for r in (result, *others) if r.has_pf1]
        if with_pf1:  # runs with a profile measurement: PF1(k) beside AL(k)
            written += plot_pf1_curves(with_pf1, [folder / "pf1_curve.png", folder / "pf1_curve.svg"])
        if result.matrix is not None:
            written += plot_heatmap(result, [folder / "heatmap.png", folder / "heatmap.svg"])
        for path in written:
            console.print(f"Figure written to [bold]{path}[/]")
