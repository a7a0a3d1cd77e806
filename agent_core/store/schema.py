"""The run store's schema, as a list of migrations applied in order.

``PRAGMA user_version`` holds the number of migrations applied. Version 1 is the
first schema ever written; every later change is a new entry at the end of
:data:`MIGRATIONS` (never edit an old one: databases in the field already ran it).
"""
from __future__ import annotations

import sqlite3

from agent_core.failures import AgentDeskError

# Version 1: sessions, runs, events, attachments, blobs.
V1 = """
CREATE TABLE IF NOT EXISTS sessions (
    id         TEXT PRIMARY KEY,
    backend    TEXT NOT NULL,
    created    REAL NOT NULL,
    last_used  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id             TEXT PRIMARY KEY,
    session_id     TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    parent_run_id  TEXT,
    prompt         TEXT NOT NULL,
    backend        TEXT NOT NULL,
    settings_json  TEXT NOT NULL DEFAULT '{}',
    started        REAL NOT NULL,
    ended          REAL,
    outcome        TEXT NOT NULL DEFAULT 'running'
                   CHECK (outcome IN ('running', 'completed', 'failed', 'interrupted')),
    writer_pid     INTEGER,
    writer_token   TEXT
);
CREATE INDEX IF NOT EXISTS runs_started ON runs(started);
CREATE INDEX IF NOT EXISTS runs_session ON runs(session_id);
CREATE TABLE IF NOT EXISTS blobs (
    sha      TEXT PRIMARY KEY,
    size     INTEGER NOT NULL,
    created  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    at          REAL NOT NULL,
    kind        TEXT NOT NULL,
    event_json  TEXT NOT NULL,
    blob_sha    TEXT REFERENCES blobs(sha),
    PRIMARY KEY (run_id, seq)
);
CREATE INDEX IF NOT EXISTS events_blob ON events(blob_sha);
CREATE TABLE IF NOT EXISTS attachments (
    run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    name        TEXT NOT NULL,
    media_type  TEXT NOT NULL,
    use_case    TEXT NOT NULL DEFAULT 'CODE_INTERPRETER',
    size        INTEGER NOT NULL,
    blob_sha    TEXT NOT NULL REFERENCES blobs(sha),
    PRIMARY KEY (run_id, position)
);
CREATE INDEX IF NOT EXISTS attachments_blob ON attachments(blob_sha);
"""

# Version 2: cost and time of a run (time to first event, tokens from Usage events).
V2 = """
ALTER TABLE runs ADD COLUMN first_event_seconds REAL;
ALTER TABLE runs ADD COLUMN input_tokens INTEGER;
ALTER TABLE runs ADD COLUMN output_tokens INTEGER;
"""

# Version 3: the six outcomes of agent_core.run (completed with problems, refused and
# stopped are new). SQLite cannot change a CHECK constraint in place: the runs table is
# rebuilt (the documented way: new table, copy, drop, rename), with foreign keys off
# (``migrate`` turns them off around the steps) so dropping the old table cascades nothing.
V3 = """
CREATE TABLE runs_v3 (
    id             TEXT PRIMARY KEY,
    session_id     TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    parent_run_id  TEXT,
    prompt         TEXT NOT NULL,
    backend        TEXT NOT NULL,
    settings_json  TEXT NOT NULL DEFAULT '{}',
    started        REAL NOT NULL,
    ended          REAL,
    outcome        TEXT NOT NULL DEFAULT 'running'
                   CHECK (outcome IN ('running', 'completed', 'completed with problems', 'refused',
                                      'failed', 'stopped', 'interrupted')),
    writer_pid     INTEGER,
    writer_token   TEXT,
    first_event_seconds REAL,
    input_tokens   INTEGER,
    output_tokens  INTEGER
);
INSERT INTO runs_v3 (id, session_id, parent_run_id, prompt, backend, settings_json, started, ended,
                     outcome, writer_pid, writer_token, first_event_seconds, input_tokens,
                     output_tokens)
    SELECT id, session_id, parent_run_id, prompt, backend, settings_json, started, ended, outcome,
           writer_pid, writer_token, first_event_seconds, input_tokens, output_tokens FROM runs;
DROP TABLE runs;
ALTER TABLE runs_v3 RENAME TO runs;
CREATE INDEX IF NOT EXISTS runs_started ON runs(started);
CREATE INDEX IF NOT EXISTS runs_session ON runs(session_id);
"""

# Version 4: retention keeps a log of what it removed and why, and flags runs larger than
# the whole retention limit (kept, never deleted by retention).
V4 = """
ALTER TABLE runs ADD COLUMN over_cap INTEGER NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS retention_log (
    at          REAL NOT NULL,
    run_id      TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    prompt      TEXT NOT NULL,
    size        INTEGER NOT NULL,
    reason      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS retention_log_at ON retention_log(at);
"""

# Version 5 (issue 12): the local agent's conversation state per session (an
# agent_core.planner.conversation.AnalysisState as JSON), so a follow-up continues after a
# refresh, a restart or from the CLI. Its own table: nothing else reads or writes it.
V5 = """
CREATE TABLE IF NOT EXISTS conversation_state (
    session_id  TEXT PRIMARY KEY,
    state_json  TEXT NOT NULL,
    updated     REAL NOT NULL
);
"""

# Version 6: a working session survives a refresh and a restart (issue 13): the session's
# settings (toggles) as JSON, and its files: attached to the agent, or uploaded but not
# attached. File bytes are blobs like every other file of the store.
V6 = """
ALTER TABLE sessions ADD COLUMN state_json TEXT NOT NULL DEFAULT '{}';
CREATE TABLE IF NOT EXISTS session_files (
    session_id  TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('attached', 'uploaded')),
    position    INTEGER NOT NULL,
    name        TEXT NOT NULL,
    media_type  TEXT NOT NULL,
    use_case    TEXT NOT NULL DEFAULT 'CODE_INTERPRETER',
    size        INTEGER NOT NULL,
    blob_sha    TEXT NOT NULL REFERENCES blobs(sha),
    PRIMARY KEY (session_id, role, position)
);
CREATE INDEX IF NOT EXISTS session_files_blob ON session_files(blob_sha);
"""

# Version 7 (issue 16): each session and run belongs to a user (the identity from st.login or
# a trusted proxy header). NULL is "nobody in particular": a single-user install and every row
# written before this version; such rows are never filtered out when no user is given.
V7 = """
ALTER TABLE sessions ADD COLUMN owner TEXT;
ALTER TABLE runs ADD COLUMN owner TEXT;
CREATE INDEX IF NOT EXISTS runs_owner ON runs(owner, started);
CREATE INDEX IF NOT EXISTS sessions_owner ON sessions(owner, last_used);
"""

# Append new versions at the end; never edit or reorder a released one.
MIGRATIONS: tuple[str, ...] = (V1, V2, V3, V4, V5, V6, V7)
LATEST = len(MIGRATIONS)


# The schema Alembic's migrations (agent_core/store/migrations) build on SQLite at their head, as
# SQLite itself writes it down (sqlite_master), used to create a NEW SQLite file without
# loading SQLAlchemy and Alembic (about a second of a command's start on a busy machine).
# Not a second schema: tests/unit/test_store.py proves it equals what the migrations build,
# and must be regenerated (the test prints it) whenever a migration is added.
SQLITE_HEAD_VERSION = 8
SQLITE_HEAD = """
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL,
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
CREATE TABLE sessions (
	id TEXT NOT NULL,
	backend TEXT NOT NULL,
	created FLOAT NOT NULL,
	last_used FLOAT NOT NULL,
	state_json TEXT DEFAULT '{}' NOT NULL, owner TEXT,
	PRIMARY KEY (id)
);
CREATE TABLE runs (
	id TEXT NOT NULL,
	session_id TEXT NOT NULL,
	parent_run_id TEXT,
	prompt TEXT NOT NULL,
	backend TEXT NOT NULL,
	settings_json TEXT DEFAULT '{}' NOT NULL,
	started FLOAT NOT NULL,
	ended FLOAT,
	outcome TEXT DEFAULT 'running' NOT NULL,
	writer_pid INTEGER,
	writer_token TEXT,
	first_event_seconds FLOAT,
	input_tokens BIGINT,
	output_tokens BIGINT,
	over_cap INTEGER DEFAULT '0' NOT NULL, owner TEXT, writer_id TEXT, heartbeat_at FLOAT,
	PRIMARY KEY (id),
	CONSTRAINT runs_outcome CHECK (outcome IN ('running', 'completed', 'completed with problems',
		'refused', 'failed', 'stopped', 'interrupted')),
	FOREIGN KEY(session_id) REFERENCES sessions (id) ON DELETE CASCADE
);
CREATE INDEX runs_started ON runs (started);
CREATE INDEX runs_session ON runs (session_id);
CREATE TABLE blobs (
	sha TEXT NOT NULL,
	size BIGINT NOT NULL,
	created FLOAT NOT NULL, data BLOB,
	PRIMARY KEY (sha)
);
CREATE TABLE events (
	run_id TEXT NOT NULL,
	seq INTEGER NOT NULL,
	at FLOAT NOT NULL,
	kind TEXT NOT NULL,
	event_json TEXT NOT NULL,
	blob_sha TEXT,
	PRIMARY KEY (run_id, seq),
	FOREIGN KEY(run_id) REFERENCES runs (id) ON DELETE CASCADE,
	FOREIGN KEY(blob_sha) REFERENCES blobs (sha)
);
CREATE INDEX events_blob ON events (blob_sha);
CREATE TABLE attachments (
	run_id TEXT NOT NULL,
	position INTEGER NOT NULL,
	name TEXT NOT NULL,
	media_type TEXT NOT NULL,
	use_case TEXT DEFAULT 'CODE_INTERPRETER' NOT NULL,
	size BIGINT NOT NULL,
	blob_sha TEXT NOT NULL,
	PRIMARY KEY (run_id, position),
	FOREIGN KEY(run_id) REFERENCES runs (id) ON DELETE CASCADE,
	FOREIGN KEY(blob_sha) REFERENCES blobs (sha)
);
CREATE INDEX attachments_blob ON attachments (blob_sha);
CREATE TABLE retention_log (
	at FLOAT NOT NULL,
	run_id TEXT NOT NULL,
	session_id TEXT NOT NULL,
	prompt TEXT NOT NULL,
	size BIGINT NOT NULL,
	reason TEXT NOT NULL
);
CREATE INDEX retention_log_at ON retention_log (at);
CREATE TABLE conversation_state (
	session_id TEXT NOT NULL,
	state_json TEXT NOT NULL,
	updated FLOAT NOT NULL,
	PRIMARY KEY (session_id)
);
CREATE TABLE session_files (
	session_id TEXT NOT NULL,
	role TEXT NOT NULL,
	position INTEGER NOT NULL,
	name TEXT NOT NULL,
	media_type TEXT NOT NULL,
	use_case TEXT DEFAULT 'CODE_INTERPRETER' NOT NULL,
	size BIGINT NOT NULL,
	blob_sha TEXT NOT NULL,
	PRIMARY KEY (session_id, role, position),
	CONSTRAINT session_files_role CHECK (role IN ('attached', 'uploaded')),
	FOREIGN KEY(session_id) REFERENCES sessions (id) ON DELETE CASCADE,
	FOREIGN KEY(blob_sha) REFERENCES blobs (sha)
);
CREATE INDEX session_files_blob ON session_files (blob_sha);
CREATE INDEX sessions_owner ON sessions (owner, last_used);
CREATE INDEX runs_owner ON runs (owner, started);
CREATE INDEX runs_outcome ON runs (outcome);
"""


class SchemaTooNewError(AgentDeskError, RuntimeError):
    """The database was written by a newer Agent Desk than this one."""

    kind = "store"


def migrate(conn: sqlite3.Connection, *, target: int = LATEST) -> int:
    """Apply the missing migrations up to ``target``, each in its own transaction.

    Safe when two processes open the same new database at once: the version is
    read again under the write lock before a step is applied. Returns the version."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > LATEST:
        raise SchemaTooNewError(
            f"The run store has schema version {version}, newer than this app knows "
            f"({LATEST}). Update Agent Desk, or point AGENT_DESK_HOME at another folder.")
    foreign_keys = conn.execute("PRAGMA foreign_keys").fetchone()[0]
    conn.execute("PRAGMA foreign_keys = OFF")  # a table rebuild must not cascade (V3)
    try:
        return _apply(conn, version, target)
    finally:
        conn.execute(f"PRAGMA foreign_keys = {1 if foreign_keys else 0:d}")


def _apply(conn: sqlite3.Connection, version: int, target: int) -> int:
    while version < target:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version >= target:
                conn.execute("COMMIT")
                break
            for statement in _statements(MIGRATIONS[version]):
                conn.execute(statement)
            if conn.execute("PRAGMA foreign_key_check").fetchone() is not None:
                raise sqlite3.IntegrityError("a migration left rows whose linked rows are gone")
            version += 1
            conn.execute(f"PRAGMA user_version = {version:d}")
            conn.execute("COMMIT")
        except BaseException:  # rolled back, then re-raised: a step is applied whole or not at all
            conn.execute("ROLLBACK")
            raise
    return version


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (``executescript`` would commit
    on its own, outside our transaction)."""
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out
