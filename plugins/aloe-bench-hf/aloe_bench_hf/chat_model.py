"""HFChatModel: a transformers causal LM as an aloe-bench chat backend.

Every call is batched: the conversations are rendered with the model's chat template, sorted by
length, split into chunks of ``batch_size``, left-padded and generated together; each reply is
the generated tokens sliced off after the input length (the decoded prompt is never
string-split). The same padded forward pass gives answer probabilities for judges.

One instance may serve several roles at once (model under test, simulator, judge): the blocking
work runs in a worker thread under a lock, so the event loop stays free and calls never
interleave on the device.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import gc
import os
import threading
from collections import Counter
from typing import Any, Callable, Sequence

from aloe_bench.backends.checkpoints import folder_fingerprint
from aloe_bench.components import ChatModel, ChoiceProbs, GenerationParams, Reply
from aloe_bench.errors import ConfigError
from aloe_bench.records import Message, Usage

from aloe_bench_hf.loading import (
    ModelRef,
    hub_snapshot,
    load_model_and_tokenizer,
    locate,
    resolve_device_dtype,
)
from aloe_bench_hf.options import HFOptions

# torch's global RNG is shared by every model in the process: seeded sampling holds this lock so
# two models sampling at once cannot reseed each other's stream.
_SAMPLING_LOCK = threading.Lock()
# torch's own thread count before any instance set it (the default for instances without ``threads``).
_TORCH_DEFAULT_THREADS: int | None = None


def available_cpus() -> int:
    """CPUs this process may run on (respects affinity masks and container cpusets)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


class HFChatModel(ChatModel):
    """A transformers causal LM with a chat template, generating in padded batches.

    ``reference`` is a hub id, a local folder or a :class:`ModelRef`. ``provider`` names the
    registered provider for :meth:`identity` and option errors; ``fingerprint`` overrides the
    computed content fingerprint (the embedded model uses its source file's). The rest are
    :class:`~aloe_bench_hf.options.HFOptions`, given as ``options=`` or as keyword arguments; they
    are validated before anything is loaded.
    """

    supports_choice_probs = True
    prefers_batches = True  # one padded forward pass for a whole turn

    def __init__(self, reference: str | ModelRef, *, provider: str = "hf", fingerprint: str | None = None,
                 options: HFOptions | None = None, **keyword_options: Any):
        if options is not None and not isinstance(options, HFOptions):
            keyword_options["options"] = options  # a user's key named "options": reported as unknown
        elif options is not None and keyword_options:
            raise TypeError("HFChatModel takes options= or keyword options, not both")
        opts = HFOptions.parse(provider, keyword_options if options is None else options)
        self.options = opts
        self.batch_size = opts.batch_size
        self.repetition_penalty = opts.repetition_penalty
        self.max_input_tokens = opts.max_input_tokens
        self.ref = reference if isinstance(reference, ModelRef) else locate(str(reference), opts.revision)
        self.provider = provider
        self.spec = f"{provider}:{self.ref.name}" if provider == "hf" else provider
        self.device, self.dtype = resolve_device_dtype(opts.device, opts.dtype)
        # torch defaults to the machine's physical cores, which can exceed what a container or an
        # affinity mask grants; oversubscribed OpenMP threads spin and slow generation down.
        self.threads = (opts.threads or self._default_threads()) if self.device == "cpu" else None
        if self.threads:
            self._set_threads(self.threads)
        self.model, self.tokenizer = load_model_and_tokenizer(self.ref, device=self.device, dtype=self.dtype,
                                                              trust_remote_code=opts.trust_remote_code)
        if not getattr(self.tokenizer, "chat_template", None):
            raise ConfigError(f"Model {self.ref.name!r} has no chat template (a base model?).",
                              "Use an instruct/chat checkpoint, or save a tokenizer with a chat_template in the folder.")
        self.pad_id = self._pad_id()
        self.eos_ids = self._eos_ids()
        self._fingerprint = fingerprint
        self._lock = threading.Lock()
        self._choice_cache: dict[tuple[str, ...], dict[str, list[int]]] = {}

    # -- setup -------------------------------------------------------------------------------
    @staticmethod
    def _set_threads(n: int) -> None:
        import torch

        if torch.get_num_threads() != n:
            torch.set_num_threads(n)

    @staticmethod
    def _default_threads() -> int:
        global _TORCH_DEFAULT_THREADS
        if _TORCH_DEFAULT_THREADS is None:  # before any instance changed it
            import torch

            _TORCH_DEFAULT_THREADS = torch.get_num_threads()
        if os.environ.get("OMP_NUM_THREADS"):
            return _TORCH_DEFAULT_THREADS  # the user chose
        return min(_TORCH_DEFAULT_THREADS, available_cpus())

    def _pad_id(self) -> int:
        tok = self.tokenizer
        for candidate in (tok.pad_token_id, getattr(self.model.generation_config, "pad_token_id", None),
                          tok.eos_token_id):
            if isinstance(candidate, int):
                return candidate
        return 0  # masked out by the attention mask, so any id works

    def _eos_ids(self) -> set[int]:
        ids: set[int] = set()
        for source in (getattr(self.model.generation_config, "eos_token_id", None), self.tokenizer.eos_token_id):
            if isinstance(source, int):
                ids.add(source)
            elif isinstance(source, (list, tuple)):
                ids.update(int(i) for i in source)
        return ids

    def _context_size(self) -> int | None:
        for name in ("max_position_embeddings", "n_positions", "max_sequence_length"):
            value = getattr(self.model.config, name, None)
            if isinstance(value, int) and value > 0:
                return value
        return None

    # -- identity ----------------------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        """Provider, model, dtype, truncation and a content fingerprint of the checkpoint."""
        if self._fingerprint is None:
            folder = hub_snapshot(self.ref)
            self._fingerprint = folder_fingerprint(folder) if folder else f"revision:{self.ref.revision or 'main'}"
        return {"provider": self.provider, "model": self.ref.name, "dtype": str(self.dtype).removeprefix("torch."),
                "fingerprint": self._fingerprint, "max_input_tokens": self.max_input_tokens,
                "repetition_penalty": self.repetition_penalty}

    # -- prompt encoding -----------------------------------------------------------------------
    def _render(self, messages: list[dict[str, str]]) -> list[int]:
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        # The template already holds any BOS/special tokens the model expects.
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def encode(self, messages: Sequence[Message], max_new_tokens: int = 0) -> list[int]:
        """Token ids of ``messages`` with the generation prompt; histories longer than the limit
        lose their oldest messages first (a system message is kept), then their oldest tokens."""
        msgs = [{"role": m.role, "content": m.content} for m in messages]
        ids = self._render(msgs)
        limit = self.max_input_tokens
        if limit is None:
            context = self._context_size()
            limit = max(1, context - max_new_tokens) if context else None
        if limit is None or len(ids) <= limit:
            return ids
        head = msgs[:1] if msgs and msgs[0]["role"] == "system" else []
        body = msgs[len(head):]
        while len(body) > 1 and len(ids) > limit:
            body = body[1:]
            if len(body) > 1 and body[0]["role"] == "assistant":
                body = body[1:]  # keep user/assistant alternation for strict templates
            ids = self._render(head + body)
        return ids[-limit:]

    def _pad(self, rows: list[list[int]]):
        import torch

        width = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            if row:
                input_ids[i, width - len(row):] = torch.tensor(row, dtype=torch.long)
                mask[i, width - len(row):] = 1
        return input_ids.to(self.device), mask.to(self.device)

    def _chunks(self, encoded: list[list[int]]) -> list[list[int]]:
        # Similar lengths share a chunk, so little compute goes to padding.
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        return [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]

    def _run_locked(self, fn: Callable, *args):
        with self._lock:
            if self.model is None:
                raise RuntimeError(f"{self.spec} was closed")
            if self.threads:  # torch's thread count is process-wide: another model may have changed it
                self._set_threads(self.threads)
            return fn(*args)

    # -- generation --------------------------------------------------------------------------
    async def agenerate(self, batch: Sequence[Sequence[Message]], params: GenerationParams) -> list[Reply]:
        """One reply per conversation, generated in padded batches in a worker thread."""
        if not batch:
            return []
        return await asyncio.to_thread(self.generate, [list(m) for m in batch], params)

    def generate(self, batch: Sequence[Sequence[Message]], params: GenerationParams) -> list[Reply]:
        """Blocking :meth:`agenerate`, for callers outside an event loop (benchmarks, trainers)."""
        return self._run_locked(self._generate, batch, params)

    def _generate(self, batch: Sequence[Sequence[Message]], params: GenerationParams) -> list[Reply]:
        encoded = [self.encode(m, params.max_tokens) for m in batch]
        sampling = bool(params.temperature)
        replies: list[Reply | None] = [None] * len(batch)
        with _SAMPLING_LOCK if sampling else contextlib.nullcontext():
            if sampling and params.seed is not None:
                from transformers import set_seed

                set_seed(params.seed)
            for chunk in self._chunks(encoded):
                for i, reply in zip(chunk, self._generate_rows([encoded[i] for i in chunk], params)):
                    replies[i] = reply
        if any(r is None for r in replies):  # every index is in exactly one chunk
            raise RuntimeError("internal error: a conversation was left out of every chunk")
        return replies  # type: ignore[return-value]

    def _generation_config(self, params: GenerationParams):
        config = copy.deepcopy(self.model.generation_config)
        config.max_new_tokens = params.max_tokens
        config.max_length = None
        config.pad_token_id = self.pad_id
        if self.eos_ids:
            config.eos_token_id = sorted(self.eos_ids)
        if params.temperature:
            config.do_sample = True
            config.temperature = float(params.temperature)
            config.top_p = float(params.top_p) if params.top_p is not None else 1.0
            config.top_k = 0  # API semantics: only temperature and top_p shape the distribution
        else:
            config.do_sample = False
            config.temperature, config.top_p, config.top_k = 1.0, 1.0, 50  # neutral: no warnings
        config.stop_strings = list(params.stop) or None
        if self.repetition_penalty is not None:
            config.repetition_penalty = self.repetition_penalty
        return config

    def _generate_rows(self, rows: list[list[int]], params: GenerationParams) -> list[Reply]:
        import torch

        input_ids, mask = self._pad(rows)
        config = self._generation_config(params)
        try:
            with torch.inference_mode():
                output = self.model.generate(input_ids=input_ids, attention_mask=mask, generation_config=config,
                                             tokenizer=self.tokenizer if params.stop else None)
        except torch.OutOfMemoryError:
            if len(rows) == 1:
                return [Reply(error=f"out of memory on {self.device} for a {len(rows[0])}-token input")]
            self._free_cache()
            half = len(rows) // 2  # retry in halves: the chunk, not the model, was too large
            return self._generate_rows(rows[:half], params) + self._generate_rows(rows[half:], params)
        new_tokens = output[:, input_ids.shape[1]:].tolist()
        return [self._to_reply(tokens, len(row), params) for tokens, row in zip(new_tokens, rows)]

    def _to_reply(self, tokens: list[int], prompt_tokens: int, params: GenerationParams) -> Reply:
        finish = "length"
        end = next((k for k, t in enumerate(tokens) if t in self.eos_ids), None)
        if end is not None:
            tokens, finish, count = tokens[:end], "stop", end + 1
        else:
            while tokens and tokens[-1] == self.pad_id:  # rows finished by a stop string are padded
                tokens = tokens[:-1]
            count = len(tokens)
            if count < params.max_tokens:
                finish = "stop"
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        cuts = [k for k in (text.find(s) for s in params.stop if s) if k >= 0]
        if cuts:
            text, finish = text[:min(cuts)], "stop"
        return Reply(text=text.strip(), finish_reason=finish, prompt_tokens=prompt_tokens,
                     completion_tokens=count, cost=0.0)

    # -- answer probabilities ----------------------------------------------------------------
    def choice_token_ids(self, choices: Sequence[str]) -> dict[str, list[int]]:
        """For each choice, the token ids that can start it: the first token of ``"4"`` and of
        ``" 4"`` where that token carries the choice's text (a bare space token does not).
        Tokens that could start two choices are dropped; a choice left with none is an error."""
        key = tuple(choices)
        if key in self._choice_cache:
            return self._choice_cache[key]
        candidates: dict[str, set[int]] = {}
        for choice in choices:
            found: set[int] = set()
            for variant in (choice, " " + choice):
                ids = self.tokenizer.encode(variant, add_special_tokens=False)
                if not ids:
                    continue
                piece = self.tokenizer.decode(ids[:1]).strip()
                if piece and choice.strip().startswith(piece):
                    found.add(ids[0])
            candidates[choice] = found
        owners = Counter(t for ids in candidates.values() for t in ids)
        result = {c: sorted(t for t in ids if owners[t] == 1) for c, ids in candidates.items()}
        bad = [c for c, ids in result.items() if not ids]
        if bad:
            raise ConfigError(f"Answer choices {bad} have no distinct first token in {self.ref.name!r}'s tokenizer.",
                              "Use choices that differ in their first token (e.g. single digits).")
        self._choice_cache[key] = result
        return result

    async def achoice_probs(self, batch: Sequence[Sequence[Message]], choices: Sequence[str],
                            params: GenerationParams) -> list[dict[str, float] | None]:
        """Probability of each choice as the reply's first token, normalised over ``choices``."""
        if not batch:
            return []
        return await asyncio.to_thread(self.choice_probs, [list(m) for m in batch], list(choices))

    def choice_probs(self, batch: Sequence[Sequence[Message]], choices: Sequence[str]) -> list[dict[str, float] | None]:
        """Blocking :meth:`achoice_probs`: one forward pass per padded chunk."""
        return self._run_locked(self._choice_probs, batch, choices)

    def _choice_probs(self, batch: Sequence[Sequence[Message]], choices: Sequence[str]) -> list[dict[str, float] | None]:
        import torch

        token_ids = self.choice_token_ids(choices)
        encoded = [self.encode(m, 1) for m in batch]
        out: list[dict[str, float] | None] = [None] * len(batch)
        for chunk in self._chunks(encoded):
            input_ids, mask = self._pad([encoded[i] for i in chunk])
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            with torch.inference_mode():
                logits = self.model(input_ids=input_ids, attention_mask=mask, position_ids=positions).logits[:, -1, :]
            probs = torch.softmax(logits.float(), dim=-1).cpu()
            for row, i in enumerate(chunk):
                mass = {c: float(probs[row, ids].sum()) for c, ids in token_ids.items()}
                total = sum(mass.values())
                if total > 0 and total == total:  # NaN-safe
                    # one forward pass over the prompt: its tokens are the call's usage
                    out[i] = ChoiceProbs({c: m / total for c, m in mass.items()},
                                         Usage(calls=1, prompt_tokens=len(encoded[i])))
        return out

    # -- teardown ----------------------------------------------------------------------------
    def _free_cache(self) -> None:
        gc.collect()
        if str(self.device).startswith("cuda"):
            import torch

            torch.cuda.empty_cache()

    def close(self) -> None:
        """Drop the model and tokenizer and free their memory."""
        with self._lock:
            self.model = None
            self.tokenizer = None
            self._free_cache()

