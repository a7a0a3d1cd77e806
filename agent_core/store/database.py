"""Where the store's database is and how it is opened, migrated and talked to.

SQLite at run time is raw ``sqlite3`` (one connection per store under a lock); SQLAlchemy
Core serves PostgreSQL and, with Alembic, migrations (``agent_core/store/migrations``).
A new SQLite file is created from the migrations' head snapshot (:mod:`.schema`).
"""
from __future__ import annotations

import os
import sqlite3
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_core.store.records import StoreError
from agent_core.store.schema import LATEST as LEGACY_LATEST
from agent_core.store.schema import SQLITE_HEAD, SQLITE_HEAD_VERSION, SchemaTooNewError, _statements, migrate

if TYPE_CHECKING:  # SQLAlchemy loads only for PostgreSQL and for migrations (see RunStore)
    import sqlalchemy as sa
    from sqlalchemy.engine import Connection, Engine

DB_NAME = "runs.sqlite3"
BLOB_DIR = "blobs"
STORE_URL_ENV = "AGENT_DESK_STORE_URL"
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
#: The schema version (the newest Alembic revision, as a number).
LATEST = 8
HEAD = f"{LATEST:04d}"
_PG_MIGRATE_LOCK = 0x6d696772


def default_home() -> Path:
    return Path(os.environ.get("AGENT_DESK_HOME") or "~/.agent-desk").expanduser()


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
    except (sa.exc.ArgumentError, ValueError):  # ValueError: a port that is not a number
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


@lru_cache(maxsize=64)
def _driver_sql(query: str) -> str:
    """The same ``?`` text in psycopg's own ``%s`` placeholders (for the hot path, which
    skips SQLAlchemy's compile step)."""
    return query.replace("%", "%%").replace("?", "%s")


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

    def executemany(self, query: str, rows: Sequence[Sequence[Any]]) -> None:
        """One statement for many rows (psycopg pipelines them: one round trip, not one a row)."""
        if not rows:
            return
        if isinstance(self.conn, sqlite3.Connection):
            self.conn.executemany(query, [tuple(r) for r in rows])
        else:
            self.conn.execute(_sql(query), [_params(r) for r in rows])


def _short(exc: BaseException) -> str:
    """The first line of a database error (a driver's own message, without the SQL and the
    parameters SQLAlchemy adds), secrets masked."""
    from agent_core.failures import mask_secrets  # noqa: PLC0415

    inner = getattr(exc, "orig", None) or exc
    return mask_secrets((str(inner).strip().splitlines() or [type(inner).__name__])[0])


class _Database:
    """The connection plumbing of :class:`~agent_core.store.RunStore` (a base of its mixins)."""

    home: Path
    path: Path | None
    is_sqlite: bool
    _url: str
    _busy_ms: int
    _closed: bool
    _lock: threading.RLock
    _raw: Any
    _engine: Engine | None
    _fast: Engine

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
    def _fix_hint(self) -> str:
        if self.is_sqlite:
            return ("If the file is damaged, move it away and restart: a new, empty history "
                    "will be created.")
        return f"Check that the server is running and {STORE_URL_ENV} names a database you may use."

    # --- opening and migrating --------------------------------------------------------
    @staticmethod
    def _legacy_upgrade(path: Path, busy_timeout_ms: int) -> None:
        """A file written before Alembic (``PRAGMA user_version`` 1..5, no alembic table):
        bring it to version 6 with its own SQL first (agent_core.store.schema)."""
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
        (``schema.SQLITE_HEAD``) without loading SQLAlchemy and Alembic; False when
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

    def _autocommit_one(self, query: str, args: Sequence[Any]) -> Any:
        """One statement, its own transaction, on a connection kept without a ping per use
        (one round trip); a connection the server dropped (a restart) is replaced once."""
        self._check_open()
        for attempt in (1, 2):
            try:
                with self._fast.connect() as conn:  # the driver's own placeholders: no compile step
                    return conn.exec_driver_sql(_driver_sql(query), tuple(args)).scalar()
            except sys.modules["sqlalchemy.exc"].DBAPIError as exc:
                if attempt == 2 or not exc.connection_invalidated:
                    raise
        raise AssertionError("unreachable")
