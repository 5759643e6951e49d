"""How long `aloe-bench --help` takes against a bare click + rich start (median of N runs each).

    .venv/bin/python benchmarks/cli_startup.py [--runs 11]

Registering the built-in plugins must not import pydantic records, numpy or any heavy stack;
this prints both medians and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path


def median_seconds(cmd: list[str], runs: int) -> float:
    """Median wall time of ``runs`` executions of ``cmd`` (output discarded)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    bare = [sys.executable, "-c", "import click, rich.console; click.echo('x')"]
    cli = [str(Path(sys.executable).with_name("aloe-bench")), "--help"]
    b, a = median_seconds(bare, args.runs), median_seconds(cli, args.runs)
    print(f"bare click+rich: {b:.3f} s   aloe-bench --help: {a:.3f} s   ratio {a / b:.2f}x  (median of {args.runs})")


if __name__ == "__main__":
    main()
