"""End to end through the console script: transformers models in every role."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ALOE_BENCH = Path(sys.executable).parent / "aloe-bench"


def run_cli(args: list[str], env_extra: dict[str, str], threads: int = 1, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.endswith("_API_BASE")}
    # OMP_NUM_THREADS: the plugin keeps the user's choice; oversubscribed threads spin and crawl.
    env.update({"HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True", "OMP_NUM_THREADS": str(threads),
                **env_extra})
    return subprocess.run([str(ALOE_BENCH), *args], capture_output=True, text=True, env=env, timeout=timeout)


def check_run(run_dir: Path, personas: int, turns: int) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["n"] == [personas] * turns
    assert summary["missing"] == [0] * turns
    assert all(1.0 <= al <= 5.0 for al in summary["al"])
    scores = [json.loads(line) for line in (run_dir / "scores.jsonl").read_text().splitlines() if line.strip()]
    assert len(scores) == personas * turns
    assert all(s["score"] is not None and 1.0 <= s["score"] <= 5.0 for s in scores)
    return summary


def test_evaluate_with_tiny_models_in_every_role(tiny_model_dir, aloe_data_dir, hf_cache_dir, tmp_path):
    spec = f"hf:{tiny_model_dir}"
    out = tmp_path / "run"
    done = run_cli(["evaluate", "--model", spec, "--user", spec, "--judge", spec, "--personas", "aloe-eval",
                    "--limit", "3", "--turns", "2", "-o", str(out), "-q", "--no-cache"],
                   {"ALOE_BENCH_DATA_DIR": str(aloe_data_dir), "ALOE_BENCH_CACHE_DIR": str(hf_cache_dir)})
    assert done.returncode == 0, done.stdout + done.stderr
    summary = check_run(out, personas=3, turns=2)
    assert summary["model"] == spec
    roles = {c["role"]: c for c in summary["components"]}
    assert roles["judge"]["options"]["use_probs"] is True  # the local judge scored from probabilities
    transcripts = (out / "transcripts.jsonl").read_text()
    assert "<|im_start|>" not in transcripts


def test_missing_model_folder_is_one_line_error(aloe_data_dir, tmp_path):
    done = run_cli(["evaluate", "--model", "hf:/no/such/checkpoint", "--user", "hf:/no/such/checkpoint",
                    "--judge", "hf:/no/such/checkpoint", "--limit", "1", "--turns", "1", "-o", str(tmp_path / "r"),
                    "-q", "--no-cache"], {"ALOE_BENCH_DATA_DIR": str(aloe_data_dir)})
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    assert "Model folder '/no/such/checkpoint' does not exist." in done.stdout + done.stderr


@pytest.mark.slow
def test_evaluate_default_embedded_model(smollm2, aloe_data_dir, hf_cache_dir, cpu_threads, tmp_path):
    # The default path: every role on the embedded SmolLM2 (already converted in hf_cache_dir);
    # shorter generations keep the test to well under a minute on two cores.
    config = tmp_path / "short.toml"
    config.write_text("user_params = {max_tokens = 32}\nmodel_params = {max_tokens = 32}\n")
    out = tmp_path / "run"
    done = run_cli(["evaluate", "--model", "smollm2", "--limit", "2", "--turns", "2", "--config", str(config),
                    "-o", str(out), "-q", "--no-cache"],
                   {"ALOE_BENCH_DATA_DIR": str(aloe_data_dir), "ALOE_BENCH_CACHE_DIR": str(hf_cache_dir)},
                   threads=cpu_threads)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "demo-quality" in done.stdout + done.stderr
    summary = check_run(out, personas=2, turns=2)
    assert {c["spec"] for c in summary["components"]} == {"smollm2"}
    replies = [json.loads(line) for line in (out / "transcripts.jsonl").read_text().splitlines() if line.strip()]
    assert replies
