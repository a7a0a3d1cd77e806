"""How many concurrent sessions one replica holds within its memory budget.

TARGET: at least 20 live sessions in a 4 GB replica, i.e. <= 200 MB per session (each session
        with its own live kernel after one seed-chart run), counting the whole replica: the
        serving process (Streamlit, pandas and plotly imported, as a replica has them), its
        warm spare kernel and every session's kernel processes (bubblewrap's two and the kernel).

It fills one kernel pool (this process plays the replica, as ``app_server.py`` does: the pool
lives in the serving process, kernels are its children), one session after another, each
running the seed chart on the sample prices, and measures the PSS of the whole process tree
after each (PSS splits shared pages among the processes that share them, as the kernel's
memory accounting of a cgroup/systemd ``MemoryMax`` roughly does; RSS is printed too). It stops
when the budget is reached, or at the time limit: then the sessions the budget holds are
projected from the measured cost per session (and the report says so).

    .venv/bin/python bench/replica_sessions.py
    BENCH_REPLICA_MEMORY_MB=4096 BENCH_MAX_SESSIONS=40 BENCH_SECONDS=100 (the defaults)
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from _harness import SAMPLE, SEED, Result, report

from agent_core.backends.base import AgentRequest
from agent_core.backends.local import LocalAgent
from agent_core.config import load_settings
from agent_core.files import AttachedFile
from agent_core.interpreter.pool import KernelPool

BUDGET_MB = float(os.environ.get("BENCH_REPLICA_MEMORY_MB", 4096))
TARGET_SESSIONS = 20
MAX_SESSIONS = int(os.environ.get("BENCH_MAX_SESSIONS", 40))
SECONDS = float(os.environ.get("BENCH_SECONDS", 100))
MB = 1024 * 1024


def tree_memory() -> tuple[float, float]:
    """(PSS, RSS) in MB of this process and everything below it."""
    root = psutil.Process()
    pss = rss = 0
    for p in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):  # a process that just ended counts nothing
            info = p.memory_full_info()
            pss += info.pss
            rss += info.rss
    return pss / MB, rss / MB


def main() -> int:
    import plotly.graph_objects  # noqa: F401 - what a replica's pages have imported
    import streamlit  # noqa: F401

    home = Path(tempfile.mkdtemp(prefix="adk-bench-replica-"))
    settings = load_settings(env={"AGENT_DESK_HOME": str(home),
                                  "AGENT_DESK_MAX_KERNELS": str(MAX_SESSIONS + 1),
                                  "AGENT_DESK_KERNEL_IDLE_SECONDS": "3600"}, secrets={})
    sample = AttachedFile.from_bytes(SAMPLE.name, SAMPLE.read_bytes())
    pool = KernelPool(settings)
    agent = LocalAgent(settings, pool=pool)
    sids: list[str] = []
    t0 = time.monotonic()
    try:
        ready = threading.Event()
        pool.on_spare_ready(lambda _kernel: ready.set())
        ready.wait(60)
        base_pss, base_rss = tree_memory()  # the replica with no session: server + warm spare
        pss, rss = base_pss, base_rss
        stopped_by = "the session limit"
        while len(sids) < MAX_SESSIONS:
            if time.monotonic() - t0 > SECONDS:
                stopped_by = "the time limit"
                break
            sid = f"bench-replica-{len(sids)}"
            list(agent.invoke(AgentRequest(SEED, session_id=sid, files=(sample,))))
            if pool.kernel_pid(sid) is None:
                print(f"   session {sid} has no live kernel after its run", file=sys.stderr)
                return 1
            sids.append(sid)
            pss, rss = tree_memory()
            if pss > BUDGET_MB:
                stopped_by = "the memory budget"
                sids.pop()  # this one no longer fits
                break
        took = time.monotonic() - t0
        isolation = pool.isolation.split(":")[0]
        live = sum(pool.kernel_pid(s) is not None for s in sids)
    finally:
        pool.shutdown()
    n = len(sids)
    per_session = (pss - base_pss) / max(1, n if stopped_by != "the memory budget" else n + 1)
    held = n if stopped_by == "the memory budget" else int((BUDGET_MB - base_pss) // per_session)
    how = "held" if stopped_by == "the memory budget" else f"projected from {n} measured"
    notes = [
        f"replica budget {BUDGET_MB:.0f} MB; the replica with no session (server + warm spare kernel): "
        f"PSS {base_pss:.0f} MB, RSS {base_rss:.0f} MB",
        f"{n} sessions with live kernels ({live} still live at the end, {isolation}) in {took:.0f} s: "
        f"PSS {pss:.0f} MB, RSS {rss:.0f} MB; stopped by {stopped_by}",
        f"per session: {per_session:.0f} MB PSS; sessions in the budget: {held} ({how}); "
        f"target >= {TARGET_SESSIONS}",
    ]
    return report("concurrent sessions one replica holds within its memory budget", [
        Result("memory per live session (PSS)", per_session, BUDGET_MB / TARGET_SESSIONS, " MB"),
        Result("budget per session held (budget / sessions held)", BUDGET_MB / max(held, 1),
               BUDGET_MB / TARGET_SESSIONS, " MB"),
    ], notes=notes)


if __name__ == "__main__":
    sys.exit(main())
