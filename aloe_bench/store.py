"""The run folder: append-only JSONL, atomic JSON writes, resume scan.

::

    RUN_DIR/run.json            RunSpec (atomic)
    RUN_DIR/transcripts.jsonl   one Turn per line (append-only, flushed per record)
    RUN_DIR/scores.jsonl        one TurnScore per line (append-only, flushed per record)
    RUN_DIR/summary.json        RunSummary (atomic)
    RUN_DIR/judgements/NAME/    re-scorings by `aloe-bench judge`: scores.jsonl + summary.json

A torn last line (a process killed mid-write) is ignored on read, reported, and cut off before
the next append so new records never fuse with it.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Iterator, TypeVar

from pydantic import BaseModel, ValidationError

from aloe_bench.errors import DataError
from aloe_bench.records import SCHEMA_VERSION, RunSpec, RunSummary, Turn, TurnScore

T = TypeVar("T", bound=BaseModel)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file in the same folder and a rename."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder, fsync and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600 files; results should be readable as usual
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, obj) -> None:
    """Write ``obj`` (a pydantic model or plain data) as indented JSON, atomically."""
    data = obj.model_dump(mode="json") if isinstance(obj, BaseModel) else obj
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def repair_torn_tail(path: Path) -> bool:
    """Cut a partial last line (no trailing newline) off ``path``. True if something was cut."""
    if not path.exists() or path.stat().st_size == 0:
        return False
    with path.open("rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return False
        data = fh.seek(0) or fh.read()
        keep = data.rfind(b"\n") + 1
        fh.truncate(keep)
    return True


def read_jsonl(path: Path, model: type[T]) -> tuple[list[T], int]:
    """Records of ``path`` and the number of torn/invalid lines skipped (only a torn *last* line
    is tolerated; a bad line in the middle is a :class:`DataError`)."""
    if not path.exists():
        return [], 0
    lines = path.read_bytes().split(b"\n")
    out: list[T] = []
    torn = 0
    last = len(lines) - 1
    for i, raw in enumerate(lines):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
            if obj.get("schema_version", SCHEMA_VERSION) > SCHEMA_VERSION:
                raise DataError(f"{path}:{i + 1} was written by a newer aloe-bench (schema "
                                f"{obj['schema_version']}).", "Upgrade aloe-bench to read it.")
            out.append(model.model_validate(obj))
        except (json.JSONDecodeError, ValidationError, AttributeError) as exc:
            if i == last:  # no trailing newline: the process died mid-write
                torn += 1
                continue
            raise DataError(f"{path}:{i + 1}: corrupt record ({type(exc).__name__}).",
                            "Fix or delete that line, then resume.") from None
    return out, torn


class JsonlWriter:
    """Append-only JSONL writer: one record per line, flushed after each."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        if repair_torn_tail(path):
            warnings.warn(f"aloe-bench: cut a torn last line off {path} (a run was killed mid-write).",
                          stacklevel=2)
        self._fh = path.open("a", encoding="utf-8")

    def write(self, record: BaseModel) -> None:
        """Append one record and flush it to the OS."""
        self._fh.write(record.model_dump_json() + "\n")
        self._fh.flush()

    def close(self) -> None:
        """Close the file."""
        self._fh.close()


class RunStore:
    """One run folder."""

    def __init__(self, run_dir: str | Path, scores_name: str | None = None):
        self.dir = Path(run_dir)
        self.scores_dir = self.dir / "judgements" / scores_name if scores_name else self.dir

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

    def read_turns(self) -> tuple[list[Turn], int]:
        """Stored turns and the torn-line count. A turn stored twice (a failed turn tried again on
        resume) counts once: the last record wins."""
        turns, torn = read_jsonl(self.transcripts_path, Turn)
        latest = {(t.conversation_id, t.turn): t for t in turns}
        return list(latest.values()), torn

    def read_scores(self) -> tuple[list[TurnScore], int]:
        """Stored scores (deduplicated by (conversation, turn, sample)) and torn-line count."""
        scores, torn = read_jsonl(self.scores_path, TurnScore)
        seen, out = set(), []
        for s in scores:
            key = (s.conversation_id, s.turn, s.sample)
            if key not in seen:
                seen.add(key)
                out.append(s)
        return out, torn

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
