"""Memory of an idle local session, its kernel included (proportional set size).

TARGET: an idle local session after the seed chart <= 150 MB (absolute): the PSS of its
        kernel's processes (bubblewrap's two and the kernel) plus what the session added to
        the serving process's own PSS.

PSS splits shared pages among the processes that share them, so kernels sharing libraries
are not each charged in full. The warm spare is not the session's and is not counted.

    .venv/bin/python bench/memory.py        (BENCH_REPEAT=N to change the sessions measured)
"""
from __future__ import annotations

import contextlib
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil
from _harness import SAMPLE, SEED, Result, repeats, report

from agent_core.backends.base import AgentRequest
from agent_core.backends.local import LocalAgent
from agent_core.config import load_settings
from agent_core.files import AttachedFile
from agent_core.interpreter.pool import KernelPool

TARGET_MB = 150.0
IDLE_SECONDS = 2.0


def pss(pid: int) -> int:
    """PSS of a process and everything below it, in bytes."""
    root = psutil.Process(pid)
    total = 0
    for p in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):  # a process that just ended counts nothing
            total += p.memory_full_info().pss
    return total


def own_pss() -> int:
    gc.collect()
    return psutil.Process().memory_full_info().pss


def main() -> int:
    n = repeats(3)
    home = Path(tempfile.mkdtemp(prefix="adk-bench-mem-"))
    settings = load_settings(env={"AGENT_DESK_HOME": str(home)}, secrets={})
    sample = AttachedFile.from_bytes(SAMPLE.name, SAMPLE.read_bytes())
    pool = KernelPool(settings)
    agent = LocalAgent(settings, pool=pool)

    def ask(sid: str) -> None:
        list(agent.invoke(AgentRequest(SEED, session_id=sid, files=(sample,))))

    kernels, host = [], []
    try:
        ask("bench-mem-warmup")  # the serving process has its imports and caches, as a server has
        pool.reset("bench-mem-warmup")
        for i in range(n):
            sid = f"bench-mem-{i}"
            before = own_pss()
            ask(sid)
            time.sleep(IDLE_SECONDS)
            kernels.append(pss(pool.kernel_pid(sid)))
            host.append(max(0, own_pss() - before))
            pool.reset(sid)
        isolation = pool.isolation.split(":")[0]
    finally:
        pool.shutdown()
    mb = 1024 * 1024
    kernel_mb, host_mb = statistics.median(kernels) / mb, statistics.median(host) / mb
    return report("idle local session memory (PSS)", [
        Result("idle session (kernel + its share of the server)", kernel_mb + host_mb, TARGET_MB, " MB"),
    ], notes=[f"kernel processes ({isolation}): {kernel_mb:.0f} MB; added to the serving process: "
              f"{host_mb:.0f} MB (medians of {n} sessions, after the seed chart and "
              f"{IDLE_SECONDS:g} s idle)"])


if __name__ == "__main__":
    sys.exit(main())
