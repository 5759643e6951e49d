"""Built-in leaderboard formats (markdown, csv, json, html, latex) and the ``results`` command,
registered through the same hooks as third-party plugins."""

from __future__ import annotations

from aloe_bench.hookspecs import hookimpl


@hookimpl
def aloe_register_reporters(register):
    from aloe_bench import reporting

    for name, (render, description) in reporting.FORMATS.items():
        register(name, (lambda r=render: r), description=description)


@hookimpl
def aloe_register_commands(cli):
    from aloe_bench.cli.results import command

    cli.add_command(command)
