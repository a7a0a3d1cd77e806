"""AGENT_DESK_MAX_KERNELS's slots are handed out first come, first served: a user who waits
is not overtaken by requests that arrive later, nor by the pool's warm spare."""
from __future__ import annotations

import threading
import time

import pytest

from agent_core.interpreter.budget import KernelSlots, NoFreeKernel


def _wait_until(cond, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_waiting_requests_get_slots_in_the_order_they_came():
    slots = KernelSlots(1)
    assert slots.try_take()  # a kernel holds the only slot
    served: list[int] = []

    def request(i: int) -> None:
        slots.take(10, make_room=lambda: False)  # nothing idle to evict
        served.append(i)
        time.sleep(0.02)  # a moment of work, so the next in line must wait for give()
        slots.give()

    threads = []
    for i in range(6):  # they arrive one after another, each waiting before the next comes
        t = threading.Thread(target=request, args=(i,))
        t.start()
        threads.append(t)
        _wait_until(lambda i=i: slots.waiting == i + 1)
    slots.give()  # the kernel ends, and at that moment the pool wants a spare, a user comes:
    assert not slots.try_take(), "the spare took the slot from the requests waiting for it"
    late = threading.Thread(target=request, args=(6,))
    late.start()
    for t in [*threads, late]:
        t.join(10)
    assert served == [0, 1, 2, 3, 4, 5, 6]  # the late one did not jump the queue
    assert slots.in_use == 0 and slots.waiting == 0 and slots.peak == 1


def test_only_the_first_in_line_makes_room_and_a_timeout_leaves_the_queue():
    slots = KernelSlots(1)
    assert slots.try_take()
    callers: list[str] = []

    def first_room() -> bool:
        callers.append("first")
        return False

    first = threading.Thread(target=lambda: pytest.raises(NoFreeKernel, slots.take, 0.6, first_room))
    first.start()
    _wait_until(lambda: slots.waiting == 1)
    second_done = threading.Event()

    def second() -> None:
        slots.take(10, make_room=lambda: callers.append("second") or False)
        second_done.set()

    threading.Thread(target=second, daemon=True).start()
    _wait_until(lambda: slots.waiting == 2)
    assert "second" not in callers  # while the first waits, the second does not evict anything
    first.join(5)  # the first gave up after 0.6 s: it left the queue, the second is first now
    assert "first" in callers and slots.waiting == 1
    _wait_until(lambda: "second" in callers)  # now it is the one that tries to make room
    slots.give()
    assert second_done.wait(5) and slots.in_use == 1
