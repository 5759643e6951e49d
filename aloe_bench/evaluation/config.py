"""The configuration of an evaluation: every key of ``aloe-bench evaluate`` and its TOML file."""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aloe_bench.components import GenerationParams
from aloe_bench.errors import ConfigError
from aloe_bench.records import stable_hash
from aloe_bench.secrets import redact


class JudgeMember(BaseModel):
    """One member of a judge ensemble (``judges`` in the config file, ``--judge`` given several
    times; docs/validity.md). Keys left out (None) take the run's ``judge_*`` settings."""

    model_config = ConfigDict(extra="forbid")

    #: The member's backend spec.
    spec: str
    #: Its name in score records (``TurnScore.member``); None: ``j1``, ``j2``, ... by position.
    name: str | None = None
    #: Its judge protocol; None: ``judge_protocol``.
    protocol: str | None = None
    #: Options of its backend; None: ``judge_options``.
    options: dict[str, Any] | None = None
    #: Options of its protocol's factory; None: ``judge_protocol_options``.
    protocol_options: dict[str, Any] | None = None
    #: Its sampling parameters; None: ``judge_params``.
    params: GenerationParams | None = None


class ResolvedJudge(BaseModel):
    """A judge of a run with every setting filled in (:meth:`EvalConfig.judge_members`)."""

    #: The member's name; None for the one judge of a run without an ensemble (its records carry no member).
    name: str | None
    #: Backend spec.
    spec: str
    #: Judge protocol.
    protocol: str
    #: Backend options.
    options: dict[str, Any]
    #: Protocol-factory options.
    protocol_options: dict[str, Any]
    #: Sampling parameters.
    params: GenerationParams
    #: Its role in run.json's components (and a dry run's tally): ``judge`` for the one judge and
    #: the first member, ``judge:NAME`` for the other members.
    role: str = "judge"


#: Member names: letters, digits, ``.``, ``_``, ``-`` (they name records and dry-run roles).
MEMBER_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$"


def repeat_seed(run_seed: int, simulator_seed: int | None, repeat: int) -> int:
    """The simulator's sampling seed in ``repeat`` (from 1) of a run with ``--repeats``: a stable
    hash of the run's ``seed``, the simulator's own seed and the repeat index, as a 31-bit number
    (far from ``seed + attempt``, the seeds of re-asks after an empty message). Repeat 0 keeps
    the simulator's own seed."""
    return int(stable_hash(["repeat", run_seed, simulator_seed, repeat]), 16) % (2 ** 31)


class EvalConfig(BaseModel):
    """Everything that defines an evaluation. Keys match the CLI options and the TOML config.

    ``model``, ``user`` and ``judge`` left empty (None) take the spec of the model provider a
    plugin registered with ``default=True`` (:meth:`with_default_specs`; the embedded ``smollm2``
    of aloe-bench-hf). ``user_protocol_options`` / ``judge_protocol_options`` go to the protocol
    factories as keyword arguments.

    Profile inference (docs/profile.md): ``profile_probe`` asks the model after every turn what it
    has learned about the user; ``reply_format = "rlpa"`` has it write that profile with every
    reply. Either way a coverage judge (``profile_judge*``, default: the judge's spec with the
    ``aloe-coverage`` protocol) scores the profile against the persona's golden facts (``facts``:
    an extracted facts file; default: the curated facts, else sentences of the profile).
    """

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    user: str | None = None
    judge: str | None = None
    user_protocol: str = "aloe"
    judge_protocol: str = "aloe"
    user_protocol_options: dict[str, Any] = Field(default_factory=dict)
    judge_protocol_options: dict[str, Any] = Field(default_factory=dict)
    judge_mode: str = "turn"
    judge_samples: int = Field(1, ge=1)
    personas: str = "aloe-eval"
    turns: int = Field(10, ge=1)
    limit: int | None = Field(None, ge=1)
    seed: int = 0
    model_params: GenerationParams = GenerationParams(max_tokens=300)
    user_params: GenerationParams = GenerationParams(max_tokens=120)
    judge_params: GenerationParams = GenerationParams(max_tokens=80)
    model_options: dict[str, Any] = Field(default_factory=dict)
    user_options: dict[str, Any] = Field(default_factory=dict)
    judge_options: dict[str, Any] = Field(default_factory=dict)
    #: After every turn, a side call asks the model under test what it has learned about the user
    #: (never part of the dialogue); the coverage judge scores it (probes.jsonl, PF1(k)). With
    #: ``reply_format = "rlpa"`` no side call is made: the profile in each reply is scored instead
    #: (the setting is stored as false: such a run is the rlpa run without it).
    profile_probe: bool = False
    #: How the model under test writes: ``plain`` replies, or ``rlpa``: a ``<profile>`` section
    #: then a ``<response>`` section, under the project's RLPA policy instruction (system prompt).
    reply_format: Literal["plain", "rlpa"] = "plain"
    #: ``rlpa``: what the model's own history keeps of its earlier outputs: ``latest`` (as the
    #: published RLPA code: its previous output whole, older ones the response only),
    #: ``responses`` (responses only) or ``full`` (every output whole).
    rlpa_history: Literal["latest", "responses", "full"] = "latest"
    #: Backend spec of the coverage judge; None: the judge's spec.
    profile_judge: str | None = None
    #: Coverage-judge protocol (a judge registered with ``task="coverage"``).
    profile_judge_protocol: str = "aloe-coverage"
    #: Options passed to the coverage judge's backend.
    profile_judge_options: dict[str, Any] = Field(default_factory=dict)
    #: Options passed to the coverage-judge protocol's factory.
    profile_judge_protocol_options: dict[str, Any] = Field(default_factory=dict)
    #: Sampling parameters of the coverage judge; None: its protocol's own defaults.
    profile_judge_params: GenerationParams | None = None
    #: Sampling parameters of the profile probe's call to the model under test.
    probe_params: GenerationParams = GenerationParams(max_tokens=300)
    #: An extracted golden-facts file (``aloe-bench personas facts``); None: the curated facts of
    #: the persona source when it has them, else one fact per sentence of each profile.
    facts: str | None = None
    #: Persona drift (docs/drift.md): from this turn K on (2 <= K <= turns) the simulator plays a
    #: changed persona, told at K that its situation has changed, and the judge scores against
    #: the persona played at each turn. None: no drift.
    drift_at: int | None = None
    #: What changes at ``drift_at``: ``profile`` (the next distinct profile of the source),
    #: ``personality`` (the next distinct personality) or ``both``.
    drift_kind: Literal["profile", "personality", "both"] = "profile"
    #: A judge ensemble (docs/validity.md): two or more members, each scoring every reply; empty:
    #: the one judge of ``judge``. With members, ``judge`` is the first member's spec (set for you),
    #: which the roles that default to the judge (the coverage judge) take.
    judges: list[JudgeMember] = Field(default_factory=list)
    #: With a judge ensemble, how a reply's score is made of the members' scores (each member's
    #: samples averaged first): ``mean`` or ``median``.
    judge_aggregate: Literal["mean", "median"] = "mean"
    #: Repeat runs (docs/validity.md): each persona is played this many times, each repeat with
    #: its own simulator seed (:func:`repeat_seed`) and conversation ids (``sample`` = the repeat).
    repeats: int = Field(1, ge=1)
    # Operational keys: they do not change results, so resuming may change them.
    concurrency: int = Field(16, ge=1)
    cache: bool = True
    bootstrap: int = Field(1000, ge=0)
    #: Stop starting new calls once the run's spend (USD, all invocations) reaches this.
    max_cost: float | None = Field(None, ge=0)

    OPERATIONAL: ClassVar[tuple[str, ...]] = ("concurrency", "cache", "bootstrap", "max_cost")
    #: Keys of the profile measurement, by what uses them. Keys a run does not use are left out of
    #: :meth:`result_keys` (and so of run.json and the config hash) while at their defaults: runs
    #: made before these keys existed keep their hash and resume.
    PROBE_KEYS: ClassVar[tuple[str, ...]] = ("profile_probe", "probe_params")
    RLPA_KEYS: ClassVar[tuple[str, ...]] = ("reply_format", "rlpa_history")
    PROFILE_JUDGE_KEYS: ClassVar[tuple[str, ...]] = ("profile_judge", "profile_judge_protocol", "profile_judge_options",
                                                     "profile_judge_protocol_options", "profile_judge_params", "facts")
    #: Keys of a persona drift: left out of :meth:`result_keys` while there is no drift.
    DRIFT_KEYS: ClassVar[tuple[str, ...]] = ("drift_at", "drift_kind")
    #: Keys of a judge ensemble and of repeat runs: left out of :meth:`result_keys` while at their
    #: defaults (one judge, one repeat), so such runs keep their config hash.
    ENSEMBLE_KEYS: ClassVar[tuple[str, ...]] = ("judges", "judge_aggregate")
    REPEAT_KEYS: ClassVar[tuple[str, ...]] = ("repeats",)

    @model_validator(mode="after")
    def _judge_is_the_first_member(self) -> "EvalConfig":
        """With a judge ensemble, ``judge`` is its first member's spec."""
        if self.judges and self.judge != self.judges[0].spec:
            object.__setattr__(self, "judge", self.judges[0].spec)
        return self

    @model_validator(mode="after")
    def _probe_from_replies(self) -> "EvalConfig":
        """A reply format that writes a profile is its own probe: ``profile_probe`` is dropped
        (the CLI says so), so the run is the same as without it."""
        if self.profile_probe and self.reply_format != "plain":
            object.__setattr__(self, "profile_probe", False)
        return self

    @property
    def profile_source(self) -> str | None:
        """Where the run's scored profiles come from: ``probe``, ``reply`` (a reply format that
        writes one), or None (no profile measurement)."""
        if self.reply_format != "plain":
            return "reply"
        return "probe" if self.profile_probe else None

    @property
    def profile_judge_spec(self) -> str | None:
        """The coverage judge's backend spec: ``profile_judge``, else the judge's."""
        return self.profile_judge or self.judge

    def judge_members(self) -> list[ResolvedJudge]:
        """The run's judges with every setting filled in: one per ensemble member (named ``j1``,
        ``j2``, ... unless named), or the one judge (name None) of a run without an ensemble."""
        if not self.judges:
            return [ResolvedJudge(name=None, spec=self.judge or "", protocol=self.judge_protocol,
                                  options=self.judge_options, protocol_options=self.judge_protocol_options,
                                  params=self.judge_params)]
        return [ResolvedJudge(name=m.name or f"j{i + 1}", spec=m.spec, protocol=m.protocol or self.judge_protocol,
                              options=self.judge_options if m.options is None else m.options,
                              protocol_options=(self.judge_protocol_options if m.protocol_options is None
                                                else m.protocol_options),
                              params=self.judge_params if m.params is None else m.params,
                              role="judge" if i == 0 else f"judge:{m.name or f'j{i + 1}'}")
                for i, m in enumerate(self.judges)]

    def judge_label(self) -> str:
        """The judge as summaries show it: its spec, or the members' specs joined by `` + ``."""
        return " + ".join(m.spec for m in self.judges) if self.judges else (self.judge or "")

    def check_ensemble_settings(self) -> None:
        """One-line usage errors for a judge ensemble or repeats that cannot work: one member
        (use ``judge``), repeated or malformed member names, an empty spec, an aggregate without
        an ensemble."""
        import re

        if not self.judges:
            if self.judge_aggregate != EvalConfig.model_construct().judge_aggregate:
                raise ConfigError("--judge-aggregate applies only to a judge ensemble.",
                                  "Give --judge two or more times (or a [[judges]] table per member), or drop "
                                  "--judge-aggregate.")
            return
        if len(self.judges) < 2:
            raise ConfigError("A judge ensemble needs two or more members; `judges` holds one.",
                              "Set `judge = SPEC` for one judge, or add members.")
        names = [m.name for m in self.judge_members()]
        for m, name in zip(self.judges, names):
            if not m.spec.strip():
                raise ConfigError(f"Judge-ensemble member {name!r} has an empty spec.", "Give every member a spec.")
            if not re.match(MEMBER_NAME, name or ""):
                raise ConfigError(f"Judge-ensemble member name {name!r} is not allowed.",
                                  "Use letters, digits, '.', '_' or '-' (at most 40), starting with a letter or digit.")
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise ConfigError(f"Judge-ensemble member names repeat: {', '.join(map(str, doubled))}.",
                              "Give every member its own name.")

    def with_default_specs(self, host) -> "EvalConfig":
        """A copy whose empty role specs are the default provider's spec; a clear error when a
        role has no spec and no installed plugin declares a default."""
        return with_default_specs(self, ("model", "user", "judge"), host)

    def result_keys(self) -> dict[str, Any]:
        """The keys that define results (hashed into config_hash, compared on resume). The
        profile-measurement keys a run does not use are left out while at their defaults."""
        data = redact(self.model_dump(mode="json"))  # secrets never reach run.json
        used = set()
        if self.profile_probe:
            used |= set(self.PROBE_KEYS)
        if self.reply_format != "plain":
            used |= set(self.RLPA_KEYS)
        if self.profile_source:
            used |= set(self.PROFILE_JUDGE_KEYS)
        if self.drift_at is not None:
            used |= set(self.DRIFT_KEYS)
        if self.judges:
            used |= set(self.ENSEMBLE_KEYS)
        if self.repeats > 1:
            used |= set(self.REPEAT_KEYS)
        defaults = redact(EvalConfig.model_construct().model_dump(mode="json"))
        optional = set(self.PROBE_KEYS + self.RLPA_KEYS + self.PROFILE_JUDGE_KEYS + self.DRIFT_KEYS
                       + self.ENSEMBLE_KEYS + self.REPEAT_KEYS) - used
        return {k: v for k, v in data.items()
                if k not in self.OPERATIONAL and not (k in optional and v == defaults.get(k))}

    def check_profile_settings(self) -> None:
        """One-line errors for profile-measurement settings that cannot work together:
        coverage-judge or facts settings without a profile measurement, an rlpa history without
        the rlpa format."""
        defaults = EvalConfig.model_construct()
        if self.reply_format == "plain" and self.rlpa_history != defaults.rlpa_history:
            raise ConfigError("--rlpa-history applies only with --reply-format rlpa.",
                              "Add --reply-format rlpa, or drop --rlpa-history.")
        if self.profile_source is None:
            stray = [k for k in self.PROFILE_JUDGE_KEYS + ("probe_params",)
                     if getattr(self, k) != getattr(defaults, k)]
            if stray:
                flags = ", ".join("--" + k.replace("_", "-") if k != "probe_params" else k for k in stray)
                raise ConfigError(f"Profile-judge settings without a profile measurement: {flags}.",
                                  "Add --profile-probe (or --reply-format rlpa), or drop them.")

    def check_drift_settings(self) -> None:
        """One-line usage errors for a drift that cannot happen: K outside 2..turns (the drift
        needs a turn before it and one to happen at), a drift kind without ``drift_at``."""
        if self.drift_at is None:
            if self.drift_kind != EvalConfig.model_construct().drift_kind:
                raise ConfigError("--drift-kind applies only with --drift-at.",
                                  "Add --drift-at K (the turn the user changes at), or drop --drift-kind.")
            return
        if not 2 <= self.drift_at <= self.turns:
            raise ConfigError(f"--drift-at {self.drift_at} is outside 2..{self.turns}: the user must have had at "
                              f"least one turn before the change, and the change must happen within --turns "
                              f"{self.turns}.", f"Use --drift-at K with 2 <= K <= {self.turns}.")

    def config_hash(self) -> str:
        """Hash of :meth:`result_keys`."""
        return stable_hash(self.result_keys())


def with_default_specs(config: BaseModel, roles: tuple[str, ...], host) -> Any:
    """A copy of ``config`` whose empty role specs (``roles``: its spec fields) are the default
    provider's spec; a clear error when one is empty and no installed plugin declares a default."""
    missing = [role for role in roles if not getattr(config, role)]
    if not missing:
        return config
    from aloe_bench.backends.resolve import default_spec

    spec = default_spec(host)
    if spec is None:
        flags = ", ".join("--" + r.replace("_", "-") for r in missing)
        raise ConfigError(f"No spec for {flags}, and no installed plugin provides a default model.",
                          "Name the models (e.g. --model hf:PATH --user gpt-4o --judge gpt-4o), or install "
                          "a plugin with a default model; `aloe-bench plugins` lists the providers.")
    return config.model_copy(update={role: spec for role in missing})


def diff_configs(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Keys whose values differ, as ``key: old -> new`` lines."""
    out = []
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            out.append(f"{key}: {old.get(key)!r} -> {new.get(key)!r}")
    return out


def _valid_keys(model: type[BaseModel], table: tuple[str, ...]) -> list[str]:
    """Field names of the (nested) model at key path ``table`` of ``model``; [] when the path
    leads to something other than a model (a dict of plugin options, a value)."""
    for key in table:
        field = model.model_fields.get(key)
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def config_error(exc: ValidationError, config_file: str | None = None, *,
                 model: type[BaseModel] | None = None, command: str = "evaluate") -> ConfigError:
    """A one-line :class:`ConfigError` for a config (``model``: :class:`EvalConfig` unless given;
    ``command``: the command whose ``--help`` lists the keys) that failed validation: the key
    path of the first problem (``model_params.temprature``) and, for an unknown key, the closest
    valid key ("Did you mean 'temperature'?") and the valid keys of its table."""
    import difflib

    first = exc.errors()[0]
    loc = tuple(str(p) for p in first["loc"])
    where = ".".join(loc)
    if first["type"] != "extra_forbidden" or not loc:
        return ConfigError(f"Invalid setting {where!r}: {first['msg']}.",
                           f"See `aloe-bench {command} --help` for the accepted keys.")
    valid = _valid_keys(model or EvalConfig, loc[:-1])
    message = f"Unknown setting {where!r}" + (f" in {config_file}" if config_file else "") + "."
    close = difflib.get_close_matches(loc[-1], valid, n=1)
    if close:
        message += f" Did you mean {close[0]!r}?"
    table = ".".join(loc[:-1])
    return ConfigError(message, f"Valid keys{' of ' + table if table else ''}: {', '.join(valid)}.")


def check_resume(store: Any, resume: bool, config: Any, *, what: str, measured: Callable[[], bool]) -> Any:
    """The stored spec a run continues, or None for a fresh start (``evaluate`` and ``generate``).

    ``store`` is the output folder (``exists()``, ``read_spec()``, ``dir``), ``config`` the run's
    settings (``config_hash()``, ``result_keys()``), ``what`` names the run in messages and
    ``measured()`` says whether the folder holds any successful turn. A folder that holds a run
    needs ``resume``; a resume with other settings is refused, listing the keys that differ,
    unless nothing was measured yet (every turn so far failed, e.g. a wrong spec or key): the
    corrected settings then replace the stored ones, with a warning."""
    import warnings

    from aloe_bench.errors import AloeBenchWarning, ResumeConflictError

    if not store.exists():
        return None
    if not resume:
        raise ConfigError(f"{store.dir} already holds {what}.",
                          "Add --resume to continue it, or choose another --output folder.")
    old = store.read_spec()
    if old.config_hash == config.config_hash():
        return old
    diffs = diff_configs(old.config, config.result_keys())
    if not measured():
        warnings.warn(f"{store.dir} has no successful turn yet: its settings are replaced ({'; '.join(diffs)}).",
                      AloeBenchWarning, stacklevel=3)
        return None
    raise ResumeConflictError(f"{store.dir} holds {what} with a different configuration ({'; '.join(diffs)}).",
                              "Resume with the stored settings or use another --output folder.")
