"""Local checkpoint folders as the backends see them: which files make the model, a content
fingerprint of them (for cache keys and run.json, so a checkpoint retrained into the same folder
never reuses cached replies), and the base model of a peft adapter folder.

Standard library only: the ``hf`` and ``lmeval`` providers share it without importing each other.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable

from aloe_bench.errors import ConfigError

#: Small files are hashed by content; anything larger by name, size and modification time.
CONTENT_LIMIT = 4 * 1024 * 1024
#: Files of a checkpoint folder that can change its replies (weights, configs, tokenizer, template, code).
MODEL_SUFFIXES = (".json", ".jinja", ".safetensors", ".bin", ".gguf", ".model", ".txt", ".py", ".tiktoken", ".pt")
#: What training and aloe-bench write beside a model (``train``'s and ``regress``'s records, the
#: trainer's state and arguments): not part of the model, so writing them never changes its fingerprint.
NOT_MODEL_FILES = ("regress", "train.json", "trainer_state.json", "training_args")
#: The file that makes a folder a peft adapter rather than a whole model.
ADAPTER_CONFIG = "adapter_config.json"


def model_files(folder: Path) -> list[Path]:
    """The files directly in ``folder`` that make the model (:data:`MODEL_SUFFIXES`, without
    :data:`NOT_MODEL_FILES`), sorted; ``checkpoint-N/`` subfolders are not looked into."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.name.endswith(MODEL_SUFFIXES)
                  and not p.name.startswith(NOT_MODEL_FILES))


def files_fingerprint(files: Iterable[Path], extra: bytes = b"") -> str:
    """A short (16 hex) fingerprint of ``files`` (small ones by content, larger ones by name, size
    and modification time; symlinks, as in hub snapshots, followed) and ``extra``."""
    digest = hashlib.sha256()
    for item in files:
        real = Path(item).resolve()
        stat = real.stat()
        digest.update(Path(item).name.encode() + b"\0")
        if stat.st_size <= CONTENT_LIMIT:
            digest.update(real.read_bytes())
        else:
            digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
        digest.update(b"\1")
    digest.update(extra)
    return digest.hexdigest()[:16]


def folder_fingerprint(folder: Path) -> str:
    """:func:`files_fingerprint` of a checkpoint folder's :func:`model_files`; for a peft adapter
    folder its base model's fingerprint (or name) too, since an adapter's replies depend on it."""
    base = adapter_base(folder)
    extra = b""
    if base is not None:
        base_path = Path(base).expanduser()
        extra = b"base:" + (folder_fingerprint(base_path) if base_path.is_dir() else base).encode()
    return files_fingerprint(model_files(folder), extra)


def adapter_base(folder: Path) -> str | None:
    """The base model named by the peft adapter in ``folder`` (``base_model_name_or_path`` of
    adapter_config.json), or None when ``folder`` holds no adapter; a :class:`ConfigError` when
    the adapter names none (or its config cannot be read)."""
    config = Path(folder) / ADAPTER_CONFIG
    if not config.is_file():
        return None
    try:
        base = json.loads(config.read_text(encoding="utf-8")).get("base_model_name_or_path")
    except (OSError, ValueError, AttributeError):
        base = None
    if not isinstance(base, str) or not base:
        raise ConfigError(f"{config} names no base model (base_model_name_or_path).",
                          "Save the adapter with peft's save_pretrained from a model loaded by name or folder.")
    return base
