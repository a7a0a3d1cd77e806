"""Version 6: the schema the pre-Alembic SQLite migrations V1..V6 built.

sessions (with their kept settings), runs (six outcomes, cost and time, retention flag),
events, attachments, content-addressed blobs, the retention log, the local agent's
conversation state, and a session's kept files. Times are seconds since the epoch as
floats (``DOUBLE PRECISION`` on PostgreSQL: a ``REAL`` there would lose the seconds).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = None
branch_labels = None
depends_on = None

OUTCOMES = ("running", "completed", "completed with problems", "refused", "failed", "stopped",
            "interrupted")


def _file_columns() -> list[sa.Column]:
    """A file as attachments and session_files keep it (bytes in ``blobs``)."""
    return [
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("media_type", sa.Text, nullable=False),
        sa.Column("use_case", sa.Text, nullable=False, server_default="CODE_INTERPRETER"),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("blob_sha", sa.Text, sa.ForeignKey("blobs.sha"), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("backend", sa.Text, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("last_used", sa.Float, nullable=False),
        sa.Column("state_json", sa.Text, nullable=False, server_default="{}"),
    )
    allowed = ", ".join(f"'{o}'" for o in OUTCOMES)
    op.create_table(
        "runs",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("session_id", sa.Text, sa.ForeignKey("sessions.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("parent_run_id", sa.Text),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("backend", sa.Text, nullable=False),
        sa.Column("settings_json", sa.Text, nullable=False, server_default="{}"),
        sa.Column("started", sa.Float, nullable=False),
        sa.Column("ended", sa.Float),
        sa.Column("outcome", sa.Text, nullable=False, server_default="running"),
        sa.Column("writer_pid", sa.Integer),
        sa.Column("writer_token", sa.Text),
        sa.Column("first_event_seconds", sa.Float),
        sa.Column("input_tokens", sa.BigInteger),
        sa.Column("output_tokens", sa.BigInteger),
        sa.Column("over_cap", sa.Integer, nullable=False, server_default="0"),
        sa.CheckConstraint(f"outcome IN ({allowed})", name="runs_outcome"),
    )
    op.create_index("runs_started", "runs", ["started"])
    op.create_index("runs_session", "runs", ["session_id"])
    op.create_table(
        "blobs",
        sa.Column("sha", sa.Text, primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("run_id", sa.Text, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("event_json", sa.Text, nullable=False),
        sa.Column("blob_sha", sa.Text, sa.ForeignKey("blobs.sha")),
        sa.PrimaryKeyConstraint("run_id", "seq"),
    )
    op.create_index("events_blob", "events", ["blob_sha"])
    op.create_table(
        "attachments",
        sa.Column("run_id", sa.Text, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        *_file_columns(),
        sa.PrimaryKeyConstraint("run_id", "position"),
    )
    op.create_index("attachments_blob", "attachments", ["blob_sha"])
    op.create_table(
        "retention_log",
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("run_id", sa.Text, nullable=False),
        sa.Column("session_id", sa.Text, nullable=False),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_index("retention_log_at", "retention_log", ["at"])
    op.create_table(
        "conversation_state",
        sa.Column("session_id", sa.Text, primary_key=True),
        sa.Column("state_json", sa.Text, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
    )
    op.create_table(
        "session_files",
        sa.Column("session_id", sa.Text, sa.ForeignKey("sessions.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        *_file_columns(),
        sa.PrimaryKeyConstraint("session_id", "role", "position"),
        sa.CheckConstraint("role IN ('attached', 'uploaded')", name="session_files_role"),
    )
    op.create_index("session_files_blob", "session_files", ["blob_sha"])
