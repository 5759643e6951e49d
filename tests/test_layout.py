"""The core's layout: public import paths stay, every module imports on its own (no import
circles), and the CLI starts without pydantic or the heavy stacks."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import aloe_bench

#: Import paths users, scripts and plugins rely on (issue: "what stays fixed").
PUBLIC = [
    ("aloe_bench", "hookimpl"),
    ("aloe_bench", "__version__"),
    ("aloe_bench.metrics", "curve_metrics"),
    ("aloe_bench.components", "ChatModel"),
    ("aloe_bench.components", "GenerationParams"),
    ("aloe_bench.components", "Reply"),
    ("aloe_bench.components", "SimRequest"),
    ("aloe_bench.components", "JudgeRequest"),
    ("aloe_bench.components", "Verdict"),
    ("aloe_bench.components", "ChoiceProbs"),
    ("aloe_bench.errors", "AloeBenchError"),
    ("aloe_bench.errors", "ConfigError"),
    ("aloe_bench.errors", "DataError"),
    ("aloe_bench.errors", "PluginError"),
    ("aloe_bench.errors", "UnknownComponentError"),
    ("aloe_bench.errors", "DuplicateComponentError"),
    ("aloe_bench.errors", "ResumeConflictError"),
    ("aloe_bench.errors", "MissingDependencyError"),
    ("aloe_bench.errors", "RunLockedError"),
    ("aloe_bench.testing", "ScriptedModel"),
    ("aloe_bench.testing", "ScriptedPlugin"),
    ("aloe_bench.testing", "find_aloe_data"),
    ("aloe_bench.testing.openai_server", "OpenAICompatServer"),
    ("aloe_bench.paths", "cache_dir"),
    ("aloe_bench.fileio", "atomic_write_text"),
    ("aloe_bench.fileio", "JsonlWriter"),
    ("aloe_bench.evaluation.engine", "Evaluation"),
    ("aloe_bench.evaluation.config", "EvalConfig"),
    ("aloe_bench.evaluation.judging", "judge_run"),
    ("aloe_bench.evaluation.run_folder", "RunStore"),
    ("aloe_bench.reporting.leaderboard", "ROW_FIELDS"),
    ("aloe_bench.reporting.results", "load_result"),
    ("aloe_bench.personas", "load_personas"),
    ("aloe_bench.personas.pool", "PersonaPool"),
]


@pytest.mark.parametrize("module,name", PUBLIC)
def test_public_import_paths(module, name):
    mod = __import__(module, fromlist=[name])
    assert getattr(mod, name) is not None


def _all_modules() -> list[str]:
    out = []
    for info in pkgutil.walk_packages(aloe_bench.__path__, "aloe_bench."):
        if ".testing.pytest_plugin" not in info.name and not info.name.endswith("__main__"):
            out.append(info.name)
    return sorted(out)


def test_every_core_module_imports_alone_without_a_circle():
    # Each module first in a fresh interpreter: an import circle shows as an ImportError there.
    code = ("import importlib, sys\nfailed = []\nfor name in sys.argv[1:]:\n"
            "    import subprocess\n"
            "    r = subprocess.run([sys.executable, '-c', f'import {name}'], capture_output=True, text=True)\n"
            "    if r.returncode: failed.append(name + ': ' + r.stderr.strip().splitlines()[-1])\n"
            "print('\\n'.join(failed))\nsys.exit(1 if failed else 0)\n")
    proc = subprocess.run([sys.executable, "-c", code, *_all_modules()], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_core_is_grouped_by_concern():
    top = {m.split(".")[1] for m in _all_modules()}
    assert {"evaluation", "backends", "protocols", "reporting", "personas", "cli"} <= top
    flat = [m for m in _all_modules() if m.count(".") == 1 and m.split(".")[1] not in
            {"evaluation", "generation", "backends", "protocols", "reporting", "personas", "cli", "default_plugins",
             "testing", "prompts", "validity"}]
    assert len(flat) <= 14, flat  # shared types and the plugin host only


def test_help_imports_no_pydantic_records():
    code = ("import sys\nsys.argv = ['aloe-bench', '--help']\nfrom aloe_bench.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "bad = [m for m in ('aloe_bench.records', 'aloe_bench.options', 'pydantic', 'torch', 'litellm', 'numpy') if m in sys.modules]\n"
            "print('LOADED', bad)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "LOADED []" in proc.stdout, proc.stdout[-500:] + proc.stderr[-2000:]
