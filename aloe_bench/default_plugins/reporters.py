"""Built-in leaderboard formats (filled in by aloe_bench.reporting)."""

from __future__ import annotations

from aloe_bench.hookspecs import hookimpl


@hookimpl
def aloe_register_reporters(register):
    from aloe_bench import reporting

    for name, (render, description) in reporting.FORMATS.items():
        register(name, (lambda r=render: r), description=description)
