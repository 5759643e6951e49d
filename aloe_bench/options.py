"""Typed provider options: one way for every plugin to read ``--model-option KEY=VALUE`` and
TOML option tables.

Options reach a provider factory as ``factory(rest, **options)``. Values from the command line are
JSON-parsed when they can be (``3`` -> 3, ``true`` -> True, ``{"a": 1}`` -> a dict), else they stay
strings; values from a config file keep their TOML types. A plugin declares what it accepts as a
:class:`ProviderOptions` subclass and validates in its factory, before it loads or calls anything::

    class ShoutOptions(ProviderOptions):
        volume: int = Field(3, ge=1, description="how many exclamation marks")
        whisper: Flag = False

    def make_model(rest, **options):
        opts = ShoutOptions.parse("shout", options)
        ...

Unknown keys are rejected with the closest accepted key as a suggestion; a value of the wrong
type is one :class:`~aloe_bench.errors.ConfigError` line naming the provider and the key. Values
of secret keys (:func:`aloe_bench.secrets.is_secret_key`) are never echoed, and other echoed
values go through :func:`aloe_bench.secrets.redact`.

Coercion is lenient and the same for every plugin: numbers may arrive as strings (pydantic's lax
mode), numbers given for a string option become strings (``revision=2024`` is ``"2024"``), and
booleans follow one rule, :data:`Flag`.

This module imports pydantic: import it inside factories, never at a plugin's module level
(``aloe-bench --help`` loads every plugin module).
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any, Mapping, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from aloe_bench.errors import ConfigError
from aloe_bench.secrets import REDACTED, is_secret_key, redact

__all__ = ["FLAG_FALSE", "FLAG_TRUE", "Flag", "ProviderOptions", "to_flag"]

#: Words (case-insensitive) a :data:`Flag` option reads as true / false.
FLAG_TRUE = ("true", "1", "yes", "on")
FLAG_FALSE = ("false", "0", "no", "off")
_FLAG_EXPECTED = "expected true or false (also 1/0, yes/no, on/off)"
# Longest echoed value: option values are short; a long one is cut rather than flooding the line.
_MAX_SHOWN = 80

_Options = TypeVar("_Options", bound="ProviderOptions")


def to_flag(value: Any) -> bool:
    """The boolean rule of every provider option: True/False, the integers 1/0, and the words
    true/false, 1/0, yes/no, on/off (case-insensitive, surrounding spaces ignored). Anything else
    raises ``ValueError``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in FLAG_TRUE:
            return True
        if word in FLAG_FALSE:
            return False
    raise ValueError(_FLAG_EXPECTED)


#: A boolean option read by :func:`to_flag` (use it instead of ``bool`` in option classes).
Flag = Annotated[bool, BeforeValidator(to_flag)]


class ProviderOptions(BaseModel):
    """Base class of a provider's options: unknown keys are errors, instances are frozen.

    Subclasses declare fields with defaults (a ``Field(description=...)`` becomes the hint of
    that option's errors) and validate with :meth:`parse`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True, allow_inf_nan=False)

    @classmethod
    def parse(cls: type[_Options], provider: str, options: Mapping[str, Any] | None = None) -> _Options:
        """Validate ``options`` (the keyword options a factory received) for ``provider``.

        Returns an instance of ``cls``; an instance of ``cls`` given as ``options`` is returned
        as is. Raises one :class:`~aloe_bench.errors.ConfigError` line naming the provider and the
        first bad key (unknown keys first, with the closest accepted key as a suggestion).
        """
        if isinstance(options, cls):
            return options
        if options is None:
            options = {}
        if not isinstance(options, Mapping):
            raise ConfigError(f"Options of the {provider} provider must be KEY=VALUE pairs, got "
                              f"{type(options).__name__}.", cls._accepted_hint())
        try:
            return cls.model_validate(dict(options))
        except ValidationError as exc:
            raise cls._config_error(provider, exc, options) from None

    def __repr_args__(self):
        """Field values for ``repr``, with the values of secret keys redacted."""
        for name, value in super().__repr_args__():
            yield name, (REDACTED if is_secret_key(name) and value else value)

    @classmethod
    def accepted_keys(cls) -> list[str]:
        """The option keys this class accepts, in declaration order."""
        return [field.alias or name for name, field in cls.model_fields.items()]

    # -- error messages ---------------------------------------------------------------------------
    @classmethod
    def _accepted_hint(cls) -> str:
        keys = cls.accepted_keys()
        return f"Accepted options: {', '.join(keys)}." if keys else "This provider takes no options."

    @classmethod
    def _config_error(cls, provider: str, exc: ValidationError, options: Mapping[str, Any]) -> ConfigError:
        errors = exc.errors(include_url=False)
        unknown = list(dict.fromkeys(str(e["loc"][0]) for e in errors
                                     if e["type"] == "extra_forbidden" and len(e["loc"]) == 1))
        if unknown:
            return cls._unknown_error(provider, unknown)
        first = errors[0]
        if not first["loc"]:  # a model-level validator
            return ConfigError(f"Options of the {provider} provider: {_expected(first)}.", cls._accepted_hint())
        top = first["loc"][0]
        group = [e for e in errors if e["loc"] and e["loc"][0] == top]
        key = _key_path(first["loc"], options)
        field = cls.model_fields.get(str(top))
        hint = f"{top}: {field.description}." if field is not None and field.description else cls._accepted_hint()
        if first["type"] == "missing":
            return ConfigError(f"Option {key!r} of the {provider} provider is required.", hint)
        expected = " or ".join(dict.fromkeys(_expected(e) for e in group if _key_path(e["loc"], options) == key))
        if any(is_secret_key(part) for part in first["loc"]):
            shown = " (the value is a secret and is not shown)"
        else:
            shown = f", got {_show(first.get('input'))}"
        return ConfigError(f"Option {key!r} of the {provider} provider: {expected}{shown}.", hint)

    @classmethod
    def _unknown_error(cls, provider: str, unknown: list[str]) -> ConfigError:
        accepted = cls.accepted_keys()
        matches = {key: difflib.get_close_matches(key, accepted, n=1, cutoff=0.6) for key in unknown}
        if len(unknown) == 1:
            [key] = unknown
            message = f"Unknown option {key!r} for the {provider} provider."
            if matches[key]:
                message += f" Did you mean {matches[key][0]!r}?"
        else:
            message = f"Unknown options {', '.join(map(repr, unknown))} for the {provider} provider."
            guesses = [f"{m[0]!r} for {key!r}" for key, m in matches.items() if m]
            if guesses:
                message += f" Did you mean {', '.join(guesses)}?"
        return ConfigError(message, cls._accepted_hint())


def _key_path(loc: tuple, options: Any) -> str:
    """The option key of an error location: the top-level key plus the nested keys that exist in
    the input (pydantic adds union-member labels such as ``str`` that are not keys)."""
    parts = [str(loc[0])]
    value = options.get(loc[0]) if isinstance(options, Mapping) else None
    for part in loc[1:]:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, (list, tuple)) and isinstance(part, int) and 0 <= part < len(value):
            value = value[part]
        else:
            break
        parts.append(str(part))
    return ".".join(parts)


def _expected(error: dict) -> str:
    """What a pydantic error says the value should have been, as a lowercase phrase."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        text = str(ctx["error"])
        return text[:1].lower() + text[1:]
    simple = {
        "float_parsing": "expected a number", "float_type": "expected a number",
        "finite_number": "expected a finite number", "int_parsing": "expected a whole number",
        "int_type": "expected a whole number", "int_from_float": "expected a whole number",
        "bool_parsing": _FLAG_EXPECTED, "bool_type": _FLAG_EXPECTED,
        "string_type": "expected a string", "dict_type": "expected a table (a JSON object)",
        "mapping_type": "expected a table (a JSON object)", "list_type": "expected a list",
        "extra_forbidden": "unknown key",
    }
    if kind in simple:
        return simple[kind]
    bounds = {"greater_than": ("gt", "greater than"), "greater_than_equal": ("ge", "of at least"),
              "less_than": ("lt", "less than"), "less_than_equal": ("le", "of at most")}
    if kind in bounds and bounds[kind][0] in ctx:
        name, words = bounds[kind]
        bound = ctx[name]
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return f"expected a number {words} {bound}"
    if kind == "literal_error" and "expected" in ctx:
        return f"expected one of {ctx['expected']}"
    message = str(error.get("msg") or kind)
    return message[:1].lower() + message[1:]


def _show(value: Any) -> str:
    """``repr`` of an offending value with secrets redacted, cut to a readable length."""
    text = repr(redact(value))
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN - 3] + "..."
