"""RunStore, the API: opening a store and writing runs; reading, sessions, retention,
files and the lease come from its bases (one module each)."""
from __future__ import annotations

import json
import os
import re
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent_core.events import AgentEvent, FileReturned, Usage, event_to_dict
from agent_core.files import AttachedFile
from agent_core.store.blobs import FILES_URL_ENV, Blobs, blobs_for
from agent_core.store.database import (
    BLOB_DIR,
    DB_NAME,
    LATEST,
    STORE_URL_ENV,
    _db_errors,
    _short,
    default_home,
)
from agent_core.store.lease import lease_from_env, process_token
from agent_core.store.reading import _Reading
from agent_core.store.recorder import RunRecorder
from agent_core.store.records import FINAL_OUTCOMES, RunNotFoundError, StoreError
from agent_core.store.retention import _Retention
from agent_core.store.sessions import _Sessions

_SECRETISH = re.compile(
    r"secret|password|passwd|credential|access_key|session_key|api_key|(^|_)token$", re.I)


def public_settings(settings: Any) -> dict[str, Any]:
    """``Settings.public()`` (or a mapping) without anything that looks secret."""
    if settings is None:
        return {}
    data = settings.public() if hasattr(settings, "public") else dict(settings)
    out = {}
    for key, value in data.items():
        if _SECRETISH.search(str(key)):
            continue
        out[str(key)] = value if isinstance(value, (str, int, float, bool)) or value is None else str(value)
    return out


def new_run_id() -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"run-{stamp}-{secrets.token_hex(4)}"


class RunStore(_Sessions, _Reading, _Retention):
    """Sessions, runs, events and files of Agent Desk (SQLite under ``home``, or ``url``)."""

    def __init__(self, home: Path | str | None = None, *, busy_timeout_ms: int = 30_000,
                 recover: bool = True, url: str | None = None, files_url: str | None = None,
                 lease_seconds: float | None = None) -> None:
        self.home = Path(home).expanduser() if home is not None else default_home()
        url = url if url is not None else os.environ.get(STORE_URL_ENV, "").strip()
        files_url = files_url if files_url is not None else os.environ.get(FILES_URL_ENV, "").strip()
        self.lease_seconds = float(lease_seconds) if lease_seconds else lease_from_env()
        self.is_sqlite = not url
        self._url = url
        self.path: Path | None = self.home / DB_NAME if self.is_sqlite else None
        if self.is_sqlite:
            self.home.mkdir(parents=True, exist_ok=True)
        self.blobs: Blobs = blobs_for(files_url or None, database_is_sqlite=self.is_sqlite,
                                      home=self.home)
        self.blob_root = self.home / BLOB_DIR
        self._token = process_token()
        #: This open store, as the writer of its runs (host, process, and a random part).
        self.writer_id = f"{socket.gethostname()}:{self._token}:{secrets.token_hex(4)}"
        self._recover = recover
        self._last_recovery = 0.0
        self._live: set[str] = set()  # runs this store is writing: their heartbeats are ours
        self._live_lock = threading.Lock()
        self._lock = threading.RLock()
        self._raw: Any = None  # SQLite: the store's own connection (see _sqlite_conn)
        self._beat_stop = threading.Event()
        self._beat_thread = None
        self._busy_ms = busy_timeout_ms
        self._closed = False
        self._engine = None
        try:
            if self.is_sqlite:
                self._legacy_upgrade(self.home / DB_NAME, busy_timeout_ms)
            else:
                self._engine = self._postgres_engine(url)
                self._fast = self._postgres_engine(url, autocommit=True)
            if self.schema_version != LATEST and not self._create_sqlite_from_snapshot():
                self._migrate()
            if recover:
                self.recover_interrupted()
        except _db_errors() as exc:
            raise StoreError(f"The run store at {self.location} cannot be opened "
                             f"({_short(exc)}). {self._fix_hint}") from None

    # --- plumbing -------------------------------------------------------------------
    def close(self) -> None:
        """Close the store: its connections go, and any later use raises StoreError."""
        self._closed = True
        self._beat_stop.set()
        thread = self._beat_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)
        with self._lock:
            if self._raw is not None:
                self._raw.close()
                self._raw = None
        if self._engine is not None:
            self._engine.dispose()
        if not self.is_sqlite:
            self._fast.dispose()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing a run ----------------------------------------------------------------
    def start_run(self, session_id: str, prompt: str, backend: str, settings: Any = None,
                  attachments: Iterable[AttachedFile] = (), *, parent_run_id: str | None = None,
                  run_id: str | None = None, owner: str | None = None) -> str:
        """Record a new run (``running``, leased to this store) and its attached files;
        returns its id.

        ``owner``: the user running it. A new session becomes theirs; a session of another
        user raises :class:`NotYourSessionError` (nothing is written)."""
        run_id = run_id or new_run_id()
        now = time.time()
        settings_json = json.dumps(public_settings(settings), sort_keys=True, default=str)
        with self._write() as conn:
            self._check_owner(conn, session_id, owner)
            conn.execute(
                "INSERT INTO sessions (id, backend, created, last_used, owner) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET last_used = excluded.last_used, "
                "owner = COALESCE(sessions.owner, excluded.owner)",
                (session_id, backend, now, now, owner))
            conn.execute(
                "INSERT INTO runs (id, session_id, parent_run_id, prompt, backend, settings_json, "
                "started, outcome, writer_pid, writer_token, owner, writer_id, heartbeat_at) "
                f"VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, {self._now_sql()})",
                (run_id, session_id, parent_run_id, prompt, backend, settings_json, now,
                 os.getpid(), self._token, owner, self.writer_id))
            for pos, f in enumerate(attachments):
                sha = self._put_blob(conn, bytes(f.data))
                conn.execute(
                    "INSERT INTO attachments (run_id, position, name, media_type, use_case, size, "
                    "blob_sha) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (run_id, pos, f.name, f.media_type, f.use_case, len(f.data), sha))
        self._hold_lease(run_id)
        return run_id

    def append_event(self, run_id: str, event: AgentEvent) -> int:
        """Write one event now (committed before returning); returns its sequence number.

        The run's row is updated first (its heartbeat, time to first event, tokens): that
        locks it, so the writers of one run number their events in order. On PostgreSQL an
        event without a file is one statement in autocommit (one round trip)."""
        data = event_to_dict(event)
        payload = bytes(event.file.data) if isinstance(event, FileReturned) else None
        now = time.time()
        sets = ["first_event_seconds = COALESCE(first_event_seconds, "
                "CASE WHEN ? > started THEN ? - started ELSE 0 END)"]
        set_args: list[Any] = [now, now]
        if isinstance(event, Usage):
            for col, n in (("input_tokens", event.input_tokens), ("output_tokens", event.output_tokens)):
                if n is not None:
                    sets.append(f"{col} = COALESCE({col}, 0) + ?")
                    set_args.append(n)
        costs = f"UPDATE runs SET {', '.join(sets)} WHERE id = ?"  # time to first event, tokens
        update = f"UPDATE runs SET heartbeat_at = {self._now_sql()}, {', '.join(sets)} WHERE id = ?"
        row = (now, data["event"], json.dumps(data, default=str))
        next_seq = "(SELECT COALESCE(MAX(seq), -1) + 1 FROM events WHERE run_id = ?)"
        if payload is None and not self.is_sqlite:
            seq = self._autocommit_one(
                f"WITH beat AS ({update} RETURNING id) INSERT INTO events (run_id, seq, at, kind, "
                f"event_json, blob_sha) SELECT beat.id, {next_seq}, ?, ?, ?, NULL FROM beat RETURNING seq",
                (*set_args, run_id, run_id, *row))
        elif self.is_sqlite:  # the write lock orders the writers; the heartbeat is the thread's
            with self._write() as conn:
                sha = self._put_blob(conn, payload) if payload is not None else None
                try:
                    seq = conn.execute(
                        "INSERT INTO events (run_id, seq, at, kind, event_json, blob_sha) "
                        f"SELECT ?, {next_seq}, ?, ?, ?, ? RETURNING seq",
                        (run_id, run_id, *row, sha)).fetchone()[0]
                except sqlite3.IntegrityError:  # no such run (foreign key)
                    raise RunNotFoundError(f"No run {run_id!r} in the store (was it deleted?).") from None
                if seq == 0 or len(sets) > 1:
                    conn.execute(costs, (*set_args, run_id))
        else:
            with self._write() as conn:
                if conn.execute(update, (*set_args, run_id)).rowcount == 0:
                    seq = None
                else:
                    sha = self._put_blob(conn, payload) if payload is not None else None
                    seq = conn.execute(
                        "INSERT INTO events (run_id, seq, at, kind, event_json, blob_sha) "
                        f"SELECT ?, {next_seq}, ?, ?, ?, ? RETURNING seq",
                        (run_id, run_id, *row, sha)).fetchone()[0]
        if seq is None:
            raise RunNotFoundError(f"No run {run_id!r} in the store (was it deleted?).")
        return int(seq)

    def finish_run(self, run_id: str, outcome: str) -> None:
        if outcome not in FINAL_OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(FINAL_OUTCOMES)}, not {outcome!r}")
        try:
            with self._write() as conn:
                cur = conn.execute("UPDATE runs SET outcome = ?, ended = ? WHERE id = ?",
                                   (outcome, time.time(), run_id))
                if cur.rowcount == 0:
                    raise RunNotFoundError(f"No run {run_id!r} in the store.")
        finally:
            self._release_lease(run_id)

    @contextmanager
    def recording(self, session_id: str, prompt: str, backend: str, settings: Any = None,
                  attachments: Iterable[AttachedFile] = (), *,
                  parent_run_id: str | None = None,
                  owner: str | None = None) -> Iterator[RunRecorder]:
        """``with store.recording(...) as rec: for ev in stream: rec.add(ev)``.

        The run is ``running`` from the start; each event is written as it is added; at
        the end the run gets its outcome from ``agent_core.run.outcome_of``: ``stopped``
        when the block was left by ``GeneratorExit`` (the reader stopped reading),
        ``interrupted`` by any other exception (e.g. Streamlit stopping the script)."""
        run_id = self.start_run(session_id, prompt, backend, settings, attachments,
                                parent_run_id=parent_run_id, owner=owner)
        rec = RunRecorder(self, run_id)
        ended = "interrupted"
        try:
            yield rec
            ended = "normally"
        except GeneratorExit:
            ended = "stopped"
            raise
        finally:
            rec.finish(rec.stopped_as or ended)

