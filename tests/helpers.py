"""Helpers shared by tests."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
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


def default_sigint() -> None:
    """``preexec_fn`` for a child that a test interrupts with SIGINT: Ctrl-C's default action.
    A test run started in the background of a non-interactive shell inherits SIGINT as ignored,
    and Python keeps an ignored SIGINT ignored, so the child would never see the interrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


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


@contextmanager
def serving(server, script) -> Iterator[Any]:
    """``server`` (a module's :class:`~aloe_bench.testing.openai_server.OpenAICompatServer`) reset,
    answering with ``script`` and no added latency, for one test; reset again afterwards."""
    server.reset()
    server.script = script
    server.latency = 0
    try:
        yield server
    finally:
        server.reset()
        server.script = script
        server.latency = 0


def served_env(server, tmp_path: Path, api_key: str) -> dict[str, str]:
    """The environment of a CLI run whose ``openai/NAME`` models ``server`` answers: this process's
    environment without OPENAI_* and ALOE_BENCH_* settings, plus the server's URL and ``api_key``,
    a cache of its own under ``tmp_path``, offline, no colour."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ALOE_BENCH_"))}
    env.update(OPENAI_API_BASE=server.base_url, OPENAI_API_KEY=api_key, LITELLM_LOCAL_MODEL_COST_MAP="True",
               ALOE_BENCH_CACHE_DIR=str(tmp_path / "cache"), HF_HUB_OFFLINE="1", NO_COLOR="1")
    return env


def run_served(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """``aloe-bench ARGS`` under a :func:`served_env` environment: fails the test if the API key shows
    in the output or the command printed a traceback."""
    proc = subprocess.run([aloe_bench_exe(), *args], env=env, capture_output=True, text=True, timeout=timeout)
    assert env["OPENAI_API_KEY"] not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def answers_in_order(*texts):
    """A script (for ``ScriptedModel(script=...)``) that answers ``texts`` in order, and the list
    it records every chat it was sent into."""
    queue, seen = list(texts), []

    def script(messages):
        seen.append(list(messages))
        return queue.pop(0)

    return script, seen


def jsonl_rows(path: Path) -> list[dict]:
    """The records of a JSONL file (blank lines skipped)."""
    import json

    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def host_with_plain_simulator(name: str):
    """A plugin host (no entry points) with a simulator protocol ``name`` that always says hello:
    no sampling parameters and no ``handles_change_notice``, for tests of what a run refuses."""
    from aloe_bench.components import Reply
    from aloe_bench.hookspecs import hookimpl
    from aloe_bench.plugins import PluginHost

    class Plain:
        def __init__(self, backend=None, **options):
            self.name, self.backend = name, backend

        async def next_messages(self, requests):
            return [Reply(text="hello") for _ in requests]

        def describe(self):
            return {"kind": name, "options": {}, "prompt_hashes": {}}

    class Plugin:
        @hookimpl
        def aloe_register_simulators(self, register):
            register(name, Plain)

    return PluginHost(load_entrypoints=False, extra_plugins={f"{name}-sim": Plugin()})


def kill_9_after(command: list[str], env: dict[str, str], path: Path, lines: int, *, timeout: float = 90) -> None:
    """Start ``command`` (a CLI run), wait until ``path`` holds ``lines`` complete lines (or
    ``timeout`` seconds pass), then kill it with SIGKILL, as a crash would."""
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count("\n") >= lines:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
