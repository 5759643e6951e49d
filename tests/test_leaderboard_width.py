"""The HTML leaderboard fits a 1,300-pixel window: no sideways scrolling, in headless Chromium,
with realistic long names (Hub ids, dated API model names), for the standalone page
(``aloe-bench leaderboard --format html``) and the report's table of compared runs.

Like tests/test_report_browser.py, these drive Debian's ``chromium`` with Playwright and skip
only when chromium or the playwright package is missing locally.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from aloe_bench.reporting.leaderboard import ROW_FIELDS, render_html
from aloe_bench.reporting.report import build_report
from tests.helpers import chromium_browser
from tests.reporting_runs import make_host, make_run

SCREENSHOT_DIR = Path(os.environ.get("ALOE_BENCH_SCREENSHOT_DIR", "/tmp"))
WIDTH = 1300

LONG = {"model": "hf:meta-llama/Meta-Llama-3-8B-Instruct", "user": "gpt-4o-mini-2024-07-18",
        "judge": "anthropic/claude-3-5-sonnet-20241022"}


def _row(i: int, **over) -> dict:
    row = dict.fromkeys(ROW_FIELDS)
    row.update(rank=f"A{i + 1}", run=f"run-{i}", model=LONG["model"] + f"-v{i}", user=LONG["user"],
               judge=LONG["judge"], judge_mode="history", personas="aloe-eval", personas_count=100, turns=10,
               avg=3.4217, avg_low=3.3121, avg_high=3.5502, ir=-0.0123, ir_low=-0.0456, ir_high=0.0234,
               n_ir=-0.1234, r2=0.4567, al_first=3.38, al_last=3.46, reply_words=123.45, cost=12.3456,
               missing=0, status="complete", demo_quality=False, extra={}, protocol="A", comparable=True,
               adjusted_avg=3.3811, adjusted_avg_low=3.2504, adjusted_avg_high=3.5123, length_slope=-0.0034,
               reference_words=50.0, rank_low=i + 1, rank_high=i + 1, rank_tied_with=[], separable_from_next=True)
    row.update(over)
    return row


@pytest.fixture(scope="module")
def runs(tmp_path_factory, aloe_data_dir):
    """Two runs whose summaries carry long model, simulator and judge names."""
    base = tmp_path_factory.mktemp("width-runs")
    with pytest.MonkeyPatch.context() as mp:
        host = make_host(aloe_data_dir, mp)
        dirs = [make_run(base / "a", host, "trend:3:0.3", turns=10, limit=4),
                make_run(base / "b", host, "trend:2:0.1", turns=10, limit=4)]
        for i, d in enumerate(dirs):
            summary = json.loads((d / "summary.json").read_text())
            summary.update(model=LONG["model"] + f"-v{i}", user=LONG["user"], judge=LONG["judge"])
            (d / "summary.json").write_text(json.dumps(summary))
        report = build_report(dirs[0], host=host, compare=[dirs[1]])
    return {"dirs": dirs, "report": report}


@pytest.fixture(scope="module")
def browser(runs):
    """Headless Debian chromium (after ``runs``: Playwright's sync API keeps an event loop running)."""
    with chromium_browser() as b:
        yield b


def _page(browser, path: Path):
    context = browser.new_context(viewport={"width": WIDTH, "height": 900}, offline=True)
    page = context.new_page()
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page


def _fits(page, selector: str) -> dict:
    return page.evaluate("""sel => {
        const table0 = document.querySelector('table.lb');
        const el = sel === 'table.lb' ? table0 : table0.closest(sel), doc = document.documentElement;
        const table = el.querySelector('table') || el;
        return {scroll: el.scrollWidth, client: el.clientWidth, table: table.getBoundingClientRect().right,
                docScroll: doc.scrollWidth, docClient: doc.clientWidth};
    }""", selector)


def test_standalone_leaderboard_page_fits_1300_pixels(browser, tmp_path):
    rows = [_row(0, rank="A1–2"), _row(1, rank="A1–3"), *(_row(i) for i in range(2, 5))]  # tied ranks
    rows += [_row(5, rank="B1", protocol="B", comparable=False, n_ir=None,
                  judge="gpt-4o-mini-2024-07-18-with-a-longer-suffix")]
    path = tmp_path / "leaderboard.html"
    path.write_text(render_html(rows, ["Protocol B differs from A in: judge (a -> b)."]), encoding="utf-8")
    page = _page(browser, path)
    page.screenshot(path=str(SCREENSHOT_DIR / "aloe-leaderboard-1300.png"), full_page=True)
    size = _fits(page, "table.lb")
    assert size["docScroll"] <= size["docClient"] == WIDTH, size
    assert size["table"] <= WIDTH, size
    # Every header and value is still shown in full (wrapped, never cut).
    text = page.evaluate("document.querySelector('table.lb').textContent")
    for needle in ("Average [95% CI]", "3.42 [3.31, 3.55]", "Length-adj. Average [95% CI]", "3.38 [3.25, 3.51]", "A1–3",
                   "-0.012 [-0.046, 0.023]", LONG["model"] + "-v0",
                   "gpt-4o-mini-2024-07-18-with-a-longer-suffix"):
        assert needle in text, needle
    # A number never breaks: each value, and each interval, is on one line of its own.
    assert page.evaluate("""() => [...document.querySelectorAll('table.lb td.n')].every(td =>
        [...td.childNodes].every(node => {
            const range = document.createRange();
            range.selectNodeContents(node);
            return node.textContent.trim() === '' || range.getClientRects().length === 1;
        }))""")
    _headers_break_between_words_only(page)


def _headers_break_between_words_only(page):
    """Every word of every header ("Personas", "AL(1)", "[95% CI]") is on one line."""
    broken = page.evaluate("""() => {
        const bad = [];
        for (const th of document.querySelectorAll('table.lb th')) {
            for (const node of th.childNodes) {
                if (node.nodeType !== Node.TEXT_NODE) continue;
                let at = 0;
                for (const word of node.textContent.split(' ')) {
                    const range = document.createRange();
                    range.setStart(node, at);
                    range.setEnd(node, at + word.length);
                    if (word && range.getClientRects().length !== 1) bad.push(word);
                    at += word.length + 1;
                }
            }
        }
        return bad;
    }""")
    assert broken == []


def test_report_compare_table_fits_1300_pixels(browser, runs, tmp_path):
    path = tmp_path / "report.html"
    path.write_text(runs["report"].html, encoding="utf-8")
    page = _page(browser, path)
    page.locator("table.lb").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOT_DIR / "aloe-report-compare-1300.png"))
    size = _fits(page, ".scroll")
    assert size["scroll"] <= size["client"], size  # the table's box does not scroll sideways
    assert size["docScroll"] <= size["docClient"], size
    _headers_break_between_words_only(page)
