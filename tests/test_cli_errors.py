"""Runs that never lie: every user-fixable failure of a command is one ``Error:`` line that says
what to do (no traceback), raised before any model call is paid for; broken runs among many are
skipped with a warning; unknown config keys are rejected with a suggestion."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from aloe_bench.cli import cli
from aloe_bench.errors import ConfigError, DataError
from tests.reporting_runs import make_host, make_run

LATIN1 = "Café au lait, naïve façade".encode("latin-1")
SCRIPTED = ("--model", "scripted", "--user", "scripted", "--judge", "scripted")


def _code(error: type) -> int:
    """The exit code the CLI gives ``error`` (2 where the error family has no own codes)."""
    return getattr(error, "exit_code", 2)


def assert_one_line_error(res, error: type, *fragments: str) -> str:
    """``res`` (a CliRunner result) failed cleanly with exactly one ``Error:`` line holding
    ``fragments``; returns that line."""
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code == _code(error), res.output
    assert "Traceback" not in res.output
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, res.output
    for fragment in fragments:
        assert fragment in res.output, res.output
    return errors[0]


@pytest.fixture
def scripted_cli(aloe_data_dir, monkeypatch, tmp_path):
    """Invoke the CLI in-process with the ``scripted`` provider; a private call cache; the
    number of model calls made is in ``invoke.calls``."""
    import aloe_bench.plugins as plugins
    from aloe_bench.hookspecs import hookimpl
    from aloe_bench.testing import ScriptedModel

    calls: list[int] = []

    class Counting(ScriptedModel):
        async def acomplete(self, messages, params):
            calls.append(1)
            return await super().acomplete(messages, params)

    class Plugin:
        @staticmethod
        @hookimpl
        def aloe_register_models(register):
            register("scripted", Counting, description="Counting scripted model")

    monkeypatch.setenv("ALOE_BENCH_DATA_DIR", str(aloe_data_dir))
    monkeypatch.setenv("ALOE_BENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(plugins, "default_host", lambda: plugins.PluginHost(extra_plugins={"scripted": Plugin()}))

    def invoke(*args: str):
        return CliRunner().invoke(cli, [str(a) for a in args])

    invoke.calls = calls
    return invoke


# -- defect 8a: files that are not UTF-8 --------------------------------------------------------

def test_non_utf8_persona_jsonl_names_file_and_line(scripted_cli, tmp_path):
    path = tmp_path / "personas.jsonl"
    good = json.dumps({"id": "a", "profile": "A cook.", "personality": "Calm."}).encode()
    path.write_bytes(good + b"\n" + b'{"id": "b", "profile": "' + LATIN1 + b'", "personality": "Calm."}\n')
    res = scripted_cli("evaluate", *SCRIPTED, "--personas", f"jsonl:{path}", "--turns", "1", "-q",
                       "-o", tmp_path / "run")
    line = assert_one_line_error(res, DataError, f"{path}:2", "UTF-8")
    assert "Save" in res.output and "UTF-8" in line
    assert scripted_cli.calls == [] and not (tmp_path / "run" / "run.json").exists()


def test_non_utf8_pool_file_of_bare_strings(tmp_path):
    profiles = tmp_path / "profiles.jsonl"
    profiles.write_bytes(b'"A cook."\n"' + LATIN1 + b'"\n')
    personalities = tmp_path / "personalities.jsonl"
    personalities.write_text('{"id": "t1", "text": "Calm."}\n', encoding="utf-8")
    res = CliRunner().invoke(cli, ["personas", "pair", "--profiles", str(profiles),
                                   "--personalities", str(personalities), "--per-profile", "1"])
    assert_one_line_error(res, DataError, f"{profiles}:2", "UTF-8")


def test_non_utf8_pool_file_of_objects(tmp_path):
    profiles = tmp_path / "profiles.jsonl"
    profiles.write_text('{"id": "p1", "text": "A cook."}\n', encoding="utf-8")
    personalities = tmp_path / "personalities.jsonl"
    personalities.write_bytes(b'{"id": "t1", "text": "Calm."}\n\n{"id": "t2", "text": "' + LATIN1 + b'"}\n')
    res = CliRunner().invoke(cli, ["personas", "pair", "--profiles", str(profiles),
                                   "--personalities", str(personalities), "--per-profile", "1"])
    assert_one_line_error(res, DataError, f"{personalities}:3", "UTF-8")


def test_non_utf8_file_for_persona_stats_is_a_data_error(tmp_path):
    from aloe_bench.personas.stats import source_groups

    path = tmp_path / "pool.jsonl"
    path.write_bytes(b'"' + LATIN1 + b'"\n')
    with pytest.raises(DataError, match=r"pool\.jsonl:1: .*UTF-8"):
        source_groups(str(path))


def test_non_utf8_config_file(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_bytes(b'turns = 1\nlimit = 1\nmodel = "' + LATIN1 + b'"\n')
    res = CliRunner().invoke(cli, ["evaluate", "--config", str(cfg), "-o", str(tmp_path / "r")])
    assert_one_line_error(res, ConfigError, str(cfg), "line 3", "UTF-8")


# -- defect 8b/8c: where results go ------------------------------------------------------------

def test_output_below_a_file(scripted_cli, tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    res = scripted_cli("evaluate", *SCRIPTED, "--limit", "1", "--turns", "1", "-q", "-o", tmp_path / "afile" / "run")
    assert_one_line_error(res, ConfigError, "afile", "is a file, not a folder", "--output")
    assert scripted_cli.calls == []


def test_cache_folder_that_is_a_file_suggests_no_cache(scripted_cli, tmp_path, monkeypatch):
    (tmp_path / "cachefile").write_text("not a folder")
    monkeypatch.setenv("ALOE_BENCH_CACHE_DIR", str(tmp_path / "cachefile"))
    res = scripted_cli("evaluate", *SCRIPTED, "--limit", "1", "--turns", "1", "-q", "-o", tmp_path / "run")
    assert_one_line_error(res, ConfigError, "cachefile", "--no-cache")
    assert scripted_cli.calls == [] and not (tmp_path / "run" / "run.json").exists()
    res = scripted_cli("evaluate", *SCRIPTED, "--limit", "1", "--turns", "1", "-q", "-o", tmp_path / "run",
                       "--no-cache")
    assert res.exit_code == 0, res.output


def test_judge_into_a_run_whose_judgements_is_a_file(scripted_cli, tmp_path):
    run = tmp_path / "run"
    res = scripted_cli("evaluate", *SCRIPTED, "--limit", "1", "--turns", "1", "-q", "-o", run, "--no-cache")
    assert res.exit_code == 0, res.output
    made = len(scripted_cli.calls)
    (run / "judgements").write_text("not a folder")
    res = scripted_cli("judge", run, "--judge", "scripted", "--no-cache")
    assert_one_line_error(res, ConfigError, "judgements", "is a file, not a folder")
    assert len(scripted_cli.calls) == made


def test_judge_with_a_cache_folder_that_is_a_file(scripted_cli, tmp_path, monkeypatch):
    run = tmp_path / "run"
    res = scripted_cli("evaluate", *SCRIPTED, "--limit", "1", "--turns", "1", "-q", "-o", run, "--no-cache")
    assert res.exit_code == 0, res.output
    made = len(scripted_cli.calls)
    (tmp_path / "cachefile").write_text("not a folder")
    monkeypatch.setenv("ALOE_BENCH_CACHE_DIR", str(tmp_path / "cachefile"))
    res = scripted_cli("judge", run, "--judge", "scripted")
    assert_one_line_error(res, ConfigError, "cachefile", "--no-cache")
    assert len(scripted_cli.calls) == made


def test_report_output_below_a_file(scripted_cli, tmp_path):
    run = tmp_path / "run"
    assert scripted_cli("evaluate", *SCRIPTED, "--limit", "1", "--turns", "1", "-q", "-o", run,
                        "--no-cache").exit_code == 0
    (tmp_path / "afile").write_text("not a folder")
    res = scripted_cli("report", run, "--output", tmp_path / "afile" / "report.html")
    assert_one_line_error(res, ConfigError, "afile", "is a file, not a folder", "--output")


def test_leaderboard_output_below_a_file(scripted_cli, tmp_path):
    run = tmp_path / "run"
    assert scripted_cli("evaluate", *SCRIPTED, "--limit", "1", "--turns", "1", "-q", "-o", run,
                        "--no-cache").exit_code == 0
    (tmp_path / "afile").write_text("not a folder")
    res = scripted_cli("leaderboard", run, "--output", tmp_path / "afile" / "board.md")
    assert_one_line_error(res, ConfigError, "afile", "is a file, not a folder", "--output")


# Real permissions. Root ignores them (chmod does not stop it), so as root the command runs in a
# child process without the capabilities that let root override file permissions; as any other
# user it runs as that user. Either way a chmod-ed folder is really read-only to the command.

DRIVER = '''
import sys
import aloe_bench.plugins as plugins
from aloe_bench.hookspecs import hookimpl
from aloe_bench.testing import ScriptedModel

calls = []

class Counting(ScriptedModel):
    async def acomplete(self, messages, params):
        calls.append(1)
        return await super().acomplete(messages, params)

class Plugin:
    @staticmethod
    @hookimpl
    def aloe_register_models(register):
        register("scripted", Counting, description="Counting scripted model")

plugins.default_host = lambda: plugins.PluginHost(extra_plugins={"scripted": Plugin()})
from aloe_bench.cli import cli
try:
    cli.main(args=sys.argv[1:], prog_name="aloe-bench")
finally:
    print(f"CALLS={len(calls)}")
'''
PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2


def _drop_permission_override() -> None:
    """In a child of root: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH before exec, so file
    permissions apply to it."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _spawn(args: list[str], cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    extra = {"preexec_fn": _drop_permission_override} if os.geteuid() == 0 else {}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300, cwd=cwd,
                          env={**os.environ, **(env or {})}, **extra)


@pytest.fixture
def unprivileged(aloe_data_dir, tmp_path, monkeypatch):
    """Run ``aloe-bench ARGS`` (the ``scripted`` provider counting its calls) in a process that
    read-only folders stop; skips where no such process can be made."""
    monkeypatch.setenv("ALOE_BENCH_DATA_DIR", str(aloe_data_dir))
    monkeypatch.setenv("ALOE_BENCH_CACHE_DIR", str(tmp_path / "cache"))
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER, encoding="utf-8")
    probe = tmp_path / "probe"
    probe.mkdir()
    probe.chmod(0o555)
    try:
        check = _spawn(["-c", f"open({str(probe / 'x')!r}, 'w')"], tmp_path)
    except OSError as exc:
        pytest.skip(f"cannot start a process bound by file permissions ({exc})")
    finally:
        probe.chmod(0o755)
    if check.returncode == 0:
        pytest.skip("this process can write read-only folders")
    locked: list[Path] = []

    def run(*args, env: dict | None = None) -> subprocess.CompletedProcess:
        return _spawn([str(driver), *map(str, args)], tmp_path, env)

    def make_readonly(folder: Path) -> None:
        folder.chmod(0o555)
        locked.append(folder)

    run.make_readonly = make_readonly
    yield run
    for folder in locked:
        folder.chmod(0o755)


def _calls(proc: subprocess.CompletedProcess) -> int:
    return int(proc.stdout.rsplit("CALLS=", 1)[1].split()[0])


def _assert_clean_failure(proc: subprocess.CompletedProcess, error: type, *fragments: str) -> None:
    assert proc.returncode == _code(error), proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr


def test_read_only_run_folder_fails_before_any_call_on_resume(unprivileged, tmp_path):
    run = tmp_path / "run"
    args = ("evaluate", *SCRIPTED, "--limit", "2", "--turns", "2", "-q", "-o", run, "--no-cache")
    first = unprivileged(*args)
    assert first.returncode == 0, first.stderr
    assert _calls(first) > 0
    # Forget the answers (the files stay writable) so a resume has every call to make.
    (run / "summary.json").unlink()
    for name in ("transcripts.jsonl", "scores.jsonl"):
        (run / name).write_text("")
    unprivileged.make_readonly(run)
    proc = unprivileged(*args, "--resume")
    _assert_clean_failure(proc, ConfigError, str(run), "Permission denied", "--output")
    assert _calls(proc) == 0


def test_unwritable_cache_folder_fails_before_any_call(unprivileged, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    unprivileged.make_readonly(cache)
    proc = unprivileged("evaluate", *SCRIPTED, "--limit", "1", "--turns", "1", "-q", "-o", tmp_path / "run")
    _assert_clean_failure(proc, ConfigError, str(cache), "Permission denied", "--no-cache")
    assert _calls(proc) == 0
    assert not (tmp_path / "run" / "run.json").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="chmod does not stop root from writing")
def test_chmod_read_only_output_folder(scripted_cli, tmp_path):
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        res = scripted_cli("evaluate", *SCRIPTED, "--limit", "1", "--turns", "1", "-q", "-o", parent / "run")
    finally:
        parent.chmod(0o755)
    assert_one_line_error(res, ConfigError, "Permission denied", "--output")
    assert scripted_cli.calls == []


# -- defect 8d: the leaderboard of many runs, some broken ---------------------------------------

@pytest.fixture(scope="module")
def three_runs(tmp_path_factory, aloe_data_dir):
    """Three finished runs of different models in one folder (copied per test to break)."""
    base = tmp_path_factory.mktemp("three-runs")
    with pytest.MonkeyPatch.context() as mp:
        host = make_host(aloe_data_dir, mp)
        for name, model in (("good", "trend:3:0.4"), ("flat", "trend:3:0"), ("weak", "trend:2:0.1")):
            make_run(base / name, host, model, turns=2, limit=2)
    return base


def test_leaderboard_skips_a_broken_run_with_a_warning(three_runs, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(three_runs, runs)
    (runs / "flat" / "summary.json").write_text("{ not json")
    (runs / "weak" / "run.json").write_bytes(b'{"x": "' + LATIN1 + b'"}')
    res = CliRunner().invoke(cli, ["leaderboard", str(runs), "--format", "csv"])
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    warnings = [line for line in res.output.splitlines() if line.startswith("Warning:")]
    assert len(warnings) == 2, res.output
    assert any(str(runs / "flat") in w and "summary.json" in w for w in warnings)
    assert any(str(runs / "weak") in w and "UTF-8" in w for w in warnings)
    assert "trend:3:0.4" in res.output
    assert "trend:3:0," not in res.output and "trend:2:0.1" not in res.output


def test_leaderboard_of_only_broken_runs_is_an_error(three_runs, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(three_runs, runs)
    for name in ("good", "flat", "weak"):
        (runs / name / "summary.json").write_text("[]")
    res = CliRunner().invoke(cli, ["leaderboard", str(runs)])
    assert_one_line_error(res, DataError, "No run could be loaded", "3 skipped")


def test_report_of_a_single_broken_run_stays_an_error(three_runs, tmp_path):
    run = tmp_path / "weak"
    shutil.copytree(three_runs / "weak", run)
    (run / "run.json").write_bytes(b'{"x": "' + LATIN1 + b'"}')
    res = CliRunner().invoke(cli, ["report", str(run)])
    assert_one_line_error(res, DataError, "run.json", "UTF-8")


# -- defect 9a: unknown keys in the config file --------------------------------------------------

@pytest.mark.parametrize("typo, meant", [("temprature", "temperature"), ("max_token", "max_tokens")])
def test_typo_in_model_params_is_rejected_with_a_suggestion(scripted_cli, tmp_path, typo, meant):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"turns = 1\nlimit = 1\n[model_params]\n{typo} = 1\n", encoding="utf-8")
    res = scripted_cli("evaluate", *SCRIPTED, "--config", cfg, "-q", "-o", tmp_path / "r")
    line = assert_one_line_error(res, ConfigError, f"model_params.{typo}", f"Did you mean '{meant}'?")
    assert str(cfg) in line
    assert not (tmp_path / "r").exists()


def test_unknown_top_level_key_suggests_close_match(scripted_cli, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("tunrs = 1\nlimit = 1\n", encoding="utf-8")
    res = scripted_cli("evaluate", *SCRIPTED, "--config", cfg, "-q", "-o", tmp_path / "r")
    assert_one_line_error(res, ConfigError, "'tunrs'", "Did you mean 'turns'?")


def test_generation_params_forbid_unknown_keys():
    from pydantic import ValidationError

    from aloe_bench.components import GenerationParams

    with pytest.raises(ValidationError, match="temprature"):
        GenerationParams.model_validate({"temprature": 0.7})
    assert GenerationParams.model_validate({"temperature": 0.7}).temperature == 0.7


def test_leaderboard_of_a_file_says_so(tmp_path):
    (tmp_path / "notes.txt").write_text("not a run")
    res = CliRunner().invoke(cli, ["leaderboard", str(tmp_path / "notes.txt")])
    assert_one_line_error(res, DataError, "is a file, not a run folder")


def test_persona_pair_output_below_a_file(tmp_path):
    pool = tmp_path / "pool.jsonl"
    pool.write_text('{"id": "a", "text": "A cook."}\n', encoding="utf-8")
    (tmp_path / "afile").write_text("not a folder")
    res = CliRunner().invoke(cli, ["personas", "pair", "--profiles", str(pool), "--personalities", str(pool),
                                   "--per-profile", "1", "--output", str(tmp_path / "afile" / "personas.jsonl")])
    assert_one_line_error(res, ConfigError, "afile", "is a file, not a folder", "--output")
