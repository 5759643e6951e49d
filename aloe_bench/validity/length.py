"""Length control: the regression of score on reply length, and the length-adjusted Average.

The ALOE rubric rewards concise replies, and judges are known to prefer some lengths; a model
can rank high through the length of its replies alone. Per run, the ordinary least-squares line
``score = intercept + slope * words`` is fitted through every scored reply
(:func:`scipy.stats.linregress`; words as in the summary's ``reply_length``: whitespace-separated
tokens), and the **length-adjusted Average** is the Average the run would have had if every reply
had :data:`REFERENCE_REPLY_WORDS` words: each score moved along the fitted line to that length,
``score - slope * (words - REFERENCE_REPLY_WORDS)``, then averaged as the Average is (mean of the
per-turn means). Without turn numbers it is the line's value at the reference length,
``intercept + slope * REFERENCE_REPLY_WORDS``. The reference is one constant for every run, so
adjusted Averages compare across runs; a run whose raw Average beats another's while its adjusted
Average does not wins by length.

The slope is pooled over turns: when score and length both change with the turn, part of that
shared trend is in the slope. Every run's summary carries the figures (``RunSummary.length``, from
:func:`length_figures`, with bootstrap intervals over personas); the leaderboard shows the
adjusted Average beside the raw one (docs/validity.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

#: The reply length (words) at which every run's length-adjusted Average is taken. The ALOE
#: rubric asks for concise replies and its training targets are capped at three sentences
#: (docs/validity.md); three sentences of conversational English of 15-20 words each are about
#: 50 words, a length every model can write. Changing it moves each adjusted Average by
#: ``slope * change``, so it is fixed and recorded with the figures.
REFERENCE_REPLY_WORDS = 50

#: Fewest scored replies a fit is made from.
MIN_REPLIES = 3


def word_count(text: str) -> int:
    """Words of a reply: whitespace-separated tokens (as the summary's ``reply_length``)."""
    return len(text.split())


@dataclass(frozen=True)
class LengthFit:
    """Score regressed on reply length for one run (:func:`length_regression`)."""

    #: Scored replies in the fit.
    n: int
    #: Score points per word of reply; None when undefined (see ``undefined``).
    slope: float | None
    #: The fitted score of a reply of 0 words; None when undefined.
    intercept: float | None
    #: Pearson's r of score and length; None when undefined or the scores are all equal.
    r: float | None
    #: Two-sided p-value of the slope (:func:`scipy.stats.linregress`); None when undefined.
    p_value: float | None
    #: Standard error of the slope; None when undefined.
    slope_stderr: float | None
    #: Mean reply length in words (mean of the per-turn means when turns are given).
    mean_words: float | None
    #: The raw Average: mean of the per-turn mean scores (the plain mean without turns).
    avg: float | None
    #: The Average with every score moved along the fitted line to ``reference_words``; None when
    #: the slope is undefined.
    adjusted_avg: float | None
    #: The reference length in words (:data:`REFERENCE_REPLY_WORDS` unless told otherwise).
    reference_words: float
    #: Why the slope (and the adjusted Average) is None; None when they exist.
    undefined: str | None = None

    def to_dict(self) -> dict:
        """Plain JSON-ready data."""
        return asdict(self)


def _turn_mean(values: np.ndarray, turns: np.ndarray | None) -> float:
    """Mean of ``values``; with ``turns``, the mean of the per-turn means (turns weigh equally)."""
    if turns is None:
        return float(values.mean())
    return float(np.mean([values[turns == k].mean() for k in np.unique(turns)]))


def length_regression(scores: Sequence[float], words: Sequence[float], turns: Sequence[int] | None = None, *,
                      reference_words: float = REFERENCE_REPLY_WORDS) -> LengthFit:
    """Regress ``scores`` on reply lengths ``words`` (one pair per scored reply) and take the
    length-adjusted Average at ``reference_words`` (see the module docstring).

    ``turns`` (each reply's turn number) makes ``avg``, ``mean_words`` and ``adjusted_avg`` weigh
    every turn equally, as the ALOE Average does (mean of AL(k)); ``adjusted_avg`` is then
    ``avg - slope * (mean_words - reference_words)``. Without ``turns`` every reply weighs the
    same and ``adjusted_avg`` is ``intercept + slope * reference_words``. Fewer than
    :data:`MIN_REPLIES` replies, or replies all of one length, leave the slope undefined (None,
    with the reason in ``undefined``)."""
    from scipy.stats import linregress

    y = np.asarray(scores, dtype=float)
    x = np.asarray(words, dtype=float)
    t = None if turns is None else np.asarray(turns)
    if y.shape != x.shape or (t is not None and t.shape != y.shape):
        raise ValueError(f"scores, words and turns differ in length ({y.size}, {x.size}, "
                         f"{'-' if t is None else t.size}).")
    if np.isnan(y).any() or np.isnan(x).any():
        raise ValueError("scores and words must not hold NaN: leave unscored replies out.")
    n = int(y.size)
    avg = _turn_mean(y, t) if n else None
    mean_words = _turn_mean(x, t) if n else None
    empty = dict(n=n, slope=None, intercept=None, r=None, p_value=None, slope_stderr=None, mean_words=mean_words,
                 avg=avg, adjusted_avg=None, reference_words=float(reference_words))
    if n < MIN_REPLIES:
        return LengthFit(**empty, undefined=f"fewer than {MIN_REPLIES} scored replies ({n})")
    if np.ptp(x) == 0:
        return LengthFit(**empty, undefined=f"every reply has the same length ({x[0]:g} words)")
    fit = linregress(x, y)
    slope, intercept = float(fit.slope), float(fit.intercept)
    flat = np.ptp(y) == 0
    adjusted = (avg - slope * (mean_words - reference_words)) if t is not None else intercept + slope * reference_words
    return LengthFit(n=n, slope=slope, intercept=intercept, r=None if flat else float(fit.rvalue),
                     p_value=None if flat else float(fit.pvalue), slope_stderr=float(fit.stderr),
                     mean_words=mean_words, avg=avg, adjusted_avg=float(adjusted),
                     reference_words=float(reference_words))


def reply_scores_and_lengths(turns: Iterable, scores: Iterable) -> tuple[list[float], list[int], list[int]]:
    """(score, words, turn) of every reply that has a valid score: ``turns`` are stored
    :class:`~aloe_bench.records.Turn` records (finished ones count), ``scores`` their
    :class:`~aloe_bench.records.TurnScore` records; a reply judged several times (judge samples)
    gets the mean of its valid scores, as in the score matrix. Null scores are left out."""
    by_turn: dict[tuple[str, int], list[float]] = {}
    for s in scores:
        if s.score is not None:
            by_turn.setdefault((s.conversation_id, s.turn), []).append(float(s.score))
    out_scores, out_words, out_turns = [], [], []
    for t in sorted(turns, key=lambda t: (t.conversation_id, t.turn)):
        got = by_turn.get((t.conversation_id, t.turn))
        if t.status != "ok" or t.reply is None or not got:
            continue
        out_scores.append(sum(got) / len(got))
        out_words.append(word_count(t.reply))
        out_turns.append(t.turn)
    return out_scores, out_words, out_turns


def matrix_replies(values: np.ndarray, conversation_ids: Sequence[str], groups: Sequence[str],
                   turns: Iterable) -> list[tuple[str, int, float, int]]:
    """(group, turn, score, words) of every finished reply that has a score in a run's score matrix
    (``values[i, k-1]``: conversation ``conversation_ids[i]`` at turn k, NaN where unscored; the
    matrix the Average is computed from, so judge samples and ensemble members are combined as
    there), in (conversation, turn) order; ``groups[i]`` is the unit the bootstrap resamples (the
    conversation's persona) and ``turns`` the stored :class:`~aloe_bench.records.Turn` records."""
    row = {cid: i for i, cid in enumerate(conversation_ids)}
    out = []
    for t in sorted(turns, key=lambda t: (t.conversation_id, t.turn)):
        i = row.get(t.conversation_id)
        if t.status != "ok" or t.reply is None or i is None or not 1 <= t.turn <= values.shape[1]:
            continue
        score = values[i, t.turn - 1]
        if not np.isnan(score):
            out.append((groups[i], t.turn, float(score), word_count(t.reply)))
    return out


def bootstrap_length(groups: Sequence[str], scores: Sequence[float], words: Sequence[float],
                     turns: Sequence[int], *, resamples: int = 1000, seed: int = 0,
                     reference_words: float = REFERENCE_REPLY_WORDS) -> tuple[np.ndarray, np.ndarray]:
    """Slope and length-adjusted Average of ``resamples`` bootstrap resamples of the groups (one
    label per reply in ``groups``: its persona, so a persona is drawn with all its conversations and
    replies, as the summary's intervals draw them): two arrays of shape (resamples,), NaN where a
    resample's replies are all of one length. Seeded (``numpy.random.default_rng(seed)``)."""
    labels, group = np.unique(np.asarray(groups), return_inverse=True)
    ks, turn = np.unique(np.asarray(turns), return_inverse=True)
    y, x = np.asarray(scores, dtype=float), np.asarray(words, dtype=float)
    if resamples <= 0 or not y.size:
        return np.full(max(resamples, 0), np.nan), np.full(max(resamples, 0), np.nan)
    # Per group and turn: count, sum of scores, of words, of words^2, of words*scores.
    stats = np.zeros((labels.size, ks.size, 5))
    for j, v in enumerate((np.ones_like(y), y, x, x * x, x * y)):
        np.add.at(stats[:, :, j], (group, turn), v)
    rows = labels.size
    draws = np.random.default_rng(seed).integers(0, rows, size=(resamples, rows))
    counts = np.bincount((draws + rows * np.arange(resamples)[:, None]).ravel(),
                         minlength=resamples * rows).reshape(resamples, rows)
    agg = np.einsum("rc,ckf->rkf", counts.astype(float), stats)  # (resamples, turns, 5)
    n, sy, sx, sxx, sxy = (agg[:, :, j] for j in range(5))
    big_n, big_x, big_y = n.sum(axis=1), sx.sum(axis=1), sy.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = sxx.sum(axis=1) - big_x * big_x / big_n
        slope = np.where(var > 1e-9 * np.maximum(1.0, sxx.sum(axis=1)),
                         (sxy.sum(axis=1) - big_x * big_y / big_n) / var, np.nan)
        seen = n > 0
        avg = np.where(seen, sy / np.maximum(n, 1), 0.0).sum(axis=1) / seen.sum(axis=1)
        mean_words = np.where(seen, sx / np.maximum(n, 1), 0.0).sum(axis=1) / seen.sum(axis=1)
    return slope, avg - slope * (mean_words - reference_words)


def _interval(values: np.ndarray, level: float):
    from aloe_bench.records import Interval

    values = values[~np.isnan(values)]
    if not values.size:
        return None
    alpha = (1 - level) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return Interval(low=float(low), high=float(high), level=level)


def length_figures(replies: Sequence[tuple[str, int, float, int]], *, resamples: int = 1000, seed: int = 0,
                   level: float = 0.95, reference_words: float = REFERENCE_REPLY_WORDS):
    """The summary's :class:`~aloe_bench.records.LengthFigures` of a run's scored ``replies``
    ((group, turn, score, words) each, from :func:`matrix_replies`): :func:`length_regression`
    with turns weighing equally, and percentile-bootstrap intervals of the adjusted Average and the
    slope over the groups (:func:`bootstrap_length`; none with ``resamples`` 0 or an undefined
    slope)."""
    from aloe_bench.records import LengthFigures

    groups, ks, ys, xs = ([r[i] for r in replies] for i in range(4))
    fit = length_regression(ys, xs, ks, reference_words=reference_words)
    ci = {}
    if fit.slope is not None and resamples > 0:
        slopes, adjusted = bootstrap_length(groups, ys, xs, ks, resamples=resamples, seed=seed,
                                            reference_words=reference_words)
        for name, values in (("adjusted_avg", adjusted), ("slope", slopes)):
            interval = _interval(values, level)
            if interval is not None:
                ci[name] = interval
    data = fit.to_dict()
    del data["avg"]  # the summary's own Average
    return LengthFigures(**data, ci=ci)


def run_length_fit(run_dir: str | Path, judgement: str | None = None, *,
                   reference_words: float = REFERENCE_REPLY_WORDS) -> LengthFit:
    """:func:`length_regression` of a stored run's scores (``judgement``: of its re-scoring
    ``judgements/NAME``) on its reply lengths, turns weighing equally."""
    from aloe_bench.evaluation.run_folder import RunStore

    store = RunStore(run_dir, scores_name=judgement)
    store.read_spec()  # a clear error for a folder that is no run
    scores, words, turns = reply_scores_and_lengths(store.read_turns()[0], store.read_scores()[0])
    return length_regression(scores, words, turns, reference_words=reference_words)
