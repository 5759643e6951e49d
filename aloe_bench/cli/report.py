"""`aloe-bench report` (see docs)."""

from __future__ import annotations

import click


@click.command("report")
def command() -> None:
    """Not yet available."""
    raise click.UsageError("aloe-bench report is not implemented yet.")
