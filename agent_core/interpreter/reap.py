"""Stop a kernel's process tree so that every process in it is reaped (no zombies).

A sandboxed kernel is three processes: ``bwrap`` (our child) -> ``bwrap`` as the init of
the kernel's PID namespace -> the kernel (and anything it started). Killing the
namespace's init kills everything inside and reaps it; the outer ``bwrap`` then reaps the
init and exits on its own, and we reap the outer one. Killing the outer ``bwrap`` first
(which is what ``--die-with-parent`` does) orphans the init: it is reparented to PID 1,
and where PID 1 does not reap (many containers) it stays a zombie for good.

A plain kernel is our child itself: it is killed with its process group and whatever it
started.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

import psutil

_OWN_EXIT_SECONDS = 2.0   # how long the outer bwrap gets to exit after its init was killed
_GONE_SECONDS = 5.0


def stop_process_tree(proc: subprocess.Popen, *, sandboxed: bool) -> None:
    """Kill ``proc`` and its descendants, reaping what is ours to reap. Idempotent."""
    if proc.poll() is not None:
        return
    children = _processes(_children(proc.pid))
    family = _processes(_descendants(proc.pid))
    if sandboxed and children:
        _kill(children)  # the namespace's init: the kernel and all inside die with it
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=_OWN_EXIT_SECONDS)
    if proc.poll() is None:
        _kill(family)
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=_GONE_SECONDS)
    _wait_gone(family, _GONE_SECONDS)


def _children(pid: int) -> list[int]:
    """Direct children, from /proc/PID/task/*/children (one small file per thread; psutil
    would read the stat file of every process on the machine)."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out.extend(int(c) for c in fh.read().split())
        except OSError:
            continue
    return out


def _descendants(pid: int) -> list[int]:
    out, todo = [], _children(pid)
    while todo:
        child = todo.pop()
        out.append(child)
        todo.extend(_children(child))
    return out


def _processes(pids: list[int]) -> list[psutil.Process]:
    out = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            out.append(psutil.Process(pid))
    return out


def _kill(procs: list[psutil.Process]) -> None:
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.kill()


def _wait_gone(procs: list[psutil.Process], timeout: float) -> None:
    """Wait until the processes are gone or dead (a zombie is dead; its parent reaps it)."""
    end = time.monotonic() + timeout
    left = list(procs)
    while left and time.monotonic() < end:
        still = []
        for p in left:
            try:
                if p.status() != psutil.STATUS_ZOMBIE:
                    still.append(p)
            except psutil.Error:
                continue
        left = still
        if left:
            time.sleep(0.02)
