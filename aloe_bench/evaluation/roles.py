"""The roles of a run (model under test, user simulator, judge), resolved from their specs.

Backends that several roles name with the same spec and options are built once and shared; every
backend is wrapped in the call cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aloe_bench.backends.cache import CachedModel, CallCache
from aloe_bench.backends.resolve import resolve_model
from aloe_bench.evaluation.config import EvalConfig
from aloe_bench.records import ComponentSpec, stable_hash
from aloe_bench.secrets import redact


@dataclass
class RunRoles:
    """The resolved components of a run."""

    model: CachedModel
    simulator: Any
    judge: Any
    backends: list[CachedModel] = field(default_factory=list)

    @property
    def pipelined(self) -> bool:
        """True when neither the simulator's backend nor the model gains from whole batches."""
        sim_backend = getattr(self.simulator, "backend", None)
        return not (self.model.prefers_batches or sim_backend is None or sim_backend.prefers_batches)

    def close(self) -> None:
        """Close every backend once."""
        for b in self.backends:
            b.close()


class BackendPool:
    """One backend instance per (spec, options), shared by every role that names it."""

    def __init__(self, host, cache: CallCache | None, concurrency: int):
        self.host, self.cache, self.concurrency = host, cache, concurrency
        self._made: dict[str, CachedModel] = {}

    def get(self, spec: str, options: dict[str, Any]) -> CachedModel:
        key = stable_hash([spec, options])
        if key not in self._made:
            inner = resolve_model(spec, self.host, **options)
            inner.concurrency = self.concurrency
            self._made[key] = CachedModel(inner, self.cache)
        return self._made[key]

    def all(self) -> list[CachedModel]:
        return list(self._made.values())


def build_roles(config: EvalConfig, host, cache: CallCache | None, *, need_model: bool = True,
                     need_user: bool = True, need_judge: bool = True) -> RunRoles:
    """Resolve model, simulator and judge (sharing backends that name the same spec)."""
    pool = BackendPool(host, cache, config.concurrency)
    model = pool.get(config.model, config.model_options) if need_model else None
    simulator = judge = None
    if need_user:
        sim_factory = host.simulators.get(config.user_protocol).factory
        simulator = sim_factory(pool.get(config.user, config.user_options), params=config.user_params)
    if need_judge:
        judge_factory = host.judges.get(config.judge_protocol).factory
        judge = judge_factory(pool.get(config.judge, config.judge_options), mode=config.judge_mode,
                              params=config.judge_params)
    return RunRoles(model=model, simulator=simulator, judge=judge, backends=pool.all())


def role_specs(config: EvalConfig, comps: RunRoles) -> list[ComponentSpec]:
    """What run.json records about each component."""
    out = []
    if comps.model is not None:
        out.append(ComponentSpec(role="model", spec=config.model, options=redact(config.model_options),
                                 identity=redact(comps.model.identity())))
    if comps.simulator is not None:
        d = comps.simulator.describe()
        out.append(ComponentSpec(role="user", spec=config.user, kind=d.get("kind", ""), options=d.get("options", {}),
                                 prompt_hashes=d.get("prompt_hashes", {}), identity=redact(comps.simulator.backend.identity())
                                 if hasattr(comps.simulator, "backend") else {}))
    if comps.judge is not None:
        d = comps.judge.describe()
        out.append(ComponentSpec(role="judge", spec=config.judge, kind=d.get("kind", ""), options=d.get("options", {}),
                                 prompt_hashes=d.get("prompt_hashes", {}), identity=redact(comps.judge.backend.identity())
                                 if hasattr(comps.judge, "backend") else {}))
    return out
