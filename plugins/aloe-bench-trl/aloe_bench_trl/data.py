"""Training data: where it comes from, what it hashes to, and the one row shape each trainer uses.

Sources (the config's ``data`` and each ``[[mix]]`` entry):

- a ``generate`` output folder (run.json, trees.jsonl, sft.jsonl, dpo.jsonl, stats.json): the file
  the trainer needs is taken from it, and an incomplete generation (stats.json ``status``) is
  announced with a warning;
- a JSONL file (sft.jsonl, dpo.jsonl, or chat data with ``messages`` / ``conversations`` rows);
- a hub dataset name, ``NAME`` or ``NAME:SPLIT`` (``datasets.load_dataset``; respects
  ``HF_HUB_OFFLINE``).

Row shapes handed to TRL (extra columns such as persona_id, turn and schema_version are dropped):

- SFT: conversational prompt-completion, ``{"prompt": [...], "completion": [...]}``. sft.jsonl rows
  keep their split; the rejected replies of dpo.jsonl become completions (``train_on =
  "rejected"``); a chat row ``{"messages": [...]}`` is split before its first assistant message, so
  its completion holds every later turn and the trainer restricts the loss to the assistant turns in
  it (``assistant_only_loss`` together with ``completion_only_loss``).
- DPO: ``{"prompt": [...], "chosen": [assistant message], "rejected": [assistant message]}``.
"""

from __future__ import annotations

import hashlib
import json
import random
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aloe_bench.errors import AloeBenchWarning, ConfigError, DataError
from aloe_bench.fileio import iter_json_lines

#: The files of a generate output folder each kind of row comes from.
GENERATE_FILES = {"sft": "sft.jsonl", "dpo": "dpo.jsonl"}
#: ShareGPT-style role names (``from``/``value`` rows, as in several hub chat sets).
_ROLE_ALIASES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                 "system": "system", "tool": "tool", "function": "tool", "observation": "tool"}


@dataclass
class LoadedData:
    """Rows of one source in the trainer's shape, with where they came from."""

    source: str  # what the config named
    path: str | None  # the file read (None for a hub dataset)
    sha256: str  # content hash of the file (hub: of the rows as loaded)
    rows: list[dict[str, Any]] = field(default_factory=list)
    role: str = "data"  # "data" or "mix"
    weight: float = 1.0
    generate_status: str | None = None  # stats.json status of a generate folder

    def describe(self) -> dict[str, Any]:
        """What train.json records about this source."""
        out = {"role": self.role, "source": self.source, "path": self.path, "sha256": self.sha256,
               "rows": len(self.rows)}
        if self.role == "mix":
            out["weight"] = self.weight
        if self.generate_status is not None:
            out["generate_status"] = self.generate_status
        return out


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _rows_hash(rows: list[dict[str, Any]]) -> str:
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode() + b"\n")
    return digest.hexdigest()


def _generate_folder(folder: Path, kind: str) -> tuple[Path, str | None]:
    """The ``kind`` file of a generate output folder and the folder's stats.json status."""
    name = GENERATE_FILES[kind]
    path = folder / name
    if not path.is_file():
        raise DataError(f"{folder} has no {name}.",
                        "Point data at a folder written by `aloe-bench generate` (it holds sft.jsonl and dpo.jsonl), "
                        "or at a JSONL file.")
    status = None
    stats = folder / "stats.json"
    if stats.is_file():
        try:
            status = json.loads(stats.read_text(encoding="utf-8")).get("status")
        except (OSError, ValueError, AttributeError):
            status = "unreadable"
        if status != "complete":
            warnings.warn(f"{folder} holds an INCOMPLETE generation (stats.json status {status!r}): training on "
                          f"the {name} it has so far. Finish it with `aloe-bench generate ... --output {folder} "
                          "--resume` for the full data set.", AloeBenchWarning, stacklevel=2)
    return path, status


def _looks_local(text: str) -> bool:
    return (text.startswith(("/", "./", "../", "~")) or text.endswith((".jsonl", ".json"))
            or text in (".", ".."))


def _raw_rows(source: str, kind: str, role: str) -> tuple[list[tuple[str, dict]], str | None, str, str | None]:
    """(location, row) pairs of ``source`` with the file read, its hash and a generate status."""
    path = Path(source).expanduser()
    status = None
    if path.is_dir():
        if kind == "chat":
            raise DataError(f"Mix-in data {source!r} is a folder.", "Give a JSONL file or a hub dataset name.")
        path, status = _generate_folder(path, kind)
    if path.is_file():
        rows = []
        for lineno, obj in iter_json_lines(path):
            if not isinstance(obj, dict):
                raise DataError(f"{path}:{lineno}: expected a JSON object per line.")
            rows.append((f"{path}:{lineno}", obj))
        return rows, str(path.resolve()), sha256_file(path), status
    if _looks_local(source):
        raise ConfigError(f"{role} {source!r} does not exist.",
                          "Give a generate output folder, a JSONL file or a hub dataset name.")
    return _hub_rows(source, role)


def _hub_rows(source: str, role: str) -> tuple[list[tuple[str, dict]], None, str, None]:
    name, _, split = source.partition(":")
    try:
        import datasets

        datasets.disable_progress_bars()
        ds = datasets.load_dataset(name, split=split or "train")
    except Exception as exc:  # noqa: BLE001 - any hub failure is one line for the user
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ConfigError(f"Cannot load {role} {source!r} from the hub: {first}",
                          "Check the name (NAME or NAME:SPLIT), the network, or HF_HUB_OFFLINE; or give a local "
                          "JSONL file.") from None
    rows = [(f"{source}[{i}]", dict(r)) for i, r in enumerate(ds)]
    return rows, None, _rows_hash([r for _, r in rows]), None


def _message(where: str, msg: Any) -> dict[str, str]:
    if not isinstance(msg, dict):
        raise DataError(f"{where}: a message is not an object.")
    role = msg.get("role", msg.get("from"))
    content = msg.get("content", msg.get("value"))
    role = _ROLE_ALIASES.get(role, role) if isinstance(role, str) else role
    if role not in ("system", "user", "assistant", "tool") or not isinstance(content, str):
        raise DataError(f"{where}: a message needs a role (system, user, assistant) and string content.")
    return {"role": role, "content": content}


def _messages(where: str, value: Any, key: str) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise DataError(f"{where}: {key!r} must be a non-empty list of messages.")
    return [_message(where, m) for m in value]


def _reply(where: str, row: dict, key: str) -> list[dict[str, str]]:
    msgs = _messages(where, row.get(key), key)
    if len(msgs) != 1 or msgs[0]["role"] != "assistant":
        raise DataError(f"{where}: {key!r} must hold exactly one assistant message.")
    return msgs


def _schema(where: str, row: dict) -> None:
    version = row.get("schema_version", 1)
    if isinstance(version, int) and version > 1:
        raise DataError(f"{where} was written by a newer aloe-bench (schema {version}).", "Upgrade aloe-bench-trl.")


def sft_row(where: str, row: dict, field_name: str = "completion") -> dict[str, Any]:
    """An sft.jsonl row (``field_name`` = ``completion``) or a dpo.jsonl row (``rejected`` or
    ``chosen``) as ``{"prompt", "completion"}``."""
    _schema(where, row)
    if "prompt" not in row or field_name not in row:
        raise DataError(f"{where}: expected {'prompt'!r} and {field_name!r} fields "
                        f"(got {', '.join(sorted(row)) or 'none'}).",
                        "sft.jsonl rows have prompt + completion; dpo.jsonl rows prompt + chosen + rejected.")
    prompt = _messages(where, row["prompt"], "prompt")
    return {"prompt": prompt, "completion": _reply(where, row, field_name)}


def chat_row(where: str, row: dict) -> dict[str, Any] | None:
    """A chat row (``messages`` or ``conversations``, or already prompt-completion) as
    ``{"prompt", "completion"}``, split before the first assistant message; None when the row has
    no assistant message or nothing before it (nothing to learn, or no context)."""
    if "prompt" in row and "completion" in row:
        return sft_row(where, row)
    key = "messages" if "messages" in row else "conversations" if "conversations" in row else None
    if key is None:
        raise DataError(f"{where}: expected a 'messages' (or 'conversations') list of chat messages "
                        f"(got {', '.join(sorted(row)) or 'none'}).")
    msgs = _messages(where, row[key], key)
    first = next((i for i, m in enumerate(msgs) if m["role"] == "assistant"), None)
    if not first:  # None (no assistant turn) or 0 (no context before it)
        return None
    return {"prompt": msgs[:first], "completion": msgs[first:]}


def dpo_row(where: str, row: dict) -> dict[str, Any]:
    """A dpo.jsonl row as ``{"prompt", "chosen", "rejected"}``."""
    _schema(where, row)
    missing = [k for k in ("prompt", "chosen", "rejected") if k not in row]
    if missing:
        raise DataError(f"{where}: missing {', '.join(missing)} (DPO rows need prompt, chosen and rejected).",
                        "Use the dpo.jsonl of `aloe-bench generate` (or rows in that shape).")
    return {"prompt": _messages(where, row["prompt"], "prompt"), "chosen": _reply(where, row, "chosen"),
            "rejected": _reply(where, row, "rejected")}


def load_sft_data(source: str, train_on: str, limit: int | None) -> LoadedData:
    """``data`` for the sft trainer: completions of sft.jsonl (``train_on="chosen"``) or the
    rejected replies of dpo.jsonl (``"rejected"``)."""
    kind, field_name = ("sft", "completion") if train_on == "chosen" else ("dpo", "rejected")
    raw, path, digest, status = _raw_rows(source, kind, "data")
    if limit:
        raw = raw[:limit]
    rows = [sft_row(where, row, field_name) for where, row in raw]
    return _non_empty(LoadedData(source, path, digest, rows, generate_status=status))


def load_mix_data(source: str, weight: float, seed: int) -> LoadedData:
    """One ``[[mix]]`` source in the SFT shape, resampled by ``weight`` (seeded)."""
    raw, path, digest, _ = _raw_rows(source, "chat", "mix-in data")
    rows = [r for r in (chat_row(where, row) for where, row in raw) if r is not None]
    dropped = len(raw) - len(rows)
    if dropped:
        warnings.warn(f"mix-in data {source}: {dropped} row(s) without an assistant turn after some context were "
                      "left out.", AloeBenchWarning, stacklevel=2)
    whole, part = int(weight), weight - int(weight)
    rng = random.Random(seed)
    picked = rows * whole + (rng.sample(rows, round(part * len(rows))) if part else [])
    return _non_empty(LoadedData(source, path, digest, picked, role="mix", weight=weight))


def load_dpo_data(source: str, limit: int | None) -> LoadedData:
    """``data`` for the dpo trainer: dpo.jsonl rows."""
    raw, path, digest, status = _raw_rows(source, "dpo", "data")
    if limit:
        raw = raw[:limit]
    rows = [dpo_row(where, row) for where, row in raw]
    return _non_empty(LoadedData(source, path, digest, rows, generate_status=status))


def _non_empty(data: LoadedData) -> LoadedData:
    if not data.rows:
        raise DataError(f"{data.source} holds no training rows.", "Check the file (or the generate run) it names.")
    return data


def needs_assistant_mask(rows: list[dict[str, Any]]) -> bool:
    """True when some completion holds more than one message (mix-in chat rows): the loss must then
    be restricted to assistant turns, which needs ``{% generation %}`` markers in the template."""
    return any(len(r["completion"]) > 1 for r in rows)
