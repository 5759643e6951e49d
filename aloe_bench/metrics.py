"""ALOE metrics, exact to the paper (see docs/metrics.md).

- AL(k): mean judge score over conversations at turn k; N(k): how many scores it averages.
- Average: mean of AL(1..K).
- IR: slope b of the least-squares line b*k + a through (k, AL(k)); R2: its coefficient of
  determination.
- N-IR, N-R2: the same after min-max normalising the curve over all K turns. A flat curve has
  no defined N-IR (or R2): reported as None, never as a number that looks measured.
- PF1(k): mean profile F1 over conversations at turn k (runs with a profile measurement);
  PF1 average and slope as Average and IR, with the same bootstrap over conversations.
- Drift (``--drift-at K``, docs/drift.md): AL before K, AL(K), the drop, the recovery slope of
  AL(k) over k >= K and the turns until AL is back; PF1(k) against the old and the new profile.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from aloe_bench.errors import AloeBenchError
from aloe_bench.records import Conversation, Interval, ProbeRecord, TurnScore


def _fit(ks: np.ndarray, ys: np.ndarray) -> tuple[float, float | None]:
    """OLS slope and R2 of ys on ks; R2 is None when ys is constant."""
    kc = ks - ks.mean()
    yc = ys - ys.mean()
    slope = float((kc * yc).sum() / (kc * kc).sum())
    ss_tot = float((yc * yc).sum())
    if ss_tot <= 1e-15:
        return 0.0, None
    intercept = ys.mean() - slope * ks.mean()
    ss_res = float(((ys - (slope * ks + intercept)) ** 2).sum())
    return slope, 1.0 - ss_res / ss_tot


def curve_metrics(al: Sequence[float | None], turns: Sequence[int] | None = None) -> dict[str, float | None]:
    """Average, IR, N-IR, R2 and N-R2 of an alignment curve AL(1..K).

    ``al[i]`` is AL at turn ``turns[i]`` (default: turns 1..K). None entries (turns nobody was
    scored at) are left out of the fit. Fewer than two points is an error: no slope exists.
    Returns ``{"avg", "ir", "n_ir", "r2", "n_r2"}``; ``n_ir`` and ``n_r2`` (and ``r2``) are None
    for a flat curve.
    """
    ks_all = list(turns) if turns is not None else list(range(1, len(al) + 1))
    if len(ks_all) != len(al):
        raise AloeBenchError(f"curve_metrics: {len(al)} values but {len(ks_all)} turn numbers.")
    pts = [(k, float(v)) for k, v in zip(ks_all, al) if v is not None and not math.isnan(float(v))]
    if len(pts) < 2:
        raise AloeBenchError(
            f"curve_metrics needs an alignment curve of at least 2 turns, got {len(pts)}.",
            "Run with --turns 2 or more.",
        )
    ks = np.array([p[0] for p in pts], dtype=float)
    ys = np.array([p[1] for p in pts], dtype=float)
    ir, r2 = _fit(ks, ys)
    lo, hi = ys.min(), ys.max()
    if hi - lo <= 1e-12:
        n_ir = n_r2 = None
    else:
        n_ir, n_r2 = _fit(ks, (ys - lo) / (hi - lo))
    return {"avg": float(ys.mean()), "ir": ir, "n_ir": n_ir, "r2": r2, "n_r2": n_r2}


def mean_score_matrix(scores: Sequence[TurnScore], index: dict[str, int], turns: int,
                      aggregate: str = "mean") -> np.ndarray:
    """Rows = ``index`` (conversation id -> row), columns = turns 1..K: the mean valid score over
    judge samples, NaN where a reply has none. Scores of other conversations or turns are ignored.

    Scores of a judge ensemble (``TurnScore.member``) are averaged per member first; a reply's
    score is then the ``aggregate`` (``mean`` or ``median``) of its members' means, over the
    members that scored it."""
    members = {s.member for s in scores}
    if len(members) > 1:
        stack = np.stack([_sample_means([s for s in scores if s.member == m], index, turns)
                          for m in sorted(members, key=lambda m: "" if m is None else m)])
        combine = np.nanmedian if aggregate == "median" else np.nanmean
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a reply no member scored: NaN
            return combine(stack, axis=0)
    return _sample_means(scores, index, turns)


def persona_means(matrix: np.ndarray, groups: Sequence[str]) -> np.ndarray:
    """One row per group (persona) in order of first appearance: the mean of its rows'
    (conversations': the repeats of ``--repeats``) valid scores per turn, NaN where none has one.
    ``matrix`` itself when every row is its own group (one conversation per persona)."""
    order = list(dict.fromkeys(groups))
    if len(order) == len(groups):
        return matrix
    at = {g: i for i, g in enumerate(order)}
    sums = np.zeros((len(order), matrix.shape[1]))
    counts = np.zeros_like(sums)
    for row, g in zip(matrix, groups):
        ok = ~np.isnan(row)
        sums[at[g]] += np.where(ok, row, 0.0)
        counts[at[g]] += ok
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _sample_means(scores: Sequence[TurnScore], index: dict[str, int], turns: int) -> np.ndarray:
    sums = np.zeros((len(index), turns))
    counts = np.zeros_like(sums)
    for s in scores:
        i = index.get(s.conversation_id)
        if i is None or s.score is None or not 1 <= s.turn <= turns:
            continue
        sums[i, s.turn - 1] += s.score
        counts[i, s.turn - 1] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


@dataclass
class RunData:
    """Scored conversations of one run, as metrics see them.

    What a metric registered through ``aloe_register_metrics`` is called with, as
    ``metric(data)``; it returns a JSON-able dict, stored in summary.json under ``extra[name]``.
    """

    #: Every conversation of the run, its failed last turn kept (check ``Turn.status``).
    conversations: list[Conversation]
    #: One score record per (conversation, turn, judge sample): the last stored one.
    scores: list[TurnScore]
    #: Turns per conversation the run asked for (K).
    turns: int
    #: Reserved for additional data; empty in runs so far.
    extra: dict = field(default_factory=dict)
    #: With a judge ensemble: ``mean`` or ``median`` of the members' scores of a reply.
    aggregate: str = "mean"

    def score_matrix(self) -> np.ndarray:
        """Conversations x turns matrix of scores (mean over judge samples; with a judge ensemble
        the ``aggregate`` of the members' means), NaN where missing."""
        return mean_score_matrix(self.scores, {c.id: i for i, c in enumerate(self.conversations)}, self.turns,
                                 self.aggregate)

    def groups(self) -> list[str]:
        """The persona of each conversation (row): the units the bootstrap resamples."""
        return [c.persona.id for c in self.conversations]

    def replied_matrix(self) -> np.ndarray:
        """Conversations x turns boolean matrix: True where the model produced a reply."""
        m = np.zeros((len(self.conversations), self.turns), dtype=bool)
        for i, c in enumerate(self.conversations):
            for t in c.turns:
                if t.status == "ok" and 1 <= t.turn <= self.turns:
                    m[i, t.turn - 1] = True
        return m


def alignment_curve(matrix: np.ndarray) -> tuple[list[float | None], list[int]]:
    """AL(k) and N(k) from a conversations x turns score matrix (NaN = no score)."""
    n = (~np.isnan(matrix)).sum(axis=0)
    al: list[float | None] = []
    for k in range(matrix.shape[1]):
        al.append(float(np.nanmean(matrix[:, k])) if n[k] else None)
    return al, [int(x) for x in n]


def resampled_curves(matrix: np.ndarray, *, resamples: int = 1000, seed: int = 0) -> np.ndarray:
    """AL(k) curves of ``resamples`` bootstrap resamples of the conversations (rows) of a
    conversations x turns score matrix: shape (resamples, K), NaN where a resample has no score."""
    rows = matrix.shape[0]
    rng = np.random.default_rng(seed)
    sample = matrix[rng.integers(0, rows, size=(resamples, rows))]  # (B, rows, K)
    valid = ~np.isnan(sample)
    counts = valid.sum(axis=1)
    sums = np.where(valid, sample, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts


def curves_avg_ir(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average and IR (the least-squares slope over turns 1..K) of each row of an (R, K) array of
    AL curves, NaN turns left out; NaN for a row with fewer than two scored turns."""
    ks = np.arange(1, curves.shape[1] + 1, dtype=float)
    ok = ~np.isnan(curves)
    n = ok.sum(axis=1)
    y = np.where(ok, curves, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = y.sum(axis=1) / n
        kbar = (ok * ks).sum(axis=1) / n
        kc = np.where(ok, ks - kbar[:, None], 0.0)
        ir = (kc * np.where(ok, y - avg[:, None], 0.0)).sum(axis=1) / (kc * kc).sum(axis=1)
    enough = n >= 2
    return np.where(enough, avg, np.nan), np.where(enough, ir, np.nan)


def _percentile_interval(values: np.ndarray, level: float) -> Interval:
    values = values[~np.isnan(values)]
    if not values.size:
        return Interval(low=None, high=None, level=level)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(values, [alpha, 1 - alpha])
    return Interval(low=float(lo), high=float(hi), level=level)


def bootstrap_ci(matrix: np.ndarray, *, resamples: int = 1000, seed: int = 0, level: float = 0.95
                 ) -> dict[str, Interval]:
    """Percentile bootstrap CIs of Average and IR, resampling conversations (personas).

    Seeded and reproducible. A resample whose curve has fewer than two scored turns is dropped.
    """
    rows, turns = matrix.shape
    if rows == 0 or turns < 2:
        return {}
    avgs, irs = curves_avg_ir(resampled_curves(matrix, resamples=resamples, seed=seed))
    return {"avg": _percentile_interval(avgs, level), "ir": _percentile_interval(irs, level)}


def paired_difference(tuned: np.ndarray, tuned_groups: Sequence[str], base: np.ndarray, base_groups: Sequence[str],
                      *, resamples: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
    """Average and IR of run ``tuned`` minus run ``base`` (conversations x turns score matrices,
    each row labelled by its persona in ``*_groups``) over the personas both runs hold, with a
    percentile bootstrap interval that resamples those personas with one draw for both runs (a
    paired comparison). Only the first min(K_tuned, K_base) turns count.

    Returns ``{"personas", "turns", "resamples", "level", "avg": {...}, "ir": {...}}`` where each
    metric holds ``tuned``, ``base``, ``diff`` (tuned minus base), ``low`` and ``high``; raises
    :class:`~aloe_bench.errors.AloeBenchError` when no persona is shared.
    """
    shared = sorted(set(tuned_groups) & set(base_groups))
    if not shared:
        raise AloeBenchError("The two runs share no persona: no paired comparison.",
                             "Evaluate both on the same persona source.")
    turns = min(tuned.shape[1], base.shape[1])
    index = {p: i for i, p in enumerate(shared)}

    def per_persona(matrix: np.ndarray, groups: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        sums, counts = np.zeros((len(shared), turns)), np.zeros((len(shared), turns))
        for row, group in zip(matrix[:, :turns], groups):
            if group in index:
                ok = ~np.isnan(row)
                sums[index[group]] += np.where(ok, row, 0.0)
                counts[index[group]] += ok
        return sums, counts

    (ts, tc), (bs, bc) = per_persona(tuned, tuned_groups), per_persona(base, base_groups)

    def stats(draws: np.ndarray):  # (R, P) persona indices -> (avg, ir) of each run, each (R,)
        with np.errstate(invalid="ignore", divide="ignore"):
            t_curves = ts[draws].sum(axis=1) / tc[draws].sum(axis=1)
            b_curves = bs[draws].sum(axis=1) / bc[draws].sum(axis=1)
        return (*curves_avg_ir(t_curves), *curves_avg_ir(b_curves))

    t_avg, t_ir, b_avg, b_ir = (float(x[0]) for x in stats(np.arange(len(shared))[None, :]))
    draws = np.random.default_rng(seed).integers(0, len(shared), size=(resamples, len(shared)))
    rt_avg, rt_ir, rb_avg, rb_ir = stats(draws)
    out: dict = {"personas": len(shared), "turns": turns, "resamples": resamples, "level": level}
    for key, t, b, diffs in (("avg", t_avg, b_avg, rt_avg - rb_avg), ("ir", t_ir, b_ir, rt_ir - rb_ir)):
        interval = _percentile_interval(diffs, level)
        out[key] = {"tuned": t, "base": b, "diff": t - b, "low": interval.low, "high": interval.high}
    return out


def reply_length_per_turn(conversations: Sequence[Conversation], turns: int) -> list[float | None]:
    """Mean reply length in words at each turn (None where no reply exists)."""
    totals = [0] * turns
    counts = [0] * turns
    for c in conversations:
        for t in c.turns:
            if t.status == "ok" and t.reply is not None and 1 <= t.turn <= turns:
                totals[t.turn - 1] += len(t.reply.split())
                counts[t.turn - 1] += 1
    return [totals[i] / counts[i] if counts[i] else None for i in range(turns)]


def alignment_metrics(data: RunData, *, resamples: int = 1000, seed: int = 0) -> dict:
    """Everything the summary's top level holds: al, n, missing, curve metrics, AL(1), AL(K) and
    the range of the curve, CIs, lengths."""
    matrix = data.score_matrix()
    al, n = alignment_curve(matrix)
    replied = data.replied_matrix()
    missing = [int(x) for x in (replied & np.isnan(matrix)).sum(axis=0)]
    scored = sum(v is not None for v in al)
    if scored >= 2:
        cm = curve_metrics(al)
    else:
        cm = {"avg": al[0] if scored == 1 and al and al[0] is not None else None,
              "ir": None, "n_ir": None, "r2": None, "n_r2": None}
    valid = [a for a in al if a is not None]
    return {
        "al": al,
        "n": n,
        "missing": missing,
        **cm,
        "al_first": al[0] if al else None,
        "al_last": al[-1] if al else None,
        "al_range": (max(valid) - min(valid)) if valid else None,
        # Personas are resampled: with --repeats, a persona's repeats are averaged first.
        "ci": bootstrap_ci(persona_means(matrix, data.groups()), resamples=resamples, seed=seed),
        "reply_length": reply_length_per_turn(data.conversations, data.turns),
    }


def profile_matrix(records: Sequence[ProbeRecord], index: dict[str, int], turns: int, field: str = "f1"
                   ) -> np.ndarray:
    """Rows = ``index`` (conversation id -> row), columns = turns 1..K: each record's ``field``
    (``f1``, ``precision`` or ``recall``), NaN where a turn has no value (no record, a failed
    call, an unreadable count). A malformed profile's 0 counts. Other records are ignored."""
    m = np.full((len(index), turns), np.nan)
    for r in records:
        i = index.get(r.conversation_id)
        value = getattr(r, field)
        if i is None or value is None or not 1 <= r.turn <= turns:
            continue
        m[i, r.turn - 1] = float(value)
    return m


def profile_metrics(records: Sequence[ProbeRecord], conversations: Sequence[Conversation], turns: int, *,
                    resamples: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
    """PF1(k) and what the summary holds with it, from the last stored record of each
    (conversation, turn):

    ``pf1`` (mean F1 per turn, None where no profile was scored), ``pf1_n`` (profiles averaged per
    turn), ``pf1_precision`` and ``pf1_recall`` (means per turn), ``pf1_avg`` (mean of the PF1
    curve, as Average is of AL), ``pf1_ir`` (its least-squares slope over the turns; None with
    fewer than two scored turns), ``pf1_malformed`` (unreadable profiles, counted as 0),
    ``pf1_unreadable`` (coverage counts left out) and ``ci`` (``pf1_avg`` and ``pf1_ir``: percentile
    bootstrap over conversations, as :func:`bootstrap_ci`)."""
    index = {c.id: i for i, c in enumerate(conversations)}
    f1 = profile_matrix(records, index, turns)
    pf1, n = alignment_curve(f1)
    precision = alignment_curve(profile_matrix(records, index, turns, "precision"))[0]
    recall = alignment_curve(profile_matrix(records, index, turns, "recall"))[0]
    valid = [v for v in pf1 if v is not None]
    avg = float(np.mean(valid)) if valid else None
    ir = None
    if len(valid) >= 2:
        ir = float(curves_avg_ir(np.array([[np.nan if v is None else v for v in pf1]], dtype=float))[1][0])
    ci: dict[str, Interval] = {}
    if f1.shape[0] and turns >= 2:
        units = persona_means(f1, [c.persona.id for c in conversations])  # repeats averaged per persona
        avgs, irs = curves_avg_ir(resampled_curves(units, resamples=resamples, seed=seed))
        ci = {"pf1_avg": _percentile_interval(avgs, level), "pf1_ir": _percentile_interval(irs, level)}
    counted = [r for r in records if r.conversation_id in index and 1 <= r.turn <= turns]
    return {"pf1": pf1, "pf1_n": n, "pf1_precision": precision, "pf1_recall": recall, "pf1_avg": avg, "pf1_ir": ir,
            "pf1_malformed": sum(r.status == "malformed" for r in counted),
            "pf1_unreadable": sum(r.status == "unreadable" for r in counted), "ci": ci}


def drift_metrics(matrix: np.ndarray, at: int, *, resamples: int = 1000, seed: int = 0, level: float = 0.95,
                  groups: Sequence[str] | None = None) -> dict:
    """Recovery figures of a run with a persona drift at turn ``at`` (K) from its conversations x
    turns score matrix (judged against the persona played at each turn; docs/drift.md):

    ``before`` (mean of AL(k) over k < K), ``at_k`` (AL(K)), ``drop`` (before - AL(K)),
    ``recovery`` (least-squares slope of AL(k) over k >= K; None with fewer than two scored
    turns there), ``turns_to_recover`` (min{k >= K: AL(k) >= before} - K; None if AL never gets
    back within the run) and ``ci`` (``recovery`` and ``drop``: percentile bootstrap over
    conversations, as :func:`bootstrap_ci`; with ``groups``, the persona of each row, personas:
    the rows of one persona averaged first, :func:`persona_means`)."""
    turns = matrix.shape[1]
    if not 2 <= at <= turns:
        raise AloeBenchError(f"drift_metrics: K={at} is outside 2..{turns}.")
    al, _ = alignment_curve(matrix)
    prior = [v for v in al[: at - 1] if v is not None]
    before = float(np.mean(prior)) if prior else None
    at_k = al[at - 1]
    after = np.array([[np.nan if v is None else v for v in al[at - 1:]]], dtype=float)
    recovery = curves_avg_ir(after)[1][0] if after.shape[1] >= 2 else np.nan
    back = None
    if before is not None:
        back = next((k - at for k in range(at, turns + 1)
                     if al[k - 1] is not None and al[k - 1] >= before - 1e-9), None)
    ci: dict[str, Interval] = {}
    if matrix.shape[0]:
        units = persona_means(matrix, groups) if groups is not None else matrix
        curves = resampled_curves(units, resamples=resamples, seed=seed)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a resample with no score before K: NaN
            drops = np.nanmean(curves[:, : at - 1], axis=1) - curves[:, at - 1]
        ci["drop"] = _percentile_interval(drops, level)
        if turns - at + 1 >= 2:
            ci["recovery"] = _percentile_interval(curves_avg_ir(curves[:, at - 1:])[1], level)
    return {"before": before, "at_k": at_k, "drop": before - at_k if before is not None and at_k is not None else None,
            "recovery": None if np.isnan(recovery) else float(recovery), "turns_to_recover": back, "ci": ci}


def drift_profile_curves(records: Sequence[ProbeRecord], conversations: Sequence[Conversation], turns: int
                         ) -> tuple[list[float | None], list[float | None]]:
    """PF1(k) of a drift run against the starting persona's golden facts (old) and against the
    drifted persona's (new), one value per turn each, from the last record of each (conversation,
    turn) (:meth:`~aloe_bench.records.ProbeRecord.score_for`). Conversations without a drifted
    persona are left out."""
    index = {c.id: i for i, c in enumerate(conversations) if c.drifted is not None}
    ids = {c.id: (c.persona.id, c.drifted.id) for c in conversations if c.drifted is not None}
    old, new = np.full((len(conversations), turns), np.nan), np.full((len(conversations), turns), np.nan)
    for r in records:
        i = index.get(r.conversation_id)
        if i is None or not 1 <= r.turn <= turns:
            continue
        for matrix, pid in ((old, ids[r.conversation_id][0]), (new, ids[r.conversation_id][1])):
            scored = r.score_for(pid)
            if scored is not None and scored.f1 is not None:
                matrix[i, r.turn - 1] = float(scored.f1)
    return alignment_curve(old)[0], alignment_curve(new)[0]
