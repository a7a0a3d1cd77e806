"""Where the run store keeps file bytes (returned files, attachments, a session's files).

Every file is content addressed (sha256) and has a row in the store's ``blobs`` table
(sha, size, created) whichever place holds its bytes:

* :class:`DatabaseBlobs`: in that row (``blobs.data``, ``bytea``). PostgreSQL's default: one
  database to run, back up and restore, and every replica sees every file.
* :class:`FileBlobs`: ``home/blobs/ab/abcdef...``. SQLite's default, kept as it was:
  stores written before keep their files where they are (no copy on upgrade), the
  SQLite file stays small (WAL checkpoints and ``VACUUM`` do not rewrite megabytes of
  charts), and an export of a big attachment can point at the file on disk.
* :class:`S3Blobs`: ``s3://bucket/prefix/ab/abcdef...`` through boto3
  (``AGENT_DESK_FILES_URL``), with either database. boto3's own settings apply
  (credential chain, ``AWS_ENDPOINT_URL_S3`` for S3-compatible storage such as MinIO);
  the store never sets an endpoint it was not given.

The store writes a blob's row and bytes inside the write transaction that refers to it,
and deletes unreferenced ones inside another (see ``RunStore._collect_blobs``).
"""
from __future__ import annotations

import contextlib
import os
import re
import threading
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from agent_core.failures import AgentDeskError

FILES_URL_ENV = "AGENT_DESK_FILES_URL"
_SHA = re.compile(r"[0-9a-f]{64}")


class BlobError(AgentDeskError, RuntimeError):
    kind = "store"


def check_sha(sha: str) -> str:
    if not _SHA.fullmatch(sha or ""):
        raise BlobError(f"{sha!r} is not a file hash of this store.")
    return sha


class Blobs(Protocol):
    in_database: bool

    def put(self, sha: str, data: bytes) -> None: ...
    def get(self, sha: str) -> bytes | None: ...
    def delete(self, sha: str) -> None: ...
    def describe(self) -> str: ...


class DatabaseBlobs:
    """Bytes in ``blobs.data``: the store reads and writes them with the row."""

    in_database = True

    def put(self, sha: str, data: bytes) -> None:  # written with the row by the store
        return None

    def get(self, sha: str) -> bytes | None:  # read with the row by the store
        return None

    def delete(self, sha: str) -> None:  # deleted with the row
        return None

    def describe(self) -> str:
        return "in the database (blobs table)"


class FileBlobs:
    in_database = False

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, sha: str) -> Path:
        return self.root / check_sha(sha)[:2] / sha

    def put(self, sha: str, data: bytes) -> None:
        path = self.path(sha)
        if path.exists() and path.stat().st_size == len(data):
            return
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(f".{sha}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def get(self, sha: str) -> bytes | None:
        try:
            return self.path(sha).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, sha: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(sha).unlink()

    def describe(self) -> str:
        return str(self.root)


class S3Blobs:
    """Bytes as S3 objects ``prefix/ab/<sha>`` (immutable: a key's bytes never change)."""

    in_database = False

    def __init__(self, url: str, client: Any = None) -> None:
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise BlobError(f"{FILES_URL_ENV} must look like s3://bucket/prefix, not {url!r}.")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3  # noqa: PLC0415  (heavy: only when files go to S3)

                self._client = boto3.session.Session().client("s3")
            return self._client

    def key(self, sha: str) -> str:
        name = f"{check_sha(sha)[:2]}/{sha}"
        return f"{self.prefix}/{name}" if self.prefix else name

    def _fail(self, what: str, exc: Exception) -> BlobError:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        return BlobError(f"Could not {what} s3://{self.bucket}/{self.prefix} ({code}); check "
                         f"{FILES_URL_ENV}, the bucket and the AWS credentials.")

    def put(self, sha: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.key(sha), Body=data)
        except Exception as exc:  # botocore's errors: said in words, never a traceback
            raise self._fail("store a file in", exc) from None

    def get(self, sha: str) -> bytes | None:
        try:
            return bytes(self.client.get_object(Bucket=self.bucket, Key=self.key(sha))["Body"].read())
        except Exception as exc:
            if getattr(exc, "response", {}).get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise self._fail("read a file from", exc) from None

    def delete(self, sha: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.key(sha))
        except Exception as exc:
            raise self._fail("delete a file from", exc) from None

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def blobs_for(files_url: str | None, *, database_is_sqlite: bool, home: Path) -> Blobs:
    """The place for file bytes: ``files_url`` (s3://...) when given, else the database's
    default (files under ``home`` for SQLite, the blobs table otherwise)."""
    if files_url:
        return S3Blobs(files_url)
    return FileBlobs(home / "blobs") if database_is_sqlite else DatabaseBlobs()
