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

from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator

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
    #: Version of the record's format; readers refuse or upgrade other versions.
    schema_version: int = SCHEMA_VERSION


class Message(BaseModel):
    """One chat message, as passed to chat models."""

    model_config = ConfigDict(frozen=True)
    #: Who speaks: ``system``, ``user`` or ``assistant``.
    role: Literal["system", "user", "assistant"]
    #: The message text.
    content: str


class Persona(Record):
    """A simulated user: objective profile facts plus subjective personality traits."""

    #: Stable id, unique within its source (conversation ids are derived from it).
    id: str
    #: Objective profile facts (age, job, situation, ...), as text.
    profile: str
    #: Subjective personality traits and preferences, as text.
    personality: str
    #: The persona source it came from (e.g. ``aloe-eval``); informational.
    source: str = ""

    def content_hash(self) -> str:
        """Hash of the persona's text, independent of its id."""
        return stable_hash([self.profile, self.personality])


class Usage(BaseModel):
    """Token usage and cost of one or more model calls."""

    #: Model calls made (retries and re-asks included, cached calls too).
    calls: int = 0
    #: How many of ``calls`` were answered from the call cache (free).
    cached_calls: int = 0
    #: Prompt (input) tokens, as the backend reported them.
    prompt_tokens: int = 0
    #: Completion (output) tokens, as the backend reported them.
    completion_tokens: int = 0
    #: Cost in US dollars, as the backend reported it (0 when unknown or cached).
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

    #: Id of the conversation (:meth:`Conversation.make_id`).
    conversation_id: str
    #: Id of the conversation's persona.
    persona_id: str
    #: Sample index of the conversation (part of its id); 0 unless a persona is played more than once.
    sample: int = 0
    #: Turn number, from 1.
    turn: int
    #: The simulated user's message ("" when the simulator failed).
    user: str
    #: The model's reply; None when it failed or was never asked.
    reply: str | None
    #: ``ok``, ``user_failed`` or ``model_failed`` (see above).
    status: Literal["ok", "user_failed", "model_failed"] = "ok"
    #: The failure's message (secrets redacted) when ``status`` is not ``ok``.
    error: str | None = None
    #: Completion tokens of the reply, when the backend reported them.
    reply_tokens: int | None = None
    #: The facts of the model's ``<profile>`` section, one per item, when the run's reply format
    #: has the model write one (``reply_format = "rlpa"``); None otherwise or without a readable
    #: section. Scored like a profile probe (``probes.jsonl``, ``source: "reply"``).
    profile: list[str] | None = None
    #: The model's whole output as it wrote it, when the run's reply format splits it into
    #: sections (``rlpa``); ``reply`` then holds only what the user and the judge saw. None for
    #: plain replies.
    output: str | None = None
    #: What was wrong with a sectioned output (``rlpa``: no ``<response>``, sections out of order,
    #: ...; see :func:`aloe_bench.profile.parse_rlpa_output`); None when well formed or plain.
    #: ``reply`` is then the response when one could be read, else the output stripped of its
    #: tags and profile.
    malformed: str | None = None
    #: Usage of the calls that produced this turn, by role (``user``, ``model``); summed over
    #: every stored record (failed tries included) into the summary's usage.
    usage: dict[str, Usage] = Field(default_factory=dict)
    #: Runs with a persona drift (``evaluate --drift-at K``, docs/drift.md) only: the id of the
    #: persona the simulator played at this turn (``persona_id`` before K, the persona it drifted
    #: to from K on). None (absent from the file) in runs without a drift.
    active_persona_id: str | None = None
    #: When the record was written (UTC, ISO 8601).
    created: str = Field(default_factory=utc_now)

    @model_serializer(mode="wrap")
    def _serialize(self, handler):
        return _drop_absent(handler(self), ("output", "malformed", "active_persona_id"))


class Conversation(Record):
    """A conversation between a simulated user and the model under test."""

    #: Stable id: :meth:`make_id` of (persona id, seed, sample).
    id: str
    #: The simulated user.
    persona: Persona
    #: Sample index (several conversations with one persona differ by it); usually 0.
    sample: int = 0
    #: Its turns in order; a failed turn, if any, is the last one.
    turns: list[Turn] = Field(default_factory=list)
    #: With a persona drift (``evaluate --drift-at K``): who the user is from turn ``drift_at``
    #: on (:func:`aloe_bench.personas.drift.drift_targets`); None without a drift.
    drifted: Persona | None = None
    #: The turn K from which ``drifted`` is played; None without a drift.
    drift_at: int | None = None

    def persona_at(self, turn: int) -> Persona:
        """The persona played (and judged against) at ``turn``: ``drifted`` from ``drift_at`` on,
        else ``persona``."""
        if self.drifted is not None and self.drift_at is not None and turn >= self.drift_at:
            return self.drifted
        return self.persona

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
    """The judge's verdict on one reply. ``score`` is None when the judge gave no valid score.

    ``status`` says why a score is missing: ``unreadable`` (the judge answered, but no valid
    score could be read after the re-asks: permanent, ``--rejudge-missing`` asks again) or
    ``failed`` (the judge call itself failed after its retries: ``--resume`` asks again). A record
    is keyed by (conversation, turn, member, sample) (:attr:`key`); when one is stored more than
    once, the last record is the one that counts.
    """

    #: Id of the judged reply's conversation.
    conversation_id: str
    #: Id of the conversation's persona.
    persona_id: str
    #: Turn of the judged reply, from 1.
    turn: int
    #: The 1-5 score (a probability-weighted mean in probability mode); None when missing.
    score: float | None
    #: The judge's model spec.
    judge: str
    #: The judge protocol's mode: ``turn`` or ``history``.
    mode: Literal["turn", "history"] = "turn"
    #: The judge's explanation, when it gave one.
    rationale: str = ""
    #: The judge's raw answer (or the probabilities as JSON).
    raw: str = ""
    #: The most likely score (the score itself, rounded, in text mode).
    argmax: int | None = None
    #: Probability of each answer ("1".."5") in probability mode, else None.
    probs: dict[str, float] | None = None
    #: Judge calls made for this score (re-asks after unreadable answers included).
    attempts: int = 1
    #: Judge sample index: a reply judged several times (``judge_samples``) has one record per sample.
    sample: int = 0
    #: Runs judged by a judge ensemble (several ``--judge``; docs/validity.md) only: the name of the
    #: member that gave this score (``j1``, ``j2``, ... unless named). None (absent from the file)
    #: with one judge.
    member: str | None = None
    #: ``ok``, ``unreadable`` or ``failed`` (see above).
    status: Literal["ok", "unreadable", "failed"] = "ok"
    #: The failed call's error (secrets redacted) when ``status`` is ``failed``.
    error: str | None = None
    #: Usage of the judge calls behind this record.
    usage: Usage = Field(default_factory=Usage)
    #: Runs with a persona drift only (docs/drift.md): the id of the persona the reply was judged
    #: against, the one played at that turn; None (absent from the file) otherwise.
    active_persona_id: str | None = None
    #: When the record was written (UTC, ISO 8601).
    created: str = Field(default_factory=utc_now)

    @model_validator(mode="after")
    def _status_of_missing_score(self) -> "TurnScore":
        # Records written before ``status`` existed: a null score was an unreadable answer.
        if self.score is None and self.status == "ok":
            self.status = "unreadable"
        return self

    @property
    def key(self) -> tuple[str, int, str | None, int]:
        """What identifies the judgement: (conversation id, turn, member, sample)."""
        return (self.conversation_id, self.turn, self.member, self.sample)

    @model_serializer(mode="wrap")
    def _serialize(self, handler):
        return _drop_absent(handler(self), ("active_persona_id", "member"))


#: Why a probe record holds no F1 (``ProbeRecord.status``).
ProbeStatus = Literal["ok", "malformed", "unreadable", "probe_failed", "judge_failed"]


class ProbeScore(BaseModel):
    """One inferred profile scored against one persona's golden facts: the second scoring of a
    :class:`ProbeRecord` in a run with a persona drift (``ProbeRecord.other``). Its fields mean
    what the record's fields of the same names mean."""

    #: The persona whose golden facts were counted.
    persona_id: str
    #: ``ok``, ``malformed`` (no readable profile: F1 0), ``unreadable`` or ``judge_failed``.
    status: Literal["ok", "malformed", "unreadable", "judge_failed"] = "ok"
    #: Golden facts covered; None without a count.
    covered: int | None = None
    #: The persona's golden facts (count).
    golden: int = 0
    #: covered / inferred lines; None without a count.
    precision: float | None = None
    #: covered / golden facts; None without a count.
    recall: float | None = None
    #: Harmonic mean of precision and recall; None without a count.
    f1: float | None = None
    #: Where the golden facts came from: ``file``, ``curated`` or ``sentence-split``.
    facts_origin: str = ""
    #: The coverage judge's raw answer (of its last attempt).
    judge_raw: str = ""
    #: Coverage-judge calls made (re-asks included; 0 when none was needed).
    attempts: int = 0
    #: The failed call's error (secrets redacted) when ``status`` is ``judge_failed``.
    error: str | None = None
    #: Usage of the coverage-judge calls behind this scoring.
    usage: Usage = Field(default_factory=Usage)

    @property
    def done(self) -> bool:
        """True unless the coverage judge's call failed (``--resume`` asks again)."""
        return self.status != "judge_failed"


class ProbeRecord(Record):
    """The inferred profile of one conversation after one turn, scored against the persona's
    golden facts; one line of ``probes.jsonl``.

    ``source`` says where the profile came from: ``probe`` (``--profile-probe``: a side call to
    the model under test after the turn, never part of the dialogue) or ``reply`` (``--reply-format
    rlpa``: the ``<profile>`` section the model wrote with its reply). ``status``:

    - ``ok``: the profile was read and the coverage judge counted it (an empty profile needs no
      count: 0); ``covered``, ``precision``, ``recall`` and ``f1`` are set.
    - ``malformed``: the model's answer held no readable profile; ``inferred`` is None and
      precision, recall and F1 are 0: it counts in PF1 as a profile that covers nothing.
    - ``unreadable``: the coverage judge answered, but no count could be read after its re-asks;
      F1 is None and the record is left out of PF1 (``--rejudge-missing`` asks again).
    - ``probe_failed`` / ``judge_failed``: the probe call or the coverage judge's call failed
      after its retries; ``--resume`` asks again (a stored probe answer is reused).

    When a (conversation, turn) is stored more than once, the last record is the one that counts.
    """

    #: Id of the conversation.
    conversation_id: str
    #: Id of the conversation's persona.
    persona_id: str
    #: The profile was inferred after this turn (from 1).
    turn: int
    #: ``probe`` or ``reply`` (see above).
    source: Literal["probe", "reply"] = "probe"
    #: ``ok``, ``malformed``, ``unreadable``, ``probe_failed`` or ``judge_failed`` (see above).
    status: ProbeStatus = "ok"
    #: The facts of the inferred profile, one per item; None when no profile could be read.
    inferred: list[str] | None = None
    #: What is wrong with the model's answer when no profile could be read; None otherwise.
    malformed: str | None = None
    #: The model's whole probe answer (``source: "probe"``; a ``reply`` profile's output is the
    #: turn's ``output`` in transcripts.jsonl and is not copied here).
    raw: str = ""
    #: Golden facts covered (the judge's count clamped to min(inferred, golden)); None without a count.
    covered: int | None = None
    #: The persona's golden facts (count).
    golden: int = 0
    #: covered / inferred lines; None without a count (0 for a malformed answer).
    precision: float | None = None
    #: covered / golden facts; None without a count (0 for a malformed answer).
    recall: float | None = None
    #: Harmonic mean of precision and recall (:func:`aloe_bench.profile.profile_f1`); None
    #: without a count (0 for a malformed answer).
    f1: float | None = None
    #: Where the golden facts came from: ``file``, ``curated`` or ``sentence-split``.
    facts_origin: str = ""
    #: The coverage judge's raw answer (of its last attempt).
    judge_raw: str = ""
    #: Coverage-judge calls made for this record (re-asks included; 0 when none was needed).
    attempts: int = 0
    #: The failed call's error (secrets redacted) when ``status`` is ``probe_failed`` or ``judge_failed``.
    error: str | None = None
    #: Usage of the calls behind this record, by role (``probe``, ``profile_judge``; the second
    #: scoring's coverage calls are in ``other.usage``).
    usage: dict[str, Usage] = Field(default_factory=dict)
    #: Runs with a persona drift only (docs/drift.md): the persona played at this turn, whose
    #: golden facts the fields above count (the starting persona before K, the drifted one from K
    #: on). None (absent from the file) otherwise.
    active_persona_id: str | None = None
    #: Runs with a persona drift only: the same inferred profile scored against the
    #: conversation's other persona (before K the persona it will drift to, from K on the
    #: starting one), so that PF1 against the old and the new profile exists at every turn.
    #: None for a failed probe call and in runs without a drift.
    other: ProbeScore | None = None
    #: When the record was written (UTC, ISO 8601).
    created: str = Field(default_factory=utc_now)

    @property
    def done(self) -> bool:
        """True when ``--resume`` has nothing left to do for this record (an unreadable count is
        permanent unless ``--rejudge-missing`` asks); in a drift run the second scoring
        (``other``) must be done too."""
        return self.status in ("ok", "malformed", "unreadable") and (self.other is None or self.other.done)

    def score_for(self, persona_id: str) -> "ProbeScore | ProbeRecord | None":
        """The scoring of this profile against ``persona_id``'s golden facts: the record itself
        (its active persona, or its persona without a drift) or ``other``; None when neither."""
        if (self.active_persona_id or self.persona_id) == persona_id:
            return self
        if self.other is not None and self.other.persona_id == persona_id:
            return self.other
        return None

    @model_serializer(mode="wrap")
    def _serialize(self, handler):
        return _drop_absent(handler(self), ("active_persona_id", "other"))


def _drop_absent(data: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """``data`` without the ``keys`` whose value is None or empty: optional parts of a record that
    a run without them never writes (old readers and old files stay as they were)."""
    return {k: v for k, v in data.items() if not (k in keys and v in (None, {}, []))}


class ComponentSpec(BaseModel):
    """A resolved component as recorded in run.json (``components``, one per role; built by
    :func:`aloe_bench.evaluation.roles.role_specs`)."""

    #: ``model``, ``user`` (the simulator), ``judge`` or ``profile_judge`` (the coverage judge of a
    #: run with a profile measurement). In a run with a judge ensemble the first member is
    #: ``judge`` and every other member ``judge:NAME``.
    role: str
    #: The role's model spec as configured; "" for a protocol registered with ``needs_backend=False``.
    spec: str
    #: Simulator and judge: ``describe()["kind"]``; "" for the model.
    kind: str = ""
    #: Model: the user's ``--model-option`` values; simulator and judge: ``describe()["options"]``
    #: (secrets redacted in both).
    options: dict[str, Any] = Field(default_factory=dict)
    #: Simulator and judges: ``describe()["prompt_hashes"]``; the model: the prompts it was given
    #: (the RLPA policy instruction, the profile probe's question; empty for a plain run).
    prompt_hashes: dict[str, str] = Field(default_factory=dict)
    #: The backend's :meth:`~aloe_bench.components.ChatModel.identity` (secrets redacted); empty
    #: for a protocol without a backend.
    identity: dict[str, Any] = Field(default_factory=dict)
    #: The backend declared itself demo quality (e.g. a tiny embedded model): its ``demo_quality``
    #: attribute, set by it or by its provider's registration. Reports flag it.
    demo_quality: bool = False
    #: The model name the backend's server reported in its responses, when it says one (filled in
    #: at the end of a run; providers such as ``oai:`` warn when it differs from the configured one).
    served_model: str | None = None
    #: Judge-ensemble members only: the member's name (as in ``TurnScore.member``); None (absent
    #: from the file) otherwise.
    member: str | None = None

    @model_serializer(mode="wrap")
    def _serialize(self, handler):
        return _drop_absent(handler(self), ("member",))


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
    #: With ``--reply-format`` other than plain: ``{"name": "rlpa", "prompt": PROMPT_NAME,
    #: "prompt_hash": ..., "history": latest|responses|full}`` (what the model under test was
    #: told and what its own history kept). Absent for plain replies.
    reply_format: dict[str, Any] | None = None
    #: With a profile measurement (``--profile-probe`` or ``--reply-format rlpa``): ``source``
    #: (probe or reply), the probe prompt's name and hash, the probe's sampling parameters and
    #: the golden facts' description (``golden_facts(...).describe()``). Absent otherwise.
    profile: dict[str, Any] | None = None
    #: With a persona drift (``--drift-at K``, docs/drift.md): ``at`` (K), ``kind`` (profile,
    #: personality or both), ``mapping`` (the rule's version), ``notice_prompt`` and
    #: ``notice_prompt_hash`` (what the simulator is told at K), ``targets`` (starting persona id
    #: -> the id of the persona it drifts to) and ``targets_hash`` (of the drifted personas'
    #: texts; compared on resume). Absent otherwise.
    drift: dict[str, Any] | None = None
    #: With ``--repeats R`` above 1: ``count`` (R) and ``simulator_seeds`` (the simulator's sampling
    #: seed in each repeat, repeat 0 first: repeat 0 keeps the simulator's own seed, repeat r its
    #: :func:`~aloe_bench.evaluation.config.repeat_seed`). Absent otherwise.
    repeats: dict[str, Any] | None = None

    @model_serializer(mode="wrap")
    def _serialize(self, handler):
        return _drop_absent(handler(self), ("reply_format", "profile", "drift", "repeats"))


class Interval(BaseModel):
    """A confidence interval."""

    low: float | None
    high: float | None
    level: float = 0.95


class RunFailures(BaseModel):
    """What a run is missing, by kind. ``conversations``: conversations cut short by a failed
    turn; ``unplayed``: conversations with turns never played (a run stopped early, a truncated
    transcript); ``turns``: failed calls by role (``user``, ``model``); ``scores``: replies
    without a score (``failed``: the judge call failed; ``unreadable``: answered, no valid score
    after the re-asks; ``unscored``: never judged); ``errors``: the first error per role."""

    conversations: int = 0
    unplayed: int = 0
    turns: dict[str, int] = Field(default_factory=lambda: {"user": 0, "model": 0})
    scores: dict[str, int] = Field(default_factory=lambda: {"failed": 0, "unreadable": 0, "unscored": 0})
    errors: dict[str, str] = Field(default_factory=dict)
    #: Runs with a profile measurement only (absent otherwise): replies whose profile has no
    #: score record yet (``unscored``), whose probe or coverage-judge call failed (``failed``:
    #: ``--resume`` asks again), or whose coverage count stayed unreadable (``unreadable``).
    probes: dict[str, int] = Field(default_factory=dict)

    @model_serializer(mode="wrap")
    def _serialize(self, handler):
        return _drop_absent(handler(self), ("probes",))

    @property
    def retryable(self) -> bool:
        """True when ``--resume`` could still do work (everything but unreadable answers)."""
        return bool(self.conversations or self.unplayed or self.turns.get("user") or self.turns.get("model")
                    or self.scores.get("failed") or self.scores.get("unscored")
                    or self.probes.get("failed") or self.probes.get("unscored"))

    def lines(self) -> list[str]:
        """Human-readable lines, one per kind of failure present."""
        out = []
        if self.conversations:
            out.append(f"{self.conversations} conversation(s) cut short by a failed turn "
                       f"(simulator {self.turns.get('user', 0)}, model {self.turns.get('model', 0)})")
        if self.unplayed:
            out.append(f"{self.unplayed} conversation(s) with turns not played yet")
        if self.scores.get("failed"):
            out.append(f"{self.scores['failed']} judge call(s) failed")
        if self.scores.get("unscored"):
            out.append(f"{self.scores['unscored']} reply(ies) not judged yet")
        if self.scores.get("unreadable"):
            out.append(f"{self.scores['unreadable']} judge answer(s) unreadable after the re-asks "
                       "(kept as null; --rejudge-missing asks again)")
        if self.probes.get("failed"):
            out.append(f"{self.probes['failed']} profile probe(s) failed (the probe or the coverage judge call)")
        if self.probes.get("unscored"):
            out.append(f"{self.probes['unscored']} inferred profile(s) not scored yet")
        if self.probes.get("unreadable"):
            out.append(f"{self.probes['unreadable']} coverage count(s) unreadable after the re-asks "
                       "(left out of PF1; --rejudge-missing asks again)")
        for role, err in self.errors.items():
            out.append(f"first {role} error: {err}")
        return out


class DriftFigures(BaseModel):
    """What a run with a persona drift measured about it (``RunSummary.drift``; docs/drift.md).
    AL(k) of such a run is judged against the persona played at turn k."""

    #: K: the first turn played with the drifted persona.
    at: int
    #: ``profile``, ``personality`` or ``both``: what changed at K.
    kind: str
    #: Mean of AL(k) over the turns before K (None when none was scored).
    before: float | None = None
    #: AL(K): the first reply to the changed user.
    at_k: float | None = None
    #: ``before - at_k``: how much alignment the change cost at once (positive: a drop).
    drop: float | None = None
    #: Least-squares slope of AL(k) over k >= K: how fast the model follows (None with fewer
    #: than two scored turns from K on).
    recovery: float | None = None
    #: Turns after K until AL first reaches ``before`` again: min{k >= K: AL(k) >= before} - K
    #: (0: no drop at K); None when it never does within the run.
    turns_to_recover: int | None = None
    #: Percentile-bootstrap intervals over conversations: ``recovery`` and ``drop``.
    ci: dict[str, Interval] = Field(default_factory=dict)
    #: Runs with a profile probe only: PF1(k) against the starting persona's golden facts, one per
    #: turn (how fast stale facts are dropped); None otherwise.
    pf1_old: list[float | None] | None = None
    #: Runs with a profile probe only: PF1(k) against the drifted persona's golden facts, one per
    #: turn (how fast the new ones are learned); None otherwise.
    pf1_new: list[float | None] | None = None

    @model_serializer(mode="wrap")
    def _serialize(self, handler):
        return _drop_absent(handler(self), ("pf1_old", "pf1_new"))


class LengthFigures(BaseModel):
    """Score regressed on reply length, and the length-adjusted Average (``RunSummary.length``;
    :mod:`aloe_bench.validity.length`, docs/validity.md)."""

    #: The reply length (words) the adjusted Average is taken at: one constant for every run
    #: (``aloe_bench.validity.length.REFERENCE_REPLY_WORDS``), recorded with the figures.
    reference_words: float
    #: Scored replies in the fit (a reply judged several times counts once, with its mean score).
    n: int
    #: Score points per word of reply (least squares over every scored reply); None when undefined.
    slope: float | None = None
    #: The fitted score of a reply of 0 words; None when undefined.
    intercept: float | None = None
    #: Pearson's r of score and length; None when undefined or the scores are all equal.
    r: float | None = None
    #: Two-sided p-value of the slope; None when undefined.
    p_value: float | None = None
    #: Standard error of the slope; None when undefined.
    slope_stderr: float | None = None
    #: Mean reply length in words (mean of the per-turn means).
    mean_words: float | None = None
    #: The Average with every score moved along the fitted line to ``reference_words``:
    #: ``avg - slope * (mean_words - reference_words)``; None when the slope is undefined.
    adjusted_avg: float | None = None
    #: Percentile-bootstrap intervals over conversations: ``adjusted_avg`` and ``slope``.
    ci: dict[str, Interval] = Field(default_factory=dict)
    #: Why the slope (and the adjusted Average) is None; None when they exist.
    undefined: str | None = None


class MemberFigures(BaseModel):
    """One member of a judge ensemble as the summary reports it (``EnsembleFigures.members``)."""

    #: The member's name (``TurnScore.member``).
    name: str
    #: The member's backend spec.
    spec: str
    #: The member's judge protocol.
    protocol: str
    #: The run's Average by this member's scores alone (its samples averaged per reply).
    avg: float | None = None
    #: The run's IR by this member's scores alone.
    ir: float | None = None
    #: Replies this member gave a valid score (at least one valid sample).
    scored: int = 0
    #: This member's judge records without a score (failed or unreadable), counted per sample.
    missing: int = 0


class PairAgreement(BaseModel):
    """The agreement between two members of a judge ensemble over the replies both scored
    (:func:`aloe_bench.validity.agreement.measure_agreement`; docs/validity.md)."""

    #: The first member's name.
    a: str
    #: The second member's name.
    b: str
    #: Replies scored by both.
    n: int = 0
    #: Share of grade pairs with the same grade.
    exact: float | None = None
    #: Cohen's kappa of the grades (unweighted).
    kappa: float | None = None
    #: Cohen's kappa with quadratic weights over 1-5.
    kappa_quadratic: float | None = None
    #: Spearman's rho of the raw scores.
    spearman: float | None = None
    #: Krippendorff's alpha (ordinal) of the raw scores.
    alpha: float | None = None
    #: Percentile-bootstrap intervals over conversations, per figure.
    ci: dict[str, Interval] = Field(default_factory=dict)
    #: Per figure that is None: why it does not exist (as ``aloe-bench agreement`` says).
    undefined: dict[str, str] = Field(default_factory=dict)


class EnsembleFigures(BaseModel):
    """What a run judged by a judge ensemble reports about its members (``RunSummary.judges``;
    docs/validity.md). The run's AL(k) uses, per reply, the ``aggregate`` of the members' scores
    (each member's judge samples averaged first)."""

    #: ``mean`` or ``median``: how the members' scores of a reply make its score.
    aggregate: str = "mean"
    #: Each member, in order: its spec, protocol and the Average and IR by its scores alone.
    members: list[MemberFigures] = Field(default_factory=list)
    #: Agreement of every pair of members, in member order (j1-j2, j1-j3, j2-j3, ...).
    agreement: list[PairAgreement] = Field(default_factory=list)
    #: Per figure (``exact``, ``kappa``, ``kappa_quadratic``, ``spearman``, ``alpha``): its mean
    #: over the pairs where it exists (with two members, the one pair's); None where none has it.
    mean_agreement: dict[str, float | None] = Field(default_factory=dict)


class RepeatFigure(BaseModel):
    """One repeat of a run with ``--repeats`` (``RepeatFigures.runs``)."""

    #: The repeat index, from 0 (the ``sample`` of its conversations and turns).
    repeat: int
    #: The simulator's sampling seed in this repeat.
    seed: int | None = None
    #: Conversations of this repeat.
    conversations: int = 0
    #: Average of this repeat's conversations alone.
    avg: float | None = None
    #: IR of this repeat's conversations alone.
    ir: float | None = None


class Spread(BaseModel):
    """How much a figure varies over the repeats of a run."""

    #: Sample standard deviation (n - 1) over the repeats where it exists; None with fewer than two.
    sd: float | None = None
    #: Smallest value.
    min: float | None = None
    #: Largest value.
    max: float | None = None
    #: ``max - min``.
    range: float | None = None


class RepeatFigures(BaseModel):
    """What a run with ``--repeats R`` (R > 1) reports about its repeats (``RunSummary.repeats``;
    docs/validity.md): would a rerun give the same figures?"""

    #: R: how many times each persona was played.
    count: int
    #: Each repeat's Average and IR, repeat 0 first.
    runs: list[RepeatFigure] = Field(default_factory=list)
    #: ``avg`` and ``ir``: their spread over the repeats.
    spread: dict[str, Spread] = Field(default_factory=dict)
    #: How the summary's top-level intervals (``ci``) were drawn: ``personas``: each persona's
    #: AL(k) averaged over its repeats first, then personas resampled.
    bootstrap: str = "personas"


class RunSummary(Record):
    """The result of a run; stored atomically as summary.json.

    ``status`` is ``complete`` when nothing is left that ``--resume`` could do, else
    ``incomplete``; summaries written before it existed read as ``unknown``.
    """

    run_dir: str = ""
    model: str
    user: str
    judge: str
    judge_mode: str
    personas_source: str
    personas_count: int
    turns: int
    status: Literal["complete", "incomplete", "unknown"] = "unknown"
    failures: RunFailures = Field(default_factory=RunFailures)
    #: Why an incomplete run stopped early, when it did: ``max_cost`` (the spend reached ``--max-cost``).
    stopped: str | None = None
    al: list[float | None]
    n: list[int]
    missing: list[int]
    avg: float | None
    ir: float | None
    n_ir: float | None
    r2: float | None
    n_r2: float | None
    al_first: float | None = None
    al_last: float | None = None
    al_range: float | None = None
    ci: dict[str, Interval] = Field(default_factory=dict)
    reply_length: list[float | None] = Field(default_factory=list)
    usage: dict[str, Usage] = Field(default_factory=dict)
    components: list[ComponentSpec] = Field(default_factory=list)
    extra: dict[str, Any] = Field(default_factory=dict)
    created: str = Field(default_factory=utc_now)
    # -- profile inference (runs with --profile-probe or --reply-format rlpa; absent otherwise) --
    #: Where the scored profiles came from: ``probe`` or ``reply``; None without a profile measurement.
    pf1_source: str | None = None
    #: PF1(k): mean profile F1 over conversations at turn k, one per turn (None where no profile
    #: was scored). Malformed profiles count as 0; unreadable coverage counts are left out.
    pf1: list[float | None] | None = None
    #: How many profiles PF1(k) averages, per turn.
    pf1_n: list[int] | None = None
    #: Mean precision (covered / inferred lines) per turn.
    pf1_precision: list[float | None] | None = None
    #: Mean recall (covered / golden facts) per turn: the share of the user the model has stated.
    pf1_recall: list[float | None] | None = None
    #: Mean of PF1(1..K) (as Average is the mean of AL(k)); its CI is ``ci["pf1_avg"]``.
    pf1_avg: float | None = None
    #: Least-squares slope of PF1(k) over the turns (as IR for AL); its CI is ``ci["pf1_ir"]``.
    pf1_ir: float | None = None
    #: Profiles that could not be read (no ``<profile>`` section, ...): counted as F1 0.
    pf1_malformed: int | None = None
    #: Coverage counts that stayed unreadable after the re-asks: left out of PF1.
    pf1_unreadable: int | None = None
    #: ``--reply-format rlpa`` only: outputs that broke the format (see ``Turn.malformed``).
    reply_malformed: int | None = None
    #: Runs with a persona drift (``--drift-at K``) only: the drift and the recovery figures
    #: (docs/drift.md); absent otherwise.
    drift: DriftFigures | None = None
    #: The regression of score on reply length and the length-adjusted Average
    #: (docs/validity.md); absent in summaries written before aloe-bench recorded it.
    length: LengthFigures | None = None
    #: Runs judged by a judge ensemble (several ``--judge``) only: each member's figures and the
    #: agreement between members (docs/validity.md); absent otherwise.
    judges: EnsembleFigures | None = None
    #: Runs with ``--repeats R`` above 1 only: each repeat's Average and IR and their spread
    #: (docs/validity.md); absent otherwise.
    repeats: RepeatFigures | None = None

    @model_serializer(mode="wrap")
    def _serialize(self, handler):
        data = handler(self)
        # A run without a profile measurement has none of these keys; one with it has them all
        # (null where undefined), except reply_malformed, which only --reply-format rlpa has.
        data = _drop_absent(data, ("reply_malformed",) if data.get("pf1_source") else PROFILE_SUMMARY_KEYS)
        return _drop_absent(data, ("drift", "length", "judges", "repeats"))


#: Summary keys that exist only for runs with a profile measurement or a reply format.
PROFILE_SUMMARY_KEYS = ("pf1_source", "pf1", "pf1_n", "pf1_precision", "pf1_recall", "pf1_avg", "pf1_ir",
                        "pf1_malformed", "pf1_unreadable", "reply_malformed")


# --- aloe-bench generate ----------------------------------------------------------------------

#: The reply a pairwise verdict or a choice names: the hinted or the unhinted responder's.
Side = Literal["hinted", "unhinted"]


class PairJudgement(BaseModel):
    """One of the two pairwise verdicts of a generated turn: the judge saw ``first`` as "A" and
    the other reply as "B"."""

    #: Which reply was shown first (as "A").
    first: Side
    #: The parsed answer: "A", "B", "tie", or None (unreadable, or the call failed).
    winner: str | None
    #: The answer mapped to a reply: "hinted", "unhinted", "tie", or None.
    picks: str | None
    #: The raw answer (of the last attempt).
    raw: str = ""
    #: The judge's explanation, if any.
    rationale: str = ""
    #: Calls made (re-asks included).
    attempts: int = 1
    #: The failed call's error (secrets redacted); None for an answer.
    error: str | None = None


class TreeTurn(Record):
    """One turn of a generated preference conversation (one line of ``trees.jsonl``).

    ``status`` is ``ok`` when both replies exist and both verdicts were asked (a verdict may still
    be unreadable: ``picks`` None), else the role that failed: ``user_failed``,
    ``induction_failed``, ``hinted_failed``, ``unhinted_failed`` or ``judge_failed`` (a judge call
    failed after its retries; ``--resume`` asks again). A failed turn ends its conversation.
    ``agreement``: ``consistent`` (both orders pick the same reply: it is ``chosen``), ``tie``
    (both say tie) or ``inconsistent`` (the rest, unreadable verdicts included); ``chosen`` is
    set only when consistent.
    """

    #: Id of the conversation (:meth:`Conversation.make_id`).
    conversation_id: str
    #: Id of the conversation's persona.
    persona_id: str
    #: Turn number, from 1.
    turn: int
    #: The simulated user's message ("" when the simulator failed).
    user: str
    #: What the induction model wrote (the hinted responder's hint), as written.
    induced: str | None = None
    #: The hinted responder's reply.
    hinted: str | None = None
    #: The unhinted responder's reply.
    unhinted: str | None = None
    #: The two pairwise verdicts: hinted shown first, then unhinted shown first.
    verdicts: list[PairJudgement] = Field(default_factory=list)
    #: ``consistent``, ``tie`` or ``inconsistent`` (see above); None unless ``status`` is ok.
    agreement: Literal["consistent", "tie", "inconsistent"] | None = None
    #: The judge's winner when both orders agree, else None.
    chosen: Side | None = None
    #: The reply that continues the dialogue (seeded random choice, independent of the verdict).
    continued: Side | None = None
    #: ``ok`` or the role that failed (see above).
    status: Literal["ok", "user_failed", "induction_failed", "hinted_failed", "unhinted_failed",
                    "judge_failed"] = "ok"
    #: The failure's message (secrets redacted) when ``status`` is not ``ok``.
    error: str | None = None
    #: Usage of the calls behind this record, by role (user, induction, hinted, unhinted, pair_judge).
    usage: dict[str, Usage] = Field(default_factory=dict)
    #: When the record was written (UTC, ISO 8601).
    created: str = Field(default_factory=utc_now)

    def reply(self, side: str | None) -> str | None:
        """The hinted or unhinted reply (None for None)."""
        return self.hinted if side == "hinted" else self.unhinted if side == "unhinted" else None


class GenerationStats(Record):
    """``stats.json`` of a generate run (written atomically at the end of every invocation).

    ``status`` is ``complete`` when nothing is left that ``--resume`` could do (as evaluate's
    summary); ``stopped`` says why an incomplete run stopped early (``max_cost``) when it did."""

    #: ``complete`` or ``incomplete`` (see above).
    status: Literal["complete", "incomplete"]
    #: Why an incomplete run stopped early: ``max_cost``; None otherwise.
    stopped: str | None = None
    #: Conversations of the run (one per persona).
    conversations: int
    #: Turns per conversation (``--turns``).
    turns: int
    #: Turns with both replies and both verdicts (``ok`` records).
    pairs: int = 0
    #: Pairs whose two verdicts name the same reply (labelled: they become sft/dpo rows).
    consistent: int = 0
    #: Pairs whose two verdicts both say tie.
    ties: int = 0
    #: The other pairs (the orders disagree, or a verdict is unreadable).
    inconsistent: int = 0
    #: Verdicts (of the 2 per pair) still unreadable after the re-asks.
    unreadable_verdicts: int = 0
    #: Share of pairs whose two orders agree (consistent + ties) / pairs; None without pairs.
    order_agreement: float | None = None
    #: Share of consistent pairs won by the hinted reply; None without consistent pairs.
    hinted_win_rate: float | None = None
    #: Verdicts whose first-shown reply won, over verdicts naming A or B (position bias).
    first_position_rate: float | None = None
    #: Mean words of the chosen replies of consistent pairs (the length confound, with ``rejected_words``).
    chosen_words: float | None = None
    #: Mean words of the rejected replies of consistent pairs.
    rejected_words: float | None = None
    #: Mean words of every hinted reply.
    hinted_words: float | None = None
    #: Mean words of every unhinted reply.
    unhinted_words: float | None = None
    #: Rows written to sft.jsonl.
    sft_rows: int = 0
    #: Rows written to dpo.jsonl.
    dpo_rows: int = 0
    #: Failed last turns by status (``user_failed``, ``judge_failed``, ...).
    failed: dict[str, int] = Field(default_factory=dict)
    #: Conversations cut short by a failed turn.
    cut_short: int = 0
    #: Conversations with turns not played yet (a stop, a kill).
    unplayed: int = 0
    #: The first error per failed role.
    errors: dict[str, str] = Field(default_factory=dict)
    #: Usage and cost per role over every stored record and every unrecorded call.
    usage: dict[str, Usage] = Field(default_factory=dict)
    #: Total cost in US dollars (backend-reported).
    spend: float = 0.0
