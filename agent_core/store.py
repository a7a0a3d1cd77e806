"""Run history that survives a refresh, a restart and the loss of a replica.

One database holds sessions, runs and every event of a run in order: by default a
SQLite file (``home/runs.sqlite3``, WAL mode, busy timeout), or PostgreSQL when
``AGENT_DESK_STORE_URL=postgresql://user@host:port/db`` is set (several app replicas on
one store). Both go through SQLAlchemy Core with one schema and one set of Alembic
migrations (``agent_core/migrations``), applied when a store is opened. File bytes are
content addressed (sha256, stored once): see :mod:`agent_core.store_blobs` for where.

Events are written through, one committed transaction per event, so a run whose
process dies keeps everything it had received. A running run holds a lease: its
writer (``writer_id``: this open store) refreshes ``heartbeat_at`` on every event and
from a small thread every few seconds; any store on any host marks a run whose
heartbeat is older than ``AGENT_DESK_LEASE_SECONDS`` (default 30) ``interrupted``, at
open and then at most every quarter lease when it lists or reads runs.

Safe for several threads (a connection pool) and several processes and hosts writing
at once (SQLite's ``BEGIN IMMEDIATE`` + busy timeout; PostgreSQL's row locks).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from agent_core.store_blobs import FILES_URL_ENV, BlobError, Blobs, FileBlobs, blobs_for, check_sha
from agent_core.store_schema import LATEST as LEGACY_LATEST
from agent_core.store_schema import SQLITE_HEAD, SQLITE_HEAD_VERSION, SchemaTooNewError, _statements, migrate

if TYPE_CHECKING:  # SQLAlchemy loads only for PostgreSQL and for migrations (see RunStore)
    import sqlalchemy as sa
    from sqlalchemy.engine import Connection, Engine

DB_NAME = "runs.sqlite3"
BLOB_DIR = "blobs"
STORE_URL_ENV = "AGENT_DESK_STORE_URL"
LEASE_ENV = "AGENT_DESK_LEASE_SECONDS"
DEFAULT_LEASE_SECONDS = 30.0
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
#: The schema version (the newest Alembic revision, as a number).
LATEST = 8
HEAD = f"{LATEST:04d}"
#: How a run ended (agent_core.run.outcome_of decides which); ``running`` until then.
FINAL_OUTCOMES = ("completed", "completed with problems", "refused", "failed", "stopped",
                  "interrupted")
OUTCOMES = ("running", *FINAL_OUTCOMES)
log = logging.getLogger(__name__)
_SECRETISH = re.compile(
    r"secret|password|passwd|credential|access_key|session_key|api_key|(^|_)token$", re.I)
_PG_BLOB_LOCK = 0x61676e74  # advisory lock: blob writers share it, blob collection takes it alone
_PG_MIGRATE_LOCK = 0x6d696772

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
    """Whether a process on THIS host is still the one that wrote a run (diagnostics only:
    recovery goes by the heartbeat lease, which works across hosts)."""
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


def lease_from_env() -> float:
    raw = os.environ.get(LEASE_ENV, "").strip()
    try:
        value = float(raw) if raw else DEFAULT_LEASE_SECONDS
    except ValueError:
        raise StoreError(f"{LEASE_ENV} must be a number of seconds, not {raw!r}.") from None
    if value <= 0:
        raise StoreError(f"{LEASE_ENV} must be more than 0 seconds.")
    return value


def _db_errors() -> tuple[type[BaseException], ...]:
    """sqlite3's errors, and SQLAlchemy's once it is loaded (PostgreSQL, migrations)."""
    sa_exc = sys.modules.get("sqlalchemy.exc")
    return (sqlite3.Error,) if sa_exc is None else (sqlite3.Error, sa_exc.SQLAlchemyError)


def _sqlite_pragmas(conn: Any, busy_timeout_ms: int) -> None:
    for pragma in (f"busy_timeout = {int(busy_timeout_ms)}", "journal_mode = WAL",
                   "synchronous = NORMAL",  # WAL: survives a killed process
                   "foreign_keys = ON"):
        conn.execute(f"PRAGMA {pragma}")


def engine_url(url: str) -> sa.URL:
    """``postgresql://user@host:port/db`` (or ``postgres://``) -> SQLAlchemy's psycopg 3 URL."""
    import sqlalchemy as sa  # noqa: PLC0415

    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise StoreError(f"{STORE_URL_ENV} must look like postgresql://user@host:5432/database "
                         "(leave it unset for SQLite under AGENT_DESK_HOME).") from None
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername.startswith("sqlite"):
        return parsed
    raise StoreError(f"{STORE_URL_ENV} must be a postgresql:// URL, not {parsed.drivername}://.")


@lru_cache(maxsize=1024)
def _sql(query: str) -> sa.TextClause:
    """The store's SQL is written with ``?`` placeholders (one text for both databases);
    SQLAlchemy binds them as ``:p0, :p1, ...``."""
    import sqlalchemy as sa  # noqa: PLC0415

    parts = query.split("?")
    named = parts[0] + "".join(f":p{i}{part}" for i, part in enumerate(parts[1:]))
    return sa.text(named)


def _params(args: Iterable[Any]) -> dict[str, Any]:
    return {f"p{i}": value for i, value in enumerate(args)}


class _Tx:
    """A connection inside one transaction, with sqlite3's ``execute(sql, args)`` shape: the
    SQLite driver's own connection (from SQLAlchemy's pool), or a SQLAlchemy connection."""

    def __init__(self, conn: Connection | sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, query: str, args: Iterable[Any] = ()) -> Any:
        if isinstance(self.conn, sqlite3.Connection):
            return self.conn.execute(query, tuple(args))
        return self.conn.execute(_sql(query), _params(args))


class RunStore:
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
        self._beat_thread: threading.Thread | None = None
        self._busy_ms = busy_timeout_ms
        self._closed = False
        self._engine: Engine | None = None
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

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (SQLite: made when first asked for, by migrations)."""
        if self._engine is None:
            self._engine = self._sqlite_engine(self.home / DB_NAME, self._busy_ms)
        return self._engine

    @property
    def location(self) -> str:
        """Where the store is, in words (a PostgreSQL URL without its password)."""
        if self.is_sqlite:
            return str(self.path)
        return engine_url(self._url).set(drivername="postgresql").render_as_string(
            hide_password=True)

    @property
    def files_on_disk(self) -> bool:
        """Whether file bytes are files under the home folder (:meth:`blob_path` works)."""
        return isinstance(self.blobs, FileBlobs)

    @property
    def _fix_hint(self) -> str:
        if self.is_sqlite:
            return ("If the file is damaged, move it away and restart: a new, empty history "
                    "will be created.")
        return f"Check that the server is running and {STORE_URL_ENV} names a database you may use."

    # --- opening and migrating --------------------------------------------------------
    @staticmethod
    def _legacy_upgrade(path: Path, busy_timeout_ms: int) -> None:
        """A file written before Alembic (``PRAGMA user_version`` 1..5, no alembic table):
        bring it to version 6 with its own SQL first (agent_core.store_schema)."""
        if not path.exists():
            return
        conn = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout_ms / 1000)
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            alembic = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'alembic_version'"
                                   ).fetchone()
            if version > LATEST:
                raise SchemaTooNewError(
                    f"The run store has schema version {version}, newer than this app knows "
                    f"({LATEST}). Update Agent Desk, or point AGENT_DESK_HOME at another folder.")
            if 0 < version < LEGACY_LATEST and alembic is None:
                conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
                migrate(conn)
        finally:
            conn.close()

    _use_snapshot = True  # tests turn it off to build a new SQLite file through Alembic

    def _create_sqlite_from_snapshot(self) -> bool:
        """A NEW SQLite file gets the migrations' head schema from its snapshot
        (``store_schema.SQLITE_HEAD``) without loading SQLAlchemy and Alembic; False when
        the file is not new (the migrations then bring it up)."""
        if not (self.is_sqlite and self._use_snapshot and SQLITE_HEAD_VERSION == LATEST):
            return False
        with self._sqlite_conn() as raw:
            raw.execute("BEGIN IMMEDIATE")
            try:
                if raw.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]:
                    raw.execute("ROLLBACK")
                    return self.schema_version == LATEST  # another process made it just now
                for statement in _statements(SQLITE_HEAD):
                    raw.execute(statement)
                raw.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (HEAD,))
                raw.execute(f"PRAGMA user_version = {LATEST:d}")
            except BaseException:
                raw.execute("ROLLBACK")
                raise
            raw.execute("COMMIT")
        return True

    @staticmethod
    def _sqlite_engine(path: Path, busy_timeout_ms: int) -> Engine:
        import sqlalchemy as sa  # noqa: PLC0415

        engine = sa.create_engine(f"sqlite:///{path}", pool_size=5, max_overflow=10,
                                  connect_args={"check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # BEGIN is ours (below), not the driver's
            _sqlite_pragmas(dbapi_conn, busy_timeout_ms)

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # a write takes SQLite's write lock at its start (waits on the busy timeout
            # instead of failing when a read would have to become a write)
            read = conn.get_execution_options().get("store_read", False)
            conn.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")

        return engine

    @staticmethod
    def _postgres_engine(url: str, *, autocommit: bool = False) -> Engine:
        import sqlalchemy as sa  # noqa: PLC0415

        """The store's engine (a ping on each checkout: survives a server restart), or the
        one that streams events (``autocommit``: no ping, no BEGIN/COMMIT round trips)."""
        options: dict[str, Any] = ({"isolation_level": "AUTOCOMMIT", "pool_size": 2}
                                   if autocommit else {"pool_pre_ping": True, "pool_size": 5})
        engine = sa.create_engine(engine_url(url), max_overflow=10, **options,
                                  connect_args={"connect_timeout": 10,
                                                "application_name": "agent-desk"})

        @sa.event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            # the durability of SQLite's WAL + synchronous=NORMAL: a commit survives the app
            # being killed; a crash of the server itself may lose the last moment of events
            # (never damage the store). Saves a WAL flush per streamed event.
            with dbapi_conn.cursor() as cur:
                cur.execute("SET synchronous_commit TO off")
            if not dbapi_conn.autocommit:
                dbapi_conn.commit()

        return engine

    def _migrate(self) -> None:
        """Bring the database to :data:`HEAD` under a lock (SQLite's write lock, a
        PostgreSQL advisory lock), so that replicas starting at once migrate it once."""
        import sqlalchemy as sa  # noqa: PLC0415
        from alembic import command  # noqa: PLC0415  (only when there is work to do)
        from alembic.config import Config  # noqa: PLC0415

        with self.engine.begin() as conn:
            if not self.is_sqlite:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATE_LOCK})
            version = self._version_of(conn)
            if version > LATEST:
                raise SchemaTooNewError(
                    f"The run store has schema version {version}, newer than this app knows "
                    f"({LATEST}). Update Agent Desk, or point {self._setting} at another store.")
            cfg = Config()
            cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
            cfg.attributes["connection"] = conn
            if version and not self._has_alembic(conn):  # a pre-Alembic SQLite file
                command.stamp(cfg, f"{version:04d}")
            command.upgrade(cfg, HEAD)
            if self.is_sqlite:  # an older app opening this file refuses it (newer than it knows)
                conn.exec_driver_sql(f"PRAGMA user_version = {LATEST:d}")
        if self.is_sqlite:  # SQLite's runtime is sqlite3 (see _sqlite_conn): the engine goes
            self.engine.dispose()
            self._engine = None

    @property
    def _setting(self) -> str:
        return "AGENT_DESK_HOME" if self.is_sqlite else STORE_URL_ENV

    def _has_alembic(self, conn: Connection) -> bool:
        import sqlalchemy as sa  # noqa: PLC0415

        return sa.inspect(conn).has_table("alembic_version")

    def _version_of(self, conn: Connection | None = None) -> int:
        """The schema version: Alembic's revision, or a pre-Alembic file's user_version."""
        import sqlalchemy as sa  # noqa: PLC0415

        if conn is None:
            with self.engine.connect().execution_options(store_read=True) as own:
                return self._version_of(own)
        if self._has_alembic(conn):
            rev = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
            if rev is not None:
                return int(rev)
        if self.is_sqlite:
            return int(conn.exec_driver_sql("PRAGMA user_version").scalar() or 0)
        return 0

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

    # SQLite at run time: the store's SQL (``?`` placeholders, sqlite3's own style) on one
    # sqlite3 connection held for the store's life under a lock (SQLite has one writer at a
    # time anyway), as before SQLAlchemy: its per-statement and per-checkout work tripled the
    # cost of an event's transaction, and loading it costs a command ~1 s to start and exit
    # on a busy machine. SQLAlchemy and Alembic load only to migrate an existing file.
    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"The run store at {self.location} was closed.")

    @contextmanager
    def _sqlite_conn(self) -> Iterator[sqlite3.Connection]:
        self._check_open()
        with self._lock:
            if self._raw is None:
                self._raw = sqlite3.connect(self.home / DB_NAME, isolation_level=None,
                                            check_same_thread=False, timeout=self._busy_ms / 1000)
                _sqlite_pragmas(self._raw, self._busy_ms)
            yield self._raw

    @contextmanager
    def _write(self) -> Iterator[_Tx]:
        """One write transaction (SQLite: holding the write lock from its start)."""
        self._check_open()
        if not self.is_sqlite:
            with self.engine.begin() as conn:
                yield _Tx(conn)
            return
        with self._sqlite_conn() as raw:
            raw.execute("BEGIN IMMEDIATE")
            try:
                yield _Tx(raw)
            except BaseException:  # rolled back, then re-raised: a write is whole or not at all
                raw.execute("ROLLBACK")
                raise
            raw.execute("COMMIT")

    def _read(self, query: str, args: Iterable[Any] = ()) -> list[dict[str, Any]]:
        self._check_open()
        if self.is_sqlite:
            with self._sqlite_conn() as raw:
                cur = raw.execute(query, tuple(args))
                cols = [c[0] for c in cur.description]
                return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
        with self.engine.connect().execution_options(store_read=True) as conn:
            result = conn.execute(_sql(query), _params(args))
            return [dict(row) for row in result.mappings()]

    def _now_sql(self) -> str:
        """The database's clock in seconds since the epoch (one clock for every replica)."""
        if self.is_sqlite:
            return "((julianday('now') - 2440587.5) * 86400.0)"
        return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)"

    @property
    def schema_version(self) -> int:
        """Alembic's revision as a number (a pre-Alembic SQLite file: its user_version)."""
        if not self.is_sqlite:
            return self._version_of()
        with self._sqlite_conn() as raw:
            if raw.execute("SELECT 1 FROM sqlite_master WHERE name = 'alembic_version'").fetchone():
                row = raw.execute("SELECT version_num FROM alembic_version").fetchone()
                if row is not None:
                    return int(row[0])
            return int(raw.execute("PRAGMA user_version").fetchone()[0])

    # --- blobs ----------------------------------------------------------------------
    def blob_path(self, sha: str) -> Path:
        """Where a file's bytes are on disk (only when files live under the home folder)."""
        try:
            check_sha(sha)
        except BlobError as exc:
            raise StoreError(str(exc)) from None
        if not isinstance(self.blobs, FileBlobs):  # mypy: files_on_disk, narrowed
            raise StoreError(f"Files of this store are kept {self.blobs.describe()}, not on disk.")
        return self.blobs.path(sha)

    def _put_blob(self, conn: _Tx, data: bytes) -> str:
        """Store bytes inside a write transaction (so retention cannot race it): the row
        first (on PostgreSQL it waits for a collection in progress), then the bytes."""
        sha = hashlib.sha256(data).hexdigest()
        if not self.is_sqlite:
            conn.execute("SELECT pg_advisory_xact_lock_shared(?)", (_PG_BLOB_LOCK,))
        in_db = self.blobs.in_database
        added = conn.execute("INSERT INTO blobs (sha, size, created, data) VALUES (?, ?, ?, ?) "
                             "ON CONFLICT (sha) DO NOTHING",
                             (sha, len(data), time.time(), data if in_db else None)).rowcount
        # a row already there was committed with its bytes (S3: no second upload); files
        # under the home folder are checked anyway (one may have been deleted by hand)
        if not in_db and (added or self.files_on_disk):
            try:
                self.blobs.put(sha, data)
            except BlobError as exc:
                raise StoreError(str(exc)) from None
        return sha

    def read_blob(self, sha: str) -> bytes:
        data: bytes | None
        try:
            if self.blobs.in_database:
                rows = self._read("SELECT data FROM blobs WHERE sha = ?", (check_sha(sha),))
                data = bytes(rows[0]["data"]) if rows and rows[0]["data"] is not None else None
            else:
                data = self.blobs.get(sha)
        except BlobError as exc:
            raise StoreError(str(exc)) from None
        if data is None:
            raise StoreError(f"The stored file {sha[:12]}... is missing from "
                             f"{self.blobs.describe()}; it may have been deleted by hand.")
        return data

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

    @staticmethod
    def _check_owner(conn: _Tx, session_id: str, owner: str | None) -> None:
        """Refuse a user's write into another user's session (inside the write transaction).
        A session nobody owns (single-user install, written before owners) is taken by the
        first user who writes into it; no ``owner`` (the CLI, a single-user app) checks nothing."""
        if owner is None:
            return
        row = conn.execute("SELECT owner FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if row is not None and row[0] is not None and row[0] != owner:
            raise NotYourSessionError(session_id)

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

    def _autocommit_one(self, query: str, args: Sequence[Any]) -> Any:
        """One statement, its own transaction, on a connection kept without a ping per use
        (one round trip); a connection the server dropped (a restart) is replaced once."""
        self._check_open()
        for attempt in (1, 2):
            try:
                with self._fast.connect() as conn:
                    return conn.execute(_sql(query), _params(args)).scalar()
            except sys.modules["sqlalchemy.exc"].DBAPIError as exc:
                if attempt == 2 or not exc.connection_invalidated:
                    raise
        raise AssertionError("unreachable")

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
        self._recover_now_and_then()
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
            where.append("LOWER(r.prompt) LIKE ? ESCAPE '\\'")  # ASCII case as SQLite's LIKE
            args.append(f"%{escaped.lower()}%")
        sql = self._RUN_SELECT + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY r.started DESC, r.id DESC LIMIT ? OFFSET ?"
        return [self._run_info(r) for r in self._read(sql, [*args, int(limit), int(offset)])]

    def get_run(self, run_id: str) -> RunInfo:
        self._recover_now_and_then()
        rows = self._read(self._RUN_SELECT + " WHERE r.id = ?", (run_id,))
        if not rows:
            raise RunNotFoundError(f"No run {run_id!r} in the store at {self.location}.")
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

    def _collect_blobs(self, conn: _Tx) -> int:
        """Delete blobs no event or attachment refers to, inside the write transaction: a
        writer storing the same bytes waits for us (SQLite's write lock; on PostgreSQL an
        advisory lock every blob writer shares), then writes its row and bytes again."""
        if not self.is_sqlite:
            conn.execute("SELECT pg_advisory_xact_lock(?)", (_PG_BLOB_LOCK,))
        shas = [r[0] for r in conn.execute(
            "SELECT sha FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.blob_sha = b.sha) "
            "AND NOT EXISTS (SELECT 1 FROM attachments a WHERE a.blob_sha = b.sha) "
            "AND NOT EXISTS (SELECT 1 FROM session_files f WHERE f.blob_sha = b.sha)")]
        for sha in shas:
            conn.execute("DELETE FROM blobs WHERE sha = ?", (sha,))
            try:
                self.blobs.delete(sha)
            except BlobError as exc:  # its row is gone: an orphan object, never read again
                log.warning("%s", exc)
        return len(shas)

    def space_used(self) -> SpaceUsed:
        """Bytes the store holds. SQLite: the pages in use; PostgreSQL: the text of the rows
        (its files keep the space of deleted rows until VACUUM, so their size would never
        go down when retention deletes); both: the files' bytes, wherever they are kept."""
        if self.is_sqlite:
            page_size, pages, free = (self._read(f"PRAGMA {name}")[0][name]
                                      for name in ("page_size", "page_count", "freelist_count"))
            database_bytes = (pages - free) * page_size
        else:
            database_bytes = self._read(
                "SELECT (SELECT COALESCE(SUM(OCTET_LENGTH(event_json)), 0) FROM events) + "
                "(SELECT COALESCE(SUM(OCTET_LENGTH(prompt) + OCTET_LENGTH(settings_json)), 0) "
                "FROM runs) + (SELECT COALESCE(SUM(OCTET_LENGTH(state_json)), 0) FROM sessions) "
                "+ (SELECT COALESCE(SUM(OCTET_LENGTH(state_json)), 0) FROM conversation_state) "
                "AS n")[0]["n"] or 0
        totals = self._read("SELECT COALESCE(SUM(size), 0) AS bytes, COUNT(*) AS n, "
                            "(SELECT COUNT(*) FROM runs) AS runs FROM blobs")[0]
        blob_bytes, blobs, runs = totals["bytes"], totals["n"], totals["runs"]
        return SpaceUsed(database_bytes=int(database_bytes), blob_bytes=int(blob_bytes),
                         runs=int(runs), blobs=int(blobs))

    def run_size(self, run_id: str) -> int:
        """Bytes a run holds: its events' text and the files it refers to."""
        rows = self._read(
            "SELECT (SELECT COALESCE(SUM(LENGTH(event_json)), 0) FROM events WHERE run_id = ?) "
            "AS text, (SELECT COALESCE(SUM(size), 0) FROM blobs WHERE sha IN (SELECT blob_sha "
            "FROM events WHERE run_id = ? UNION SELECT blob_sha FROM attachments WHERE run_id = ?)"
            ") AS files", (run_id, run_id, run_id))
        return int(rows[0]["text"]) + int(rows[0]["files"])

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
            "PARTITION BY session_id ORDER BY started DESC, id DESC) AS newest "
            "FROM runs ORDER BY started, id")
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
        rows = self._read("SELECT * FROM retention_log ORDER BY at DESC, run_id DESC LIMIT ?", (int(limit),))
        return [RetentionEntry(r["at"], r["run_id"], r["session_id"], r["prompt"], r["size"], r["reason"])
                for r in rows]


def _short(exc: BaseException) -> str:
    """The first line of a database error (a driver's own message, without the SQL and the
    parameters SQLAlchemy adds), secrets masked."""
    from agent_core.failures import mask_secrets  # noqa: PLC0415

    inner = getattr(exc, "orig", None) or exc
    return mask_secrets((str(inner).strip().splitlines() or [type(inner).__name__])[0])


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
        except (StoreError, OSError) + _db_errors():
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
        except (StoreError, OSError) + _db_errors():
            log.warning("could not finish run %s in the store", self.run_id)
        return self.outcome


__all__ = [
    "LATEST", "RunStore", "RunRecorder", "RunInfo", "RetentionEntry", "RetentionReport", "SessionInfo",
    "SessionState", "AttachmentInfo", "SpaceUsed", "NotYourSessionError",
    "StoreError", "RunNotFoundError", "public_settings", "process_token", "writer_alive",
    "default_home", "new_run_id",
]
