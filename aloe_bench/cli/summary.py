"""The short summary table printed at the end of a run."""

from __future__ import annotations

from aloe_bench.cli.common import console, fmt, out
from aloe_bench.errors import EXIT_INCOMPLETE
from aloe_bench.records import RunSummary


def exit_for_status(s: RunSummary, resume_cmd: str) -> None:
    """An incomplete run prints what failed and how to resume it, then exits with code 3; a
    complete run returns (exit code 0). Unreadable judge answers are reported either way."""
    from rich.markup import escape

    if s.status == "complete":
        if s.failures.scores.get("unreadable"):
            console.print(f"[yellow]Note:[/] {s.failures.scores['unreadable']} judge answer(s) stayed unreadable "
                          "after the re-asks (null scores, not counted in AL).")
        if s.failures.probes.get("unreadable"):
            console.print(f"[yellow]Note:[/] {s.failures.probes['unreadable']} coverage count(s) stayed unreadable "
                          "after the re-asks (not counted in PF1).")
        return
    console.print("[bold red]Incomplete run:[/] these numbers do not cover the whole benchmark.")
    if s.stopped == "max_cost":
        console.print("  - stopped at --max-cost: the spend reached the limit (resume with a higher --max-cost)")
    for line in s.failures.lines():
        console.print(f"  - {escape(line)}")
    console.print(f"Resume with:\n  {escape(resume_cmd)}")
    raise SystemExit(EXIT_INCOMPLETE)


def print_summary(s: RunSummary) -> None:
    """AL(k)/N(k) per turn (and PF1(k) in runs with a profile measurement), then Average, the
    length-adjusted Average and the score-length slope, IR, N-IR, R2 (and the PF1 figures) with
    CIs, then usage per role."""
    from rich.table import Table

    flag = "" if s.status == "complete" else f"  [{s.status.upper()}]"
    curve = Table(title=f"ALOE: {s.model}  (user {s.user}, judge {s.judge}/{s.judge_mode}, "
                        f"{s.personas_count} personas){flag}")
    curve.add_column("turn k", justify="right")
    curve.add_column("AL(k)", justify="right")
    curve.add_column("N(k)", justify="right")
    curve.add_column("missing", justify="right")
    curve.add_column("reply words", justify="right")
    pf1 = s.pf1 is not None
    if pf1:
        curve.add_column("PF1(k)", justify="right")
        curve.add_column("precision", justify="right")
        curve.add_column("recall", justify="right")
    for k in range(s.turns):
        length = s.reply_length[k] if k < len(s.reply_length) else None
        row = [str(k + 1), fmt(s.al[k]), str(s.n[k]), str(s.missing[k]), fmt(length, 1)]
        if pf1:
            row += [fmt(_at(s.pf1, k)), fmt(_at(s.pf1_precision, k)), fmt(_at(s.pf1_recall, k))]
        curve.add_row(*row)
    out.print(curve)

    def ci(name, intervals=None, digits=3):
        iv = (s.ci if intervals is None else intervals).get(name)
        return f"[{fmt(iv.low, digits)}, {fmt(iv.high, digits)}]" if iv and iv.low is not None else ""

    head = Table(show_header=True)
    for col in ("metric", "value", "95% CI"):
        head.add_column(col)
    head.add_row("Average AL", fmt(s.avg), ci("avg"))
    if s.length is not None:  # docs/validity.md
        n = s.length
        label = f"Length-adj. Avg ({n.reference_words:g} words)"
        if n.slope is None:
            head.add_row(label, f"undefined: {n.undefined}", "")
        else:
            head.add_row(label, fmt(n.adjusted_avg), ci("adjusted_avg", n.ci))
            head.add_row("Length slope (per word)", f"{fmt(n.slope, 4)} (r {fmt(n.r)})", ci("slope", n.ci, 4))
    head.add_row("IR (slope)", fmt(s.ir, 4), ci("ir"))
    head.add_row("N-IR", fmt(s.n_ir, 4) if s.n_ir is not None else "undefined (flat curve)", "")
    head.add_row("R2", fmt(s.r2), "")
    if s.al_range is not None:
        head.add_row("AL(1) / AL(K) / range", f"{fmt(s.al_first)} / {fmt(s.al_last)} / {fmt(s.al_range)}", "")
    if pf1:
        source = "probe" if s.pf1_source == "probe" else "profile in the replies"
        head.add_row(f"Average PF1 ({source})", fmt(s.pf1_avg), ci("pf1_avg"))
        head.add_row("PF1 slope", fmt(s.pf1_ir, 4), ci("pf1_ir"))
        head.add_row("Malformed profiles (F1 = 0)", str(s.pf1_malformed or 0), "")
        if s.pf1_unreadable:
            head.add_row("Unreadable coverage counts (left out)", str(s.pf1_unreadable), "")
        if s.reply_malformed is not None:
            head.add_row("Malformed replies (rlpa format)", str(s.reply_malformed), "")
    out.print(head)
    if s.usage:
        use = Table(title="usage")
        for col in ("role", "calls", "cached", "tokens in", "tokens out", "cost $"):
            use.add_column(col, justify="right" if col != "role" else "left")
        for role, u in s.usage.items():
            use.add_row(role, str(u.calls), str(u.cached_calls), str(u.prompt_tokens), str(u.completion_tokens),
                        f"{u.cost:.4f}")
        out.print(use)


def _at(values: list | None, k: int):
    """``values[k]``, or None past its end (or without values)."""
    return values[k] if values is not None and k < len(values) else None
