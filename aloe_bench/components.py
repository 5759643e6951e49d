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
    max_tokens: int = 300
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = 0
    stop: tuple[str, ...] = ()


class Reply(BaseModel):
    """One generated reply. ``error`` is set (and ``text`` empty) when the call failed for good."""

    text: str = ""
    error: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    cached: bool = False
    attempts: int = 1  # calls made to produce this reply (a role that retries adds them up)

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

    #: Spec string this instance was created from, e.g. ``litellm:openai/gpt-4o-mini``.
    spec: str = ""
    #: Max requests in flight for :meth:`agenerate`'s default implementation.
    concurrency: int = 8
    #: True when :meth:`achoice_probs` is implemented.
    supports_choice_probs: bool = False
    #: True for backends that gain from whole batches (local models padding one forward pass).
    #: The engine then sends each turn as one batch; otherwise it pipelines conversations, so a
    #: conversation's reply is requested as soon as its own user message exists.
    prefers_batches: bool = False
    #: True for backends whose outputs are fine for a demo and meaningless as a measurement (a
    #: tiny embedded model). Runs that use one as simulator or judge are flagged in summaries,
    #: leaderboards and reports. Providers can also say so when registering (``demo_quality=True``).
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
        """What makes this backend's outputs what they are (goes into cache keys and run.json)."""
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
        over ``choices``; None for an item where the backend returned no usable logprobs."""
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
    """A simulated user. Produces the next user message for each conversation of a batch."""

    name: str

    async def next_messages(self, requests: Sequence["SimRequest"]) -> list[Reply]:
        """One user message per request (``error`` set on failure)."""
        ...

    def describe(self) -> dict[str, Any]:
        """Spec, options and prompt hashes for run.json."""
        ...


class SimRequest(BaseModel):
    """What a simulator needs to write turn ``turn`` of a conversation."""

    persona: Persona
    history: list[Message]  # from the model-under-test's perspective (user/assistant)
    turn: int
    total_turns: int
    conversation_id: str = ""


class JudgeRequest(BaseModel):
    """One reply to score for one persona."""

    persona: Persona
    history: list[Message]  # everything before ``user_message``
    user_message: str
    reply: str
    turn: int
    conversation_id: str = ""


class Verdict(BaseModel):
    """A judge's verdict on one reply: a 1-5 score, or None with the raw answer kept.

    With no score, ``error`` tells a failed judge *call* (transport error, retries exhausted:
    set it, and ``--resume`` asks again) from an *unreadable answer* (``error`` None: the judge
    answered but no valid score could be read after the re-asks; kept as a permanent null).
    """

    score: float | None
    rationale: str = ""
    raw: str = ""
    argmax: int | None = None
    probs: dict[str, float] | None = None
    attempts: int = 1
    error: str | None = None
    usage: Usage = Usage()


@runtime_checkable
class Judge(Protocol):
    """A judge that scores replies for a persona."""

    name: str
    mode: str

    async def score(self, requests: Sequence[JudgeRequest]) -> list[Verdict]:
        """One verdict per request, in order. Never raises for a bad answer: score=None."""
        ...

    def describe(self) -> dict[str, Any]:
        """Spec, options and prompt hashes for run.json."""
        ...
