"""Regenerate docs/plugin_hooks.md (from aloe_bench/hookspecs.py) and docs/cli.md (from --help).

Run: .venv/bin/python scripts/gen_docs.py        (tests/test_docs.py fails when these are stale)
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def hooks_markdown() -> str:
    """docs/plugin_hooks.md: every hook with its signature and docstring."""
    from aloe_bench import hookspecs

    out = ["# Plugin hooks", "",
           "Generated from `aloe_bench/hookspecs.py` by `python scripts/gen_docs.py`; do not edit by hand.", "",
           inspect.cleandoc(hookspecs.__doc__ or ""), ""]
    for name, fn in inspect.getmembers(hookspecs, inspect.isfunction):
        if not name.startswith("aloe_"):
            continue
        sig = str(inspect.signature(fn)).replace("'", "")
        out += [f"## `{name}`", "", "```python", "@hookimpl", f"def {name}{sig}: ...", "```", "",
                inspect.cleandoc(fn.__doc__ or ""), ""]
    return "\n".join(out).rstrip() + "\n"


def _walk(cmd, path, out, parent=None):
    import click

    # Each command's own context settings, inherited as at run time (e.g. -h, --help). Click caches
    # a command's help option from the first context that asked for it (a test may have invoked a
    # subcommand on its own): forget it, so the text depends on the command tree alone.
    cmd._help_option = None
    ctx = click.Context(cmd, info_name=path[-1], parent=parent, **(cmd.context_settings or {}))
    out += [f"## `{' '.join(path)}`", "", "```", cmd.get_help(ctx).rstrip(), "```", ""]
    if isinstance(cmd, click.Group):
        for sub in sorted(cmd.list_commands(ctx)):
            _walk(cmd.get_command(ctx, sub), path + [sub], out, ctx)


def cli_markdown() -> str:
    """docs/cli.md: the --help of every built-in command."""
    from aloe_bench.cli import cli

    out = ["# CLI reference", "",
           "Generated from `--help` by `python scripts/gen_docs.py`; do not edit by hand. Plugins may add "
           "more commands (`aloe-bench --help` on your install lists them).", ""]
    builtin = cli
    _walk(builtin, ["aloe-bench"], out)
    return "\n".join(out).rstrip() + "\n"


def main() -> int:
    import os

    os.environ["COLUMNS"] = "100"
    (ROOT / "docs" / "plugin_hooks.md").write_text(hooks_markdown(), encoding="utf-8")
    (ROOT / "docs" / "cli.md").write_text(cli_markdown(), encoding="utf-8")
    print("wrote docs/plugin_hooks.md, docs/cli.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
