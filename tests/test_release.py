"""Release hygiene (issue 20): one version per package, plugins bound to the core's minor series and
checked at load, the declared Python floor honoured, a changelog."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest
from packaging.requirements import Requirement

import aloe_bench
from aloe_bench.plugins import core_incompatibility

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = sorted(p for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").is_file())


def _project(folder: Path) -> dict:
    return tomllib.loads((folder / "pyproject.toml").read_text())


@pytest.mark.parametrize("folder", [ROOT, *PLUGINS], ids=lambda p: p.name)
def test_each_package_writes_its_version_once_and_declares_python(folder):
    data = _project(folder)
    assert "version" not in data["project"] and data["project"]["dynamic"] == ["version"]
    attr = data["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    module, name = attr.rsplit(".", 1)
    source = (folder / module.replace(".", "/") / "__init__.py").read_text()
    assert re.search(rf'^{name} = "\d+\.\d+\.\d+"', source, re.M), f"{attr} is not a literal version"
    assert data["project"]["requires-python"] == ">=3.10"


@pytest.mark.parametrize("folder", PLUGINS, ids=lambda p: p.name)
def test_each_plugin_supports_the_current_core_and_not_the_next_minor(folder):
    reqs = [Requirement(r) for r in _project(folder)["project"]["dependencies"]]
    core = next(r for r in reqs if r.name == "aloe-bench")
    major, minor = aloe_bench.__version__.split(".")[:2]
    assert core.specifier.contains(aloe_bench.__version__)
    assert not core.specifier.contains(f"{major}.{int(minor) + 1}.0")


def test_the_core_extras_name_every_first_party_plugin():
    extras = _project(ROOT)["project"]["optional-dependencies"]
    plugin_names = {_project(p)["project"]["name"] for p in PLUGINS}
    named = {Requirement(r).name for key in ("hf", "litellm", "trl", "lmeval") for r in extras[key]}
    assert named == plugin_names
    assert Requirement(extras["all"][0]).extras >= {"hf", "litellm", "trl", "lmeval"}


def _dist(name: str, version: str, requires: list[str] | None):
    return SimpleNamespace(requires=requires, version=version, metadata={"Name": name})


def test_core_incompatibility_reads_the_plugin_requirement_on_aloe_bench():
    ok = _dist("p", "1.0", ["aloe-bench>=0.1,<0.2", "torch>=2"])
    assert core_incompatibility(ok, "0.1.5") is None
    assert core_incompatibility(ok, "0.1.1rc1") is None  # a pre-release inside the range
    assert core_incompatibility(_dist("p", "1.0", None), "0.1.0") is None
    assert core_incompatibility(_dist("p", "1.0", ["aloe-bench"]), "7.0") is None  # no range: any core
    assert core_incompatibility(_dist("p", "1.0", ['aloe_bench>=9; extra == "dev"']), "0.1.0") is None
    why = core_incompatibility(ok, "0.2.0")
    assert why is not None and "p 1.0 supports aloe-bench <0.2,>=0.1" in why and "aloe-bench 0.2.0 is installed" in why
    assert core_incompatibility(_dist("p", "1.0", ["Aloe_Bench<0.1"]), "0.1.0") is not None  # normalised names


def test_the_sources_need_no_python_newer_than_declared():
    vermin = shutil.which("vermin") or str(Path(sys.executable).parent / "vermin")
    if not Path(vermin).exists():
        pytest.skip("pip install vermin (requirements.txt installs it)")
    targets = [str(ROOT / "aloe_bench")] + [str(p / p.name.replace("-", "_")) for p in PLUGINS]
    proc = subprocess.run([vermin, "--no-tips", "--target=3.10-", "--violations", "--eval-annotations", *targets],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_changelog_has_a_section_for_the_current_version():
    text = (ROOT / "CHANGELOG.md").read_text()
    assert "keepachangelog.com" in text
    assert f"## [{aloe_bench.__version__}]" in text or (
        "## [Unreleased]" in text and aloe_bench.__version__ in text.split("## [Unreleased]", 1)[1].split("\n## ")[0])


#: Calls and modules that exist on POSIX only (Windows lacks them); the paths users hit go through
#: filelock and os.replace instead.
POSIX_ONLY_MODULES = {"fcntl", "pwd", "grp", "resource", "termios", "tty", "pty"}
POSIX_ONLY_OS = {"fchmod", "fchown", "chown", "lchown", "fork", "forkpty", "getuid", "geteuid", "getgid", "setsid",
                 "killpg", "getpgid", "setpgid", "mkfifo", "statvfs", "sync", "nice", "getloadavg"}


def test_the_sources_make_no_posix_only_call():
    import ast

    found = []
    for folder in [ROOT / "aloe_bench", *(p / p.name.replace("-", "_") for p in PLUGINS)]:
        for path in folder.rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [a.name.split(".")[0] for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module.split(".")[0]]
                else:
                    names = []
                found += [f"{path.relative_to(ROOT)}:{node.lineno} imports {n}" for n in names if n in POSIX_ONLY_MODULES]
                if (isinstance(node, ast.Attribute) and node.attr in POSIX_ONLY_OS
                        and isinstance(node.value, ast.Name) and node.value.id == "os"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} calls os.{node.attr}")
    assert not found, found
