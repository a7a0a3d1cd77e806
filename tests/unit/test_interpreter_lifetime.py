"""A kernel lives as long as its session, not as long as the thread that asked for it.

bubblewrap's ``--die-with-parent`` fires when the *thread* that started it exits, and
Streamlit runs every script run in a new thread: these tests start kernels from threads
that then end, exactly like page runs, with the real sandbox and real kernels.
"""
from __future__ import annotations

import threading
import time

import psutil
import pytest

from agent_core.interpreter import sandbox as sb
from agent_core.interpreter.pool import KernelPool
from tests.conftest import require_tool
from tests.unit.interpreter_helpers import kernel_processes, settings_for

pytestmark = [pytest.mark.sandbox, pytest.mark.timeout(180)]


def _sandboxed_pool(home, **kw) -> KernelPool:
    require_tool("bwrap", "the kernel sandbox")
    ok, why = sb.probe_bwrap()
    assert ok, why
    return KernelPool(settings_for(home, AGENT_DESK_SANDBOX="bwrap"), **kw)


def _in_a_thread_that_ends(fn):
    """Run ``fn`` in a new thread (like one Streamlit script run) and let the thread end."""
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("result", fn()), name="script-run")
    t.start()
    t.join(timeout=120)
    assert not t.is_alive()
    return box["result"]


def _family(pid: int) -> list[int]:
    root = psutil.Process(pid)
    return [root.pid] + [p.pid for p in root.children(recursive=True)]


def _zombies(pids: list[int]) -> list[int]:
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def test_a_kernel_started_by_a_run_thread_outlives_that_thread(tmp_path):
    pool = _sandboxed_pool(tmp_path, warm_spare=False)  # a cold start, as for a session with no spare
    try:
        first = _in_a_thread_that_ends(lambda: pool.execute("page-session", "x = 41"))
        assert first.ok, first.error
        pid = pool.kernel_pid("page-session")
        time.sleep(2.0)  # the death signal of a dead starter thread arrives at once
        assert pid is not None and psutil.pid_exists(pid) and pid in kernel_processes(pool.marker)
        second = _in_a_thread_that_ends(lambda: pool.execute("page-session", "print(x + 1)"))
        assert second.ok and second.stdout == "42\n", (second.error, second.notice)
        assert not second.kernel_restarted and second.notice is None
        assert pool.kernel_pid("page-session") == pid
    finally:
        pool.shutdown()


def test_the_warm_spare_and_its_refill_outlive_the_threads_that_took_them(tmp_path):
    pool = _sandboxed_pool(tmp_path)
    pool.spare_delay = 0.0
    try:
        for sid in ("first-visit", "second-visit"):  # the spare, then the refill started after it
            assert _in_a_thread_that_ends(lambda sid=sid: pool.execute(sid, f"name = {sid!r}")).ok
        time.sleep(2.0)
        for sid in ("first-visit", "second-visit"):
            back = _in_a_thread_that_ends(lambda sid=sid: pool.execute(sid, "print(name)"))
            assert back.stdout == f"{sid}\n" and not back.kernel_restarted, (back.error, back.notice)
    finally:
        pool.shutdown()


def test_a_spare_is_prepared_again_after_one_is_taken(tmp_path):
    pool = _sandboxed_pool(tmp_path)
    pool.spare_delay = 0.2
    try:
        deadline = time.monotonic() + 90
        while not pool.spare_ready() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pool.spare_ready()
        spare_pids = set(kernel_processes(pool.marker))
        assert pool.execute("took-it", "print(1)").ok
        assert pool.kernel_pid("took-it") in spare_pids  # the session got the warm spare
        deadline = time.monotonic() + 90
        while not pool.spare_ready() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pool.spare_ready()
        assert len(kernel_processes(pool.marker)) > len(spare_pids)  # a new one, not the same
    finally:
        pool.shutdown()


def test_stopped_sandboxes_leave_no_zombie_processes(tmp_path):
    pool = _sandboxed_pool(tmp_path, warm_spare=False)
    families = []
    try:
        for sid in ("z-1", "z-2"):
            assert _in_a_thread_that_ends(lambda sid=sid: pool.execute(sid, "print(1)")).ok
            families += _family(pool.kernel_pid(sid))
        assert len(families) >= 6  # bwrap, the namespace's init, the kernel (x2)
        pool.reset("z-1")  # one stopped by a reset, one by the shutdown
    finally:
        pool.shutdown()
    time.sleep(0.5)
    assert _zombies(families) == []
    assert not [p for p in families if psutil.pid_exists(p)
                and psutil.Process(p).name() in ("bwrap", "python", "python3")]


def test_shutdown_does_not_wait_for_a_kernel_that_is_still_starting(tmp_path):
    pool = _sandboxed_pool(tmp_path)  # its spare starts now
    deadline = time.monotonic() + 30
    while not kernel_processes(pool.marker) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert kernel_processes(pool.marker) and not pool.spare_ready()
    t0 = time.perf_counter()
    pool.shutdown()
    assert time.perf_counter() - t0 < 0.5  # a kernel start takes seconds; a kill does not
    deadline = time.monotonic() + 15
    while kernel_processes(pool.marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert kernel_processes(pool.marker) == []
