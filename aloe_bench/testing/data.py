"""Where the official ALOE data files are, for tests (standard library only)."""

from __future__ import annotations

import os
from pathlib import Path

#: A file every official ALOE data folder holds.
MARKER = "profile_eval.jsonl"


def find_aloe_data(start: str | Path | None = None) -> Path | None:
    """The folder that holds the official ALOE files, or None.

    ``ALOE_BENCH_DATA_DIR`` when it names a folder; else ``shared/aloe-data`` in or beside the
    checkout this package runs from (``/work/shared/aloe-data`` for a checkout in ``/work/main``)
    or above ``start`` (default: the current folder).
    """
    env = os.environ.get("ALOE_BENCH_DATA_DIR")
    if env and Path(env).expanduser().is_dir():
        return Path(env).expanduser()
    here = Path(__file__).resolve().parents[2]  # the checkout root of a source (editable) install
    for base in (Path(start) if start is not None else Path.cwd(), here):
        base = base.resolve()
        for parent in [base, *base.parents]:  # the checkout's own folder, then the folders it sits in
            cand = parent / "shared" / "aloe-data"
            if (cand / MARKER).is_file():
                return cand
    return None
