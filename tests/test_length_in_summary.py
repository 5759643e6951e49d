"""The length control wired in: every run's summary.json carries the regression of score on reply
length and the length-adjusted Average (``length``), ``evaluate`` prints it, the leaderboard shows
it beside the raw Average in every format and names a lead that comes from reply length, the
report shows it in its cards, and runs written before it existed still load (the leaderboard
computes their figures from the transcripts).

End to end against the project's OpenAI-compatible server: the judge scores ``Q - words / 20``
where ``Q`` is a quality marker the model under test writes and ``words`` the reply's length, so
the slope is known exactly (-0.05 score points per word) and the adjusted Average is ``Q - 2.5``.
The model "brief" writes quality 6 in 20 and 40 words (scores 5, 4: Average 4.5, adjusted 3.5),
"wordy" quality 7 in 60 and 80 words (scores 4, 3: Average 3.5, adjusted 4.5): brief wins by
length alone.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from aloe_bench.records import RunSummary, Turn
from aloe_bench.reporting.leaderboard import leaderboard_rows, render_csv, render_html, render_json, render_latex
from aloe_bench.reporting.results import load_result, load_results
from aloe_bench.validity.length import (REFERENCE_REPLY_WORDS, bootstrap_length, length_figures, length_regression,
                                        matrix_replies)
from tests.helpers import run_served, served_env, serving

API_KEY = "sk-length-3f9a1c7e5b2d4068"
JUDGE_MARKER = "Rate the reply from 1 to 5"
SIM_MARKER = "You are playing a real person"
PERSONAS = 4
TURNS = 4


def model_script(quality: int, lengths: tuple[int, int]):
    """The whole served cast: the simulator says hello, the judge scores ``Q - words / 20``, the
    model under test writes ``quality Q`` padded to ``lengths[0]`` words at odd turns and
    ``lengths[1]`` at even ones."""
    def script(messages: list[dict]) -> str:
        first, last = messages[0]["content"], messages[-1]["content"]
        if JUDGE_MARKER in first or JUDGE_MARKER in last:
            reply = (first + last).split("The chatbot's reply:")[1].split(JUDGE_MARKER)[0]
            q = int(re.search(r"quality (\d+)", reply).group(1))
            return f"{q - len(reply.split()) // 20}\nLength-sensitive judge."
        if messages[0]["role"] == "system" and SIM_MARKER in first:
            return f"Hello, message {sum(m['role'] == 'assistant' for m in messages) + 1}."
        turn = sum(m["role"] == "user" for m in messages)
        words = lengths[(turn - 1) % 2]
        return " ".join([f"quality {quality}"] + ["word"] * (words - 2))
    return script


BRIEF, WORDY = model_script(6, (20, 40)), model_script(7, (60, 80))


def write_personas(folder: Path) -> Path:
    path = folder / "people.jsonl"
    path.write_text("".join(json.dumps({"id": f"p{i}", "profile": f"Person {i} likes topic {i}.",
                                        "personality": "Calm."}) + "\n" for i in range(PERSONAS)),
                    encoding="utf-8")
    return path


def evaluate(env, tmp_path: Path, out: Path, *extra: str):
    return run_served(env, "evaluate", "--model", "openai/mut", "--user", "openai/sim", "--judge", "openai/judge",
                      "--personas", f"jsonl:{write_personas(tmp_path)}", "--turns", str(TURNS), "-o", str(out),
                      "-q", "--no-cache", "--bootstrap", "200", *extra)


@pytest.fixture(scope="module")
def runs(server, tmp_path_factory):
    base = tmp_path_factory.mktemp("length")
    env = served_env(server, base, API_KEY)
    out = {"env": env, "base": base}
    for name, script in (("brief", BRIEF), ("wordy", WORDY)):
        with serving(server, script):
            res = evaluate(env, base, base / name)
        assert res.returncode == 0, res.stderr
        out[name] = base / name
        out[f"{name}_stdout"] = res.stdout
    return out


FORMATS = {"json": render_json, "csv": render_csv, "html": render_html, "latex": render_latex}


def _length(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())["length"]


def test_summary_records_the_known_slope_and_the_adjusted_average(runs):
    for name, quality, mean_words in (("brief", 6, 30), ("wordy", 7, 70)):
        summary = json.loads((runs[name] / "summary.json").read_text())
        fit = summary["length"]
        assert fit["reference_words"] == REFERENCE_REPLY_WORDS == 50
        assert fit["n"] == PERSONAS * TURNS and fit["undefined"] is None
        assert fit["slope"] == pytest.approx(-0.05) and fit["intercept"] == pytest.approx(quality)
        assert fit["r"] == pytest.approx(-1.0) and fit["mean_words"] == pytest.approx(mean_words)
        assert fit["adjusted_avg"] == pytest.approx(quality - 2.5)
        assert summary["avg"] == pytest.approx(quality - mean_words / 20)
        # Every resample lies on the same line: the intervals close on the values.
        assert fit["ci"]["adjusted_avg"]["low"] == pytest.approx(quality - 2.5)
        assert fit["ci"]["adjusted_avg"]["high"] == pytest.approx(quality - 2.5)
        assert fit["ci"]["slope"]["low"] == pytest.approx(-0.05) and fit["ci"]["slope"]["high"] == pytest.approx(-0.05)


def test_evaluate_prints_the_adjusted_average(runs):
    text = runs["brief_stdout"]
    assert re.search(r"Length-adj\. Avg \(50 words\)\s*│\s*3\.500\s*│\s*\[3\.500, 3\.500\]", text), text
    assert re.search(r"Length slope \(per word\)\s*│\s*-0\.0500 \(r -1\.000\)\s*│\s*\[-0\.0500, -0\.0500\]",
                     text), text


def test_leaderboard_shows_a_win_by_length_in_every_format(runs):
    env, brief, wordy = runs["env"], str(runs["brief"]), str(runs["wordy"])
    md = run_served(env, "leaderboard", brief, wordy)
    assert md.returncode == 0, md.stderr
    lines = md.stdout.splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    at = header.index("Length-adj. Average [95% CI]")
    assert header[at - 1] == "Average [95% CI]"  # beside the raw Average
    first, second = ([c.strip() for c in line.strip("|").split("|")] for line in lines[2:4])
    assert first[header.index("#")] == "1" and second[header.index("#")] == "2"  # separable: no tie
    assert first[header.index("Average [95% CI]")].startswith("4.50") and first[at].startswith("3.50")
    assert second[header.index("Average [95% CI]")].startswith("3.50") and second[at].startswith("4.50")
    assert "brief is ahead of wordy by Average but behind it by length-adjusted Average (3.50 vs 4.50)" in md.stdout
    assert "to 50 words, the same reference for every run" in md.stdout

    board = leaderboard_rows(load_results([brief, wordy]))
    data = json.loads(FORMATS["json"](*board))
    rows = {r["run"]: r for r in data["rows"]}
    assert rows["brief"]["adjusted_avg"] == pytest.approx(3.5) and rows["wordy"]["adjusted_avg"] == pytest.approx(4.5)
    assert rows["brief"]["length_slope"] == pytest.approx(-0.05) and rows["brief"]["reference_words"] == 50
    assert rows["brief"]["adjusted_avg_low"] == pytest.approx(3.5)
    table = list(csv.DictReader(io.StringIO(FORMATS["csv"](*board))))
    assert float(table[0]["adjusted_avg"]) == pytest.approx(3.5)
    assert float(table[0]["length_slope"]) == pytest.approx(-0.05)
    page = FORMATS["html"](*board)
    assert "Length-adj.<wbr>" not in page and "<th class=n>Length-<wbr>adj. Average [95% CI]</th>" in page
    assert "3.50 <span class=\"ci\">[3.50, 3.50]</span>" in page
    latex = FORMATS["latex"](*board)
    assert "& Average & Length-adj. & IR &" in latex and "3.50 {\\scriptsize[3.50, 3.50]}" in latex


def test_report_cards_show_the_adjusted_average(runs, tmp_path):
    page = tmp_path / "report.html"
    res = run_served(runs["env"], "report", str(runs["wordy"]), "--output", str(page))
    assert res.returncode == 0, res.stderr
    html = page.read_text()
    assert ('<div class="k">Length-adj. Average</div><div class="v">4.50</div>'
            '<div class="ci">at 50 words per reply; slope -0.0500/word, 95% CI [4.50, 4.50]</div>') in html


def test_runs_written_before_the_length_figures_still_load(runs, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(runs["wordy"], old)
    data = json.loads((old / "summary.json").read_text())
    del data["length"]
    (old / "summary.json").write_text(json.dumps(data))
    result = load_result(old)
    assert result.summary.length is None
    # Re-serialized, an old summary stays as it was: no "length" key appears.
    assert json.loads(result.summary.model_dump_json()) == data
    assert RunSummary.model_validate(data).model_dump(mode="json") == data
    # The leaderboard and the report compute the figures from the transcripts, as evaluate would.
    figures = result.length_figures()
    assert figures.slope == pytest.approx(-0.05) and figures.adjusted_avg == pytest.approx(4.5)
    rows, _ = leaderboard_rows([result])
    assert rows[0]["adjusted_avg"] == pytest.approx(4.5)
    # Without transcripts (a published run) there is nothing to compute from: "—", no column.
    (old / "transcripts.jsonl").unlink()
    rows, notes = leaderboard_rows([load_result(old)])
    assert rows[0]["adjusted_avg"] is None and not any("Length-adj." in n for n in notes)


def test_resume_after_lost_scores_gives_the_same_figures(server, runs, tmp_path):
    copy = tmp_path / "brief"
    shutil.copytree(runs["brief"], copy)
    before = _length(copy)
    scores = (copy / "scores.jsonl").read_text().splitlines(keepends=True)
    (copy / "scores.jsonl").write_text("".join(scores[:5]))  # a run killed while judging
    (copy / "summary.json").unlink()
    with serving(server, BRIEF) as srv:
        res = evaluate(runs["env"], runs["base"], copy, "--resume")
        assert res.returncode == 0, res.stderr
        asked = [r["json"]["model"] for r in srv.chat_requests()]
    assert asked == ["judge"] * (len(scores) - 5)  # only the lost scores are asked again
    assert _length(copy) == before


def _turn(cid: str, k: int, words: int, status: str = "ok") -> Turn:
    return Turn(conversation_id=cid, persona_id="p", turn=k, user="hi", reply=" ".join(["w"] * words), status=status)


def test_the_fit_reads_the_score_matrix_and_resamples_personas():
    # Rows: two repeats of persona a, one conversation of persona b; NaN: a reply without a score.
    values = np.array([[2.0, 3.0], [4.0, np.nan], [5.0, 1.0]])
    turns = [_turn("a0", 1, 10), _turn("a0", 2, 20), _turn("a1", 1, 30), _turn("a1", 2, 40),
             _turn("b0", 1, 50), _turn("b0", 2, 60, status="model_failed"), _turn("zz", 1, 70)]
    replies = matrix_replies(values, ["a0", "a1", "b0"], ["a", "a", "b"], turns)
    assert replies == [("a", 1, 2.0, 10), ("a", 2, 3.0, 20), ("a", 1, 4.0, 30), ("b", 1, 5.0, 50)]
    figures = length_figures(replies, resamples=300, seed=3)
    fit = length_regression([2, 3, 4, 5], [10, 20, 30, 50], [1, 2, 1, 1])
    assert (figures.slope, figures.adjusted_avg, figures.n) == (fit.slope, fit.adjusted_avg, 4)
    assert figures == length_figures(replies, resamples=300, seed=3)  # seeded
    slopes, adjusted = bootstrap_length(*zip(*[(g, s, w, k) for g, k, s, w in replies]), resamples=300, seed=3)
    # Two personas: a resample holds a twice, b twice, or both; "b twice" has one length: no slope.
    assert np.isnan(slopes).any() and not np.isnan(slopes).all()
    assert figures.ci["slope"].low <= fit.slope <= figures.ci["slope"].high
    assert length_figures(replies, resamples=0).ci == {}
    assert length_figures([], resamples=100).undefined == "fewer than 3 scored replies (0)"
