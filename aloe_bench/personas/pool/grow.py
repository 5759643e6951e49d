"""The growth loop (ALOE, METHOD.md section 1.1): few-shot generation + embedding filter.

Each round samples ``shots`` entries of the pool as examples, asks a generator model for
``batch`` new entries with the project's own prompt, splits and cleans the answer
(:mod:`~aloe_bench.personas.pool.candidates`), filters the candidates against the pool and the
leak reference, and commits the accepted ones (:class:`~aloe_bench.personas.pool.state.PersonaPool`).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from aloe_bench.errors import AloeBenchError, ConfigError
from aloe_bench.personas.pool.candidates import PROMPTS, Decision, build_prompt, filter_candidates, split_candidates
from aloe_bench.personas.pool.embeddings import EmbeddingMatrix, encode
from aloe_bench.personas.pool.files import Kind, PoolEntry
from aloe_bench.personas.pool.state import GrowConfig, PersonaPool, RoundRecord
from aloe_bench.records import utc_now


@dataclass
class GrowResult:
    """What :meth:`PoolGrower.grow` did in this call."""

    pool_size: int
    rounds_run: int
    accepted: int
    stop_reason: str
    reencoded: int
    rounds: list[RoundRecord] = field(default_factory=list)


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
            """The next free ``KIND-NNNN`` id."""
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


def project_seeds(kind: Kind) -> Path | None:
    """The project's seed file for ``kind`` (package data: ``aloe_bench/personas/data/seeds/``), or None."""
    from aloe_bench.personas import shipped_file

    path = shipped_file("seeds", "profiles.jsonl" if kind == "profile" else "personalities.jsonl")
    return path if path.is_file() else None
