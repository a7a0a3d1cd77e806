"""Copying a SQLite history into PostgreSQL (``python -m agent_core store copy``) against
recording the same runs into PostgreSQL the way the app does (one transaction per event).

TARGET: the copy's time <= 0.25x the time the app's own write path takes to record the same
        runs into the same kind of database (fresh, migrated, on the same server), i.e. a
        history moves at least 4x faster than it could be written again run by run.

Runs: R (default 200) of 60 events, one returned file (~51 kB, distinct bytes) each; the
source is a SQLite home built once, untimed. Each repeat gets two fresh databases (created and
migrated untimed); the baseline and the copy take turns; medians of the repeats. PostgreSQL
runs on 127.0.0.1:5432 (``AGENT_DESK_BENCH_PG`` to change); a server that cannot be reached
is a miss.

    .venv/bin/python bench/store_copy.py [R runs]      (BENCH_REPEAT=N to change the repeats)
"""
from __future__ import annotations

import io
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _harness import Result, pg_admin, repeats, report
from store import make_events

from agent_core.cli import main as cli_main
from agent_core.events import FileReturned
from agent_core.files import ReturnedFile
from agent_core.store import RunStore

SERVER = os.environ.get("AGENT_DESK_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TARGET = 0.25  # copy time / recording time, at most
EVENTS_PER_RUN = 60


def make_runs(r: int) -> list[list]:
    base = make_events(EVENTS_PER_RUN - 1)
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 200
    return [[*base, FileReturned(file=ReturnedFile(f"chart{i}.png", "image/png", png + i.to_bytes(4, "big")))]
            for i in range(r)]


def record(runs: list[list], home: Path, url: str) -> None:
    """The baseline: the app's write path (start_run, append_event per event, finish_run)."""
    with RunStore(home, url=url, files_url="", recover=False) as store:
        for i, events in enumerate(runs):
            run_id = store.start_run(f"bench-session-{i % 10}", f"run {i}", "local", owner="ann")
            for ev in events:
                store.append_event(run_id, ev)
            store.finish_run(run_id, "completed")


def copy(source: Path, url: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = cli_main(["store", "copy", "--from", str(source), "--to", url, "--to-files", ""],
                    out=out, err=err)
    if code != 0:
        raise SystemExit(f"the copy failed: {err.getvalue()}")


def main(r: int) -> int:
    base, _, _ = SERVER.rpartition("/")
    admin = pg_admin(SERVER, "store copy to PostgreSQL")
    if admin is None:
        return 1
    made: list[str] = []

    def fresh() -> str:
        name = f"agentdesk_bench_{secrets.token_hex(4)}"
        admin.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        url = f"{base}/{name}"
        RunStore(Path(tempfile.gettempdir()), url=url, files_url="").close()  # migrated, untimed
        return url

    runs = make_runs(r)
    reps = repeats(3)
    with tempfile.TemporaryDirectory() as tmp, admin:
        source = Path(tmp) / "laptop"
        record(runs, source, "")  # the history to move: a SQLite home with files under blobs/
        size = sum(p.stat().st_size for p in source.rglob("*") if p.is_file())
        try:
            copy(source, fresh())  # warm both paths (imports, first-use costs)
            rec_t, copy_t = [], []
            for _ in range(reps):
                url = fresh()
                t0 = time.perf_counter()
                record(runs, Path(tmp) / "pg-home", url)
                rec_t.append(time.perf_counter() - t0)
                url = fresh()
                t0 = time.perf_counter()
                copy(source, url)
                copy_t.append(time.perf_counter() - t0)
        finally:
            for name in made:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    rec_m, copy_m = statistics.median(rec_t), statistics.median(copy_t)
    return report("store copy: SQLite history into PostgreSQL vs recording it there", [
        Result("copy time / recording time", copy_m / rec_m, TARGET),
    ], notes=[f"{r} runs x {EVENTS_PER_RUN} events, one ~51 kB file each; source {size / 1048576:.1f} MB; "
              f"median of {reps}",
              f"copy:      {copy_m:.2f} s ({r / copy_m:,.0f} runs/s, {r * EVENTS_PER_RUN / copy_m:,.0f} events/s)",
              f"recording: {rec_m:.2f} s ({r / rec_m:,.0f} runs/s)"])


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
