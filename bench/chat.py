"""A chat that stays fast: time from Enter to the first visible step of a new request, with
1 and with 30 finished turns in the chat. TARGET: ratio (30 turns / 1 turn) <= 1.2.

Real user work: the seed chart request ("moving average in red and actual data in blue")
runs once on the local agent (real Jupyter kernel, the bundled sample data); its stored
events (rationale, code, output, the chart PNG and its CSV, the answer) make up each
finished turn. A session with 1 such turn and one with 30 are opened by their link
(``?session=``), then the same new request is typed into the chat of each, alternately,
``REPEATS`` times; the medians are compared.

Measured with AppTest, not a browser: what grows with the chat is the script's work before
the new turn's first step is sent (every finished turn redrawn first); AppTest times exactly
that, in process, from the moment the server takes the Enter (the script runner
receives the request with the page's widget states) to the moment the page hands the first event to its live
``EventRouter`` (AppTest's own walk of its element tree, harness work, is left out). A browser adds the
same network and paint time to both sides, and on this shared 2-core machine its noise
would swamp a 20 % margin.

    .venv/bin/python bench/chat.py [REPEATS]
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET = 1.2
TURNS = 30
APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
REQUEST = "run this code:\n```python\nprint('bench', 6 * 7)\n```"


def seed_events(home: Path) -> list:
    """The events of one real seed chart run on the local agent."""
    from agent_core import run as agent_run
    from agent_core.backends.local import LocalAgent
    from agent_core.config import load_settings
    from agent_core.files import AttachedFile
    from agent_core.run import AgentRequest
    from agent_core.sample_data import sample_bytes

    settings = load_settings(env={"AGENT_DESK_HOME": str(home), "AGENT_BACKEND": "local"}, secrets={})
    agent = LocalAgent(settings)
    try:
        request = AgentRequest(
            text="Given the attached price data file, please make me a chart with moving average "
                 "in red and actual data in blue", session_id="bench-seed",
            files=(AttachedFile.from_bytes("sample_prices.csv", sample_bytes(), media_type="text/csv"),))
        run = agent_run.start(request, agent)
        events = list(run)
    finally:
        agent.close()
    assert run.result().files, "the seed run returned no files"
    return events


def make_session(store, sid: str, turns: int, events: list) -> None:
    for i in range(turns):
        run_id = store.start_run(sid, f"chart {i}", "local")
        for event in events:
            store.append_event(run_id, event)
        store.finish_run(run_id, "completed")


def time_first_step(sid: str, first: list[float | None], enter: list[float | None]) -> float:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["session"] = sid
    at.run()  # open the link: the chat is restored (not timed)
    assert not at.exception, at.exception
    first[0] = enter[0] = None
    at.chat_input[0].set_value(REQUEST).run()
    assert not at.exception, at.exception
    assert first[0] is not None and enter[0] is not None, "no step reached the page"
    return first[0] - enter[0]


def main() -> int:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    home = Path(tempfile.mkdtemp(prefix="bench-chat-"))
    os.environ.update(AGENT_BACKEND="local", AGENT_DESK_HOME=str(home))
    from agent_core.store import RunStore
    from streamlit.runtime.state.session_state import SessionState

    from components.event_view import EventRouter

    events = seed_events(home)
    store = RunStore(home)
    for r in range(repeats + 1):
        make_session(store, f"bench-one-{r}", 1, events)
        make_session(store, f"bench-thirty-{r}", TURNS, events)
    store.close()

    first: list[float | None] = [None]
    real_add = EventRouter.add

    def add(self, event):  # the first event a live router draws: the first visible step
        if self._live and first[0] is None:
            first[0] = time.perf_counter()
        return real_add(self, event)

    # "Enter" on the server: the script runner takes the request with the page's widget
    # states (AppTest's own walk of its element tree to collect them is harness, not app)
    enter: list[float | None] = [None]
    real_will_rerun = SessionState.on_script_will_rerun

    def will_rerun(self, *args, **kwargs):
        if enter[0] is None:
            enter[0] = time.perf_counter()
        return real_will_rerun(self, *args, **kwargs)

    EventRouter.add = add  # type: ignore[method-assign]
    SessionState.on_script_will_rerun = will_rerun  # type: ignore[method-assign]
    time_first_step("bench-one-0", first, enter)  # warm-up: kernel, imports, caches
    time_first_step("bench-thirty-0", first, enter)
    one, thirty = [], []
    for r in range(1, repeats + 1):
        one.append(time_first_step(f"bench-one-{r}", first, enter))
        thirty.append(time_first_step(f"bench-thirty-{r}", first, enter))
    m1, m30 = statistics.median(one), statistics.median(thirty)
    ratio = m30 / m1
    print(f"Enter -> first step, median of {repeats}: 1 turn {m1 * 1000:.0f} ms, "
          f"{TURNS} turns {m30 * 1000:.0f} ms")
    print(f"  1 turn : {', '.join(f'{t * 1000:.0f}' for t in one)} ms")
    print(f"  {TURNS} turns: {', '.join(f'{t * 1000:.0f}' for t in thirty)} ms")
    print(f"ratio {ratio:.2f} (target <= {TARGET}): {'OK' if ratio <= TARGET else 'MISS'}")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
