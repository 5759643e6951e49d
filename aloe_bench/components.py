"""The component protocols every plugin implements: chat models, simulators, judges.

A *chat model* turns batches of chat histories into replies. Everything that talks to a model
(the model under test, the user simulator, the judge, persona generators) goes through one, so
caching, retries, batching and usage accounting live in one place.

Simulators and judges are prompt protocols *over* a chat model: the ALOE simulator works the
same whether its backend is GPT-4o through litellm or SmolLM2 through transformers.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol, Sequence, runtime_checkable

from pydantic import BaseModel, ConfigDict

from aloe_bench.records import Message, Persona, Usage


class GenerationParams(BaseModel):
    """Sampling parameters of one call. ``temperature=None`` means the backend's default. Unknown
    keys are an error (a misspelt ``temprature`` in a config file must not fall back silently)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    #: Most tokens to generate per reply.
    max_tokens: int = 300
    #: Sampling temperature; None: the backend's default.
    temperature: float | None = None
    #: Nucleus-sampling mass; None: the backend's default.
    top_p: float | None = None
    #: Random seed for backends that take one; None: unseeded. Roles that re-ask vary it per try.
    seed: int | None = 0
    #: Stop sequences: generation ends before any of them.
    stop: tuple[str, ...] = ()


class Reply(BaseModel):
    """One generated reply. ``error`` is set (and ``text`` empty) when the call failed for good."""

    #: The generated text ("" on failure).
    text: str = ""
    #: Why the call failed for good (after the backend's own retries); None on success.
    error: str | None = None
    #: The backend's finish reason (``stop``, ``length``, ...), when it reports one.
    finish_reason: str | None = None
    #: Prompt (input) tokens of the call, when the backend reports them.
    prompt_tokens: int = 0
    #: Completion (output) tokens of the call, when the backend reports them.
    completion_tokens: int = 0
    #: Cost of the call in US dollars, when the backend knows it.
    cost: float = 0.0
    #: Set by the call cache when the reply was served from it (its cost is then 0).
    cached: bool = False
    #: Calls made to produce this reply (a role that retries adds them up).
    attempts: int = 1

    @property
    def ok(self) -> bool:
        """True when the call produced a reply."""
        return self.error is None

    def usage(self) -> Usage:
        """This reply's contribution to a usage tally."""
        return Usage(
            calls=self.attempts,
            cached_calls=int(self.cached),
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cost=self.cost,
        )


class ChatModel:
    """Base class of chat backends.

    Subclasses implement either :meth:`acomplete` (one conversation per call; API backends: the
    base :meth:`agenerate` runs them concurrently under ``concurrency``) or override
    :meth:`agenerate` (local backends that pad a whole batch into one forward pass).

    A backend that can return the probabilities of fixed answers (next-token logprobs) also
    implements :meth:`achoice_probs`; judges then score from probabilities instead of text.
    """

    #: Spec string this instance was created from, e.g. ``litellm:openai/gpt-4o-mini``. A factory
    #: may leave it empty: the core then sets it to the spec it resolved.
    spec: str = ""
    #: Max requests in flight for :meth:`agenerate`'s default implementation (:meth:`limiter`).
    #: ``aloe-bench evaluate`` sets it to the run's ``concurrency`` after the factory returns.
    concurrency: int = 8
    #: True when :meth:`achoice_probs` is implemented.
    supports_choice_probs: bool = False
    #: True for backends that gain from whole batches (local models padding one forward pass).
    #: The engine then sends each turn as one batch; otherwise it pipelines conversations, so a
    #: conversation's reply is requested as soon as its own user message exists.
    prefers_batches: bool = False
    #: True for backends whose outputs are fine for a demo and meaningless as a measurement (a
    #: tiny embedded model). Runs that use one as simulator or judge are flagged in summaries,
    #: leaderboards and reports. Providers can also say so when registering (``demo_quality=True``:
    #: the core then sets this attribute). Recorded in run.json per role.
    demo_quality: bool = False
    #: True when :meth:`identity` alone pins the replies, whatever release of the plugin serves
    #: them: a hosted API whose model id names the model (``gpt-4o-2024-08-06``). The call cache
    #: then keys calls by the identity only, so a new plugin release keeps a paid cache. False
    #: (the default) when the plugin's own code shapes the replies (prompt formatting, decoding,
    #: a local model, a toy provider): the cache key then also holds the providing
    #: distribution's name and version, and a new release makes fresh calls.
    identity_pins_replies: bool = False

    def limiter(self) -> asyncio.Semaphore:
        """The semaphore that caps this backend's requests in flight at ``concurrency``, shared
        by every call on the running event loop (so concurrent callers share one limit)."""
        loop = asyncio.get_running_loop()
        current = getattr(self, "_limiter", None)
        if current is None or current[0] is not loop:
            current = (loop, asyncio.Semaphore(max(1, self.concurrency)))
            self._limiter = current
        return current[1]

    def identity(self) -> dict[str, Any]:
        """What makes this backend's outputs what they are (goes into cache keys and run.json).

        A JSON-able dict; secrets are redacted before it is stored. Override it to add what shapes
        the replies (model revision, dtype, prompt template), and leave out operational settings
        (retries, timeouts, API keys) so they do not split the cache. Default: ``{"spec": spec}``.
        """
        return {"spec": self.spec}

    async def acomplete(self, messages: Sequence[Message], params: GenerationParams) -> Reply:
        """Generate one reply for one chat history. Must not raise for per-call failures: return
        a :class:`Reply` with ``error`` set after the backend's own retries."""
        raise NotImplementedError(f"{type(self).__name__} implements neither acomplete nor agenerate")

    async def agenerate(
        self, batch: Sequence[Sequence[Message]], params: GenerationParams
    ) -> list[Reply]:
        """Generate one reply per chat history in ``batch``, in order."""
        sem = self.limiter()

        async def one(messages: Sequence[Message]) -> Reply:
            async with sem:
                return await self.acomplete(messages, params)

        return list(await asyncio.gather(*(one(m) for m in batch)))

    async def achoice_probs(
        self, batch: Sequence[Sequence[Message]], choices: Sequence[str], params: GenerationParams
    ) -> list[dict[str, float] | None]:
        """Probability of each answer in ``choices`` as the first token of the reply, normalised
        over ``choices``, one per chat history in ``batch``, in order; None for an item where the
        backend returned no usable logprobs. Return :class:`ChoiceProbs` items to report each
        call's usage (a plain dict counts as one call). Set ``supports_choice_probs`` when you
        implement it."""
        raise NotImplementedError(f"{type(self).__name__} does not return choice probabilities")

    def close(self) -> None:
        """Release resources (threads, GPU memory). Default: nothing."""


class ChoiceProbs(dict):
    """Choice probabilities (choice -> probability) returned by :meth:`ChatModel.achoice_probs`,
    with the :class:`~aloe_bench.records.Usage` of the call that produced them (tokens, cost), so
    probability judging is accounted like text judging. A plain dict is accepted too (usage: one
    call)."""

    def __init__(self, probs: dict[str, float], usage: Usage | None = None):
        super().__init__(probs)
        self.usage = usage or Usage(calls=1)


@runtime_checkable
class Simulator(Protocol):
    """A simulated user. Produces the next user message for each conversation of a batch.

    What a simulator factory returns (``aloe_register_simulators``). A protocol that generates
    with a chat model should keep it as its ``backend`` attribute: that backend's
    :meth:`ChatModel.identity` and ``demo_quality`` then reach run.json, and its
    ``prefers_batches`` decides whether the engine batches or pipelines turns.

    Optional attribute ``handles_change_notice = True``: the protocol passes
    :attr:`SimRequest.change_notice` on to its model (the built-in does). ``evaluate --drift-at``
    refuses a simulator without it, so a user who changes mid-conversation is never played without
    being told of the change (docs/drift.md).
    """

    #: The protocol's name (the built-in: ``aloe``).
    name: str

    async def next_messages(self, requests: Sequence["SimRequest"]) -> list[Reply]:
        """One user message per request, in order (``error`` set on failure: the conversation
        ends with a ``user_failed`` turn). Add up the calls a message took in ``attempts`` and
        the tokens in the usage fields: they are counted as the ``user`` role's usage."""
        ...

    def describe(self) -> dict[str, Any]:
        """What run.json records about this protocol: a dict with the keys ``kind`` (str: the
        protocol's name), ``options`` (a JSON-able dict of everything that shapes its messages:
        its options, sampling parameters, retries) and ``prompt_hashes`` (str -> str: prompt name
        -> hash of its text). Missing keys are stored empty and other keys are ignored; secrets
        in ``options`` are redacted."""
        ...


class SimRequest(BaseModel):
    """What a simulator needs to write turn ``turn`` of a conversation."""

    #: The persona to play.
    persona: Persona
    #: The conversation so far, from the model-under-test's perspective (user/assistant).
    history: list[Message]
    #: Number of the turn to write, from 1.
    turn: int
    #: Turns the conversation will have.
    total_turns: int
    #: Id of the conversation (stable across runs and resumes).
    conversation_id: str = ""
    #: Set only at the turn the user changes (``evaluate --drift-at K``, at turn K): text telling
    #: the simulator that its situation has changed and who it was before; a simulator adds it to
    #: what it is told to play (``persona`` is already the new persona). None at every other turn.
    change_notice: str | None = None


class JudgeRequest(BaseModel):
    """One reply to score for one persona."""

    #: The persona the reply should fit.
    persona: Persona
    #: The conversation before ``user_message`` (user/assistant).
    history: list[Message]
    #: The user's message the reply answers.
    user_message: str
    #: The reply to score.
    reply: str
    #: Turn number of the reply, from 1.
    turn: int
    #: Id of the conversation (stable across runs and resumes).
    conversation_id: str = ""


class Verdict(BaseModel):
    """A judge's verdict on one reply: a 1-5 score, or None with the raw answer kept.

    With no score, ``error`` tells a failed judge *call* (transport error, retries exhausted:
    set it, and ``--resume`` asks again) from an *unreadable answer* (``error`` None: the judge
    answered but no valid score could be read after the re-asks; kept as a permanent null).
    """

    #: The 1-5 score, or None when there is none.
    score: float | None
    #: The judge's explanation, if any.
    rationale: str = ""
    #: The raw answer (or probabilities as JSON), kept for inspection.
    raw: str = ""
    #: The most likely score, if known.
    argmax: int | None = None
    #: Probability of each answer ("1".."5") when scored from probabilities.
    probs: dict[str, float] | None = None
    #: Calls made for this verdict (re-asks included).
    attempts: int = 1
    #: The failed call's error (see above); None for a score or an unreadable answer.
    error: str | None = None
    #: Usage of every call behind this verdict (counted as the ``judge`` role's usage).
    usage: Usage = Usage()


@runtime_checkable
class Judge(Protocol):
    """A judge that scores replies for a persona.

    What a judge factory returns (``aloe_register_judges``). As for :class:`Simulator`, a
    protocol that judges with a chat model should keep it as its ``backend`` attribute: its
    :meth:`ChatModel.identity` and ``demo_quality`` reach run.json, and its identity defines a
    re-scoring (judgement.json).
    """

    #: The protocol's name (the built-in: ``aloe``).
    name: str
    #: ``turn`` or ``history``: the ``mode`` the factory received; stored with every score.
    mode: str

    async def score(self, requests: Sequence[JudgeRequest]) -> list[Verdict]:
        """One verdict per request, in order. Never raises for a bad answer: score=None."""
        ...

    def describe(self) -> dict[str, Any]:
        """What run.json records about this judge: a dict with the keys ``kind`` (str: the
        protocol's name), ``options`` (a JSON-able dict of everything that shapes its scores: mode,
        options, sampling parameters, retries) and ``prompt_hashes`` (str -> str: prompt name ->
        hash of its text). Missing keys are stored empty and other keys are ignored; secrets in
        ``options`` are redacted. The same three values define a re-scoring in judgement.json
        (``kind``, ``protocol_options``, ``prompt_hashes``): a change in any of them refuses to add
        scores to an existing re-scoring of that name."""
        ...


# --- judge tasks and generation roles (``aloe-bench generate``) ---------------------------------

# A judge protocol is registered for one task (``register(..., task=...)``, see
# :data:`aloe_bench.plugins.JUDGE_TASKS`): ``score`` (1-5 per reply, :class:`Judge`),
# ``pairwise`` (which of two replies fits the persona better, :class:`PairwiseJudge`),
# ``coverage`` (how many golden facts an inferred profile covers, :class:`CoverageJudge`) or
# ``engagement`` (would the user want to keep chatting after a reply, :class:`EngagementJudge`).


class PairRequest(BaseModel):
    """Two replies to the same user message, to compare for one persona. ``first`` is shown as
    "A" and ``second`` as "B"."""

    #: The persona the replies should fit.
    persona: Persona
    #: The conversation before ``user_message`` (user/assistant).
    history: list[Message]
    #: The user's message both replies answer.
    user_message: str
    #: The reply shown first, labelled "A".
    first: str
    #: The reply shown second, labelled "B".
    second: str
    #: Turn number of the replies, from 1.
    turn: int
    #: Id of the conversation (stable across runs and resumes).
    conversation_id: str = ""


class PairVerdict(BaseModel):
    """A pairwise judge's verdict: ``winner`` is ``"A"`` (the first reply), ``"B"`` (the second)
    or ``"tie"``; None when there is none. As for :class:`Verdict`, ``error`` tells a failed
    call (``--resume`` asks again) from an unreadable answer (error None: a permanent null)."""

    #: "A", "B", "tie", or None.
    winner: str | None
    #: The judge's explanation, if any.
    rationale: str = ""
    #: The raw answer, kept for inspection.
    raw: str = ""
    #: Calls made for this verdict (re-asks included).
    attempts: int = 1
    #: The failed call's error; None for a verdict or an unreadable answer.
    error: str | None = None
    #: Usage of every call behind this verdict.
    usage: Usage = Usage()


@runtime_checkable
class PairwiseJudge(Protocol):
    """A judge that compares two replies for a persona (judge task ``pairwise``).

    What a judge factory registered with ``task="pairwise"`` returns. Keep the chat model as the
    ``backend`` attribute (as :class:`Judge`)."""

    #: The protocol's name (the built-in: ``aloe-pairwise``).
    name: str

    async def compare(self, requests: Sequence[PairRequest]) -> list[PairVerdict]:
        """One verdict per request, in order. Never raises for a bad answer: winner=None."""
        ...

    def describe(self) -> dict[str, Any]:
        """What run.json records (``kind``, ``options``, ``prompt_hashes``), as :meth:`Judge.describe`."""
        ...


class CoverageRequest(BaseModel):
    """An inferred profile to check against a persona's golden facts (judge task ``coverage``)."""

    #: The persona the profile is about.
    persona: Persona
    #: The persona's golden facts, one per item.
    golden: list[str]
    #: The inferred profile's facts, one per item (see :func:`aloe_bench.profile.profile_lines`).
    inferred: list[str]
    #: Turn number the profile was inferred after, from 1 (0 outside a conversation).
    turn: int = 0
    #: Id of the conversation (stable across runs and resumes); "" outside one.
    conversation_id: str = ""


class CoverageVerdict(BaseModel):
    """A coverage judge's count: how many golden facts the inferred profile covers, as the judge
    answered it (:func:`aloe_bench.profile.profile_f1` clamps it). None when there is none; as for
    :class:`Verdict`, ``error`` tells a failed call (``--resume`` asks again) from an unreadable
    answer (error None: a permanent null)."""

    #: Golden facts covered, as answered (not clamped), or None.
    covered: int | None
    #: The raw answer, kept for inspection.
    raw: str = ""
    #: Calls made for this verdict (re-asks included).
    attempts: int = 1
    #: The failed call's error; None for a count or an unreadable answer.
    error: str | None = None
    #: Usage of every call behind this verdict.
    usage: Usage = Usage()


@runtime_checkable
class CoverageJudge(Protocol):
    """A judge that counts the golden facts an inferred profile covers (judge task ``coverage``):
    RLPA's profile reward and ``evaluate --profile-probe`` use it.

    What a judge factory registered with ``task="coverage"`` returns. Keep the chat model as the
    ``backend`` attribute (as :class:`Judge`). An empty inferred profile needs no call (0)."""

    #: The protocol's name (the built-in: ``aloe-coverage``).
    name: str

    async def count(self, requests: Sequence[CoverageRequest]) -> list[CoverageVerdict]:
        """One verdict per request, in order. Never raises for a bad answer: covered=None."""
        ...

    def describe(self) -> dict[str, Any]:
        """What run.json records (``kind``, ``options``, ``prompt_hashes``), as :meth:`Judge.describe`."""
        ...


class EngagementRequest(BaseModel):
    """A reply to judge for whether the user would want to keep chatting (judge task
    ``engagement``; RLPA's response reward)."""

    #: The persona the user is.
    persona: Persona
    #: The dialogue the reply answers (user/assistant), ending with the user's message.
    history: list[Message]
    #: The reply to judge.
    reply: str
    #: An inferred profile, one fact per item: when given, the judge sees it instead of the persona
    #: (RLPA judges the reply given the policy's own profile); None: the judge sees the persona.
    profile: list[str] | None = None
    #: Turn number of the reply, from 1 (0 outside a conversation).
    turn: int = 0
    #: Id of the conversation (stable across runs and resumes); "" outside one.
    conversation_id: str = ""


class EngagementVerdict(BaseModel):
    """An engagement judge's decision: would the user want to keep chatting after this reply
    (``keep``)? None when there is none; as for :class:`Verdict`, ``error`` tells a failed call
    from an unreadable answer (error None: a permanent null)."""

    #: True (yes, 1), False (no, 0), or None when there is no readable decision.
    keep: bool | None
    #: The judge's explanation, if any.
    rationale: str = ""
    #: The raw answer, kept for inspection.
    raw: str = ""
    #: Calls made for this verdict (re-asks included).
    attempts: int = 1
    #: The failed call's error; None for a decision or an unreadable answer.
    error: str | None = None
    #: Usage of every call behind this verdict.
    usage: Usage = Usage()


@runtime_checkable
class EngagementJudge(Protocol):
    """A strict yes/no judge: would the user want to keep chatting after this reply (natural and
    brief, fits the user's interests, logical, engaging, no flattery or echoing)? Judge task
    ``engagement``: RLPA's response reward uses it.

    What a judge factory registered with ``task="engagement"`` returns. Keep the chat model as the
    ``backend`` attribute (as :class:`Judge`)."""

    #: The protocol's name (the built-in: ``aloe-engagement``).
    name: str

    async def decide(self, requests: Sequence[EngagementRequest]) -> list[EngagementVerdict]:
        """One verdict per request, in order. Never raises for a bad answer: keep=None."""
        ...

    def describe(self) -> dict[str, Any]:
        """What run.json records (``kind``, ``options``, ``prompt_hashes``), as :meth:`Judge.describe`."""
        ...


# --- rewards (``aloe_register_rewards``) -----------------------------------------------------------


class RewardRequest(BaseModel):
    """One policy output to reward: what the policy saw and what it wrote, read into its parts
    (:func:`aloe_bench.rewards.request_from_output` builds one from an RLPA output's text)."""

    #: The persona the simulated user plays.
    persona: Persona
    #: The persona's golden facts, one per item (the profile reward's truth).
    golden: list[str] = []
    #: The dialogue the policy answered (user/assistant), ending with the user's message.
    history: list[Message] = []
    #: The policy's inferred profile, one fact per item; None when it wrote none.
    profile: list[str] | None = None
    #: The policy's reply to the user; None when it wrote none.
    response: str | None = None
    #: What is wrong with the output (e.g. "no <response>...</response> section"); None when well
    #: formed. RLPA gives a malformed output reward 0.
    malformed: str | None = None
    #: Turn number, from 1 (0 outside a conversation).
    turn: int = 0
    #: Id of the conversation; "" outside one.
    conversation_id: str = ""


class RewardResult(BaseModel):
    """A reward for one request. ``value`` is None when no reward could be computed: ``error`` is
    then set when a judge call failed (after the backend's retries), or ``details["reason"]`` says
    why (an unreadable judge answer). The caller decides what such a sample is worth; a failed
    call is never passed off as a reward of 0."""

    #: The reward (the profile reward: F1 in [0, 1]; the response reward: 1.0 or 0.0), or None.
    value: float | None
    #: What the value is made of (e.g. covered, precision, recall, f1; keep), and ``reason`` when
    #: the value is 0 or None without a judge verdict (a malformed output, an empty profile).
    details: dict[str, Any] = {}
    #: The failed judge call's error; None otherwise.
    error: str | None = None
    #: Usage of every call behind this reward.
    usage: Usage = Usage()


@runtime_checkable
class Reward(Protocol):
    """A reward over policy outputs (``aloe_register_rewards``; built-in ``profile`` and
    ``response``). A reward that asks a judge keeps it as its ``judge`` attribute and the judge's
    chat model as its ``backend`` attribute."""

    #: The reward's name (the built-ins: ``profile``, ``response``).
    name: str

    async def reward(self, requests: Sequence[RewardRequest]) -> list[RewardResult]:
        """One result per request, in order. Never raises for a bad answer or a failed call: the
        result says so (``value`` None, ``error``)."""
        ...

    def describe(self) -> dict[str, Any]:
        """What a run records about this reward (``kind``, ``options``, ``prompt_hashes``), as
        :meth:`Judge.describe`."""
        ...


class InductionRequest(BaseModel):
    """What an induction model needs: the true persona and the dialogue so far, which ends with
    the user message of turn ``turn``."""

    #: The true persona.
    persona: Persona
    #: The dialogue so far (user/assistant), ending with the current user message.
    dialogue: list[Message]
    #: Number of the current turn, from 1.
    turn: int
    #: Id of the conversation.
    conversation_id: str = ""


@runtime_checkable
class Induction(Protocol):
    """Writes which profile facts and personality traits the user has revealed so far (direct
    evidence only). What a generation protocol registered with ``role="induction"`` returns."""

    #: The protocol's name (the built-in: ``aloe-induction``).
    name: str

    async def induce(self, requests: Sequence[InductionRequest]) -> list[Reply]:
        """One induced persona text per request, in order (``error`` set on failure). The text
        is passed to the hinted responder as written."""
        ...

    def describe(self) -> dict[str, Any]:
        """What run.json records (``kind``, ``options``, ``prompt_hashes``)."""
        ...


class RespondRequest(BaseModel):
    """One user message to answer, with the dialogue before it and, for a hinted responder, the
    induced persona."""

    #: The dialogue before ``user_message`` (user/assistant), along the continued branch.
    history: list[Message]
    #: The user message to answer.
    user_message: str
    #: The induced persona text (hinted responders); None for unhinted ones.
    hint: str | None = None
    #: Number of the turn, from 1.
    turn: int = 1
    #: Id of the conversation.
    conversation_id: str = ""


@runtime_checkable
class Responder(Protocol):
    """Answers user messages (``generate``'s hinted and unhinted roles). What a generation
    protocol registered with ``role="responder"`` returns."""

    #: The protocol's name (built-in: ``aloe-hinted``, ``aloe-unhinted``).
    name: str

    async def respond(self, requests: Sequence[RespondRequest]) -> list[Reply]:
        """One reply per request, in order (``error`` set on failure)."""
        ...

    def describe(self) -> dict[str, Any]:
        """What run.json records (``kind``, ``options``, ``prompt_hashes``)."""
        ...
