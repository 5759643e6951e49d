"""The live run display of evaluations: turns, live conversations, calls/s, cache hits,
tokens and cost per role, ETA."""

from __future__ import annotations

import time

from rich.console import Group
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from aloe_bench.cli.common import LiveDisplay
from aloe_bench.evaluation.listener import RunListener
from aloe_bench.records import Usage


class LiveRunDisplay(LiveDisplay, RunListener):
    """A :class:`~aloe_bench.evaluation.listener.RunListener` that draws a live panel on stderr
    (or nothing when ``enabled`` is False); ``labels`` name the two bars (turns played, turns
    scored or judged)."""

    def __init__(self, console, enabled: bool = True, labels: tuple[str, str] = ("turns", "scored")):
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console)
        self.turn_task = self.bar.add_task(labels[0], total=1)
        self.score_task = self.bar.add_task(labels[1], total=1)
        self.profile_task = None  # a third bar in runs with a profile measurement
        self.roles: dict[str, tuple[Usage, int, int]] = {}
        self.status = ""
        self.t0 = time.monotonic()
        super().__init__(console, enabled)

    def _render(self):
        table = Table(box=None, padding=(0, 2), show_header=True, header_style="dim")
        for col in ("role", "calls", "cache hits", "calls/s", "tokens in", "tokens out", "cost $"):
            table.add_column(col, justify="right" if col != "role" else "left")
        elapsed = max(time.monotonic() - self.t0, 1e-6)
        for role, (u, calls, hits) in self.roles.items():
            table.add_row(role, str(calls + hits), str(hits), f"{calls / elapsed:.1f}", str(u.prompt_tokens),
                          str(u.completion_tokens), f"{u.cost:.4f}")
        return Group(self.bar, table, self.status) if self.roles else Group(self.bar, self.status)

    def start(self, total_turns, done_turns, conversations):
        self.bar.update(self.turn_task, total=total_turns, completed=done_turns)
        self.bar.update(self.score_task, total=total_turns)
        self.status = f"{conversations} conversations"
        self.refresh()

    def turn(self, turn, live, failed):
        self.status = f"turn {turn} done: {live} live conversations" + (f", {failed} ended early" if failed else "")
        self.refresh()

    def advance(self, role, n=1):
        if role == "model":
            self.bar.advance(self.turn_task, n)
        self.refresh()

    def scored(self, n):
        self.bar.advance(self.score_task, n)
        self.refresh()

    def profiles(self, total, done):
        if self.profile_task is None:
            self.profile_task = self.bar.add_task("profiles", total=total, completed=done)
        else:
            self.bar.update(self.profile_task, total=total, completed=done)
        self.refresh()

    def probed(self, n):
        if self.profile_task is not None:
            self.bar.advance(self.profile_task, n)
        self.refresh()

    def usage(self, role, usage, calls, hits):
        self.roles[role] = (usage.model_copy(), calls, hits)
        self.refresh()
