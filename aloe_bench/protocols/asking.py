"""Asking a chat backend until the answer is usable: the re-ask loop shared by the protocols."""

from __future__ import annotations

from aloe_bench.components import ChatModel, GenerationParams, Reply
from aloe_bench.records import Message


async def generate_nonempty(backend: ChatModel, batch: list[list[Message]], base: GenerationParams,
                             max_retries: int, clean, empty_error: str) -> list[Reply]:
    """Generate one reply per chat (the simulator, induction and responder protocols); a reply that
    is empty after ``clean`` is re-asked (seed + 1 per attempt) and finally returned with ``empty_error``. A retried
    reply accounts for the usage of every attempt."""
    out: list[Reply | None] = [None] * len(batch)
    todo = list(range(len(batch)))
    for attempt in range(max_retries + 1):
        seed = None if base.seed is None else base.seed + attempt
        params = base.model_copy(update={"seed": seed})
        replies = await backend.agenerate([batch[i] for i in todo], params)
        again = []
        for i, rep in zip(todo, replies):
            prev = out[i]
            if prev is not None:
                rep = rep.model_copy(update={"attempts": prev.attempts + rep.attempts,
                                             "prompt_tokens": prev.prompt_tokens + rep.prompt_tokens,
                                             "completion_tokens": prev.completion_tokens + rep.completion_tokens,
                                             "cost": prev.cost + rep.cost})
            if rep.ok:
                text = clean(rep.text)
                if text:
                    out[i] = rep.model_copy(update={"text": text})
                    continue
                rep = rep.model_copy(update={"error": empty_error})
            out[i] = rep
            again.append(i)
        todo = again
        if not todo:
            break
    return [r for r in out if r is not None]
