"""Growing a persona pool (ALOE, METHOD.md section 1.1): few-shot generation + embedding filter.

One module per concern, each depending only on those before it:

- :mod:`.files`: pool entries, reading pool and seed files, appending, the pool's paths.
- :mod:`.embeddings`: the in-place growing embedding matrix, embedders, encoding, the cache.
- :mod:`.candidates`: the prompt, splitting and cleaning answers, the filter, the leak reference.
- :mod:`.state`: growth settings, round records, the state file, :class:`PersonaPool`.
- :mod:`.grow`: the growth loop (:class:`PoolGrower`) and the project's seed files.

Every public name is re-exported here, so ``from aloe_bench.personas.pool import X`` works for
all of them. Nothing heavy is imported: numpy only, the embedder and the generator come from
plugins.
"""

from __future__ import annotations

from aloe_bench.personas.pool.candidates import (
    MAX_CHARS, MIN_WORDS, PROMPTS, Decision, build_prompt, clean_candidate, filter_candidates, leak_reference,
    split_candidates,
)
from aloe_bench.personas.pool.embeddings import EmbeddingMatrix, encode, resolve_embedder, save_embeddings, texts_hash
from aloe_bench.personas.pool.files import KINDS, Kind, PoolEntry, append_entries, pool_paths, read_entries
from aloe_bench.personas.pool.grow import GrowResult, PoolGrower, project_seeds
from aloe_bench.personas.pool.state import GrowConfig, PersonaPool, PoolState, RoundRecord

__all__ = [
    "KINDS", "MAX_CHARS", "MIN_WORDS", "PROMPTS", "Decision", "EmbeddingMatrix", "GrowConfig", "GrowResult", "Kind",
    "PersonaPool", "PoolEntry", "PoolGrower", "PoolState", "RoundRecord", "append_entries", "build_prompt",
    "clean_candidate", "encode", "filter_candidates", "leak_reference", "pool_paths", "project_seeds", "read_entries",
    "resolve_embedder", "save_embeddings", "split_candidates", "texts_hash",
]
