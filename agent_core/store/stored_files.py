"""The store's file bytes: a row per sha in ``blobs`` and the bytes where
:mod:`agent_core.store.blobs` keeps them; unreferenced ones are collected."""
from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

from agent_core.store.blobs import BlobError, Blobs, FileBlobs, check_sha
from agent_core.store.database import _Database, _Tx
from agent_core.store.records import StoreError

log = logging.getLogger(__name__)
_PG_BLOB_LOCK = 0x61676e74  # advisory lock: blob writers share it, blob collection takes it alone


class _StoredFiles(_Database):
    """Putting, reading and collecting blobs, inside the store's transactions."""

    blobs: Blobs

    @property
    def files_on_disk(self) -> bool:
        """Whether file bytes are files under the home folder (:meth:`blob_path` works)."""
        return isinstance(self.blobs, FileBlobs)

    def blob_path(self, sha: str) -> Path:
        """Where a file's bytes are on disk (only when files live under the home folder)."""
        try:
            check_sha(sha)
        except BlobError as exc:
            raise StoreError(str(exc)) from None
        if not isinstance(self.blobs, FileBlobs):  # mypy: files_on_disk, narrowed
            raise StoreError(f"Files of this store are kept {self.blobs.describe()}, not on disk.")
        return self.blobs.path(sha)

    def _put_blob(self, conn: _Tx, data: bytes, created: float | None = None) -> str:
        """Store bytes inside a write transaction (so retention cannot race it): the row
        first (on PostgreSQL it waits for a collection in progress), then the bytes.
        ``created``: the row's time (a copied store keeps its own; default now)."""
        sha = hashlib.sha256(data).hexdigest()
        if not self.is_sqlite:
            conn.execute("SELECT pg_advisory_xact_lock_shared(?)", (_PG_BLOB_LOCK,))
        in_db = self.blobs.in_database
        added = conn.execute("INSERT INTO blobs (sha, size, created, data) VALUES (?, ?, ?, ?) "
                             "ON CONFLICT (sha) DO NOTHING",
                             (sha, len(data), time.time() if created is None else created,
                              data if in_db else None)).rowcount
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
