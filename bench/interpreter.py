"""Benchmark of the local code interpreter (a script, not a test).

    .venv/bin/python bench/interpreter.py [--sandbox auto|bwrap|none] [--repeat N]

Prints: kernel start time (start + warm-up imports), a warm trivial cell, a warm
2,500-row moving-average chart saved as PNG, the first chart of a new session served
by the warm spare kernel, and the same chart as a fresh ``python`` subprocess (the
baseline, measured in the same run), with ratios against that baseline.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent_core.config import load_settings  # noqa: E402
from agent_core.interpreter.pool import KernelPool  # noqa: E402

CHART = """
import numpy as np, pandas as pd, matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
rng = np.random.default_rng(0)
df = pd.DataFrame({"close": 100 + np.cumsum(rng.normal(size=2500))},
                  index=pd.date_range("2015-01-01", periods=2500, freq="B"))
df["ma20"] = df["close"].rolling(20).mean()
fig, ax = plt.subplots(figsize=(8, 4))
df.plot(ax=ax)
fig.savefig("ma.png", dpi=100)
plt.close(fig)
"""


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sandbox", default="auto", choices=("auto", "bwrap", "none"))
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="adk-bench-"))
    settings = load_settings(env={"AGENT_DESK_HOME": str(home), "AGENT_DESK_SANDBOX": args.sandbox,
                                  "AGENT_DESK_MAX_KERNELS": "4"}, secrets={})
    pool = KernelPool(settings)
    print(f"isolation: {pool.isolation}")
    try:
        spare = pool._spare.result(timeout=120)
        # kernel start: cold starts (start + warm-up imports), measured on fresh kernels
        starts = []
        for i in range(max(2, args.repeat // 2)):
            sid = f"cold-{i}"
            pool._spare.result(timeout=120)  # let the background spare finish first
            with pool._lock:
                held, pool._spare = pool._spare, None
            starts.append(timed(lambda: pool.execute(sid, "pass")))
            with pool._lock:
                pool._spare = held
            pool.reset(sid)
        del spare

        sid = "warm"
        assert pool.execute(sid, CHART).ok
        pool._spare.result(timeout=120)  # no background kernel start during the warm timings
        trivial = [timed(lambda: pool.execute(sid, "1 + 1")) for _ in range(30)]
        chart = []
        for _ in range(args.repeat):
            r = None

            def go():
                nonlocal r
                r = pool.execute(sid, CHART)
            chart.append(timed(go))
            assert r.ok and any(f.name == "ma.png" for f in r.files), r
        pool.reset(sid)

        first = []
        for i in range(args.repeat):
            pool._spare.result(timeout=120)
            time.sleep(0.5)
            first.append(timed(lambda: pool.execute(f"new-{i}", CHART)))
            pool.reset(f"new-{i}")

        base = []
        env = {"PATH": os.environ.get("PATH", ""), "MPLCONFIGDIR": str(home / "cache" / "matplotlib"),
               "HOME": str(home)}
        with tempfile.TemporaryDirectory() as cwd:
            for _ in range(args.repeat):
                base.append(timed(lambda: subprocess.run([sys.executable, "-c", CHART], cwd=cwd, env=env,
                                                         check=True)))
    finally:
        pool.shutdown()

    med = statistics.median
    b = med(base)
    rows = [
        ("kernel start (start + import pandas/numpy/matplotlib)", med(starts)),
        ("warm trivial cell (1 + 1)", med(trivial)),
        ("warm 2,500-row moving-average chart saved as PNG", med(chart)),
        ("first chart of a new session (warm spare kernel)", med(first)),
        ("same chart, fresh python subprocess (baseline)", b),
    ]
    print(f"{'measure':58s} {'median':>9s} {'baseline/x':>11s}")
    for name, v in rows:
        print(f"{name:58s} {v * 1000:7.1f}ms {b / v:10.1f}x")
    print(f"(cpu count {os.cpu_count()}, load {os.getloadavg()[0]:.1f}, repeat {args.repeat})")


if __name__ == "__main__":
    main()
