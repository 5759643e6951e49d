"""The run folder: append-only JSONL, atomic JSON writes, resume scan.

::

    RUN_DIR/run.json            RunSpec (atomic)
    RUN_DIR/transcripts.jsonl   one Turn per line (append-only, flushed per record)
    RUN_DIR/scores.jsonl        one TurnScore per line (append-only, flushed per record)
    RUN_DIR/summary.json        RunSummary (atomic)
    RUN_DIR/personas.jsonl      the run's personas (atomic), so the folder is self-contained
    RUN_DIR/probes.jsonl        with a profile measurement: one ProbeRecord per (conversation,
                                turn) (append-only, flushed per record)
    RUN_DIR/drift_personas.jsonl  with a persona drift (--drift-at): the personas played from K
                                on (atomic); run.json's ``drift.targets`` maps each starting id to one
    RUN_DIR/judgements/NAME/    re-scorings by `aloe-bench judge`: judgement.json (what defines
                                the re-scoring), scores.jsonl, summary.json
    RUN_DIR/.lock               held by the one process that writes the folder

A torn last line (a process killed mid-write) is ignored on read, reported, and cut off before
the next append so new records never fuse with it. A record stored twice counts once, the last
one winning (a failed turn or judge call tried again on resume); two successful records for the
same turn mean two writers and are reported.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Iterator, TypeVar

from pydantic import BaseModel, ValidationError

from aloe_bench.errors import AloeBenchWarning, DataError, RunLockedError
from aloe_bench.fileio import (JsonlWriter, atomic_write_bytes, atomic_write_json,  # noqa: F401 (re-exported)
                               atomic_write_text, remove_stale_temp_files, repair_torn_tail)
from aloe_bench.fileio import read_jsonl as _read_jsonl
from aloe_bench.records import SCHEMA_VERSION, Persona, ProbeRecord, RunSpec, RunSummary, Turn, TurnScore, Usage

T = TypeVar("T", bound=BaseModel)


def read_jsonl(path: Path, model: type[T]) -> tuple[list[T], int]:
    """Records of a run-folder file and the torn-line count (see :func:`aloe_bench.fileio.read_jsonl`;
    records of a newer schema are refused)."""
    return _read_jsonl(path, model, schema_version=SCHEMA_VERSION)


def _warn(message: str) -> None:
    warnings.warn(message, AloeBenchWarning, stacklevel=3)


class RunLock:
    """Exclusive lock on a run folder (``RUN_DIR/.lock``, an OS file lock through ``filelock``):
    one process at a time writes a run folder. The lock dies with its process, so a killed run
    never leaves a stale lock; ``.lock.owner`` names the holder for the error message."""

    def __init__(self, run_dir: Path, *, clean: tuple[Path, ...] = ()):
        from filelock import FileLock

        self.dir = run_dir
        self.clean = clean or (run_dir,)
        self._lock = FileLock(str(run_dir / ".lock"))
        self._owner = run_dir / ".lock.owner"

    def acquire(self) -> None:
        """Take the lock now or raise :class:`RunLockedError` naming the process that holds it."""
        import socket
        import sys

        from filelock import Timeout

        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._lock.acquire(timeout=0)
        except Timeout:
            raise RunLockedError(f"{self.dir} is in use by {self._holder()}.",
                                 "Wait for that run to finish (or stop it), or choose another --output folder.") from None
        from aloe_bench.records import utc_now
        from aloe_bench.secrets import redact_argv

        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": utc_now(),
                "command": " ".join(["aloe-bench", *redact_argv(sys.argv[1:])])}
        atomic_write_json(self._owner, info)
        for folder in self.clean:
            remove_stale_temp_files(folder)

    def _holder(self) -> str:
        try:
            info = json.loads(self._owner.read_text(encoding="utf-8"))
            return f"process {info['pid']} on {info['host']} since {info['since']} ({info['command']})"
        except (OSError, ValueError, KeyError):
            return "another process"

    def release(self) -> None:
        """Release the lock (the owner file is removed first, while still held)."""
        try:
            self._owner.unlink(missing_ok=True)
        finally:
            self._lock.release()

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class RunStore:
    """One run folder."""

    def __init__(self, run_dir: str | Path, scores_name: str | None = None):
        self.dir = Path(run_dir)
        self.scores_dir = self.dir / "judgements" / scores_name if scores_name else self.dir

    def lock(self) -> RunLock:
        """The folder's write lock (use as a context manager); stale temp files of killed atomic
        writes are removed once it is held."""
        return RunLock(self.dir, clean=(self.dir, self.scores_dir))

    # paths
    @property
    def spec_path(self) -> Path:
        return self.dir / "run.json"

    @property
    def transcripts_path(self) -> Path:
        return self.dir / "transcripts.jsonl"

    @property
    def scores_path(self) -> Path:
        return self.scores_dir / "scores.jsonl"

    @property
    def summary_path(self) -> Path:
        return self.scores_dir / "summary.json"

    @property
    def personas_path(self) -> Path:
        return self.dir / "personas.jsonl"

    @property
    def probes_path(self) -> Path:
        """The run's scored profiles (a run's, never a re-scoring's: probes do not depend on the judge)."""
        return self.dir / "probes.jsonl"

    @property
    def drift_personas_path(self) -> Path:
        """The drifted personas of a run with a persona drift (docs/drift.md)."""
        return self.dir / "drift_personas.jsonl"

    @property
    def judgement_path(self) -> Path:
        """What defines a re-scoring (only in ``judgements/NAME/``)."""
        return self.scores_dir / "judgement.json"

    def exists(self) -> bool:
        """True when the folder holds a run (run.json)."""
        return self.spec_path.is_file()

    def read_spec(self) -> RunSpec:
        """The stored RunSpec; a clear error if the folder is no run folder."""
        if not self.exists():
            raise DataError(f"{self.dir} is not a run folder (no run.json).",
                            "Pass the --output folder of an `aloe-bench evaluate` run.")
        try:
            return RunSpec.model_validate_json(self.spec_path.read_text(encoding="utf-8"))
        except ValidationError as exc:
            raise DataError(f"{self.spec_path} is not a valid run spec ({exc.error_count()} errors).") from None

    def write_spec(self, spec: RunSpec) -> None:
        """Write run.json atomically."""
        atomic_write_json(self.spec_path, spec)

    def read_turns(self, *, warn: bool = True) -> tuple[list[Turn], int]:
        """Stored turns and the torn-line count. A turn stored twice (a failed turn tried again on
        resume) counts once: the last record wins. Two successful records of one turn (two
        processes wrote the folder) and a torn last line are reported as warnings."""
        turns, torn = read_jsonl(self.transcripts_path, Turn)
        latest = _last_wins(turns, lambda t: (t.conversation_id, t.turn), lambda t: t.status == "ok",
                            self.transcripts_path, warn)
        if torn and warn:
            _warn(f"{self.transcripts_path}: ignored a torn last line (a run was killed mid-write); "
                  f"{len(latest)} turns read.")
        return latest, torn

    def read_scores(self, *, warn: bool = True) -> tuple[list[TurnScore], int]:
        """Stored scores, one per (conversation, turn, member, sample) (``TurnScore.key``; member
        None with one judge): the last record wins (a failed judge call asked again on resume),
        and the torn-line count."""
        scores, torn = read_jsonl(self.scores_path, TurnScore)
        latest = _last_wins(scores, lambda s: s.key, lambda s: s.status == "ok",
                            self.scores_path, warn)
        if torn and warn:
            _warn(f"{self.scores_path}: ignored a torn last line (a run was killed mid-write); "
                  f"{len(latest)} scores read.")
        return latest, torn

    def read_probes(self, *, warn: bool = True) -> tuple[list[ProbeRecord], int]:
        """Stored profile scores, one per (conversation, turn): the last record wins (a failed
        probe or coverage call asked again on resume), and the torn-line count. Empty for runs
        without a profile measurement."""
        records, torn = read_jsonl(self.probes_path, ProbeRecord)
        latest = _last_wins(records, lambda r: (r.conversation_id, r.turn), lambda r: r.status in ("ok", "malformed"),
                            self.probes_path, warn)
        if torn and warn:
            _warn(f"{self.probes_path}: ignored a torn last line (a run was killed mid-write); "
                  f"{len(latest)} profile scores read.")
        return latest, torn

    def probe_writer(self) -> JsonlWriter:
        """Appender for probes.jsonl."""
        return JsonlWriter(self.probes_path)

    def usage(self) -> dict[str, Usage]:
        """Usage and cost per role over every stored record of this score set, failed tries and
        superseded records included: what the whole run cost across all its invocations."""
        out: dict[str, Usage] = {}
        if self.scores_dir == self.dir:
            for t in read_jsonl(self.transcripts_path, Turn)[0]:
                for role, u in t.usage.items():
                    out.setdefault(role, Usage()).add(u)
            for r in read_jsonl(self.probes_path, ProbeRecord)[0]:
                for role, u in r.usage.items():
                    out.setdefault(role, Usage()).add(u)
                if r.other is not None:  # a drift run's second coverage count
                    out.setdefault("profile_judge", Usage()).add(r.other.usage)
        for s in read_jsonl(self.scores_path, TurnScore)[0]:
            out.setdefault("judge", Usage()).add(s.usage)
        return out

    def write_personas(self, personas: list[Persona]) -> None:
        """Store the run's personas (atomically) so reports and re-scorings need no source."""
        atomic_write_text(self.personas_path, "".join(p.model_dump_json() + "\n" for p in personas))

    def read_personas(self) -> list[Persona] | None:
        """The run's stored personas, or None for runs made before they were stored."""
        if not self.personas_path.is_file():
            return None
        return read_jsonl(self.personas_path, Persona)[0]

    def write_drift_personas(self, personas: list[Persona]) -> None:
        """Store the personas a drift run plays from K on (atomically)."""
        atomic_write_text(self.drift_personas_path, "".join(p.model_dump_json() + "\n" for p in personas))

    def read_drift_personas(self) -> list[Persona] | None:
        """The stored drifted personas, or None when the folder has none (no drift)."""
        if not self.drift_personas_path.is_file():
            return None
        return read_jsonl(self.drift_personas_path, Persona)[0]

    def read_summary(self) -> RunSummary:
        """The stored summary; a clear error when the run has none yet."""
        if not self.summary_path.is_file():
            raise DataError(f"{self.dir} has no summary.json (the run has not finished).",
                            f"Finish it with `aloe-bench evaluate --output {self.dir} --resume`.")
        return RunSummary.model_validate_json(self.summary_path.read_text(encoding="utf-8"))

    def write_summary(self, summary: RunSummary) -> None:
        """Write summary.json atomically."""
        atomic_write_json(self.summary_path, summary)

    def transcript_writer(self) -> JsonlWriter:
        """Appender for transcripts.jsonl."""
        return JsonlWriter(self.transcripts_path)

    def score_writer(self) -> JsonlWriter:
        """Appender for scores.jsonl (of this store's score set)."""
        return JsonlWriter(self.scores_path)


def _last_wins(records: list[T], key, ok, path: Path, warn: bool) -> list[T]:
    """One record per key, the last one winning, in order of first appearance; warn when a key
    has two successful records (two writers, or a corrupted folder)."""
    latest: dict = {}
    doubled = 0
    for r in records:
        k = key(r)
        if k in latest and ok(latest[k]) and ok(r):
            doubled += 1
        latest[k] = r
    if doubled and warn:
        _warn(f"{path}: {doubled} record(s) stored twice (two processes wrote this run folder?); the last one "
              "of each counts. Check the run, or re-run it into a new folder.")
    return list(latest.values())


def iter_run_dirs(paths: list[str]) -> Iterator[Path]:
    """Run folders among ``paths``; a folder without run.json but with run folders inside is expanded."""
    for p in map(Path, paths):
        if (p / "run.json").is_file():
            yield p
        elif p.is_dir():
            subs = sorted(d for d in p.iterdir() if (d / "run.json").is_file())
            if not subs:
                raise DataError(f"{p} holds no run folders (no run.json).")
            yield from subs
        else:
            raise DataError(f"{p} does not exist.")
