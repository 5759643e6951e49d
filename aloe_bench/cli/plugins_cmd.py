"""``aloe-bench plugins``: what is installed and what each plugin registered."""

from __future__ import annotations

import json
from dataclasses import asdict

import click


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def command(as_json: bool) -> None:
    """List plugins: distribution, version, hooks implemented and the names each registered."""
    from aloe_bench.cli.common import out
    from aloe_bench.plugins import default_host

    host = default_host()
    infos = host.plugin_infos()
    if as_json:
        click.echo(json.dumps({"plugins": [asdict(i) for i in infos], "skipped": host.skipped}, indent=2))
        return
    from rich.table import Table

    table = Table(title="aloe-bench plugins")
    for col in ("plugin", "distribution", "version", "hooks", "registered"):
        table.add_column(col)
    for i in infos:
        reg = "\n".join(f"{k}: {', '.join(v)}" for k, v in sorted(i.registered.items()))
        hooks = "\n".join(h.removeprefix("aloe_") for h in i.hooks)
        table.add_row(i.name + (" (builtin)" if i.builtin else ""), i.distribution, i.version, hooks, reg)
    out.print(table)
    if host.skipped:
        out.print(f"Skipped (ALOE_BENCH_PLUGINS / ALOE_BENCH_DISABLE_PLUGINS or load errors): {', '.join(host.skipped)}")
