"""Files that survive a kill: atomic writes, append-only JSONL, torn tails, strict UTF-8.

One module for every file aloe-bench writes or reads record by record, used by run folders
(:mod:`aloe_bench.evaluation.run_folder`) and persona pools (:mod:`aloe_bench.personas.pool`)
alike:

- :func:`atomic_write_bytes` / :func:`atomic_write_text` / :func:`atomic_write_json`: a temp
  file in the same folder, fsync, rename; a reader sees the old file or the new one, never half.
- :class:`JsonlWriter` and :func:`append_lines`: one record per line, flushed (or fsynced) as
  written, so a kill loses at most the line being written.
- :func:`repair_torn_tail`: cut that torn last line off before the next append, so new records
  never fuse with it.
- :func:`read_jsonl` (validated records, a torn last line tolerated) and :func:`iter_json_lines`
  (raw values, every bad line an error naming file and line).
- :func:`decode_utf8` / :func:`read_utf8`: text that is not UTF-8 is an error naming the line.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Iterable, Iterator, TypeVar

from aloe_bench.errors import AloeBenchWarning, DataError

T = TypeVar("T")

NOT_UTF8_HINT = "Save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8 FILE > NEW`) and pass the new file."


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder, fsync and a rename.

    The file gets the permissions a plain ``open()`` would give (the umask's), not mkstemp's 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # by path: os.fchmod is POSIX-only (Windows lacks it)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` (a pydantic model or plain data) as indented JSON, atomically."""
    data = obj.model_dump(mode="json") if hasattr(obj, "model_dump") else obj
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def remove_stale_temp_files(folder: Path) -> int:
    """Delete the ``.NAME.*.tmp`` files an atomic write left behind when its process was killed.
    Only call this while no other process writes ``folder`` (under its lock). Returns the count."""
    removed = 0
    if Path(folder).is_dir():
        for tmp in Path(folder).glob(".*.tmp"):
            try:
                tmp.unlink()
                removed += 1
            except OSError:
                pass
    return removed


def repair_torn_tail(path: Path, *, keep_complete: bool = False) -> bool:
    """Cut a partial last line (no trailing newline) off ``path``; True if something was cut.

    With ``keep_complete`` a last line that is valid JSON and only lacks its newline is kept and
    the newline added (files written by other tools often end that way).
    """
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return False
    with path.open("rb+") as fh:
        data = fh.read()
        if data.endswith(b"\n"):
            return False
        keep = data.rfind(b"\n") + 1
        if keep_complete:
            try:
                json.loads(data[keep:])
            except ValueError:
                pass
            else:
                fh.write(b"\n")
                return False
        fh.truncate(keep)
    return True


def decode_utf8(data: bytes, path: Path, first_line: int = 1) -> str:
    """``data`` (read from ``path``, starting at line ``first_line``) as text; bytes that are not
    UTF-8 are a :class:`DataError` naming the file and line."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = first_line + data.count(b"\n", 0, exc.start)
        raise DataError(f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x}).", NOT_UTF8_HINT) from None


def read_utf8(path: Path) -> str:
    """The text of ``path``; a file that is not UTF-8 is a :class:`DataError` naming the line."""
    return decode_utf8(Path(path).read_bytes(), Path(path))


def iter_json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, decoded value) for every non-blank line of a JSONL file; a line that is not
    UTF-8 or not JSON is a :class:`DataError` naming the file and line."""
    with Path(path).open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            line = decode_utf8(raw, path, lineno)
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{lineno}: not valid JSON ({exc.msg}).") from None


def read_jsonl(path: Path, model: type[T], *, schema_version: int | None = None) -> tuple[list[T], int]:
    """Records of ``path`` validated as ``model`` (a pydantic model) and the number of torn lines
    skipped. Only a torn *last* line is tolerated (a process killed mid-write); a bad line in the
    middle is a :class:`DataError`. With ``schema_version``, records written by a newer schema are
    refused."""
    from pydantic import ValidationError

    path = Path(path)
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
            if schema_version is not None and obj.get("schema_version", schema_version) > schema_version:
                raise DataError(f"{path}:{i + 1} was written by a newer aloe-bench (schema "
                                f"{obj['schema_version']}).", "Upgrade aloe-bench to read it.")
            out.append(model.model_validate(obj))  # type: ignore[attr-defined]
        except (json.JSONDecodeError, UnicodeDecodeError, ValidationError, AttributeError) as exc:
            if i == last:  # no trailing newline: the process died mid-write
                torn += 1
                continue
            raise DataError(f"{path}:{i + 1}: corrupt record ({type(exc).__name__}).",
                            "Fix or delete that line, then resume.") from None
    return out, torn


class JsonlWriter:
    """Append-only JSONL writer: one record (a pydantic model) per line, flushed after each. A
    torn last line left by a killed process is cut off (with a warning) before the first append."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if repair_torn_tail(self.path):
            warnings.warn(f"cut a torn last line off {self.path} (a run was killed mid-write).",
                          AloeBenchWarning, stacklevel=2)
        self._fh = self.path.open("a", encoding="utf-8")

    def write(self, record: Any) -> None:
        """Append one record and flush it to the OS."""
        self._fh.write(record.model_dump_json() + "\n")
        self._fh.flush()

    def close(self) -> None:
        """Close the file."""
        self._fh.close()


def append_lines(path: Path, lines: Iterable[str]) -> None:
    """Append ``lines`` (each without its newline) with one write and an fsync, so a kill leaves
    at most one torn line."""
    data = "".join(line + "\n" for line in lines)
    if not data:
        return
    with Path(path).open("a", encoding="utf-8") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
