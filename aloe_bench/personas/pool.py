"""Growing a persona pool (ALOE, METHOD.md section 1.1): few-shot generation + embedding filter.

Each round samples ``shots`` entries of the pool as examples, asks a generator model for
``batch`` new entries with the project's own prompt, splits and cleans the answer, and accepts
a candidate only if its highest cosine similarity to the pool (including candidates accepted
earlier in the same batch) is at most ``threshold`` and, with a leak reference, at most
``leak_threshold`` to every reference text (the ALOE eval personas), so no training persona
leaks into the benchmark.

Embeddings live in one L2-normalised matrix that grows in place: each candidate is encoded once
and compared with one matrix-vector product. (The published script re-encodes the whole pool
for every comparison; see benchmarks/persona_dedup.py.)

Files, all next to each other::

    POOL.jsonl          {"id", "text", "round", "max_sim", "nearest"} per entry; append-only,
                        one write + fsync per round; a torn last line is cut on resume
    POOL.emb.npy        float32 matrix, one row per pool entry (atomic replace per round)
    POOL.state.json     rounds done, acceptance history, embedder, hash of the embedded texts

On resume the cache is checked against the pool (row count + hash of the texts it encodes) and
only the missing rows are encoded. A round whose entries reached the pool but whose state was
not written (a kill between the two writes) is recovered from the entries' ``round`` field.

Nothing heavy is imported here: numpy only, the embedder and the generator come from plugins.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import numpy as np
from pydantic import BaseModel

from aloe_bench.errors import AloeBenchError, ConfigError, DataError
from aloe_bench.records import SCHEMA_VERSION, utc_now
from aloe_bench.store import atomic_write_bytes, atomic_write_text, repair_torn_tail

Kind = Literal["profile", "personality"]
KINDS = ("profile", "personality")

#: Prompt file per kind (``aloe_bench/prompts/NAME.txt``).
PROMPTS = {"profile": "persona_grow_profile.v1", "personality": "persona_grow_personality.v1"}

#: A candidate shorter than this many words is a heading or a fragment, not a persona.
MIN_WORDS = 8
#: A candidate longer than this many characters is a run-on answer, not one persona.
MAX_CHARS = 1500


# -- pool entries and files ------------------------------------------------------------------

class PoolEntry(BaseModel):
    """One pool entry: a profile or a personality text with a stable id.

    ``round`` is 0 for seeds; ``max_sim`` / ``nearest`` record the closest pool entry at the
    moment the entry was accepted (None for seeds)."""

    id: str
    text: str
    round: int = 0
    max_sim: float | None = None
    nearest: str | None = None


def read_entries(path: str | Path, *, repair: bool = False) -> list[PoolEntry]:
    """Entries of a pool or seed file.

    Lines are objects with ``id`` and ``text`` (the project's format), or bare JSON strings (the
    official ALOE files), which get ids ``STEM-0001``... in file order. With ``repair`` a torn
    last line (no trailing newline, not valid JSON) is cut off the file first."""
    from aloe_bench.personas.jsonl import iter_json_lines, read_utf8
    from aloe_bench.personas.official import read_json_strings

    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"Pool file {path} does not exist.", "Pass an existing JSONL file of {id, text} lines.")
    if repair:
        _cut_torn_tail(path, repair_torn_tail)
    text = read_utf8(path)
    if text.lstrip().startswith('"'):
        return [PoolEntry(id=f"{path.stem}-{i + 1:04d}", text=t) for i, t in enumerate(read_json_strings(path))]
    out: list[PoolEntry] = []
    for lineno, obj in iter_json_lines(path):
        if isinstance(obj, str):
            obj = {"id": f"{path.stem}-{lineno:04d}", "text": obj}
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str) or not isinstance(obj.get("text"), str) \
                or not obj["text"].strip():
            raise DataError(f"{path}:{lineno}: expected an object with non-empty 'id' and 'text'.")
        out.append(PoolEntry.model_validate(obj))
    ids = [e.id for e in out]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise DataError(f"{path}: duplicate id {dup!r}.")
    return out


def _cut_torn_tail(path: Path, repair_torn_tail: Callable[[Path], bool]) -> None:
    """Cut the last line if the process died while writing it (it is then not valid JSON)."""
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return
    last = data[data.rfind(b"\n") + 1:]
    try:
        json.loads(last)
    except json.JSONDecodeError:
        repair_torn_tail(path)
        import warnings

        warnings.warn(f"aloe-bench: cut a torn last line off {path} (growth was killed mid-write).", stacklevel=3)
    else:  # a complete last line that only lacks its newline: keep it
        with path.open("ab") as fh:
            fh.write(b"\n")


def texts_hash(texts: Sequence[str]) -> str:
    """Hash identifying an ordered list of texts (checks that an embedding cache fits its pool)."""
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\x1f")
    return h.hexdigest()[:32]


def pool_paths(pool: str | Path) -> tuple[Path, Path, Path]:
    """(pool file, embedding cache, state file): ``X.jsonl`` -> ``X.emb.npy``, ``X.state.json``."""
    pool = Path(pool).expanduser()
    stem = pool.with_suffix("") if pool.suffix == ".jsonl" else pool
    return pool, stem.with_name(stem.name + ".emb.npy"), stem.with_name(stem.name + ".state.json")


def _atomic_save_npy(path: Path, matrix: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, matrix)
    atomic_write_bytes(path, buf.getvalue())


def _append_entries(path: Path, entries: Sequence[PoolEntry]) -> None:
    """Append entries with one write and fsync, so a kill leaves at most one torn line."""
    if not entries:
        return
    data = "".join(e.model_dump_json(exclude_none=True) + "\n" for e in entries)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


# -- embeddings ------------------------------------------------------------------------------

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
    embedder = entry.factory(path=arg) if sep else entry.factory()
    if not callable(getattr(embedder, "encode", None)):
        raise ConfigError(f"Embedder {name!r} returned {type(embedder).__name__}, which has no encode().")
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


# -- candidates ------------------------------------------------------------------------------

_ITEM = re.compile(r"^\s*(?:\d{1,3}\s*[.):]|[-*•]|#{1,6})\s+")
_LABEL = re.compile(r"^\s*(?:\*\*)?\s*(?:profile|personality|persona|entry)\s*#?\s*\d*\s*[:.)-]+\s*(?:\*\*)?\s*",
                    re.IGNORECASE)
_FENCE = re.compile(r"^\s*```[\w-]*\s*$", re.MULTILINE)


def split_candidates(answer: str) -> list[str]:
    """Split a generator's answer into clean candidate texts.

    Accepts a numbered or bulleted list (items may wrap onto several lines), a JSON array of
    strings, or paragraphs separated by blank lines. Removes list markers, ``Profile 3:``
    labels, Markdown emphasis and surrounding quotes; drops headings, fragments shorter than
    :data:`MIN_WORDS` words and run-ons longer than :data:`MAX_CHARS`; keeps the first copy of
    exact repeats."""
    text = _FENCE.sub("", answer or "").strip()
    items: list[str] = []
    if text.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, list):
            items = [v if isinstance(v, str) else (v.get("text", "") if isinstance(v, dict) else "") for v in value]
    if not items:
        lines = text.splitlines()
        if any(_ITEM.match(line) for line in lines):
            current: list[str] | None = None
            for line in lines:
                if _ITEM.match(line):
                    if current:
                        items.append(" ".join(current))
                    current = [_ITEM.sub("", line, count=1)]
                elif line.strip() and current is not None:
                    current.append(line.strip())
                elif not line.strip() and current:
                    items.append(" ".join(current))
                    current = None
            if current:
                items.append(" ".join(current))
        else:
            items = [p for p in re.split(r"\n\s*\n", text)]
            if len(items) == 1:
                items = text.splitlines()
    out: list[str] = []
    seen: set[str] = set()
    for item in items:
        cleaned = clean_candidate(item)
        if cleaned and cleaned not in seen:
            seen.add(cleaned)
            out.append(cleaned)
    return out


def clean_candidate(item: str) -> str:
    """One candidate with markers, labels, emphasis and quotes removed; "" when it is no persona."""
    t = " ".join((item or "").split())
    t = _ITEM.sub("", t, count=1)
    t = _LABEL.sub("", t, count=1)
    t = t.replace("**", "").replace("__", "").strip()
    if len(t) >= 2 and t[0] in "\"'“‘" and t[-1] in "\"'”’":
        t = t[1:-1].strip()
    if t.endswith(":") or len(t.split()) < MIN_WORDS or len(t) > MAX_CHARS:
        return ""
    return t


def build_prompt(kind: Kind, examples: Sequence[str], count: int) -> str:
    """The generation prompt for one round (``aloe_bench/prompts/persona_grow_KIND.v1.txt``)."""
    from aloe_bench.prompts import render

    shown = "\n".join(f"- {e}" for e in examples)
    return render(PROMPTS[kind], examples=shown, count=str(count), shots=str(len(examples)))


# -- growth ----------------------------------------------------------------------------------

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


@dataclass
class Decision:
    """The verdict on one candidate."""

    text: str
    accepted: bool
    reason: Literal["novel", "duplicate", "leak"]
    similarity: float
    nearest: str | None
    leak_similarity: float | None = None
    #: The new pool id of an accepted candidate.
    id: str | None = None


@dataclass
class GrowResult:
    """What :meth:`PoolGrower.grow` did in this call."""

    pool_size: int
    rounds_run: int
    accepted: int
    stop_reason: str
    reencoded: int
    rounds: list[RoundRecord] = field(default_factory=list)


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
                                "Pass --seeds FILE (e.g. personas/seeds/profiles.jsonl) to start a new pool.")
            seed_entries = [e.model_copy(update={"round": 0, "max_sim": None, "nearest": None})
                            for e in read_entries(seeds)]
            if not seed_entries:
                raise DataError(f"Seed file {seeds} holds no entries.")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            for stale in (self.emb_path, self.state_path):  # leftovers of a deleted pool
                stale.unlink(missing_ok=True)
            _append_entries(self.path, seed_entries)
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
        _atomic_save_npy(self.emb_path, matrix.array.copy())
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
        _append_entries(self.path, accepted)
        self.entries.extend(accepted)
        self.matrix = matrix
        self.state.rounds.append(record)
        _atomic_save_npy(self.emb_path, matrix.array.copy())
        self.state.embedder = self.embedder.name
        self.state.embedded_count = len(matrix)
        self.state.embedded_hash = texts_hash([e.text for e in self.entries])
        self.save_state()


def filter_candidates(candidates: Sequence[str], vecs: np.ndarray, pool: EmbeddingMatrix, pool_ids: list[str],
                      threshold: float, *, leak: EmbeddingMatrix | None = None, leak_ids: Sequence[str] = (),
                      leak_threshold: float | None = None, make_id: Callable[[int], str] | None = None,
                      limit: int | None = None) -> list[Decision]:
    """Decide each candidate in order (``vecs``: their unit-norm embeddings, one row each).

    An accepted candidate joins ``pool`` and ``pool_ids`` (id ``make_id(k)`` for the k-th
    acceptance) at once, so later candidates of the same batch are compared with it too. With
    ``limit``, deciding stops after that many acceptances (the remaining candidates get no
    decision)."""
    leak_threshold = threshold if leak_threshold is None else leak_threshold
    make_id = make_id or (lambda k: f"candidate-{k + 1}")
    out: list[Decision] = []
    accepted = 0
    for text, vec in zip(candidates, vecs):
        if limit is not None and accepted >= limit:
            break
        sim, idx = pool.max_similarity(vec)
        nearest = pool_ids[idx] if idx >= 0 else None
        leak_sim = None
        if leak is not None and len(leak):
            leak_sim, lidx = leak.max_similarity(vec)
            if leak_sim > leak_threshold:
                out.append(Decision(text, False, "leak", sim, leak_ids[lidx] if lidx < len(leak_ids) else None,
                                    leak_sim))
                continue
        if sim > threshold:
            out.append(Decision(text, False, "duplicate", sim, nearest, leak_sim))
            continue
        new_id = make_id(accepted)
        pool.add(vec[None, :])
        pool_ids.append(new_id)
        accepted += 1
        out.append(Decision(text, True, "novel", sim, nearest, leak_sim, id=new_id))
    return out


class PoolGrower:
    """Runs growth rounds on a :class:`PersonaPool` with a generator chat model."""

    def __init__(self, pool: PersonaPool, generator, config: GrowConfig, *,
                 leak_texts: Sequence[str] | None = None, leak_ids: Sequence[str] | None = None,
                 on_round: Callable[[RoundRecord, list[Decision]], None] | None = None):
        config.validate()
        if config.kind != pool.kind:
            raise ConfigError(f"Config kind {config.kind!r} differs from the pool's kind {pool.kind!r}.")
        self.pool = pool
        self.generator = generator
        self.config = config
        self.on_round = on_round
        self.leak: EmbeddingMatrix | None = None
        self.leak_ids = list(leak_ids or [])
        if leak_texts:
            vecs = encode(pool.embedder, list(leak_texts))
            self.leak = EmbeddingMatrix(vecs.shape[1], vecs)
            if len(self.leak_ids) != len(leak_texts):
                self.leak_ids = [f"ref-{i + 1}" for i in range(len(leak_texts))]

    def round_seed(self, round_no: int) -> int:
        """Seed of round ``round_no``: the same round of a resumed run samples the same examples."""
        digest = hashlib.sha256(f"{self.config.seed}:{self.pool.kind}:{round_no}".encode()).hexdigest()
        return int(digest[:8], 16)

    def _id_maker(self) -> Callable[[int], str]:
        """Ids ``KIND-NNNN`` numbered by pool position, skipping any id a seed file already uses."""
        taken = {e.id for e in self.pool.entries}
        counter = [len(self.pool.entries)]

        def make_id(_: int) -> str:
            while True:
                counter[0] += 1
                candidate = f"{self.pool.kind}-{counter[0]:04d}"
                if candidate not in taken:
                    taken.add(candidate)
                    return candidate

        return make_id

    def stop_reason(self) -> str | None:
        """Why growth should stop now, or None."""
        cfg = self.config
        if cfg.target is not None and len(self.pool.entries) >= cfg.target:
            return "target"
        if self.pool.rounds_done >= cfg.max_rounds:
            return "max-rounds"
        rates = [r.acceptance_rate for r in self.pool.state.rounds if r.acceptance_rate is not None]
        if len(rates) >= cfg.patience and all(rate < cfg.floor for rate in rates[-cfg.patience:]):
            return "bottleneck"
        return None

    async def run_round(self) -> tuple[RoundRecord, list[Decision]]:
        """Generate, split, filter and commit one round."""
        from aloe_bench.components import GenerationParams
        from aloe_bench.prompts import prompt_hash
        from aloe_bench.records import Message

        cfg, pool = self.config, self.pool
        round_no = pool.rounds_done + 1
        seed = self.round_seed(round_no)
        rng = random.Random(seed)
        examples = [e.text for e in rng.sample(pool.entries, min(cfg.shots, len(pool.entries)))]
        prompt = build_prompt(cfg.kind, examples, cfg.batch)
        params = GenerationParams(temperature=cfg.temperature, max_tokens=cfg.max_tokens, seed=seed)
        failures: list[str] = []
        while True:
            reply = (await self.generator.agenerate([[Message(role="user", content=prompt)]], params))[0]
            if reply.ok:
                break
            failures.append(reply.error or "unknown error")
            if len(failures) >= cfg.max_failures:
                raise AloeBenchError(
                    f"The generator {getattr(self.generator, 'spec', '?')!r} failed {len(failures)} times in "
                    f"round {round_no}: {failures[-1]}",
                    "Check the --generator spec, its API key and server; the pool so far is saved, rerun to resume.")
        candidates = split_candidates(reply.text)
        vecs = encode(pool.embedder, candidates) if candidates else np.zeros((0, pool.matrix.dim), np.float32)
        work = EmbeddingMatrix(pool.matrix.dim, pool.matrix.array)  # committed only with the round
        room = None if cfg.target is None else max(cfg.target - len(pool.entries), 0)
        decisions = filter_candidates(
            candidates, vecs, work, [e.id for e in pool.entries], cfg.threshold, leak=self.leak,
            leak_ids=self.leak_ids, leak_threshold=cfg.effective_leak_threshold,
            make_id=self._id_maker(), limit=room)
        accepted = [PoolEntry(id=d.id, text=d.text, round=round_no,
                              max_sim=None if d.nearest is None else round(d.similarity, 4), nearest=d.nearest)
                    for d in decisions if d.accepted]
        record = RoundRecord(
            round=round_no, seed=seed, candidates=len(decisions), accepted=len(accepted),
            rejected_duplicate=sum(d.reason == "duplicate" for d in decisions),
            rejected_leak=sum(d.reason == "leak" for d in decisions),
            pool_size=len(pool.entries) + len(accepted), threshold=cfg.threshold, finished_at=utc_now())
        pool.state.prompt = PROMPTS[cfg.kind]
        pool.state.prompt_hash = prompt_hash(PROMPTS[cfg.kind])
        pool.state.generator = getattr(self.generator, "spec", "") or ""
        pool.commit_round(record, accepted, work)
        return record, decisions

    async def grow(self) -> GrowResult:
        """Run rounds until the target, the round limit or the bottleneck."""
        records: list[RoundRecord] = []
        while (reason := self.stop_reason()) is None:
            record, decisions = await self.run_round()
            records.append(record)
            if self.on_round is not None:
                self.on_round(record, decisions)
        return GrowResult(pool_size=len(self.pool.entries), rounds_run=len(records),
                          accepted=sum(r.accepted for r in records), stop_reason=reason,
                          reencoded=self.pool.reencoded, rounds=records)


def leak_reference(kind: Kind) -> tuple[list[str], list[str]]:
    """Texts and ids of the ALOE eval set for ``kind``: 20 eval profiles, or all 7 eval
    personalities (the benchmark uses the first 5; the other two are held out too)."""
    from aloe_bench.personas import official

    name = "profile_eval.jsonl" if kind == "profile" else "personality_eval.jsonl"
    texts = official.read_json_strings(official.data_file(name))
    return texts, [f"aloe-eval-{kind}-{i + 1:02d}" for i in range(len(texts))]


def project_seeds(kind: Kind) -> Path | None:
    """The project's seed file for ``kind`` (``personas/seeds/`` of a source checkout), or None."""
    root = Path(__file__).resolve().parents[2]
    path = root / "personas" / "seeds" / ("profiles.jsonl" if kind == "profile" else "personalities.jsonl")
    return path if path.is_file() else None
