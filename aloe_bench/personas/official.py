"""The official ALOE persona files: pinned download with sha256 check, or a local folder.

Files come from the ALOE repository at a pinned commit. ``ALOE_BENCH_DATA_DIR=FOLDER`` reads
them from a folder instead (offline machines, CI). Downloads are cached in the user cache dir.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import urllib.error
import urllib.request
from pathlib import Path

from aloe_bench.errors import DataError
from aloe_bench.paths import cache_dir  # noqa: F401 (re-exported for older imports)
from aloe_bench.records import Persona

COMMIT = "b1b8285e3a759c8f7d9b84034447c89857f02e98"
BASE_URL = f"https://raw.githubusercontent.com/ShujinWu-0814/ALOE/{COMMIT}/datasets/"
FILES = {
    "profile.jsonl": "da50fe0d650f8ec39c21fd425fdb3f6a63f6cf0153ddf0cfede597b83f533918",
    "personality.jsonl": "6b62c41a029a60c27a51113869cb69060e061078d9c20ab580de88ca70e38b07",
    "profile_eval.jsonl": "3d58a1d36fb2b6a39069ebd5f65b7ac34894f3fbe36a05ac0eb5779c4fde9652",
    "personality_eval.jsonl": "01251b2537c838cf417fad652c692ede14182875b834f821bbc7e8b74dd53cc6",
}
EVAL_PERSONALITIES = 5
TRAIN_PER_PROFILE = 10
TRAIN_SEED = 2024


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def data_file(name: str) -> Path:
    """Path of official file ``name``: from ``ALOE_BENCH_DATA_DIR``, the cache, or a download."""
    if name not in FILES:
        raise DataError(f"Unknown ALOE data file {name!r}.")
    folder = os.environ.get("ALOE_BENCH_DATA_DIR")
    if folder:
        path = Path(folder).expanduser() / name
        if not path.is_file():
            raise DataError(f"ALOE_BENCH_DATA_DIR={folder} has no {name}.",
                            f"Put the four official ALOE files there ({', '.join(FILES)}) or unset it to download them.")
        if _sha256(path) != FILES[name]:
            raise DataError(f"{path} does not match the pinned sha256 of {name}.",
                            "Use the unmodified file from the ALOE repository at commit " + COMMIT[:10] + ".")
        return path
    path = cache_dir() / "aloe-data" / COMMIT[:10] / name
    if path.is_file() and _sha256(path) == FILES[name]:
        return path
    return _download(name, path)


def _download(name: str, path: Path) -> Path:
    url = BASE_URL + name
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            data = resp.read()
    except (urllib.error.URLError, OSError) as exc:
        raise DataError(
            f"Cannot download the ALOE persona file {name} ({exc.__class__.__name__}: {getattr(exc, 'reason', exc)}).",
            "Connect to the network once, or set ALOE_BENCH_DATA_DIR to a folder holding the four official files.",
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != FILES[name]:
        raise DataError(f"Downloaded {name} has sha256 {digest[:12]}..., expected {FILES[name][:12]}...",
                        "The upstream file changed or the download was corrupted; set ALOE_BENCH_DATA_DIR instead.")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def read_json_strings(path: Path) -> list[str]:
    """Every JSON value in ``path``, decoded as a stream: ``profile.jsonl`` has two records on one
    line, and ``profile_eval.jsonl`` has no trailing newline. Each must be a string."""
    from aloe_bench.personas.jsonl import read_utf8

    text = read_utf8(path)
    decoder = json.JSONDecoder()
    out: list[str] = []
    pos = 0
    ws = re.compile(r"\s*")
    while True:
        pos = ws.match(text, pos).end()
        if pos >= len(text):
            break
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            line = text.count("\n", 0, pos) + 1
            raise DataError(f"{path}:{line}: not valid JSON ({exc.msg}).") from None
        if not isinstance(value, str):
            line = text.count("\n", 0, pos) + 1
            raise DataError(f"{path}:{line}: expected a JSON string, got {type(value).__name__}.")
        out.append(value)
    return out


def profiles() -> list[str]:
    """The 331 training profiles."""
    return read_json_strings(data_file("profile.jsonl"))


def personalities() -> list[str]:
    """The 71 training personalities."""
    return read_json_strings(data_file("personality.jsonl"))


def eval_personas() -> list[Persona]:
    """The ALOE benchmark: 20 eval profiles x the first 5 eval personalities, profile-major."""
    profs = read_json_strings(data_file("profile_eval.jsonl"))
    pers = read_json_strings(data_file("personality_eval.jsonl"))[:EVAL_PERSONALITIES]
    return [
        Persona(id=f"aloe-eval-p{i + 1:02d}-t{j + 1}", profile=p, personality=q, source="aloe-eval")
        for i, p in enumerate(profs)
        for j, q in enumerate(pers)
    ]


def train_personas(per_profile: int = TRAIN_PER_PROFILE, seed: int = TRAIN_SEED) -> list[Persona]:
    """Each training profile paired with ``per_profile`` distinct personalities drawn with a fixed seed."""
    profs, pers = profiles(), personalities()
    rng = random.Random(seed)
    out = []
    for i, p in enumerate(profs):
        for j in sorted(rng.sample(range(len(pers)), per_profile)):
            out.append(Persona(id=f"aloe-train-p{i + 1:03d}-t{j + 1:02d}", profile=p,
                               personality=pers[j], source="aloe-train"))
    return out
