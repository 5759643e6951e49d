"""``aloe-bench evaluate``: run the ALOE benchmark on a model."""

from __future__ import annotations

import shlex
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

import click

from aloe_bench.errors import ConfigError

PRESETS: dict[str, dict[str, Any]] = {
    # The paper: GPT-4o simulates the user and judges each reply on its own turn.
    "aloe-paper": {"user": "gpt-4o", "judge": "gpt-4o", "judge_mode": "turn"},
    # The published code: gpt-4o-mini-2024-07-18 for both, max_tokens 300, default temperature.
    "aloe-code": {"user": "gpt-4o-mini-2024-07-18", "judge": "gpt-4o-mini-2024-07-18", "judge_mode": "turn",
                  "user_params": {"max_tokens": 300, "temperature": None},
                  "judge_params": {"max_tokens": 300, "temperature": None},
                  "model_params": {"max_tokens": 300}},
}


def build_config(cli_values: dict[str, Any], preset: str | None, config_file: str | None, *,
                 model: Any = None, presets: dict[str, dict[str, Any]] | None = None, command: str = "evaluate"):
    """Defaults < preset < config file < command-line flags, validated into ``model``
    (:class:`~aloe_bench.evaluation.config.EvalConfig` unless given; ``presets``: the command's
    presets, evaluate's unless given)."""
    from pydantic import ValidationError

    from aloe_bench.cli.common import load_toml
    from aloe_bench.evaluation.config import EvalConfig, config_error

    model = model or EvalConfig
    data: dict[str, Any] = {}
    if preset:
        data.update((presets or PRESETS)[preset])
    if config_file:
        file_data = {k.replace("-", "_"): v for k, v in load_toml(config_file).items()}
        file_data.pop("output", None)
        data.update(file_data)
    data.update({k: v for k, v in cli_values.items() if v is not None})
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, config_file, model=model, command=command) from None


def default_output(config) -> Path:
    """runs/<model>-<timestamp> under the current folder."""
    import re

    name = re.sub(r"[^A-Za-z0-9._-]+", "_", config.model).strip("_")
    return Path("runs") / f"{name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def cache_path() -> Path:
    """The shared call cache (:func:`aloe_bench.paths.call_cache_path`)."""
    from aloe_bench.paths import call_cache_path

    return call_cache_path()


def resume_hint(argv: Sequence[str], output: Path) -> str:
    """The command line that resumes this run (``argv``: the arguments after the program name),
    with secrets (``--model-option api_key=...``, URL credentials, key shapes) shown as
    ``<redacted>`` and, when any were, a note on how to pass them."""
    from aloe_bench.secrets import redact_argv

    args = [a for a in argv if a != "--resume"]
    shown = redact_argv(args)
    cmd = "aloe-bench " + " ".join(shlex.quote(a) for a in shown)
    if not any(a in ("--output", "-o") or a.startswith("--output=") for a in args):
        cmd += f" --output {shlex.quote(str(output))}"
    cmd += " --resume"
    if shown != args:
        cmd += "\n  (secrets are not shown: pass them again, or set them in the environment)"
    return cmd


def print_run_header(config, host) -> None:
    """What will run: each role's spec with its provider, the protocols and the plugin metrics
    with their descriptions, and a note when a demo-quality backend simulates or judges."""
    from rich.markup import escape

    from aloe_bench.backends.resolve import split_spec
    from aloe_bench.cli.common import console

    def provider(spec: str):
        return host.models.get(split_spec(spec, host.models)[0])

    sim, judge = host.simulators.get(config.user_protocol), host.judges.get(config.judge_protocol)
    members = [(m, host.judges.get(m.protocol)) for m in config.judge_members()]
    if config.judges:
        listed = ", ".join(f"{m.name} [bold]{escape(m.spec)}[/] ({entry.name})" for m, entry in members)
        judged = (f"judge ensemble of {len(members)} ({config.judge_aggregate} of their scores, "
                  f"{config.judge_mode} mode): {listed}")
    else:
        judged = (f"judge [bold]{escape(config.judge)}[/] ({judge.name}, {config.judge_mode} mode: "
                  f"{escape(judge.description)})")
    console.print(f"Model [bold]{escape(config.model)}[/] · user [bold]{escape(config.user)}[/] "
                  f"({sim.name}: {escape(sim.description)}) · {judged}")
    if config.repeats > 1:
        console.print(f"Repeats: every persona is played {config.repeats} times, each repeat with its own "
                      "simulator seed (docs/validity.md)")
    extra = [f"{e.name} ({e.plugin})" for e in host.metrics if e.name != "alignment"]
    if extra:
        console.print(f"Metrics: alignment + {escape(', '.join(extra))}")
    scored_by = []
    if config.profile_source is not None:
        from aloe_bench.evaluation.roles import coverage_entry

        coverage = coverage_entry(config, host)
        scored_by = [(config.profile_judge_spec, coverage)]
        how = ("a probe after every turn (never part of the dialogue)" if config.profile_source == "probe" else
               f"the <profile> section of every reply (--reply-format {config.reply_format}, "
               f"history {config.rlpa_history})")
        console.print(f"Profile inference (PF1): {how}, scored by [bold]{escape(config.profile_judge_spec)}[/] "
                      f"({coverage.name}) against golden facts"
                      + (f" from {escape(config.facts)}" if config.facts else ""))
    if config.drift_at is not None:
        console.print(f"Preference drift: from turn {config.drift_at} on the user plays a changed persona "
                      f"({config.drift_kind}: the next distinct {config.drift_kind.replace('both', 'profile and personality')} "
                      "of the persona source), judged against the persona of each turn (docs/drift.md)")
    demo = sorted({spec for spec, entry in ((config.user, sim), *((m.spec, e) for m, e in members), *scored_by)
                   if entry.meta.get("needs_backend", True) and provider(spec).meta.get("demo_quality")})
    if demo:
        console.print(f"[yellow]Note:[/] {escape(', '.join(demo))} simulates the user and/or judges: a demo-quality "
                      "backend (its provider says so), whose scores are not comparable to the paper. For the paper "
                      "protocol use --preset aloe-paper (gpt-4o) or --preset aloe-code (gpt-4o-mini), or name any "
                      "--user/--judge model.")


def print_drift(drift) -> None:
    """The recovery figures of a run with a persona drift (``summary.drift``), on stdout with the
    other figures."""
    from aloe_bench.cli.common import out

    def num(value, digits=2):
        return "—" if value is None else f"{value:.{digits}f}"

    def ci(key, digits):
        iv = drift.ci.get(key)
        return f" [95% CI {num(iv.low, digits)}, {num(iv.high, digits)}]" if iv is not None and iv.low is not None else ""

    back = drift.turns_to_recover
    lines = [f"Drift at turn {drift.at} ({drift.kind}): AL before {num(drift.before)} → AL({drift.at}) "
             f"{num(drift.at_k)}, drop {num(drift.drop)}{ci('drop', 2)}",
             f"  recovery slope {num(drift.recovery, 3)}{ci('recovery', 3)}; turns to recover: "
             f"{'not within the run' if back is None else back}"]
    if drift.pf1_old is not None:
        lines.append("  PF1 against the old profile: " + " ".join(num(v) for v in drift.pf1_old))
        lines.append("  PF1 against the new profile: " + " ".join(num(v) for v in (drift.pf1_new or [])))
    for line in lines:
        out.print(line, markup=False)


def print_ensemble(judges) -> None:
    """The members of a judge ensemble (``summary.judges``): each one's Average and IR, and the
    agreement between members, on stdout with the other figures."""
    from aloe_bench.cli.common import out

    def num(value, digits=2):
        return "—" if value is None else f"{value:.{digits}f}"

    out.print(f"Judge ensemble ({judges.aggregate} of {len(judges.members)} members' scores):", markup=False)
    for m in judges.members:
        out.print(f"  {m.name} {m.spec} ({m.protocol}): Average {num(m.avg)}, IR {num(m.ir, 3)}; "
                  f"{m.scored} replies scored" + (f", {m.missing} scores missing" if m.missing else ""), markup=False)
    for p in judges.agreement:
        iv = p.ci.get("kappa_quadratic")
        ci = f" [95% CI {num(iv.low)}, {num(iv.high)}]" if iv is not None and iv.low is not None else ""
        out.print(f"  agreement {p.a}-{p.b} over {p.n} replies: quadratic kappa {num(p.kappa_quadratic)}{ci}, "
                  f"exact {num(p.exact)}, Spearman {num(p.spearman)}, alpha {num(p.alpha)}", markup=False)
    if len(judges.agreement) > 1:
        mean = judges.mean_agreement
        out.print(f"  mean over pairs: quadratic kappa {num(mean.get('kappa_quadratic'))}, exact "
                  f"{num(mean.get('exact'))}, Spearman {num(mean.get('spearman'))}, alpha {num(mean.get('alpha'))}",
                  markup=False)


def print_repeats(repeats) -> None:
    """Each repeat's Average and IR and their spread (``summary.repeats``), on stdout."""
    from aloe_bench.cli.common import out

    def num(value, digits=2):
        return "—" if value is None else f"{value:.{digits}f}"

    out.print(f"Repeats ({repeats.count} per persona; intervals above resample personas, each persona's "
              "repeats averaged first):", markup=False)
    for r in repeats.runs:
        out.print(f"  repeat {r.repeat} (simulator seed {r.seed}): Average {num(r.avg)}, IR {num(r.ir, 3)}",
                  markup=False)
    for key, label, digits in (("avg", "Average", 2), ("ir", "IR", 3)):
        sp = repeats.spread.get(key)
        if sp is not None:
            out.print(f"  {label} over repeats: sd {num(sp.sd, digits)}, min {num(sp.min, digits)}, "
                      f"max {num(sp.max, digits)}, range {num(sp.range, digits)}", markup=False)


def judge_values(specs: Sequence[str]) -> dict[str, Any]:
    """Config values of ``--judge`` given ``specs`` (in order): none, one judge (``judge``; a
    config file's ``judges`` are dropped), or a judge ensemble (``judges``: one member per spec,
    ``j1``, ``j2``, ...). Given on the command line, they replace the config file's judges."""
    if not specs:
        return {}
    if len(specs) == 1:
        return {"judge": specs[0], "judges": []}
    return {"judge": specs[0], "judges": [{"spec": s} for s in specs]}


@click.command("evaluate")
@click.option("--model", help="Model under test: PROVIDER:NAME (hf:ID_OR_PATH, litellm:MODEL, a bare API model name); default: the installed default provider's model (smollm2 with aloe-bench-hf).")
@click.option("--user", help="User-simulator backend spec (default as --model; the paper used gpt-4o).")
@click.option("--judge", multiple=True, help="Judge backend spec (default as --model; the paper used gpt-4o). Give it two or more times for a judge ensemble: members j1, j2, ... each score every reply, the reply's score is their mean (--judge-aggregate) and the summary reports their agreement; per-member protocols and options go in the config file ([[judges]]; docs/validity.md).")
@click.option("--judge-aggregate", type=click.Choice(["mean", "median"]), help="With a judge ensemble: a reply's score is the mean (default) or median of its members' scores (each member's samples averaged first).")
@click.option("--repeats", type=click.IntRange(min=1), help="Play every persona R times, each repeat with its own simulator seed (default 1); summary.json reports each repeat's Average and IR and their spread under repeats (docs/validity.md).")
@click.option("--user-protocol", help="Simulator protocol registered by a plugin (default aloe).")
@click.option("--judge-protocol", help="Judge protocol registered by a plugin (default aloe).")
@click.option("--user-protocol-option", "user_protocol_option", multiple=True, metavar="KEY=VALUE", help="Option passed to the simulator protocol's factory (repeatable).")
@click.option("--judge-protocol-option", "judge_protocol_option", multiple=True, metavar="KEY=VALUE", help="Option passed to the judge protocol's factory (repeatable), e.g. max_retries=4.")
@click.option("--judge-mode", type=click.Choice(["turn", "history"]), help="turn: persona + message + reply (published); history: the whole dialogue too.")
@click.option("--judge-samples", type=click.IntRange(min=1), help="Judge each reply N times and average (default 1).")
@click.option("--personas", help="Persona source (default aloe-eval: the 100 official ALOE personas; jsonl:PATH; sample: 8 built-in personas for trying plugins offline).")
@click.option("--turns", type=click.IntRange(min=1), help="Turns per conversation (default 10).")
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N personas.")
@click.option("--seed", type=int, help="Seed for sampling and bootstrap (default 0).")
@click.option("--concurrency", type=click.IntRange(min=1), help="Requests in flight per role for API backends (default 16).")
@click.option("--max-tokens", type=click.IntRange(min=1), help="Max new tokens of the model's replies (default 300).")
@click.option("--temperature", type=float, help="Sampling temperature of the model under test (default: backend default; greedy for local models).")
@click.option("--model-option", "model_option", multiple=True, metavar="KEY=VALUE", help="Option passed to the model provider (repeatable), e.g. dtype=float32.")
@click.option("--user-option", "user_option", multiple=True, metavar="KEY=VALUE", help="Option passed to the simulator's backend (repeatable).")
@click.option("--judge-option", "judge_option", multiple=True, metavar="KEY=VALUE", help="Option passed to the judge's backend (repeatable).")
@click.option("--profile-probe", is_flag=True, default=None, help="After every turn, ask the model (in a side call that never enters the dialogue) what it has learned about the user, and score it against the persona's golden facts: PF1(k) (docs/profile.md).")
@click.option("--reply-format", type=click.Choice(["plain", "rlpa"]), help="plain (default): ALOE replies; rlpa: the model gets the RLPA policy instruction and writes <profile> then <response>; the user and the judge see only the response, the profile is scored as PF1(k).")
@click.option("--rlpa-history", type=click.Choice(["latest", "responses", "full"]), help="With --reply-format rlpa, what the model's own history keeps of its earlier outputs: latest (default, as RLPA: its previous output whole, older ones the response only), responses, full.")
@click.option("--profile-judge", help="Coverage judge backend spec for the profile measurement (default: the --judge spec).")
@click.option("--profile-judge-protocol", help="Coverage judge protocol registered by a plugin with task=coverage (default aloe-coverage).")
@click.option("--profile-judge-option", "profile_judge_option", multiple=True, metavar="KEY=VALUE", help="Option passed to the coverage judge's backend (repeatable).")
@click.option("--profile-judge-protocol-option", "profile_judge_protocol_option", multiple=True, metavar="KEY=VALUE", help="Option passed to the coverage judge protocol's factory (repeatable).")
@click.option("--facts", type=click.Path(dir_okay=False), help="Golden facts file (from `aloe-bench personas facts`) for the profile measurement (default: the persona source's curated facts, else one fact per sentence of each profile).")
@click.option("--drift-at", type=int, metavar="K", help="Preference drift (docs/drift.md): from turn K on (2 <= K <= --turns) the simulated user plays a changed persona, told at K that its situation has changed; each reply is judged against the persona of its turn. summary.json gains the recovery figures under drift.")
@click.option("--drift-kind", type=click.Choice(["profile", "personality", "both"]), help="With --drift-at, what changes: profile (default: the next distinct profile of the persona source), personality (the next distinct personality) or both.")
@click.option("--preset", type=click.Choice(sorted(PRESETS)), help="aloe-paper: gpt-4o user + judge; aloe-code: gpt-4o-mini-2024-07-18, max_tokens 300.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML file with the same keys as these options.")
@click.option("--output", "-o", type=click.Path(file_okay=False), help="Run folder (default runs/MODEL-TIMESTAMP).")
@click.option("--resume", is_flag=True, help="Continue the run in --output, making only the missing calls.")
@click.option("--rejudge-missing", is_flag=True, help="With --resume: also ask the judge again for replies whose answers stayed unreadable.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the shared call cache.")
@click.option("--bootstrap", type=click.IntRange(min=0), help="Bootstrap resamples for CIs (default 1000).")
@click.option("--dry-run", is_flag=True, help="Print the calls per role and estimated tokens, cost and wall time; make no call.")
@click.option("--max-cost", type=click.FloatRange(min=0), help="Stop cleanly (resumable) once the run's spend reaches USD (backend-reported costs).")
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
def command(**opts: Any) -> None:
    """Evaluate a model on ALOE: simulated users over K turns, every reply judged 1-5.

    Prints AL(k) per turn, Average, IR, N-IR and R2 with bootstrap confidence intervals, and
    writes run.json, personas.jsonl, transcripts.jsonl, scores.jsonl and summary.json to the run
    folder. With --profile-probe or --reply-format rlpa, also PF1(k): how much of the user the
    model has understood after k turns (probes.jsonl; docs/profile.md). Exit code 0: the run is complete; 3: it is incomplete (calls failed after their
    retries; what failed and the resume command are printed); 1: an error; 2: a usage error.
    """
    import asyncio

    from aloe_bench.cli.common import console, parse_options, show_progress
    from aloe_bench.cli.progress import LiveRunDisplay
    from aloe_bench.cli.summary import exit_for_status, print_summary
    from aloe_bench.evaluation.engine import Evaluation
    from aloe_bench.evaluation.roles import validate_roles
    from aloe_bench.plugins import default_host
    from aloe_bench.evaluation.preflight import check_cache_writable, check_run_dir_writable
    from rich.markup import escape

    values = {k: opts[k] for k in ("model", "user", "user_protocol", "judge_protocol", "judge_mode", "judge_aggregate",
                                   "repeats",
                                   "judge_samples", "personas", "turns", "limit", "seed", "concurrency", "bootstrap",
                                   "max_cost", "reply_format", "rlpa_history", "profile_judge",
                                   "profile_judge_protocol", "facts", "drift_at", "drift_kind")}
    values.update(judge_values(opts["judge"]))
    values["profile_probe"] = True if opts["profile_probe"] else None
    if opts["no_cache"]:
        values["cache"] = False
    mp = {}
    if opts["max_tokens"] is not None:
        mp["max_tokens"] = opts["max_tokens"]
    if opts["temperature"] is not None:
        mp["temperature"] = opts["temperature"]
    for role in ("model", "user", "judge", "user_protocol", "judge_protocol", "profile_judge", "profile_judge_protocol"):
        parsed = parse_options(opts[f"{role}_option"], f"--{role.replace('_', '-')}-option")
        if parsed:
            values[f"{role}_options"] = parsed
    config = build_config(values, opts["preset"], opts["config_file"])
    if mp:
        config = config.model_copy(update={"model_params": config.model_params.model_copy(update=mp)})
    host = default_host()
    config = config.with_default_specs(host)
    validate_roles(config, host)  # unknown providers or protocols: one line, before anything is made
    if opts["profile_probe"] and config.reply_format != "plain":
        console.print(f"[yellow]Note:[/] --profile-probe makes no side call with --reply-format {config.reply_format}: "
                      f"the profile in each {config.reply_format} reply is scored instead.")
    print_run_header(config, host)
    if opts["dry_run"]:
        from aloe_bench.evaluation.conversations import select_personas
        from aloe_bench.evaluation.estimate import estimate, print_estimate

        print_estimate(estimate("evaluate", config, host, len(select_personas(config, host))))
        return
    output = Path(opts["output"]) if opts["output"] else default_output(config)
    check_run_dir_writable(output)  # before any model call: fail in one line, not after paying
    if config.cache:
        check_cache_writable(cache_path())
    resume_cmd = resume_hint(sys.argv[1:], output)
    console.print(f"Run folder: [bold]{output}[/]")
    progress = LiveRunDisplay(console, enabled=show_progress(opts["quiet"]))
    if opts["rejudge_missing"] and not opts["resume"]:
        raise ConfigError("--rejudge-missing needs --resume.", "Add --resume to ask the judge again in an existing run.")
    ev = Evaluation(config, output, host, resume=opts["resume"], cache_path=cache_path(), progress=progress,
                    rejudge_missing=opts["rejudge_missing"])
    try:
        with progress:
            summary = asyncio.run(ev.run())
    except KeyboardInterrupt:
        console.print(f"\n[yellow]Stopped.[/] Every finished turn is saved. Resume with:\n  {escape(resume_cmd)}")
        raise SystemExit(130) from None
    print_summary(summary)
    if summary.drift is not None:
        print_drift(summary.drift)
    if summary.judges is not None:
        print_ensemble(summary.judges)
    if summary.repeats is not None:
        print_repeats(summary.repeats)
    console.print(f"Results in [bold]{output}[/] (summary.json). Report: aloe-bench report {output}")
    exit_for_status(summary, resume_cmd)
