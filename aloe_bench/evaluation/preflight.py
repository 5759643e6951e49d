"""Checks a command makes before it spends anything: can it write where its results will go?

A run whose folder or call cache cannot be written must fail at once, as one ``Error:`` line
that says what to do, not with a traceback after every model call has been paid for. The checks
create nothing: a folder that does not exist yet passes when its nearest existing parent is a
writable folder (the command creates it later).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from aloe_bench.errors import ConfigError

#: Files of a run folder that a run or a resume appends to (a read-only copy stops the run).
RUN_APPENDS = ("transcripts.jsonl", "scores.jsonl")
CACHE_HINT = "Pass --no-cache to run without the call cache, or set ALOE_BENCH_CACHE_DIR to a writable folder."


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists (``Path.exists`` is False below a file)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(".")


def check_folder_writable(path: str | Path, *, what: str, hint: str) -> None:
    """Raise :class:`ConfigError` unless ``path`` is a folder in which this process can create
    files, or does not exist yet and can be created (its nearest existing parent is a writable
    folder). ``what`` names the folder in the message (``"run folder"``); ``hint`` says what to do."""
    path = Path(path)
    try:
        existing = _nearest_existing(path)
    except OSError as exc:  # e.g. a parent that cannot be searched
        raise ConfigError(f"Cannot use {what} {path}: {_reason(exc)}.", hint) from None
    if not existing.is_dir():
        if existing == path:
            raise ConfigError(f"The {what} {path} is a file, not a folder.", hint)
        raise ConfigError(f"Cannot create the {what} {path}: {existing} is a file, not a folder.", hint)
    try:  # the real test: permissions, ACLs, read-only file systems (O_TMPFILE leaves no name behind)
        with tempfile.TemporaryFile(dir=existing, prefix=".aloe-bench-write-check-"):
            pass
    except OSError as exc:
        where = "" if existing == path else f" (it would be created in {existing})"
        raise ConfigError(f"Cannot write to the {what} {path}{where}: {_reason(exc)}.", hint) from None


def _check_files_writable(paths, hint: str) -> None:
    for file in paths:
        if file.is_dir():
            raise ConfigError(f"{file} is a folder, not a file.", hint)
        if file.exists() and not os.access(file, os.R_OK | os.W_OK):
            raise ConfigError(f"Cannot write to {file}: Permission denied.", hint)


def check_run_dir_writable(path: str | Path, *, hint: str | None = None) -> None:
    """Raise :class:`ConfigError` unless a run can write ``path``: the folder (existing or to be
    created) takes new files and the record files a resume appends to are writable. Call it
    before any model call."""
    hint = hint or "Choose another --output folder, or make this one writable."
    check_folder_writable(path, what="run folder", hint=hint)
    _check_files_writable([Path(path) / name for name in RUN_APPENDS], hint)


def check_judgements_writable(run_dir: str | Path, name: str | None = None) -> None:
    """Raise :class:`ConfigError` unless ``aloe-bench judge`` can write its re-scoring into
    ``run_dir/judgements/`` (``judgements/NAME`` when the name is known). A folder that is no
    run folder passes: the re-scoring itself reports that."""
    run_dir = Path(run_dir)
    if not (run_dir / "run.json").is_file():
        return
    target = run_dir / "judgements" / name if name else run_dir / "judgements"
    hint = f"Make {run_dir} writable, or re-score a copy of the run folder."
    check_folder_writable(target, what="re-scoring folder", hint=hint)
    _check_files_writable([target / "scores.jsonl"], hint)


def check_cache_writable(path: str | Path) -> None:
    """Raise :class:`ConfigError` (suggesting ``--no-cache``) unless the SQLite call cache at
    ``path`` can be opened for writing: its folder exists or can be created and takes new files
    (SQLite adds ``-wal`` and ``-shm`` files beside it), and the existing files are writable."""
    path = Path(path)
    check_folder_writable(path.parent, what="call cache folder", hint=CACHE_HINT)
    _check_files_writable([path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")],
                          CACHE_HINT)


def check_output_file_writable(path: str | Path, *, option: str = "--output") -> None:
    """Raise :class:`ConfigError` unless a file can be written at ``path`` (given with ``option``):
    not a folder, and its folder exists or can be created and takes new files."""
    path = Path(path)
    hint = f"Choose another {option} path, or make its folder writable."
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a folder, not a file.", hint)
    check_folder_writable(path.parent, what=f"folder for {option}", hint=hint)
    _check_files_writable([path], hint)
