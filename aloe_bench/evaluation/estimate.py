"""``--dry-run``: what a run would cost before it spends anything.

The real engine runs the first :data:`SAMPLE_PERSONAS` personas through the real protocols over
stand-in backends (:mod:`aloe_bench.backends.dry`) in a temporary folder, so the number of calls
per role and the shape of every prompt are those of the real run; the tallies are then scaled
to all personas. Prices come from each provider's ``price`` registration keyword (litellm's price
map for API models); wall time from a simple latency model of API calls at the run's
concurrency. Nothing is loaded, called or written outside the temporary folder.
"""

from __future__ import annotations

import asyncio
import math
import tempfile
from dataclasses import dataclass, field
from typing import Any

#: Personas played by the stand-in run (the tallies are scaled to all of them).
SAMPLE_PERSONAS = 20
#: Assumed latency of one API call: a fixed part plus a part per output token (seconds).
LATENCY_BASE_S = 0.5
LATENCY_PER_TOKEN_S = 0.02


@dataclass
class RoleEstimate:
    """The estimate of one role."""

    role: str
    spec: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    #: USD per input and output token, or None when the provider does not know the price.
    price: tuple[float, float] | None
    #: Calls per turn of one conversation (for the latency model).
    calls_per_turn: float = 1.0

    @property
    def cost(self) -> float | None:
        """Estimated USD, or None without a price."""
        if self.price is None:
            return None
        return self.prompt_tokens * self.price[0] + self.completion_tokens * self.price[1]

    @property
    def local(self) -> bool:
        """True for a provider that declares a zero price (a local model)."""
        return self.price == (0.0, 0.0)

    def latency(self) -> float:
        """Assumed seconds per call."""
        per_call = self.completion_tokens / self.calls if self.calls else 0
        return LATENCY_BASE_S + LATENCY_PER_TOKEN_S * per_call


@dataclass
class Estimate:
    """What ``--dry-run`` prints."""

    job: str
    personas: int
    sampled: int
    turns: int
    concurrency: int
    roles: list[RoleEstimate] = field(default_factory=list)
    #: Roles whose calls follow each other within a turn (the rest run beside them).
    critical: list[list[str]] = field(default_factory=list)
    #: Conversations per persona (``evaluate --repeats``); the tallies include every repeat.
    repeats: int = 1

    @property
    def calls(self) -> int:
        return sum(r.calls for r in self.roles)

    @property
    def cost(self) -> float | None:
        """Total USD; None when a role's price is unknown."""
        costs = [r.cost for r in self.roles]
        return None if any(c is None for c in costs) else sum(costs)

    def wall_seconds(self) -> float | None:
        """Estimated wall time of API backends at the run's concurrency: the longer of the
        critical path (turns x the calls that follow each other in a turn) and the busiest
        backend's calls / concurrency. None when a local backend takes part."""
        if any(r.local for r in self.roles):
            return None
        by_role = {r.role: r for r in self.roles}
        path = self.turns * sum(max(by_role[r].latency() * math.ceil(by_role[r].calls_per_turn) for r in step
                                    if r in by_role) for step in self.critical if any(r in by_role for r in step))
        by_spec: dict[str, float] = {}
        for r in self.roles:
            by_spec[r.spec] = by_spec.get(r.spec, 0.0) + r.calls * r.latency()
        busiest = max(by_spec.values(), default=0.0) / max(1, self.concurrency)
        return max(path, busiest)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able form."""
        return {"job": self.job, "personas": self.personas, "sampled": self.sampled, "turns": self.turns,
                "repeats": self.repeats,
                "concurrency": self.concurrency, "calls": self.calls, "cost": self.cost,
                "wall_seconds": self.wall_seconds(),
                "roles": [{"role": r.role, "spec": r.spec, "calls": r.calls, "prompt_tokens": r.prompt_tokens,
                           "completion_tokens": r.completion_tokens, "price": r.price, "cost": r.cost}
                          for r in self.roles]}


def provider_price(spec: str, host) -> tuple[float, float] | None:
    """USD per input and output token of ``spec`` from its provider's ``price`` keyword; None when
    the provider declares none or does not know this model."""
    from aloe_bench.backends.resolve import split_spec

    provider, rest = split_spec(spec, host.models)
    fn = host.models.get(provider).meta.get("price")
    if fn is None:
        return None
    try:
        price = fn(rest)
    except Exception:  # a price lookup must never stop a dry run; unknown is said plainly
        return None
    if price is None:
        return None
    return float(price[0]), float(price[1])


def _scale(value: int, factor: float) -> int:
    return int(round(value * factor))


def estimate(job: str, config: Any, host, personas: int, *, sample: int = SAMPLE_PERSONAS) -> Estimate:
    """Run the stand-in engine for ``job`` (``generate`` or ``evaluate``) over the first
    ``sample`` of ``personas`` personas and scale its tallies to all of them."""
    sampled = min(personas, sample)
    cfg = config.model_copy(update={"limit": sampled, "cache": False, "max_cost": None}
                            if job == "generate" else {"limit": sampled, "cache": False})
    tally: dict = {}
    members: dict[str, str] = {}  # evaluate: judge role -> spec (one per judge-ensemble member)
    with tempfile.TemporaryDirectory(prefix="aloe-bench-dry-run-") as tmp:
        if job == "generate":
            from aloe_bench.generation.config import ROLES
            from aloe_bench.generation.engine import Generation

            asyncio.run(Generation(cfg, tmp, host, dry=tally).run())
            roles = list(ROLES)
            critical = [["user"], ["induction"], ["hinted", "unhinted"], ["pair_judge"]]
        else:
            from aloe_bench.evaluation.engine import Evaluation

            asyncio.run(Evaluation(cfg, tmp, host, dry=tally).run())
            # The judge's role is each judge-ensemble member's (``judge``, ``judge:NAME``).
            members = {m.role: m.spec for m in cfg.judge_members()}
            roles = ["user", "model", *members, "probe", "profile_judge"]
            critical = [["user"], ["model"]]
    repeats = getattr(cfg, "repeats", 1)
    factor = personas / sampled if sampled else 0.0
    out = Estimate(job=job, personas=personas, sampled=sampled, turns=cfg.turns, concurrency=cfg.concurrency,
                   critical=critical, repeats=repeats)
    for role in roles:
        t = tally.get(role)
        if t is None:  # a protocol without a backend
            continue
        if role == "probe":  # the model under test, asked its profile
            spec = cfg.model
        elif role == "profile_judge":
            spec = cfg.profile_judge_spec
        elif role in members:
            spec = members[role]
        else:
            spec = getattr(cfg, role)
        per_turn = t.calls / (sampled * repeats * cfg.turns) if sampled else 0.0
        out.roles.append(RoleEstimate(role=role, spec=spec, calls=_scale(t.calls, factor),
                                      prompt_tokens=_scale(t.prompt_tokens, factor),
                                      completion_tokens=_scale(t.completion_tokens, factor),
                                      price=provider_price(spec, host), calls_per_turn=per_turn))
    return out


def print_estimate(est: Estimate) -> None:
    """The dry-run table on stdout, with the assumptions behind it."""
    from rich.markup import escape
    from rich.table import Table

    from aloe_bench.cli.common import out

    repeats = f" x {est.repeats} repeats" if est.repeats > 1 else ""
    table = Table(title=f"Dry run: aloe-bench {est.job}, {est.personas} personas x {est.turns} turns{repeats} "
                        f"(no call made; estimated from {est.sampled} personas)")
    for col in ("role", "spec", "calls", "tokens in", "tokens out", "$ / 1M in", "$ / 1M out", "cost $"):
        table.add_column(col, justify="left" if col in ("role", "spec") else "right")
    for r in est.roles:
        price_in = "?" if r.price is None else f"{r.price[0] * 1e6:.2f}"
        price_out = "?" if r.price is None else f"{r.price[1] * 1e6:.2f}"
        table.add_row(r.role, escape(r.spec), f"{r.calls:,}", f"{r.prompt_tokens:,}", f"{r.completion_tokens:,}",
                      price_in, price_out, "unknown" if r.cost is None else f"{r.cost:,.2f}")
    total = est.cost
    table.add_row("total", "", f"{est.calls:,}", f"{sum(r.prompt_tokens for r in est.roles):,}",
                  f"{sum(r.completion_tokens for r in est.roles):,}", "", "",
                  "unknown" if total is None else f"{total:,.2f}", style="bold")
    from rich.console import Console

    # whole numbers and specs even when piped (rich assumes 80 columns then)
    Console(highlight=False, width=max(out.width, 120), file=out.file).print(table)
    wall = est.wall_seconds()
    if wall is None:
        out.print("Wall time: not estimated (a local model takes part; see docs/performance.md for measured speeds).")
    else:
        out.print(f"Wall time: about {_duration(wall)} at --concurrency {est.concurrency} (assumes "
                  f"{LATENCY_BASE_S:g} s + {LATENCY_PER_TOKEN_S * 1000:g} ms per output token per API call, "
                  "no rate limits).")
    unknown = [r.spec for r in est.roles if r.price is None]
    if unknown:
        out.print(f"No price known for: {escape(', '.join(sorted(set(unknown))))} (its provider gives none).")
    out.print("Tokens are estimates (about 4 characters per prompt token; typical reply lengths per role); "
              "re-asks after unreadable answers and retries are not counted.")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
