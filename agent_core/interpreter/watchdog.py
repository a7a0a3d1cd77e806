"""A memory watchdog over each kernel's whole process tree, wherever the app runs.

``RLIMIT_AS`` is per process and does not see ``memfd`` pages: three forked children held
2.6 GB against a 2 GB limit. Several times a second the watchdog sums, for each kernel,
the proportional set size of every process in its tree (shared pages split fairly, shared
memory that is mapped included) plus the size of every ``memfd`` or ``/dev/shm`` file the
tree holds open (counted once); over the kernel's budget it kills the tree and records
why, so the run ends with a clear message. With a cgroup (:mod:`cgroups`) the OS enforces
the same budget as well; the watchdog is the mechanism everywhere else.
"""
from __future__ import annotations

import os
import threading
import weakref
from typing import Any

INTERVAL_SECONDS = 0.2


def tree_memory(root_pid: int) -> int:
    """Bytes the process tree under ``root_pid`` holds (PSS + open memfd/shm files)."""
    import psutil

    try:
        root = psutil.Process(root_pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    files: dict[tuple[int, int], int] = {}
    for p in procs:
        try:
            total += p.memory_full_info().pss
        except psutil.Error:
            continue
        fd_dir = f"/proc/{p.pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"{fd_dir}/{fd}")
                if not (target.startswith("/memfd:") or target.startswith("/dev/shm/")):
                    continue
                st = os.stat(f"{fd_dir}/{fd}")
            except OSError:
                continue
            files[(st.st_dev, st.st_ino)] = st.st_blocks * 512
    return total + sum(files.values())


class Watchdog:
    """One thread for all kernels of the process; kernels register themselves."""

    def __init__(self, interval: float = INTERVAL_SECONDS) -> None:
        self.interval = interval
        self._kernels: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.peaks: dict[int, int] = {}  # root pid -> most bytes seen (diagnostics, tests)

    def watch(self, kernel: Any) -> None:
        with self._lock:
            self._kernels.add(kernel)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="memory-watchdog", daemon=True)
                self._thread.start()

    def forget(self, kernel: Any) -> None:
        with self._lock:
            self._kernels.discard(kernel)

    def _loop(self) -> None:
        stop = threading.Event()
        while not stop.wait(self.interval):
            with self._lock:
                kernels = list(self._kernels)
            for k in kernels:
                try:
                    self.check(k)
                except Exception:  # noqa: BLE001 - one kernel's trouble must not stop the watch
                    continue

    def check(self, kernel: Any) -> None:
        pid = kernel.pid
        budget = kernel.memory_budget_bytes
        if pid is None or not budget or kernel.stop_reason:
            return
        cgroup = getattr(kernel, "cgroup", None)
        if cgroup is not None and cgroup.oom_killed():
            # the OS held the budget by killing a process of the tree: stop the whole kernel,
            # so the session is told, rather than go on with some of its processes gone
            kernel.stop_reason = (
                f"The session's code went over its memory budget of {budget / 2**20:,.0f} MB (all its "
                "processes and shared memory together; AGENT_DESK_KERNEL_MEMORY_MB), so it was stopped: "
                "variables in memory were lost (files in the working folder are kept). Work on less "
                "data at once, or free memory (del, gc.collect()).")
            self._kill(kernel, pid)
            return
        used = tree_memory(pid)
        self.peaks[pid] = max(self.peaks.get(pid, 0), used)
        if used <= budget:
            return
        kernel.stop_reason = (
            f"The session's code used {used / 2**20:,.0f} MB of memory (all its processes and shared "
            f"memory together), over its budget of {budget / 2**20:,.0f} MB (AGENT_DESK_KERNEL_MEMORY_MB), "
            "so its Python kernel was stopped: variables in memory were lost (files in the working "
            "folder are kept). Work on less data at once, or free memory (del, gc.collect()).")
        self._kill(kernel, pid)

    @staticmethod
    def _kill(kernel: Any, pid: int) -> None:
        """Kill what runs inside the kernel's sandbox (deepest first); the outer bubblewrap
        then exits on its own and is reaped by the kernel's owner. A plain kernel is ``pid``."""
        from agent_core.interpreter import reap

        inside = list(reversed(reap._descendants(pid)))
        sandboxed = getattr(getattr(kernel, "plan", None), "sandboxed", False)
        reap._kill(reap._processes(inside if sandboxed else [*inside, pid]))

WATCHDOG = Watchdog()
