"""``aloe-bench results``: publish runs into the project's results/ folder and regenerate its
leaderboard."""

from __future__ import annotations

import click


@click.group("results")
def command() -> None:
    """Maintain published results: results/runs/NAME/ per model, results/LEADERBOARD.md and
    results/al_curves.png/.svg."""


@command.command("publish")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--name", help="Folder name under results/runs/ (default: from the model spec).")
@click.option("--results-dir", default="results", show_default=True, type=click.Path(file_okay=False))
@click.option("--judgement", help="Publish a re-scoring (RUN_DIR/judgements/NAME) instead of the run's own scores.")
@click.option("--force", is_flag=True, help="Replace an existing published run of that name.")
def publish(run_dir, name, results_dir, judgement, force):
    """Copy RUN_DIR's run.json and summary.json plus its score matrix (no transcripts) into
    results/runs/NAME/, then regenerate the leaderboard and the curve figure."""
    from aloe_bench.cli.common import console
    from aloe_bench.reporting.publish import publish_run, update_results

    dest = publish_run(run_dir, results_dir, name=name, judgement=judgement, force=force)
    console.print(f"Published to [bold]{dest}[/]")
    for path in update_results(results_dir):
        console.print(f"Wrote [bold]{path}[/]")


@command.command("update")
@click.option("--results-dir", default="results", show_default=True, type=click.Path(file_okay=False))
def update(results_dir):
    """Regenerate results/LEADERBOARD.md and results/al_curves.png/.svg from results/runs/*/."""
    from aloe_bench.cli.common import console
    from aloe_bench.reporting.publish import update_results

    for path in update_results(results_dir):
        console.print(f"Wrote [bold]{path}[/]")
