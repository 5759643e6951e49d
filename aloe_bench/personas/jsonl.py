"""Persona sets as JSONL files: one object per line with ``id``, ``profile``, ``personality``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from aloe_bench.errors import DataError
from aloe_bench.records import Persona


NOT_UTF8_HINT = "Save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8 FILE > NEW`) and pass the new file."


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
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            line = decode_utf8(raw, path, lineno)
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{lineno}: not valid JSON ({exc.msg}).") from None


def read_persona_file(path: str | Path, source: str | None = None) -> list[Persona]:
    """Personas from a JSONL file. Errors name the file and line."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"Persona file {path} does not exist.", "Pass jsonl:PATH with an existing file.")
    out: list[Persona] = []
    for lineno, obj in iter_json_lines(path):
        if not isinstance(obj, dict):
            raise DataError(f"{path}:{lineno}: expected an object with id, profile, personality.")
        missing = [k for k in ("id", "profile", "personality") if not isinstance(obj.get(k), str) or not obj.get(k)]
        if missing:
            raise DataError(f"{path}:{lineno}: missing or empty field(s): {', '.join(missing)}.")
        out.append(Persona(id=obj["id"], profile=obj["profile"], personality=obj["personality"],
                           source=source or f"jsonl:{path}"))
    if not out:
        raise DataError(f"Persona file {path} holds no personas.")
    return out


def write_persona_file(path: str | Path, personas: list[Persona]) -> None:
    """Write personas as JSONL atomically (temp file + rename)."""
    from aloe_bench.store import atomic_write_text

    lines = [json.dumps({"id": p.id, "profile": p.profile, "personality": p.personality}, ensure_ascii=False)
             for p in personas]
    atomic_write_text(Path(path), "\n".join(lines) + "\n")
