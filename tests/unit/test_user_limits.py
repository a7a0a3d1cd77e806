"""Limits per user (issue 16): at most N runs of one user at once (AGENT_DESK_MAX_RUNS_PER_USER,
counted in a real SQLite run store, real threads) and at most M live kernels of one user
(AGENT_DESK_MAX_KERNELS_PER_USER, real kernels in the real pool). A request over a limit
waits, saying so, and goes when a slot frees; other users and sessions of no user are not
held by it."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psutil
import pytest

from agent_core import run as agent_run
from agent_core.backends.base import AgentRequest
from agent_core.events import AgentEvent, TextChunk
from agent_core.interpreter.pool import KernelPool
from agent_core.store import RunStore
from tests.unit.interpreter_helpers import settings_for

pytestmark = pytest.mark.timeout(240)


class GatedAgent:
    """An agent whose answer to a request waits for that request's gate (so the test
    decides when each run ends); it notes when each request reached it."""

    name = "gated"

    def __init__(self) -> None:
        self.gates: dict[str, threading.Event] = {}
        self.reached: list[str] = []

    def gate(self, text: str) -> threading.Event:
        return self.gates.setdefault(text, threading.Event())

    def invoke(self, request: AgentRequest) -> Iterator[AgentEvent]:
        self.reached.append(request.text)
        yield TextChunk(text=f"working on {request.text}")
        self.gate(request.text).wait(60)
        yield TextChunk(text="done")

    def reset_session(self, session_id: str) -> None:
        pass


class Reader(threading.Thread):
    """Reads one run as a page does (heartbeats), keeping what its status line would say."""

    def __init__(self, run: agent_run.Run) -> None:
        super().__init__(daemon=True)
        self.run_ = run
        self.waiting_seen: list[str] = []

    def run(self) -> None:
        for event in self.run_.stream(heartbeat=0.05):
            if event is None and self.run_.waiting:
                self.waiting_seen.append(self.run_.waiting)


def _until(cond, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return False


def test_a_users_third_run_waits_visibly_and_starts_when_one_ends(tmp_path):
    store = RunStore(tmp_path)
    agent = GatedAgent()
    readers: dict[str, Reader] = {}

    def go(text: str, owner: str | None) -> Reader:
        run = agent_run.start(AgentRequest(text=text, session_id=f"s-{text}"), agent, store=store,
                              owner=owner, max_runs_per_user=2)
        readers[text] = reader = Reader(run)
        reader.start()
        assert _until(lambda: run.run_id is not None)
        return reader

    go("ann-1", "ann@example.com")
    assert _until(lambda: "ann-1" in agent.reached)
    go("ann-2", "ann@example.com")
    assert _until(lambda: "ann-2" in agent.reached)
    third = go("ann-3", "ann@example.com")
    # another user and a run of no user are not held by Ann's limit
    go("bob-1", "bob@example.com")
    go("nobody-1", None)
    assert _until(lambda: {"bob-1", "nobody-1"} <= set(agent.reached))
    assert _until(lambda: bool(third.waiting_seen))
    time.sleep(0.5)
    assert "ann-3" not in agent.reached  # two of Ann's runs are going: the third waits
    assert third.waiting_seen[-1].startswith("Waiting: you have 2 runs going (at most 2 at once")
    assert store.get_run(third.run_.run_id).outcome == "running"  # in History as running
    assert store.get_run(third.run_.run_id).owner == "ann@example.com"

    agent.gate("ann-1").set()  # one of Ann's runs ends: the waiting one starts
    assert _until(lambda: "ann-3" in agent.reached, timeout=10)
    assert third.run_.waiting is None
    for text in ("ann-2", "ann-3", "bob-1", "nobody-1"):
        agent.gate(text).set()
    for reader in readers.values():
        reader.join(30)
        assert reader.run_.outcome == "completed", reader.run_.outcome
    assert [r.outcome for r in store.list_runs(owner="ann@example.com")] == ["completed"] * 3


def _one_going_one_waiting(store: RunStore, agent: GatedAgent, second: str) -> tuple[Reader, Reader]:
    """Ann (limit 1) has a run "busy" going and a run ``second`` waiting."""
    readers = []
    for text in ("busy", second):
        run = agent_run.start(AgentRequest(text=text, session_id=f"s-{text}"), agent, store=store,
                              owner="ann", max_runs_per_user=1)
        readers.append(Reader(run))
        readers[-1].start()
        assert _until(lambda: "busy" in agent.reached)
    reader, waiter = readers
    assert _until(lambda: bool(waiter.waiting_seen))
    return reader, waiter


def test_a_waiting_run_can_be_stopped_and_never_reaches_the_agent(tmp_path):
    store = RunStore(tmp_path)
    agent = GatedAgent()
    reader, waiter = _one_going_one_waiting(store, agent, "queued")
    waiting = waiter.run_
    assert waiter.waiting_seen[-1].startswith("Waiting: you have 1 run going")
    waiting.stop()
    waiter.join(10)
    assert not waiter.is_alive() and waiting.outcome == "stopped"
    assert "queued" not in agent.reached
    assert store.get_run(waiting.run_id).outcome == "stopped"  # its slot is free again
    agent.gate("busy").set()
    reader.join(10)


def test_a_run_stuck_as_running_by_a_dead_writer_does_not_hold_a_slot(tmp_path):
    store = RunStore(tmp_path)
    dead = RunStore(tmp_path)  # another replica, which then dies: its heartbeat stops
    stale = dead.start_run("s-old", "from a replica that died", "local", owner="ann")
    dead._release_lease(stale)
    with dead._write() as conn:  # its lease ran out (agent_core/store/lease.py: the heartbeat lease)
        conn.execute("UPDATE runs SET heartbeat_at = heartbeat_at - ? WHERE id = ?",
                     (store.lease_seconds + 1, stale))
    agent = GatedAgent()
    agent.gate("fresh").set()
    from agent_core import run_slots

    run_slots_recover = run_slots.RECOVER_SECONDS
    run_slots.RECOVER_SECONDS = 0.2
    try:
        run = agent_run.start(AgentRequest(text="fresh", session_id="s-new"), agent, store=store,
                              owner="ann", max_runs_per_user=1)
        assert [type(e).__name__ for e in run] == ["TextChunk", "TextChunk"]
    finally:
        run_slots.RECOVER_SECONDS = run_slots_recover
    assert run.outcome == "completed" and store.get_run(stale).outcome == "interrupted"


def test_another_users_session_is_refused_before_any_code_runs(tmp_path):
    store = RunStore(tmp_path)
    store.start_run("s-ann", "mine", "local", owner="ann@example.com")
    agent = GatedAgent()
    run = agent_run.start(AgentRequest(text="let me in", session_id="s-ann"), agent, store=store,
                          owner="bob@example.com")
    events = list(run)
    assert run.outcome == "failed" and events[-1].kind == "access_denied"
    assert "another user" in events[-1].message and "example.com" not in events[-1].message
    assert agent.reached == [] and [r.prompt for r in store.list_runs()] == ["mine"]


# --- kernels -----------------------------------------------------------------------------
def _alive(pid: int | None) -> bool:
    try:
        return pid is not None and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_kernels_per_user_real_pool(tmp_path):
    """With one kernel per user: Ann's second session takes her idle kernel (not Bob's); while
    her kernel is busy her other session waits, says why, and gets a kernel once it is free.
    Sessions of no user are not counted."""
    pool = KernelPool(settings_for(tmp_path, AGENT_DESK_MAX_KERNELS_PER_USER="1",
                                   AGENT_DESK_MAX_KERNELS="4"), warm_spare=False)
    try:
        for sid, owner in (("ann-1", "ann"), ("ann-2", "ann"), ("bob-1", "bob")):
            pool.set_owner(sid, owner)
        assert pool.execute("ann-1", "a = 1").ok
        assert pool.execute("bob-1", "b = 1").ok
        ann1, bob1 = pool.kernel_pid("ann-1"), pool.kernel_pid("bob-1")
        second = pool.execute("ann-2", "print('ann two')")
        assert second.ok and "ann two" in second.stdout
        assert pool.kernel_pid("ann-1") is None and _until(lambda: not _alive(ann1), 15)
        assert pool.kernel_pid("bob-1") == bob1 and _alive(bob1)  # another user's kernel stays
        assert pool.live_kernels() == 2

        # Ann's only kernel is busy: her other session waits for it, and says so
        busy = threading.Thread(target=pool.execute, args=("ann-2", "import time; time.sleep(3)"))
        busy.start()
        time.sleep(0.5)
        reason = pool.wait_reason("ann-1")
        assert reason is not None and "your Python kernels" in reason
        assert "AGENT_DESK_MAX_KERNELS_PER_USER" in reason
        assert pool.wait_reason("bob-1") is None
        t0 = time.monotonic()
        back = pool.execute("ann-1", "print(a if 'a' in dir() else 'fresh')")
        waited = time.monotonic() - t0
        busy.join(30)
        assert back.ok and "fresh" in back.stdout and back.kernel_restarted  # state lost: said so
        assert waited >= 1.5, waited  # it waited for the sleep to end rather than start a second
        assert pool.kernel_pid("ann-2") is None and pool.live_kernels() == 2
        assert _alive(bob1)

        # sessions of no user: not counted per user
        assert pool.execute("free-1", "x = 1").ok and pool.execute("free-2", "y = 1").ok
        assert pool.kernel_pid("free-1") and pool.kernel_pid("free-2") and pool.live_kernels() == 4
    finally:
        pool.shutdown()


def test_a_store_that_breaks_while_a_run_waits_lets_it_go_instead_of_raising(tmp_path):
    store = RunStore(tmp_path)
    agent = GatedAgent()
    reader, waiter = _one_going_one_waiting(store, agent, "next")
    second = waiter.run_
    store.close()  # the store goes away (disk gone, database closed) while it waits
    agent.gate("next").set()
    assert _until(lambda: "next" in agent.reached, timeout=10)
    waiter.join(10)
    assert second.outcome == "completed" and second.waiting is None
    agent.gate("busy").set()
    reader.join(10)
