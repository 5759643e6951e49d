"""`aloe-bench leaderboard` (see docs)."""

from __future__ import annotations

import click


@click.command("leaderboard")
def command() -> None:
    """Not yet available."""
    raise click.UsageError("aloe-bench leaderboard is not implemented yet.")
