"""Length control: the regression of score on reply length recovers a known slope, the
length-adjusted Average is the Average at the reference length (turns weighing equally, as in the
ALOE Average), a model that wins by brevity alone is exposed, and degenerate inputs give None with
a reason."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aloe_bench.records import Turn, TurnScore
from aloe_bench.validity.length import (REFERENCE_REPLY_WORDS, length_regression, reply_scores_and_lengths,
                                        run_length_fit, word_count)
from tests.reporting_runs import make_host, make_run


def test_known_slope_and_intercept():
    words = [10, 20, 30, 40]
    noise = [0.1, -0.1, -0.1, 0.1]  # sums to 0 and is orthogonal to the lengths: the OLS line is exact
    scores = [2 + 0.02 * w + e for w, e in zip(words, noise)]
    fit = length_regression(scores, words)
    assert fit.slope == pytest.approx(0.02) and fit.intercept == pytest.approx(2.0)
    assert fit.n == 4 and 0 < fit.r < 1 and fit.undefined is None
    assert fit.reference_words == REFERENCE_REPLY_WORDS == 50
    assert fit.avg == pytest.approx(np.mean(scores)) and fit.mean_words == 25
    assert fit.adjusted_avg == pytest.approx(2 + 0.02 * 50)  # the line at the reference length
    exact = length_regression([1 + 0.05 * w for w in words], words, reference_words=60)
    assert exact.slope == pytest.approx(0.05) and exact.r == pytest.approx(1.0)
    assert exact.adjusted_avg == pytest.approx(4.0)


def test_turns_weigh_equally_as_in_the_aloe_average():
    # Turn 1: three replies; turn 2: one. Scores = 1 + 0.04 * words exactly.
    words = [20, 30, 40, 70]
    scores = [1 + 0.04 * w for w in words]
    turns = [1, 1, 1, 2]
    fit = length_regression(scores, words, turns)
    assert fit.slope == pytest.approx(0.04)
    assert fit.avg == pytest.approx((np.mean(scores[:3]) + scores[3]) / 2)  # mean of AL(1), AL(2)
    assert fit.mean_words == pytest.approx((30 + 70) / 2)
    # Every score moved to 50 words is 3.0, so the adjusted Average is 3.0 at any turn weighting.
    assert fit.adjusted_avg == pytest.approx(3.0)


def test_a_model_that_wins_by_brevity_alone_is_exposed():
    # The judge rewards shortness: score = 4.5 - 0.03 * words for both models, who write equally
    # well at any length. The brief model's raw Average is higher; adjusted, they tie.
    rng = np.random.default_rng(0)
    brief_words = rng.integers(10, 30, 50)
    wordy_words = rng.integers(60, 90, 50)
    brief = length_regression(4.5 - 0.03 * brief_words, brief_words)
    wordy = length_regression(4.5 - 0.03 * wordy_words, wordy_words)
    assert brief.avg > wordy.avg + 1
    assert brief.adjusted_avg == pytest.approx(wordy.adjusted_avg) == pytest.approx(4.5 - 0.03 * 50)


def test_degenerate_inputs_leave_the_slope_undefined():
    few = length_regression([3, 4], [10, 20])
    assert few.slope is None and few.adjusted_avg is None and few.avg == 3.5 and "fewer than 3" in few.undefined
    same = length_regression([3, 4, 5], [12, 12, 12])
    assert same.slope is None and "same length (12 words)" in same.undefined
    flat = length_regression([4, 4, 4], [10, 20, 30])
    assert flat.slope == 0 and flat.r is None and flat.adjusted_avg == 4
    none = length_regression([], [])
    assert none.n == 0 and none.avg is None and none.adjusted_avg is None
    with pytest.raises(ValueError, match="differ in length"):
        length_regression([3, 4, 5], [10, 20])


def _turn(cid, k, reply, status="ok"):
    return Turn(conversation_id=cid, persona_id="p", turn=k, user="hi", reply=reply, status=status)


def _score(cid, k, score, sample=0):
    return TurnScore(conversation_id=cid, persona_id="p", turn=k, score=score, judge="j", sample=sample)


def test_reply_scores_average_judge_samples_and_skip_missing():
    turns = [_turn("c", 1, "one two three"), _turn("c", 2, "a b"), _turn("c", 3, None, status="model_failed"),
             _turn("d", 1, "x y z w")]
    scores = [_score("c", 1, 4, 0), _score("c", 1, 2, 1), _score("c", 2, None), _score("d", 1, 5)]
    assert reply_scores_and_lengths(turns, scores) == ([3.0, 5.0], [3, 4], [1, 1])
    assert word_count("  several   spaced\nwords ") == 3


def test_a_stored_run(tmp_path, aloe_data_dir, monkeypatch):
    host = make_host(aloe_data_dir, monkeypatch)
    run = make_run(tmp_path / "run", host, "scripted", judge="scripted", turns=3, limit=6)  # replies of varied length
    fit = run_length_fit(run)
    summary = json.loads((run / "summary.json").read_text())
    assert fit.n == 18
    assert fit.avg == pytest.approx(summary["avg"])  # the same Average the summary reports
    assert fit.mean_words == pytest.approx(np.mean(summary["reply_length"]))
    assert fit.slope is not None and fit.adjusted_avg == pytest.approx(
        fit.avg - fit.slope * (fit.mean_words - REFERENCE_REPLY_WORDS))
