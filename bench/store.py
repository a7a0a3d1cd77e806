"""Per-event write overhead of the run store.

The same N events go (a) through a no-op consumer and (b) through
``RunStore.append_event`` (one committed WAL transaction per event, file bytes to
the blob folder). Prints both times, the overhead in µs per event, and the ratio.

    .venv/bin/python bench/store.py [N]
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent_core.events import (  # noqa: E402
    CodeInvocation, CodeOutput, FileReturned, Rationale, TextChunk, UnknownEvent, Usage,
)
from agent_core.files import ReturnedFile  # noqa: E402
from agent_core.store import RunStore  # noqa: E402


def make_events(n: int) -> list:
    """A realistic mix: mostly answer chunks and trace steps, a returned file every 100."""
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 200  # ~51 kB
    kinds = [
        lambda i: TextChunk(text=f"chunk {i} of the answer, a sentence or two long. " * 2),
        lambda i: Rationale(text=f"Step {i}: load the prices and compute a moving average.", step_id=f"t{i}"),
        lambda i: CodeInvocation(code="import pandas as pd\ndf = pd.read_csv('prices.csv')\n" * 3, step_id=f"t{i}"),
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


def main(n: int = 5000) -> None:
    events = make_events(n)
    sink: list = []
    t0 = time.perf_counter()
    for ev in events:
        sink.append(ev)  # the no-op consumer
    base = time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as home:
        store = RunStore(Path(home))
        run_id = store.start_run("bench-session", "benchmark", "local")
        t0 = time.perf_counter()
        for ev in events:
            store.append_event(run_id, ev)
        stored = time.perf_counter() - t0
        store.finish_run(run_id, "completed")
        t0 = time.perf_counter()
        back = store.run_events(run_id)
        read = time.perf_counter() - t0
        assert back == events, "read back differs"
        space = store.space_used()
        store.close()

    per_event_us = (stored - base) / n * 1e6
    print(f"events: {n} ({sum(isinstance(e, FileReturned) for e in events)} files of ~51 kB)")
    print(f"no-op consumer : {base * 1000:9.2f} ms  ({base / n * 1e6:8.3f} µs/event)")
    print(f"append_event   : {stored * 1000:9.2f} ms  ({stored / n * 1e6:8.1f} µs/event)")
    print(f"overhead       : {per_event_us:8.1f} µs/event; ratio stored/no-op = {stored / max(base, 1e-9):,.0f}x")
    print(f"read back      : {read * 1000:9.2f} ms  ({read / n * 1e6:8.1f} µs/event)")
    print(f"space used     : {space.total / 1024:,.0f} kB ({space.blobs} blobs)")
    # what matters for a run: the overhead next to a code run's own time (trivial cell 5.6 ms)
    print(f"as a share of a trivial 5.6 ms kernel round trip: {per_event_us / 5600:.1%}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
