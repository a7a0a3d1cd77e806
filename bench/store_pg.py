"""Streaming a run's events into the run store: PostgreSQL against SQLite, same run.

TARGET: events/s written by ``RunStore.append_event`` on PostgreSQL >= 0.3x events/s on
        SQLite (i.e. PostgreSQL's time <= 3.33x SQLite's) for the same events: one committed
        transaction per event, a returned file (~51 kB, kept in the blobs table on
        PostgreSQL, a file under the home folder on SQLite) every 100 events.

PostgreSQL runs on 127.0.0.1:5432 (``AGENT_DESK_BENCH_PG`` to change the server URL); the
benchmark creates its own database and drops it. Both stores write the same events into a
fresh store, taking turns, median of the repeats. A server that cannot be reached is a miss.

    .venv/bin/python bench/store_pg.py [N events]      (BENCH_REPEAT=N to change the repeats)
"""
from __future__ import annotations

import os
import secrets
import sys
import tempfile
from pathlib import Path

from _harness import Result, pg_admin, interleaved_medians, repeats, report
from store import make_events

from agent_core.store import RunStore

SERVER = os.environ.get("AGENT_DESK_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TARGET_THROUGHPUT = 0.3  # PostgreSQL events/s over SQLite events/s, at least
TARGET = 1 / TARGET_THROUGHPUT  # the same, as a time ratio (the harness compares measured <= target)


def write_run(events: list, url: str | None) -> None:
    with tempfile.TemporaryDirectory() as home:
        store = RunStore(Path(home), url=url, recover=False)
        run_id = store.start_run("bench-session", "benchmark", "local")
        for ev in events:
            store.append_event(run_id, ev)
        store.finish_run(run_id, "completed")
        if url:  # an empty store for the next repeat, as SQLite gets a new folder
            store.delete_session("bench-session")
        store.close()


def round_trips(url: str, n: int) -> float:
    """Seconds for ``n`` bare round trips to the server: the floor of one statement per event."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(50):
            conn.execute("SELECT 1").fetchone()
        return interleaved_medians(3, lambda: [conn.execute("SELECT 1").fetchone() for _ in range(n)])[0]


def main(n: int) -> int:
    import psycopg

    base, _, _ = SERVER.rpartition("/")
    name = f"agentdesk_bench_{secrets.token_hex(4)}"
    admin = pg_admin(SERVER, "run store on PostgreSQL")
    if admin is None:
        return 1
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{base}/{name}"
    try:
        RunStore(Path(tempfile.gettempdir()), url=url).close()  # the schema, before timing
        reps = repeats(5)
        events = make_events(n)
        write_run(events[:50], None)  # warm both paths (imports, first-use costs)
        write_run(events[:50], url)
        pg, lite = interleaved_medians(reps, lambda: write_run(events, url),
                                       lambda: write_run(events, None))
        floor = round_trips(url, n)
    finally:
        with psycopg.connect(SERVER, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    files = sum(type(e).__name__ == "FileReturned" for e in events)
    return report("run store writes: PostgreSQL vs SQLite, same events", [
        Result("PostgreSQL time / SQLite time", pg / lite, TARGET),
    ], notes=[f"{n} events ({files} files of ~51 kB), one transaction each, median of {reps}",
              f"PostgreSQL: {n / pg:,.0f} events/s ({pg / n * 1e6:.0f} us/event)",
              f"SQLite:     {n / lite:,.0f} events/s ({lite / n * 1e6:.0f} us/event)",
              f"throughput ratio PostgreSQL/SQLite: {lite / pg:.2f}x "
              f"(target >= {TARGET_THROUGHPUT:g}x)",
              f"the network's floor: {n} bare round trips (SELECT 1) take {floor / n * 1e6:.0f} us each; "
              f"an event costs {pg / floor:.1f} of them (one committed statement per event)"])


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
