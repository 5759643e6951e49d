"""Frozen event objects passed to ``aloe_on_event`` observers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """Base class of every event."""

    run_dir: str


@dataclass(frozen=True)
class RunStarted(Event):
    """A run starts (or resumes). ``done_turns`` counts turns already stored."""

    conversations: int
    turns: int
    done_turns: int = 0


@dataclass(frozen=True)
class TurnFinished(Event):
    """All live conversations finished turn ``turn`` (replies generated, scoring queued)."""

    turn: int
    live: int
    failed: int


@dataclass(frozen=True)
class TurnScored(Event):
    """Scores of turn ``turn`` are stored."""

    turn: int
    scored: int
    missing: int


@dataclass(frozen=True)
class RunFinished(Event):
    """The run finished and summary.json is written."""

    summary: dict[str, Any] = field(default_factory=dict)
