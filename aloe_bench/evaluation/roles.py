"""The roles of a run (model under test, user simulator, judge and, with a profile measurement,
the coverage judge), resolved from their specs.

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
    #: The coverage judge of a run with a profile measurement (judge task ``coverage``), else None.
    profile_judge: Any = None
    #: The backend the profile probe asks: the model under test's (its own stand-in in a dry run).
    probe_model: CachedModel | None = None
    #: Every judge as (its resolved settings, its protocol): the one judge, or each judge-ensemble
    #: member in order (``judge`` is the first's protocol).
    members: list[tuple[Any, Any]] = field(default_factory=list)

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
    """One backend instance per (spec, options), shared by every role that names it.

    ``dry``: a ``--dry-run`` pool (:mod:`aloe_bench.backends.dry`): each role gets its own
    stand-in backend that makes no call and tallies the role's calls and tokens in ``dry``
    (role -> :class:`~aloe_bench.backends.dry.DryTally`); nothing is loaded."""

    def __init__(self, host, cache: CallCache | None, concurrency: int, *, dry: dict | None = None):
        self.host, self.cache, self.concurrency = host, cache, concurrency
        self.dry = dry
        self._made: dict[str, CachedModel] = {}

    def get(self, spec: str, options: dict[str, Any], role: str = "") -> CachedModel:
        """The backend of ``spec`` with ``options`` (built on first use, then shared)."""
        if self.dry is not None:
            from aloe_bench.backends.dry import DryBackend, DryTally

            key = stable_hash([spec, options, role])
            if key not in self._made:
                # A judge-ensemble member (role judge:NAME) answers as the judge, tallied apart.
                answers = "judge" if role.startswith("judge:") else role
                self._made[key] = CachedModel(DryBackend(spec, answers, self.dry.setdefault(role, DryTally())), None)
            return self._made[key]
        key = stable_hash([spec, options])
        if key not in self._made:
            inner = resolve_model(spec, self.host, **options)
            inner.concurrency = self.concurrency
            self._made[key] = CachedModel(inner, self.cache)
        return self._made[key]

    def all(self) -> list[CachedModel]:
        return list(self._made.values())


def build_roles(config: EvalConfig, host, cache: CallCache | None, *, need_model: bool = True,
                need_user: bool = True, need_judge: bool = True, need_profile_judge: bool | None = None,
                dry: dict | None = None) -> RunRoles:
    """Resolve model, simulator, judge and coverage judge (sharing backends that name the same spec).

    Protocol factories are built through their registry entries: the core passes ``params=``
    (and ``mode=`` to judges) where the factory accepts them, the user's protocol options
    always. A protocol registered with ``needs_backend=False`` gets ``None`` as its backend and
    no backend is loaded for it. ``need_profile_judge`` None: when the run measures profiles.
    """
    config = config.with_default_specs(host)
    pool = BackendPool(host, cache, config.concurrency, dry=dry)
    model = pool.get(config.model, config.model_options, "model") if need_model else None
    simulator = judge = None
    if need_user:
        entry = host.simulators.get(config.user_protocol)
        backend = pool.get(config.user, config.user_options, "user") if entry.meta.get("needs_backend", True) else None
        simulator = entry.build(backend, defaults={"params": config.user_params}, **config.user_protocol_options)
    members = []
    if need_judge:
        for member in config.judge_members():
            entry = host.judges.get_for(member.protocol, "task", "score", what="--judge-protocol")
            # A dry run tallies each member apart (by role); real backends are shared by spec and options.
            backend = (pool.get(member.spec, member.options, member.role)
                       if entry.meta.get("needs_backend", True) else None)
            members.append((member, entry.build(backend, defaults={"mode": config.judge_mode, "params": member.params},
                                                **member.protocol_options)))
        judge = members[0][1]
    if need_profile_judge is None:
        need_profile_judge = config.profile_source is not None
    profile_judge = probe_model = None
    if need_profile_judge:
        entry = coverage_entry(config, host)
        backend = (pool.get(config.profile_judge_spec, config.profile_judge_options, "profile_judge")
                   if entry.meta.get("needs_backend", True) else None)
        defaults = {"params": config.profile_judge_params} if config.profile_judge_params is not None else {}
        profile_judge = entry.build(backend, defaults=defaults, **config.profile_judge_protocol_options)
    if need_model and config.profile_probe:
        # The same backend as the model's (shared by spec and options); a dry run tallies it apart.
        probe_model = pool.get(config.model, config.model_options, "probe")
    return RunRoles(model=model, simulator=simulator, judge=judge, backends=pool.all(),
                    profile_judge=profile_judge, probe_model=probe_model, members=members)


def coverage_entry(config: EvalConfig, host):
    """The registry entry of the run's coverage-judge protocol (a judge registered with
    ``task="coverage"``; another judge is an error naming the ones that are)."""
    return host.judges.get_for(config.profile_judge_protocol, "task", "coverage", what="--profile-judge-protocol")


def validate_roles(config: EvalConfig, host) -> None:
    """Check every spec and protocol name of ``config`` before anything is built or called:
    unknown providers and protocols are errors with suggestions."""
    from aloe_bench.backends.resolve import validate_spec

    config = config.with_default_specs(host)
    config.check_profile_settings()
    config.check_drift_settings()
    config.check_ensemble_settings()
    host.simulators.get(config.user_protocol)
    for member in config.judge_members():
        host.judges.get_for(member.protocol, "task", "score", what="--judge-protocol")
    validate_spec(config.model, host)
    if host.simulators.get(config.user_protocol).meta.get("needs_backend", True):
        validate_spec(config.user, host)
    for member in config.judge_members():
        if host.judges.get(member.protocol).meta.get("needs_backend", True):
            validate_spec(member.spec, host)
    if config.profile_source is not None and coverage_entry(config, host).meta.get("needs_backend", True):
        validate_spec(config.profile_judge_spec, host)


def _backend_of(protocol) -> Any:
    return getattr(protocol, "backend", None)


def role_specs(config: EvalConfig, comps: RunRoles) -> list[ComponentSpec]:
    """What run.json records about each component (with each backend's demo-quality flag)."""
    out = []
    if comps.model is not None:
        out.append(ComponentSpec(role="model", spec=config.model, options=redact(config.model_options),
                                 prompt_hashes=model_prompt_hashes(config),
                                 identity=redact(comps.model.identity()), demo_quality=comps.model.demo_quality))
    members = getattr(comps, "members", None)  # every judge (ensemble members named), when resolved
    roles = [("user", config.user, comps.simulator, None)]
    roles += ([(m.role, m.spec, protocol, m.name) for m, protocol in members] if members
              else [("judge", config.judge, comps.judge, None)])
    if getattr(comps, "profile_judge", None) is not None:
        roles.append(("profile_judge", config.profile_judge_spec, comps.profile_judge, None))
    for role, spec, protocol, member in roles:
        if protocol is not None:
            c = protocol_spec(role, spec, protocol)
            out.append(c.model_copy(update={"member": member}) if member is not None else c)
    return out


def model_prompt_hashes(config: EvalConfig) -> dict[str, str]:
    """The prompts the model under test was given, by name -> hash: the RLPA policy instruction
    (``--reply-format rlpa``) and the profile probe's question (``--profile-probe``); empty for a
    plain run (ALOE gives the model no prompt)."""
    from aloe_bench.prompts import prompt_hash

    names = []
    if getattr(config, "reply_format", "plain") == "rlpa":
        from aloe_bench.evaluation.reply_format import RLPA_PROMPT

        names.append(RLPA_PROMPT)
    if getattr(config, "profile_probe", False):
        from aloe_bench.evaluation.profiling import PROBE_PROMPT

        names.append(PROBE_PROMPT)
    return {name: prompt_hash(name) for name in names}


def protocol_spec(role: str, spec: str, protocol: Any) -> ComponentSpec:
    """What run.json records about a protocol playing ``role`` over the backend of ``spec``:
    its ``describe()`` (kind, options, prompt hashes) and its backend's identity and
    demo-quality flag."""
    d = protocol.describe()
    backend = _backend_of(protocol)
    return ComponentSpec(role=role, spec=spec if backend is not None else "", kind=d.get("kind", ""),
                         options=redact(d.get("options", {})), prompt_hashes=d.get("prompt_hashes", {}),
                         identity=redact(backend.identity()) if backend is not None else {},
                         demo_quality=bool(getattr(backend, "demo_quality", False)))


def with_served_models(specs: list[ComponentSpec], roles: RunRoles | dict[str, Any]) -> list[ComponentSpec]:
    """``specs`` with each backend's ``served_model`` (the model name its server reported in
    responses, known only after the first call) filled in, for run.json. ``roles``: a run's
    :class:`RunRoles`, or role name -> backend."""
    if isinstance(roles, RunRoles):
        backends = {"model": roles.model, "user": _backend_of(roles.simulator), "judge": _backend_of(roles.judge),
                    "profile_judge": _backend_of(roles.profile_judge)}
        backends.update({m.role: _backend_of(protocol) for m, protocol in roles.members})
    else:
        backends = roles
    out = []
    for c in specs:
        backend = backends.get(c.role)
        inner = getattr(backend, "inner", backend)
        served = getattr(inner, "served_model", None)
        out.append(c.model_copy(update={"served_model": served}) if served else c)
    return out
