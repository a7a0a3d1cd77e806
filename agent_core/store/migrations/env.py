"""Alembic environment: the caller hands over its connection (already inside the
transaction that holds the migration lock); nothing is read from a config file."""
from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None,
                  transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations()
