"""``aloe-bench personas``: show persona sets; grow pools, pair them into persona sets, measure
diversity, extract golden facts."""

from __future__ import annotations

import json

import click

from aloe_bench.cli.common import LiveDisplay


@click.group("personas")
def command() -> None:
    """Inspect and build persona sets."""


@command.command("show")
@click.argument("source", default="aloe-eval")
@click.option("--json", "as_json", is_flag=True, help="JSON lines {id, profile, personality}.")
@click.option("--limit", type=click.IntRange(min=1), help="Show only the first N personas.")
def show(source: str, as_json: bool, limit: int | None) -> None:
    """Show the personas of SOURCE (aloe-eval, aloe-train, aloe-profiles, aloe-personalities, jsonl:PATH)."""
    from aloe_bench.cli.common import out
    from aloe_bench.personas import load_personas

    personas = load_personas(source)
    shown = personas[:limit] if limit else personas
    if as_json:
        for p in shown:
            click.echo(json.dumps({"id": p.id, "profile": p.profile, "personality": p.personality}, ensure_ascii=False))
        return
    from rich.table import Table

    table = Table(title=f"{source}: {len(personas)} personas" + (f" (first {len(shown)})" if limit else ""),
                  show_lines=True)
    table.add_column("id", no_wrap=True)
    table.add_column("profile", ratio=3)
    table.add_column("personality", ratio=2)
    for p in shown:
        table.add_row(p.id, p.profile, p.personality)
    out.print(table)


# -- grow --------------------------------------------------------------------------------------

class GrowDisplay(LiveDisplay):
    """Live table on stderr: one row per round (candidates, accepted, rejections, acceptance
    rate, pool size), with the pool size and the overall acceptance rate in the title."""

    def __init__(self, console, pool_path: str, start_size: int, target: int | None, enabled: bool = True):
        self.pool_path = pool_path
        self.size = start_size
        self.target = target
        self.rows: list = []
        super().__init__(console, enabled)

    def _render(self):
        from rich.table import Table

        candidates = sum(r.candidates or 0 for r in self.rows)
        accepted = sum(r.accepted for r in self.rows)
        rate = f"{accepted / candidates:.0%}" if candidates else "—"
        goal = f" / {self.target}" if self.target else ""
        table = Table(title=f"{self.pool_path}: {self.size}{goal} entries, acceptance {rate}", title_justify="left",
                      box=None, padding=(0, 2), header_style="dim")
        for col in ("round", "candidates", "accepted", "duplicate", "eval leak", "rate", "pool"):
            table.add_column(col, justify="right")
        for r in self.rows[-15:]:
            table.add_row(str(r.round), str(r.candidates), str(r.accepted), str(r.rejected_duplicate),
                          str(r.rejected_leak), fmt_rate(r.acceptance_rate), str(r.pool_size))
        return table

    def round_done(self, record, decisions) -> None:
        """Add a finished round."""
        self.rows.append(record)
        self.size = record.pool_size
        self.refresh()


def fmt_rate(rate: float | None) -> str:
    """An acceptance rate as a percentage; '—' when unknown."""
    return "—" if rate is None else f"{rate:.0%}"


@command.command("grow")
@click.option("--kind", type=click.Choice(["profile", "personality"]), required=True, help="What the pool holds.")
@click.option("--generator", "generator_spec", required=True, metavar="SPEC",
              help="Chat model that writes candidates (any model spec, e.g. gpt-4o or litellm:openai/NAME).")
@click.option("--pool", "pool_path", required=True, type=click.Path(dir_okay=False),
              help="Pool JSONL file; grown in place and resumed when it exists.")
@click.option("--seeds", type=click.Path(exists=True, dir_okay=False),
              help="Seed entries for a new pool (default: the seeds shipped with aloe-bench, 20 of that kind).")
@click.option("--shots", type=click.IntRange(min=1), default=5, show_default=True, help="Few-shot examples per round.")
@click.option("--batch", type=click.IntRange(min=1), default=20, show_default=True, help="Candidates asked for per round.")
@click.option("--threshold", type=click.FloatRange(-1, 1), default=0.6, show_default=True,
              help="Accept a candidate only if its highest cosine similarity to the pool is at most this.")
@click.option("--embedder", default="minilm", show_default=True, help="Embedder name (minilm, st:PATH).")
@click.option("--target", type=click.IntRange(min=1), help="Stop when the pool holds this many entries.")
@click.option("--max-rounds", type=click.IntRange(min=1), default=50, show_default=True,
              help="Stop after this many rounds in total (resumed runs count earlier rounds).")
@click.option("--floor", type=click.FloatRange(0, 1), default=0.1, show_default=True,
              help="Bottleneck: stop when the acceptance rate stays below this ...")
@click.option("--patience", type=click.IntRange(min=1), default=3, show_default=True, help="... for this many rounds.")
@click.option("--leak-check/--no-leak-check", default=True, show_default=True,
              help="Reject candidates too close to an ALOE eval persona (needs the official files).")
@click.option("--leak-threshold", type=click.FloatRange(-1, 1), help="Similarity that counts as a leak (default: --threshold).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds example sampling and generation per round.")
@click.option("--temperature", type=click.FloatRange(0), default=0.8, show_default=True)
@click.option("--max-tokens", type=click.IntRange(min=1), default=3000, show_default=True)
@click.option("--no-cache", is_flag=True, help="Do not use the shared model-call cache.")
@click.option("--quiet", is_flag=True, help="No live display.")
def grow(kind, generator_spec, pool_path, seeds, shots, batch, threshold, embedder, target, max_rounds, floor,
         patience, leak_check, leak_threshold, seed, temperature, max_tokens, no_cache, quiet) -> None:
    """Grow a profile or personality pool with a generator model and an embedding filter (ALOE).

    Each round shows the generator SHOTS pool entries and asks for BATCH new ones; a candidate
    joins the pool only if no pool entry (or eval persona) is more similar than the threshold.
    Interrupt at any time: rerunning the same command resumes."""
    import asyncio
    from pathlib import Path

    from aloe_bench.backends.cache import CachedModel, CallCache
    from aloe_bench.cli.common import console, out
    from aloe_bench.cli.evaluate import cache_path
    from aloe_bench.errors import ConfigError
    from aloe_bench.personas import pool as poolmod
    from aloe_bench.plugins import default_host
    from aloe_bench.evaluation.preflight import check_cache_writable, check_output_file_writable
    from aloe_bench.backends.resolve import resolve_model

    host = default_host()
    config = poolmod.GrowConfig(kind=kind, shots=shots, batch=batch, threshold=threshold,
                                leak_threshold=leak_threshold, target=target, max_rounds=max_rounds, floor=floor,
                                patience=patience, seed=seed, temperature=temperature, max_tokens=max_tokens)
    config.validate()
    check_output_file_writable(pool_path, option="--pool")  # before any generator call
    if not no_cache:
        check_cache_writable(cache_path())
    if not Path(pool_path).exists() and seeds is None:
        seeds = poolmod.project_seeds(kind)
        if seeds is None:
            raise ConfigError(f"{pool_path} does not exist and no --seeds file was given.",
                              "Pass --seeds FILE with one {\"id\", \"text\"} object per line.")
    emb = poolmod.resolve_embedder(embedder, host)
    pool = poolmod.PersonaPool(pool_path, kind, emb, seeds=seeds)
    leak_texts, leak_ids = poolmod.leak_reference(kind) if leak_check else ([], [])
    model = resolve_model(generator_spec, host)
    cache = None if no_cache else CallCache(cache_path())
    generator = CachedModel(model, cache)
    console.print(f"{pool_path}: {len(pool.entries)} {kind} entries, {pool.rounds_done} rounds done; "
                  f"embeddings: {len(pool.entries) - pool.reencoded} from cache, {pool.reencoded} encoded"
                  + (f"; leak check against {len(leak_texts)} ALOE eval {kind} texts" if leak_texts else ""))
    try:
        with GrowDisplay(console, pool_path, len(pool.entries), target, enabled=not quiet) as display:
            grower = poolmod.PoolGrower(pool, generator, config, leak_texts=leak_texts, leak_ids=leak_ids,
                                        on_round=display.round_done)
            result = asyncio.run(grower.grow())
    finally:
        generator.close()
        if cache is not None:
            cache.close()
    reasons = {"target": "target reached", "max-rounds": "round limit reached",
               "bottleneck": f"bottleneck (acceptance below {floor:.0%} for {patience} rounds)"}
    out.print(f"{pool_path}: {result.pool_size} entries (+{result.accepted} in {result.rounds_run} rounds); "
              f"stopped: {reasons.get(result.stop_reason, result.stop_reason)}")


# -- pair --------------------------------------------------------------------------------------

@command.command("pair")
@click.option("--profiles", "profiles_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Profile pool (JSONL of {id, text}, or the official one-string-per-line format).")
@click.option("--personalities", "personalities_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Personality pool, same formats.")
@click.option("--per-profile", type=click.IntRange(min=1), default=10, show_default=True,
              help="Personalities drawn for each profile.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the draw.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Persona JSONL to write (default: stdout).")
def pair(profiles_path, personalities_path, per_profile, seed, output) -> None:
    """Pair every profile with PER_PROFILE seeded personalities into a persona set (JSONL with
    stable ids PROFILE_ID+PERSONALITY_ID), usable as --personas jsonl:FILE."""
    from aloe_bench.cli.common import console
    from aloe_bench.personas.jsonl import write_persona_file
    from aloe_bench.personas.pair import pair_personas
    from aloe_bench.personas.pool import read_entries
    from aloe_bench.evaluation.preflight import check_output_file_writable

    if output:
        check_output_file_writable(output)
    profiles = read_entries(profiles_path)
    personalities = read_entries(personalities_path)
    personas = pair_personas(profiles, personalities, per_profile=per_profile, seed=seed)
    if output:
        write_persona_file(output, personas)
        console.print(f"Wrote {len(personas)} personas ({len(profiles)} profiles x {per_profile}) to {output}")
    else:
        for p in personas:
            click.echo(json.dumps({"id": p.id, "profile": p.profile, "personality": p.personality},
                                  ensure_ascii=False))


# -- facts -------------------------------------------------------------------------------------

class FactsDisplay(LiveDisplay):
    """Live progress on stderr: profiles extracted of those to do, failures, tokens, cost and
    cache hits."""

    def __init__(self, console, todo: int, enabled: bool = True):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
            TimeRemainingColumn

        self.bar = Progress(TextColumn("profiles"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            TextColumn("ETA"), TimeRemainingColumn(), console=console)
        self.task = self.bar.add_task("profiles", total=todo)
        self.status = ""
        super().__init__(console, enabled)

    def _render(self):
        from rich.console import Group

        return Group(self.bar, self.status) if self.status else self.bar

    def update(self, result) -> None:
        """Show an extraction's progress (a :class:`~aloe_bench.personas.facts.FactsResult`)."""
        self.bar.update(self.task, completed=result.done + result.failed)
        self.status = usage_line(result)
        self.refresh()


def usage_line(result) -> str:
    """Failures, calls, cache hits, tokens and cost of an extraction, as one line."""
    u = result.usage
    failed = f"{result.failed} failed · " if result.failed else ""
    return (f"{failed}{u.calls} calls ({u.cached_calls} from cache) · {u.prompt_tokens:,} tokens in, "
            f"{u.completion_tokens:,} out · ${u.cost:.4f}")


@command.command("facts")
@click.argument("source")
@click.option("--extractor", "extractor_spec", required=True, metavar="SPEC",
              help="Chat model that extracts the facts (any model spec, e.g. gpt-4o or litellm:openai/NAME).")
@click.option("--extractor-option", multiple=True, metavar="KEY=VALUE",
              help="Option passed to the extractor backend (repeatable), e.g. max_retries=0.")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              help="Facts JSONL file to write (appended to, one line per profile).")
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N distinct profiles.")
@click.option("--concurrency", type=click.IntRange(min=1), default=16, show_default=True,
              help="Requests in flight for API backends (batch size for local ones).")
@click.option("--resume", is_flag=True,
              help="Continue into a non-empty --output, extracting only the profiles it lacks.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the shared call cache.")
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
def facts(source, extractor_spec, extractor_option, output, limit, concurrency, resume, no_cache, quiet) -> None:
    """Extract the golden facts of every distinct profile of SOURCE (aloe-train, aloe-eval,
    jsonl:PATH, ...) with an extractor model, one short fact per line, into a facts file usable
    as the golden facts of runs and rewards (docs/personas.md, "Golden facts").

    Each profile's line is appended as soon as it is answered; calls go through the shared call
    cache. A non-empty --output is refused unless --resume, which skips the profiles already in it.
    Exit code 0: every profile has its facts; 3: some extractions failed (nothing written for
    them; rerun with --resume); 1: an error; 2: a usage error."""
    import asyncio
    import sys

    from rich.markup import escape

    from aloe_bench.cli.common import console, out, parse_options, show_progress
    from aloe_bench.cli.evaluate import cache_path, resume_hint
    from aloe_bench.errors import EXIT_INCOMPLETE
    from aloe_bench.evaluation.preflight import check_cache_writable, check_output_file_writable
    from aloe_bench.evaluation.roles import BackendPool
    from aloe_bench.backends.cache import CallCache
    from aloe_bench.backends.resolve import validate_spec
    from aloe_bench.personas import load_personas
    from aloe_bench.personas.facts import FactsExtraction, FactsExtractor
    from aloe_bench.plugins import default_host

    host = default_host()
    options = parse_options(extractor_option, "--extractor-option")
    validate_spec(extractor_spec, host)  # an unknown provider fails before anything is read or called
    check_output_file_writable(output)
    if not no_cache:
        check_cache_writable(cache_path())
    personas = load_personas(source, host)
    cache = None if no_cache else CallCache(cache_path())
    pool = BackendPool(host, cache, concurrency)
    try:
        backend = pool.get(extractor_spec, options, "extractor")
        extraction = FactsExtraction(personas, output, FactsExtractor(backend), limit=limit, resume=resume)
        res = extraction.result
        console.print(f"{escape(source)}: {res.total} distinct profiles"
                      + (f" ({res.empty} personas without a profile left out)" if res.empty else "")
                      + f"; {res.skipped} already in {escape(str(output))}; extracting {len(extraction.todo)} "
                      f"with [bold]{escape(extractor_spec)}[/]")
        if backend.demo_quality:
            console.print(f"[yellow]Note:[/] {escape(extractor_spec)} is a demo-quality backend: its facts are fine "
                          "for trying the pipeline, not as golden facts. Name a strong model with --extractor.")
        show = show_progress(quiet)
        try:
            with FactsDisplay(console, len(extraction.todo), enabled=show) as display:
                asyncio.run(extraction.run(on_progress=display.update))
        except KeyboardInterrupt:
            console.print(f"\n[yellow]Stopped.[/] {res.done} profiles written to {escape(str(output))}. Resume with:\n"
                          f"  {escape(resume_hint(sys.argv[1:], output))}")
            raise SystemExit(130) from None
    finally:
        for b in pool.all():
            b.close()
        if cache is not None:
            cache.close()
    out.print(f"{escape(str(output))}: {res.done} profiles extracted, {res.skipped} skipped (already there), "
              f"{res.failed} failed; {usage_line(res)}")
    if res.failed:
        console.print(f"[bold red]Incomplete:[/] {res.failed} profile(s) have no facts yet (first error: "
                      f"{escape(res.first_error or '?')}). Resume with:\n  {escape(resume_hint(sys.argv[1:], output))}")
        raise SystemExit(EXIT_INCOMPLETE)


# -- stats -------------------------------------------------------------------------------------

@command.command("stats")
@click.argument("source")
@click.option("--embedder", default="minilm", show_default=True, help="Embedder name (minilm, st:PATH).")
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
def stats(source: str, embedder: str, as_json: bool) -> None:
    """Size and nearest-neighbour similarity of SOURCE: a pool file, a persona JSONL file, or a
    persona source (aloe-eval, aloe-profiles, jsonl:PATH, ...)."""
    from aloe_bench.cli.common import out
    from aloe_bench.personas.pool import resolve_embedder
    from aloe_bench.personas.stats import source_stats
    from aloe_bench.plugins import default_host

    host = default_host()
    result = source_stats(source, resolve_embedder(embedder, host), host)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    from rich.markup import escape
    from rich.table import Table

    for name, st in result["groups"].items():
        head = escape(f"{source} [{name}]: {st['size']} texts; nearest-neighbour similarity "
                f"mean {_num(st['mean_nn'])}, min {_num(st['min_nn'])}, max {_num(st['max_nn'])} "
                f"({result['embedder']})")
        out.print(head)
        if not st["histogram"]:
            continue
        table = Table(box=None, padding=(0, 2), header_style="dim")
        table.add_column("nn similarity")
        table.add_column("count", justify="right")
        table.add_column("")
        top = max(b["count"] for b in st["histogram"]) or 1
        for b in st["histogram"]:
            table.add_row(f"{b['lo']:.1f}-{b['hi']:.1f}", str(b["count"]), "█" * round(30 * b["count"] / top))
        out.print(table)
        pair_ = st["closest_pair"]
        out.print(f"closest pair: {pair_['a']} ~ {pair_['b']} ({pair_['similarity']:.3f})\n")


def _num(value) -> str:
    return "—" if value is None else f"{value:.3f}"
