"""Frozen event objects passed to ``aloe_on_event`` observers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """Base class of every event."""

    #: The run folder.
    run_dir: str


@dataclass(frozen=True)
class RunStarted(Event):
    """A run starts (or resumes). ``done_turns`` counts turns already stored."""

    #: Conversations in the run.
    conversations: int
    #: Turns per conversation the run asks for.
    turns: int
    #: Turns already stored (a resumed run), 0 for a new one.
    done_turns: int = 0


@dataclass(frozen=True)
class TurnFinished(Event):
    """All live conversations finished turn ``turn`` (replies generated, scoring queued)."""

    #: The turn, from 1.
    turn: int
    #: Conversations that played the turn successfully (they go on).
    live: int
    #: Conversations whose turn failed (simulator or model); they end here.
    failed: int


@dataclass(frozen=True)
class TurnScored(Event):
    """Scores of turn ``turn`` are stored."""

    #: The turn, from 1; 0 for the replies a resumed run judges before playing on.
    turn: int
    #: Score records stored with a score.
    scored: int
    #: Score records stored without one (unreadable answer or failed judge call).
    missing: int


@dataclass(frozen=True)
class RunFinished(Event):
    """The run finished and summary.json is written."""

    #: The summary as stored in summary.json (a JSON-able dict).
    summary: dict[str, Any] = field(default_factory=dict)
