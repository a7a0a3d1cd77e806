"""The one long-lived thread that starts (and stops) a pool's kernel processes.

Why a thread of its own: bubblewrap's ``--die-with-parent`` is ``PR_SET_PDEATHSIG``, which
fires when the *thread* that started the child exits, not the process. Streamlit runs
every script run in a new thread, so a kernel started by a page run died when that run
ended. Every kernel the pool starts is started here, on a thread that lives as long as
the pool, so a kernel lives as long as its session.

Jobs run one at a time, in the order they are due; ``submit(fn, delay=s)`` runs ``fn``
no sooner than ``s`` seconds from now without holding up the jobs due before it (a spare
refill waits a moment; a session's cold start does not wait behind it).
"""
from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any


class OwnerClosed(RuntimeError):
    """The owner thread was closed; no more kernels are started."""


class KernelOwnerThread:
    def __init__(self, name: str = "kernel-owner") -> None:
        self._cond = threading.Condition()
        self._jobs: list[tuple[float, int, Future, Callable[[], Any]]] = []
        self._seq = itertools.count()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    @property
    def ident(self) -> int | None:
        return self._thread.ident

    def on_owner_thread(self) -> bool:
        return threading.get_ident() == self._thread.ident

    def submit(self, fn: Callable[..., Any], *args: Any, delay: float = 0.0) -> Future:
        """Run ``fn(*args)`` on the owner thread (at the earliest ``delay`` s from now)."""
        fut: Future = Future()
        with self._cond:
            if self._closed:
                raise OwnerClosed("The kernel owner thread was closed.")
            heapq.heappush(self._jobs, (time.monotonic() + delay, next(self._seq), fut,
                                        lambda: fn(*args)))
            self._cond.notify()
        return fut

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` on the owner thread and wait for its result (runs it here when
        already on the owner thread, or when the owner was closed)."""
        if self.on_owner_thread():
            return fn(*args)
        try:
            fut = self.submit(fn, *args)
        except OwnerClosed:
            return fn(*args)
        return fut.result()

    def close(self) -> None:
        """Stop taking jobs; jobs not started yet are cancelled. Does not wait for the job
        running now (the pool kills the kernel it may be starting)."""
        with self._cond:
            self._closed = True
            pending, self._jobs = self._jobs, []
            self._cond.notify()
        for _, _, fut, _ in pending:
            fut.cancel()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return
                    if self._jobs:
                        wait = self._jobs[0][0] - time.monotonic()
                        if wait <= 0:
                            _, _, fut, job = heapq.heappop(self._jobs)
                            break
                        self._cond.wait(wait)
                    else:
                        self._cond.wait()
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                result = job()
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits
                fut.set_exception(exc)
            else:
                fut.set_result(result)
