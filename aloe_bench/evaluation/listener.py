"""What the engine and judging tell a progress display while they work."""

from __future__ import annotations

from aloe_bench.records import Usage


class RunListener:
    """Receives progress updates from the engine and from judging. The CLI draws them
    (:class:`aloe_bench.cli.progress.LiveRunDisplay`); the default ignores them."""

    def start(self, total_turns: int, done_turns: int, conversations: int) -> None:
        """The run starts: ``done_turns`` of ``total_turns`` are already stored."""

    def turn(self, turn: int, live: int, failed: int) -> None:
        """Turn ``turn`` finished for ``live`` conversations; ``failed`` failed."""

    def advance(self, role: str, n: int = 1) -> None:
        """``n`` calls of ``role`` (``user``, ``model``, ``probe``) finished."""

    def scored(self, n: int) -> None:
        """``n`` replies were judged."""

    def profiles(self, total: int, done: int) -> None:
        """The run measures profile inference: ``done`` of ``total`` profiles are already scored
        (called after :meth:`start`, only by runs with a profile measurement)."""

    def probed(self, n: int) -> None:
        """``n`` inferred profiles were scored (or recorded as malformed or failed)."""

    def usage(self, role: str, usage: Usage, calls: int, hits: int) -> None:
        """Usage so far of ``role``, with its backend's calls and cache hits."""
