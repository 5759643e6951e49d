"""The configuration of an evaluation: every key of ``aloe-bench evaluate`` and its TOML file."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aloe_bench.components import GenerationParams
from aloe_bench.errors import ConfigError
from aloe_bench.records import stable_hash
from aloe_bench.secrets import redact


class EvalConfig(BaseModel):
    """Everything that defines an evaluation. Keys match the CLI options and the TOML config.

    ``model``, ``user`` and ``judge`` left empty (None) take the spec of the model provider a
    plugin registered with ``default=True`` (:meth:`with_default_specs`; the embedded ``smollm2``
    of aloe-bench-hf). ``user_protocol_options`` / ``judge_protocol_options`` go to the protocol
    factories as keyword arguments.
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
    # Operational keys: they do not change results, so resuming may change them.
    concurrency: int = Field(16, ge=1)
    cache: bool = True
    bootstrap: int = Field(1000, ge=0)
    #: Stop starting new calls once the run's spend (USD, all invocations) reaches this.
    max_cost: float | None = Field(None, ge=0)

    OPERATIONAL: ClassVar[tuple[str, ...]] = ("concurrency", "cache", "bootstrap", "max_cost")

    def with_default_specs(self, host) -> "EvalConfig":
        """A copy whose empty role specs are the default provider's spec; a clear error when a
        role has no spec and no installed plugin declares a default."""
        return with_default_specs(self, ("model", "user", "judge"), host)

    def result_keys(self) -> dict[str, Any]:
        """The keys that define results (hashed into config_hash, compared on resume)."""
        data = redact(self.model_dump(mode="json"))  # secrets never reach run.json
        return {k: v for k, v in data.items() if k not in self.OPERATIONAL}

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
