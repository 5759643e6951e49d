"""``aloe-bench report``: one run as a single self-contained, static HTML file.

The page holds a summary (metric cards, AL(k) per turn), the alignment curve and the
per-persona heatmap (SVG embedded as ``data:`` images), the run's setup, and a transcript
browser (persona, every turn, judge score and rationale). A run with a profile measurement
(``--profile-probe``, ``--reply-format rlpa``) also gets its PF1(k) curve beside the alignment
curve, PF1 in the cards and the per-turn table, and each turn's inferred profile in the browser. A
run with a persona drift (``--drift-at K``, docs/drift.md) gets a dotted marker at K on its curves,
its recovery figures in the cards, PF1 against the old and the new profile (with a probe), and
the change shown in the browser at turn K. The cards show the length-adjusted Average beside the
Average (docs/validity.md).
Nothing is loaded from the network.

Safety: every text from models, simulators, judges and persona files is escaped. Server-side
parts go through :func:`html.escape`; the transcripts travel as JSON inside a
``<script type="application/json">`` element with ``<``, ``>`` and ``&`` written as ``\\u`` escapes,
and the browser script puts them on the page with ``textContent`` only. A Content-Security-Policy
allows images from ``data:`` and only the report's own script (by hash), so even markup that
slipped through could not run or fetch anything.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import html
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

from aloe_bench import __version__
from aloe_bench.errors import AloeBenchError
from aloe_bench.records import RunSpec, RunSummary
from aloe_bench.reporting.leaderboard import TABLE_STYLE, html_table, is_demo, leaderboard_rows, num
from aloe_bench.reporting.results import RunResult, load_result
from aloe_bench.secrets import redact, redact_text
from aloe_bench.evaluation.run_folder import atomic_write_text


@dataclass
class HtmlReport:
    """A rendered report and the warnings met while building it (shown to the user by the CLI)."""

    html: str
    warnings: list[str] = field(default_factory=list)


def script_json(data: Any) -> str:
    """``data`` as JSON that is safe inside a ``<script>`` element (no ``<``, ``>``, ``&``)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _template(name: str) -> str:
    return resources.files("aloe_bench.reporting").joinpath("templates", name).read_text(encoding="utf-8")


def _fill(template: str, values: dict[str, str]) -> str:
    # One pass: text substituted in is never scanned again for placeholders.
    return re.sub(r"\{\{([A-Z_]+)\}\}", lambda m: values[m.group(1)], template)


def _img(svg: bytes, alt: str, caption: str, cls: str = "") -> str:
    uri = "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")
    return (f'<figure class="{cls}"><img src="{uri}" alt="{html.escape(alt)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _card(key: str, value: str, ci: str = "") -> str:
    ci_html = f'<div class="ci">{html.escape(ci)}</div>' if ci else ""
    return (f'<div class="card"><div class="k">{html.escape(key)}</div>'
            f'<div class="v">{html.escape(value)}</div>{ci_html}</div>')


def _cards(result: RunResult) -> str:
    s = result.summary
    avg_ci, ir_ci = s.ci.get("avg"), s.ci.get("ir")

    def ci_text(iv, digits):
        return f"95% CI [{num(iv.low, digits)}, {num(iv.high, digits)}]" if iv and iv.low is not None else ""

    scored = [a for a in s.al if a is not None]
    rng = max(scored) - min(scored) if scored else None
    words = [w for w in s.reply_length if w is not None]
    cost = sum(u.cost for u in s.usage.values()) if s.usage else None
    pf1 = []
    if s.pf1 is not None:
        source = "probe after each turn" if s.pf1_source == "probe" else "profiles in the replies"
        pf1 = [_card("Average PF1", num(s.pf1_avg, 3), ci_text(s.ci.get("pf1_avg"), 3) or source),
               _card("PF1(1) → PF1(K)", f"{num(s.pf1[0] if s.pf1 else None, 2)} → "
                                        f"{num(s.pf1[-1] if s.pf1 else None, 2)}",
                     f"slope {num(s.pf1_ir, 3)}"),
               _card("Malformed profiles", str(s.pf1_malformed or 0),
                     "counted as F1 0" + (f"; {s.reply_malformed} malformed replies" if s.reply_malformed else ""))]
    drift = []
    if s.drift is not None:
        d = s.drift
        drift = [_card(f"Drift at turn {d.at}", f"{num(d.before, 2)} → {num(d.at_k, 2)}",
                       f"{d.kind}; AL before K → AL(K); drop {num(d.drop, 2)}"
                       + (f", {ci_text(d.ci.get('drop'), 2)}" if ci_text(d.ci.get("drop"), 2) else "")),
                 _card("Recovery slope", num(d.recovery, 3), ci_text(d.ci.get("recovery"), 3) or "AL(k) for k ≥ K"),
                 _card("Turns to recover", "never" if d.turns_to_recover is None else str(d.turns_to_recover),
                       f"until AL(k) ≥ AL before (k ≥ {d.at})")]
    length = []
    figures = result.length_figures()
    if figures is not None:  # docs/validity.md
        at = f"at {figures.reference_words:g} words per reply"
        length = [_card("Length-adj. Average", num(figures.adjusted_avg, 2),
                        f"{at}; slope {num(figures.slope, 4)}/word"
                        + (f", {ci_text(figures.ci.get('adjusted_avg'), 2)}" if figures.ci.get("adjusted_avg") else "")
                        if figures.slope is not None else f"undefined: {figures.undefined}")]
    validity = []  # docs/validity.md: what the judges and the repeats say about the figures above
    if s.judges is not None:
        members = ", ".join(f"{m.name} {num(m.avg, 2)}" for m in s.judges.members)
        agree = s.judges.mean_agreement
        validity.append(_card(f"Judges ({s.judges.aggregate} of {len(s.judges.members)})", members,
                              f"members' Average; quadratic kappa {num(agree.get('kappa_quadratic'), 2)}, "
                              f"alpha {num(agree.get('alpha'), 2)}"))
    if s.repeats is not None:
        spread = s.repeats.spread.get("avg")
        validity.append(_card(f"Repeats ({s.repeats.count})", num(spread.sd if spread else None, 3),
                              "sd of the Average over repeats; range "
                              f"{num(spread.min if spread else None, 2)}–{num(spread.max if spread else None, 2)}"))
    repeats = f" × {s.repeats.count} repeats" if s.repeats is not None else ""
    return "".join([
        _card("Average AL", num(s.avg, 2), ci_text(avg_ci, 2)),
        *length,
        _card("IR (slope)", num(s.ir, 3), ci_text(ir_ci, 3)),
        _card("N-IR", num(s.n_ir, 3) if s.n_ir is not None else "undefined",
              "" if s.n_ir is not None else "flat curve"),
        _card("R²", num(s.r2, 3)),
        _card("AL(1) → AL(K)", f"{num(s.al[0] if s.al else None, 2)} → {num(s.al[-1] if s.al else None, 2)}",
              f"range {num(rng, 2)}"),
        _card("Personas", str(s.personas_count), f"{s.turns} turns each{repeats}"),
        _card("Missing scores", str(sum(s.missing))),
        _card("Words / reply", num(sum(words) / len(words) if words else None, 1)),
        _card("Cost", f"${cost:.2f}" if cost is not None else "—"),
        *pf1,
        *drift,
        *validity,
    ])


def _turn_table(result: RunResult) -> str:
    s = result.summary
    low, high = result.turn_ci()
    pf1 = s.pf1 is not None
    plow, phigh = result.pf1_turn_ci() if pf1 else ([], [])

    def at(values, k):
        return values[k] if values is not None and k < len(values) else None

    drift = s.drift
    two = drift is not None and drift.pf1_old is not None  # PF1 against the old and the new profile
    rows = []
    for k in range(s.turns):
        length = s.reply_length[k] if k < len(s.reply_length) else None
        mark = " (drift)" if drift is not None and k + 1 == drift.at else ""
        ci = f"[{num(low[k], 2)}, {num(high[k], 2)}]" if low[k] is not None else "—"
        extra = ""
        if pf1:
            pci = f"[{num(plow[k], 2)}, {num(phigh[k], 2)}]" if at(plow, k) is not None else "—"
            extra = (f'<td class="n">{num(at(s.pf1, k), 3)}</td><td class="n">{pci}</td>'
                     f'<td class="n">{num(at(s.pf1_precision, k), 3)}</td><td class="n">{num(at(s.pf1_recall, k), 3)}</td>'
                     f'<td class="n">{at(s.pf1_n, k) if at(s.pf1_n, k) is not None else "—"}</td>')
        if two:
            extra += (f'<td class="n">{num(at(drift.pf1_old, k), 3)}</td>'
                      f'<td class="n">{num(at(drift.pf1_new, k), 3)}</td>')
        cls = ' class="drift"' if mark else ""
        rows.append(f'<tr{cls}><td class="n">{k + 1}{mark}</td><td class="n">{num(s.al[k], 2)}</td>'
                    f'<td class="n">{ci}</td>'
                    f'<td class="n">{s.n[k]}</td><td class="n">{s.missing[k]}</td>'
                    f'<td class="n">{num(length, 1)}</td>{extra}</tr>')
    head = ('<th class="n">PF1(k)</th><th class="n">PF1 95% CI</th><th class="n">Precision</th>'
            '<th class="n">Recall</th><th class="n">Profiles</th>') if pf1 else ""
    if two:
        head += '<th class="n">PF1 old profile</th><th class="n">PF1 new profile</th>'

    return ('<div class="scroll"><table class="turns"><thead><tr><th class="n">Turn k</th><th class="n">AL(k)</th>'
            '<th class="n">95% CI</th><th class="n">N(k)</th><th class="n">Missing</th>'
            f'<th class="n">Words / reply</th>{head}</tr></thead><tbody>' + "".join(rows) + "</tbody></table></div>")


def _kv_table(pairs: Sequence[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in pairs)
    return f'<div class="scroll"><table class="kv"><tbody>{body}</tbody></table></div>'


def _setup(result: RunResult) -> str:
    s, spec = result.summary, result.spec
    general = _kv_table([
        ("Run", result.name), ("Model under test", s.model), ("User simulator", s.user),
        ("Judge", f"{s.judge} ({s.judge_mode} mode)"),
        ("Personas", f"{s.personas_source}: {s.personas_count} (content hash {spec.personas_hash})"),
        ("Turns", str(s.turns)), ("Seed", str(spec.seed)), ("Config hash", spec.config_hash),
        ("Started / finished", f"{spec.started} / {spec.finished or '—'}"),
        ("aloe-bench", spec.aloe_bench_version),
        ("Plugins", ", ".join(f"{k} {v}".strip() for k, v in sorted(spec.plugin_versions.items())) or "—"),
    ])
    comp_rows = []
    for c in s.components:
        prompts = ", ".join(f"{k}={v}" for k, v in sorted(c.prompt_hashes.items())) or "—"
        options = json.dumps(redact(c.options), sort_keys=True, ensure_ascii=False)
        comp_rows.append(f"<tr><td>{html.escape(c.role)}</td><td>{html.escape(c.spec)}</td>"
                         f"<td>{html.escape(c.kind or '—')}</td><td>{html.escape(prompts)}</td>"
                         f"<td><code>{html.escape(options)}</code></td></tr>")
    components = ('<h3>Components</h3><div class="scroll"><table><thead><tr><th>Role</th><th>Spec</th>'
                  "<th>Protocol</th><th>Prompt hashes</th><th>Options</th></tr></thead><tbody>"
                  + "".join(comp_rows) + "</tbody></table></div>")
    use_rows = "".join(
        f'<tr><td>{html.escape(role)}</td><td class="n">{u.calls}</td><td class="n">{u.cached_calls}</td>'
        f'<td class="n">{u.prompt_tokens}</td><td class="n">{u.completion_tokens}</td>'
        f'<td class="n">{u.cost:.4f}</td></tr>' for role, u in s.usage.items())
    usage = ('<h3>Usage</h3><div class="scroll"><table><thead><tr><th>Role</th><th class="n">Calls</th>'
             '<th class="n">Cached</th><th class="n">Tokens in</th><th class="n">Tokens out</th>'
             f'<th class="n">Cost ($)</th></tr></thead><tbody>{use_rows}</tbody></table></div>') if use_rows else ""
    metric_rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td><code>{html.escape(json.dumps(value, ensure_ascii=False))}</code></td></tr>"
        for name, value in sorted(s.extra.items()))
    metrics = ('<h3>Plugin metrics</h3><div class="scroll"><table><thead><tr><th>Metric</th><th>Value</th></tr>'
               f"</thead><tbody>{metric_rows}</tbody></table></div>") if metric_rows else ""
    config = json.dumps(redact(spec.config), indent=2, sort_keys=True, ensure_ascii=False)
    return (general + components + metrics + usage
            + f"<details><summary>Configuration (run.json)</summary><pre class=\"scroll\">{html.escape(config)}"
              "</pre></details>")


def transcript_data(result: RunResult, host=None) -> tuple[dict[str, Any], list[str]]:
    """The transcript browser's data (conversations in persona order) and warnings.

    Persona texts come from the run's personas.jsonl (older runs: the run's persona source; when
    that cannot be loaded here the browser shows persona ids only, and a warning says why).
    """
    warnings: list[str] = []
    if not result.has_transcripts():
        return {"conversations": []}, [f"{result.name} has no transcripts.jsonl (published results keep "
                                       "summaries only): the transcript browser is empty."]
    turns = result.read_turns()
    scores = result.read_scores()
    expected = result.spec.personas_count * result.summary.turns
    have = sum(t.status == "ok" for t in turns)
    if have < expected:
        warnings.append(f"{result.name}: transcripts.jsonl holds {have} of {expected} turns "
                        f"({result.spec.personas_count} personas x {result.summary.turns}); the browser shows what "
                        "is stored.")
    personas: dict[str, Any] = {}
    stored = result.store.read_personas()  # runs are self-contained: their personas travel with them
    if stored is not None:
        personas = {p.id: p for p in stored}
    else:
        try:
            from aloe_bench.personas import load_personas

            personas = {p.id: p for p in load_personas(result.spec.personas_source, host)}
        except AloeBenchError as exc:
            warnings.append(f"Persona texts unavailable ({exc.message}); showing persona ids only.")
    by_conv: dict[str, dict[str, Any]] = {}
    for t in sorted(turns, key=lambda t: t.turn):
        conv = by_conv.setdefault(t.conversation_id, {"id": t.conversation_id, "persona": t.persona_id, "turns": []})
        conv["turns"].append({"k": t.turn, "user": t.user, "reply": t.reply, "status": t.status,
                              "error": redact_text(t.error) if t.error else t.error, "scores": []})
        if t.active_persona_id is not None:  # a persona drift: who was played at this turn
            conv["turns"][-1]["active"] = t.active_persona_id
    index = {(c["id"], t["k"]): t for c in by_conv.values() for t in c["turns"]}
    for sc in sorted(scores, key=lambda s: s.sample):
        t = index.get((sc.conversation_id, sc.turn))
        if t is not None:
            t["scores"].append({"s": sc.score, "r": sc.rationale or sc.raw, "sample": sc.sample})
    for turn in turns:  # an rlpa output, whole, and its format problem (its profile is shown with the probes)
        t = index.get((turn.conversation_id, turn.turn))
        if t is not None and turn.output is not None:
            t["output"] = turn.output
        if t is not None and turn.malformed:
            t["malformed"] = turn.malformed
    if result.has_pf1 and result.store.probes_path.is_file():
        for r in result.store.read_probes()[0]:
            t = index.get((r.conversation_id, r.turn))
            if t is not None:
                t["profile"] = {"source": r.source, "status": r.status, "lines": r.inferred, "f1": r.f1,
                                "covered": r.covered, "golden": r.golden, "malformed": r.malformed,
                                "error": redact_text(r.error) if r.error else None}
    drifted = {p.id: p for p in result.store.read_drift_personas() or []}
    order = {pid: i for i, pid in enumerate(personas)}
    convs = sorted(by_conv.values(), key=lambda c: (order.get(c["persona"], len(order)), c["persona"]))
    for c in convs:
        p = personas.get(c["persona"])
        c["profile"] = p.profile if p else None
        c["personality"] = p.personality if p else None
        per_turn = [sum(v) / len(v) for t in c["turns"]
                    if (v := [s["s"] for s in t["scores"] if s["s"] is not None])]
        c["mean"] = sum(per_turn) / len(per_turn) if per_turn else None
        c["n_scored"] = len(per_turn)
        failed = [t["k"] for t in c["turns"] if t["status"] != "ok"]
        c["ended"] = failed[0] if failed else None
        change = next((t for t in c["turns"] if t.get("active") not in (None, c["persona"])), None)
        if change is not None:  # the persona the user drifted to, shown from that turn on
            q = drifted.get(change["active"]) or personas.get(change["active"])
            c["drift"] = {"at": change["k"], "persona": change["active"], "profile": q.profile if q else None,
                          "personality": q.personality if q else None}
    return {"conversations": convs}, warnings


def redacted_result(result: RunResult) -> RunResult:
    """A copy of ``result`` whose run spec and summary went through :func:`~aloe_bench.secrets.redact`:
    reports are shared, so whatever a run folder holds, no secret reaches the page."""
    spec = RunSpec.model_validate(redact(result.spec.model_dump(mode="json")))
    summary = RunSummary.model_validate(redact(result.summary.model_dump(mode="json")))
    return dataclasses.replace(result, spec=spec, summary=summary)


def build_report(path: str | Path, *, host=None, judgement: str | None = None,
                 compare: Sequence[str | Path] = ()) -> HtmlReport:
    """Render the report of the run in ``path`` (``judgement`` picks a re-scoring; ``compare``
    adds other runs' curves to the alignment chart and a leaderboard of them all)."""
    from aloe_bench.reporting.plots import (curves_figure, drift_pf1_figure, figure_bytes, heatmap_figure,
                                            pf1_curves_figure)

    result = load_result(path, judgement)
    data, warnings = transcript_data(result, host)  # reads the run's own (unredacted) persona source
    warnings = [redact_text(w) for w in warnings]
    result = redacted_result(result)
    others = [redacted_result(load_result(p)) for p in compare]
    s = result.summary

    curve_runs = [result, *others]
    drift_note = (f" Dotted line: the persona drift at turn {s.drift.at} ({s.drift.kind}); from there on each reply "
                  "is judged against the changed persona." if s.drift is not None else "")
    curve = _img(figure_bytes(curves_figure(curve_runs)), f"AL(k) curve of {s.model}",
                 ("Mean judge score per turn; shaded: 95% bootstrap interval over personas."
                  if result.matrix is not None else "Mean judge score per turn.") + drift_note, "curve")
    if result.has_pf1:  # PF1(k) beside AL(k): how much of the user the model has understood
        how = ("asked by a probe after each turn" if s.pf1_source == "probe"
               else "written by the model with each reply")
        pf1 = _img(figure_bytes(pf1_curves_figure(curve_runs)), f"PF1(k) curve of {s.model}",
                   f"Mean profile F1 per turn (the model's inferred profile, {how}, against the persona's golden "
                   "facts); shaded: 95% bootstrap interval over personas." + drift_note, "curve pf1")
        if s.drift is not None and s.drift.pf1_old is not None:
            pf1 += _img(figure_bytes(drift_pf1_figure(result)), f"PF1(k) against the old and the new profile of {s.model}",
                        "Mean profile F1 per turn against the starting persona's golden facts and against the "
                        "drifted persona's: how fast stale facts are dropped and new ones learned.", "curve pf1")
        curve = f'<div class="curves">{curve}{pf1}</div>'
    elif any(r.has_pf1 for r in others):
        warnings.append(f"{result.name} has no profile measurement: no PF1(k) curve.")
    if result.matrix is not None and result.matrix.values.size:
        heat = _img(figure_bytes(heatmap_figure(result)), f"Per-persona scores of {s.model}",
                    "Judge score per persona and turn (mean over judge samples); grey: no score.", "heat")
    else:
        heat = '<p class="muted">No per-conversation scores in this folder.</p>'
        warnings.append(f"{result.name}: no per-conversation scores, so no heatmap.")
    compare_html = ""
    if others:
        rows, notes = leaderboard_rows(curve_runs)
        notes_html = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
        compare_html = (f'<h3>Compared runs</h3><div class="scroll">{html_table(rows)}</div>'
                        + (f'<ul class="muted">{notes_html}</ul>' if notes else ""))

    banners = []
    if not result.complete:
        banners.append(result.status_note() + " Its numbers do not cover the whole benchmark.")
    if is_demo(result):
        banners.append("Demo-quality protocol: a backend that its provider declares demo quality (e.g. the embedded "
                       "SmolLM2) simulated the user and/or judged. These scores are not comparable with the "
                       "paper's (GPT-4o as simulator and judge).")
    banners += warnings
    js = _template("report.js")
    csp = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
           f"script-src 'sha256-{base64.b64encode(hashlib.sha256(js.encode()).digest()).decode()}'; "
           "base-uri 'none'; form-action 'none'")
    judge_note = f" · scores: judgements/{result.judgement}" if result.judgement else ""
    page = _fill(_template("report.html"), {
        "CSP": csp, "VERSION": html.escape(__version__), "CSS": _template("report.css") + TABLE_STYLE,
        "TITLE": html.escape(f"ALOE report: {s.model}"),
        "HEADING": html.escape(f"ALOE report: {s.model}"),
        "SUBTITLE": html.escape(f"user {s.user} · judge {s.judge} ({s.judge_mode}) · {s.personas_source} × "
                                f"{s.personas_count} personas · {s.turns} turns · run {result.name}{judge_note}"),
        "BANNERS": "".join(f'<p class="banner warn">{html.escape(b)}</p>' for b in banners),
        "CARDS": _cards(result), "TURN_TABLE": _turn_table(result), "COMPARE_TABLE": compare_html,
        "CURVE": curve, "HEATMAP": heat, "SETUP": _setup(result),
        "CURVE_TITLE": "Alignment and profile-inference curves" if result.has_pf1 else "Alignment curve",
        "RUN_NAME": html.escape(result.name), "DATA": script_json(data), "JS": js,
    })
    return HtmlReport(page, warnings)


def write_report(path: str | Path, output: str | Path, **options) -> HtmlReport:
    """:func:`build_report`, written atomically to ``output`` (readable as the umask allows:
    reports are meant to be shared)."""
    import os

    report = build_report(path, **options)
    output = Path(output)
    atomic_write_text(output, report.html)
    umask = os.umask(0)
    os.umask(umask)
    output.chmod(0o666 & ~umask)
    return report
