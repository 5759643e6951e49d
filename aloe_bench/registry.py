"""Typed name -> factory registries fed by the ``aloe_register_*`` hooks.

One :class:`Registry` per kind of component (model providers, simulator and judge protocols,
metrics, persona sources, trainers, leaderboard formats, embedders). Each knows

- which plugin registered each name (a name registered twice is an error naming both plugins);
- which extra registration keywords its kind accepts (``claims=``/``default=`` for model
  providers, ``needs_backend=`` for protocols), so a typo there is an error too;
- how to build a component (:meth:`Entry.build`): the factory gets the keyword arguments its
  signature accepts, and anything it raises is reported under its plugin's name;
- what a factory must return (a check per kind), so a plugin bug shows where it is.
"""

from __future__ import annotations

import difflib
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Iterator, TypeVar

from aloe_bench.errors import AloeBenchError, ConfigError, DuplicateComponentError, PluginError, UnknownComponentError

T = TypeVar("T")


def accepted_kwargs(fn: Callable[..., Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The part of ``kwargs`` that ``fn`` accepts by name (all of it when ``fn`` takes
    ``**kwargs``): pluggy's rule for hooks, applied to factories, so a factory may leave out
    arguments it does not need and keeps working when the core passes more."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: pass everything
        return dict(kwargs)
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return dict(kwargs)
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return {k: v for k, v in kwargs.items() if k in names}


def required_positionals(fn: Callable[..., Any]) -> int:
    """How many positional arguments ``fn`` requires (0 when it has no readable signature)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 0
    return sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
               and p.default is p.empty)


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered component: its name, factory, description, the plugin that registered
    it and the registration keywords of its kind (:attr:`meta`)."""

    name: str
    factory: Callable[..., Any]
    description: str
    plugin: str
    kind: str = "component"
    meta: dict[str, Any] = field(default_factory=dict)
    check: Callable[[Any], str | None] | None = field(default=None, repr=False, compare=False)

    def build(self, *args: Any, defaults: dict[str, Any] | None = None, **options: Any) -> T:
        """Call the factory: ``args`` positionally, ``defaults`` (what the core passes, such as
        ``params=``) only where the factory's signature accepts them, and ``options`` (what the
        user passed) always. An option the factory does not accept, or anything the factory
        raises, is an error naming this entry and its plugin; a wrong return type too."""
        kwargs = accepted_kwargs(self.factory, defaults or {})
        unknown = set(options) - set(accepted_kwargs(self.factory, options))
        if unknown:
            accepted = sorted(accepted_kwargs(self.factory, {p: 1 for p in _param_names(self.factory)}))
            raise ConfigError(f"The {self.kind} {self.name!r} (plugin {self.plugin!r}) takes no option "
                              f"{', '.join(sorted(map(repr, unknown)))}.",
                              f"Its options: {', '.join(accepted) or 'none'}.")
        kwargs.update(options)
        try:
            product = self.factory(*args, **kwargs)
        except AloeBenchError:
            raise
        except Exception as exc:  # a plugin's bug: say whose
            raise PluginError(f"The {self.kind} {self.name!r} of plugin {self.plugin!r} failed to build: "
                              f"{type(exc).__name__}: {exc}",
                              "Report it to the plugin's authors, or disable the plugin with "
                              f"ALOE_BENCH_DISABLE_PLUGINS={self.plugin}.") from exc
        self.verify(product)
        return product

    def verify(self, product: Any) -> None:
        """Check what the factory returned against the registry's kind (a check that takes two
        arguments also gets this entry's registration keywords, e.g. a judge's ``task``)."""
        if self.check is None:
            problem = None
        elif required_positionals(self.check) >= 2:
            problem = self.check(product, self.meta)
        else:
            problem = self.check(product)
        if problem:
            raise PluginError(f"The {self.kind} {self.name!r} of plugin {self.plugin!r} returned "
                              f"{type(product).__name__}: {problem}.", "Report it to the plugin's authors.")

    def callable(self) -> Callable[..., Any]:
        """For kinds whose product is a function (metrics, leaderboard formats): the registered
        function itself, or what a zero-argument factory returns."""
        if required_positionals(self.factory) > 0:
            return self.factory
        return self.build()


def _param_names(fn: Callable[..., Any]) -> list[str]:
    try:
        return [p.name for p in inspect.signature(fn).parameters.values()
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    except (TypeError, ValueError):
        return []


class Registry(Generic[T]):
    """Components of one kind (models, judges, ...), each attributed to the plugin that
    registered it. ``meta`` names the extra keywords ``register`` accepts for this kind, with
    their defaults; ``choices`` the allowed values of some of them; ``check(product)`` (or
    ``check(product, meta)``) returns a problem with a built product, or None."""

    def __init__(self, kind: str, *, meta: dict[str, Any] | None = None,
                 check: Callable[..., str | None] | None = None,
                 choices: dict[str, tuple[Any, ...]] | None = None):
        self.kind = kind
        self.meta_defaults = dict(meta or {})
        self.check = check
        self.choices = dict(choices or {})
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, factory: Callable[..., Any], *, description: str = "", plugin: str = "?",
                 **meta: Any) -> None:
        """Add ``name``; a name already taken is a :class:`DuplicateComponentError` naming both
        plugins; a keyword this kind does not take is a :class:`PluginError`."""
        if not isinstance(name, str) or not name or any(c.isspace() for c in name):
            raise PluginError(f"Plugin {plugin!r} registered an invalid {self.kind} name {name!r}.")
        if not callable(factory):
            raise PluginError(f"Plugin {plugin!r} registered {self.kind} {name!r} with a factory that is not callable.")
        unknown = set(meta) - set(self.meta_defaults)
        if unknown:
            raise PluginError(f"Plugin {plugin!r} registered {self.kind} {name!r} with unknown keyword(s) "
                              f"{', '.join(sorted(unknown))}.",
                              f"A {self.kind} takes: description"
                              + "".join(f", {k}" for k in sorted(self.meta_defaults)) + ".")
        for key, allowed in self.choices.items():
            if key in meta and meta[key] not in allowed:
                raise PluginError(f"Plugin {plugin!r} registered {self.kind} {name!r} with {key}={meta[key]!r}.",
                                  f"{key} is one of: {', '.join(map(repr, allowed))}.")
        if name in self._entries:
            other = self._entries[name].plugin
            raise DuplicateComponentError(
                f"The {self.kind} name {name!r} is registered by two plugins: {other!r} and {plugin!r}.",
                "Disable one of them with ALOE_BENCH_DISABLE_PLUGINS.",
            )
        self._entries[name] = Entry(name, factory, description, plugin, self.kind,
                                    {**self.meta_defaults, **meta}, self.check)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def get(self, name: str) -> Entry[T]:
        """The entry for ``name``, or an error that lists what exists and the closest names."""
        try:
            return self._entries[name]
        except KeyError:
            raise self.unknown(name) from None

    def get_for(self, name: str, key: str, value: Any, *, what: str) -> Entry[T]:
        """The entry for ``name`` when its registration keyword ``key`` is ``value``; otherwise an
        error that names the entries that have it (``what``: the option that asked, for the
        message), e.g. a score judge named where a pairwise judge is needed."""
        entry = self.get(name)
        if entry.meta.get(key) != value:
            fitting = [e.name for e in self if e.meta.get(key) == value]
            raise ConfigError(f"The {self.kind} {name!r} is registered with {key}={entry.meta.get(key)!r}; "
                              f"{what} needs {key}={value!r}.",
                              f"Those with {key}={value!r}: {', '.join(fitting) or 'none'}.")
        return entry

    def with_meta(self, key: str) -> list[Entry[T]]:
        """Entries whose registration keyword ``key`` is set (truthy)."""
        return [e for e in self if e.meta.get(key)]

    def unknown(self, name: str) -> UnknownComponentError:
        """The error for an unknown ``name``: suggests close matches and lists what exists."""
        close = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.6)
        msg = f"Unknown {self.kind} {name!r}."
        if close:
            msg += f" Did you mean: {', '.join(close)}?"
        available = ", ".join(self.names()) or "none"
        return UnknownComponentError(msg, f"Available: {available}. `aloe-bench plugins` lists every plugin.")
