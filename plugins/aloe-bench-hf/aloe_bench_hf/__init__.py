"""aloe-bench plugin for transformers models.

Registers the ``hf`` model provider (any hub id or local checkpoint, batched generation and
answer probabilities) and ``smollm2``, the embedded offline default. Importing this package
never imports torch or transformers; the factories do.
"""

from __future__ import annotations

__version__ = "0.1.0"
