"""``aloe-bench generate`` on the embedded SmolLM2 in every role (the offline default)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("hf_cli_helpers", Path(__file__).with_name("test_hf_cli.py"))
_cli = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_cli)


@pytest.mark.slow
def test_generate_on_the_embedded_model(smollm2, aloe_data_dir, hf_cache_dir, cpu_threads, tmp_path):
    # Every role defaults to SmolLM2 (one shared backend); short generations keep it under a minute.
    config = tmp_path / "short.toml"
    config.write_text("".join(f"{role}_params = {{max_tokens = {n}}}\n" for role, n in
                              (("user", 24), ("induction", 32), ("hinted", 24), ("unhinted", 24), ("pair_judge", 8))))
    out = tmp_path / "gen"
    done = _cli.run_cli(["generate", "--limit", "1", "--turns", "2", "--config", str(config), "-o", str(out), "-q",
                         "--no-cache"],
                        {"ALOE_BENCH_DATA_DIR": str(aloe_data_dir), "ALOE_BENCH_CACHE_DIR": str(hf_cache_dir)},
                        threads=cpu_threads)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "demo-quality" in done.stdout + done.stderr
    spec = json.loads((out / "run.json").read_text())
    assert {c["spec"] for c in spec["components"]} == {"smollm2"}
    assert spec["personas_source"] == "aloe-train" and spec["personas_count"] == 1
    trees = [json.loads(line) for line in (out / "trees.jsonl").read_text().splitlines()]
    assert [t["turn"] for t in trees] == [1, 2] and {t["status"] for t in trees} == {"ok"}
    assert all(t["hinted"] and t["unhinted"] and t["induced"] and len(t["verdicts"]) == 2 for t in trees)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["status"] == "complete" and stats["pairs"] == 2
    assert stats["sft_rows"] == stats["consistent"]
