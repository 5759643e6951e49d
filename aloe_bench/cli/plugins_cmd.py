"""``aloe-bench plugins``: what is installed and what each plugin registered."""

from __future__ import annotations

import json
from dataclasses import asdict

import click


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def command(as_json: bool) -> None:
    """List plugins (distribution, version, hooks, what each registered), then every registered
    component with its description: model providers (the default one, the one that claims bare
    model names, demo-quality ones), protocols, metrics, persona sources, formats, embedders."""
    from aloe_bench.cli.common import out
    from aloe_bench.plugins import default_host

    host = default_host()
    infos = host.plugin_infos()
    components = [{"kind": reg.kind, "name": e.name, "plugin": e.plugin, "description": e.description,
                   "flags": _flags(e.meta)} for reg in host.registries.values() for e in reg]
    if as_json:
        click.echo(json.dumps({"plugins": [asdict(i) for i in infos], "components": components,
                               "skipped": host.skipped}, indent=2))
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
    comp = Table(title="registered components")
    for col in ("kind", "name", "plugin", "description"):
        comp.add_column(col)
    for c in components:
        flags = f" [{', '.join(c['flags'])}]" if c["flags"] else ""
        comp.add_row(c["kind"], c["name"], c["plugin"], c["description"] + flags)
    out.print(comp)
    if host.skipped:
        out.print(f"Skipped (ALOE_BENCH_PLUGINS / ALOE_BENCH_DISABLE_PLUGINS or load errors): {', '.join(host.skipped)}")


def _flags(meta: dict) -> list[str]:
    """Short labels for a component's registration keywords."""
    labels = {"default": "default spec", "claims": "claims bare model names", "demo_quality": "demo quality"}
    out = [label for key, label in labels.items() if meta.get(key)]
    if meta.get("needs_backend") is False:
        out.append("no backend")
    return out
