"""A run's summary: every registered metric, the run's status and its failure counts."""

from __future__ import annotations

import warnings

from aloe_bench.errors import AloeBenchWarning
from aloe_bench.evaluation.config import EvalConfig
from aloe_bench.evaluation.status import assess, status_of
from aloe_bench.metrics import RunData
from aloe_bench.records import Conversation, ProbeRecord, RunSpec, RunSummary, TurnScore, Usage
from aloe_bench.secrets import redact_text
from aloe_bench.validity.length import length_figures, matrix_replies


def summarize(config: EvalConfig, spec: RunSpec, convs: list[Conversation], scores: list[TurnScore],
              usage: dict[str, Usage], host, run_dir: str, probes: list[ProbeRecord] | None = None) -> RunSummary:
    """Compute every registered metric, the run's status and failure counts, and build its summary.

    ``convs`` are rebuilt with their failed last turns kept and ``scores`` hold one record per
    (conversation, turn, sample). A plugin metric that raises becomes a warning and an
    ``{"error": ...}`` entry under its name in ``extra``: one broken plugin never costs a run.
    A run with a profile measurement (``config.profile_source``) also gets PF1(k) and its
    figures from ``probes`` (the last record per (conversation, turn); None reads as none stored).
    A run with a persona drift (``config.drift_at``) gets its recovery figures (``drift``; with a
    profile measurement also PF1 against the old and the new profile), from ``convs`` rebuilt
    with their drifted personas. Every run gets the regression of score on reply length and the
    length-adjusted Average (``length``; docs/validity.md).
    """
    data = RunData(conversations=convs, scores=scores, turns=config.turns, aggregate=config.judge_aggregate)
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
    profile: dict = {}
    measured = config.profile_source is not None
    if measured:
        from aloe_bench.metrics import profile_metrics

        profile = profile_metrics(probes or [], convs, config.turns, resamples=config.bootstrap, seed=config.seed)
        align["ci"] = {**align["ci"], **profile.pop("ci")}
        profile["pf1_source"] = config.profile_source
        if config.reply_format != "plain":
            profile["reply_malformed"] = sum(t.status == "ok" and t.malformed is not None
                                             for c in convs for t in c.turns)
    drift = None
    if config.drift_at is not None:
        from aloe_bench.metrics import drift_metrics, drift_profile_curves
        from aloe_bench.records import DriftFigures

        figures = drift_metrics(data.score_matrix(), config.drift_at, resamples=config.bootstrap, seed=config.seed,
                                groups=data.groups())
        if measured:
            figures["pf1_old"], figures["pf1_new"] = drift_profile_curves(probes or [], convs, config.turns)
        drift = DriftFigures(at=config.drift_at, kind=config.drift_kind, **figures)
    failures = assess(convs, scores, config.turns, config.judge_samples, probes=(probes or []) if measured else None,
                      members=[m.name for m in config.judge_members()])
    # A judge ensemble (several --judge) and repeat runs (--repeats): docs/validity.md.
    from aloe_bench.evaluation.ensembles import ensemble_figures
    from aloe_bench.evaluation.repeats import repeat_figures

    judges = ensemble_figures(config, convs, scores) if config.judges else None
    repeats = (repeat_figures(config, convs, data.score_matrix(), (spec.repeats or {}).get("simulator_seeds"))
               if config.repeats > 1 else None)
    replies = matrix_replies(data.score_matrix(), [c.id for c in convs], [c.persona.id for c in convs],
                             [t for c in convs for t in c.turns])
    length = length_figures(replies, resamples=config.bootstrap, seed=config.seed)
    return RunSummary(run_dir=run_dir, model=redact_text(config.model), user=redact_text(config.user),
                      judge=redact_text(config.judge_label()), judge_mode=config.judge_mode,
                      personas_source=redact_text(config.personas), personas_count=len({c.persona.id for c in convs}),
                      turns=config.turns, status=status_of(failures), failures=failures, usage=usage,
                      components=spec.components, extra=extra, drift=drift, length=length, judges=judges,
                      repeats=repeats, **align, **profile)
