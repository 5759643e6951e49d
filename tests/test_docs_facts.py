"""Facts the hand-written docs state about the repository, checked against the repository, so a
walk through README and docs/ does not find them false again."""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
OWN_DOCS = [ROOT / "README.md", *(ROOT / "docs" / n for n in (
    "performance.md", "reports.md", "personas.md", "quickstart.md", "metrics.md", "results_format.md"))]


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _core_dependencies() -> list[str]:
    deps = tomllib.loads(_text(ROOT / "pyproject.toml"))["project"]["dependencies"]
    return [re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0].strip() for d in deps]


def test_tomli_is_declared_for_python_310():
    """`--config` reads TOML with tomli below Python 3.11 (aloe_bench/cli/common.py)."""
    deps = tomllib.loads(_text(ROOT / "pyproject.toml"))["project"]["dependencies"]
    assert any(d.replace(" ", "").startswith("tomli>=2;") and 'python_version<"3.11"' in d.replace(" ", "")
               for d in deps), deps
    assert "import tomli as tomllib" in _text(ROOT / "aloe_bench" / "cli" / "common.py")


def test_readme_and_quickstart_name_every_core_dependency():
    deps = _core_dependencies()
    assert {"numpy", "platformdirs", "filelock", "tomli"} <= set(deps)
    readme = _text(ROOT / "README.md")
    layout = readme[readme.index("aloe_bench/            the core"):readme.index("plugins/aloe-bench-litellm/")]
    quick = _text(ROOT / "docs" / "quickstart.md")
    quick = quick[quick.index("To install only"):]
    for dep in deps:
        assert dep in layout, f"README's layout omits the core dependency {dep}"
        assert dep in quick[:600], f"docs/quickstart.md omits the core dependency {dep}"


def test_documented_seed_ages_match_the_seed_files():
    ages = [int(a) for a in re.findall(r"(\d+)-year-old", _text(ROOT / "aloe_bench" / "personas" / "data" / "seeds" / "profiles.jsonl"))]
    assert len(ages) == 20  # one age per seed profile
    doc = " ".join(_text(ROOT / "docs" / "personas.md").split())
    assert f"varied ages from {min(ages)} to {max(ages)}," in doc


def test_docs_cite_no_file_missing_from_the_repository():
    for path in OWN_DOCS:
        text = _text(path)
        for name in re.findall(r"\b([A-Z][A-Z_]+\.md)\b", text):
            assert list(ROOT.rglob(name)), f"{path.name} cites {name}, which is not in the repository"
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
            assert (path.parent / target).exists(), f"{path.name} links to missing {target}"


def test_commands_in_the_docs_exist_or_are_said_to_be_planned():
    from aloe_bench.cli import _add_plugin_commands, cli

    _add_plugin_commands()  # as main() does: the installed plugins' commands (regress) count too
    commands = set(cli.list_commands(None))
    for path in OWN_DOCS:
        for line in _text(path).splitlines():
            # Commands in code spans and at the start of command lines ("aloe-bench X", not prose).
            for name in re.findall(r"(?:`|^\s*(?:\S*/)?)aloe-bench ([a-z][a-z-]+)", line):
                if name in commands:
                    continue
                assert "planned" in line or "yet" in line, f"{path.name}: `aloe-bench {name}` does not exist: {line}"
