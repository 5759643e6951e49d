"""CLI behaviour: light imports, one-line errors, --debug tracebacks."""

import json
import subprocess
import sys

from tests.helpers import run_cli

HEAVY = ("torch", "transformers", "trl", "litellm", "lm_eval", "sentence_transformers", "matplotlib")


def test_import_and_help_stay_light():
    code = ("import sys, aloe_bench, aloe_bench.cli\n"
            "from click.testing import CliRunner\n"
            "r = CliRunner().invoke(aloe_bench.cli.cli, ['--help'])\n"
            "assert r.exit_code == 0, r.output\n"
            "r = CliRunner().invoke(aloe_bench.cli.cli, ['evaluate', '--help'])\n"
            "assert r.exit_code == 0, r.output\n"
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_help_lists_commands():
    res = run_cli("--help", check=True)
    for cmd in ("evaluate", "judge", "leaderboard", "report", "personas", "plugins"):
        assert cmd in res.stdout


def test_unknown_model_provider_is_one_clean_line(tmp_path):
    res = run_cli("evaluate", "--model", "hf:x", "--user", "hf:y", "--judge", "hf:z", "--limit", "1", "--turns", "2",
                  "-o", str(tmp_path / "r"), "-q", env={"ALOE_BENCH_DISABLE_PLUGINS": "hf,litellm"})
    assert res.returncode == 2
    errors = [line for line in res.stderr.splitlines() if line.startswith("Error:")]
    assert errors == ["Error: Unknown model provider 'hf' in spec 'hf:x'."]
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "r" / "run.json").exists()


def test_unknown_persona_source_suggests(tmp_path):
    res = run_cli("personas", "show", "aloe-evl")
    assert res.returncode == 2
    assert "Unknown persona source 'aloe-evl'. Did you mean: aloe-eval?" in res.stderr
    assert "Traceback" not in res.stderr


def test_debug_shows_traceback():
    res = run_cli("--debug", "personas", "show", "aloe-evl")
    assert res.returncode != 0 and "Traceback" in res.stderr


def test_bad_config_file_is_a_clear_error(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("turns = 'many'\n")
    res = run_cli("evaluate", "--config", str(cfg), "-o", str(tmp_path / "r"))
    assert res.returncode == 2 and "Invalid setting 'turns'" in res.stderr
    cfg.write_text("turns = [\n")
    res = run_cli("evaluate", "--config", str(cfg), "-o", str(tmp_path / "r"))
    assert res.returncode == 2 and "is not valid TOML" in res.stderr
    cfg.write_text("tunrs = 3\n")
    res = run_cli("evaluate", "--config", str(cfg), "-o", str(tmp_path / "r"))
    assert res.returncode == 2 and "tunrs" in res.stderr


def test_config_file_keys_match_cli(with_fake_plugin, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('model = "fake:m"\nuser = "fake:u"\njudge = "fake:j"\nturns = 2\nlimit = 2\n'
                   'judge-mode = "history"\n[model_params]\nmax_tokens = 50\n')
    run_cli("evaluate", "--config", str(cfg), "--turns", "3", "-o", str(tmp_path / "r"), "-q", "--no-cache",
            check=True)
    spec = json.loads((tmp_path / "r" / "run.json").read_text())
    assert spec["config"]["turns"] == 3  # the flag wins over the file
    assert spec["config"]["judge_mode"] == "history" and spec["config"]["model_params"]["max_tokens"] == 50


def test_not_a_run_folder(tmp_path):
    res = run_cli("judge", str(tmp_path), "--judge", "x")
    assert res.returncode == 1 and "is not a run folder" in res.stderr
