"""Who writes a run, and the heartbeat lease that lets any store mark a run whose writer
is gone ``interrupted`` (on the database's clock, whichever host wrote it)."""
from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import psutil

from agent_core.store.database import _Database, _db_errors
from agent_core.store.records import StoreError

LEASE_ENV = "AGENT_DESK_LEASE_SECONDS"
DEFAULT_LEASE_SECONDS = 30.0
log = logging.getLogger(__name__)


def _process_start(pid: int) -> str | None:
    """When the process started (seconds since the epoch, as psutil reads it), or None."""
    try:
        return f"{psutil.Process(pid).create_time():.2f}"
    except psutil.Error:
        return None


def _pid_alive(pid: int) -> bool:
    """A live process (a zombie, killed but not yet reaped, is not a writer any more)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.AccessDenied:
        return True
    except psutil.Error:
        return False


def process_token(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{pid}:{_process_start(pid) or 'unknown'}"


def writer_alive(pid: int | None, token: str | None) -> bool:
    """Whether a process on THIS host is still the one that wrote a run (diagnostics only:
    recovery goes by the heartbeat lease, which works across hosts)."""
    if not pid or not _pid_alive(pid):
        return False
    if token and not token.endswith(":unknown"):
        return token == process_token(pid)
    return True


def lease_from_env() -> float:
    raw = os.environ.get(LEASE_ENV, "").strip()
    try:
        value = float(raw) if raw else DEFAULT_LEASE_SECONDS
    except ValueError:
        raise StoreError(f"{LEASE_ENV} must be a number of seconds, not {raw!r}.") from None
    if value <= 0:
        raise StoreError(f"{LEASE_ENV} must be more than 0 seconds.")
    return value


class _Lease(_Database):
    """The lease of the runs this store writes, and recovery of the runs of others."""

    lease_seconds: float
    writer_id: str
    _recover: bool
    _last_recovery: float
    _live: set[str]
    _live_lock: threading.Lock
    _beat_stop: threading.Event
    _beat_thread: threading.Thread | None

    # --- the lease ------------------------------------------------------------------
    def _hold_lease(self, run_id: str) -> None:
        """Keep the run's heartbeat fresh from a small thread while this store writes it
        (a run waiting on a long code cell sends no events)."""
        with self._live_lock:
            self._live.add(run_id)
            if self._beat_thread is None and not self._beat_stop.is_set():
                self._beat_thread = threading.Thread(target=self._beat, name="run-store-heartbeat",
                                                     daemon=True)
                self._beat_thread.start()

    def _release_lease(self, run_id: str) -> None:
        with self._live_lock:
            self._live.discard(run_id)

    def _beat(self) -> None:
        interval = max(0.2, self.lease_seconds / 4)
        while not self._beat_stop.wait(interval):
            with self._live_lock:
                live = sorted(self._live)
                if not live:
                    self._beat_thread = None
                    return
            try:
                with self._write() as conn:
                    marks = ", ".join("?" for _ in live)
                    conn.execute(f"UPDATE runs SET heartbeat_at = {self._now_sql()} "
                                 f"WHERE outcome = 'running' AND id IN ({marks})", live)
            except _db_errors():  # the next beat tries again
                log.warning("could not refresh the heartbeat of %d running run(s)", len(live))

    # --- recovery -------------------------------------------------------------------
    def recover_interrupted(self, *, all_running: bool = False) -> list[str]:
        """Mark ``interrupted`` every running run whose lease ran out: its heartbeat is
        older than :attr:`lease_seconds` on the database's clock, whichever host wrote it
        (``all_running``: every running run not written by this store)."""
        self._last_recovery = time.monotonic()
        stale = ("" if all_running else
                 f" AND COALESCE(heartbeat_at, started) < {self._now_sql()} - ?")
        args: list[Any] = [self.writer_id] + ([] if all_running else [self.lease_seconds])
        query = ("SELECT id FROM runs WHERE outcome = 'running' "
                 "AND (writer_id IS NULL OR writer_id <> ?)" + stale)
        if not self._read(query, args):  # a read first: no write lock when nothing is stale
            return []
        with self._write() as conn:
            dead = [r[0] for r in conn.execute(query + ("" if self.is_sqlite else " FOR UPDATE"),
                                               args)]
            for run_id in dead:
                conn.execute(
                    "UPDATE runs SET outcome = 'interrupted', ended = COALESCE("
                    "(SELECT MAX(at) FROM events WHERE run_id = runs.id), started) "
                    "WHERE id = ? AND outcome = 'running'", (run_id,))
        return dead

    def _recover_now_and_then(self) -> None:
        """Readers see another replica's dead run as interrupted within the lease: recovery
        runs again when a quarter of the lease has passed since the last time."""
        if self._recover and time.monotonic() - self._last_recovery > self.lease_seconds / 4:
            try:
                self.recover_interrupted()
            except _db_errors():
                log.warning("could not mark runs whose writer is gone as interrupted")
