"""Diversity statistics of a persona pool or set (``aloe-bench personas stats``): size, mean and
max nearest-neighbour cosine similarity, and a histogram of nearest-neighbour similarities."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from aloe_bench.errors import DataError

#: Histogram bins of nearest-neighbour similarity (values below 0 fall into the first bin).
BIN_EDGES = tuple(round(0.1 * i, 1) for i in range(11))


def nearest_neighbours(vecs: np.ndarray, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """For unit-norm rows: each row's highest cosine similarity to another row, and that row's index.

    Computed in row chunks so memory stays O(chunk x n)."""
    n = len(vecs)
    sims = np.full(n, -np.inf, dtype=np.float32)
    idx = np.full(n, -1, dtype=np.int64)
    if n < 2:
        return sims, idx
    for start in range(0, n, chunk):
        block = vecs[start:start + chunk] @ vecs.T
        rows = np.arange(block.shape[0])
        block[rows, start + rows] = -np.inf  # not its own neighbour
        idx[start:start + len(block)] = block.argmax(axis=1)
        sims[start:start + len(block)] = block[rows, idx[start:start + len(block)]]
    return sims, idx


def similarity_stats(ids: Sequence[str], texts: Sequence[str], vecs: np.ndarray) -> dict[str, Any]:
    """Statistics of one group of texts given their unit-norm embeddings."""
    sims, idx = nearest_neighbours(vecs)
    out: dict[str, Any] = {"size": len(texts), "mean_nn": None, "max_nn": None, "min_nn": None,
                           "histogram": [], "closest_pair": None}
    if len(texts) < 2:
        return out
    counts, _ = np.histogram(np.clip(sims, 0.0, 1.0), bins=np.array(BIN_EDGES))
    best = int(np.argmax(sims))
    out.update(
        mean_nn=round(float(sims.mean()), 4), max_nn=round(float(sims.max()), 4), min_nn=round(float(sims.min()), 4),
        histogram=[{"lo": lo, "hi": hi, "count": int(c)} for lo, hi, c in zip(BIN_EDGES, BIN_EDGES[1:], counts)],
        closest_pair={"a": ids[best], "b": ids[int(idx[best])], "similarity": round(float(sims[best]), 4)},
    )
    return out


def source_groups(source: str, host=None) -> dict[str, list[tuple[str, str]]]:
    """The texts to measure, by group: a pool or seed file gives one group ``text``; a persona
    set (``aloe-eval``, ``jsonl:PATH``, a persona JSONL path) gives its distinct ``profile`` and
    ``personality`` texts."""
    from aloe_bench.personas import load_personas
    from aloe_bench.personas.jsonl import read_utf8
    from aloe_bench.personas.pool import read_entries

    path = Path(source).expanduser()
    if path.is_file():
        first = next((line for line in read_utf8(path).splitlines() if line.strip()), "")
        try:
            obj = json.loads(first) if first else None
        except json.JSONDecodeError:
            obj = None
        if not (isinstance(obj, dict) and "profile" in obj):
            return {"text": [(e.id, e.text) for e in read_entries(path)]}
        source = f"jsonl:{path}"
    personas = load_personas(source, host)
    groups: dict[str, list[tuple[str, str]]] = {}
    for field in ("profile", "personality"):
        seen: dict[str, str] = {}
        for p in personas:
            text = getattr(p, field)
            if text and text not in seen:
                seen[text] = p.id
        if seen:
            groups[field] = [(pid, text) for text, pid in seen.items()]
    if not groups:
        raise DataError(f"Persona source {source!r} has no texts to measure.")
    return groups


def source_stats(source: str, embedder, host=None) -> dict[str, Any]:
    """``{"source", "embedder", "groups": {name: similarity_stats}}`` for a source."""
    from aloe_bench.personas.pool import encode

    result: dict[str, Any] = {"source": source, "embedder": embedder.name, "groups": {}}
    for name, items in source_groups(source, host).items():
        ids = [i for i, _ in items]
        texts = [t for _, t in items]
        result["groups"][name] = similarity_stats(ids, texts, encode(embedder, texts))
    return result
