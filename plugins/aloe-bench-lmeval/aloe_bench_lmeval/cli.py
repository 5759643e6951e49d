"""The ``aloe-bench regress`` command (added through ``aloe_register_commands``).

Only click is imported at module level: ``aloe-bench --help`` loads this module.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click


def _limit(value: float | None) -> int | float | None:
    if value is None:
        return None
    if value <= 0:
        raise click.BadParameter("must be above 0 (a count of items, or a fraction below 1)", param_hint="--limit")
    return int(value) if value >= 1 and float(value).is_integer() else float(value)


@click.command("regress")
@click.argument("model_spec", metavar="MODEL_SPEC")
@click.option("--tasks", "-t", "tasks", multiple=True, required=True, metavar="LIST",
              help="lm-eval task or group names, comma-separated (repeatable): aloe-regress (the offline suite "
                   "shipped with aloe-bench-lmeval), gsm8k, mmlu, ifeval, ..., or tasks of an --include-path folder.")
@click.option("--limit", type=float, metavar="N", help="Items per task: a count, or a fraction below 1 (lm-eval's --limit; for "
                                          "quick checks, not for reported figures).")
@click.option("--output", "-o", type=click.Path(file_okay=False), help="Folder for regress.json (default: the model "
              "folder for a local checkpoint, such as a training output; else runs/regress-MODEL-TIMESTAMP). Give an "
              "ALOE run folder to show the figures in its leaderboard row.")
@click.option("--baseline", type=click.Path(exists=True), help="A regress.json (or a folder holding one) of the base "
              "model: print the change per task and metric with its standard error.")
@click.option("--include-path", "include_paths", multiple=True, type=click.Path(file_okay=False),
              help="A folder of lm-eval task YAML files (repeatable).")
@click.option("--num-fewshot", type=click.IntRange(min=0), metavar="N", help="Few-shot examples per item (default: each task's own).")
@click.option("--no-chat-template", is_flag=True, help="Feed raw prompts (base models); default: the model's chat "
                                                       "template, as for ALOE's chat models.")
@click.option("--batch-size", metavar="B", help="lm-eval batch size: a number or auto (default 16 for hf, else the backend's).")
@click.option("--device", metavar="DEVICE", help="Device for local backends: cpu, cuda, cuda:N (default: CUDA when there is one).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of lm-eval's sampling and few-shot draws "
                                                                     "and of the bootstrap.")
@click.option("--bootstrap", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Bootstrap resamples for the standard errors (lm-eval's and the paired change's).")
@click.option("--quiet", "-q", is_flag=True, help="No status lines (lm-eval still draws its own progress bars).")
def regress_command(model_spec: str, tasks: tuple[str, ...], limit: float | None, output: str | None,
                    baseline: str | None, include_paths: tuple[str, ...], num_fewshot: int | None,
                    no_chat_template: bool, batch_size: str | None, device: str | None, seed: int, bootstrap: int,
                    quiet: bool) -> None:
    """General-capability check of a model through lm-eval: aloe-bench regress MODEL_SPEC --tasks LIST.

    \b
    MODEL_SPEC: lmeval:BACKEND:MODEL_ARGS (lm_eval --model/--model_args syntax), hf:ID_OR_PATH, a local model
    folder (a training output), or smollm2.
    \b
    Examples:
      aloe-bench regress runs/sft-1 --tasks aloe-regress --baseline runs/base-regress
      aloe-bench regress lmeval:hf:pretrained=Qwen/Qwen2-7B-Instruct,dtype=bfloat16 --tasks gsm8k,ifeval,mmlu
      aloe-bench regress lmeval:vllm:pretrained=runs/sft-1,tensor_parallel_size=2 --tasks aloe-regress -o runs/sft-eval
    Writes regress.json (and regress_samples.jsonl) once lm-eval has finished; `aloe-bench leaderboard` shows
    the figures of a run folder holding one. Exit code 0: done; 1: an error; 2: a usage error.
    """
    from aloe_bench.cli.common import console, out

    from aloe_bench_lmeval.regress import (
        compare,
        default_output,
        load_regress,
        resolve_regress_model,
        run_folder_mismatch,
        run_regress,
        write_regress,
    )

    model = resolve_regress_model(model_spec)
    base_file, base_record = load_regress(baseline) if baseline else (None, None)
    folder = Path(output) if output else default_output(model)
    if folder.exists() and not folder.is_dir():
        from aloe_bench.errors import ConfigError

        raise ConfigError(f"--output {folder} is a file.", "Give a folder for regress.json.")
    mismatch = run_folder_mismatch(folder, model)
    if mismatch:
        import warnings

        from aloe_bench.errors import AloeBenchWarning

        warnings.warn(mismatch, AloeBenchWarning, stacklevel=1)
    if quiet:
        os.environ["TQDM_DISABLE"] = "1"
    size: Any = batch_size
    if batch_size is not None and batch_size.isdigit():
        size = int(batch_size)
    record, samples = run_regress(model, tasks, limit=_limit(limit), include_paths=include_paths,
                                  num_fewshot=num_fewshot, apply_chat_template=not no_chat_template,
                                  batch_size=size, device=device, seed=seed, bootstrap_iters=bootstrap,
                                  on_status=None if quiet else lambda text: console.print(text))
    if record is None:  # another rank of a data-parallel run: rank 0 writes and prints
        return
    rows = notes = None
    if base_record is not None:
        rows, notes = compare(record, base_record, resamples=max(bootstrap, 2), seed=seed)
        record["baseline"] = {"path": str(base_file), "model": (base_record.get("model") or {}).get("spec"),
                              "comparison": rows, "notes": notes}
    path = write_regress(folder, record, samples)
    out.print(results_table(record))
    if rows is not None:
        out.print(comparison_table(rows, record, base_record))
        for note in notes or []:
            out.print(f"Note: {note}", markup=False, highlight=False)
    out.print(f"Wrote {path} ({record['wall_time_s']:.1f} s).", markup=False, highlight=False)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def results_table(record: dict[str, Any]):
    """A rich table of one regress record: task, metric, value ± standard error, items."""
    from rich.table import Table

    summary = record.get("summary") or {}
    table = Table(title=f"General capability of {record['model']['spec']} (lm-eval; ± standard error; "
                        f"mean of primary metrics {_fmt(summary.get('mean'))})")
    for col in ("Task", "Metric", "Value", "± SE", "n"):
        table.add_column(col, justify="left" if col in ("Task", "Metric") else "right")
    for name, task in record["tasks"].items():
        for key, metric in task["metrics"].items():
            label = key + (" *" if key == task.get("primary") else "")
            table.add_row(name, label, _fmt(metric["value"]), _fmt(metric["stderr"]), str(task.get("n")))
    for name, group in (record.get("groups") or {}).items():
        for key, metric in group["metrics"].items():
            table.add_row(f"{name} (group)", key, _fmt(metric["value"]), _fmt(metric["stderr"]), "")
    table.caption = "* the task's primary metric (the first lm-eval reports)"
    return table


def comparison_table(rows: list[dict[str, Any]], record: dict[str, Any], base: dict[str, Any]):
    """A rich table of :func:`aloe_bench_lmeval.regress.compare` rows: base, new, change ± SE."""
    from rich.table import Table

    methods = sorted({r["se_method"] for r in rows})
    table = Table(title=f"{record['model']['spec']} minus baseline {base['model']['spec']}")
    for col in ("Task", "Metric", "Base", "New", "Change", "± SE", ""):
        table.add_column(col, justify="left" if col in ("Task", "Metric", "") else "right")
    for r in rows:
        flag = ""
        if r["se"] is not None and abs(r["change"]) > 2 * r["se"] and r["change"] != 0:
            worse = (r["change"] < 0) == (r["higher_is_better"] is not False)
            flag = "worse" if worse else "better"
        table.add_row(r["task"], r["metric"] + (" *" if r["primary"] else ""), _fmt(r["base"]), _fmt(r["new"]),
                      f"{r['change']:+.3f}", _fmt(r["se"]), flag)
    paired = sorted({r["se_items"] for r in rows if r["se_method"] == "paired bootstrap"})
    how = {"paired bootstrap": f"paired bootstrap over the items both runs scored ({', '.join(map(str, paired))} "
                               "per task)",
           "independent": "both runs' lm-eval standard errors combined as independent (the runs scored different "
                          "items)",
           "none": "none for rows without standard errors"}
    table.caption = ("Change = new - base; SE: " + "; ".join(how[m] for m in methods)
                     + ". worse/better: |change| > 2 SE. * primary metric.")
    return table
