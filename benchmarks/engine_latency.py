"""How close an evaluation's wall time comes to its critical path, and what each request costs
the client in CPU, for the ``oai:`` and ``litellm:`` transports side by side.

Starts the project's OpenAI-compatible server as a separate process (a fixed latency per
request), then runs, for every transport and persona count, an ALOE evaluation whose model
under test, user simulator and judge all go over HTTP to it (3 x N x K requests, cache off).
For each it prints

- wall time / critical path, where the critical path is K x (simulator latency + model
  latency): the least any turn-synchronous engine can take;
- client CPU per request: ``resource.getrusage(RUSAGE_SELF)`` user + system time of this
  process (the server is another process) over the evaluation, divided by its requests. It
  includes the engine's own work (prompts, parsing, transcripts), not only the transport's.

A burst of requests at zero latency (``--burst``, sent straight to the backend, no engine)
gives the transport's CPU per request alone. One-time costs (imports, first connections) are
excluded by a small warm-up evaluation per transport.

    ALOE_BENCH_DATA_DIR=../shared/aloe-data .venv/bin/python benchmarks/engine_latency.py \\
        --personas 20,100 --turns 10 --latency 0.5

``--litellm-setting NAME=VALUE`` sets a module attribute of litellm before the runs (e.g.
``turn_off_message_logging=True``), to measure litellm's switches with the same benchmark.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

#: Role specs per transport; ``{role}`` is mut, sim or judge (the served model names).
SPECS = {"oai": "oai:{role}", "litellm": "openai/{role}"}


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    """The project's OpenAI-compatible server in its own process; returns it and its base URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "aloe_bench.testing.openai_server", "--port", str(port),
                             "--latency", str(latency)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/v1"
    for _ in range(200):
        try:
            urllib.request.urlopen(base + "/models", timeout=1)
            return proc, base
        except OSError:
            time.sleep(0.05)
    proc.terminate()
    raise RuntimeError("the OpenAI-compatible server did not start")


def cpu_seconds() -> float:
    """User + system CPU time of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def loadavg() -> str:
    """The 1-minute load average (other jobs on the machine show here)."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:  # pragma: no cover - not Linux
        return "?"


def evaluate(transport: str, personas: str, n: int, turns: int, concurrency: int, bootstrap: int = 1000) -> dict:
    """One evaluation over ``transport``; its wall time, requests and client CPU."""
    from aloe_bench.evaluation.config import EvalConfig
    from aloe_bench.evaluation.engine import Evaluation
    from aloe_bench.plugins import PluginHost

    spec = SPECS[transport]
    cfg = EvalConfig(model=spec.format(role="mut"), user=spec.format(role="sim"), judge=spec.format(role="judge"),
                     personas=personas, limit=n, turns=turns, concurrency=concurrency, cache=False,
                     bootstrap=bootstrap)
    host = PluginHost()
    with tempfile.TemporaryDirectory() as tmp:
        load = loadavg()
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        summary = asyncio.run(Evaluation(cfg, Path(tmp) / "run", host).run())
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    calls = sum(u.calls for u in summary.usage.values())
    failed = summary.failures.model_dump() if hasattr(summary.failures, "model_dump") else {}
    return {"transport": transport, "personas": n, "turns": turns, "requests": calls, "wall_s": wall,
            "cpu_s": cpu, "cpu_ms_per_request": 1000 * cpu / max(1, calls), "n": summary.n, "status": summary.status,
            "failures": failed, "loadavg_start": load, "loadavg_end": loadavg()}


def burst(transport: str, base: str, requests: int, width: int) -> dict:
    """``requests`` calls straight to the backend (``width`` at a time, no engine) against a
    zero-latency server: the transport's own CPU per request."""
    from aloe_bench.components import GenerationParams
    from aloe_bench.records import Message

    if transport == "oai":
        from aloe_bench_litellm.oai import OaiModel

        model = OaiModel("mut", base_url=base, concurrency=width)
    else:
        from aloe_bench_litellm.model import LiteLLMModel

        model = LiteLLMModel("openai/mut", api_base=base, concurrency=width)
    params = GenerationParams(max_tokens=50)
    batch = [[Message(role="user", content=f"burst message {i}")] for i in range(width)]

    async def go() -> tuple[float, float, int]:
        await model.agenerate(batch, params)  # warm up: one connection per request in flight, lazy imports
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        done = 0
        while done < requests:
            replies = await model.agenerate(batch, params)
            assert all(r.ok for r in replies), next(r.error for r in replies if not r.ok)
            done += len(replies)
        result = cpu_seconds() - cpu0, time.perf_counter() - t0, done
        model.close()
        return result

    cpu, wall, done = asyncio.run(go())
    return {"transport": transport, "requests": done, "cpu_s": cpu, "wall_s": wall,
            "cpu_ms_per_request": 1000 * cpu / done, "loadavg_end": loadavg()}


def main() -> int:
    """Run the comparison and print (and optionally save) the figures."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--personas", default="20,100", help="persona counts N, comma-separated (default 20,100)")
    ap.add_argument("--turns", type=int, default=10)
    ap.add_argument("--latency", type=float, default=0.5, help="server seconds per request (default 0.5)")
    ap.add_argument("--concurrency", type=int, default=128)
    ap.add_argument("--transports", default="oai,litellm", help="oai, litellm or both (default oai,litellm)")
    ap.add_argument("--persona-source", default="aloe-eval", help="--personas of aloe-bench (default aloe-eval)")
    ap.add_argument("--bootstrap", type=int, default=1000,
                    help="bootstrap resamples of the summary's intervals (default 1000, as aloe-bench evaluate)")
    ap.add_argument("--burst", type=int, default=1000, help="requests of the zero-latency burst per transport (0: none)")
    ap.add_argument("--burst-width", type=int, default=200, help="requests in flight in the burst (default 200)")
    ap.add_argument("--litellm-setting", action="append", default=[], metavar="NAME=VALUE",
                    help="set litellm.NAME = VALUE (a Python literal) before the runs; repeatable")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    transports = [t.strip() for t in args.transports.split(",") if t.strip()]
    unknown = set(transports) - set(SPECS)
    if unknown:
        ap.error(f"unknown transport(s): {', '.join(sorted(unknown))}")
    counts = [int(n) for n in args.personas.split(",") if n.strip()]

    server, base = start_server(args.latency)
    fast, fast_base = start_server(0.0) if args.burst else (None, "")
    results: dict = {"latency_s": args.latency, "turns": args.turns, "concurrency": args.concurrency,
                     "bootstrap": args.bootstrap,
                     "cores": os.cpu_count(), "loadavg_start": loadavg(), "litellm_settings": args.litellm_setting,
                     "runs": [], "bursts": []}
    try:
        os.environ.update(OPENAI_API_BASE=base, OPENAI_API_KEY="bench-key", LITELLM_LOCAL_MODEL_COST_MAP="True")
        t_import = time.perf_counter()
        if "litellm" in transports:
            from aloe_bench_litellm.model import load_litellm

            litellm = load_litellm()  # importing litellm takes seconds: startup, not engine time
            for setting in args.litellm_setting:
                name, _, value = setting.partition("=")
                if not hasattr(litellm, name):
                    ap.error(f"litellm has no setting {name!r}")
                setattr(litellm, name, ast.literal_eval(value))
        results["startup_s"] = time.perf_counter() - t_import
        critical = args.turns * 2 * args.latency
        for transport in transports:  # warm-up: imports, prompt files, first connections
            evaluate(transport, args.persona_source, 2, 1, args.concurrency)
        for n in counts:
            for transport in transports:
                r = evaluate(transport, args.persona_source, n, args.turns, args.concurrency, args.bootstrap)
                r["critical_path_s"] = critical
                r["ratio"] = r["wall_s"] / critical
                results["runs"].append(r)
        if args.burst:
            for transport in transports:
                results["bursts"].append(burst(transport, fast_base, args.burst, args.burst_width))
    finally:
        server.terminate()
        server.wait()
        if fast is not None:
            fast.terminate()
            fast.wait()
    results["loadavg_end"] = loadavg()

    print(f"latency {args.latency}s per request, K={args.turns}, concurrency {args.concurrency}, "
          f"{os.cpu_count()} cores, load average {results['loadavg_start']} -> {results['loadavg_end']}"
          + (f", litellm settings {args.litellm_setting}" if args.litellm_setting else ""))
    print(f"{'transport':<9} {'N':>4} {'requests':>8} {'wall s':>7} {'critical s':>10} {'ratio':>6} "
          f"{'client CPU s':>12} {'CPU ms/request':>14}  load")
    for r in results["runs"]:
        print(f"{r['transport']:<9} {r['personas']:>4} {r['requests']:>8} {r['wall_s']:>7.2f} {r['critical_path_s']:>10.1f} "
              f"{r['ratio']:>6.3f} {r['cpu_s']:>12.2f} {r['cpu_ms_per_request']:>14.3f}  "
              f"{r['loadavg_start']}->{r['loadavg_end']}" + ("" if r["status"] == "complete" else f"  {r['status']}"))
    for b in results["bursts"]:
        print(f"burst {b['transport']:<9} {b['requests']} requests at zero latency, {args.burst_width} in flight: "
              f"client CPU {b['cpu_s']:.2f}s = {b['cpu_ms_per_request']:.3f} ms/request (wall {b['wall_s']:.2f}s)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
