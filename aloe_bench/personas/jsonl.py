"""Persona sets as JSONL files: one object per line with ``id``, ``profile``, ``personality``."""

from __future__ import annotations

import json
from pathlib import Path

from aloe_bench.errors import DataError
from aloe_bench.fileio import NOT_UTF8_HINT, decode_utf8, iter_json_lines, read_utf8  # noqa: F401 (re-exported)
from aloe_bench.records import Persona


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
    from aloe_bench.fileio import atomic_write_text

    lines = [json.dumps({"id": p.id, "profile": p.profile, "personality": p.personality}, ensure_ascii=False)
             for p in personas]
    atomic_write_text(Path(path), "\n".join(lines) + "\n")
