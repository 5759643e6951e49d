"""`aloe-bench regress`: the offline suite on tiny models through lm-eval (regress.json,
regress_samples.jsonl, the baseline comparison and its standard errors), local task folders,
one-line errors for bad specs, a failed run that leaves no regress.json, the leaderboard column,
and `aloe-bench train ... --then-regress`."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests"))
from helpers import run_cli  # noqa: E402


@pytest.fixture(scope="module")
def aloe():
    """``aloe-bench ARGS`` in this process (torch and lm-eval load once for the module)."""
    from aloe_bench.cli import _add_plugin_commands, cli

    _add_plugin_commands()
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli, list(args), catch_exceptions=False)

    return invoke


def test_the_offline_suite_runs_and_a_baseline_is_compared(aloe, tiny_model_dir, other_model_dir, tmp_path):
    base = tmp_path / "base"
    done = aloe("regress", f"hf:{tiny_model_dir}", "--tasks", "aloe-regress", "--limit", "6", "-o", str(base),
                "--device", "cpu", "-q")
    assert done.exit_code == 0, done.output + done.stderr
    record = json.loads((base / "regress.json").read_text())
    assert record["status"] == "complete" and record["model"]["lmeval"] == f"lmeval:hf:pretrained={tiny_model_dir}"
    assert set(record["tasks"]) == {"aloe_arithmetic", "aloe_instructions", "aloe_commonsense"}
    assert record["groups"]["aloe-regress"]["subtasks"] == ["aloe_arithmetic", "aloe_instructions", "aloe_commonsense"]
    assert len(record["suite"]["fingerprint"]) == 16 and record["versions"]["lm-eval"]
    arith = record["tasks"]["aloe_arithmetic"]
    assert arith["n"] == 6 and arith["n_total"] == 30 and arith["primary"] == "exact_match,strict-match"
    assert set(arith["metrics"]) == {"exact_match,strict-match", "exact_match,flexible-extract"}
    common = record["tasks"]["aloe_commonsense"]
    assert set(common["metrics"]) == {"acc,none", "acc_norm,none"} and common["items"]["doc_id"] == list(range(6))
    for task in record["tasks"].values():  # lm-eval's figure is the mean of the per-item values kept
        for key, metric in task["metrics"].items():
            assert metric["value"] == pytest.approx(sum(task["items"][key]) / 6)
            assert metric["stderr"] is not None
    primaries = [t["metrics"][t["primary"]]["value"] for t in record["tasks"].values()]
    assert record["summary"]["mean"] == pytest.approx(sum(primaries) / 3)
    samples = [json.loads(line) for line in (base / "regress_samples.jsonl").read_text().splitlines()]
    assert len(samples) == 6 * 2 + 6 + 6  # arithmetic is scored under two filters
    assert samples[0]["prompt"].startswith("<|im_start|>user\nSolve this problem") and samples[0]["target"] == "14"
    assert "General capability of" in done.output and "aloe_instructions" in done.output

    # the "trained" model: a bare folder, written beside it by default, compared with the baseline
    done = aloe("regress", str(other_model_dir), "--tasks", "aloe_commonsense,aloe_instructions", "--limit", "6",
                "--baseline", str(base), "--device", "cpu", "-q")
    assert done.exit_code == 0, done.output + done.stderr
    new = json.loads((other_model_dir / "regress.json").read_text())
    rows = new["baseline"]["comparison"]
    assert new["baseline"]["path"] == str(base / "regress.json")
    assert {(r["task"], r["metric"]) for r in rows} == {("aloe_commonsense", "acc,none"),
                                                         ("aloe_commonsense", "acc_norm,none"),
                                                         ("aloe_instructions", "acc,none")}
    for r in rows:
        assert r["change"] == pytest.approx(r["new"] - r["base"])
        assert r["se_method"] == "paired bootstrap" and r["se_items"] == 6 and r["se"] >= 0
    assert new["baseline"]["notes"] == ["aloe_arithmetic: only in the baseline."]
    assert "minus baseline" in done.output and "paired bootstrap" in done.output


def record_with(values: dict[str, list[float]], stderr: float = 0.1, doc_ids: list[int] | None = None) -> dict:
    """A minimal regress record: one task per entry, metric ``acc,none``, the per-item values."""
    tasks = {}
    for name, items in values.items():
        ids = doc_ids or list(range(len(items)))
        tasks[name] = {"version": 1.0, "n": len(items), "primary": "acc,none", "higher_is_better": {"acc": True},
                       "metrics": {"acc,none": {"value": sum(items) / len(items), "stderr": stderr}},
                       "items": {"doc_id": ids, "acc,none": items}}
    return {"tasks": tasks, "settings": {"apply_chat_template": True, "num_fewshot": None}}


def test_the_change_has_a_paired_bootstrap_se_or_combined_independent_ones():
    import numpy as np

    from aloe_bench_lmeval.regress import compare

    base = record_with({"t": [1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0]})
    new = record_with({"t": [1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0]})
    [row], notes = compare(new, base, resamples=4000, seed=3)
    assert row["change"] == pytest.approx(0.25) and row["se_method"] == "paired bootstrap" and not notes
    diffs = np.array([0, 1, 0, 0, 0, 0, 1, 0], dtype=float)
    assert row["se"] == pytest.approx(diffs.std(ddof=1) / math.sqrt(8), rel=0.15)  # the bootstrap's SE ~ s/sqrt(n)
    same = record_with({"t": [1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0]})
    assert compare(same, base)[0][0]["se"] == 0.0  # identical items: no uncertainty about the change
    # other items (another --limit): the runs' own standard errors, combined as independent
    other = record_with({"t": [1.0, 1.0, 0.0]}, stderr=0.2)
    [row], _ = compare(other, base)
    assert row["se_method"] == "independent" and row["se"] == pytest.approx(math.sqrt(0.1 ** 2 + 0.2 ** 2))


def test_local_task_folders_and_a_failed_run_that_leaves_no_regress_json(aloe, tiny_model_dir, tmp_path):
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    data = tmp_path / "yesno.jsonl"
    data.write_text("".join(json.dumps({"q": f"Is {n} even?", "a": ["no", "yes"][n % 2 == 0]}) + "\n"
                            for n in range(5)), encoding="utf-8")
    (tasks / "yesno.yaml").write_text(
        "task: my_yesno\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: " + str(data) + "\n"
        "test_split: test\noutput_type: multiple_choice\ndoc_to_text: '{{q}}'\ndoc_to_choice: ['no', 'yes']\n"
        "doc_to_target: '{{a}}'\nmetric_list:\n  - metric: acc\n", encoding="utf-8")
    (tasks / "broken.yaml").write_text(
        "task: my_broken\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: " + str(tmp_path / "gone.jsonl")
        + "\ntest_split: test\noutput_type: multiple_choice\ndoc_to_text: '{{q}}'\ndoc_to_choice: ['a']\n"
        "doc_to_target: 0\n", encoding="utf-8")
    out = tmp_path / "out"
    done = aloe("regress", f"lmeval:hf:pretrained={tiny_model_dir},device=cpu", "--tasks", "my_yesno",
                "--include-path", str(tasks), "-o", str(out), "-q", "--no-chat-template")
    assert done.exit_code == 0, done.output + done.stderr
    record = json.loads((out / "regress.json").read_text())
    assert record["tasks"]["my_yesno"]["n"] == 5 and record["suite"] is None
    assert record["settings"]["apply_chat_template"] is False and record["include_path"] == [str(tasks)]
    before = (out / "regress.json").read_text()
    failed = tmp_path / "failed"
    done = aloe("regress", f"lmeval:hf:pretrained={tiny_model_dir},device=cpu", "--tasks", "my_broken",
                "--include-path", str(tasks), "-o", str(failed), "-q")
    assert done.exit_code == 1 and "lm-eval failed on my_broken" in done.stderr, done.output + done.stderr
    assert not (failed / "regress.json").exists() and not (failed / "regress_samples.jsonl").exists()
    # another model into a folder holding a regress.json: the old record is kept under a dated name
    done = aloe("regress", f"lmeval:hf:pretrained={tiny_model_dir},device=cpu,dtype=float32", "--tasks", "my_yesno",
                "--include-path", str(tasks), "-o", str(out), "-q", "--no-chat-template")
    assert done.exit_code == 0, done.output + done.stderr
    kept = sorted(out.glob("regress.2*.json"))
    assert len(kept) == 1 and kept[0].read_text() == before


@pytest.mark.parametrize("args, message", [
    (["foo:bar", "--tasks", "aloe-regress"], "regress cannot evaluate 'foo:bar'"),
    (["lmeval:hff:pretrained=x", "--tasks", "aloe-regress"], "lm-eval has no model backend 'hff'. Did you mean:"),
    (["lmeval:hf:pretrained", "--tasks", "aloe-regress"], "Bad lm-eval model argument 'pretrained'"),
    (["hf:/no/such/model", "--tasks", "aloe-regress"], "Model folder '/no/such/model' does not exist."),
    (["hf:x", "--tasks", " , "], "No tasks given."),
])
def test_bad_specs_are_one_line_errors_before_anything_runs(aloe, tmp_path, args, message):
    done = aloe("regress", *args, "-o", str(tmp_path / "out"))
    assert done.exit_code == 2, done.output + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and message in errors[0], done.stderr
    assert not (tmp_path / "out").exists()


def test_an_unknown_task_names_close_matches_and_a_bad_baseline_is_refused(aloe, tiny_model_dir, tmp_path):
    done = aloe("regress", f"hf:{tiny_model_dir}", "--tasks", "aloe_arithmetc", "-o", str(tmp_path / "out"))
    assert done.exit_code == 2 and "lm-eval knows no task 'aloe_arithmetc'. Did you mean: aloe_arithmetic" \
        in done.stderr, done.stderr
    (tmp_path / "not-regress.json").write_text('{"kind": "something else"}')
    done = aloe("regress", f"hf:{tiny_model_dir}", "--tasks", "aloe-regress", "--baseline",
                str(tmp_path / "not-regress.json"), "-o", str(tmp_path / "out"))
    assert done.exit_code == 1 and "is not a regress.json written by `aloe-bench regress`" in done.stderr
    assert not (tmp_path / "out").exists()


def test_the_leaderboard_shows_the_regress_figure_of_a_run_folder(aloe, tiny_model_dir, tmp_path):
    run = tmp_path / "run"
    done = aloe("evaluate", "--model", "scripted", "--user", "scripted", "--judge", "scripted", "--personas", "sample",
                "--limit", "2", "--turns", "2", "-o", str(run), "--no-cache", "-q")
    assert done.exit_code == 0, done.output + done.stderr
    done = aloe("leaderboard", str(run), "--format", "markdown")
    assert "Regress" not in done.output
    from aloe_bench.errors import AloeBenchWarning

    with pytest.warns(AloeBenchWarning, match="is the ALOE run of scripted, and regress evaluates hf:"):
        done = aloe("regress", f"hf:{tiny_model_dir}", "--tasks", "aloe_commonsense", "--limit", "4", "-o", str(run),
                    "--device", "cpu", "-q")
    assert done.exit_code == 0, done.output + done.stderr
    mean = json.loads((run / "regress.json").read_text())["summary"]["mean"]
    done = aloe("leaderboard", str(run), "--format", "markdown")
    header, _, row = done.output.splitlines()[:3]
    assert "| Regress |" in header and f"| {mean:.3f} |" in row
    done = aloe("leaderboard", str(run), "--format", "json")
    [row] = json.loads(done.output)["rows"]
    assert row["regress"] == pytest.approx(mean) and set(row["regress_tasks"]) == {"aloe_commonsense"}
    done = aloe("leaderboard", str(run), "--format", "latex")
    assert "Regress" in done.output and f"{mean:.3f}" in done.output


def test_train_then_regress_checks_the_base_and_the_trained_model(tiny_model_dir, tmp_path):
    pytest.importorskip("aloe_bench_trl", reason="aloe-bench-trl provides the sft trainer")
    data = tmp_path / "sft.jsonl"
    data.write_text("".join(json.dumps({"prompt": [{"role": "user", "content": f"Hello {i}"}],
                                        "completion": [{"role": "assistant", "content": "Hi! How are you?"}]}) + "\n"
                            for i in range(4)), encoding="utf-8")
    config = tmp_path / "sft.toml"
    config.write_text(f'model = "hf:{tiny_model_dir}"\ndata = "{data}"\neffective_batch_size = 2\n'
                      "[trl]\nper_device_train_batch_size = 2\nmax_steps = 1\nmax_length = 128\n", encoding="utf-8")
    out = tmp_path / "sft"
    proc = run_cli("train", "sft", "--config", str(config), "-o", str(out), "-q", "--then-regress", "aloe_commonsense",
                   "--regress-limit", "4", env={"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    base = json.loads((out / "regress-base" / "regress.json").read_text())
    tuned = json.loads((out / "regress.json").read_text())
    assert base["model"]["spec"] == f"hf:{tiny_model_dir}" and tuned["model"]["spec"] == f"hf:{out}"
    assert tuned["baseline"]["path"] == str(out / "regress-base" / "regress.json")
    assert {r["metric"] for r in tuned["baseline"]["comparison"]} == {"acc,none", "acc_norm,none"}
    assert "minus baseline" in proc.stdout


def test_then_regress_without_the_plugins_command_fails_before_training(tmp_path):
    """The core's train command finds `regress` among the CLI's commands; without it (here: a
    group without plugin commands), a one-line error before any training."""
    import click

    from aloe_bench.cli.train import regress_command
    from aloe_bench.errors import ConfigError

    with click.Context(click.Group("bare")) as ctx:
        with pytest.raises(ConfigError, match="needs `aloe-bench regress`, which the aloe-bench-lmeval plugin adds"):
            regress_command(ctx)
