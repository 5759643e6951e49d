"""Content-addressed cache of model calls (SQLite), shared across runs.

Key = sha256 of (backend identity, messages, sampling params incl. seed, call kind). Unless the
backend declares :attr:`~aloe_bench.components.ChatModel.identity_pins_replies`, the identity is
joined by the name and version of the distribution that provides the backend, so a new plugin
release never serves replies cached from its old code. Only successful calls are stored.
``ALOE_BENCH_CACHE_DIR`` moves it; ``--no-cache`` bypasses it.

Error texts of failed replies are passed through :func:`aloe_bench.secrets.redact_text` here, so
no backend's error message carries a secret into transcripts or the console.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, Sequence

from aloe_bench.components import ChatModel, GenerationParams, Reply
from aloe_bench.records import Message, stable_hash
from aloe_bench.secrets import redact_text


class CallCache:
    """A SQLite key-value store of call results. Safe for several processes (WAL)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._db.commit()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(identity: dict[str, Any], kind: str, messages: Sequence[Message], params: GenerationParams,
            extra: Any = None) -> str:
        """Cache key of one call."""
        return stable_hash({"id": identity, "kind": kind, "messages": [m.model_dump() for m in messages],
                            "params": params.model_dump(mode="json"), "extra": extra}, 64)

    def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        """Stored values for the keys that exist."""
        out: dict[str, Any] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                chunk = list(keys[i:i + 500])
                rows = self._db.execute(
                    f"SELECT key, value FROM calls WHERE key IN ({','.join('?' * len(chunk))})", chunk).fetchall()
                out.update((k, json.loads(v)) for k, v in rows)
        return out

    def put_many(self, items: dict[str, Any]) -> None:
        """Store values (overwrites)."""
        if not items:
            return
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO calls (key, value) VALUES (?, ?)",
                                 [(k, json.dumps(v)) for k, v in items.items()])
            self._db.commit()

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


def provided_by(model: ChatModel) -> dict[str, str]:
    """``{"dist": name, "version": v}`` of the distribution whose code answers for ``model``: what
    :func:`~aloe_bench.backends.resolve.resolve_model` recorded (the plugin that registered the provider),
    else the distribution of the model's class module, else aloe-bench itself."""
    recorded = getattr(model, "provided_by", None)
    if isinstance(recorded, dict) and recorded.get("dist"):
        return {"dist": str(recorded["dist"]), "version": str(recorded.get("version", ""))}
    from aloe_bench import __version__
    from aloe_bench.plugins import module_distribution

    dist, version = module_distribution(type(model).__module__) or ("aloe-bench", __version__)
    return {"dist": dist, "version": version}


class CachedProbs(dict):
    """Choice probabilities answered from the cache (``cached`` lets roles count cache hits)."""

    cached = True


class CachedModel(ChatModel):
    """Wraps a backend: answers from the cache when it can, calls the backend for the rest as one
    batch, stores what succeeded. Counts hits and misses."""

    def __init__(self, inner: ChatModel, cache: CallCache | None):
        self.inner = inner
        self.cache = cache
        self.spec = inner.spec
        self.concurrency = inner.concurrency
        self.supports_choice_probs = inner.supports_choice_probs
        self.prefers_batches = inner.prefers_batches
        self.demo_quality = bool(getattr(inner, "demo_quality", False))
        self.hits = 0
        self.calls = 0

    def identity(self) -> dict[str, Any]:
        """The wrapped backend's identity (what run.json records)."""
        return self.inner.identity()

    def cache_identity(self) -> dict[str, Any]:
        """What cache keys hold about the backend: its identity, plus the providing
        distribution's name and version unless the backend's identity pins its replies."""
        ident = self.inner.identity()
        if getattr(self.inner, "identity_pins_replies", False):
            return ident
        return {"backend": ident, "code": provided_by(self.inner)}

    async def _cached(self, kind, batch, params, extra, call):
        if self.cache is None:
            self.calls += len(batch)
            return await call(batch), set()
        ident = self.cache_identity()
        keys = [CallCache.key(ident, kind, msgs, params, extra) for msgs in batch]
        found = self.cache.get_many(keys)
        todo = [i for i, k in enumerate(keys) if k not in found]
        results: list[Any] = [found.get(k) for k in keys]
        self.hits += len(batch) - len(todo)
        if todo:
            self.calls += len(todo)
            fresh = await call([batch[i] for i in todo])
            store = {}
            for i, value in zip(todo, fresh):
                results[i] = value
                if value is not None and not (isinstance(value, Reply) and not value.ok):
                    store[keys[i]] = value.model_dump() if isinstance(value, Reply) else value
            self.cache.put_many(store)
        return results, set(range(len(batch))) - set(todo)

    async def agenerate(self, batch: Sequence[Sequence[Message]], params: GenerationParams) -> list[Reply]:
        results, hit = await self._cached("generate", batch, params, None,
                                          lambda b: self.inner.agenerate(b, params))
        out = []
        for i, r in enumerate(results):
            reply = r if isinstance(r, Reply) else Reply.model_validate(r)
            if i in hit:
                reply = reply.model_copy(update={"cached": True, "cost": 0.0})
            if reply.error:
                reply = reply.model_copy(update={"error": redact_text(reply.error)})
            out.append(reply)
        return out

    async def achoice_probs(self, batch, choices, params):
        results, hit = await self._cached("choice_probs", batch, params, list(choices),
                                          lambda b: self.inner.achoice_probs(b, choices, params))
        return [CachedProbs(r) if i in hit and r is not None else r for i, r in enumerate(results)]

    def close(self) -> None:
        self.inner.close()
