"""The run store's migrations (Alembic), one set for SQLite and PostgreSQL.

Run from :mod:`agent_core.store` programmatically (no ``alembic.ini``): revision ids are
the schema version as four digits. ``0006`` creates the schema the pre-Alembic SQLite code
had at ``PRAGMA user_version = 6``, ``0007`` adds owners exactly as that code's V7 did (see
:mod:`agent_core.store.schema`). A SQLite file written before Alembic is brought to V7 by
its own SQL and stamped ``0007``; a new database of either kind starts at ``0006``.
Append new revisions; never edit a released one.
"""
