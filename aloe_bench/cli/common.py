"""Helpers shared by CLI commands."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console

from aloe_bench.errors import ConfigError

console = Console(stderr=True, highlight=False, soft_wrap=True)  # paths and errors are never folded mid-word
out = Console(highlight=False, soft_wrap=True)


def show_progress(quiet: bool) -> bool:
    """Whether a command draws its live progress display: never with ``--quiet``; on a terminal,
    or anywhere when ``ALOE_BENCH_PROGRESS=1`` (e.g. to see it in a captured log)."""
    import os

    return not quiet and (console.is_terminal or os.environ.get("ALOE_BENCH_PROGRESS") == "1")


def load_toml(path: str) -> dict[str, Any]:
    """A TOML file as a dict; a :class:`ConfigError` when it is missing, unreadable, not UTF-8
    or not valid TOML."""
    if sys.version_info >= (3, 11):
        import tomllib  # novm (guarded: Python 3.11+; tomli below on 3.10)
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise ConfigError(f"Config file {path} does not exist.") from None
    except OSError as exc:
        raise ConfigError(f"Cannot read config file {path}: {exc.strerror or type(exc).__name__}.") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"Config file {path} is not UTF-8 text (line {line}, byte 0x{data[exc.start]:02x}).",
                          "Save it as UTF-8 (TOML files must be UTF-8).") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {path} is not valid TOML: {exc}.") from None


def parse_options(pairs: tuple[str, ...], flag: str) -> dict[str, Any]:
    """``KEY=VALUE`` pairs into a dict; values parse as JSON when they can (numbers, booleans)."""
    import json

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{flag} expects KEY=VALUE, got {pair!r}.")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def fmt(value: float | None, digits: int = 3) -> str:
    """A number for tables; '—' for None."""
    return "—" if value is None else f"{value:.{digits}f}"


class LiveDisplay:
    """Base of the live panels on stderr: subclasses implement ``_render()`` and call
    ``super().__init__`` once the state it reads exists. Disabled, it draws nothing."""

    def __init__(self, console, enabled: bool = True):
        from rich.live import Live

        self.console = console
        self.live = Live(self._render(), console=console, refresh_per_second=4, transient=False) if enabled else None

    def _render(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def refresh(self) -> None:
        """Redraw with the current state."""
        if self.live:
            self.live.update(self._render())

    def __enter__(self):
        if self.live:
            self.live.__enter__()
        return self

    def __exit__(self, *exc):
        if self.live:
            self.live.update(self._render())
            self.live.__exit__(*exc)
            if not self.console.is_terminal:  # a redirected display ends without a newline
                self.console.line()
