"""``AGENT_DESK_MAX_KERNELS`` as a real bound: one slot per live kernel (the spare too).

A kernel takes a slot before it starts and gives it back when it is shut down. A request
when every slot is taken first makes room (the pool evicts an idle kernel), else waits its
turn (first come, first served), up to a timeout: it never starts a kernel over the bound.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class NoFreeKernel(RuntimeError):
    """Every interpreter stayed busy for the whole wait."""


class KernelSlots:
    """The slots, handed out first come, first served: a request that waits is served
    before any that came after it, and a spare (``try_take``) never jumps the queue."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, int(limit))
        self._used = 0
        self._cond = threading.Condition()
        self._queue: deque[object] = deque()  # tickets of the requests waiting, oldest first
        self.peak = 0     # most slots ever in use at once (tests, diagnostics)

    @property
    def in_use(self) -> int:
        return self._used

    @property
    def waiting(self) -> int:
        """Requests waiting now (for the UI)."""
        return len(self._queue)

    def try_take(self) -> bool:
        """A free slot at once, if one is free and no request waits for it."""
        with self._cond:
            return not self._queue and self._take_locked()

    def _take_locked(self) -> bool:
        if self._used >= self.limit:
            return False
        self._used += 1
        self.peak = max(self.peak, self._used)
        return True

    def take(self, timeout: float, make_room: Callable[[], bool]) -> None:
        """A slot, or :class:`NoFreeKernel` after ``timeout`` seconds. When none is free, the
        oldest waiting request calls ``make_room()`` (without the lock; True if it freed one)
        and takes the slot; the others wait their turn."""
        deadline = time.monotonic() + timeout
        ticket = object()
        with self._cond:
            if not self._queue and self._take_locked():
                return
            self._queue.append(ticket)
        try:
            while True:
                with self._cond:
                    first = self._queue[0] is ticket
                    if first and self._take_locked():
                        return
                if first and make_room():
                    continue
                with self._cond:
                    first = self._queue[0] is ticket
                    if first and self._used < self.limit:
                        continue
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise NoFreeKernel(
                            f"All {self.limit} interpreters stayed busy for {timeout:g} s "
                            "(AGENT_DESK_MAX_KERNELS); try again in a moment.")
                    self._cond.wait(min(0.5, left))
        finally:
            with self._cond:
                self._queue.remove(ticket)
                self._cond.notify_all()  # the next in line may now be first

    def give(self) -> None:
        with self._cond:
            self._used = max(0, self._used - 1)
            self._cond.notify_all()  # only the first in line takes it; the rest wait on
