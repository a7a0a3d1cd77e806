"""Run history that survives a refresh, a restart and the loss of a replica.

One database holds sessions, runs and every event of a run in order: by default a
SQLite file (``home/runs.sqlite3``, WAL mode, busy timeout), or PostgreSQL when
``AGENT_DESK_STORE_URL=postgresql://user@host:port/db`` is set (several app replicas on
one store). Both go through SQLAlchemy Core with one schema and one set of Alembic
migrations (``agent_core/store/migrations``), applied when a store is opened. File bytes are
content addressed (sha256, stored once): see :mod:`agent_core.store.blobs` for where.

Events are written through, one committed transaction per event, so a run whose
process dies keeps everything it had received. A running run holds a lease: its
writer (``writer_id``: this open store) refreshes ``heartbeat_at`` on every event and
from a small thread every few seconds; any store on any host marks a run whose
heartbeat is older than ``AGENT_DESK_LEASE_SECONDS`` (default 30) ``interrupted``, at
open and then at most every quarter lease when it lists or reads runs.

Safe for several threads (a connection pool) and several processes and hosts writing
at once (SQLite's ``BEGIN IMMEDIATE`` + busy timeout; PostgreSQL's row locks).

The package, one job a module (``RunStore`` is assembled from the mixins):

* :mod:`.records`: the frozen records handed out, the outcomes, the store's errors
* :mod:`.database`: where the database is; opening, migrating, transactions, reads
* :mod:`.schema` / :mod:`.migrations`: the pre-Alembic SQL and head snapshot / Alembic
* :mod:`.blobs` / :mod:`.stored_files`: where file bytes live / their rows and collection
* :mod:`.lease`: writers, the heartbeat lease, recovery of interrupted runs
* :mod:`.runstore`: ``RunStore``, opening a store and writing runs (the API)
* :mod:`.reading`, :mod:`.sessions`, :mod:`.retention`: reading runs; sessions; deleting
* :mod:`.recorder`: ``RunRecorder``, a stream written into one run as it goes by
"""
from __future__ import annotations

from agent_core.store.database import (
    BLOB_DIR,
    DB_NAME,
    HEAD,
    LATEST,
    MIGRATIONS_DIR,
    STORE_URL_ENV,
    default_home,
    engine_url,
)
from agent_core.store.lease import (
    DEFAULT_LEASE_SECONDS,
    LEASE_ENV,
    lease_from_env,
    process_token,
    writer_alive,
)
from agent_core.store.recorder import RunRecorder
from agent_core.store.records import (
    FINAL_OUTCOMES,
    OUTCOMES,
    AttachmentInfo,
    NotYourSessionError,
    RetentionEntry,
    RetentionReport,
    RunInfo,
    RunNotFoundError,
    SessionInfo,
    SessionState,
    SpaceUsed,
    StoreError,
)
from agent_core.store.runstore import RunStore, new_run_id, public_settings

__all__ = [
    "LATEST", "RunStore", "RunRecorder", "RunInfo", "RetentionEntry", "RetentionReport", "SessionInfo",
    "SessionState", "AttachmentInfo", "SpaceUsed", "NotYourSessionError",
    "StoreError", "RunNotFoundError", "public_settings", "process_token", "writer_alive",
    "default_home", "new_run_id",
    "BLOB_DIR", "DB_NAME", "DEFAULT_LEASE_SECONDS", "FINAL_OUTCOMES", "HEAD", "LEASE_ENV",
    "MIGRATIONS_DIR", "OUTCOMES", "STORE_URL_ENV", "engine_url", "lease_from_env",
]
