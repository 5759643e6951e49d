"""Pool state: growth settings, per-round records, the state file, and :class:`PersonaPool`.

Files, all next to each other::

    POOL.jsonl          {"id", "text", "round", "max_sim", "nearest"} per entry; append-only,
                        one write + fsync per round; a torn last line is cut on resume
    POOL.emb.npy        float32 matrix, one row per pool entry (atomic replace per round)
    POOL.state.json     rounds done, acceptance history, embedder, hash of the embedded texts

On resume the cache is checked against the pool (row count + hash of the texts it encodes) and
only the missing rows are encoded. A round whose entries reached the pool but whose state was
not written (a kill between the two writes) is recovered from the entries' ``round`` field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from pydantic import BaseModel

from aloe_bench.errors import ConfigError, DataError
from aloe_bench.fileio import atomic_write_text
from aloe_bench.personas.pool.embeddings import EmbeddingMatrix, encode, save_embeddings, texts_hash
from aloe_bench.personas.pool.files import KINDS, Kind, PoolEntry, append_entries, pool_paths, read_entries
from aloe_bench.records import SCHEMA_VERSION


@dataclass
class GrowConfig:
    """Settings of ``aloe-bench personas grow``. Defaults follow the paper where it says."""

    kind: Kind = "profile"
    shots: int = 5
    batch: int = 20
    threshold: float = 0.6
    #: Similarity above which a candidate counts as a copy of a reference (eval) persona;
    #: None: the same as ``threshold``.
    leak_threshold: float | None = None
    target: int | None = None
    max_rounds: int = 50
    #: The pool has hit its bottleneck when the acceptance rate stays below ``floor`` for
    #: ``patience`` rounds in a row.
    floor: float = 0.1
    patience: int = 3
    seed: int = 0
    temperature: float = 0.8
    max_tokens: int = 3000
    #: Failed generator calls in a row before giving up.
    max_failures: int = 3

    def validate(self) -> None:
        """Raise :class:`ConfigError` for values that make no sense."""
        if self.kind not in KINDS:
            raise ConfigError(f"Unknown persona kind {self.kind!r}.", "Use --kind profile or --kind personality.")
        for name in ("shots", "batch", "max_rounds", "patience", "max_failures", "max_tokens"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1.")
        for name in ("threshold", "leak_threshold", "floor"):
            value = getattr(self, name)
            if value is not None and not -1.0 <= value <= 1.0:
                raise ConfigError(f"--{name.replace('_', '-')} must lie in [-1, 1] (a cosine similarity), got {value}.")
        if self.target is not None and self.target < 1:
            raise ConfigError("--target must be at least 1.")

    @property
    def effective_leak_threshold(self) -> float:
        """The leak threshold in force."""
        return self.threshold if self.leak_threshold is None else self.leak_threshold


class RoundRecord(BaseModel):
    """What one round did; the state file keeps one per round."""

    round: int
    seed: int | None = None
    candidates: int | None = None  # None: recovered from the pool file, count unknown
    accepted: int = 0
    rejected_duplicate: int = 0
    rejected_leak: int = 0
    pool_size: int = 0
    threshold: float | None = None
    recovered: bool = False
    finished_at: str = ""

    @property
    def acceptance_rate(self) -> float | None:
        """accepted / candidates; None when unknown; 0 for an answer with no usable candidate."""
        if self.candidates is None:
            return None
        return self.accepted / self.candidates if self.candidates else 0.0


class PoolState(BaseModel):
    """``POOL.state.json``: history and embedding-cache fingerprint."""

    schema_version: int = SCHEMA_VERSION
    kind: str
    embedder: str = ""
    embedded_count: int = 0
    embedded_hash: str = ""
    prompt: str = ""
    prompt_hash: str = ""
    generator: str = ""
    rounds: list[RoundRecord] = []


class PersonaPool:
    """A pool file with its embedding matrix and state, opened for growth (resumable)."""

    def __init__(self, path: str | Path, kind: Kind, embedder, *, seeds: str | Path | None = None):
        self.path, self.emb_path, self.state_path = pool_paths(path)
        self.kind = kind
        self.embedder = embedder
        self.reencoded = 0
        if not self.path.exists():
            if seeds is None:
                raise DataError(f"Pool file {self.path} does not exist and no seeds were given.",
                                "Pass --seeds FILE (a JSONL file of entries) to start a new pool, or leave --seeds out to start from the shipped seeds.")
            seed_entries = [e.model_copy(update={"round": 0, "max_sim": None, "nearest": None})
                            for e in read_entries(seeds)]
            if not seed_entries:
                raise DataError(f"Seed file {seeds} holds no entries.")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            for stale in (self.emb_path, self.state_path):  # leftovers of a deleted pool
                stale.unlink(missing_ok=True)
            append_entries(self.path, seed_entries)
        self.entries = read_entries(self.path, repair=True)
        if not self.entries:
            raise DataError(f"Pool file {self.path} holds no entries.")
        self.state = self._load_state()
        self._recover_rounds()
        self.matrix = self._load_matrix()

    # -- loading ---------------------------------------------------------------------------
    def _load_state(self) -> PoolState:
        if not self.state_path.exists():
            return PoolState(kind=self.kind)
        try:
            state = PoolState.model_validate_json(self.state_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise DataError(f"{self.state_path} is not a valid pool state ({type(exc).__name__}).",
                            "Delete it to rebuild the state from the pool file.") from None
        if state.kind != self.kind:
            raise ConfigError(f"{self.path} is a {state.kind} pool, not a {self.kind} pool.",
                              f"Pass --kind {state.kind} or another --pool file.")
        return state

    def _recover_rounds(self) -> None:
        """Rounds whose entries reached the pool file but not the state (killed in between)."""
        known = {r.round for r in self.state.rounds}
        by_round: dict[int, int] = {}
        for e in self.entries:
            if e.round > 0 and e.round not in known:
                by_round[e.round] = by_round.get(e.round, 0) + 1
        size = sum(1 for e in self.entries if e.round == 0 or e.round in known)
        for r in sorted(by_round):
            size += by_round[r]
            self.state.rounds.append(RoundRecord(round=r, accepted=by_round[r], pool_size=size, recovered=True))
        self.state.rounds.sort(key=lambda rec: rec.round)

    def _load_matrix(self) -> EmbeddingMatrix:
        texts = [e.text for e in self.entries]
        cached = None
        st = self.state
        if self.emb_path.exists() and st.embedder == self.embedder.name and 0 < st.embedded_count <= len(texts) \
                and st.embedded_hash == texts_hash(texts[: st.embedded_count]):
            try:
                arr = np.load(self.emb_path, allow_pickle=False)
            except (OSError, ValueError):
                arr = None
            if arr is not None and arr.ndim == 2 and len(arr) == st.embedded_count:
                cached = arr.astype(np.float32, copy=False)
        if cached is None:
            vecs = encode(self.embedder, texts)
            self.reencoded = len(texts)
        else:
            missing = texts[len(cached):]
            vecs = np.vstack([cached, encode(self.embedder, missing)]) if missing else cached
            self.reencoded = len(missing)
        matrix = EmbeddingMatrix(vecs.shape[1], vecs)
        if self.reencoded:
            self._save_cache(matrix)
        return matrix

    def _save_cache(self, matrix: EmbeddingMatrix) -> None:
        save_embeddings(self.emb_path, matrix.array.copy())
        self.state.embedder = self.embedder.name
        self.state.embedded_count = len(matrix)
        self.state.embedded_hash = texts_hash([e.text for e in self.entries[: len(matrix)]])
        self.save_state()

    def save_state(self) -> None:
        """Write the state file atomically."""
        atomic_write_text(self.state_path, self.state.model_dump_json(indent=2) + "\n")

    # -- growth ----------------------------------------------------------------------------
    @property
    def rounds_done(self) -> int:
        """Highest round number recorded."""
        return max((r.round for r in self.state.rounds), default=0)

    def commit_round(self, record: RoundRecord, accepted: Sequence[PoolEntry], matrix: EmbeddingMatrix) -> None:
        """Persist one round: pool lines first, then the embedding cache, then the state."""
        append_entries(self.path, accepted)
        self.entries.extend(accepted)
        self.matrix = matrix
        self.state.rounds.append(record)
        save_embeddings(self.emb_path, matrix.array.copy())
        self.state.embedder = self.embedder.name
        self.state.embedded_count = len(matrix)
        self.state.embedded_hash = texts_hash([e.text for e in self.entries])
        self.save_state()
