"""How close an evaluation's wall time comes to its critical path.

Starts the project's OpenAI-compatible server (a separate process, fixed latency per request), then
runs an ALOE evaluation whose model under test, user simulator and judge all go through litellm over
HTTP to it, and prints wall time / critical path, where the critical path is
K x (simulator latency + model latency): the least any turn-synchronous engine can take.
The target is a ratio below 1.3.

    .venv/bin/python benchmarks/engine_latency.py --personas 100 --turns 10 --latency 0.5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--personas", type=int, default=100)
    ap.add_argument("--turns", type=int, default=10)
    ap.add_argument("--latency", type=float, default=0.5)
    ap.add_argument("--concurrency", type=int, default=128)
    args = ap.parse_args()

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "aloe_bench.testing.openai_server", "--port", str(port),
                               "--latency", str(args.latency)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}/v1"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/models", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        os.environ.update(OPENAI_API_BASE=base, OPENAI_API_KEY="bench-key", LITELLM_LOCAL_MODEL_COST_MAP="True")
        from aloe_bench.evaluation.config import EvalConfig
        from aloe_bench.evaluation.engine import Evaluation
        from aloe_bench.plugins import PluginHost

        host = PluginHost()
        t_import = time.perf_counter()
        from aloe_bench_litellm.model import load_litellm

        load_litellm()  # importing litellm takes seconds: startup, not engine time
        startup = time.perf_counter() - t_import
        cfg = EvalConfig(model="openai/mut", user="openai/sim", judge="openai/judge", personas="aloe-eval",
                         limit=args.personas, turns=args.turns, concurrency=args.concurrency, cache=False,
                         bootstrap=1000)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            summary = asyncio.run(Evaluation(cfg, Path(tmp) / "run", host).run())
            wall = time.perf_counter() - t0
        critical = args.turns * 2 * args.latency
        calls = sum(u.calls for u in summary.usage.values())
        print(f"personas={args.personas} turns={args.turns} latency={args.latency}s concurrency={args.concurrency}")
        print(f"calls={calls}  N(k)={summary.n}  (litellm import, excluded: {startup:.1f}s)")
        print(f"wall={wall:.2f}s  critical_path={critical:.2f}s  ratio={wall / critical:.3f}  (target < 1.3)")
        print(f"sequential N x K x 3 calls would take {args.personas * args.turns * 3 * args.latency:.0f}s")
    finally:
        server.terminate()
        server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
