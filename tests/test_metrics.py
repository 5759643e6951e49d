"""ALOE metrics: exact to METHOD.md §1.5."""

import math

import numpy as np
import pytest

from aloe_bench.errors import AloeBenchError
from aloe_bench.metrics import (RunData, alignment_curve, alignment_metrics, bootstrap_ci, curve_metrics,
                                reply_length_per_turn)
from aloe_bench.records import Conversation, Persona, Turn, TurnScore

PAPER_ROW = [3.38, 3.35, 3.40, 3.48, 3.45, 3.48, 3.41, 3.45, 3.35, 3.46]


def test_paper_example_row_matches_table_rounding():
    m = curve_metrics(PAPER_ROW)
    assert round(m["avg"], 2) == 3.42
    assert round(m["ir"], 3) == 0.005
    assert round(m["n_ir"], 3) == 0.037
    assert round(m["r2"], 3) == 0.084
    assert m["n_r2"] == pytest.approx(m["r2"])  # min-max normalisation is affine: R2 unchanged


def test_hand_computed_line():
    # AL = 2 + 0.5 k exactly: slope 0.5, R2 1, N-IR 1/(K-1) since the normalised curve goes 0..1.
    al = [2.5, 3.0, 3.5, 4.0]
    m = curve_metrics(al)
    assert m["avg"] == pytest.approx(3.25)
    assert m["ir"] == pytest.approx(0.5)
    assert m["r2"] == pytest.approx(1.0)
    assert m["n_ir"] == pytest.approx(1 / 3)
    assert m["n_r2"] == pytest.approx(1.0)


def test_hand_computed_noisy():
    # k = 1,2,3; y = 1,3,2: slope = sum((k-2)(y-2))/sum((k-2)^2) = (1*... ) = ( -1*-1 + 0 + 1*0 )/2 = 0.5
    m = curve_metrics([1.0, 3.0, 2.0])
    assert m["ir"] == pytest.approx(0.5)
    # residuals: fit y = 0.5k + 1 -> 1.5, 2, 2.5; SSres = .25+1+.25 = 1.5; SStot = 2 -> R2 = .25
    assert m["r2"] == pytest.approx(0.25)
    assert m["n_ir"] == pytest.approx(0.25)  # range 2


def test_flat_curve_has_no_normalised_metrics():
    m = curve_metrics([3.0] * 5)
    assert m["avg"] == 3.0 and m["ir"] == 0.0
    assert m["n_ir"] is None and m["n_r2"] is None and m["r2"] is None


@pytest.mark.parametrize("al", [[], [4.0], [None, 3.0, None]])
def test_short_curve_is_a_clear_error(al):
    with pytest.raises(AloeBenchError, match="at least 2 turns"):
        curve_metrics(al)


def test_none_points_are_left_out_with_their_turn_numbers():
    full = curve_metrics([1.0, 2.0, 3.0, 4.0])
    gappy = curve_metrics([1.0, None, 3.0, 4.0])
    assert gappy["ir"] == pytest.approx(full["ir"])  # still a perfect line through k=1,3,4


def _run(scores_by_conv, replies=None):
    convs, scores = [], []
    for ci, row in enumerate(scores_by_conv):
        p = Persona(id=f"p{ci}", profile="x", personality="y")
        c = Conversation(id=f"c{ci}", persona=p)
        for k, s in enumerate(row, 1):
            c.turns.append(Turn(conversation_id=c.id, persona_id=p.id, turn=k, user="u",
                                reply=(replies[ci][k - 1] if replies else "a b c")))
            scores.append(TurnScore(conversation_id=c.id, persona_id=p.id, turn=k, score=s, judge="j"))
        convs.append(c)
    return RunData(conversations=convs, scores=scores, turns=len(scores_by_conv[0]))


def test_missing_scores_are_excluded_and_counted_never_zero():
    data = _run([[4, None, 2], [2, 3, None]])
    m = alignment_metrics(data, resamples=50)
    assert m["al"] == [3.0, 3.0, 2.0]
    assert m["n"] == [2, 1, 1]
    assert m["missing"] == [0, 1, 1]


def test_judge_samples_are_averaged_per_reply():
    data = _run([[4, 2]])
    data.scores.append(TurnScore(conversation_id="c0", persona_id="p0", turn=1, score=2, judge="j", sample=1))
    al, n = alignment_curve(data.score_matrix())
    assert al == [3.0, 2.0] and n == [1, 1]


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    rng = np.random.default_rng(1)
    matrix = rng.integers(1, 6, size=(40, 5)).astype(float)
    a = bootstrap_ci(matrix, resamples=300, seed=7)
    b = bootstrap_ci(matrix, resamples=300, seed=7)
    assert a == b
    avg = np.nanmean(matrix, axis=0).mean()
    assert a["avg"].low <= avg <= a["avg"].high
    assert a["avg"].high - a["avg"].low > 0
    assert a["ir"].low < a["ir"].high


def test_reply_length_per_turn():
    data = _run([[3, 3], [3, 3]], replies=[["one two", "a b c d"], ["x y z w", None]])
    data.conversations[1].turns[1] = data.conversations[1].turns[1].model_copy(update={"status": "model_failed"})
    lengths = reply_length_per_turn(data.conversations, 2)
    assert lengths == [3.0, 4.0]


def test_single_scored_turn_gives_average_only():
    data = _run([[4, None], [2, None]])
    m = alignment_metrics(data, resamples=10)
    assert m["avg"] == 3.0 and m["ir"] is None and m["n_ir"] is None
    assert not math.isnan(m["al"][0]) and m["al"][1] is None


def test_paired_difference_resamples_shared_personas_with_one_draw():
    """A tuned run that is the base run shifted by a constant per persona: the difference of the
    Average is that shift's mean over the shared personas, and since both runs are drawn with the
    same personas, a constant shift has a zero-width interval."""
    from aloe_bench.metrics import paired_difference

    rng = np.random.default_rng(3)
    base = rng.integers(1, 6, size=(6, 4)).astype(float)
    base[2, 3] = np.nan
    tuned = base[:4] + 0.5
    out = paired_difference(tuned, ["p0", "p1", "p2", "p3"], base, ["p0", "p1", "p2", "p3", "p4", "p5"],
                            resamples=200, seed=1)
    assert out["personas"] == 4 and out["turns"] == 4
    assert out["avg"]["diff"] == pytest.approx(0.5) and out["avg"]["low"] == pytest.approx(0.5)
    assert out["avg"]["high"] == pytest.approx(0.5) and out["ir"]["diff"] == pytest.approx(0.0, abs=1e-12)
    assert out["avg"]["base"] == pytest.approx(curve_metrics(alignment_curve(base[:4])[0])["avg"])
    with pytest.raises(AloeBenchError, match="share no persona"):
        paired_difference(tuned, ["x"] * 4, base, ["p0"] * 6)
