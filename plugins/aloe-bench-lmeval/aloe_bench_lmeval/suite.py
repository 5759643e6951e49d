"""The offline task suite ``aloe-regress``: three small lm-eval tasks written for this project.

- ``aloe_arithmetic`` (generate_until, 30 items): arithmetic word problems with whole-number
  answers; ``exact_match`` on the number after ``Answer:`` (``strict-match``) and on the last
  number in the reply (``flexible-extract``), the way lm-eval's gsm8k scores.
- ``aloe_instructions`` (generate_until, 30 items): verifiable format instructions (all capitals,
  at most N words, start or end with a phrase, a JSON object with given keys, N bullets, ...), in
  the spirit of IFEval; ``acc`` is the share of replies that follow their instruction, checked by
  :func:`instruction_results`.
- ``aloe_commonsense`` (multiple_choice, 30 items): everyday commonsense questions with four
  answers; ``acc`` and ``acc_norm`` from log-likelihoods (needs a backend that scores
  log-likelihoods: ``hf``, ``vllm``, not chat-completions APIs).

The YAML files and their data live in this package (``aloe_bench_lmeval/tasks/``) and are found
through :mod:`importlib.resources`, never through a source checkout. The tasks load their data with
``custom_dataset: !function aloe_bench_lmeval.suite.load_data`` (lm-eval imports the function by
module path), so the YAMLs work from wherever the package is installed, also with plain
``lm_eval --include_path "$(python -c 'import aloe_bench_lmeval.suite as s; print(s.tasks_folder())')"``.
"""

from __future__ import annotations

import hashlib
import json
import re
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

#: The group that runs the whole suite.
SUITE = "aloe-regress"
#: The suite's tasks, in order.
TASKS = ("aloe_arithmetic", "aloe_instructions", "aloe_commonsense")
_PACKAGE = "aloe_bench_lmeval"


def _tasks_root():
    return resources.files(_PACKAGE).joinpath("tasks")


@contextmanager
def tasks_folder_path() -> Iterator[Path]:
    """The installed task folder as a real path for the duration of the block (a temporary copy
    when the package is installed zipped)."""
    with resources.as_file(_tasks_root()) as path:
        yield Path(path)


def tasks_folder() -> Path:
    """The installed task folder (for ``lm_eval --include_path``); for a zipped install use
    :func:`tasks_folder_path`."""
    return Path(str(_tasks_root()))


def load_data(file: str, split: str = "test", **metadata: Any):
    """lm-eval ``custom_dataset`` of the suite's tasks: ``tasks/data/FILE`` (JSONL shipped in the
    package) as a ``datasets.DatasetDict`` with one split. ``metadata`` (lm-eval passes the task's
    metadata) is ignored."""
    import datasets

    text = _tasks_root().joinpath("data", file).read_text(encoding="utf-8")
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    if any("arg" in row for row in rows):  # mixed types (None, int, list): keep them as JSON text
        rows = [{**row, "arg": json.dumps(row["arg"])} for row in rows]
    return datasets.DatasetDict({split: datasets.Dataset.from_list(rows)})


def suite_fingerprint() -> str:
    """sha256 (16 hex digits) over the suite's YAML and data files, recorded in regress.json so
    figures from two suite versions are never compared silently."""
    digest = hashlib.sha256()
    root = _tasks_root()
    entries = sorted([("", e) for e in root.iterdir() if e.name.endswith(".yaml")]
                     + [("data/", e) for e in root.joinpath("data").iterdir() if e.name.endswith(".jsonl")],
                     key=lambda pe: pe[0] + pe[1].name)
    for prefix, entry in entries:
        digest.update((prefix + entry.name).encode() + b"\0" + entry.read_bytes() + b"\1")
    return digest.hexdigest()[:16]


# -- instruction checks ------------------------------------------------------------------------------

def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9']+", text)


def _json_object(text: str) -> Any:
    body = text.strip()
    fenced = re.match(r"^```(?:json)?\s*(.*?)\s*```$", body, re.S)
    if fenced:
        body = fenced.group(1)
    try:
        return json.loads(body)
    except json.JSONDecodeError:
        return None


def follows(check: str, arg: Any, reply: str) -> bool:
    """True when ``reply`` follows the instruction ``check`` with argument ``arg`` (the
    ``check``/``arg`` fields of ``instructions.jsonl``). An unknown check is a ``ValueError``."""
    text = reply.strip()
    letters = [c for c in text if c.isalpha()]
    lowered = text.lower()
    if check == "uppercase":
        return bool(letters) and all(c.isupper() for c in letters)
    if check == "lowercase":
        return bool(letters) and all(c.islower() for c in letters)
    if check == "max_words":
        return 0 < len(_words(text)) <= int(arg)
    if check == "starts_with":
        return text.lower().startswith(str(arg).lower())
    if check == "ends_with":
        return text.rstrip(" .!\"'").lower().endswith(str(arg).lower().rstrip(".")) if arg != "?" \
            else text.endswith("?")
    if check == "contains":
        return re.search(rf"\b{re.escape(str(arg).lower())}\b", lowered) is not None
    if check == "contains_all":
        return all(re.search(rf"\b{re.escape(str(a).lower())}\b", lowered) for a in arg)
    if check == "excludes":
        return bool(text) and str(arg).lower() not in lowered
    if check == "excludes_word":
        return bool(text) and re.search(rf"\b{re.escape(str(arg).lower())}\b", lowered) is None
    if check == "json_keys":
        obj = _json_object(text)
        return isinstance(obj, dict) and all(k in obj for k in arg)
    if check == "bullets":
        bullets = [line for line in text.splitlines() if re.match(r"^\s*[-*] ", line)]
        return len(bullets) == int(arg)
    if check == "quoted":
        return len(text) >= 2 and text[0] in "\"“" and text[-1] in "\"”"
    if check == "exact":
        return text.strip(" .!\"'").lower() == str(arg).lower()
    if check == "paragraphs":
        return len([p for p in re.split(r"\n\s*\n", text) if p.strip()]) == int(arg)
    if check == "count_word":
        word, times = arg
        return len(re.findall(rf"\b{re.escape(word)}\b", lowered)) >= int(times)
    if check == "title":
        return re.search(r"<<[^<>\n]+>>", text) is not None
    if check == "postscript":
        return re.search(rf"(^|\n)\s*{re.escape(str(arg))}", text) is not None
    raise ValueError(f"unknown instruction check {check!r}")


def instruction_results(doc: dict, results: list[str]) -> dict[str, float]:
    """lm-eval ``process_results`` of ``aloe_instructions``: ``acc`` 1.0 when the reply follows the
    item's instruction, else 0.0."""
    return {"acc": float(follows(doc["check"], json.loads(doc["arg"]), results[0] if results else ""))}
