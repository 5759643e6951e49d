"""``aloe-bench agreement``: figures against hand-computed values on small label files (perfect,
chance and reversed agreement, ties, nulls, degenerate sets), Krippendorff's alpha against its
coincidence-matrix definition, real run folders and re-scorings (text and probability judges,
judge samples), the bootstrap, and one-line errors."""

from __future__ import annotations

import asyncio
import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from aloe_bench.cli import cli
from aloe_bench.errors import DataError
from aloe_bench.evaluation.judging import judge_run
from aloe_bench.evaluation.run_folder import RunStore
from aloe_bench.records import TurnScore
from aloe_bench.validity.agreement import (FIGURES, agreement_between, cohen_kappa, confusion_table,
                                           exact_agreement, measure_agreement, ordinal_alpha, spearman_rho)
from aloe_bench.validity.scoresets import load_score_set, pair_score_sets
from tests.reporting_runs import make_host, make_run


def write_labels(path: Path, scores, *, conversations=None) -> Path:
    """A label CSV: row i is turn 1 of conversation ``conversations[i]`` (default ``c-i``);
    a score of None is an empty cell."""
    convs = conversations or [f"c-{i}" for i in range(len(scores))]
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["conversation_id", "turn", "score"])
        for cid, s in zip(convs, scores):
            w.writerow([cid, 1, "" if s is None else s])
    return path


def agree(tmp_path: Path, a, b, **kw):
    """Agreement of two label files holding ``a`` and ``b`` (one turn per conversation)."""
    return agreement_between(write_labels(tmp_path / "a.csv", a), write_labels(tmp_path / "b.csv", b), **kw)


def assert_figures(report, **expected):
    for key, value in expected.items():
        got = getattr(report, key)
        if value is None:
            assert got is None, (key, got)
        else:
            assert got == pytest.approx(value, abs=1e-12), (key, got, value)


# --- hand-computed figures ---------------------------------------------------------------------

def test_perfect_agreement(tmp_path):
    r = agree(tmp_path, [1, 2, 3, 4, 5, 3], [1, 2, 3, 4, 5, 3])
    assert_figures(r, n=6, exact=1.0, kappa=1.0, kappa_quadratic=1.0, spearman=1.0, alpha=1.0)
    assert r.table == [[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 2, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1]]
    assert r.undefined == {}


def test_chance_agreement(tmp_path):
    # Every pair equally often: po = pe = 1/2, so kappa = 0 and rho = 0. Alpha by hand from the
    # coincidence matrix: n1 = n2 = 4, o12 = o21 = 2, d2(1,2) = (4 + 4 - 4)^2 = 16;
    # D_o = 4 * 16 / 8 = 8, D_e = 2 * 4 * 4 * 16 / (8 * 7) = 64/7; alpha = 1 - 8 * 7/64 = 1/8.
    r = agree(tmp_path, [1, 1, 2, 2], [1, 2, 1, 2])
    assert_figures(r, n=4, exact=0.5, kappa=0.0, kappa_quadratic=0.0, spearman=0.0, alpha=0.125)


def test_reversed_agreement(tmp_path):
    # kappa: po = 1/5 (the middle), pe = 5 * (1/5)^2 = 1/5 -> 0. Quadratic: observed mean weight
    # (1 + 1/4 + 0 + 1/4 + 1) / 5 = 1/2, expected E[(i-j)^2]/16 = 4/16 -> 1 - 2 = -1.
    # Alpha: mid-ranks 1.5, 3.5, ..., 9.5; sum of squared rank gaps 160, spread 80, n = 10:
    # 1 - 9 * 160 / (10 * 80) = -0.8.
    r = agree(tmp_path, [1, 2, 3, 4, 5], [5, 4, 3, 2, 1])
    assert_figures(r, exact=0.2, kappa=0.0, kappa_quadratic=-1.0, spearman=-1.0, alpha=-0.8)
    assert r.table[0][4] == r.table[4][0] == r.table[2][2] == 1


def test_ties(tmp_path):
    # A = 1 1 2 3, B = 1 2 2 3. kappa: po = 3/4, pe = .5*.25 + .25*.5 + .25*.25 = 5/16 -> 7/11.
    # Quadratic: observed 1/64; expected sum p_a(i) p_b(j) (i-j)^2 / 16 = 1.25/16 -> 1 - 0.2 = 0.8.
    # Spearman on mid-ranks (1.5 1.5 3 4) and (1 2.5 2.5 4): 3.75 / 4.5 = 5/6.
    # Alpha: pooled mid-ranks 1 -> 2, 2 -> 5, 3 -> 7.5; gaps^2 = 9; spread 37.5; 1 - 7*9/(8*37.5) = 0.79.
    r = agree(tmp_path, [1, 1, 2, 3], [1, 2, 2, 3])
    assert_figures(r, exact=0.75, kappa=7 / 11, kappa_quadratic=0.8, spearman=5 / 6, alpha=0.79)


def test_nulls_and_unpaired_turns_are_counted_and_left_out_never_zero(tmp_path):
    a = write_labels(tmp_path / "a.csv", [1, 2, None, 4, 5, 3],
                     conversations=["c-0", "c-1", "c-2", "c-3", "c-4", "c-9"])
    b = write_labels(tmp_path / "b.csv", [1, 2, 5, None, 5], conversations=["c-0", "c-1", "c-2", "c-3", "c-4"])
    r = agreement_between(a, b)
    # Paired: c-0, c-1, c-4 only (c-2 null in A, c-3 null in B, c-9 only in A).
    assert r.n == 3 and r.exact == 1.0 and r.kappa == 1.0
    assert r.excluded == {"a": {"null": 1, "unpaired": 2}, "b": {"null": 1, "unpaired": 1}}
    assert sum(map(sum, r.table)) == 3


def test_degenerate_sets_give_null_with_a_reason(tmp_path):
    r = agree(tmp_path, [3, 3, 3, 3], [3, 3, 3, 3])
    assert_figures(r, exact=1.0, kappa=None, kappa_quadratic=None, spearman=None, alpha=None)
    assert set(r.undefined) == {"kappa", "kappa_quadratic", "spearman", "alpha"}
    assert "same grade (3)" in r.undefined["kappa"]
    assert r.ci["kappa"] == {"low": None, "high": None}
    # One side constant: kappa exists (0: no agreement beyond chance), rho does not.
    r = agree(tmp_path, [3, 3, 3, 3], [2, 3, 4, 3])
    assert_figures(r, exact=0.5, kappa=0.0, spearman=None)
    assert "A gives every paired turn the same score" in r.undefined["spearman"]


def test_scores_between_grades_use_rounding_for_kappa_and_the_raw_value_for_rank_figures(tmp_path):
    r = agree(tmp_path, [1.4, 2.5, 4.6], [1, 3, 5])
    assert r.exact == 1.0 and r.kappa == 1.0  # 1.4 -> 1, 2.5 -> 3 (half up), 4.6 -> 5
    assert r.spearman == pytest.approx(1.0)


# --- the statistics against their definitions ----------------------------------------------------

def _alpha_by_coincidence(a, b) -> float:
    """Krippendorff's ordinal alpha straight from the definition: coincidence matrix over the
    value domain, ordinal metric d2_ck = (sum_{g=c..k} n_g - (n_c + n_k)/2)^2."""
    values = sorted(set(a) | set(b))
    pos = {v: i for i, v in enumerate(values)}
    o = np.zeros((len(values), len(values)))
    for x, y in zip(a, b):
        o[pos[x], pos[y]] += 1
        o[pos[y], pos[x]] += 1
    nc = o.sum(axis=1)
    n = nc.sum()
    d2 = np.zeros_like(o)
    for c in range(len(values)):
        for k in range(len(values)):
            lo, hi = min(c, k), max(c, k)
            d2[c, k] = (nc[lo:hi + 1].sum() - (nc[c] + nc[k]) / 2) ** 2
    d_o = (o * d2).sum() / n
    d_e = (np.outer(nc, nc) * d2).sum() / (n * (n - 1))
    return 1 - d_o / d_e


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ordinal_alpha_matches_the_coincidence_matrix_definition(seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 6, 40).astype(float)
    b = np.clip(a + rng.integers(-2, 3, 40), 1, 5)
    assert ordinal_alpha(a, b) == pytest.approx(_alpha_by_coincidence(a, b), abs=1e-12)
    fa, fb = a + rng.random(40).round(2), b + rng.random(40).round(2)  # raw, non-integer scores
    assert ordinal_alpha(fa, fb) == pytest.approx(_alpha_by_coincidence(fa, fb), abs=1e-12)


def test_kappa_matches_po_pe_and_spearman_matches_scipy():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(3)
    a = rng.integers(1, 6, 60)
    b = np.clip(a + rng.integers(-1, 2, 60), 1, 5)
    table = confusion_table(a, b)
    po = (a == b).mean()
    pe = sum((a == k).mean() * (b == k).mean() for k in range(1, 6))
    assert cohen_kappa(table) == pytest.approx((po - pe) / (1 - pe))
    assert exact_agreement(table) == pytest.approx(po)
    w = lambda i, j: (i - j) ** 2 / 16  # noqa: E731
    obs = np.mean([w(x, y) for x, y in zip(a, b)])
    exp = np.mean([w(x, y) for x in a for y in b])
    assert cohen_kappa(table, quadratic=True) == pytest.approx(1 - obs / exp)
    assert spearman_rho(a, b) == pytest.approx(spearmanr(a, b).statistic)


# --- the bootstrap -------------------------------------------------------------------------------

def test_bootstrap_over_conversations_is_seeded_and_brackets_the_value(tmp_path):
    rng = np.random.default_rng(5)
    a = rng.integers(1, 6, 30)
    b = np.clip(a + rng.integers(-1, 2, 30), 1, 5)
    one = agree(tmp_path, list(a), list(b), resamples=300, seed=7)
    two = agree(tmp_path, list(a), list(b), resamples=300, seed=7)
    other = agree(tmp_path, list(a), list(b), resamples=300, seed=8)
    assert one.ci == two.ci and one.ci != other.ci
    for key in FIGURES:
        iv = one.ci[key]
        assert iv["low"] <= getattr(one, key) <= iv["high"], key
        assert iv["low"] < iv["high"], key
    none = agree(tmp_path, list(a), list(b), resamples=0)
    assert all(none.ci[k] == {"low": None, "high": None} for k in FIGURES) and none.kappa == one.kappa


def test_bootstrap_resamples_whole_conversations(tmp_path):
    # Two conversations of three turns each: every resample holds 0, 3 or 6 turns of each
    # conversation, so the possible exact-agreement values are few and known.
    path_a, path_b = tmp_path / "a.csv", tmp_path / "b.csv"
    for path, scores in ((path_a, [1, 2, 3, 4, 4, 4]), (path_b, [1, 2, 3, 1, 2, 3])):
        with path.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["conversation_id", "turn", "score"])
            for i, s in enumerate(scores):
                w.writerow(["c-x" if i < 3 else "c-y", i % 3 + 1, s])
    paired = pair_score_sets(load_score_set(path_a), load_score_set(path_b))
    assert paired.conversations == ["c-x", "c-y"] and paired.n == 6
    r = measure_agreement(paired, resamples=400, seed=0)
    assert r.exact == 0.5 and r.conversations == 2
    assert r.ci["exact"] == {"low": 0.0, "high": 1.0}  # all of c-y (0) or all of c-x (1) occur


# --- real run folders ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def runs(tmp_path_factory, aloe_data_dir):
    """A run judged by ``trend:judge`` (turn mode), its re-scoring by the same judge in history
    mode (other prompts: partly different scores), and a run of another model (other replies)."""
    base = tmp_path_factory.mktemp("agreement-runs")
    with pytest.MonkeyPatch.context() as mp:
        host = make_host(aloe_data_dir, mp)
        run = make_run(base / "run", host, "trend:3:0.4", turns=3, limit=6)
        asyncio.run(judge_run(run, "trend:judge", host, name="history", judge_mode="history"))
        other = make_run(base / "other", host, "trend:2:0.1", turns=3, limit=6)
    return {"run": run, "other": other, "base": base}


def _scores(path: Path) -> dict:
    out: dict = {}
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        out[(rec["conversation_id"], rec["turn"])] = rec["score"]
    return out


def test_run_against_its_rescoring_matches_the_stored_scores(runs):
    run = runs["run"]
    r = agreement_between(run, run / "judgements" / "history", resamples=200)
    a, b = _scores(run / "scores.jsonl"), _scores(run / "judgements" / "history" / "scores.jsonl")
    keys = sorted(k for k in a if a[k] is not None and b.get(k) is not None)
    assert r.n == len(keys) == 18 and r.conversations == 6
    xa = np.array([a[k] for k in keys])
    xb = np.array([b[k] for k in keys])
    assert r.exact == pytest.approx((xa == xb).mean())
    assert r.kappa == pytest.approx(cohen_kappa(confusion_table(xa, xb)))
    assert r.spearman == pytest.approx(spearman_rho(xa, xb))
    assert r.alpha == pytest.approx(ordinal_alpha(xa, xb))
    assert 0 < r.exact < 1  # the history prompt moves some scores
    assert r.a == str(run) and r.b == str(run / "judgements" / "history")
    same = agreement_between(run, run, resamples=0)
    assert same.exact == same.kappa == same.alpha == 1.0


def test_probability_judge_with_samples(runs, tmp_path):
    """A probability judge's records (probability-weighted score, argmax) with two samples per
    reply: kappa pairs every sample with the other side's score, rho uses the mean raw score."""
    run = tmp_path / "run"
    shutil.copytree(runs["run"], run)
    own = _scores(run / "scores.jsonl")
    store = RunStore(run, scores_name="probs")
    store.scores_dir.mkdir(parents=True)
    writer = store.score_writer()
    keys = sorted(own)
    for i, (cid, turn) in enumerate(keys):
        base = int(own[(cid, turn)])
        for sample, shift in enumerate((0.3, -0.2)):  # raw scores around the run's own grade
            raw = min(5.0, max(1.0, base + shift))
            probs = {str(k): (0.7 if k == base else 0.3 / 4) for k in range(1, 6)}
            writer.write(TurnScore(conversation_id=cid, persona_id="p", turn=turn, score=raw, judge="hf:probe",
                                   argmax=base, probs=probs, sample=sample))
    cid, turn = keys[0]
    writer.write(TurnScore(conversation_id=cid, persona_id="p", turn=turn, score=None, judge="hf:probe",
                           sample=2, status="unreadable"))
    writer.close()
    r = agreement_between(run, run / "judgements" / "probs", resamples=0)
    assert r.n == 18 and r.pairs == 36  # every sample of B with A's one score
    assert r.exact == 1.0 and r.kappa == 1.0  # the argmax is the run's own grade
    assert r.excluded["b"] == {"null": 1, "unpaired": 0}
    means = np.array([np.mean([min(5, max(1, own[k] + s)) for s in (0.3, -0.2)]) for k in keys])
    assert r.spearman == pytest.approx(spearman_rho([own[k] for k in keys], means))


def test_two_different_runs_are_refused(runs):
    with pytest.raises(DataError, match="scored different replies for 18 of 18 paired turns"):
        agreement_between(runs["run"], runs["other"])


# --- the command ---------------------------------------------------------------------------------

def test_cli_json_and_text(runs):
    run = runs["run"]
    res = CliRunner().invoke(cli, ["agreement", str(run), str(run / "judgements" / "history"), "--json",
                                   "--resamples", "100"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    for key in ("n", "exact", "kappa", "kappa_quadratic", "spearman", "alpha", "ci", "table"):
        assert key in data
    assert set(data["ci"]) == set(FIGURES) and data["n"] == 18 and data["resamples"] == 100
    res = CliRunner().invoke(cli, ["agreement", str(run), str(run / "judgements" / "history"), "--resamples", "50"])
    assert res.exit_code == 0, res.output
    for text in ("Cohen's kappa", "kappa (quadratic)", "Spearman's rho", "Krippendorff's alpha", "18 paired turns",
                 "rows A, columns B"):
        assert text in res.output


def _one_line_error(res, *fragments):
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, res.output
    for fragment in fragments:
        assert fragment in res.output, res.output


def test_cli_errors(runs, tmp_path):
    run = str(runs["run"])
    invoke = lambda *args: CliRunner().invoke(cli, ["agreement", *map(str, args)])  # noqa: E731
    _one_line_error(invoke(run, tmp_path / "missing.csv"), "missing.csv does not exist")
    _one_line_error(invoke(tmp_path, run), "is not a run folder")
    empty = tmp_path / "unjudged"
    shutil.copytree(run, empty)
    (empty / "scores.jsonl").unlink()
    _one_line_error(invoke(empty, run), "holds no scores")
    bad = tmp_path / "bad.csv"
    bad.write_text("conversation_id,turn,label\nc-0,1,3\n")
    _one_line_error(invoke(run, bad), "has no score column", "export-labels")
    _one_line_error(invoke(run, write_labels(tmp_path / "other.csv", [3, 4])), "no scored turn in common")
    _one_line_error(invoke(write_labels(tmp_path / "a.csv", [3, 7]), write_labels(tmp_path / "b.csv", [3, 4])),
                    "a.csv:3: score 7 is outside 1-5")
    _one_line_error(invoke(write_labels(tmp_path / "a.csv", [3, "good"]), write_labels(tmp_path / "b.csv", [3, 4])),
                    "score 'good' is not a number")
    _one_line_error(invoke(write_labels(tmp_path / "a.csv", [None, None]), run), "no score filled in")
    dup = tmp_path / "dup.csv"
    dup.write_text("conversation_id,turn,score\nc-0,1,3\nc-0,1,4\n")
    _one_line_error(invoke(dup, run), "labelled twice (first on line 2)")
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    _one_line_error(invoke(notes, run), "neither a run folder nor a .csv label file")


def test_run_scores_outside_the_scale_and_empty_pairings_are_errors(runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(runs["run"], run)
    store = RunStore(run, scores_name="wide")
    store.scores_dir.mkdir(parents=True)
    writer = store.score_writer()
    writer.write(TurnScore(conversation_id="c-1", persona_id="p", turn=1, score=6.0, judge="ten-point"))
    writer.close()
    with pytest.raises(DataError, match=r"\(c-1 turn 1\): score 6 is outside 1-5"):
        load_score_set(run / "judgements" / "wide")
    paired = pair_score_sets(load_score_set(run), load_score_set(run))
    empty = type(paired)(conversations=[], turn_conv=paired.turn_conv[:0], raw_a=paired.raw_a[:0],
                         raw_b=paired.raw_b[:0], grade_conv=paired.grade_conv[:0], grade_a=paired.grade_a[:0],
                         grade_b=paired.grade_b[:0], excluded=paired.excluded)
    with pytest.raises(DataError, match="No paired turns"):
        measure_agreement(empty)
