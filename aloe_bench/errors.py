"""One exception family for errors meant for users.

The CLI renders any :class:`AloeBenchError` as one clean line (plus its hint) without a
traceback; ``--debug`` shows the traceback.
"""

from __future__ import annotations


class AloeBenchError(Exception):
    """An error the user can fix; ``hint`` says what to do next."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class ConfigError(AloeBenchError):
    """Invalid option, config file or component spec."""


class UnknownComponentError(ConfigError):
    """A registry lookup for a name nobody registered."""


class DuplicateComponentError(AloeBenchError):
    """Two plugins registered the same name in one registry."""


class PluginError(AloeBenchError):
    """A plugin could not be loaded or implements a hook that does not exist."""


class DataError(AloeBenchError):
    """Input data (persona files, run folders) is missing or malformed."""


class ResumeConflictError(AloeBenchError):
    """A run folder holds a run with a different configuration."""


class MissingDependencyError(AloeBenchError):
    """A plugin needs an optional dependency that is not installed."""
