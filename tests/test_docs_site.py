"""The documentation site (issue 20): ``mkdocs build --strict`` over docs/ with mkdocs.yml's
navigation. A broken link, a page left out of the navigation or a navigation entry without a page
fails the suite."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("mkdocs", reason="pip install 'aloe-bench[docs]' (requirements.txt installs it)")


def _build(root: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(root / "mkdocs.yml"),
                           "-d", str(site)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})


def test_the_site_builds_strictly(tmp_path):
    proc = _build(ROOT, tmp_path / "site")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "site" / "index.html").is_file()
    pages = {p.stem for p in (ROOT / "docs").glob("*.md")}
    built = {p.parent.name for p in (tmp_path / "site").glob("*/index.html")}
    assert pages - {"index"} <= built  # every page of docs/ is on the site


def test_a_broken_link_or_a_page_outside_the_navigation_fails_the_build(tmp_path):
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "docs", copy / "docs")
    shutil.copy2(ROOT / "mkdocs.yml", copy / "mkdocs.yml")
    (copy / "docs" / "metrics.md").write_text((copy / "docs" / "metrics.md").read_text()
                                              + "\nSee [the missing page](missing.md).\n")
    proc = _build(copy, tmp_path / "site")
    assert proc.returncode != 0 and "missing.md" in proc.stderr

    (copy / "docs" / "metrics.md").write_text((ROOT / "docs" / "metrics.md").read_text())
    (copy / "docs" / "orphan.md").write_text("# Orphan\n")
    proc = _build(copy, tmp_path / "site2")
    assert proc.returncode != 0 and "orphan.md" in proc.stderr
