"""The run store's migrations (Alembic), one set for SQLite and PostgreSQL.

Run from :mod:`agent_core.store` programmatically (no ``alembic.ini``): revision ids are
the schema version as four digits. ``0006`` is the schema the pre-Alembic SQLite code left
at ``PRAGMA user_version = 6`` (see :mod:`agent_core.store_schema`): an old SQLite file is
brought to version 6 by that code and stamped ``0006``; a new database of either kind is
created by ``0006`` itself. Append new revisions; never edit a released one.
"""
