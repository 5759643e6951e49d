"""Wheels that work on their own (issue 20): the core and every first-party plugin are built as
wheels from a copy of the sources, checked to carry every data file of their packages, installed
(not editable) into a fresh virtual environment, and run offline from a folder outside the
checkout: a smoke evaluation through the litellm plugin against the project's local server,
``personas grow`` without ``--seeds``, ``aloe-bench plugins``, the packaged data of the plugins.

The fresh environment gets its third-party dependencies (torch, transformers, litellm, ...) from
this test environment through a folder of links that leaves out every aloe-bench package and
editable hook, so pip resolves ``aloe-bench[all]`` for real (``--no-index``: only the built
wheels can satisfy the first-party requirements) without downloading gigabytes again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from aloe_bench import __version__
from aloe_bench.testing.openai_server import default_reply
from tests.helpers import served_env, serving

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = sorted(p for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").is_file())
# What a source copy leaves out: build leftovers, caches and the plugins' test folders.
IGNORE = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist", "tests", ".pytest_cache")
IS_FIRST_PARTY = ("aloe_bench", "__editable__")

pytestmark = pytest.mark.slow


def _copy_sources(dest: Path) -> list[Path]:
    """Copies of the core and plugin source trees (no build leftovers): the folders to build."""
    core = dest / "aloe-bench"
    core.mkdir(parents=True)
    shutil.copytree(ROOT / "aloe_bench", core / "aloe_bench", ignore=IGNORE)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, core / name)
    out = [core]
    for plugin in PLUGINS:
        shutil.copytree(plugin, dest / plugin.name, ignore=IGNORE)
        out.append(dest / plugin.name)
    return out


def _data_files(src: Path) -> set[str]:
    """Every file of the source's packages that is not Python code, as a wheel path."""
    found = set()
    for pkg in (p for p in src.iterdir() if p.is_dir() and (p / "__init__.py").is_file()):
        for f in pkg.rglob("*"):
            if f.is_file() and f.suffix not in (".py", ".pyc"):
                found.add(f.relative_to(src).as_posix())
    return found


def _dependency_overlay(dest: Path) -> Path:
    """A folder linking every package of this environment except aloe-bench's own (regular and
    editable) and ``.pth`` hooks."""
    site = Path(sysconfig.get_paths()["purelib"])
    dest.mkdir(parents=True)
    for entry in site.iterdir():
        name = entry.name.lower()
        if name.startswith(IS_FIRST_PARTY) or name.endswith(".pth"):
            continue
        (dest / entry.name).symlink_to(entry)
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv python, wheels folder, work folder): the wheels built and ``aloe-bench[all]``
    installed from them into a fresh virtual environment."""
    work = tmp_path_factory.mktemp("wheels")
    sources = _copy_sources(work / "src")
    dist = work / "dist"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONPATH": ""}
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(dist), *map(str, sources)], check=True, cwd=work, env=env,
                   capture_output=True, text=True)
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    # Named site-packages: dill (datasets' hashing) pickles modules outside a folder of that name
    # by value, which fails for pyarrow's types.
    overlay = _dependency_overlay(work / "deps" / "site-packages")
    Path(purelib, "aloe_bench_test_deps.pth").write_text(f"{overlay}\n")
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-index",
                           "--find-links", str(dist), "aloe-bench[all]"], cwd=work, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return python, dist, work, sources


def _run(python: Path, cwd: Path, env: dict[str, str], *args: str, timeout: float = 300):
    exe = python.parent / "aloe-bench"
    return subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _clean_env(work: Path) -> dict[str, str]:
    """Offline, no checkout on the path, a private cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALOE_BENCH_", "PYTHONPATH", "VIRTUAL_ENV"))}
    env.update(HF_HUB_OFFLINE="1", LITELLM_LOCAL_MODEL_COST_MAP="True", NO_COLOR="1",
               ALOE_BENCH_CACHE_DIR=str(work / "cache"), PYTHONPATH="")
    return env


def test_wheels_carry_every_data_file_of_their_packages(installed):
    _, dist, _, sources = installed
    wheels = {w.name.split("-")[0]: w for w in dist.glob("*.whl")}
    assert set(wheels) == {"aloe_bench", *(p.name.replace("-", "_") for p in PLUGINS)}
    for src in sources:
        expected = _data_files(src)
        names = set(zipfile.ZipFile(wheels[src.name.replace("-", "_")]).namelist())
        assert expected <= names, f"{src.name}: missing from the wheel: {sorted(expected - names)}"
    core = set(zipfile.ZipFile(wheels["aloe_bench"]).namelist())
    for needed in ("aloe_bench/personas/data/seeds/profiles.jsonl", "aloe_bench/personas/data/facts/aloe-eval.jsonl",
                   "aloe_bench/testing/sample_personas.jsonl"):
        assert needed in core
    meta = zipfile.ZipFile(wheels["aloe_bench"]).read(
        next(n for n in core if n.endswith(".dist-info/METADATA"))).decode()
    for extra in ("hf", "litellm", "trl", "lmeval", "all"):
        assert f"Provides-Extra: {extra}" in meta


def test_installed_wheels_run_offline_without_the_checkout(installed, server, aloe_data_dir, tmp_path):
    python, _, work, _ = installed
    env = _clean_env(work)
    probe = subprocess.run([str(python), "-c", "import aloe_bench, aloe_bench_hf, aloe_bench_litellm, aloe_bench_trl;"
                            "print(aloe_bench.__file__); print(aloe_bench_trl.accelerate_config('ddp'))"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout.splitlines()
    venv = str(python.parent.parent)
    assert probe[0].startswith(venv) and not probe[0].startswith(str(ROOT))
    assert probe[1].startswith(venv) and Path(probe[1]).is_file()

    listing = _run(python, tmp_path, env, "plugins", "--json")
    assert listing.returncode == 0, listing.stderr
    plugins = {p["name"]: p for p in json.loads(listing.stdout)["plugins"]}
    for name in ("hf", "litellm", "trl"):
        assert plugins[name]["version"] and not plugins[name]["builtin"]

    with serving(server, default_reply) as srv:
        run_env = {**env, **{k: v for k, v in served_env(srv, tmp_path, "sk-wheel-test").items()
                             if k.startswith("OPENAI_")}, "ALOE_BENCH_DATA_DIR": str(aloe_data_dir)}
        out = tmp_path / "run"
        res = _run(python, tmp_path, run_env, "evaluate", "--model", "litellm:openai/m", "--user", "litellm:openai/u",
                   "--judge", "litellm:openai/j", "--limit", "2", "--turns", "2", "--profile-probe",
                   "--output", str(out), "--quiet")
        assert res.returncode == 0, res.stdout + res.stderr
        summary = json.loads((out / "summary.json").read_text())
        assert summary["status"] == "complete" and len(summary["al"]) == 2
        run = json.loads((out / "run.json").read_text())
        assert run["profile"]["facts"]["origins"] == {"file": 0, "curated": 2, "sentence-split": 0}

        pool = tmp_path / "pool.jsonl"
        grow = _run(python, tmp_path, run_env, "personas", "grow", "--kind", "profile", "--generator",
                    "litellm:openai/g", "--pool", str(pool), "--max-rounds", "1", "--batch", "2", "--quiet")
        assert grow.returncode == 0, grow.stdout + grow.stderr
        seeds = (ROOT / "aloe_bench" / "personas" / "data" / "seeds" / "profiles.jsonl").read_text().splitlines()
        texts = [json.loads(line)["text"] for line in pool.read_text().splitlines()]
        assert texts[:20] == [json.loads(line)["text"] for line in seeds]  # the shipped seeds started the pool


def test_a_plugin_built_for_another_core_is_refused_at_load(installed, tmp_path):
    python, dist, work, _ = installed
    src = tmp_path / "future"
    (src / "future_plugin").mkdir(parents=True)
    (src / "future_plugin" / "__init__.py").write_text("raise RuntimeError('imported although incompatible')\n")
    (src / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "aloe-bench-future"\nversion = "3.0.0"\ndependencies = ["aloe-bench>=9,<10"]\n'
        '[project.entry-points.aloe_bench]\nfuture = "future_plugin"\n')
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                    "--no-build-isolation", str(src)], check=True, cwd=tmp_path, env=env, capture_output=True)
    try:
        res = _run(python, tmp_path, _clean_env(work), "plugins", "--json")
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout)["skipped"] == ["future"]
        warning = [line for line in res.stderr.splitlines() if "future" in line]
        spec = str(SpecifierSet(">=9,<10"))
        assert warning == [f"Warning: plugin 'future' was not loaded: aloe-bench-future 3.0.0 supports aloe-bench "
                           f"{spec}, but aloe-bench {__version__} is installed. Install matching versions (pip "
                           f"install \"aloe-bench{spec}\", or upgrade aloe-bench-future)."], res.stderr
        assert "imported although incompatible" not in res.stderr
    finally:
        subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "uninstall", "-q", "-y",
                        "aloe-bench-future"], check=True, env=env, capture_output=True)


def test_the_installed_lmeval_plugin_runs_its_shipped_task_suite(installed, tmp_path):
    python, _, work, _ = installed
    from aloe_bench_hf.tiny import build_tiny_chat_model

    model = build_tiny_chat_model(tmp_path / "tiny", arch="llama")
    out = tmp_path / "regress"
    res = _run(python, tmp_path, _clean_env(work), "regress", f"hf:{model}", "--tasks", "aloe-regress",
               "--limit", "2", "--device", "cpu", "--output", str(out), "-q")
    assert res.returncode == 0, res.stdout + res.stderr
    record = json.loads((out / "regress.json").read_text())
    assert record["status"] == "complete"
    assert {name: task["n"] for name, task in record["tasks"].items()} == {
        "aloe_arithmetic": 2, "aloe_instructions": 2, "aloe_commonsense": 2}
