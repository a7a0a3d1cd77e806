"""Attack 1: one session could exhaust the host's memory. RLIMIT_AS is per process: three
forked children held 2,589 MB against a 2,048 MB limit, and memfd pages (2.7 GB) were not
counted at all. The session's budget now holds for its whole process tree: a cgroup where
the OS allows one (this machine: cgroup v1 memory + pids), and the watchdog everywhere
(each mechanism tested on its own here)."""
from __future__ import annotations

import pytest

from agent_core.interpreter.pool import KernelPool
from agent_core.interpreter.watchdog import WATCHDOG
from tests.conftest import require_tool
from tests.unit.interpreter_helpers import kernel_processes, settings_for

BUDGET_MB = 1536
FORK = """
import os, time, signal
pids = []
for i in range(3):
    pid = os.fork()
    if pid == 0:
        hold = b'\\x01' * (600 << 20)
        time.sleep(30)
        os._exit(0)
    pids.append(pid)
time.sleep(10)
for pid in pids:
    os.kill(pid, signal.SIGKILL)
print('survived')
"""
MEMFD = """
import os, time
chunk = b'\\x01' * (64 << 20)
fds = [os.memfd_create(f'hostile{i}') for i in range(6)]  # 6 x 448 MB, each under RLIMIT_FSIZE
for fd in fds:
    for _ in range(7):
        os.write(fd, chunk)
del chunk
time.sleep(2)
print('survived', sum(os.fstat(fd).st_size for fd in fds) >> 20, 'MB')
"""


@pytest.fixture(params=["cgroup", "watchdog-only"])
def pool(request, tmp_path):
    require_tool("bwrap", "the kernel sandbox")
    cgroups = "off" if request.param == "watchdog-only" else "auto"
    p = KernelPool(settings_for(tmp_path / "home", AGENT_DESK_KERNEL_MEMORY_MB=str(BUDGET_MB),
                                AGENT_DESK_CGROUPS=cgroups,
                                AGENT_DESK_MAX_KERNELS="2", AGENT_DESK_EXEC_TIMEOUT="60"), warm_spare=False)
    p.execute("budget", "1")
    kernel = p._sessions["budget"].kernel
    mechanism = getattr(kernel, "budget_mechanism", "RLIMIT_AS only")
    print(f"\n{request.param}: {mechanism}")
    assert mechanism.startswith("cgroup v") == (request.param == "cgroup"), mechanism
    yield p
    p.shutdown()
    assert kernel_processes(p.marker) == []


def _check_stopped(pool, code: str) -> None:
    pid = pool.kernel_pid("budget")
    r = pool.execute("budget", code)
    assert "survived" not in r.stdout, r.stdout
    assert r.error is not None and r.error.name == "MemoryBudgetExceeded", r.error
    assert f"budget of {BUDGET_MB:,} MB" in r.error.value and "AGENT_DESK_KERNEL_MEMORY_MB" in r.error.value
    peak = WATCHDOG.peaks.get(pid, 0) >> 20
    print(f"session tree peak seen by the watchdog: {peak} MB (budget {BUDGET_MB} MB)")
    assert peak <= BUDGET_MB * 1.25
    # the session goes on with a fresh kernel
    again = pool.execute("budget", "print('fresh')")
    assert again.error is None and "fresh" in again.stdout


@pytest.mark.memory_mb(200)
@pytest.mark.timeout(180)
def test_forked_children_over_the_budget_stop_the_kernel(pool):
    _check_stopped(pool, FORK)


@pytest.mark.memory_mb(200)
@pytest.mark.timeout(180)
def test_memfd_over_the_budget_stops_the_kernel(pool):
    _check_stopped(pool, MEMFD)
