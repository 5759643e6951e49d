"""Repeat runs (``evaluate --repeats R``; docs/validity.md): each persona played R times, each
repeat with its own simulator seed, and what the summary reports about them.

Repeat r's conversations have ``sample`` r and ids :meth:`~aloe_bench.records.Conversation.make_id`
of (persona, seed, r), so repeat 0 is the run a single repeat would have made. The simulator of
repeat 0 keeps its own sampling seed; repeat r > 0 gets
:func:`~aloe_bench.evaluation.config.repeat_seed` (a copy of the simulator with that seed, as
judge samples get theirs). The summary's ``repeats`` gives each repeat's Average and IR and their
spread; its top-level intervals resample personas, each persona's AL(k) averaged over its repeats
first, so the repeats of one persona are never counted as independent personas.
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

from aloe_bench.errors import ConfigError
from aloe_bench.evaluation.config import repeat_seed
from aloe_bench.records import Conversation, RepeatFigure, RepeatFigures, Spread


def repeat_simulators(simulator: Any, config) -> list[Any]:
    """One simulator per repeat of ``config``: ``simulator`` itself for repeat 0, a shallow copy
    whose sampling seed is :func:`repeat_seed` for each other. A simulator without sampling
    parameters (``params`` with a ``seed``) cannot be seeded per repeat: a usage error."""
    if config.repeats <= 1:
        return [simulator]
    params = getattr(simulator, "params", None)
    if params is None or not hasattr(params, "seed") or not hasattr(params, "model_copy"):
        raise ConfigError(f"The simulator protocol {config.user_protocol!r} has no sampling parameters (params) "
                          "to give each repeat its own seed, which --repeats needs.",
                          "Use --user-protocol aloe, or drop --repeats.")
    out = [simulator]
    for r in range(1, config.repeats):
        clone = copy.copy(simulator)
        clone.params = params.model_copy(update={"seed": repeat_seed(config.seed, params.seed, r)})
        out.append(clone)
    return out


def simulator_seeds(simulators: Sequence[Any]) -> list[int | None]:
    """The sampling seed of each repeat's simulator, for run.json."""
    return [getattr(getattr(s, "params", None), "seed", None) for s in simulators]


def _spread(values: list[float | None]) -> Spread:
    import statistics

    got = [v for v in values if v is not None]
    if not got:
        return Spread()
    return Spread(sd=statistics.stdev(got) if len(got) >= 2 else None, min=min(got), max=max(got),
                  range=max(got) - min(got))


def repeat_figures(config, convs: Sequence[Conversation], matrix, seeds: Sequence[int | None] | None = None
                   ) -> RepeatFigures:
    """The ``repeats`` section of a run's summary: per repeat (the conversations whose ``sample``
    is r) the Average and IR of its own AL(k) curve, and the spread (sd, min, max, range) of each
    over the repeats. ``matrix``: the run's conversations x turns score matrix (rows as
    ``convs``); ``seeds``: the simulator seed of each repeat (run.json's ``repeats``)."""
    from aloe_bench.evaluation.ensembles import curve_avg_ir
    from aloe_bench.metrics import alignment_curve

    runs = []
    for r in range(config.repeats):
        rows = [i for i, c in enumerate(convs) if c.sample == r]
        avg, ir = curve_avg_ir(alignment_curve(matrix[rows])[0]) if rows else (None, None)
        seed = seeds[r] if seeds is not None and r < len(seeds) else None
        runs.append(RepeatFigure(repeat=r, seed=seed, conversations=len(rows), avg=avg, ir=ir))
    return RepeatFigures(count=config.repeats, runs=runs,
                         spread={"avg": _spread([x.avg for x in runs]), "ir": _spread([x.ir for x in runs])})
