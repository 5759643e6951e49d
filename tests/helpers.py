"""Helpers shared by tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


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
