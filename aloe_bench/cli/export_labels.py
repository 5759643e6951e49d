"""``aloe-bench export-labels``: a seeded sample of a run's turns as a CSV for people to score."""

from __future__ import annotations

import click


@click.command("export-labels", short_help="Write a seeded sample of a run's turns as a CSV for human labels.")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--sample", "sample", type=click.IntRange(min=1), required=True, metavar="N",
              help="Turns to draw (without replacement; every turn when the run has fewer).")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="CSV file to write (*.csv).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the draw.")
@click.option("--force", is_flag=True, help="Replace an existing --output file.")
def command(run_dir, sample, output, seed, force):
    """Write N turns of RUN_DIR, drawn at random (seeded: the same run, N and seed give the same
    file), as a CSV to label: conversation_id, turn, persona_id, profile, personality,
    user_message, reply and an empty score column.

    Score each reply 1-5 as the judge's rubric asks, then compare the labels with the judge:
    `aloe-bench agreement RUN_DIR FILE.csv`. Rows not labelled (empty score) are left out.

    \b
    Example:
      aloe-bench export-labels runs/demo --sample 100 --output labels.csv
    """
    from aloe_bench.cli.common import console
    from aloe_bench.validity.labels import export_labels

    done = export_labels(run_dir, output, sample=sample, seed=seed, force=force)
    fewer = f" (the run has only {done.available} replies)" if done.rows < sample else f" of {done.available}"
    console.print(f"Wrote {done.rows} turns{fewer} to [bold]{done.path}[/]; fill in the score column (1-5).")
