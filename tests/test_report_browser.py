"""The HTML report: self-contained, escaped, and working in a real headless browser.

The browser tests drive Debian's ``chromium`` with Playwright (no browser download); they skip
only when chromium or the playwright package is missing locally. CI installs both.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from aloe_bench.cli import cli
from aloe_bench.errors import DataError
from aloe_bench.evaluation.judging import judge_run
from aloe_bench.reporting.report import build_report, script_json
from tests.helpers import chromium_browser
from tests.reporting_runs import XSS_REPLY, make_host, make_run

SCREENSHOT_DIR = Path(os.environ.get("ALOE_BENCH_SCREENSHOT_DIR", "/tmp"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory, aloe_data_dir):
    base = tmp_path_factory.mktemp("report-runs")
    with pytest.MonkeyPatch.context() as mp:
        host = make_host(aloe_data_dir, mp)
        out = {
            "good": make_run(base / "good", host, "trend:3:0.3", turns=5, limit=8,
                             model_options={"api_key": "sk-REPORT-SECRET"}),
            "other": make_run(base / "other", host, "trend:2:0.1", turns=5, limit=8),
            "xss": make_run(base / "xss", host, "trend:xss", turns=3, limit=3),
            "flaky": make_run(base / "flaky", host, "trend:flaky", turns=4, limit=6),
        }
        asyncio.run(judge_run(out["other"], "scripted", host, name="plain"))
        reports = {
            "good": build_report(out["good"], host=host, compare=[out["other"]]),
            "xss": build_report(out["xss"], host=host),
            "flaky": build_report(out["flaky"], host=host),
        }
    out["reports"] = reports
    return out


def test_report_is_self_contained_escaped_and_secret_free(runs):
    page = runs["reports"]["good"].html
    assert runs["reports"]["good"].warnings == []
    # No external resource of any kind: no URL schemes, no src/href outside data: and fragments.
    assert not re.search(r"https?://", page.replace("http-equiv", ""))
    for attr in re.findall(r'(?:src|href)="([^"]*)"', page):
        assert attr.startswith(("data:", "#")), attr
    assert "sk-REPORT-SECRET" not in page
    assert "<redacted>" not in page and "&lt;redacted&gt;" in page
    # The CSP admits exactly the report's own script.
    js = re.search(r"<script>(.*?)</script>", page, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(js.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in page
    assert page.count("<script") == 2


def test_transcript_text_never_appears_as_markup(runs):
    page = runs["reports"]["xss"].html
    for markup in ("<script>window.__pwned", "<img src=x", "</textarea>", "<b>bold"):
        assert markup not in page
    data = re.search(r'<script id="aloe-data" type="application/json">(.*?)</script>', page, re.S).group(1)
    replies = [t["reply"] for c in json.loads(data)["conversations"] for t in c["turns"]]
    assert replies and set(replies) == {XSS_REPLY}
    assert script_json({"x": "</script><!--\u2028"}) == '{"x":"\\u003c/script\\u003e\\u003c!--\\u2028"}'


def test_report_cli_writes_file_and_figures(runs, tmp_path):
    out = tmp_path / "r.html"
    res = CliRunner().invoke(cli, ["report", str(runs["good"]), "--output", str(out), "--compare",
                                   str(runs["other"]), "--figures", str(tmp_path / "figs")])
    assert res.exit_code == 0, res.output
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == [
        "al_curve.png", "al_curve.svg", "heatmap.png", "heatmap.svg"]
    res = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert res.exit_code == 1 and "is not a run folder" in res.output


def test_report_of_published_run_says_transcripts_are_absent(runs, tmp_path):
    from aloe_bench.reporting.publish import publish_run

    dest = publish_run(runs["good"], tmp_path / "results", name="good")
    report = build_report(dest)
    assert any("no transcripts.jsonl" in w for w in report.warnings)
    assert "no transcripts.jsonl" in report.html  # shown on the page too, not only on the console


def test_report_of_a_rescoring_uses_its_scores(runs, aloe_data_dir):
    with pytest.MonkeyPatch.context() as mp:
        host = make_host(aloe_data_dir, mp)
        report = build_report(runs["other"], host=host, judgement="plain")
        with pytest.raises(DataError, match="no re-scoring named 'nope'. Available: plain"):
            build_report(runs["other"], host=host, judgement="nope")
    assert "scores: judgements/plain" in report.html and "judge scripted (turn)" in report.html
    data = json.loads(re.search(r'type="application/json">(.*?)</script>', report.html, re.S).group(1))
    rationales = {s["r"] for c in data["conversations"] for t in c["turns"] for s in t["scores"]}
    assert rationales == {"Scripted rationale."}  # the re-scoring's judge, not the run's own


# -- the real browser ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser(runs):
    """Headless Debian chromium. Depends on ``runs``: Playwright's sync API keeps an event loop
    running, so the runs (asyncio.run) must exist before it starts."""
    with chromium_browser() as b:
        yield b


def _open(browser, html_path: Path):
    """A page showing ``html_path`` offline; returns (page, requests, problems)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, offline=True)
    page = context.new_page()
    requests: list[str] = []
    problems: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.goto(html_path.as_uri())
    page.wait_for_load_state("load")
    return page, requests, problems


def test_report_renders_tables_charts_and_browses_transcripts(browser, runs, tmp_path):
    path = tmp_path / "report.html"
    path.write_text(runs["reports"]["good"].html, encoding="utf-8")
    page, requests, problems = _open(browser, path)

    # Summary table: one row per turn, AL(k) as in summary.json.
    summary = json.loads((runs["good"] / "summary.json").read_text())
    cells = page.locator("table.turns tbody tr").all()
    assert len(cells) == summary["turns"]
    assert [r.locator("td").nth(1).inner_text() for r in cells] == [f"{a:.2f}" for a in summary["al"]]
    assert page.locator("table.lb tbody tr").count() == 2  # the compared runs
    # Charts: decoded images with real size.
    for sel in ("#curve img", "#heatmap img"):
        ok = page.eval_on_selector(sel, "img => img.complete && img.naturalWidth > 300 && img.naturalHeight > 150")
        assert ok, sel
    # Transcript browser: every conversation listed; clicking shows persona and every turn.
    items = page.locator("#conv-items li")
    assert items.count() == 8
    items.nth(2).click()
    view = page.locator("#conv-view")
    persona = items.nth(2).locator(".p").inner_text()
    assert view.locator("h3").inner_text() == f"Persona {persona}"
    assert view.locator(".turn").count() == 5
    assert view.locator(".persona").inner_text().startswith("PROFILE")  # persona texts resolved
    assert view.locator(".score").count() == 5
    assert "Score" in view.locator(".rationale").first.inner_text()
    # Keyboard and filter.
    page.locator("#conv-items").focus()
    page.keyboard.press("ArrowDown")
    assert page.locator("#conv-view h3").inner_text() == f"Persona {items.nth(3).locator('.p').inner_text()}"
    page.fill("#conv-filter", persona)
    assert page.locator("#conv-items li").count() == 1
    page.fill("#conv-filter", "")
    page.select_option("#conv-sort", "high")
    means = [float(t.split()[1]) for t in page.locator("#conv-items li .m").all_inner_texts()]
    assert means == sorted(means, reverse=True)

    page.locator("#transcripts").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOT_DIR / "aloe-report-transcripts.png"))
    page.screenshot(path=str(SCREENSHOT_DIR / "aloe-report.png"), full_page=True)
    assert requests == [path.as_uri()], "the report must not load anything but itself"
    assert problems == []


def test_injected_script_in_a_transcript_does_not_execute(browser, runs, tmp_path):
    path = tmp_path / "xss.html"
    path.write_text(runs["reports"]["xss"].html, encoding="utf-8")
    page, requests, problems = _open(browser, path)
    items = page.locator("#conv-items li")
    assert items.count() == 3
    for i in range(items.count()):
        items.nth(i).click()
        replies = page.locator("#conv-view .msg.reply").all_inner_texts()
        assert replies and all(XSS_REPLY in r for r in replies)  # shown as text, verbatim
        assert page.locator("#conv-view .msg script, #conv-view .msg img, #conv-view .msg b").count() == 0
    page.screenshot(path=str(SCREENSHOT_DIR / "aloe-report-xss.png"))
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert requests == [path.as_uri()]  # not even the <img src=x> was requested
    assert problems == []


def test_failed_turns_and_missing_scores_are_shown(browser, runs, tmp_path):
    path = tmp_path / "flaky.html"
    path.write_text(runs["reports"]["flaky"].html, encoding="utf-8")
    page, requests, problems = _open(browser, path)
    turns = [json.loads(line) for line in (runs["flaky"] / "transcripts.jsonl").read_text().splitlines()]
    failed = {t["persona_id"] for t in turns if t["status"] == "model_failed"}
    assert failed and len(failed) < 6  # some conversations end early, others run to the end
    ended = page.locator("#conv-items li", has_text="ended")
    assert sorted(ended.locator(".p").all_inner_texts()) == sorted(failed)
    ended.first.click()
    view = page.locator("#conv-view")
    assert "ended early at turn 3" in view.locator("p.muted").first.inner_text()
    assert view.locator(".turn").count() == 3
    assert view.locator(".err").inner_text() == "model failed: backend exploded (HTTP 500)"
    assert view.locator(".turn[data-turn='2'] .score.sna").inner_text() == "n/a"
    assert "No valid score" in view.locator(".turn[data-turn='2'] .rationale").inner_text()
    reply = view.locator(".turn[data-turn='1'] .msg.reply").inner_text()
    assert "First line of turn 1.\nSecond line, with  spaces." in reply  # line breaks and spaces kept
    # The summary's missing-score column matches the stored scores.
    summary = json.loads((runs["flaky"] / "summary.json").read_text())
    missing = [r.locator("td").nth(4).inner_text() for r in page.locator("table.turns tbody tr").all()]
    assert missing == [str(m) for m in summary["missing"]] and summary["missing"][1] > 0
    assert problems == [] and requests == [path.as_uri()]
