"""One exception family for errors meant for users.

The CLI renders any :class:`AloeBenchError` as one clean line (plus its hint) without a
traceback; ``--debug`` shows the traceback.
"""

from __future__ import annotations


class AloeBenchError(Exception):
    """An error the user can fix; ``hint`` says what to do next. The CLI exits with
    :attr:`exit_code`."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class ConfigError(AloeBenchError):
    """Invalid option, config file or component spec (a usage error: exit code 2, like click's)."""

    exit_code = 2


class UnknownComponentError(ConfigError):
    """A registry lookup for a name nobody registered."""


class DuplicateComponentError(AloeBenchError):
    """Two plugins registered the same name in one registry."""


class PluginError(AloeBenchError):
    """A plugin could not be loaded or implements a hook that does not exist."""


class DataError(AloeBenchError):
    """Input data (persona files, run folders) is missing or malformed."""


class ResumeConflictError(AloeBenchError):
    """A run folder holds a run with a different configuration (a usage error: exit code 2)."""

    exit_code = 2


class MissingDependencyError(AloeBenchError):
    """A plugin needs an optional dependency that is not installed."""


class RunLockedError(AloeBenchError):
    """Another process is writing the run folder."""


class AloeBenchWarning(UserWarning):
    """Something the user should know that does not stop the command (the CLI prints it as one
    ``Warning:`` line)."""


#: Exit codes of every command that makes model calls.
EXIT_OK = 0  # the run is complete
EXIT_ERROR = 1  # an AloeBenchError (bad input, a plugin error): nothing was run, or the run stopped
EXIT_USAGE = 2  # click's own usage errors (unknown option, bad value)
EXIT_INCOMPLETE = 3  # the run finished its pass but `--resume` could still do work
EXIT_INTERRUPTED = 130  # Ctrl-C
