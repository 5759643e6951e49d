"""aloe-bench plugin for lm-eval (EleutherAI's lm-evaluation-harness).

Registers the ``lmeval`` model provider (``lmeval:BACKEND:MODEL_ARGS``: any backend in lm-eval's
registry as model under test, user simulator or judge) and the ``aloe-bench regress`` command (a
general-capability check through ``lm_eval.simple_evaluate``, with a small offline task suite in
:mod:`aloe_bench_lmeval.tasks`). Importing this package never imports lm_eval, torch or pydantic.
"""

from __future__ import annotations

__version__ = "0.1.0"
