"""``aloe-bench agreement``: how well two score sets of the same turns agree (docs/validity.md)."""

from __future__ import annotations

import click


@click.command("agreement",
               short_help="Agreement of two score sets of the same turns (runs, re-scorings, human labels).")
@click.argument("a", type=click.Path())
@click.argument("b", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (keys n, exact, kappa, kappa_quadratic, "
              "spearman, alpha, their intervals under ci, the table, what was excluded).")
@click.option("--resamples", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Bootstrap resamples of conversations behind each 95% interval (0: no intervals).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap.")
def command(a, b, as_json, resamples, seed):
    """Agreement between two score sets A and B of the same turns: exact agreement, Cohen's kappa
    (unweighted and quadratic-weighted over 1-5), Spearman's rho and Krippendorff's alpha
    (ordinal), each with a bootstrap 95% interval over conversations, and the 5x5 table.

    A and B are each a run folder (its scores), a re-scoring inside a run (RUN/judgements/NAME)
    or a human-label CSV (conversation_id,turn,score; recognised by its .csv name). Turns pair by
    (conversation id, turn); null scores and turns scored on one side only are counted and left
    out. Kappa, exact agreement and the table use integer grades (a probability judge's argmax;
    every judge sample of A with every one of B); Spearman and alpha use the raw scores (the mean
    over judge samples).

    \b
    Examples:
      aloe-bench agreement runs/demo runs/demo/judgements/gpt-4o-turn
      aloe-bench export-labels runs/demo --sample 100 --output labels.csv
      aloe-bench agreement runs/demo labels.csv --json
    """
    import json

    from aloe_bench.cli.common import out
    from aloe_bench.validity.agreement import agreement_between

    report = agreement_between(a, b, resamples=resamples, seed=seed)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    _print_report(report, out)


def _print_report(report, out) -> None:
    from rich.markup import escape
    from rich.table import Table

    from aloe_bench.cli.common import fmt
    from aloe_bench.validity.agreement import FIGURES

    names = {"exact": "exact agreement", "kappa": "Cohen's kappa", "kappa_quadratic": "kappa (quadratic)",
             "spearman": "Spearman's rho", "alpha": "Krippendorff's alpha (ordinal)"}
    head = Table(title=f"Agreement: A = {escape(report.a)}  B = {escape(report.b)}")
    for col in ("figure", "value", f"{report.level:.0%} CI"):
        head.add_column(col)
    for key in FIGURES:
        value = getattr(report, key)
        iv = report.ci.get(key) or {}
        ci = f"[{fmt(iv['low'])}, {fmt(iv['high'])}]" if iv.get("low") is not None else ""
        head.add_row(names[key], fmt(value) if value is not None else "undefined", ci)
    out.print(head)
    table = Table(title="grades: rows A, columns B")
    table.add_column("A \\ B", justify="right")
    for j in range(len(report.table)):
        table.add_column(str(j + 1), justify="right")
    for i, row in enumerate(report.table):
        table.add_row(str(i + 1), *(str(x) for x in row))
    out.print(table)
    pairs = f", {report.pairs} grade pairs" if report.pairs != report.n else ""
    out.print(f"{report.n} paired turns in {report.conversations} conversations{pairs}; "
              f"intervals from {report.resamples} resamples of conversations (seed {report.seed}).")
    for side, label in (("a", "A"), ("b", "B")):
        ex = report.excluded[side]
        if ex["null"] or ex["unpaired"]:
            out.print(f"Left out of {label}: {ex['null']} null score(s), {ex['unpaired']} turn(s) the other side has "
                      "no score for.")
    for key, why in report.undefined.items():
        out.print(f"{names[key]} is undefined: {escape(why)}.")
