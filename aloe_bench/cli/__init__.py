"""The ``aloe-bench`` command line. One module per command; plugins add commands through
``aloe_register_commands``. Errors meant for users print as one line (plus a hint) without a
traceback; ``--debug`` shows the traceback."""

from __future__ import annotations

import importlib
import os
import sys

import click

from aloe_bench import __version__
from aloe_bench.errors import AloeBenchError

#: Built-in command modules; each defines ``command`` (a click command or group).
COMMAND_MODULES = (
    "aloe_bench.cli.evaluate",
    "aloe_bench.cli.generate",
    "aloe_bench.cli.judge",
    "aloe_bench.cli.plugins_cmd",
    "aloe_bench.cli.personas",
    "aloe_bench.cli.leaderboard",
    "aloe_bench.cli.report",
    "aloe_bench.cli.results",
    "aloe_bench.cli.train",
    "aloe_bench.cli.agreement",
    "aloe_bench.cli.export_labels",
)


class AloeGroup(click.Group):
    """Click group that renders :class:`AloeBenchError` as a clean one-line error."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except AloeBenchError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            _print_error(exc.message, exc.hint)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo("Interrupted.", err=True)
            ctx.exit(130)


def _print_error(message: str, hint: str | None) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    console.print(f"[bold red]Error:[/] {escape(message)}")
    if hint:
        console.print(f"[dim]{escape(hint)}[/]")


@click.group(cls=AloeGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="aloe-bench")
@click.option("--debug", is_flag=True, envvar="ALOE_BENCH_DEBUG", help="Show full tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Measure and train how well language models adapt to an individual user over a conversation.

    \b
    Quick start (offline, embedded SmolLM2 for every role; demo quality):
      aloe-bench evaluate --limit 4 --turns 3
    The paper protocol (GPT-4o as user simulator and judge):
      aloe-bench evaluate --model hf:Qwen/Qwen2-7B-Instruct --preset aloe-paper
    """
    install_warning_display()
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


for _mod in COMMAND_MODULES:
    cli.add_command(importlib.import_module(_mod).command)


def _add_plugin_commands() -> None:
    from aloe_bench.plugins import default_host

    default_host().add_commands(cli)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """aloe-bench's own warnings print as one ``Warning:`` line; others keep Python's format."""
    from aloe_bench.errors import AloeBenchWarning

    if issubclass(category, AloeBenchWarning):
        from rich.console import Console
        from rich.markup import escape

        Console(stderr=True, highlight=False, soft_wrap=True).print(f"[yellow]Warning:[/] {escape(str(message))}")
    else:
        _python_showwarning(message, category, filename, lineno, file, line)


_python_showwarning = None


def install_warning_display() -> None:
    """Route :class:`~aloe_bench.errors.AloeBenchWarning` to one-line output on stderr."""
    import warnings

    global _python_showwarning
    if _python_showwarning is None:
        _python_showwarning = warnings.showwarning
        warnings.showwarning = _show_warning


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    install_warning_display()
    debug = "--debug" in (argv if argv is not None else sys.argv[1:]) or bool(os.environ.get("ALOE_BENCH_DEBUG"))
    try:
        _add_plugin_commands()
    except AloeBenchError as exc:
        if debug:
            raise
        _print_error(exc.message, exc.hint)
        sys.exit(exc.exit_code)
    cli.main(args=argv, prog_name="aloe-bench")
