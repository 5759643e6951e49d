"""The one-time SmolLM2 conversion runs once even when several processes start at the same time,
through a lock that works on every platform (``filelock``, not POSIX-only ``fcntl``). The
conversion itself is replaced by a slow fake, so these tests need neither torch nor the model."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

WORKER = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path
    from aloe_bench_hf import smollm2 as embedded

    gguf = Path(sys.argv[1])
    log = Path(sys.argv[2])
    embedded.gguf_file = lambda: gguf

    def fake_convert(source, target):
        with open(log, "a") as f:
            f.write(f"start {os.getpid()}\\n")
        time.sleep(0.5)  # a slow conversion: the other processes must wait, not convert too
        (Path(target) / "config.json").write_text("{}")
        with open(log, "a") as f:
            f.write(f"end {os.getpid()}\\n")

    embedded.convert = fake_convert
    print(embedded.smollm2_path())
""")


def test_file_lock_is_cross_platform(tmp_path):
    from filelock import BaseFileLock

    from aloe_bench_hf import smollm2 as embedded

    lock = embedded._file_lock(tmp_path / ".x.lock")
    assert isinstance(lock, BaseFileLock)
    with lock:
        assert lock.is_locked
    assert not lock.is_locked
    source = Path(embedded.__file__).read_text()
    assert "fcntl" not in source  # a no-op on Windows


def test_concurrent_processes_convert_once(tmp_path):
    gguf = tmp_path / "SmolLM2.gguf"
    gguf.write_bytes(b"GGUF" * 10)
    log = tmp_path / "log.txt"
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {"ALOE_BENCH_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    procs = [subprocess.Popen([sys.executable, str(script), str(gguf), str(log)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    folders = {out.strip() for out, _ in outs}
    target = tmp_path / "cache" / "models" / "smollm2-135m-instruct"
    assert folders == {str(target)}
    assert log.read_text().splitlines()[0].startswith("start") and len(log.read_text().splitlines()) == 2
    assert (target / "config.json").exists() and (target / "aloe-bench-conversion.json").exists()
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".smollm2-135m-instruct-")]
