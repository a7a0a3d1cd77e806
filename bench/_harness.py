"""What every benchmark shares: medians of repeats, targets, the verdict and exit status.

A benchmark measures the product and a baseline doing the same work, the same way (same
number of repeats, medians), in the same run; states its targets at the top; prints
measured/target for each; exits 1 when a target is missed (so ``make bench`` fails).
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SEED = ("Given the attached price data file, please make me a chart with moving average in red "
        "and actual data in blue")
SAMPLE = ROOT / "assets" / "sample_prices.csv"


def repeats(default: int) -> int:
    """``BENCH_REPEAT`` overrides every benchmark's number of repeats."""
    return max(1, int(os.environ.get("BENCH_REPEAT", default)))


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def median_time(fn: Callable[[], object], n: int, *, before: Callable[[], object] | None = None) -> float:
    """Median wall time of ``fn`` over ``n`` runs (``before`` runs untimed before each)."""
    times = []
    for _ in range(n):
        if before is not None:
            before()
        times.append(timed(fn))
    return statistics.median(times)


def interleaved_medians(n: int, *fns: Callable[[], object]) -> list[float]:
    """Median wall time of each function, run in turns (a, b, a, b, ...) so that a change
    in the machine's load touches the product and the baseline alike."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(n):
        for i, fn in enumerate(fns):
            times[i].append(timed(fn))
    return [statistics.median(t) for t in times]


@dataclass(frozen=True)
class Result:
    name: str
    measured: float
    target: float
    unit: str = "x"  # "x": a ratio to the baseline; otherwise an absolute unit (e.g. "MB")

    @property
    def ok(self) -> bool:
        return self.measured <= self.target


def report(title: str, results: list[Result], notes: list[str] = ()) -> int:
    """Print the results and the machine's load; the exit status (1 when a target is missed)."""
    print(f"== {title}")
    for line in notes:
        print(f"   {line}")
    for r in results:
        verdict = "ok" if r.ok else "MISSED"
        print(f"   {r.name}: {r.measured:.3f}{r.unit} (target <= {r.target:g}{r.unit}; "
              f"measured/target {r.measured / r.target:.2f}) {verdict}")
    load = os.getloadavg()
    print(f"   (cpu count {os.cpu_count()}, load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f})")
    return 0 if all(r.ok for r in results) else 1


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def pg_admin(server: str, title: str):  # noqa: ANN201  (psycopg loads only for these benchmarks)
    """An autocommit connection to the PostgreSQL ``server`` of a benchmark, or None after
    printing the miss (a server that cannot be reached is a miss)."""
    import psycopg

    try:
        return psycopg.connect(server, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        print(f"== {title}: MISSED, no server at {server} ({str(exc).strip().splitlines()[0]})")
        return None
