"""Judge ensembles (``--judge`` given several times; docs/validity.md): what the summary reports
about the members of a run's ensemble.

Every member scores every reply (``TurnScore.member`` names it); the run's score of a reply is the
mean (or median, ``--judge-aggregate``) of its members' scores, each member's judge samples
averaged first (:func:`aloe_bench.metrics.mean_score_matrix`). Per member the summary gives the
Average and IR its scores alone would give, and per pair of members their agreement with the
figures of ``aloe-bench agreement`` (:mod:`aloe_bench.validity.agreement`), bootstrapped over
conversations.
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Sequence

from aloe_bench.errors import DataError
from aloe_bench.records import (Conversation, EnsembleFigures, Interval, MemberFigures, PairAgreement, TurnScore)
from aloe_bench.secrets import redact_text


def _grade(s: TurnScore) -> int:
    """A score's integer 1-5: a probability judge's argmax, else the score rounded half up (as
    :func:`aloe_bench.validity.scoresets.read_run_scores`)."""
    return int(s.argmax) if s.argmax is not None else int(math.floor(float(s.score) + 0.5))


def member_score_set(name: str, scores: Sequence[TurnScore], replied: set[tuple[str, int]]):
    """The scores of member ``name`` among ``scores`` as a
    :class:`~aloe_bench.validity.scoresets.ScoreSet` of the replies in ``replied`` ((conversation
    id, turn) pairs), one judgement per judge sample."""
    from aloe_bench.validity.scoresets import Judged, ScoreSet

    out = ScoreSet(source=name, kind="run")
    for s in sorted(scores, key=lambda r: (r.conversation_id, r.turn, r.sample)):
        if s.member != name or (s.conversation_id, s.turn) not in replied:
            continue
        judged = Judged(None, None) if s.score is None else Judged(float(s.score), _grade(s))
        out.scores.setdefault((s.conversation_id, s.turn), []).append(judged)
    return out


def pair_agreement(a, b, *, resamples: int, seed: int) -> PairAgreement:
    """The agreement figures of two members' score sets (``member_score_set``); every figure None
    (``n`` 0) when no reply was scored by both."""
    from aloe_bench.validity.agreement import FIGURES, measure_agreement
    from aloe_bench.validity.scoresets import pair_score_sets

    try:
        report = measure_agreement(pair_score_sets(a, b), resamples=resamples, seed=seed)
    except DataError as exc:  # nothing scored by both: every figure undefined, said why
        return PairAgreement(a=a.source, b=b.source, undefined={k: exc.args[0] for k in FIGURES})
    return PairAgreement(a=a.source, b=b.source, n=report.n, **{k: getattr(report, k) for k in FIGURES},
                         ci={k: Interval(low=v["low"], high=v["high"], level=report.level)
                             for k, v in report.ci.items()},
                         undefined=report.undefined)


def curve_avg_ir(al: Sequence[float | None]) -> tuple[float | None, float | None]:
    """Average and IR of an AL(k) curve as the summary computes them: Average the mean of the
    scored turns, IR None with fewer than two (:func:`aloe_bench.metrics.curve_metrics`)."""
    from aloe_bench.metrics import curve_metrics

    valid = [v for v in al if v is not None]
    if len(valid) >= 2:
        cm = curve_metrics(list(al))
        return cm["avg"], cm["ir"]
    return (valid[0] if valid else None), None


def ensemble_figures(config, convs: Sequence[Conversation], scores: Sequence[TurnScore]) -> EnsembleFigures:
    """The ``judges`` section of the summary of a run judged by ``config``'s ensemble: each
    member's Average and IR by its scores alone, every pair's agreement (bootstrap:
    ``config.bootstrap`` resamples of conversations, seeded by ``config.seed``) and the mean of
    each agreement figure over the pairs."""
    from aloe_bench.metrics import alignment_curve, mean_score_matrix
    from aloe_bench.validity.agreement import FIGURES

    index = {c.id: i for i, c in enumerate(convs)}
    replied = {(c.id, t.turn) for c in convs for t in c.turns if t.status == "ok" and 1 <= t.turn <= config.turns}
    members, sets = [], []
    for m in config.judge_members():
        own = [s for s in scores if s.member == m.name and (s.conversation_id, s.turn) in replied]
        avg, ir = curve_avg_ir(alignment_curve(mean_score_matrix(own, index, config.turns))[0])
        members.append(MemberFigures(name=m.name, spec=redact_text(m.spec), protocol=m.protocol, avg=avg, ir=ir,
                                     scored=len({(s.conversation_id, s.turn) for s in own if s.score is not None}),
                                     missing=sum(s.score is None for s in own)))
        sets.append(member_score_set(m.name, scores, replied))
    pairs = [pair_agreement(a, b, resamples=config.bootstrap, seed=config.seed) for a, b in combinations(sets, 2)]
    mean: dict[str, float | None] = {}
    for k in FIGURES:
        values = [getattr(p, k) for p in pairs if getattr(p, k) is not None]
        mean[k] = sum(values) / len(values) if values else None
    return EnsembleFigures(aggregate=config.judge_aggregate, members=members, agreement=pairs, mean_agreement=mean)
