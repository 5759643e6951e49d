"""Leaderboard rows, formats, protocol checks, the CLI, and the published results folder."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner

from aloe_bench.cli import cli
from aloe_bench.evaluation.judging import judge_run
from aloe_bench.reporting.publish import leaderboard_markdown, publish_run, update_results
from aloe_bench.reporting.leaderboard import FORMATS, ROW_FIELDS, leaderboard_rows
from aloe_bench.reporting.results import load_result, load_results
from tests.reporting_runs import make_host, make_run

REPO = Path(__file__).resolve().parent.parent
SECRET = "sk-test-DO-NOT-LEAK-123"


@pytest.fixture(scope="module")
def runs(tmp_path_factory, aloe_data_dir):
    """Three runs of one protocol (4 turns), one of another (3 turns), one re-scoring."""
    base = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as mp:
        host = make_host(aloe_data_dir, mp)
        out = {
            "good": make_run(base / "good", host, "trend:3:0.4", judge_options={"api_key": SECRET}),
            "flat": make_run(base / "flat", host, "trend:3:0"),
            "weak": make_run(base / "weak", host, "trend:2:0.1"),
            "short": make_run(base / "short", host, "trend:4:0", turns=3),
        }
        asyncio.run(judge_run(out["flat"], "scripted", host, name="rejudged"))
    out["base"] = base
    return out


def _summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def test_rows_follow_the_summaries_and_sort_by_average(runs):
    rows, notes = leaderboard_rows(load_results([str(runs[k]) for k in ("weak", "good", "flat")]))
    assert [r["run"] for r in rows] == ["good", "flat", "weak"]
    assert [r["rank"] for r in rows] == ["1", "2", "3"]
    assert all(r["comparable"] and r["protocol"] == "A" for r in rows)
    assert not any("Not comparable" in n for n in notes)
    for r in rows:
        s = _summary(runs[r["run"]])
        assert set(r) == set(ROW_FIELDS)
        assert r["avg"] == s["avg"] and r["ir"] == s["ir"] and r["n_ir"] == s["n_ir"] and r["r2"] == s["r2"]
        assert (r["avg_low"], r["avg_high"]) == (s["ci"]["avg"]["low"], s["ci"]["avg"]["high"])
        assert (r["ir_low"], r["ir_high"]) == (s["ci"]["ir"]["low"], s["ci"]["ir"]["high"])
        assert (r["al_first"], r["al_last"]) == (s["al"][0], s["al"][-1])
        assert r["reply_words"] == pytest.approx(sum(s["reply_length"]) / len(s["reply_length"]))
        assert r["cost"] == sum(u["cost"] for u in s["usage"].values())
        assert (r["model"], r["user"], r["judge"], r["turns"], r["personas_count"]) == (
            s["model"], s["user"], s["judge"], s["turns"], s["personas_count"])
    assert rows[0]["avg"] > rows[1]["avg"] > rows[2]["avg"]


def test_runs_of_other_protocols_are_flagged_not_ranked_together(runs):
    results = load_results([str(runs["base"])], judgements=True)
    names = [r.name for r in results]
    assert "flat/rejudged" in names and "short" in names
    rows, notes = leaderboard_rows(results)
    by_run = {r["run"]: r for r in rows}
    assert {by_run[n]["protocol"] for n in ("good", "flat", "weak")} == {"A"}
    assert by_run["short"]["comparable"] is False and by_run["flat/rejudged"]["comparable"] is False
    assert by_run["short"]["protocol"] != by_run["flat/rejudged"]["protocol"]
    assert by_run["good"]["rank"] == "A1"
    assert re.fullmatch(r"[BC]1", by_run["short"]["rank"])
    assert any(n.startswith("Not comparable: these runs use 3 different protocols") for n in notes)
    assert any("turns (4 -> 3)" in n for n in notes)
    assert any("judge (trend:judge -> scripted)" in n for n in notes)
    # Protocol A rows come first; no row of another protocol sits among them.
    assert [r["protocol"] for r in rows][:3] == ["A", "A", "A"]


def test_cli_markdown_leaderboard_and_curve_png(runs, tmp_path):
    png = tmp_path / "curves.png"
    res = CliRunner().invoke(cli, ["leaderboard", str(runs["good"]), str(runs["weak"]), str(runs["flat"]),
                                   "--format", "markdown", "--plot", str(png), "--plot", str(tmp_path / "c.svg")])
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("|")]
    assert len(lines) == 2 + 3
    assert set(lines[1].strip("|").split("|")) == {"---", "---:"}
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[:2] == ["#", "Model"] and "Average [95% CI]" in header and "IR [95% CI]" in header
    first = [c.strip() for c in lines[2].strip("|").split("|")]
    s = _summary(runs["good"])
    assert first[1] == "trend:3:0.4"
    assert first[header.index("Average [95% CI]")] == (
        f"{s['avg']:.2f} [{s['ci']['avg']['low']:.2f}, {s['ci']['avg']['high']:.2f}]")
    assert first[header.index("AL(1)")] == f"{s['al'][0]:.2f}"
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 800)  # 6.4 x 4.0 inches at 200 dpi
    assert (tmp_path / "c.svg").read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_renders_all_runs_and_escapes(fmt, runs, tmp_path):
    out = tmp_path / f"lb.{fmt}"
    res = CliRunner().invoke(cli, ["leaderboard", str(runs["base"]), "-f", fmt, "-o", str(out)])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    rows, notes = leaderboard_rows(load_results([str(runs["base"])]))
    if fmt == "csv":
        parsed = list(csv.DictReader(io.StringIO(text)))
        assert [p["run"] for p in parsed] == [r["run"] for r in rows]
        assert [float(p["avg"]) for p in parsed] == [r["avg"] for r in rows]
        assert parsed[-1]["comparable"] == "False"
    elif fmt == "json":
        assert json.loads(text) == {"schema_version": 1, "rows": rows, "notes": notes}
    else:
        for r in rows:  # html: names carry <wbr> break opportunities after / - : _
            assert r["model"] in text.replace("<wbr>", "")
    # Hostile names: each format escapes what its syntax needs.
    hostile = dict(rows[0], model="evil|<b>x</b>_50%&$#", run="r")
    rendered = FORMATS[fmt][0]([hostile], ["note with | and <i>"])
    if fmt == "markdown":
        assert "evil\\|<b>x</b>_50%&$#" in rendered and rendered.splitlines()[2].count(" | ") == 13
    elif fmt == "html":
        assert "<b>x</b>" not in rendered and "evil|&lt;b&gt;x&lt;/b&gt;_50%&amp;$#" in rendered.replace("<wbr>", "")
        assert "&lt;/<wbr>b&gt;_<wbr>50%" in rendered  # break opportunities only outside entities
    elif fmt == "latex":
        assert r"evil|<b>x</b>\_50\%\&\$\#" in rendered
        assert "\\toprule" in rendered and "\\midrule" in rendered and "\\bottomrule" in rendered
        body = rendered.split("\\midrule")[1].split("\\bottomrule")[0]
        assert body.strip().count(" & ") == 13


def test_builtin_formats_are_registered_through_the_hook(aloe_host):
    entries = {e.name: e for e in aloe_host.reporters}
    assert set(FORMATS) <= set(entries)
    assert all(entries[name].plugin == "core.reporters" for name in FORMATS)
    render = entries["markdown"].factory()
    assert render([], []).startswith("| # | Model |")


def test_unknown_format_and_bad_folder_are_one_line_errors(runs, tmp_path):
    res = CliRunner().invoke(cli, ["leaderboard", str(runs["good"]), "--format", "markdwn"])
    assert res.exit_code == 2
    assert "Unknown leaderboard format 'markdwn'. Did you mean: markdown?" in res.output
    assert "Traceback" not in res.output
    (tmp_path / "empty").mkdir()
    res = CliRunner().invoke(cli, ["leaderboard", str(tmp_path / "empty")])
    assert res.exit_code == 1  # a data error; 2 is for usage errors
    assert "neither a run folder nor a folder of run folders" in res.output
    res = CliRunner().invoke(cli, ["leaderboard", str(runs["good"]), "--plot", str(tmp_path / "x.jpg")])
    assert res.exit_code in (1, 2) and "unknown suffix '.jpg'" in res.output


def test_publish_copies_summaries_without_transcripts_or_secrets(runs, tmp_path):
    results = tmp_path / "results"
    dest = publish_run(runs["good"], results, name="good-model")
    assert sorted(p.name for p in dest.iterdir()) == ["run.json", "score_matrix.json", "summary.json"]
    for p in dest.iterdir():
        assert SECRET not in p.read_text()
    assert SECRET not in (runs["good"] / "run.json").read_text()  # the run folder never held it
    assert json.loads((dest / "run.json").read_text())["config"]["judge_options"]["api_key"] == "<redacted>"
    with pytest.raises(Exception, match="already exists"):
        publish_run(runs["good"], results, name="good-model")
    publish_run(runs["weak"], results, name="weak-model")

    # The published copy reports exactly what the original run reports, CI bands included.
    original, published = load_result(runs["good"]), load_result(dest)
    assert published.turn_ci() == original.turn_ci()
    assert published.summary.al == original.summary.al
    strip = ("run",)
    rows_pub = leaderboard_rows(load_results([str(results / "runs")]))[0]
    rows_orig = leaderboard_rows(load_results([str(runs["good"]), str(runs["weak"])]))[0]
    assert [{k: v for k, v in r.items() if k not in strip} for r in rows_pub] == \
        [{k: v for k, v in r.items() if k not in strip} for r in rows_orig]


def test_results_update_regenerates_leaderboard_idempotently(runs, tmp_path):
    results = tmp_path / "results"
    publish_run(runs["good"], results, name="good")
    publish_run(runs["flat"], results, name="flat")
    from aloe_bench.cli.results import command as results_cmd

    res = CliRunner().invoke(results_cmd, ["update", "--results-dir", str(results)])
    assert res.exit_code == 0, res.output
    board = results / "LEADERBOARD.md"
    first = board.read_text()
    assert "aloe-bench results update" in first and "](al_curves.png)" in first
    table = [ln for ln in first.splitlines() if ln.startswith("| ")]
    assert len(table) == 3 and "trend:3:0.4" in table[1] and "trend:3:0" in table[2]
    assert (results / "al_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert (results / "al_curves.svg").is_file()
    update_results(results)
    assert board.read_text() == first


def test_results_command_is_built_in():
    from aloe_bench.cli import cli

    assert set(cli.commands["results"].commands) == {"publish", "update"}


def test_repository_leaderboard_is_up_to_date():
    """results/LEADERBOARD.md must be what `aloe-bench results update` writes from results/runs."""
    board = REPO / "results" / "LEADERBOARD.md"
    assert board.is_file(), "results/LEADERBOARD.md is missing: run `aloe-bench results update`"
    assert board.read_text(encoding="utf-8") == leaderboard_markdown(REPO / "results"), (
        "results/LEADERBOARD.md is stale: run `aloe-bench results update`")


def test_third_party_reporter_gets_the_rows_through_the_cli(runs, with_fake_plugin):
    from tests.helpers import run_cli

    proc = run_cli("leaderboard", str(runs["good"]), str(runs["weak"]), "--format", "fake-format", check=True)
    assert proc.stdout.strip() == "2 rows"


def test_results_command_works_from_the_console_script(runs, tmp_path):
    from tests.helpers import run_cli

    publish_run(runs["weak"], tmp_path / "res", name="weak")
    proc = run_cli("results", "update", "--results-dir", str(tmp_path / "res"), check=True)
    assert "LEADERBOARD.md" in proc.stderr + proc.stdout
    assert "| 1 | trend:2:0.1 (weak) |" in (tmp_path / "res" / "LEADERBOARD.md").read_text()


def test_reporter_example_in_docs_works(runs):
    """The plugin example in docs/reports.md registers a working format."""
    from aloe_bench.plugins import PluginHost

    text = (REPO / "docs" / "reports.md").read_text()
    code = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "aloe_register_reporters" in b)
    namespace: dict = {}
    exec(compile(code, "docs/reports.md", "exec"), namespace)
    plugin = type("DocsPlugin", (), {"aloe_register_reporters": staticmethod(namespace["aloe_register_reporters"])})
    host = PluginHost(load_entrypoints=False, extra_plugins={"docs": plugin()})
    rows, notes = leaderboard_rows(load_results([str(runs["good"]), str(runs["weak"])]))
    out = host.reporters.get("tsv").factory()(rows, notes)
    assert out == f"trend:3:0.4\t{rows[0]['avg']}\ntrend:2:0.1\t{rows[1]['avg']}\n"


def test_judge_ensembles_and_repeats_make_their_own_protocols(aloe_data_dir, tmp_path):
    with pytest.MonkeyPatch.context() as mp:
        host = make_host(aloe_data_dir, mp)
        plain = make_run(tmp_path / "plain", host, turns=2, limit=3)
        twice = make_run(tmp_path / "twice", host, turns=2, limit=3, repeats=2)
        mean = make_run(tmp_path / "mean", host, turns=2, limit=3,
                        judges=[{"spec": "trend:judge"}, {"spec": "scripted"}])
        median = make_run(tmp_path / "median", host, turns=2, limit=3, judge_aggregate="median",
                          judges=[{"spec": "trend:judge"}, {"spec": "scripted"}])
    rows, notes = leaderboard_rows(load_results([str(p) for p in (plain, twice, mean, median)]))
    assert len({r["protocol"] for r in rows}) == 4
    text = " ".join(notes)
    assert "repeats (1 -> 2)" in text
    assert "judge ensemble (None -> mean of j1=trend:judge" in text
    assert "median of j1=trend:judge" in text and "j2=scripted" in text
