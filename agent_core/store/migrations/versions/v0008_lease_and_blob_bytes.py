"""Version 8 (issue 16, several replicas on one store).

* A heartbeat lease: a running run names its writer (``writer_id``: one open store of
  one process on one host) and refreshes ``heartbeat_at`` (the database's clock) while it
  records; any replica marks a run whose heartbeat is older than the lease ``interrupted``.
* ``blobs.data``: file bytes kept in the database itself (PostgreSQL's default); NULL when
  the bytes live in files under the home folder (SQLite's default) or on S3.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("writer_id", sa.Text, nullable=True))
    op.add_column("runs", sa.Column("heartbeat_at", sa.Float, nullable=True))
    op.create_index("runs_outcome", "runs", ["outcome"])
    op.add_column("blobs", sa.Column("data", sa.LargeBinary, nullable=True))
