"""A real PostgreSQL for tests: a database of their own on the server at 127.0.0.1:5432
(user postgres, trust auth; ``AGENT_DESK_TEST_PG`` overrides the server URL), created for
one test and dropped after it. Unreachable: skipped locally with the reason, FAILED in CI
(like ``require_tool``: CI has PostgreSQL running)."""
from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

from tests.conftest import IN_CI

SERVER = os.environ.get("AGENT_DESK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _admin():  # noqa: ANN202
    import psycopg

    try:
        return psycopg.connect(SERVER, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        why = f"PostgreSQL is not reachable at {SERVER} ({first})"
        if IN_CI:
            pytest.fail(f"{why}; CI must run PostgreSQL (user postgres, trust) on 127.0.0.1:5432")
        pytest.skip(f"{why}; start it, or set AGENT_DESK_TEST_PG")


def server_url(database: str) -> str:
    """The store URL of ``database`` on the test server (postgresql://user@host:port/db)."""
    base, _, _ = SERVER.rpartition("/")
    return f"{base}/{database}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty database's URL; dropped (connections closed by force) afterwards."""
    name = f"agentdesk_test_{secrets.token_hex(6)}"
    with _admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server_url(name)
    finally:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
