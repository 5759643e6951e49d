"""``aloe-bench personas``: show persona sets (grow, pair and stats build the project's pool)."""

from __future__ import annotations

import json

import click


@click.group("personas")
def command() -> None:
    """Inspect and build persona sets."""


@command.command("show")
@click.argument("source", default="aloe-eval")
@click.option("--json", "as_json", is_flag=True, help="JSON lines {id, profile, personality}.")
@click.option("--limit", type=click.IntRange(min=1), help="Show only the first N personas.")
def show(source: str, as_json: bool, limit: int | None) -> None:
    """Show the personas of SOURCE (aloe-eval, aloe-train, aloe-profiles, aloe-personalities, jsonl:PATH)."""
    from aloe_bench.cli.common import out
    from aloe_bench.personas import load_personas

    personas = load_personas(source)
    shown = personas[:limit] if limit else personas
    if as_json:
        for p in shown:
            click.echo(json.dumps({"id": p.id, "profile": p.profile, "personality": p.personality}, ensure_ascii=False))
        return
    from rich.table import Table

    table = Table(title=f"{source}: {len(personas)} personas" + (f" (first {len(shown)})" if limit else ""),
                  show_lines=True)
    table.add_column("id", no_wrap=True)
    table.add_column("profile", ratio=3)
    table.add_column("personality", ratio=2)
    for p in shown:
        table.add_row(p.id, p.profile, p.personality)
    out.print(table)
