"""Helpers shared by tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

#: Debian's headless Chromium, which Playwright drives for the browser tests (CI installs it).
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def chromium_browser() -> Iterator[Any]:
    """A launched headless Chromium (Playwright's sync API); skips the test when Chromium or
    Playwright is missing. Start it after any ``asyncio.run``: the sync API keeps a loop running."""
    import pytest

    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium); CI installs it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (drives Debian's chromium)")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=os.path.realpath(CHROMIUM), args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def aloe_bench_exe() -> str:
    """The console script of this interpreter's environment."""
    exe = Path(sys.executable).parent / "aloe-bench"
    return str(exe) if exe.exists() else "aloe-bench"


def run_cli(*args: str, env: dict | None = None, cwd: str | Path | None = None, timeout: float = 300,
            check: bool = False) -> subprocess.CompletedProcess:
    """Run ``aloe-bench ARGS`` in a subprocess and capture its output."""
    proc = subprocess.run([aloe_bench_exe(), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=cwd)
    if check and proc.returncode != 0:
        raise AssertionError(f"aloe-bench {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc
