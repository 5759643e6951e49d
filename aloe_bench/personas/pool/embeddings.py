"""Embeddings of a pool: the in-place growing matrix, the embedder, encoding, the ``.emb.npy`` cache.

Embeddings live in one L2-normalised matrix that grows in place: each candidate is encoded once
and compared with one matrix-vector product. (The published script re-encodes the whole pool
for every comparison; see benchmarks/persona_dedup.py.) The matrix is cached next to the pool
file as ``POOL.emb.npy``, fingerprinted by :func:`texts_hash` of the texts it encodes.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from aloe_bench.errors import AloeBenchError, ConfigError
from aloe_bench.fileio import atomic_write_bytes


class EmbeddingMatrix:
    """L2-normalised rows in a preallocated buffer that doubles when full.

    Adding a row is amortised O(dim); :meth:`max_similarity` is one matrix-vector product."""

    def __init__(self, dim: int, rows: np.ndarray | None = None, capacity: int = 64):
        self.dim = int(dim)
        n = 0 if rows is None else len(rows)
        self._buf = np.zeros((max(capacity, 2 * n, 1), self.dim), dtype=np.float32)
        self._n = 0
        if n:
            self.add(rows)

    def __len__(self) -> int:
        return self._n

    @property
    def array(self) -> np.ndarray:
        """The filled rows (a view; copy before keeping it)."""
        return self._buf[: self._n]

    def add(self, rows: np.ndarray) -> None:
        """Append rows (normalised here again, so a sloppy embedder cannot skew cosines)."""
        rows = np.asarray(rows, dtype=np.float32).reshape(-1, self.dim)
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        rows = rows / np.where(norms > 0, norms, 1.0)
        need = self._n + len(rows)
        if need > len(self._buf):
            cap = len(self._buf)
            while cap < need:
                cap *= 2
            buf = np.zeros((cap, self.dim), dtype=np.float32)
            buf[: self._n] = self._buf[: self._n]
            self._buf = buf
        self._buf[self._n:need] = rows
        self._n = need

    def max_similarity(self, vec: np.ndarray) -> tuple[float, int]:
        """(highest cosine similarity of ``vec`` to any row, index of that row); (-inf, -1) when empty."""
        if self._n == 0:
            return float("-inf"), -1
        sims = self._buf[: self._n] @ np.asarray(vec, dtype=np.float32).reshape(self.dim)
        i = int(np.argmax(sims))
        return float(sims[i]), i


def resolve_embedder(spec: str, host) -> Any:
    """An embedder from its registered name: ``minilm`` or ``st:PATH`` (``factory(path=PATH)``)."""
    name, sep, arg = (spec or "").strip().partition(":")
    if not name:
        raise ConfigError("Empty embedder name.", "Use --embedder minilm (default) or --embedder st:PATH.")
    entry = host.embedders.get(name)
    embedder = entry.build(path=arg) if sep else entry.build()  # checks that it has encode()
    if not getattr(embedder, "name", None):
        embedder.name = spec
    return embedder


def encode(embedder, texts: Sequence[str]) -> np.ndarray:
    """Encode with shape and norm checks (a broken embedder would silently accept everything)."""
    vecs = np.asarray(embedder.encode(list(texts)), dtype=np.float32)
    if vecs.ndim != 2 or len(vecs) != len(texts):
        raise AloeBenchError(f"Embedder {embedder.name!r} returned shape {vecs.shape} for {len(texts)} texts.")
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    return vecs / np.where(norms > 0, norms, 1.0)


def texts_hash(texts: Sequence[str]) -> str:
    """Hash identifying an ordered list of texts (checks that an embedding cache fits its pool)."""
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\x1f")
    return h.hexdigest()[:32]


def save_embeddings(path: Path, matrix: np.ndarray) -> None:
    """Write ``matrix`` as a ``.npy`` file atomically (a reader sees the old cache or the new one)."""
    buf = io.BytesIO()
    np.save(buf, matrix)
    atomic_write_bytes(path, buf.getvalue())
