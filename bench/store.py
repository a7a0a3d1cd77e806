"""Writing a run's events to the run store against raw SQLite doing the same transactions.

TARGET: ``RunStore.append_event`` for every event of a run (one committed transaction per
        event, returned files' bytes to the blob folder) <= 2x raw ``sqlite3`` doing the
        same transactions on the same schema: per event BEGIN IMMEDIATE, the blob file and
        its row for a file, the event row (its JSON), COMMIT; same WAL settings.

The baseline gets the event JSON ready-made; the store turns each event into it itself.
Both write the same events into a fresh folder, taking turns, median of the repeats.

    .venv/bin/python bench/store.py [N events]      (BENCH_REPEAT=N to change the repeats)
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from _harness import Result, interleaved_medians, repeats, report

from agent_core.events import (
    CodeInvocation,
    CodeOutput,
    FileReturned,
    Rationale,
    TextChunk,
    UnknownEvent,
    Usage,
    event_to_dict,
)
from agent_core.files import ReturnedFile
from agent_core.store import RunStore
from agent_core.store.schema import migrate

TARGET = 2.0


def make_events(n: int) -> list:
    """A realistic mix: mostly answer chunks and trace steps, a returned file every 100."""
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 200  # ~51 kB
    kinds = [
        lambda i: TextChunk(text=f"chunk {i} of the answer, a sentence or two long. " * 2),
        lambda i: Rationale(text=f"Step {i}: load the prices and compute a moving average.", step_id=f"t{i}"),
        lambda i: CodeInvocation(code="import pandas as pd\ndf = pd.read_csv('prices.csv')\n" * 3,
                                 step_id=f"t{i}"),
        lambda i: CodeOutput(text="date,close\n" + "2024-01-01,100.0\n" * 20, step_id=f"t{i}"),
        lambda i: Usage(input_tokens=1000 + i, output_tokens=100, step_id=f"t{i}"),
        lambda i: UnknownEvent(raw={"somethingNew": {"i": i, "values": [1, 2, 3]}}),
    ]
    events = []
    for i in range(n):
        if i % 100 == 99:
            data = png + i.to_bytes(4, "big")  # distinct bytes: a new blob each time
            events.append(FileReturned(file=ReturnedFile(f"chart{i}.png", "image/png", data)))
        else:
            events.append(kinds[i % len(kinds)](i))
    return events


def with_store(events: list) -> None:
    with tempfile.TemporaryDirectory() as home:
        store = RunStore(Path(home))
        run_id = store.start_run("bench-session", "benchmark", "local")
        for ev in events:
            store.append_event(run_id, ev)
        store.close()


def raw_sqlite(rows: list[tuple[str, str, bytes | None]]) -> None:
    with tempfile.TemporaryDirectory() as home:
        conn = sqlite3.connect(Path(home) / "runs.sqlite3", isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn)
        blobs = Path(home) / "blobs"
        blobs.mkdir()
        now = time.time()
        conn.execute("INSERT INTO sessions (id, backend, created, last_used) VALUES ('s', 'local', ?, ?)",
                     (now, now))
        conn.execute("INSERT INTO runs (id, session_id, prompt, backend, started) VALUES "
                     "('r', 's', 'benchmark', 'local', ?)", (now,))
        for seq, (kind, text, payload) in enumerate(rows):
            conn.execute("BEGIN IMMEDIATE")
            sha = None
            if payload is not None:
                sha = hashlib.sha256(payload).hexdigest()
                (blobs / sha[:2]).mkdir(exist_ok=True)
                tmp = blobs / sha[:2] / f".{sha}.tmp"
                tmp.write_bytes(payload)
                os.replace(tmp, blobs / sha[:2] / sha)
                conn.execute("INSERT OR IGNORE INTO blobs (sha, size, created) VALUES (?, ?, ?)",
                             (sha, len(payload), time.time()))
            conn.execute("INSERT INTO events (run_id, seq, at, kind, event_json, blob_sha) "
                         "VALUES ('r', ?, ?, ?, ?, ?)", (seq, time.time(), kind, text, sha))
            conn.execute("COMMIT")
        conn.close()


def main(n: int) -> int:
    reps = repeats(5)
    events = make_events(n)
    rows = []
    for ev in events:
        data = event_to_dict(ev)
        rows.append((data["event"], json.dumps(data, default=str),
                     bytes(ev.file.data) if isinstance(ev, FileReturned) else None))
    with_store(events[:50])  # warm both paths (imports, first-use costs)
    raw_sqlite(rows[:50])
    store, base = interleaved_medians(reps, lambda: with_store(events), lambda: raw_sqlite(rows))
    files = sum(isinstance(e, FileReturned) for e in events)
    return report("run store writes vs raw SQLite, same transactions", [
        Result("RunStore.append_event / raw sqlite3", store / base, TARGET),
    ], notes=[f"{n} events ({files} files of ~51 kB), one transaction each, median of {reps}",
              f"RunStore: {store * 1000:.0f} ms ({store / n * 1e6:.0f} us/event)",
              f"raw sqlite3: {base * 1000:.0f} ms ({base / n * 1e6:.0f} us/event)"])


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
