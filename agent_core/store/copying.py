"""Copying a run history from one store into another (``python -m agent_core store copy``):
a team that used Agent Desk on one machine (SQLite) brings its history to PostgreSQL.

* The source is a SQLite store (its home folder or its database file), of any schema version
  the app opens. It is never written: its database is copied first (sqlite3's online backup,
  a consistent snapshot even while an app writes it) into a temporary folder and opened
  there the normal way (migrated to head, runs whose writer is gone marked ``interrupted``
  as any app opening it would); file bytes are read from the source's own ``blobs/`` folder
  (or ``--from-files`` on S3, or ``blobs.data``).
* The target is any store URL the app takes (PostgreSQL, or a SQLite home), opened and
  migrated to head by :class:`RunStore` itself; file bytes go where that store keeps them
  (its blobs table, its files, or S3) through the store's own ``_put_blob``.
* Every row is copied as stored (ids, times, outcomes, owners, tokens, settings), one
  transaction per run (its row, events, attachments and the files they refer to): a copy
  that is cut off leaves whole runs only, and running it again copies the rest. A run whose
  id the target already has is skipped and counted. A run still ``running`` in the source
  (its writer's lease is fresh: an app is recording it now) is left behind and named: its
  events are still coming, and a copy of half of it would be skipped by the next copy.
* Sessions: a session the target lacks is copied whole (settings, kept files, the local
  agent's conversation state); one it has keeps the target's state (the target is the live
  store), its ``last_used`` moved forward to the source's when later.
"""
from __future__ import annotations

import hashlib
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from agent_core.store.blobs import FileBlobs
from agent_core.store.database import BLOB_DIR, DB_NAME, _db_errors, _short, _Tx, engine_url
from agent_core.store.records import StoreError
from agent_core.store.runstore import RunStore
from agent_core.store.schema import SchemaTooNewError
from agent_core.store.stored_files import _PG_BLOB_LOCK

#: The tables a copy writes (their columns are read from the target: the same at head).
_TABLES = ("sessions", "runs", "events", "attachments", "session_files", "conversation_state",
           "retention_log", "blobs")
_PG_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


class _ReadOnlyFiles(FileBlobs):
    """The source's ``blobs/`` folder, read and never written (not even created)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, sha: str, data: bytes) -> None:
        raise AssertionError("the source of a copy is never written")

    def delete(self, sha: str) -> None:
        raise AssertionError("the source of a copy is never written")


class CopyError(StoreError):
    """A copy that cannot start (``usage``: a wrong path or URL) or go on; the message says
    what to do."""

    def __init__(self, message: str, *, usage: bool = True) -> None:
        super().__init__(message)
        self.usage = usage


class _RunNotCopied(Exception):
    """One run of the source cannot be copied (a file of it is missing or damaged there)."""


@dataclass
class CopyReport:
    runs_total: int = 0
    runs_copied: int = 0
    runs_skipped: int = 0  # already in the target
    runs_running: list[str] = field(default_factory=list)  # left behind: still being written
    runs_failed: list[tuple[str, str]] = field(default_factory=list)  # (run id, why)
    sessions_copied: int = 0
    sessions_skipped: int = 0  # already in the target (its state kept)
    files: int = 0  # file bytes written into the target (content addressed: once each)
    bytes: int = 0
    retention_entries: int = 0
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return not self.runs_running and not self.runs_failed

    @property
    def runs_done(self) -> int:
        return self.runs_copied + self.runs_skipped + len(self.runs_running) + len(self.runs_failed)


# --- opening the two stores -----------------------------------------------------------
def source_database(source: Path) -> Path:
    path = source.expanduser()
    if path.is_dir():
        path = path / DB_NAME
        if not path.is_file():
            raise CopyError(f"--from {source}: no run store there (no {DB_NAME}). Give the Agent "
                            "Desk home folder (AGENT_DESK_HOME, default ~/.agent-desk) or its "
                            f"{DB_NAME} file.")
    elif not path.is_file():
        raise CopyError(f"--from {source}: no such file or folder. Check the path.")
    return path


def _snapshot(db: Path, snapshot: Path) -> None:
    """A consistent copy of the database file ``db``. No app has it open (no ``-wal`` file
    beside it): its bytes, read as a file (a SQLite connection, even read-only, would leave
    ``-wal``/``-shm`` files behind). An app has it open: SQLite's online backup through a
    read-only connection (the companion files exist already; nothing is checkpointed)."""
    wal = db.with_name(db.name + "-wal")
    if not wal.exists():
        before = db.stat()
        shutil.copyfile(db, snapshot)
        after = db.stat()
        if not wal.exists() and (before.st_mtime_ns, before.st_size) == (after.st_mtime_ns, after.st_size):
            return
        snapshot.unlink()  # written to while copied: take the backup below instead
    with closing(sqlite3.connect(f"file:{quote(str(db.resolve()))}?mode=ro", uri=True,
                                 timeout=30)) as src, closing(sqlite3.connect(snapshot)) as dst:
        src.backup(dst)


@contextmanager
def open_source(source: Path, files_url: str | None = None) -> Iterator[RunStore]:
    """The SQLite store at ``source`` (a home folder or its database file), read from a
    snapshot in a temporary folder: the source itself is never written, not even migrated."""
    db = source_database(source)
    with tempfile.TemporaryDirectory(prefix="agent-desk-copy-") as tmp:
        snapshot = Path(tmp) / DB_NAME
        try:
            _snapshot(db, snapshot)
            with closing(sqlite3.connect(snapshot)) as dst:
                tables = {r[0] for r in dst.execute("SELECT name FROM sqlite_master")}
        except (sqlite3.Error, OSError) as exc:
            raise CopyError(f"--from {source}: cannot read {db} as a SQLite run store "
                            f"({_short(exc)}).") from None
        if not {"runs", "events", "sessions"} <= tables:
            raise CopyError(f"--from {source}: {db} is a SQLite file but not an Agent Desk run "
                            "store (it has no runs, events and sessions tables).")
        try:
            store = RunStore(tmp, url="", files_url=files_url or "")
        except (StoreError, SchemaTooNewError) as exc:  # said of the source, not of the snapshot
            raise CopyError(f"--from {source}: the app cannot open this store: "
                            f"{str(exc).replace(str(snapshot), str(db))}", usage=False) from None
        try:
            if not files_url:
                store.blobs = _ReadOnlyFiles(db.parent / BLOB_DIR)  # the source's own files
            yield store
        finally:
            store.close()


def target_kind(target: str) -> str:
    """``postgresql`` for a PostgreSQL URL, ``sqlite`` for a folder (or its runs.sqlite3);
    CopyError for anything else."""
    if "://" in target:
        scheme = target.split("://", 1)[0].lower()
        if scheme in _PG_SCHEMES:
            try:
                engine_url(target)
            except StoreError:  # e.g. a port that is not a number (the URL is never echoed)
                raise CopyError("--to must look like postgresql://user@host:5432/database.") from None
            return "postgresql"
        raise CopyError(f"--to must be a postgresql://user@host:5432/database URL (or a folder "
                        f"for a SQLite store), not a {scheme}:// URL.")
    return "sqlite"


def open_target(target: str, files_url: str | None = None, *, source: Path | None = None) -> RunStore:
    """The store at ``target`` (PostgreSQL URL, or a SQLite home folder), migrated to head."""
    if target_kind(target) == "postgresql":
        return RunStore(tempfile.gettempdir(), url=target, files_url=files_url or "", recover=False)
    home = Path(target).expanduser()
    if home.is_file():
        if home.name != DB_NAME:
            raise CopyError(f"--to {target} is a file: give a postgresql:// URL or a folder.")
        home = home.parent
    if source is not None and home.resolve() == source_database(source).parent.resolve():
        raise CopyError("--to is the same store as --from: nothing to copy.")
    return RunStore(home, url="", files_url=files_url or "", recover=False)


# --- copying --------------------------------------------------------------------------
class _Copier:
    def __init__(self, source: RunStore, target: RunStore, report: CopyReport) -> None:
        import sqlalchemy as sa  # noqa: PLC0415  (the CLI's copy only)

        self.source, self.target, self.report = source, target, report
        inspector = sa.inspect(target.engine)
        self.columns = {t: {c["name"] for c in inspector.get_columns(t)} for t in _TABLES}

    def _insert_sql(self, table: str, row: Mapping[str, Any], conflict: str = "") -> tuple[str, list[str]]:
        names = [c for c in row if c in self.columns[table]]
        marks = ", ".join("?" for _ in names)
        return f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks}){conflict}", names

    def _insert(self, conn: _Tx, table: str, row: Mapping[str, Any], conflict: str = "") -> int:
        sql, names = self._insert_sql(table, row, conflict)
        return int(conn.execute(sql, [row[n] for n in names]).rowcount)

    def _insert_many(self, conn: _Tx, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            sql, names = self._insert_sql(table, rows[0])
            conn.executemany(sql, [[r[n] for n in names] for r in rows])

    def _put_files(self, conn: _Tx, shas: set[str]) -> None:
        """The bytes of ``shas`` into the target, inside its write transaction: only those it
        lacks (a file stored twice takes its space once), each checked against its hash."""
        if not shas:
            return
        if not self.target.is_sqlite:  # as _put_blob: a blob collection waits for this transaction
            conn.execute("SELECT pg_advisory_xact_lock_shared(?)", (_PG_BLOB_LOCK,))
        wanted = sorted(shas)
        marks = ", ".join("?" for _ in wanted)
        present = {r[0] for r in conn.execute(f"SELECT sha FROM blobs WHERE sha IN ({marks})", wanted)}
        if self.target.files_on_disk:  # a file deleted by hand is written again
            present = {s for s in present if self.target.blob_path(s).exists()}
        for sha in wanted:
            if sha in present:
                continue
            rows = self.source._read("SELECT created, data FROM blobs WHERE sha = ?", (sha,))
            if rows and rows[0]["data"] is not None:
                data = bytes(rows[0]["data"])
            else:
                try:
                    data = self.source.read_blob(sha)
                except StoreError as exc:
                    raise _RunNotCopied(f"{exc} If the source kept its files on S3, name them with "
                                        "--from-files s3://bucket/prefix.") from None
            if hashlib.sha256(data).hexdigest() != sha:
                raise _RunNotCopied(f"the stored file {sha[:12]}... is damaged in the source "
                                    "(its bytes do not match their hash)")
            self.target._put_blob(conn, data, rows[0]["created"] if rows else None)
            self.report.files += 1
            self.report.bytes += len(data)

    def copy_sessions(self) -> None:
        conflict = " ON CONFLICT (session_id) DO NOTHING"
        for session in self.source._read("SELECT * FROM sessions ORDER BY created, id"):
            sid = session["id"]
            files = self.source._read("SELECT * FROM session_files WHERE session_id = ? "
                                      "ORDER BY role, position", (sid,))
            talk = self.source._read("SELECT * FROM conversation_state WHERE session_id = ?", (sid,))
            try:
                with self.target._write() as conn:
                    if conn.execute("SELECT 1 FROM sessions WHERE id = ?", (sid,)).fetchone() is None:
                        self._put_files(conn, {f["blob_sha"] for f in files})
                        self._insert(conn, "sessions", session)
                        self._insert_many(conn, "session_files", files)
                        self.report.sessions_copied += 1
                    else:  # the target's session is live: its state stays; it was used later
                        conn.execute("UPDATE sessions SET last_used = ? WHERE id = ? AND last_used < ?",
                                     (session["last_used"], sid, session["last_used"]))
                        conn.execute("UPDATE sessions SET owner = ? WHERE id = ? AND owner IS NULL",
                                     (session["owner"], sid))
                        self.report.sessions_skipped += 1
                    for row in talk:
                        self._insert(conn, "conversation_state", row, conflict)
            except _RunNotCopied as exc:  # a kept file is gone: the session without its files
                with self.target._write() as conn:
                    self._insert(conn, "sessions", session, " ON CONFLICT (id) DO NOTHING")
                self.report.sessions_copied += 1
                self.report.runs_failed.append((f"session {sid} (its kept files)", str(exc)))

    def copy_run(self, run: Mapping[str, Any], in_target: set[str]) -> None:
        run_id = run["id"]
        if run_id in in_target:
            self.report.runs_skipped += 1
            return
        if run["outcome"] == "running":
            self.report.runs_running.append(run_id)
            return
        events = self.source._read("SELECT * FROM events WHERE run_id = ? ORDER BY seq", (run_id,))
        attachments = self.source._read("SELECT * FROM attachments WHERE run_id = ? ORDER BY position",
                                        (run_id,))
        shas = {r["blob_sha"] for r in (*events, *attachments) if r["blob_sha"]}
        try:
            with self.target._write() as conn:
                self._put_files(conn, shas)
                if not self._insert(conn, "runs", run, " ON CONFLICT (id) DO NOTHING"):
                    self.report.runs_skipped += 1  # another copy wrote it just now
                    return
                self._insert_many(conn, "events", events)
                self._insert_many(conn, "attachments", attachments)
        except _RunNotCopied as exc:
            self.report.runs_failed.append((run_id, str(exc)))
            return
        self.report.runs_copied += 1

    def copy_retention_log(self) -> None:
        have = {(r["at"], r["run_id"]) for r in self.target._read("SELECT at, run_id FROM retention_log")}
        new = [r for r in self.source._read("SELECT * FROM retention_log ORDER BY at, run_id")
               if (r["at"], r["run_id"]) not in have]
        with self.target._write() as conn:
            self._insert_many(conn, "retention_log", new)
        self.report.retention_entries = len(new)


def copy_store(source: RunStore, target: RunStore, *,
               progress: Callable[[CopyReport], None] | None = None) -> CopyReport:
    """Copy every session and run of ``source`` that ``target`` lacks (see the module's notes)."""
    started = time.monotonic()
    report = CopyReport()
    try:
        copier = _Copier(source, target, report)
        runs = source._read("SELECT * FROM runs ORDER BY started, id")
        report.runs_total = len(runs)
        in_target = {r["id"] for r in target._read("SELECT id FROM runs")}
        copier.copy_sessions()
        for run in runs:
            copier.copy_run(run, in_target)
            report.seconds = time.monotonic() - started
            if progress is not None:
                progress(report)
        copier.copy_retention_log()
    except _db_errors() as exc:
        raise CopyError(f"The copy stopped: {_short(exc)}. The runs copied so far are whole; run "
                        "the same command again to copy the rest.", usage=False) from None
    report.seconds = time.monotonic() - started
    return report
