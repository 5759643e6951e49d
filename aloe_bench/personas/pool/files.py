"""Pool files: entries, reading pool and seed files, the three paths of a pool, appending.

A pool file holds one ``{"id", "text", "round", "max_sim", "nearest"}`` object per line. It is
append-only: each round is added with one write and an fsync, so a kill leaves at most one torn
last line, which :func:`read_entries` cuts off (with a warning) when asked to repair. All the file
mechanics come from :mod:`aloe_bench.fileio`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal, Sequence

from pydantic import BaseModel

from aloe_bench.errors import AloeBenchWarning, DataError
from aloe_bench.fileio import append_lines, iter_json_lines, read_utf8, repair_torn_tail

#: What a pool holds: profiles or personalities.
Kind = Literal["profile", "personality"]
KINDS = ("profile", "personality")


class PoolEntry(BaseModel):
    """One pool entry: a profile or a personality text with a stable id.

    ``round`` is 0 for seeds; ``max_sim`` / ``nearest`` record the closest pool entry at the
    moment the entry was accepted (None for seeds)."""

    id: str
    text: str
    round: int = 0
    max_sim: float | None = None
    nearest: str | None = None


def read_entries(path: str | Path, *, repair: bool = False) -> list[PoolEntry]:
    """Entries of a pool or seed file.

    Lines are objects with ``id`` and ``text`` (the project's format), or bare JSON strings (the
    official ALOE files), which get ids ``STEM-0001``... in file order. With ``repair`` a torn
    last line (no trailing newline, not valid JSON) is cut off the file first, with an
    :class:`AloeBenchWarning`; a complete last line that only lacks its newline is kept."""
    from aloe_bench.personas.official import read_json_strings

    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"Pool file {path} does not exist.", "Pass an existing JSONL file of {id, text} lines.")
    if repair and repair_torn_tail(path, keep_complete=True):
        warnings.warn(f"aloe-bench: cut a torn last line off {path} (growth was killed mid-write).",
                      AloeBenchWarning, stacklevel=2)
    text = read_utf8(path)
    if text.lstrip().startswith('"'):
        return [PoolEntry(id=f"{path.stem}-{i + 1:04d}", text=t) for i, t in enumerate(read_json_strings(path))]
    out: list[PoolEntry] = []
    for lineno, obj in iter_json_lines(path):
        if isinstance(obj, str):
            obj = {"id": f"{path.stem}-{lineno:04d}", "text": obj}
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str) or not isinstance(obj.get("text"), str) \
                or not obj["text"].strip():
            raise DataError(f"{path}:{lineno}: expected an object with non-empty 'id' and 'text'.")
        out.append(PoolEntry.model_validate(obj))
    ids = [e.id for e in out]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise DataError(f"{path}: duplicate id {dup!r}.")
    return out


def append_entries(path: Path, entries: Sequence[PoolEntry]) -> None:
    """Append ``entries`` to a pool file with one write and an fsync (at most one torn line)."""
    append_lines(path, [e.model_dump_json(exclude_none=True) for e in entries])


def pool_paths(pool: str | Path) -> tuple[Path, Path, Path]:
    """(pool file, embedding cache, state file): ``X.jsonl`` -> ``X.emb.npy``, ``X.state.json``."""
    pool = Path(pool).expanduser()
    stem = pool.with_suffix("") if pool.suffix == ".jsonl" else pool
    return pool, stem.with_name(stem.name + ".emb.npy"), stem.with_name(stem.name + ".state.json")
