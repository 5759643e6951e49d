"""Leaderboards: finished runs -> rows -> text in a registered format.

:func:`leaderboard_rows` turns results (see :mod:`aloe_bench.reporting.results`) into one plain dict
per run, sorted by Average AL, plus notes. Runs are ranked only against runs of the same
*protocol* (user simulator, judge, judge mode, persona set, turns, prompt versions, the model's
reply format, whether a profile probe ran and the persona drift): when the runs given use several protocols, every
row carries its protocol letter, ranks restart per protocol (``A1``, ``A2``, ``B1``) and a note
names the differing settings, instead of ranking runs that cannot be compared silently together.
Runs with a profile measurement show their Average PF1 (``pf1_avg``) in a PF1 column; runs that
all drift the same way (``--drift-at``, docs/drift.md) show their recovery figures in drift columns.
Beside the Average stands the length-adjusted Average (the Average at
:data:`~aloe_bench.validity.length.REFERENCE_REPLY_WORDS` words per reply, docs/validity.md).

**Tied ranks.** Within one protocol every two runs are compared by the paired difference of their
Average over the personas both hold (:func:`~aloe_bench.metrics.paired_difference`: a percentile
bootstrap that draws the shared personas once for both runs; :data:`TIE_RESAMPLES` resamples,
seeded, so the same runs always give the same ranks). Two runs whose 95% interval contains 0 are
*not separable*; a run's rank is then the range from the best to the worst position among itself
and the runs it is not separable from (``2–3``; ``A1–3`` with protocol letters). Runs of different
protocols, and runs without a score matrix, are never compared.

Row keys (:data:`ROW_FIELDS`), the contract for reporter plugins::

    rank (str), run, model, user, judge, judge_mode, personas, personas_count, turns,
    avg, avg_low, avg_high, ir, ir_low, ir_high, n_ir, r2, al_first, al_last,
    reply_words, cost, missing, status, demo_quality (bool), extra (dict: the plugin metrics of
    the run's summary, by metric name), protocol, comparable (bool), pf1_avg, pf1_avg_low,
    pf1_avg_high (None for runs without a profile measurement), drift_at, drift_kind,
    drift_before, drift_at_k, drift_drop, drift_recovery, drift_recovery_low, drift_recovery_high,
    drift_turns_to_recover (None for runs without a persona drift; docs/drift.md), regress (the
    mean of the primary metrics in the run folder's regress.json, from ``aloe-bench regress``,
    docs/lmeval.md), regress_tasks (dict: task -> its primary metric; None without regress.json),
    adjusted_avg, adjusted_avg_low, adjusted_avg_high (the length-adjusted Average and its 95%
    interval), length_slope (score points per word), reference_words (None without length figures:
    a published summary written before aloe-bench recorded them), rank_low, rank_high (int: the
    range of positions within the protocol the run cannot be told from; equal when it is separable
    from every other run), rank_tied_with (list of the run names it is not separable from),
    separable_from_next (bool: separable from the run ranked next in its protocol; None for the
    last, or when the two were not compared)

``status`` is the run's ``complete`` / ``incomplete`` / ``unknown``; only complete runs get a
rank (``—`` otherwise).

Numbers are floats or None (undefined, e.g. N-IR of a flat curve). :data:`FORMATS` holds the
built-in renderers ``render(rows, notes) -> str``, registered as reporters by
:mod:`aloe_bench.default_plugins.reporters`.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from typing import Any, Callable, Sequence

from aloe_bench.reporting.results import RunResult

ROW_FIELDS = ("rank", "run", "model", "user", "judge", "judge_mode", "personas", "personas_count", "turns",
              "avg", "avg_low", "avg_high", "ir", "ir_low", "ir_high", "n_ir", "r2", "al_first", "al_last",
              "reply_words", "cost", "missing", "status", "demo_quality", "extra", "protocol", "comparable",
              "pf1_avg", "pf1_avg_low", "pf1_avg_high")
#: Row fields of runs with a persona drift (docs/drift.md; None for runs without one).
DRIFT_ROW_FIELDS = ("drift_at", "drift_kind", "drift_before", "drift_at_k", "drift_drop", "drift_recovery",
                    "drift_recovery_low", "drift_recovery_high", "drift_turns_to_recover")
ROW_FIELDS += DRIFT_ROW_FIELDS
#: Row fields of runs whose folder holds a regress.json (docs/lmeval.md; None for runs without one).
REGRESS_ROW_FIELDS = ("regress", "regress_tasks")
ROW_FIELDS += REGRESS_ROW_FIELDS
#: Row fields of the length control (docs/validity.md; None for runs without length figures).
LENGTH_ROW_FIELDS = ("adjusted_avg", "adjusted_avg_low", "adjusted_avg_high", "length_slope", "reference_words")
ROW_FIELDS += LENGTH_ROW_FIELDS
#: Row fields of the tied ranks (see the module docstring; None and [] for unranked runs).
TIE_ROW_FIELDS = ("rank_low", "rank_high", "rank_tied_with", "separable_from_next")
ROW_FIELDS += TIE_ROW_FIELDS

#: Bootstrap resamples of the paired difference that decides tied ranks (the default of
#: :func:`leaderboard_rows` and ``aloe-bench leaderboard --resamples``).
TIE_RESAMPLES = 1000
#: Seed of those resamples (``--seed``): every pair of runs is drawn with it.
TIE_SEED = 0
#: The confidence level of the paired difference: an interval containing 0 is a tie.
TIE_LEVEL = 0.95

#: Settings that must match for two runs to be ranked together, with their display names.
PROTOCOL_FIELDS = {
    "user": "user simulator", "user_protocol": "simulator protocol", "user_prompts": "simulator prompts",
    "judge": "judge", "judge_protocol": "judge protocol", "judge_mode": "judge mode",
    "judge_prompts": "judge prompts",
    "personas": "persona source", "personas_count": "persona count", "personas_hash": "persona contents",
    "turns": "turns", "reply_format": "reply format", "profile_probe": "profile probe",
    "drift": "persona drift", "judges": "judge ensemble", "repeats": "repeats",
}

def is_demo(result: RunResult) -> bool:
    """True when the run's simulator or judge backend declared itself demo quality (recorded in
    run.json / summary.json components by the provider, not known to the core by name)."""
    return any(c.demo_quality for c in result.summary.components if c.role in ("user", "judge"))

Renderer = Callable[[list[dict[str, Any]], list[str]], str]


def protocol_of(result: RunResult) -> dict[str, Any]:
    """The settings of ``result`` that define its protocol (see :data:`PROTOCOL_FIELDS`)."""
    s = result.summary
    comps = {c.role: c for c in s.components}
    judge, user = comps.get("judge"), comps.get("user")
    config = result.spec.config
    return {
        "user": s.user, "user_protocol": user.kind if user else config.get("user_protocol"),
        "user_prompts": dict(sorted(user.prompt_hashes.items())) if user else {},
        "judge": s.judge, "judge_protocol": judge.kind if judge else config.get("judge_protocol"),
        "judge_mode": s.judge_mode,
        "judge_prompts": dict(sorted(judge.prompt_hashes.items())) if judge else {},
        "personas": s.personas_source, "personas_count": s.personas_count,
        "personas_hash": result.spec.personas_hash, "turns": s.turns,
        "reply_format": _reply_format(result), "profile_probe": _probe(result), "drift": drift_protocol(result),
        "judges": _ensemble(result), "repeats": s.repeats.count if s.repeats else 1,
    }


def _ensemble(result: RunResult) -> str | None:
    """None for one judge; else the aggregate and each member's name, spec, protocol and prompt
    hashes (``median of j1=gpt-4o (aloe, 1a2b...), j2=...``): members scored differently, or
    combined differently, make another protocol."""
    judges = result.summary.judges
    if judges is None:
        return None
    comps = {c.member or "": c for c in result.summary.components if c.role.split(":")[0] == "judge"}
    first = judges.members[0].name if judges.members else ""
    parts = []
    for m in judges.members:
        comp = comps.get(m.name) or (comps.get("") if m.name == first else None)
        hashes = ",".join(v for _, v in sorted(comp.prompt_hashes.items())) if comp else ""
        parts.append(f"{m.name}={m.spec} ({m.protocol}{', ' + hashes if hashes else ''})")
    return f"{judges.aggregate} of {', '.join(parts)}"


def _reply_format(result: RunResult) -> str:
    """``plain``, or the reply format with its model history and prompt hash (``rlpa, history
    latest, prompt 1a2b...``)."""
    rf = result.spec.reply_format
    if not rf:
        return "plain"
    return f"{rf.get('name')}, history {rf.get('history')}, prompt {rf.get('prompt_hash')}"


def _probe(result: RunResult) -> str:
    """``off``, or ``on`` with the probe prompt's hash (the probe adds side calls, never dialogue)."""
    profile = result.spec.profile or {}
    if profile.get("source") != "probe":
        return "off"
    return f"on, prompt {profile.get('probe_prompt_hash')}"


def drift_protocol(result: RunResult) -> str:
    """``off``, or the persona drift (docs/drift.md) with its K, kind, mapping rule and change
    notice hash (``at 3, profile, next-distinct-in-source-order.v1, notice 1a2b...``)."""
    drift = result.spec.drift
    if not drift:
        return "off"
    return (f"at {drift.get('at')}, {drift.get('kind')}, {drift.get('mapping')}, "
            f"notice {drift.get('notice_prompt_hash')}")


def pf1_scoring(result: RunResult) -> dict[str, Any] | None:
    """What a run's PF1 values depend on besides the model: the coverage judge (spec, protocol,
    prompt hashes) and where the golden facts came from; None without a profile measurement."""
    if result.summary.pf1_source is None:
        return None
    judge = next((c for c in result.summary.components if c.role == "profile_judge"), None)
    facts = (result.spec.profile or {}).get("facts") or {}
    return {"judge": judge.spec if judge else None, "protocol": judge.kind if judge else None,
            "prompts": dict(sorted(judge.prompt_hashes.items())) if judge else {},
            "facts_file": facts.get("file_sha256"), "origins": facts.get("origins")}


def _mean(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def _row(result: RunResult) -> dict[str, Any]:
    s = result.summary
    avg_ci, ir_ci, pf1_ci = s.ci.get("avg"), s.ci.get("ir"), s.ci.get("pf1_avg")
    scored = [a for a in s.al if a is not None]
    return {
        "rank": "", "run": result.name, "model": s.model, "user": s.user, "judge": s.judge,
        "judge_mode": s.judge_mode, "personas": s.personas_source, "personas_count": s.personas_count,
        "turns": s.turns, "avg": s.avg,
        "avg_low": avg_ci.low if avg_ci else None, "avg_high": avg_ci.high if avg_ci else None,
        "ir": s.ir, "ir_low": ir_ci.low if ir_ci else None, "ir_high": ir_ci.high if ir_ci else None,
        "n_ir": s.n_ir, "r2": s.r2,
        "al_first": s.al[0] if s.al else None, "al_last": s.al[-1] if s.al else None,
        "reply_words": _mean(s.reply_length),
        "cost": sum(u.cost for u in s.usage.values()) if s.usage else None,
        "missing": sum(s.missing), "status": s.status, "demo_quality": is_demo(result),
        "extra": {k: v for k, v in s.extra.items() if k != "reply_length"},
        "protocol": "A", "comparable": True,
        "pf1_avg": s.pf1_avg, "pf1_avg_low": pf1_ci.low if pf1_ci else None,
        "pf1_avg_high": pf1_ci.high if pf1_ci else None,
        **_drift_fields(result),
        **_regress_fields(result),
        **_length_fields(result),
        "rank_low": None, "rank_high": None, "rank_tied_with": [], "separable_from_next": None,
        "_scored_turns": len(scored), "_result": result,
    }


def _length_fields(result: RunResult) -> dict[str, Any]:
    """The :data:`LENGTH_ROW_FIELDS` of a run (all None without length figures)."""
    f = result.length_figures()
    if f is None:
        return dict.fromkeys(LENGTH_ROW_FIELDS)
    ci = f.ci.get("adjusted_avg")
    return {"adjusted_avg": f.adjusted_avg, "adjusted_avg_low": ci.low if ci else None,
            "adjusted_avg_high": ci.high if ci else None, "length_slope": f.slope,
            "reference_words": f.reference_words}


def _drift_fields(result: RunResult) -> dict[str, Any]:
    """The :data:`DRIFT_ROW_FIELDS` of a run (all None without a persona drift)."""
    d = result.summary.drift
    if d is None:
        return dict.fromkeys(DRIFT_ROW_FIELDS)
    ci = d.ci.get("recovery")
    return {"drift_at": d.at, "drift_kind": d.kind, "drift_before": d.before, "drift_at_k": d.at_k,
            "drift_drop": d.drop, "drift_recovery": d.recovery, "drift_recovery_low": ci.low if ci else None,
            "drift_recovery_high": ci.high if ci else None, "drift_turns_to_recover": d.turns_to_recover}


def _regress_fields(result: RunResult) -> dict[str, Any]:
    """The :data:`REGRESS_ROW_FIELDS` of a run: the summary of its regress.json (None without one)."""
    record = result.regress
    if not record:
        return dict.fromkeys(REGRESS_ROW_FIELDS)
    tasks = {name: (t.get("metrics") or {}).get(t.get("primary") or "", {}).get("value")
             for name, t in record["tasks"].items()}
    return {"regress": record["summary"].get("mean"), "regress_tasks": tasks}


def _regress_setup(result: RunResult) -> str:
    """What a run's regress figures depend on besides the model: tasks, limit, few-shot, chat
    template and the offline suite's files."""
    r = result.regress or {}
    settings = r.get("settings") or {}
    return (f"tasks {','.join(r.get('tasks') or {})}, limit {settings.get('limit')}, few-shot "
            f"{settings.get('num_fewshot')}, chat template {settings.get('apply_chat_template')}, suite "
            f"{(r.get('suite') or {}).get('fingerprint')}")


def _describe(protocol: dict[str, Any]) -> str:
    extra = ""
    if protocol.get("reply_format", "plain") != "plain":
        extra += f", reply format {protocol['reply_format']}"
    if protocol.get("profile_probe", "off") != "off":
        extra += f", profile probe {protocol['profile_probe']}"
    if protocol.get("drift", "off") != "off":
        extra += f", persona drift {protocol['drift']}"
    return (f"user {protocol['user']}, judge {protocol['judge']} ({protocol['judge_mode']} mode), "
            f"personas {protocol['personas']} x{protocol['personas_count']}, {protocol['turns']} turns{extra}")


def leaderboard_rows(results: Sequence[RunResult], *, resamples: int = TIE_RESAMPLES, seed: int = TIE_SEED
                     ) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows (see :data:`ROW_FIELDS`) sorted by protocol then Average (best first), and notes.

    Only complete runs are ranked; incomplete ones (or runs of unknown status) passed in are
    listed after them with rank ``—`` and a note saying what they lack.

    Protocol ``A`` is the one most runs share (ties: the one holding the best Average); rows of
    other protocols get ``comparable=False``. Runs of one protocol whose paired difference of
    Average is not separable from 0 get tied ranks (module docstring): ``resamples`` bootstrap
    resamples seeded with ``seed`` per pair; ``resamples`` 0 compares no runs (plain ranks).
    """
    ranked = [r for r in results if r.complete]
    unranked = [r for r in results if not r.complete]
    rows = [_row(r) for r in ranked]
    protocols = [protocol_of(r) for r in ranked]
    groups: list[dict[str, Any]] = []
    members: list[list[int]] = []
    for i, p in enumerate(protocols):
        for g, q in enumerate(groups):
            if p == q:
                members[g].append(i)
                break
        else:
            groups.append(p)
            members.append([i])

    def best(idx: list[int]) -> float:
        return max((rows[i]["avg"] for i in idx if rows[i]["avg"] is not None), default=float("-inf"))

    order = sorted(range(len(groups)), key=lambda g: (-len(members[g]), -best(members[g])))
    letters = {g: chr(ord("A") + n) if n < 26 else f"P{n + 1}" for n, g in enumerate(order)}
    several = len(groups) > 1
    for g, idx in enumerate(members):
        for i in idx:
            rows[i]["protocol"] = letters[g]
            rows[i]["comparable"] = letters[g] == "A"
    position = {letters[g]: n for n, g in enumerate(order)}
    rows.sort(key=lambda r: (position[r["protocol"]], r["avg"] is None, -(r["avg"] or 0.0), r["run"]))
    counter: dict[str, int] = {}
    for r in rows:
        counter[r["protocol"]] = counter.get(r["protocol"], 0) + 1
        n = counter[r["protocol"]]
        r["rank"] = f"{r['protocol']}{n}" if several else str(n)
        r["rank_low"] = r["rank_high"] = n
    tie_notes = _tied_ranks(rows, several, resamples=resamples, seed=seed)

    notes: list[str] = []
    if several:
        ref = groups[order[0]]
        notes.append(f"Not comparable: these runs use {len(groups)} different protocols; runs are ranked only "
                     f"within their protocol (rank prefix A, B, ...). Protocol A: {_describe(ref)}.")
        for g in order[1:]:
            diffs = [f"{label} ({_short(ref[key])} -> {_short(groups[g][key])})"
                     for key, label in PROTOCOL_FIELDS.items() if ref[key] != groups[g][key]]
            notes.append(f"Protocol {letters[g]} differs from A in: {'; '.join(diffs)}.")
    for r in rows:
        if r["missing"]:
            notes.append(f"{r['run']}: {r['missing']} replies have no valid judge score (left out of AL).")
        if r["_scored_turns"] < 2:
            notes.append(f"{r['run']}: fewer than 2 scored turns, so IR and R2 are undefined.")
    demo = sorted({r["run"] for r in rows if r["demo_quality"]})
    if demo:
        notes.append("Demo-quality protocol (a backend its provider declares demo quality, such as the embedded "
                     "SmolLM2, simulated the user and/or judged) in: "
                     + ", ".join(demo) + ". Not comparable to the paper's GPT-4o numbers.")
    if any(r["n_ir"] is None and r["_scored_turns"] >= 2 for r in rows):
        notes.append("N-IR — (undefined): the curve is flat (max AL = min AL), so it cannot be normalised.")
    notes.extend(tie_notes)
    notes.extend(_length_notes(rows))
    setups = {r.name: _regress_setup(r) for r in ranked if r.regress}
    if len(set(setups.values())) > 1:
        notes.append("Regress figures of these runs come from different lm-eval setups, so they are not comparable: "
                     + "; ".join(f"{name}: {setup}" for name, setup in setups.items()) + ".")
    scorings = {r.name: pf1_scoring(r) for r in ranked if pf1_scoring(r) is not None}
    if len({json.dumps(v, sort_keys=True) for v in scorings.values()}) > 1:
        notes.append("PF1 of these runs was scored by different coverage judges or golden facts, so their PF1 "
                     "values are not comparable: " + "; ".join(
                         f"{name}: judge {v['judge']} ({v['protocol']}), facts {_short(v['origins'])}"
                         for name, v in scorings.items()) + ".")
    for result in unranked:  # shown when asked for, marked, never ranked with complete runs
        row = _row(result)
        row.update(rank="—", protocol="—", comparable=False)
        rows.append(row)
        notes.append(result.status_note() + " Not ranked.")
    for r in rows:
        del r["_scored_turns"], r["_result"]
    return rows, notes


def _tied_ranks(rows: list[dict[str, Any]], several: bool, *, resamples: int, seed: int) -> list[str]:
    """Compare every two ranked runs of one protocol (rows sorted, ``rank_low``/``rank_high`` set
    to their positions); set the :data:`TIE_ROW_FIELDS` and widen the ``rank`` of runs that are not
    separable from others. Returns the notes: the method, and the pairs that could not be compared."""
    from aloe_bench.errors import AloeBenchError
    from aloe_bench.metrics import paired_difference

    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(r["protocol"], []).append(r)
    compared = tied = False
    unmatched: list[str] = []
    for group in groups.values():
        if len(group) < 2 or resamples <= 0:
            continue
        separable: dict[tuple[int, int], bool | None] = {}
        for i in range(len(group)):
            for j in range(i + 1, len(group)):
                a, b = group[i]["_result"].matrix, group[j]["_result"].matrix
                verdict, why = None, "no score matrix"
                if a is not None and b is not None:
                    try:
                        diff = paired_difference(a.values, a.persona_ids, b.values, b.persona_ids,
                                                 resamples=resamples, seed=seed, level=TIE_LEVEL)["avg"]
                    except AloeBenchError:
                        why = "no shared persona"
                    else:
                        why = "no Average over their shared personas"
                        if diff["low"] is not None and diff["high"] is not None:
                            verdict = not diff["low"] <= 0.0 <= diff["high"]
                separable[i, j] = separable[j, i] = verdict
                if verdict is None:
                    unmatched.append(f"{group[i]['run']} and {group[j]['run']} ({why})")
                compared = compared or verdict is not None
        for i, r in enumerate(group):
            ties = [j for j in range(len(group)) if j != i and separable[i, j] is False]
            r["rank_tied_with"] = [group[j]["run"] for j in ties]
            r["rank_low"], r["rank_high"] = min([i, *ties]) + 1, max([i, *ties]) + 1
            r["separable_from_next"] = separable[i, i + 1] if i + 1 < len(group) else None
            if ties:
                tied = True
                prefix = r["protocol"] if several else ""
                r["rank"] = f"{prefix}{r['rank_low']}–{r['rank_high']}"
    notes = []
    if compared:
        notes.append(f"Tied ranks: two runs of one protocol whose paired difference of Average over their shared "
                     f"personas has a {TIE_LEVEL:.0%} bootstrap interval containing 0 are not separable "
                     f"({resamples} resamples of the personas, seed {seed}); a rank such as 1–3 runs from the best "
                     f"to the worst position among the run and those it is not separable from."
                     + ("" if tied else " Every two runs compared here are separable.")
                     + (" Runs of different protocols are not compared." if several else ""))
    if unmatched:
        notes.append("Not compared for tied ranks (plain ranks): " + "; ".join(unmatched) + ".")
    return notes


def _length_notes(rows: list[dict[str, Any]]) -> list[str]:
    """What the length-adjusted Average means, and ranked neighbours whose order it reverses
    (a lead that may come from reply length)."""
    if not has_length(rows):
        return []
    refs = sorted({r["reference_words"] for r in rows if r["reference_words"] is not None})
    ref = " or ".join(f"{w:g}" for w in refs)
    notes = [f"Length-adj. Average: the Average with each reply's score moved along the run's own least-squares "
             f"line of score on reply length to {ref} words, the same reference for every run "
             f"(docs/validity.md); a run ahead by Average but not by it may win by reply length."]
    if len(refs) > 1:
        notes.append("These runs' length-adjusted Averages use different reference lengths, so they are not "
                     "comparable.")
    ranked = [r for r in rows if r["rank"] != "—"]
    for above, below in zip(ranked, ranked[1:]):
        a, b = above["adjusted_avg"], below["adjusted_avg"]
        if above["protocol"] == below["protocol"] and a is not None and b is not None and a < b:
            notes.append(f"{above['run']} is ahead of {below['run']} by Average but behind it by length-adjusted "
                         f"Average ({num(a, 2)} vs {num(b, 2)}): its lead may come from reply length.")
    return notes


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items()) or "none"
    return str(value)


# -- formatting helpers --------------------------------------------------------------------
def num(value: float | None, digits: int = 2) -> str:
    """A number with ``digits`` decimals; an em dash for None."""
    return "—" if value is None else f"{value:.{digits}f}"


def with_ci(value: float | None, low: float | None, high: float | None, digits: int) -> str:
    """``3.42 [3.31, 3.55]`` (or just the value when there is no interval)."""
    if value is None:
        return "—"
    if low is None or high is None:
        return num(value, digits)
    return f"{num(value, digits)} [{num(low, digits)}, {num(high, digits)}]"


def display_columns(rows: list[dict[str, Any]]) -> list[tuple[str, Callable[[dict[str, Any]], str]]]:
    """(header, cell function) pairs shared by the human-readable formats."""
    cols: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("#", lambda r: r["rank"]),
        ("Model", lambda r: r["model"]),
        ("User simulator", lambda r: r["user"]),
        ("Judge (mode)", lambda r: f"{r['judge']} ({r['judge_mode']})"),
        ("Personas", lambda r: f"{r['personas']} ({r['personas_count']})"),
        ("K", lambda r: str(r["turns"])),
        ("Average [95% CI]", lambda r: with_ci(r["avg"], r["avg_low"], r["avg_high"], 2)),
        *([("Length-adj. Average [95% CI]", lambda r: with_ci(r.get("adjusted_avg"), r.get("adjusted_avg_low"),
                                                              r.get("adjusted_avg_high"), 2))]
          if has_length(rows) else []),
        ("IR [95% CI]", lambda r: with_ci(r["ir"], r["ir_low"], r["ir_high"], 3)),
        ("N-IR", lambda r: num(r["n_ir"], 3)),
        ("R²", lambda r: num(r["r2"], 3)),
        ("AL(1)", lambda r: num(r["al_first"], 2)),
        ("AL(K)", lambda r: num(r["al_last"], 2)),
        ("Words/reply", lambda r: num(r["reply_words"], 1)),
        ("Cost ($)", lambda r: num(r["cost"], 2)),
    ]
    if has_pf1(rows):  # after AL(K): the profile-inference figure beside the alignment ones
        at = next(i for i, (h, _) in enumerate(cols) if h == "AL(K)") + 1
        cols.insert(at, ("PF1 [95% CI]", lambda r: with_ci(r.get("pf1_avg"), r.get("pf1_avg_low"),
                                                           r.get("pf1_avg_high"), 3)))
    if shared_drift(rows):  # before Words/reply: the recovery figures beside the alignment ones
        at = next((i for i, (h, _) in enumerate(cols) if h == "Words/reply"), len(cols))
        cols[at:at] = DRIFT_COLUMNS
    if any(r.get("regress") is not None for r in rows):  # before Words/reply: `aloe-bench regress` (lm-eval)
        at = next((i for i, (h, _) in enumerate(cols) if h == "Words/reply"), len(cols))
        cols.insert(at, ("Regress", lambda r: num(r.get("regress"), 3)))
    return cols


def _recovered(value: int | None) -> str:
    return "never" if value is None else str(value)


#: The drift columns (docs/drift.md), shown when every row drifts the same way (:func:`shared_drift`).
DRIFT_COLUMNS: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
    ("Drift@K", lambda r: f"{r['drift_at']} ({r['drift_kind']})"),
    ("AL before → AL(K)", lambda r: f"{num(r['drift_before'], 2)} → {num(r['drift_at_k'], 2)}"),
    ("Recovery slope [95% CI]", lambda r: with_ci(r["drift_recovery"], r["drift_recovery_low"],
                                                  r["drift_recovery_high"], 3)),
    ("Turns to recover", lambda r: _recovered(r["drift_turns_to_recover"])),
]


def shared_drift(rows: list[dict[str, Any]]) -> bool:
    """True when every row is a run with a persona drift at the same K and of the same kind: the
    formats then show the drift columns (runs that drift differently are other protocols)."""
    return bool(rows) and len({(r.get("drift_at"), r.get("drift_kind")) for r in rows}) == 1 \
        and rows[0].get("drift_at") is not None


def has_length(rows: list[dict[str, Any]]) -> bool:
    """True when any row has a length-adjusted Average: the formats then show it beside the Average."""
    return any(r.get("adjusted_avg") is not None for r in rows)


def has_pf1(rows: list[dict[str, Any]]) -> bool:
    """True when any row has an Average PF1 (a run with a profile measurement): the formats then
    show a PF1 column."""
    return any(r.get("pf1_avg") is not None for r in rows)


# -- renderers ------------------------------------------------------------------------------
def render_markdown(rows: list[dict[str, Any]], notes: list[str]) -> str:
    """A GitHub/pandoc pipe table, then the notes as a list."""
    cols = display_columns(rows)

    def cell(text: str) -> str:
        return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")

    right = NUMERIC_COLUMNS
    lines = ["| " + " | ".join(h for h, _ in cols) + " |",
             "|" + "|".join("---:" if h in right else "---" for h, _ in cols) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(cell(f(r)) for _, f in cols) + " |")
    if notes:
        lines.append("")
        lines.extend(f"- {cell(n)}" for n in notes)
    return "\n".join(lines) + "\n"


def render_csv(rows: list[dict[str, Any]], notes: list[str]) -> str:
    """Every row field as a CSV column, raw numbers (empty for undefined). Notes are left out."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(ROW_FIELDS), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if r.get(k) is None else json.dumps(r[k], ensure_ascii=False)
                             if isinstance(r.get(k), (dict, list)) else r.get(k)) for k in ROW_FIELDS})
    return buf.getvalue()


def render_json(rows: list[dict[str, Any]], notes: list[str]) -> str:
    """``{"schema_version": 1, "rows": [...], "notes": [...]}``, indented."""
    return json.dumps({"schema_version": 1, "rows": rows, "notes": notes}, indent=2, ensure_ascii=False) + "\n"


#: The leaderboard table's layout, shared by the standalone page and the HTML report: headers
#: wrap between words, names at ``/``, ``-``, ``:``, ``_`` (anywhere only if they must), numbers
#: never; an interval sits under its value, so a ten-run table with Hub ids fits a 1,300-pixel window.
TABLE_STYLE = """
table.lb{border-collapse:collapse;font-variant-numeric:tabular-nums;font-size:13px;line-height:1.3;max-width:100%}
table.lb th,table.lb td{padding:.3rem .4rem;border-bottom:1px solid #dde1e8;text-align:left;vertical-align:top}
table.lb th{border-bottom:2px solid #c9d0db;background:#f5f7fa;font-weight:600}
table.lb td.t{overflow-wrap:anywhere;min-width:5em}
table.lb td.n,table.lb th.n{text-align:right}
table.lb td.n{white-space:nowrap}
table.lb td .ci{display:block;font-size:.85em;color:#667085}
table.lb tr.noncomparable td{color:#8a5a00;background:#fff8e6}
table.lb tr.noncomparable td .ci{color:inherit}
"""

HTML_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2330;margin:2rem}
ul.notes{color:#555;max-width:70rem}
""" + TABLE_STYLE

#: Columns shown as numbers (right-aligned, never wrapped); the others are names that may wrap.
NUMERIC_COLUMNS = {"#", "K", "Average [95% CI]", "Length-adj. Average [95% CI]", "IR [95% CI]", "N-IR", "R²", "AL(1)",
                   "AL(K)", "Words/reply", "Cost ($)", "PF1 [95% CI]", "Drift@K", "AL before → AL(K)", "Recovery slope [95% CI]",
                   "Turns to recover", "Regress"}


def _breakable(text: str) -> str:
    """``text`` escaped, with break opportunities after ``/``, ``-``, ``:`` and ``_`` (Hub ids and
    dated model names wrap at their parts, not in the middle of a word)."""
    return re.sub(r"([/:_-])", r"\1<wbr>", html.escape(text))


def _number_cell(text: str) -> str:
    """A numeric cell: ``3.42`` with its interval ``[3.31, 3.55]`` on a line of its own."""
    value, sep, interval = text.partition(" [")
    if not sep:
        return html.escape(text)
    return f'{html.escape(value)} <span class="ci">[{html.escape(interval)}</span>'


def html_table(rows: list[dict[str, Any]]) -> str:
    """The leaderboard as an HTML ``<table>`` (every cell escaped); style it with :data:`TABLE_STYLE`."""
    cols = display_columns(rows)
    head = "".join(f'<th{" class=n" if h in NUMERIC_COLUMNS else ""}>{_breakable(h)}</th>' for h, _ in cols)
    body = []
    for r in rows:
        cls = "" if r["comparable"] else ' class="noncomparable" title="not comparable with protocol A"'
        cells = "".join(f"<td class=n>{_number_cell(f(r))}</td>" if h in NUMERIC_COLUMNS
                        else f"<td class=t>{_breakable(f(r))}</td>" for h, f in cols)
        body.append(f"<tr{cls}>{cells}</tr>")
    return f'<table class="lb"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def render_html(rows: list[dict[str, Any]], notes: list[str]) -> str:
    """A self-contained HTML page with the table and notes (no external resources)."""
    notes_html = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
            f"<title>aloe-bench leaderboard</title><style>{HTML_STYLE}</style></head><body>"
            f"<h1>aloe-bench leaderboard</h1>{html_table(rows)}"
            + (f'<ul class="notes">{notes_html}</ul>' if notes else "") + "</body></html>\n")


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "—": "--",
                  "–": "--"}


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def render_latex(rows: list[dict[str, Any]], notes: list[str]) -> str:
    """A booktabs ``tabular`` (needs ``\\usepackage{booktabs}``); the best Average of protocol A
    in bold; notes as comments."""
    best = max((r["avg"] for r in rows if r["comparable"] and r["avg"] is not None), default=None)

    def ci(v, lo, hi, d):
        if v is None:
            return "--"
        s = num(v, d)
        return s if lo is None or hi is None else f"{s} {{\\scriptsize[{num(lo, d)}, {num(hi, d)}]}}"

    def avg_cell(r):
        s = ci(r["avg"], r["avg_low"], r["avg_high"], 2)
        if best is not None and r["comparable"] and r["avg"] == best:
            s = f"\\textbf{{{num(r['avg'], 2)}}}" + s[len(num(r["avg"], 2)):]
        return s

    pf1, length, drift = has_pf1(rows), has_length(rows), shared_drift(rows)
    regress = any(r.get("regress") is not None for r in rows)
    header = (["\\#", "Model", "User sim.", "Judge", "Personas", "$K$", "Average"] + (["Length-adj."] if length else [])
              + ["IR", "N-IR", "$R^2$", "AL(1)", "AL($K$)"] + (["PF1"] if pf1 else [])
              + (["Drift@$K$", "AL before $\\to$ AL($K$)", "Recovery", "Turns to recover"] if drift else [])
              + (["Regress"] if regress else []) + ["Words", "Cost (\\$)"])
    lines = ["% aloe-bench leaderboard; needs \\usepackage{booktabs}",
             "\\begin{tabular}{r" + "l" * 4 + "r" * (len(header) - 5) + "}", "\\toprule",
             " & ".join(header) + " \\\\", "\\midrule"]
    for r in rows:
        cells = [latex_escape(r["rank"]), latex_escape(r["model"]), latex_escape(r["user"]),
                 latex_escape(f"{r['judge']} ({r['judge_mode']})"),
                 latex_escape(f"{r['personas']} ({r['personas_count']})"), str(r["turns"]), avg_cell(r)]
        if length:
            cells.append(ci(r.get("adjusted_avg"), r.get("adjusted_avg_low"), r.get("adjusted_avg_high"), 2))
        cells += [ci(r["ir"], r["ir_low"], r["ir_high"], 3), latex_escape(num(r["n_ir"], 3)),
                 latex_escape(num(r["r2"], 3)), latex_escape(num(r["al_first"], 2)),
                 latex_escape(num(r["al_last"], 2))]
        if pf1:
            cells.append(ci(r.get("pf1_avg"), r.get("pf1_avg_low"), r.get("pf1_avg_high"), 3))
        if drift:
            cells += [latex_escape(f"{r['drift_at']} ({r['drift_kind']})"),
                      f"{latex_escape(num(r['drift_before'], 2))} $\\to$ {latex_escape(num(r['drift_at_k'], 2))}",
                      ci(r["drift_recovery"], r["drift_recovery_low"], r["drift_recovery_high"], 3),
                      latex_escape(_recovered(r["drift_turns_to_recover"]))]
        if regress:
            cells.append(latex_escape(num(r.get("regress"), 3)))
        cells += [latex_escape(num(r["reply_words"], 1)), latex_escape(num(r["cost"], 2))]
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    lines += [f"% {n}" for n in notes]
    return "\n".join(lines) + "\n"


FORMATS: dict[str, tuple[Renderer, str]] = {
    "markdown": (render_markdown, "Pipe table for READMEs and papers (GitHub, pandoc)"),
    "csv": (render_csv, "Every row field, raw numbers"),
    "json": (render_json, "Rows and notes as JSON"),
    "html": (render_html, "Self-contained HTML page"),
    "latex": (render_latex, "booktabs tabular for papers"),
}
"""Built-in leaderboard formats: name -> (render(rows, notes) -> str, description)."""
