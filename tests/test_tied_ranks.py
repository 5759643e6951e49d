"""Tied ranks in the leaderboard: runs of one protocol whose paired difference of Average (bootstrap
over their shared personas) has a 95% interval containing 0 share a rank range; clearly separated
runs keep distinct ranks; runs of other protocols, or without a score matrix, are not compared (and
a note says so); the bootstrap is seeded, so the same runs always give the same ranks; every format
carries the ranks.

The runs come from the real engine with the scripted ``trend`` provider (tests/reporting_runs.py):
``trend:BASE:SLOPE`` scores about BASE + SLOPE * (k - 1) at turn k, with a per-reply jitter of -1,
0 or +1, over six personas.
"""

from __future__ import annotations

import csv
import io
import json
import shutil

import pytest
from click.testing import CliRunner

from aloe_bench.cli import cli
from aloe_bench.metrics import paired_difference
from aloe_bench.reporting.leaderboard import (FORMATS, TIE_RESAMPLES, TIE_SEED, TIE_ROW_FIELDS, leaderboard_rows)
from aloe_bench.reporting.results import load_result, load_results
from tests.reporting_runs import make_host, make_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory, aloe_data_dir):
    base = tmp_path_factory.mktemp("ties")
    with pytest.MonkeyPatch.context() as mp:
        host = make_host(aloe_data_dir, mp)
        out = {name: make_run(base / name, host, model) for name, model in
               (("good", "trend:3:0.4"), ("close", "trend:3.05:0"), ("flat", "trend:3:0"), ("weak", "trend:2:0.1"))}
        out["short"] = make_run(base / "short", host, "trend:3:0", turns=3)  # another protocol
    return out


def _board(runs, *names, **options):
    return leaderboard_rows(load_results([str(runs[n]) for n in names]), **options)


def _diff(runs, a, b):
    ma, mb = load_result(runs[a]).matrix, load_result(runs[b]).matrix
    return paired_difference(ma.values, ma.persona_ids, mb.values, mb.persona_ids,
                             resamples=TIE_RESAMPLES, seed=TIE_SEED)["avg"]


def test_clearly_separated_runs_keep_distinct_ranks(runs):
    diff = _diff(runs, "good", "weak")
    assert diff["low"] > 0  # the interval excludes 0
    rows, notes = _board(runs, "weak", "good")
    assert [(r["run"], r["rank"], r["rank_low"], r["rank_high"]) for r in rows] == [("good", "1", 1, 1),
                                                                                 ("weak", "2", 2, 2)]
    assert rows[0]["separable_from_next"] is True and rows[1]["separable_from_next"] is None
    assert rows[0]["rank_tied_with"] == rows[1]["rank_tied_with"] == []
    note = next(n for n in notes if n.startswith("Tied ranks:"))
    assert f"({TIE_RESAMPLES} resamples of the personas, seed {TIE_SEED})" in note
    assert "Every two runs compared here are separable." in note


def test_nearly_identical_runs_are_tied(runs):
    diff = _diff(runs, "close", "flat")
    assert diff["low"] <= 0 <= diff["high"] and abs(diff["diff"]) < 0.2
    rows, notes = _board(runs, "flat", "close")
    assert [r["rank"] for r in rows] == ["1–2", "1–2"]
    assert [(r["rank_low"], r["rank_high"]) for r in rows] == [(1, 2), (1, 2)]
    assert rows[0]["rank_tied_with"] == [rows[1]["run"]] and rows[1]["rank_tied_with"] == [rows[0]["run"]]
    assert rows[0]["separable_from_next"] is False
    assert not any("Every two runs compared here are separable" in n for n in notes)


def test_a_chain_of_ties_gives_overlapping_ranges(runs):
    # good ~ close ~ flat, but good and flat are separable; weak is below them all.
    assert _diff(runs, "good", "flat")["low"] > 0
    rows, _ = _board(runs, "weak", "flat", "good", "close")
    assert [(r["run"], r["rank"]) for r in rows] == [("good", "1–2"), ("close", "1–3"), ("flat", "2–3"),
                                                     ("weak", "4")]
    assert rows[1]["rank_tied_with"] == ["good", "flat"]
    assert [r["separable_from_next"] for r in rows] == [False, False, True, None]


def test_runs_of_other_protocols_are_not_compared(runs):
    rows, notes = _board(runs, "flat", "close", "short")
    by_run = {r["run"]: r for r in rows}
    assert by_run["short"]["rank"] == "B1" and by_run["short"]["rank_tied_with"] == []
    assert by_run["short"]["separable_from_next"] is None
    assert by_run["flat"]["rank"] == by_run["close"]["rank"] == "A1–2"
    assert any(n.startswith("Tied ranks:") and n.endswith("Runs of different protocols are not compared.")
               for n in notes)
    alone, notes = _board(runs, "flat", "short")  # one run per protocol: nothing to compare
    assert [r["rank"] for r in alone] == ["A1", "B1"] and not any("Tied ranks" in n for n in notes)


def test_runs_without_a_score_matrix_are_not_compared(runs, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(runs["close"], bare)
    (bare / "scores.jsonl").unlink()  # its summary stays; nothing to pair with
    rows, notes = leaderboard_rows(load_results([str(runs["flat"]), str(bare)]))
    assert [r["rank"] for r in rows] == ["1", "2"] and rows[0]["separable_from_next"] is None
    assert "Not compared for tied ranks (plain ranks): bare and flat (no score matrix)." in notes


def test_the_bootstrap_is_seeded(runs):
    names = ("good", "close", "flat", "weak")
    first, again = _board(runs, *names), _board(runs, *reversed(names))
    assert first == again  # the same runs give the same ranks, in any order
    other_seed, _ = _board(runs, *names, seed=7)
    assert [r["run"] for r in other_seed] == [r["run"] for r in first[0]]
    plain, notes = _board(runs, *names, resamples=0)  # no tie check
    assert [r["rank"] for r in plain] == ["1", "2", "3", "4"] and not any("Tied ranks" in n for n in notes)
    # The CLI passes --resamples and --seed through.
    res = CliRunner().invoke(cli, ["leaderboard", *(str(runs[n]) for n in names), "--format", "json",
                                   "--seed", "7"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["rows"] == json.loads(FORMATS["json"][0](*_board(runs, *names, seed=7)))["rows"]
    res = CliRunner().invoke(cli, ["leaderboard", str(runs["good"]), "--resamples", "-1"])
    assert res.exit_code == 2 and "Traceback" not in res.output


def test_every_format_carries_the_tied_ranks(runs):
    rows, notes = _board(runs, "flat", "close", "weak")
    md = FORMATS["markdown"][0](rows, notes)
    assert "| 1–2 |" in md and "| 3 |" in md and "- Tied ranks:" in md
    assert '<td class=n>1–2</td>' in FORMATS["html"][0](rows, notes)
    assert "\n1--2 & " in FORMATS["latex"][0](rows, notes)
    table = list(csv.DictReader(io.StringIO(FORMATS["csv"][0](rows, notes))))
    assert set(TIE_ROW_FIELDS) <= set(table[0])
    assert (table[0]["rank"], table[0]["rank_low"], table[0]["rank_high"]) == ("1–2", "1", "2")
    assert json.loads(table[0]["rank_tied_with"]) == [rows[1]["run"]] and table[0]["separable_from_next"] == "False"
    assert table[2]["rank_tied_with"] == "[]" and table[2]["separable_from_next"] == ""
    data = json.loads(FORMATS["json"][0](rows, notes))["rows"]
    assert data[0]["rank_tied_with"] == [rows[1]["run"]] and data[1]["separable_from_next"] is True
