"""Per-user run slots (AGENT_DESK_MAX_RUNS_PER_USER), counted in the run store.

A run is recorded as ``running`` before its backend is called. Among one user's running
runs, ordered by start (ties by id), the first ``limit`` go; a later one waits until enough
earlier ones end. Every process reading the same store (several app replicas, the CLI) sees
the same order, so the limit holds across them and the queue is first come, first served,
without a lock of our own. Runs whose writer process died are marked interrupted while
waiting (:meth:`RunStore.recover_interrupted`), so they never hold a slot for good.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent_core.store import RunStore

POLL_SECONDS = 0.25
RECOVER_SECONDS = 5.0


class RunSlots:
    def __init__(self, store: RunStore, owner: str, limit: int) -> None:
        self.store, self.owner, self.limit = store, owner, max(1, int(limit))
        self.poll_seconds = POLL_SECONDS
        self._recovered = time.monotonic()

    def ahead(self, run_id: str) -> int:
        """How many of the user's running runs started before ``run_id``."""
        if time.monotonic() - self._recovered >= RECOVER_SECONDS:
            self._recovered = time.monotonic()
            self.store.recover_interrupted()
        running = self.store.list_runs(owner=self.owner, outcome="running", limit=100_000)
        order = sorted((r.started, r.id) for r in running)
        mine = next((i for i, (_, rid) in enumerate(order) if rid == run_id), None)
        return 0 if mine is None else mine

    def describe(self, ahead: int) -> str:
        runs = "run" if ahead == 1 else "runs"
        return (f"Waiting: you have {ahead} {runs} going (at most {self.limit} at once, "
                "AGENT_DESK_MAX_RUNS_PER_USER); this one starts when one of them ends")
