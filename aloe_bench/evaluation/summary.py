"""A run's summary: every registered metric, the run's status and its failure counts."""

from __future__ import annotations

import warnings

from aloe_bench.errors import AloeBenchWarning
from aloe_bench.evaluation.config import EvalConfig
from aloe_bench.evaluation.status import assess, status_of
from aloe_bench.metrics import RunData
from aloe_bench.records import Conversation, RunSpec, RunSummary, TurnScore, Usage
from aloe_bench.secrets import redact_text


def summarize(config: EvalConfig, spec: RunSpec, convs: list[Conversation], scores: list[TurnScore],
              usage: dict[str, Usage], host, run_dir: str) -> RunSummary:
    """Compute every registered metric, the run's status and failure counts, and build its summary.

    ``convs`` are rebuilt with their failed last turns kept and ``scores`` hold one record per
    (conversation, turn, sample). A plugin metric that raises becomes a warning and an
    ``{"error": ...}`` entry under its name in ``extra``: one broken plugin never costs a run.
    """
    data = RunData(conversations=convs, scores=scores, turns=config.turns)
    align = host.metrics.get("alignment").callable()(data, resamples=config.bootstrap, seed=config.seed)
    extra = {}
    for entry in host.metrics:
        if entry.name != "alignment":
            try:
                extra[entry.name] = entry.callable()(data)
            except Exception as exc:  # a plugin's bug: report it under its name, keep the run
                message = f"{type(exc).__name__}: {exc}"
                plugin = getattr(entry, "plugin", "") or "a plugin"
                warnings.warn(f"metric {entry.name!r} (from {plugin}) failed and was skipped: {message}",
                              AloeBenchWarning, stacklevel=2)
                extra[entry.name] = {"error": message}
    failures = assess(convs, scores, config.turns, config.judge_samples)
    return RunSummary(run_dir=run_dir, model=redact_text(config.model), user=redact_text(config.user),
                      judge=redact_text(config.judge), judge_mode=config.judge_mode,
                      personas_source=redact_text(config.personas), personas_count=len(convs),
                      turns=config.turns, status=status_of(failures), failures=failures, usage=usage,
                      components=spec.components, extra=extra, **align)
