"""Run history that survives a refresh and a restart.

One SQLite file (``home/runs.sqlite3``, WAL mode) holds sessions, runs and every
event of a run in order; file bytes (returned and attached) live in a
content-addressed folder next to it (``home/blobs/ab/abcdef...``, sha256), so the
same file stored twice takes its space once.

Events are written through, one committed transaction per event, so a run whose
process dies keeps everything it had received. Such a run is left ``running``;
the next :class:`RunStore` opened (any process) marks it ``interrupted`` once
its writer process is gone. A run of a live writer is never touched: each run
records its writer's pid and a token made of the pid and the process's start
time, so a recycled pid is not mistaken for the writer.

Safe for several threads (one lock per store) and several processes (SQLite's
own locking, ``busy_timeout``) writing at once.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from agent_core.events import (
    AgentEvent,
    AgentFailure,
    FileReturned,
    Usage,
    event_from_dict,
    event_to_dict,
)
from agent_core.failures import AgentDeskError
from agent_core.files import AttachedFile
from agent_core.store_schema import LATEST, migrate

DB_NAME = "runs.sqlite3"
BLOB_DIR = "blobs"
#: How a run ended (agent_core.run.outcome_of decides which); ``running`` until then.
FINAL_OUTCOMES = ("completed", "completed with problems", "refused", "failed", "stopped",
                  "interrupted")
OUTCOMES = ("running", *FINAL_OUTCOMES)
log = logging.getLogger(__name__)
_SECRETISH = re.compile(
    r"secret|password|passwd|credential|access_key|session_key|api_key|(^|_)token$", re.I)


class StoreError(AgentDeskError, RuntimeError):
    """A store operation that cannot be done; the message says what to do."""

    kind = "store"


class NotYourSessionError(StoreError):
    """A user wrote into a session that belongs to another user (the owner is not named)."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"Session {session_id!r} belongs to another user: start a new session.")
        self.session_id = session_id


class RunNotFoundError(StoreError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "run not found"


@dataclass(frozen=True)
class RunInfo:
    """One run's row: what was asked, where, how it ended, its cost and time."""

    id: str
    session_id: str
    parent_run_id: str | None
    prompt: str
    backend: str
    settings: Mapping[str, Any]
    started: float
    ended: float | None
    outcome: str
    first_event_seconds: float | None
    input_tokens: int | None
    output_tokens: int | None
    event_count: int = 0
    file_count: int = 0
    over_cap: bool = False  # larger than the whole retention limit: kept, and flagged
    owner: str | None = None  # the user who ran it; None on a single-user install

    @property
    def duration_seconds(self) -> float | None:
        return None if self.ended is None else max(0.0, self.ended - self.started)

    @property
    def started_at(self) -> datetime:
        return datetime.fromtimestamp(self.started, tz=UTC)


@dataclass(frozen=True)
class SessionInfo:
    id: str
    backend: str
    created: float
    last_used: float
    run_count: int
    owner: str | None = None


@dataclass(frozen=True)
class SessionState:
    """What a working session had on screen besides its runs: its settings (toggles), the
    files attached to the agent and the files uploaded but not attached."""

    id: str
    settings: Mapping[str, Any]
    attached: tuple[AttachedFile, ...]
    uploaded: tuple[AttachedFile, ...]


@dataclass(frozen=True)
class AttachmentInfo:
    run_id: str
    name: str
    media_type: str
    use_case: str
    size: int
    sha: str


@dataclass(frozen=True)
class SpaceUsed:
    database_bytes: int   # pages in use (free pages left by deletions not counted)
    blob_bytes: int
    runs: int
    blobs: int

    @property
    def total(self) -> int:
        return self.database_bytes + self.blob_bytes


@dataclass(frozen=True)
class RetentionEntry:
    """One run removed by retention: when, which, how big, and why."""

    at: float
    run_id: str
    session_id: str
    prompt: str
    size: int
    reason: str


@dataclass(frozen=True)
class RetentionReport:
    """What one :meth:`RunStore.enforce_retention` did."""

    deleted: tuple[RetentionEntry, ...] = ()
    over_cap: tuple[str, ...] = ()   # runs larger than the limit, kept and flagged
    still_over: bool = False         # the kept runs alone exceed the limit


# --- who is writing ---------------------------------------------------------------
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
    """Whether the process that wrote a run is still that same live process."""
    if not pid or not _pid_alive(pid):
        return False
    if token and not token.endswith(":unknown"):
        return token == process_token(pid)
    return True


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


def default_home() -> Path:
    return Path(os.environ.get("AGENT_DESK_HOME") or "~/.agent-desk").expanduser()


class RunStore:
    """Sessions, runs, events and files of Agent Desk under ``home``."""

    def __init__(self, home: Path | str | None = None, *, busy_timeout_ms: int = 30_000,
                 recover: bool = True) -> None:
        self.home = Path(home).expanduser() if home is not None else default_home()
        self.home.mkdir(parents=True, exist_ok=True)
        self.blob_root = self.home / BLOB_DIR
        self.blob_root.mkdir(exist_ok=True)
        self.path = self.home / DB_NAME
        self._lock = threading.RLock()
        self._token = process_token()
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                         timeout=busy_timeout_ms / 1000)
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")  # WAL: survives a killed process
            self._conn.execute("PRAGMA foreign_keys = ON")
            migrate(self._conn)
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"The run store at {self.path} cannot be opened ({exc}). If the file is damaged, "
                "move it away and restart: a new, empty history will be created.") from None
        if recover:
            self.recover_interrupted()

    # --- plumbing -------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, holding SQLite's write lock from its start."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:  # rolled back, then re-raised: a write is whole or not at all
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _read(self, sql: str, args: Iterable[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            cur = self._conn.execute(sql, tuple(args))
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    @property
    def schema_version(self) -> int:
        return self._read("PRAGMA user_version")[0]["user_version"]

    # --- blobs ----------------------------------------------------------------------
    def blob_path(self, sha: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{64}", sha or ""):
            raise StoreError(f"{sha!r} is not a file hash of this store.")
        return self.blob_root / sha[:2] / sha

    def _put_blob(self, conn: sqlite3.Connection, data: bytes) -> str:
        """Store bytes (inside a write transaction, so retention cannot race it)."""
        sha = hashlib.sha256(data).hexdigest()
        path = self.blob_path(sha)
        if not path.exists() or path.stat().st_size != len(data):
            path.parent.mkdir(exist_ok=True)
            tmp = path.with_name(f".{sha}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        conn.execute("INSERT OR IGNORE INTO blobs (sha, size, created) VALUES (?, ?, ?)",
                     (sha, len(data), time.time()))
        return sha

    def read_blob(self, sha: str) -> bytes:
        try:
            return self.blob_path(sha).read_bytes()
        except FileNotFoundError:
            raise StoreError(f"The stored file {sha[:12]}... is missing from {self.blob_root}; "
                             "it may have been deleted by hand.") from None

    # --- writing a run ----------------------------------------------------------------
    def start_run(self, session_id: str, prompt: str, backend: str, settings: Any = None,
                  attachments: Iterable[AttachedFile] = (), *, parent_run_id: str | None = None,
                  run_id: str | None = None, owner: str | None = None) -> str:
        """Record a new run (``running``) and its attached files; returns its id.

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
                "started, outcome, writer_pid, writer_token, owner) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?)",
                (run_id, session_id, parent_run_id, prompt, backend, settings_json, now,
                 os.getpid(), self._token, owner))
            for pos, f in enumerate(attachments):
                sha = self._put_blob(conn, bytes(f.data))
                conn.execute(
                    "INSERT INTO attachments (run_id, position, name, media_type, use_case, size, "
                    "blob_sha) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (run_id, pos, f.name, f.media_type, f.use_case, len(f.data), sha))
        return run_id

    @staticmethod
    def _check_owner(conn: sqlite3.Connection, session_id: str, owner: str | None) -> None:
        """Refuse a user's write into another user's session (inside the write transaction).
        A session nobody owns (single-user install, written before owners) is taken by the
        first user who writes into it; no ``owner`` (the CLI, a single-user app) checks nothing."""
        if owner is None:
            return
        row = conn.execute("SELECT owner FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if row is not None and row[0] is not None and row[0] != owner:
            raise NotYourSessionError(session_id)

    def append_event(self, run_id: str, event: AgentEvent) -> int:
        """Write one event now (committed before returning); returns its sequence number."""
        data = event_to_dict(event)
        payload = bytes(event.file.data) if isinstance(event, FileReturned) else None
        now = time.time()
        with self._write() as conn:
            sha = self._put_blob(conn, payload) if payload is not None else None
            row = conn.execute("SELECT COALESCE(MAX(seq), -1) + 1 FROM events WHERE run_id = ?",
                               (run_id,)).fetchone()
            seq = row[0]
            try:
                conn.execute(
                    "INSERT INTO events (run_id, seq, at, kind, event_json, blob_sha) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (run_id, seq, now, data["event"], json.dumps(data, default=str), sha))
            except sqlite3.IntegrityError:
                raise RunNotFoundError(f"No run {run_id!r} in the store (was it deleted?).") from None
            if seq == 0:
                conn.execute("UPDATE runs SET first_event_seconds = MAX(0, ? - started) "
                             "WHERE id = ? AND first_event_seconds IS NULL", (now, run_id))
            if isinstance(event, Usage) and (event.input_tokens is not None
                                             or event.output_tokens is not None):
                conn.execute(
                    "UPDATE runs SET input_tokens = CASE WHEN ? IS NULL THEN input_tokens "
                    "ELSE COALESCE(input_tokens, 0) + ? END, output_tokens = CASE WHEN ? IS NULL "
                    "THEN output_tokens ELSE COALESCE(output_tokens, 0) + ? END WHERE id = ?",
                    (event.input_tokens, event.input_tokens, event.output_tokens,
                     event.output_tokens, run_id))
        return seq

    def finish_run(self, run_id: str, outcome: str) -> None:
        if outcome not in FINAL_OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(FINAL_OUTCOMES)}, not {outcome!r}")
        with self._write() as conn:
            cur = conn.execute("UPDATE runs SET outcome = ?, ended = ? WHERE id = ?",
                               (outcome, time.time(), run_id))
            if cur.rowcount == 0:
                raise RunNotFoundError(f"No run {run_id!r} in the store.")

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

    # --- recovery -------------------------------------------------------------------
    def recover_interrupted(self, *, all_running: bool = False) -> list[str]:
        """Mark ``interrupted`` every running run whose writer process is gone
        (``all_running``: every running run not written by this process)."""
        rows = self._read("SELECT id, writer_pid, writer_token FROM runs WHERE outcome = 'running'")
        dead = [r["id"] for r in rows
                if r["writer_token"] != self._token
                and (all_running or not writer_alive(r["writer_pid"], r["writer_token"]))]
        if dead:
            with self._write() as conn:
                for run_id in dead:
                    conn.execute(
                        "UPDATE runs SET outcome = 'interrupted', ended = COALESCE("
                        "(SELECT MAX(at) FROM events WHERE run_id = runs.id), started) "
                        "WHERE id = ? AND outcome = 'running'", (run_id,))
        return dead

    # --- reading --------------------------------------------------------------------
    _RUN_SELECT = (
        "SELECT r.*, (SELECT COUNT(*) FROM events e WHERE e.run_id = r.id) AS event_count, "
        "(SELECT COUNT(*) FROM events e WHERE e.run_id = r.id AND e.blob_sha IS NOT NULL) "
        "AS file_count FROM runs r")

    @staticmethod
    def _run_info(row: Mapping[str, Any]) -> RunInfo:
        try:
            settings = json.loads(row["settings_json"] or "{}")
        except ValueError:
            settings = {}
        return RunInfo(
            id=row["id"], session_id=row["session_id"], parent_run_id=row["parent_run_id"],
            prompt=row["prompt"], backend=row["backend"], settings=settings,
            started=row["started"], ended=row["ended"], outcome=row["outcome"],
            first_event_seconds=row.get("first_event_seconds"),
            input_tokens=row.get("input_tokens"), output_tokens=row.get("output_tokens"),
            event_count=row.get("event_count", 0), file_count=row.get("file_count", 0),
            over_cap=bool(row.get("over_cap") or 0), owner=row.get("owner"))

    def list_runs(self, session: str | None = None, backend: str | None = None,
                  outcome: str | None = None, text: str | None = None, limit: int = 200,
                  offset: int = 0, parent: str | None = None,
                  owner: str | None = None) -> list[RunInfo]:
        """Runs newest first, filtered by session, backend, outcome, words in the prompt,
        ``parent`` (the re-runs of one run) and ``owner`` (only that user's runs)."""
        where, args = [], []
        equal = {"r.parent_run_id": parent, "r.session_id": session, "r.backend": backend,
                 "r.outcome": outcome}
        for column, value in equal.items():
            if value:
                where.append(f"{column} = ?")
                args.append(value)
        if owner is not None:  # an empty name matches nothing rather than everything
            where.append("r.owner = ?")
            args.append(owner)
        if text and text.strip():
            escaped = text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append("r.prompt LIKE ? ESCAPE '\\'")
            args.append(f"%{escaped}%")
        sql = self._RUN_SELECT + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY r.started DESC, r.rowid DESC LIMIT ? OFFSET ?"
        return [self._run_info(r) for r in self._read(sql, [*args, int(limit), int(offset)])]

    def get_run(self, run_id: str) -> RunInfo:
        rows = self._read(self._RUN_SELECT + " WHERE r.id = ?", (run_id,))
        if not rows:
            raise RunNotFoundError(f"No run {run_id!r} in the store at {self.home}.")
        return self._run_info(rows[0])

    def run_events(self, run_id: str) -> list[AgentEvent]:
        """The run's events in order, returned files rebuilt with their bytes."""
        self.get_run(run_id)
        rows = self._read("SELECT event_json, blob_sha FROM events WHERE run_id = ? ORDER BY seq",
                          (run_id,))
        events = []
        for row in rows:
            data = json.loads(row["event_json"])
            blob = self.read_blob(row["blob_sha"]) if row["blob_sha"] else None
            events.append(event_from_dict(data, file_bytes=blob))
        return events

    def run_attachments(self, run_id: str) -> list[AttachmentInfo]:
        rows = self._read("SELECT * FROM attachments WHERE run_id = ? ORDER BY position", (run_id,))
        return [AttachmentInfo(run_id=r["run_id"], name=r["name"], media_type=r["media_type"],
                               use_case=r["use_case"], size=r["size"], sha=r["blob_sha"])
                for r in rows]

    def attached_files(self, run_id: str) -> list[AttachedFile]:
        """The run's attachments with their bytes, ready to send again."""
        return [AttachedFile(name=a.name, media_type=a.media_type, data=self.read_blob(a.sha),
                             use_case=a.use_case)  # type: ignore[arg-type]
                for a in self.run_attachments(run_id)]

    def session_attachments(self, session_id: str) -> list[AttachedFile]:
        """Every file attached in a session (the latest of each name), oldest first."""
        rows = self._read(
            "SELECT a.* FROM attachments a JOIN runs r ON r.id = a.run_id WHERE r.session_id = ? "
            "ORDER BY r.started, a.position", (session_id,))
        latest: dict[str, Mapping[str, Any]] = {}
        for r in rows:
            latest.pop(r["name"], None)
            latest[r["name"]] = r
        return [AttachedFile(name=r["name"], media_type=r["media_type"],
                             data=self.read_blob(r["blob_sha"]), use_case=r["use_case"])
                for r in latest.values()]

    # --- the local agent's conversation state (schema v4, issue 12) -------------------
    def save_conversation(self, session_id: str, state_json: str) -> None:
        """Keep the session's conversation state (JSON of an AnalysisState), replacing the last."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO conversation_state (session_id, state_json, updated) VALUES (?, ?, ?) "
                "ON CONFLICT(session_id) DO UPDATE SET state_json = excluded.state_json, "
                "updated = excluded.updated", (session_id, state_json, time.time()))

    def conversation(self, session_id: str) -> str | None:
        """The session's conversation state as saved, or None."""
        rows = self._read("SELECT state_json FROM conversation_state WHERE session_id = ?", (session_id,))
        return rows[0]["state_json"] if rows else None

    def save_session_state(self, session_id: str, backend: str, *,
                           settings: Mapping[str, Any] | None = None,
                           attached: Iterable[AttachedFile] = (),
                           uploaded: Iterable[AttachedFile] = (),
                           owner: str | None = None) -> None:
        """Keep the session's settings and files (replacing what was kept before).
        ``owner`` as in :meth:`start_run`: another user's session raises NotYourSessionError."""
        now = time.time()
        state_json = json.dumps(dict(settings or {}), sort_keys=True, default=str)
        with self._write() as conn:
            self._check_owner(conn, session_id, owner)
            conn.execute(
                "INSERT INTO sessions (id, backend, created, last_used, state_json, owner) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                "last_used = excluded.last_used, state_json = excluded.state_json, "
                "owner = COALESCE(sessions.owner, excluded.owner)",
                (session_id, backend, now, now, state_json, owner))
            conn.execute("DELETE FROM session_files WHERE session_id = ?", (session_id,))
            for role, files in (("attached", attached), ("uploaded", uploaded)):
                for pos, f in enumerate(files):
                    sha = self._put_blob(conn, bytes(f.data))
                    conn.execute(
                        "INSERT INTO session_files (session_id, role, position, name, media_type, "
                        "use_case, size, blob_sha) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (session_id, role, pos, f.name, f.media_type, f.use_case, len(f.data), sha))
            self._collect_blobs(conn)

    def session_state(self, session_id: str) -> SessionState | None:
        """The kept state of a session, or None when the store has no such session."""
        rows = self._read("SELECT state_json FROM sessions WHERE id = ?", (session_id,))
        if not rows:
            return None
        try:
            settings = json.loads(rows[0]["state_json"] or "{}")
        except ValueError:
            settings = {}
        files: dict[str, list[AttachedFile]] = {"attached": [], "uploaded": []}
        for r in self._read("SELECT * FROM session_files WHERE session_id = ? ORDER BY role, position",
                            (session_id,)):
            try:
                data = self.read_blob(r["blob_sha"])
            except StoreError:
                log.warning("a kept file of session %s is missing from the store", session_id)
                continue
            files[r["role"]].append(AttachedFile(name=r["name"], media_type=r["media_type"], data=data,
                                                 use_case=r["use_case"]))
        return SessionState(id=session_id, settings=settings if isinstance(settings, dict) else {},
                            attached=tuple(files["attached"]), uploaded=tuple(files["uploaded"]))

    def session_owner(self, session_id: str) -> str | None:
        """The user a session belongs to; None when nobody owns it or there is no such session."""
        rows = self._read("SELECT owner FROM sessions WHERE id = ?", (session_id,))
        return rows[0]["owner"] if rows else None

    def list_sessions(self, owner: str | None = None) -> list[SessionInfo]:
        """Sessions, most recently used first; ``owner``: only that user's."""
        where, args = ("WHERE s.owner = ? ", (owner,)) if owner is not None else ("", ())
        rows = self._read(
            "SELECT s.*, (SELECT COUNT(*) FROM runs r WHERE r.session_id = s.id) AS run_count "
            f"FROM sessions s {where}ORDER BY s.last_used DESC", args)
        return [SessionInfo(id=r["id"], backend=r["backend"], created=r["created"],
                            last_used=r["last_used"], run_count=r["run_count"], owner=r["owner"])
                for r in rows]

    def backends(self) -> list[str]:
        return [r["backend"] for r in self._read("SELECT DISTINCT backend FROM runs ORDER BY 1")]

    # --- deleting and space -----------------------------------------------------------
    def delete_run(self, run_id: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM events WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM attachments WHERE run_id = ?", (run_id,))
            conn.execute("UPDATE runs SET parent_run_id = NULL WHERE parent_run_id = ?", (run_id,))
            cur = conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
            if cur.rowcount == 0:
                raise RunNotFoundError(f"No run {run_id!r} in the store.")
            self._collect_blobs(conn)

    def delete_session(self, session_id: str) -> int:
        """Delete a session and all its runs; returns how many runs went."""
        with self._write() as conn:
            ids = [r[0] for r in conn.execute("SELECT id FROM runs WHERE session_id = ?",
                                              (session_id,))]
            for run_id in ids:
                conn.execute("DELETE FROM events WHERE run_id = ?", (run_id,))
                conn.execute("DELETE FROM attachments WHERE run_id = ?", (run_id,))
                conn.execute("UPDATE runs SET parent_run_id = NULL WHERE parent_run_id = ?",
                             (run_id,))
            conn.execute("DELETE FROM runs WHERE session_id = ?", (session_id,))
            conn.execute("DELETE FROM session_files WHERE session_id = ?", (session_id,))
            conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
            conn.execute("DELETE FROM conversation_state WHERE session_id = ?", (session_id,))
            self._collect_blobs(conn)
        return len(ids)

    def _collect_blobs(self, conn: sqlite3.Connection) -> int:
        """Delete blobs no event or attachment refers to (inside the write transaction:
        a writer storing the same bytes waits for us, then writes the file again)."""
        shas = [r[0] for r in conn.execute(
            "SELECT sha FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.blob_sha = b.sha) "
            "AND NOT EXISTS (SELECT 1 FROM attachments a WHERE a.blob_sha = b.sha) "
            "AND NOT EXISTS (SELECT 1 FROM session_files f WHERE f.blob_sha = b.sha)")]
        for sha in shas:
            conn.execute("DELETE FROM blobs WHERE sha = ?", (sha,))
            with contextlib.suppress(FileNotFoundError):
                self.blob_path(sha).unlink()
        return len(shas)

    def space_used(self) -> SpaceUsed:
        with self._lock:
            page_size = self._conn.execute("PRAGMA page_size").fetchone()[0]
            pages = self._conn.execute("PRAGMA page_count").fetchone()[0]
            free = self._conn.execute("PRAGMA freelist_count").fetchone()[0]
            blob_bytes, blobs = self._conn.execute(
                "SELECT COALESCE(SUM(size), 0), COUNT(*) FROM blobs").fetchone()
            runs = self._conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        return SpaceUsed(database_bytes=(pages - free) * page_size, blob_bytes=blob_bytes,
                         runs=runs, blobs=blobs)

    def run_size(self, run_id: str) -> int:
        """Bytes a run holds: its events' text and the files it refers to."""
        with self._lock:
            text = self._conn.execute("SELECT COALESCE(SUM(LENGTH(event_json)), 0) FROM events "
                                      "WHERE run_id = ?", (run_id,)).fetchone()[0]
            files = self._conn.execute(
                "SELECT COALESCE(SUM(size), 0) FROM blobs WHERE sha IN (SELECT blob_sha FROM events "
                "WHERE run_id = ? UNION SELECT blob_sha FROM attachments WHERE run_id = ?)",
                (run_id, run_id)).fetchone()[0]
        return int(text) + int(files)

    def enforce_retention(self, max_bytes: int, *, keep_per_session: int = 3,
                          current_run: str | None = None) -> RetentionReport:
        """Delete the oldest finished runs until the store holds at most ``max_bytes``.

        Never deleted: running runs (``current_run`` included), the ``keep_per_session``
        newest runs of each session, and a run larger than ``max_bytes`` by itself (kept and
        flagged ``over_cap``: deleting others could never make it fit). Each deletion is
        written to the retention log with its reason (:meth:`retention_log`)."""
        keep = max(1, int(keep_per_session))
        rows = self._read(
            "SELECT id, session_id, prompt, outcome, over_cap, ROW_NUMBER() OVER ("
            "PARTITION BY session_id ORDER BY started DESC, rowid DESC) AS newest "
            "FROM runs ORDER BY started, rowid")
        over_cap: list[str] = []
        candidates: list[Mapping[str, Any]] = []
        for row in rows:
            size = self.run_size(row["id"])
            if size > max_bytes:
                over_cap.append(row["id"])
                if not row["over_cap"]:
                    with self._write() as conn:
                        conn.execute("UPDATE runs SET over_cap = 1 WHERE id = ?", (row["id"],))
                continue
            if row["outcome"] == "running" or row["id"] == current_run or row["newest"] <= keep:
                continue
            candidates.append({**row, "size": size})
        limit = f"{max_bytes / 1024 / 1024:g} MB"
        reason = (f"removed to keep the run history within the retention limit of {limit} "
                  f"(AGENT_DESK_RETENTION_MB): oldest finished runs go first; the newest {keep} "
                  "runs of each session and runs in progress are always kept")
        deleted: list[RetentionEntry] = []
        for cand in candidates:
            if self.space_used().total <= max_bytes:
                break
            entry = RetentionEntry(time.time(), cand["id"], cand["session_id"], cand["prompt"],
                                   cand["size"], reason)
            self.delete_run(cand["id"])
            with self._write() as conn:
                conn.execute("INSERT INTO retention_log (at, run_id, session_id, prompt, size, reason) "
                             "VALUES (?, ?, ?, ?, ?, ?)", (entry.at, entry.run_id, entry.session_id,
                                                           entry.prompt, entry.size, entry.reason))
            deleted.append(entry)
        if deleted:
            with self._write() as conn:
                gone = "NOT EXISTS (SELECT 1 FROM runs r WHERE r.session_id = sessions.id)"
                conn.execute("DELETE FROM session_files WHERE session_id IN "
                             f"(SELECT id FROM sessions WHERE {gone})")
                conn.execute(f"DELETE FROM sessions WHERE {gone}")
                self._collect_blobs(conn)
        return RetentionReport(tuple(deleted), tuple(over_cap), self.space_used().total > max_bytes)

    def retention_log(self, limit: int = 100) -> list[RetentionEntry]:
        """Runs removed by retention, newest first."""
        rows = self._read("SELECT * FROM retention_log ORDER BY at DESC, rowid DESC LIMIT ?", (int(limit),))
        return [RetentionEntry(r["at"], r["run_id"], r["session_id"], r["prompt"], r["size"], r["reason"])
                for r in rows]


class RunRecorder:
    """Writes a stream into one run, keeping the events its outcome depends on.

    A store that fails mid-run (disk full, file removed) is logged, never raised: the
    run itself goes on."""

    def __init__(self, store: RunStore, run_id: str) -> None:
        self.store = store
        self.run_id = run_id
        self.signals: list[AgentEvent] = []  # the events agent_core.run.outcome_of looks at
        self.outcome: str | None = None
        self.stopped_as: str | None = None  # "stopped": the stream ended because of a Stop

    @property
    def failed(self) -> bool:
        return any(isinstance(e, AgentFailure) for e in self.signals)

    def add(self, event: AgentEvent) -> AgentEvent:
        from agent_core.run import OUTCOME_EVENTS

        if isinstance(event, OUTCOME_EVENTS):
            self.signals.append(event)
        try:
            self.store.append_event(self.run_id, event)
        except (StoreError, sqlite3.Error, OSError):
            log.warning("could not store an event of run %s", self.run_id)
        return event

    def record(self, events: Iterable[AgentEvent]) -> Iterator[AgentEvent]:
        """Pass events through, writing each one as it goes by."""
        for event in events:
            yield self.add(event)

    def finish(self, ended: str = "normally") -> str:
        """End the run with its one outcome (see ``agent_core.run.outcome_of``)."""
        from agent_core.run import outcome_of

        self.outcome = outcome_of(self.signals, ended=ended)
        try:
            self.store.finish_run(self.run_id, self.outcome)
        except (StoreError, sqlite3.Error, OSError):
            log.warning("could not finish run %s in the store", self.run_id)
        return self.outcome


__all__ = [
    "LATEST", "RunStore", "RunRecorder", "RunInfo", "RetentionEntry", "RetentionReport", "SessionInfo",
    "SessionState", "AttachmentInfo", "SpaceUsed", "NotYourSessionError",
    "StoreError", "RunNotFoundError", "public_settings", "process_token", "writer_alive",
    "default_home", "new_run_id",
]
