"""Name -> factory registries fed by the ``aloe_register_*`` hooks."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from aloe_bench.errors import ConfigError, DuplicateComponentError, UnknownComponentError


@dataclass(frozen=True)
class Entry:
    """One registered component."""

    name: str
    factory: Callable[..., Any]
    description: str
    plugin: str


class Registry:
    """Components of one kind (models, judges, ...), each attributed to the plugin that
    registered it."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, factory: Callable[..., Any], *, description: str = "", plugin: str = "?") -> None:
        """Add ``name``; a name already taken is a :class:`DuplicateComponentError` naming both plugins."""
        if not isinstance(name, str) or not name or any(c.isspace() for c in name):
            raise ConfigError(f"Plugin {plugin!r} registered an invalid {self.kind} name {name!r}.")
        if not callable(factory):
            raise ConfigError(f"Plugin {plugin!r} registered {self.kind} {name!r} with a factory that is not callable.")
        if name in self._entries:
            other = self._entries[name].plugin
            raise DuplicateComponentError(
                f"The {self.kind} name {name!r} is registered by two plugins: {other!r} and {plugin!r}.",
                "Disable one of them with ALOE_BENCH_DISABLE_PLUGINS.",
            )
        self._entries[name] = Entry(name, factory, description, plugin)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def get(self, name: str) -> Entry:
        """The entry for ``name``, or an error that lists what exists and the closest names."""
        try:
            return self._entries[name]
        except KeyError:
            raise self.unknown(name) from None

    def unknown(self, name: str) -> UnknownComponentError:
        """The error for an unknown ``name``: suggests close matches and lists what exists."""
        close = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.6)
        msg = f"Unknown {self.kind} {name!r}."
        if close:
            msg += f" Did you mean: {', '.join(close)}?"
        available = ", ".join(self.names()) or "none"
        return UnknownComponentError(msg, f"Available: {available}. `aloe-bench plugins` lists every plugin.")
