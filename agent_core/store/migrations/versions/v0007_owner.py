"""Version 7 (issue 16, per-user history): who owns a session and a run.

Nullable: a single-user install (no identity configured) leaves it empty, and runs
written before owners existed belong to nobody.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sessions", sa.Column("owner", sa.Text, nullable=True))
    op.add_column("runs", sa.Column("owner", sa.Text, nullable=True))
    op.create_index("sessions_owner", "sessions", ["owner", "last_used"])
    op.create_index("runs_owner", "runs", ["owner", "started"])
