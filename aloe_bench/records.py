"""Versioned, self-describing records stored in run folders.

Every stored record carries ``schema_version`` so readers can refuse or upgrade old files.
Ids are stable: a conversation id is a hash of (persona id, seed, sample index), so runs
resume and re-score across processes.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


def utc_now() -> str:
    """Current UTC time as an ISO-8601 string (second precision)."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def stable_hash(obj: Any, length: int = 16) -> str:
    """Hex sha256 of the canonical JSON form of ``obj`` (sorted keys), cut to ``length``."""
    data = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:length]


class Record(BaseModel):
    """Base of every stored record: frozen-ish, with a schema version."""

    model_config = ConfigDict(extra="ignore")
    schema_version: int = SCHEMA_VERSION


class Message(BaseModel):
    """One chat message, as passed to chat models."""

    model_config = ConfigDict(frozen=True)
    role: Literal["system", "user", "assistant"]
    content: str


class Persona(Record):
    """A simulated user: objective profile facts plus subjective personality traits."""

    id: str
    profile: str
    personality: str
    source: str = ""

    def content_hash(self) -> str:
        """Hash of the persona's text, independent of its id."""
        return stable_hash([self.profile, self.personality])


class Usage(BaseModel):
    """Token usage and cost of one or more model calls."""

    calls: int = 0
    cached_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0

    def add(self, other: "Usage") -> None:
        """Accumulate ``other`` into this object in place."""
        self.calls += other.calls
        self.cached_calls += other.cached_calls
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cost += other.cost


class Turn(Record):
    """One finished turn of one conversation: the user's message and the model's reply.

    ``status`` is ``ok`` when both exist, ``user_failed`` when the simulator failed (no reply;
    the conversation ends) and ``model_failed`` when the model under test failed.
    """

    conversation_id: str
    persona_id: str
    sample: int = 0
    turn: int
    user: str
    reply: str | None
    status: Literal["ok", "user_failed", "model_failed"] = "ok"
    error: str | None = None
    reply_tokens: int | None = None
    profile: str | None = None  # RLPA-style inferred profile, when the model writes one
    created: str = Field(default_factory=utc_now)


class Conversation(Record):
    """A conversation between a simulated user and the model under test."""

    id: str
    persona: Persona
    sample: int = 0
    turns: list[Turn] = Field(default_factory=list)

    @staticmethod
    def make_id(persona_id: str, seed: int, sample: int = 0) -> str:
        """Stable conversation id: hash of (persona id, seed, sample index)."""
        return "c-" + stable_hash([persona_id, seed, sample], 12)

    @property
    def closed(self) -> bool:
        """True when the last turn failed (the conversation cannot continue)."""
        return bool(self.turns) and self.turns[-1].status != "ok"

    def history(self) -> list[Message]:
        """The chat as the model under test sees it: user and assistant messages only."""
        out: list[Message] = []
        for t in self.turns:
            if t.status != "ok":
                break
            out.append(Message(role="user", content=t.user))
            out.append(Message(role="assistant", content=t.reply or ""))
        return out


class TurnScore(Record):
    """The judge's verdict on one reply. ``score`` is None when the judge gave no valid score."""

    conversation_id: str
    persona_id: str
    turn: int
    score: float | None
    judge: str
    mode: Literal["turn", "history"] = "turn"
    rationale: str = ""
    raw: str = ""
    argmax: int | None = None
    probs: dict[str, float] | None = None
    attempts: int = 1
    sample: int = 0  # repeated judge samples of the same reply
    created: str = Field(default_factory=utc_now)


class ComponentSpec(BaseModel):
    """A resolved component as recorded in run.json."""

    role: str
    spec: str
    kind: str = ""
    options: dict[str, Any] = Field(default_factory=dict)
    prompt_hashes: dict[str, str] = Field(default_factory=dict)
    identity: dict[str, Any] = Field(default_factory=dict)


class RunSpec(Record):
    """Everything that defines a run; stored as run.json."""

    aloe_bench_version: str
    plugin_versions: dict[str, str] = Field(default_factory=dict)
    config: dict[str, Any]
    config_hash: str
    components: list[ComponentSpec] = Field(default_factory=list)
    personas_source: str
    personas_count: int
    personas_hash: str
    seed: int
    started: str = Field(default_factory=utc_now)
    finished: str | None = None


class Interval(BaseModel):
    """A confidence interval."""

    low: float | None
    high: float | None
    level: float = 0.95


class RunSummary(Record):
    """The result of a run; stored atomically as summary.json."""

    run_dir: str = ""
    model: str
    user: str
    judge: str
    judge_mode: str
    personas_source: str
    personas_count: int
    turns: int
    al: list[float | None]
    n: list[int]
    missing: list[int]
    avg: float | None
    ir: float | None
    n_ir: float | None
    r2: float | None
    n_r2: float | None
    ci: dict[str, Interval] = Field(default_factory=dict)
    reply_length: list[float | None] = Field(default_factory=list)
    usage: dict[str, Usage] = Field(default_factory=dict)
    components: list[ComponentSpec] = Field(default_factory=list)
    extra: dict[str, Any] = Field(default_factory=dict)
    created: str = Field(default_factory=utc_now)
