"""First chart of a fresh session, through the real local agent, with the warm kernel ready.

TARGET: first chart (planner + warm spare kernel + parser, ``LocalAgent.invoke`` until the
        last event) <= 0.3x the same chart code run as ``python chart.py`` in a fresh process.
Also printed, without a target: the same request when the session has to start its kernel
(no spare: a cold kernel), against the same baseline.

The request is the seed prompt with the bundled sample prices attached; the baseline runs
exactly the code the planner wrote for it, on the same file. The benchmark's own process
is warmed up by one request first (as a running server is); the request and the baseline
take turns, each after the spare is ready and the machine has settled; medians.

    .venv/bin/python bench/first_chart.py        (BENCH_REPEAT=N to change the repeats)
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import SAMPLE, SEED, Result, median_time, repeats, report, timed

from agent_core.backends.base import AgentRequest
from agent_core.backends.local import LocalAgent
from agent_core.config import load_settings
from agent_core.events import FileReturned
from agent_core.files import AttachedFile
from agent_core.interpreter.pool import KernelPool
from agent_core.planner import plan_request

TARGET = 0.3


def main() -> int:
    n = repeats(5)
    home = Path(tempfile.mkdtemp(prefix="adk-bench-first-"))
    settings = load_settings(env={"AGENT_DESK_HOME": str(home)}, secrets={})
    sample = AttachedFile.from_bytes(SAMPLE.name, SAMPLE.read_bytes())
    code = plan_request(SEED, [sample]).code
    pool = KernelPool(settings)
    agent = LocalAgent(settings, pool=pool)
    counter = iter(range(10_000))

    def request(sid: str) -> None:
        files = [e.file.name for e in agent.invoke(AgentRequest(SEED, session_id=sid, files=(sample,)))
                 if isinstance(e, FileReturned)]
        assert "moving_average.png" in files, files
        pool.reset(sid)

    def spare_ready() -> None:
        deadline = time.monotonic() + 120
        while not pool.spare_ready():
            assert time.monotonic() < deadline, "the warm spare did not start"
            time.sleep(0.05)
        time.sleep(1.0)  # let the machine settle after the spare's start

    work = Path(tempfile.mkdtemp(prefix="adk-bench-first-cwd-"))
    (work / "chart.py").write_text(code)
    (work / SAMPLE.name).write_bytes(SAMPLE.read_bytes())

    def fresh() -> None:
        subprocess.run([sys.executable, "chart.py"], cwd=work, check=True, capture_output=True)

    firsts, bases = [], []
    try:
        spare_ready()
        request("bench-warmup")  # this process warm, as a running server is
        fresh()
        for _ in range(n):  # in turns, each on a settled machine with its spare ready
            spare_ready()
            firsts.append(timed(lambda: request(f"bench-first-{next(counter)}")))
            spare_ready()
            bases.append(timed(fresh))
        first, base = statistics.median(firsts), statistics.median(bases)
        pool.shutdown()
        cold_pool = KernelPool(settings, warm_spare=False)
        cold_agent = LocalAgent(settings, pool=cold_pool)

        def cold() -> None:
            sid = f"bench-cold-{next(counter)}"
            list(cold_agent.invoke(AgentRequest(SEED, session_id=sid, files=(sample,))))
            cold_pool.reset(sid)

        cold_time = median_time(cold, max(2, n // 2))
        cold_pool.shutdown()
    finally:
        pool.shutdown()

    return report("first chart of a fresh session (spare ready) vs python chart.py", [
        Result("first chart / fresh python process", first / base, TARGET),
    ], notes=[f"first chart through the local agent: {first * 1000:.0f} ms (median of {n})",
              f"python chart.py (same code, same file): {base * 1000:.0f} ms",
              f"same request with a cold kernel (no spare): {cold_time * 1000:.0f} ms = "
              f"{cold_time / base:.2f}x the fresh process (no target)"])


if __name__ == "__main__":
    sys.exit(main())
