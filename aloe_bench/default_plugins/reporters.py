"""Built-in leaderboard formats (markdown, csv, json, html, latex), registered through the same
hook as third-party reporters."""

from __future__ import annotations

from aloe_bench.hookspecs import hookimpl


@hookimpl
def aloe_register_reporters(register):
    from aloe_bench.reporting import leaderboard as reporting

    for name, (render, description) in reporting.FORMATS.items():
        register(name, (lambda r=render: r), description=description)
