"""A warm trivial cell in a session's kernel against a bare jupyter_client round trip.

TARGET: ``KernelPool.execute(session, "1 + 1")`` on a warm session kernel (sandboxed when
        bubblewrap works, as in the app) <= 2x a bare ``jupyter_client`` round trip
        (``execute_interactive("1 + 1")`` on a plain kernel, same ipc transport).

Both are the median of the same number of round trips, measured in the same run.

    .venv/bin/python bench/kernel_cell.py        (BENCH_REPEAT=N to change the repeats)
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from _harness import Result, median_time, repeats, report

from agent_core.config import load_settings
from agent_core.interpreter.pool import KernelPool

TARGET = 2.0
CELL = "1 + 1"


def bare_round_trips(n: int, folder: Path) -> float:
    from jupyter_client import KernelManager

    km = KernelManager(transport="ipc", ip=str(folder / "k"), connection_file=str(folder / "k.json"))
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        for _ in range(5):
            kc.execute_interactive(CELL, output_hook=lambda msg: None, timeout=30)
        return median_time(lambda: kc.execute_interactive(CELL, output_hook=lambda msg: None, timeout=30), n)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def main() -> int:
    n = repeats(60)
    home = Path(tempfile.mkdtemp(prefix="adk-bench-cell-"))
    pool = KernelPool(load_settings(env={"AGENT_DESK_HOME": str(home)}, secrets={}), warm_spare=False)
    try:
        for _ in range(5):
            assert pool.execute("bench-cell", CELL).ok
        product = median_time(lambda: pool.execute("bench-cell", CELL), n)
        isolation = pool.isolation.split(":")[0]
    finally:
        pool.shutdown()
    with tempfile.TemporaryDirectory() as folder:
        base = bare_round_trips(n, Path(folder))
    return report("warm trivial cell vs a bare jupyter_client round trip", [
        Result("session kernel cell / bare round trip", product / base, TARGET),
    ], notes=[f"session kernel ({isolation}): {product * 1000:.1f} ms (median of {n})",
              f"bare jupyter_client round trip: {base * 1000:.1f} ms"])


if __name__ == "__main__":
    sys.exit(main())
