"""``AGENT_DESK_MAX_KERNELS`` as a real bound: one slot per live kernel (the spare too).

A kernel takes a slot before it starts and gives it back when it is shut down. A request
when every slot is taken first makes room (the pool evicts an idle kernel), else waits,
retrying, up to a timeout: it never starts a kernel over the bound.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable


class NoFreeKernel(RuntimeError):
    """Every interpreter stayed busy for the whole wait."""


class KernelSlots:
    def __init__(self, limit: int) -> None:
        self.limit = max(1, int(limit))
        self._used = 0
        self._cond = threading.Condition()
        self.waiting = 0  # requests waiting now (for the UI)
        self.peak = 0     # most slots ever in use at once (tests, diagnostics)

    @property
    def in_use(self) -> int:
        return self._used

    def try_take(self) -> bool:
        with self._cond:
            if self._used < self.limit:
                self._used += 1
                self.peak = max(self.peak, self._used)
                return True
            return False

    def take(self, timeout: float, make_room: Callable[[], bool]) -> None:
        """A slot, or :class:`NoFreeKernel` after ``timeout`` seconds. ``make_room()`` is
        called (without the lock) when none is free; it returns True if it freed one."""
        deadline = time.monotonic() + timeout
        counted = False
        try:
            while True:
                if self.try_take():
                    return
                if make_room():
                    continue
                with self._cond:
                    if self._used < self.limit:
                        continue
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise NoFreeKernel(
                            f"All {self.limit} interpreters stayed busy for {timeout:g} s "
                            "(AGENT_DESK_MAX_KERNELS); try again in a moment.")
                    if not counted:
                        self.waiting += 1
                        counted = True
                    self._cond.wait(min(0.5, left))
        finally:
            if counted:
                with self._cond:
                    self.waiting -= 1

    def give(self) -> None:
        with self._cond:
            self._used = max(0, self._used - 1)
            self._cond.notify()
