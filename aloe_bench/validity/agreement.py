"""Agreement between two score sets of the same turns (``aloe-bench agreement``, docs/validity.md).

Figures, over the turns paired by :func:`aloe_bench.validity.scoresets.pair_score_sets`:

- ``exact``: the share of integer pairs with the same grade;
- ``kappa``: Cohen's kappa of the integer grades, ``1 - sum(W*O) / sum(W*E)`` with ``O`` the
  observed and ``E`` the chance-expected (product of the marginals) proportions of the 5x5 table
  and ``W`` 0 on the diagonal, 1 elsewhere;
- ``kappa_quadratic``: the same with quadratic weights over the 1-5 scale,
  ``W[i, j] = (i - j)^2 / 4^2``;
- ``spearman``: Spearman's rho of the raw scores (:func:`scipy.stats.spearmanr`, ties at mid-ranks);
- ``alpha``: Krippendorff's alpha of the raw scores with the ordinal metric (see
  :func:`ordinal_alpha`).

Each gets a percentile bootstrap interval that resamples conversations (the turns of one
conversation are not independent), seeded and reproducible. A figure that does not exist for the
data (kappa when both sides give every reply the same grade, Spearman when one side is constant)
is None with the reason in ``undefined``, never a made-up number; resamples where it does not
exist are left out of its interval.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from aloe_bench.errors import DataError
from aloe_bench.validity.scoresets import SCALE, PairedScores, load_score_set, pair_score_sets

#: Categories of the integer grades: 1..5.
CATEGORIES = SCALE[1] - SCALE[0] + 1
#: Bootstrap resamples of conversations behind each interval, unless told otherwise.
DEFAULT_RESAMPLES = 1000
#: Coverage of the bootstrap intervals.
DEFAULT_LEVEL = 0.95
#: The figures, in the order they are printed.
FIGURES = ("exact", "kappa", "kappa_quadratic", "spearman", "alpha")


def confusion_table(grades_a, grades_b, weights=None) -> np.ndarray:
    """The 5x5 table of integer grade pairs: ``table[i, j]`` counts pairs where A gave ``i + 1``
    and B ``j + 1`` (``weights``: a count per pair instead of 1)."""
    a = np.asarray(grades_a, dtype=np.int64) - SCALE[0]
    b = np.asarray(grades_b, dtype=np.int64) - SCALE[0]
    if a.size and (a.min() < 0 or b.min() < 0 or a.max() >= CATEGORIES or b.max() >= CATEGORIES):
        raise ValueError(f"grades must lie in {SCALE[0]}-{SCALE[1]}")
    flat = np.bincount(a * CATEGORIES + b, weights=weights, minlength=CATEGORIES * CATEGORIES)
    return flat.reshape(CATEGORIES, CATEGORIES)


def exact_agreement(table: np.ndarray) -> float | None:
    """The share of pairs on the table's diagonal; None for an empty table."""
    total = float(table.sum())
    return float(np.trace(table)) / total if total > 0 else None


def _kappa_weights(quadratic: bool) -> np.ndarray:
    i, j = np.indices((CATEGORIES, CATEGORIES))
    return ((i - j) / (CATEGORIES - 1)) ** 2 if quadratic else (i != j).astype(float)


_WEIGHTS = {False: _kappa_weights(False), True: _kappa_weights(True)}


def cohen_kappa(table: np.ndarray, *, quadratic: bool = False) -> float | None:
    """Cohen's kappa of a confusion table (:func:`confusion_table`): unweighted, or with
    quadratic weights ``(i - j)^2 / (5 - 1)^2`` over the 1-5 scale.

    ``kappa = 1 - sum(W * O) / sum(W * E)``: ``O`` the observed proportions, ``E`` the outer
    product of the two sides' marginal proportions. Unweighted this is ``(po - pe) / (1 - pe)``.
    None when the chance-expected disagreement is 0 (both sides give every reply the same grade):
    kappa does not exist there."""
    total = float(table.sum())
    if total <= 0:
        return None
    observed = table / total
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0))
    weights = _WEIGHTS[quadratic]
    chance = float((weights * expected).sum())
    if chance <= 1e-12:
        return None
    return 1.0 - float((weights * observed).sum()) / chance


def spearman_rho(a, b) -> float | None:
    """Spearman's rank correlation of two paired samples (:func:`scipy.stats.spearmanr`, ties
    at mid-ranks); None with fewer than two pairs or when either side is constant."""
    from scipy.stats import spearmanr

    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(spearmanr(a, b).statistic)


def ordinal_alpha(a, b) -> float | None:
    """Krippendorff's alpha with the ordinal metric for two coders who both rated every unit.

    Krippendorff's definition: ``alpha = 1 - D_o / D_e`` over the coincidence matrix ``o`` of
    the pooled values (each unit adds the ordered pairs ``(a, b)`` and ``(b, a)``, each with weight
    ``1 / (m_u - 1) = 1``), its marginals ``n_c`` and ``n = 2 * units``, with
    ``D_o = sum_ck o_ck d2_ck / n``, ``D_e = sum_ck n_c n_k d2_ck / (n (n - 1))`` and the ordinal
    metric ``d2_ck = (sum_{g=c..k} n_g - (n_c + n_k) / 2)^2``.

    That metric is the squared difference of the values' mid-ranks ``r`` among the ``n`` pooled
    values, so for two complete coders ``alpha = 1 - (n - 1) sum_u (r_a - r_b)^2 /
    (n sum_i (r_i - mean(r))^2)``, which is what is computed here (mid-ranks from
    :func:`scipy.stats.rankdata`). Raw, non-integer scores are ordinal values like any other.
    None when every pooled value is the same (no expected disagreement) or there is no unit."""
    from scipy.stats import rankdata

    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    units = a.size
    if units == 0:
        return None
    ranks = rankdata(np.concatenate([a, b]))
    n = 2 * units
    spread = float(((ranks - ranks.mean()) ** 2).sum())
    if spread <= 1e-12:
        return None
    observed = float(((ranks[:units] - ranks[units:]) ** 2).sum())
    return 1.0 - (n - 1) * observed / (n * spread)


def _figures(table: np.ndarray, raw_a: np.ndarray, raw_b: np.ndarray) -> dict[str, float | None]:
    return {"exact": exact_agreement(table), "kappa": cohen_kappa(table),
            "kappa_quadratic": cohen_kappa(table, quadratic=True),
            "spearman": spearman_rho(raw_a, raw_b), "alpha": ordinal_alpha(raw_a, raw_b)}


def _why_undefined(name: str, paired: PairedScores) -> str:
    if name in ("kappa", "kappa_quadratic"):
        grade = int(paired.grade_a[0]) if paired.grade_a.size else None
        return f"both sides give every reply the same grade ({grade}): kappa does not exist without chance disagreement"
    if name == "spearman":
        if paired.n < 2:
            return "fewer than two paired turns"
        side = "A" if np.ptp(paired.raw_a) == 0 else "B"
        return f"{side} gives every paired turn the same score: no rank correlation exists"
    if name == "alpha":
        return "every score on both sides is the same: no expected disagreement"
    return "no integer pairs"


@dataclass
class AgreementReport:
    """Agreement between two score sets (:func:`measure_agreement`); ``to_dict()`` is what
    ``aloe-bench agreement --json`` prints."""

    #: Paired turns (a valid score on both sides).
    n: int
    #: Integer pairs behind exact agreement, kappa and the table: every valid judge sample of A
    #: with every one of B for the same turn (equal to ``n`` with one score per turn per side).
    pairs: int
    #: Conversations holding paired turns: the units the bootstrap resamples.
    conversations: int
    #: Share of integer pairs with the same grade.
    exact: float | None
    #: Cohen's kappa of the integer grades (unweighted); None when it does not exist (``undefined``).
    kappa: float | None
    #: Cohen's kappa with quadratic weights over the 1-5 scale; None when it does not exist.
    kappa_quadratic: float | None
    #: Spearman's rho of the raw scores (per-turn means over judge samples); None when it does not exist.
    spearman: float | None
    #: Krippendorff's alpha (ordinal metric) of the raw scores; None when it does not exist.
    alpha: float | None
    #: Per figure: the bootstrap interval ``{"low", "high"}`` (both None when no resample gave a value).
    ci: dict[str, dict[str, float | None]]
    #: The 5x5 confusion table of integer pairs: ``table[i][j]`` pairs where A gave i+1 and B j+1.
    table: list[list[int]]
    #: What was left out, per side (``a``, ``b``): ``null`` scores and ``unpaired`` turns.
    excluded: dict[str, dict[str, int]]
    #: Per figure that is None: why it does not exist.
    undefined: dict[str, str] = field(default_factory=dict)
    #: Bootstrap resamples of conversations behind each interval.
    resamples: int = DEFAULT_RESAMPLES
    #: The bootstrap's seed.
    seed: int = 0
    #: Coverage of the intervals.
    level: float = DEFAULT_LEVEL
    #: Where A was read from ("" when not read from a path).
    a: str = ""
    #: Where B was read from ("" when not read from a path).
    b: str = ""

    def to_dict(self) -> dict:
        """Plain JSON-ready data."""
        return asdict(self)


def _interval(values: np.ndarray, level: float) -> dict[str, float | None]:
    values = values[~np.isnan(values)]
    if not values.size:
        return {"low": None, "high": None}
    tail = (1 - level) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return {"low": float(low), "high": float(high)}


def measure_agreement(paired: PairedScores, *, resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                      level: float = DEFAULT_LEVEL) -> AgreementReport:
    """The agreement figures of ``paired`` (see the module docstring) with percentile bootstrap
    intervals: ``resamples`` times, draw as many conversations as there are, with replacement
    (``numpy.random.default_rng(seed)``), and recompute every figure over their turns. Raises
    :class:`~aloe_bench.errors.DataError` when nothing is paired."""
    if paired.n == 0:
        raise DataError("No paired turns: agreement needs turns scored on both sides.")
    table = confusion_table(paired.grade_a, paired.grade_b)
    point = _figures(table, paired.raw_a, paired.raw_b)
    draws = np.full((resamples, len(FIGURES)), np.nan)
    units = len(paired.conversations)
    rng = np.random.default_rng(seed)
    codes = (paired.grade_a - SCALE[0]) * CATEGORIES + (paired.grade_b - SCALE[0])
    turn_index = np.arange(paired.n)
    for r in range(resamples):
        times = np.bincount(rng.integers(0, units, size=units), minlength=units)  # draws per conversation
        t = np.bincount(codes, weights=times[paired.grade_conv], minlength=CATEGORIES * CATEGORIES)
        rows = np.repeat(turn_index, times[paired.turn_conv])
        figures = _figures(t.reshape(CATEGORIES, CATEGORIES), paired.raw_a[rows], paired.raw_b[rows])
        draws[r] = [np.nan if figures[k] is None else figures[k] for k in FIGURES]
    ci = {k: (_interval(draws[:, i], level) if point[k] is not None else {"low": None, "high": None})
          for i, k in enumerate(FIGURES)}
    return AgreementReport(n=paired.n, pairs=paired.pairs, conversations=units, **point, ci=ci,
                           table=[[int(x) for x in row] for row in table], excluded=paired.excluded,
                           undefined={k: _why_undefined(k, paired) for k in FIGURES if point[k] is None},
                           resamples=resamples, seed=seed, level=level)


def agreement_between(a: str | Path, b: str | Path, *, resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                      level: float = DEFAULT_LEVEL) -> AgreementReport:
    """Read two score sets (:func:`aloe_bench.validity.scoresets.load_score_set`: a run folder,
    ``RUN/judgements/NAME`` or a ``.csv`` label file), pair them and measure their agreement.
    Raises :class:`~aloe_bench.errors.DataError` for unreadable sets and when no turn is paired."""
    set_a, set_b = load_score_set(a), load_score_set(b)
    report = measure_agreement(pair_score_sets(set_a, set_b), resamples=resamples, seed=seed, level=level)
    report.a, report.b = set_a.source, set_b.source
    return report
