"""LmevalChatModel: any lm-eval backend as an aloe-bench chat backend.

Each call renders every conversation with the backend's own chat template
(``lm.apply_chat_template``) and sends them all to one ``generate_until`` call: lm-eval batches
them its own way (padded batches for ``hf``, one engine call for ``vllm``, concurrent requests for
the API backends). lm-eval's calls block (the API backends run their own event loop), so they run
in a worker thread under a lock: the event loop stays free and calls on one instance never
interleave.

Sampling parameters map onto lm-eval's generation kwargs: ``max_tokens`` -> ``max_gen_toks``,
``stop`` -> ``until``, ``temperature`` None or 0 -> greedy (``do_sample=False``), above 0 ->
``do_sample=True`` with that temperature (and ``top_p`` when set). A seed reaches vLLM and SGLang
in the generation kwargs; for the other local backends torch's, numpy's and Python's generators are
seeded before a sampled call; lm-eval's API backends send the ``seed`` model argument they were
built with.
"""

from __future__ import annotations

import asyncio
import random
import sys
import threading
from typing import Any, Sequence

from aloe_bench.components import ChatModel, GenerationParams, Reply
from aloe_bench.errors import ConfigError
from aloe_bench.records import Message

from aloe_bench_lmeval.options import LmevalOptions
from aloe_bench_lmeval.spec import SEED_IN_GEN_KWARGS, BackendSpec, build_lm, fingerprint_paths

# The process-wide random generators: seeded sampling holds this lock so two models sampling at
# once cannot reseed each other's stream.
_SEED_LOCK = threading.Lock()


def lm_eval_version() -> str:
    """The installed lm-eval version."""
    from importlib.metadata import version

    return version("lm_eval")


class LmevalChatModel(ChatModel):
    """A chat backend over an lm-eval model (``lm_eval.api.model.LM``).

    ``spec`` is the parsed ``BACKEND:MODEL_ARGS``; ``lm`` an already built lm-eval model (tests,
    callers that share one), else it is built through lm-eval's registry with ``options``
    (:class:`~aloe_bench_lmeval.options.LmevalOptions`). A backend without a usable chat template
    is a :class:`~aloe_bench.errors.ConfigError` before any call.
    """

    prefers_batches = True  # the whole turn goes to one generate_until call

    def __init__(self, spec: BackendSpec, *, options: LmevalOptions | None = None, lm: Any = None):
        self.backend_spec = spec
        self.options = options or LmevalOptions()
        self.spec = f"lmeval:{spec.text}"
        self.lm = lm if lm is not None else build_lm(spec, batch_size=self.options.batch_size,
                                                      device=self.options.device)
        self._lock = threading.Lock()
        self._api = self._is_api_backend()
        self._check_chat_template()
        self._identity: dict[str, Any] | None = None

    # -- setup -------------------------------------------------------------------------------
    def _is_api_backend(self) -> bool:
        """True for lm-eval's HTTP backends (they count no tokens and take the seed as a model argument)."""
        from lm_eval.models.api_models import TemplateAPI

        return isinstance(self.lm, TemplateAPI)

    def _check_chat_template(self) -> None:
        try:
            self.lm.apply_chat_template([{"role": "user", "content": "Hello"}], add_generation_prompt=True)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:
            raise ConfigError(f"lm-eval backend {self.spec} cannot apply a chat template "
                              f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]}).",
                              "Use an instruct/chat checkpoint (a tokenizer with a chat_template), or a chat "
                              "backend such as local-chat-completions.") from exc

    # -- identity ----------------------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        """Provider, backend, its lm-eval class and model arguments, lm-eval's version and content
        fingerprints of local checkpoint folders named in the arguments (cache keys, run.json)."""
        if self._identity is None:
            cls = type(self.lm)
            self._identity = {
                "provider": "lmeval", "backend": self.backend_spec.backend,
                "class": f"{cls.__module__}.{cls.__qualname__}",
                "args": dict(sorted(self.backend_spec.args.items())),
                "fingerprints": fingerprint_paths(self.backend_spec.args),
                "lm_eval": lm_eval_version(),
            }
        return self._identity

    # -- generation --------------------------------------------------------------------------
    def gen_kwargs(self, params: GenerationParams) -> dict[str, Any]:
        """lm-eval generation kwargs for ``params`` (see the module docstring)."""
        kwargs: dict[str, Any] = {"until": list(params.stop), "max_gen_toks": int(params.max_tokens)}
        if params.temperature:
            kwargs.update(do_sample=True, temperature=float(params.temperature))
            if params.top_p is not None:
                kwargs["top_p"] = float(params.top_p)
            if params.seed is not None and self.backend_spec.backend in SEED_IN_GEN_KWARGS:
                kwargs["seed"] = int(params.seed)
        else:
            kwargs.update(do_sample=False, temperature=0.0)
        return kwargs

    async def agenerate(self, batch: Sequence[Sequence[Message]], params: GenerationParams) -> list[Reply]:
        """One reply per conversation from one ``generate_until`` call, in a worker thread."""
        if not batch:
            return []
        return await asyncio.to_thread(self.generate, [list(m) for m in batch], params)

    def generate(self, batch: Sequence[Sequence[Message]], params: GenerationParams) -> list[Reply]:
        """Blocking :meth:`agenerate`. A failed call is a reply with ``error`` set for every
        conversation of the batch (lm-eval answers a batch as a whole)."""
        with self._lock:
            if self.lm is None:
                raise RuntimeError(f"{self.spec} was closed")
            try:
                return self._generate(batch, params)
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as exc:  # reported on every reply, never swallowed
                error = f"lm-eval {self.backend_spec.backend}: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
                return [Reply(error=error) for _ in batch]

    def _generate(self, batch: Sequence[Sequence[Message]], params: GenerationParams) -> list[Reply]:
        from lm_eval.api.instance import Instance

        contexts = [self.lm.apply_chat_template([{"role": m.role, "content": m.content} for m in messages],
                                                add_generation_prompt=True) for messages in batch]
        kwargs = self.gen_kwargs(params)
        requests = [Instance(request_type="generate_until", doc={}, arguments=(ctx, dict(kwargs)), idx=i,
                             metadata=("aloe-bench", i, 1)) for i, ctx in enumerate(contexts)]
        sampled = bool(params.temperature) and params.seed is not None and not self._api \
            and self.backend_spec.backend not in SEED_IN_GEN_KWARGS
        if sampled:
            with _SEED_LOCK:
                _seed_everything(int(params.seed))  # type: ignore[arg-type]
                texts = self._generate_until(requests)
        else:
            texts = self._generate_until(requests)
        if len(texts) != len(batch):
            raise RuntimeError(f"generate_until returned {len(texts)} replies for {len(batch)} requests")
        return [self._reply(text, ctx, params) for text, ctx in zip(texts, contexts)]

    def _generate_until(self, requests: list) -> list[str]:
        try:
            return list(self.lm.generate_until(requests, disable_tqdm=True))
        except TypeError as exc:
            if "disable_tqdm" not in str(exc):
                raise
            return list(self.lm.generate_until(requests))  # a backend without the progress-bar switch

    def _reply(self, text: str, context: Any, params: GenerationParams) -> Reply:
        text = (text or "").strip()
        tokenizer = None if self._api else getattr(self.lm, "tokenizer", None)
        if not isinstance(context, str) or not callable(getattr(tokenizer, "encode", None)):
            return Reply(text=text, cost=0.0)  # lm-eval reports no usage: tokens unknown
        # Token counts re-encode the texts (lm-eval returns text only); the templated prompt already
        # holds any special tokens the model expects.
        prompt_tokens = len(tokenizer.encode(context, add_special_tokens=False))
        completion_tokens = len(tokenizer.encode(text, add_special_tokens=False)) if text else 0
        finish = "length" if completion_tokens >= params.max_tokens else "stop"
        return Reply(text=text, finish_reason=finish, prompt_tokens=prompt_tokens,
                     completion_tokens=completion_tokens, cost=0.0)

    # -- teardown ----------------------------------------------------------------------------
    def close(self) -> None:
        """Drop the lm-eval model (and free a GPU's cached memory)."""
        with self._lock:
            self.lm = None
        import gc

        gc.collect()
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()


def _seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and (when loaded) torch's generators for one sampled call."""
    random.seed(seed)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)
