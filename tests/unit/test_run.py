"""agent_core.run: the one run path (request -> backend -> events, recorded in a real
SQLite run store as they stream, ending with one outcome)."""
from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from agent_core import run as agent_run
from agent_core.events import (
    AgentEvent, AgentFailure, CodeError, CodeInvocation, CodeOutput, CodeTimeout, GuardrailAction, PreProcessing, TextChunk,
)
from agent_core.files import AttachedFile
from agent_core.run import AgentRequest, outcome_of
from agent_core.store import FINAL_OUTCOMES, RunStore


class ScriptedBackend:
    """A backend (the Backend protocol, implemented) that yields a fixed script of events,
    noting what the store held when each event was handed over."""

    name = "scripted"

    def __init__(self, events: list[AgentEvent], *, store: RunStore | None = None,
                 raise_after: BaseException | None = None, delay: float = 0.0) -> None:
        self.events, self.store, self.raise_after, self.delay = events, store, raise_after, delay
        self.stored_before: list[int] = []
        self.closed = False

    def invoke(self, request: AgentRequest) -> Iterator[AgentEvent]:
        try:
            for event in self.events:
                if self.store is not None:
                    runs = self.store.list_runs()
                    self.stored_before.append(len(self.store.run_events(runs[0].id)) if runs else -1)
                time.sleep(self.delay)
                yield event
            if self.raise_after is not None:
                raise self.raise_after
        finally:
            self.closed = True

    def reset_session(self, session_id: str) -> None:
        pass


def request(text: str = "chart it", files: tuple[AttachedFile, ...] = ()) -> AgentRequest:
    return AgentRequest(text=text, session_id="sess-run", files=files)


FAIL = AgentFailure(kind="throttling", message="slow down", retryable=True)


@pytest.mark.parametrize("events, ended, outcome", [
    ([TextChunk(text="ok")], "normally", "completed"),
    ([CodeInvocation(code="1/0"), CodeError(text="ZeroDivisionError"), TextChunk(text="sorry")],
     "normally", "completed with problems"),
    ([CodeError(text="NameError"), CodeOutput(text="101.47"), TextChunk(text="fixed it")],
     "normally", "completed"),  # an error the agent fixed is not a problem of the answer
    ([CodeOutput(text="1"), CodeTimeout()], "normally", "completed with problems"),
    ([GuardrailAction(action="INTERVENED")], "normally", "refused"),
    ([PreProcessing(rationale="malicious", is_valid=False)], "normally", "refused"),
    ([AgentFailure(kind="guardrail", message="no")], "normally", "refused"),
    ([TextChunk(text="half"), FAIL], "normally", "failed"),
    ([TextChunk(text="half")], "stopped", "stopped"),
    ([TextChunk(text="half")], "interrupted", "interrupted"),
])
def test_the_one_outcome_function(events, ended, outcome):
    assert outcome_of(events, ended=ended) == outcome
    assert outcome in FINAL_OUTCOMES  # the store accepts every outcome the run path gives


def test_each_event_is_recorded_before_the_next_arrives_and_the_outcome_last(tmp_path):
    store = RunStore(tmp_path)
    script = [TextChunk(text="a"), TextChunk(text="b"), TextChunk(text="c")]
    backend = ScriptedBackend(script, store=store)
    run = agent_run.start(request(), backend, store=store)
    seen = []
    for event in run:
        seen.append(event)
        assert store.get_run(run.run_id).outcome == "running"
    assert seen == script and backend.stored_before == [0, 1, 2]
    assert run.outcome == "completed" == store.get_run(run.run_id).outcome
    assert store.run_events(run.run_id) == script
    assert run.result().text == "abc"


def test_a_run_with_a_code_error_is_completed_with_problems_everywhere(tmp_path):
    store = RunStore(tmp_path)
    run = agent_run.start(request(), ScriptedBackend(
        [CodeInvocation(code="1/0"), CodeError(text="ZeroDivisionError")]), store=store)
    list(run)
    assert run.outcome == store.get_run(run.run_id).outcome == "completed with problems"


def test_a_reader_that_stops_reading_leaves_a_stopped_run_and_closes_the_backend(tmp_path):
    store = RunStore(tmp_path)
    backend = ScriptedBackend([TextChunk(text=str(i)) for i in range(10)])
    run = agent_run.start(request(), backend, store=store)
    events = iter(run)
    next(events), next(events)
    events.close()  # Stop pressed, the page rerun
    assert backend.closed
    assert run.outcome == store.get_run(run.run_id).outcome == "stopped"
    assert len(store.run_events(run.run_id)) == 2


def test_an_exception_through_the_run_leaves_an_interrupted_run(tmp_path):
    store = RunStore(tmp_path)
    run = agent_run.start(request(), ScriptedBackend([TextChunk(text="x")],
                                                     raise_after=KeyboardInterrupt()), store=store)
    with pytest.raises(KeyboardInterrupt):
        list(run)
    assert run.outcome == store.get_run(run.run_id).outcome == "interrupted"


def test_a_backend_that_raises_ends_in_a_failure_with_what_arrived_kept(tmp_path):
    store = RunStore(tmp_path)
    run = agent_run.start(request(), ScriptedBackend([TextChunk(text="partial")],
                                                     raise_after=RuntimeError("bug")), store=store)
    events = list(run)
    assert events[0] == TextChunk(text="partial")
    assert isinstance(events[-1], AgentFailure) and "RuntimeError" in events[-1].message
    assert run.outcome == store.get_run(run.run_id).outcome == "failed"


def test_a_backend_that_cannot_be_built_is_a_recorded_failure_not_an_exception(tmp_path):
    store = RunStore(tmp_path)

    def build():
        raise ValueError("BEDROCK_AGENT_ID is missing")

    run = agent_run.start(request(), build, store=store, backend_name="bedrock")
    [failure] = list(run)
    assert failure.kind == "configuration" and "BEDROCK_AGENT_ID is missing" in failure.message
    info = store.get_run(run.run_id)
    assert (info.backend, info.outcome) == ("bedrock", "failed")


def test_attachment_limits_are_checked_before_the_backend_is_called(tmp_path):
    files = tuple(AttachedFile.from_bytes(f"f{i}.csv", b"a,b\n1,2\n") for i in range(6))
    backend = ScriptedBackend([TextChunk(text="never")])
    [failure] = list(agent_run.start(request(files=files), backend))
    assert failure.kind == "attachment_limit" and "5" in failure.message
    assert not backend.closed  # invoke was never called


def test_the_deadline_ends_a_slow_run_with_a_timeout_failure(tmp_path):
    store = RunStore(tmp_path)
    run = agent_run.start(request(), ScriptedBackend([TextChunk(text=str(i)) for i in range(50)],
                                                     delay=0.05), store=store, timeout=0.4)
    events = list(run)
    assert isinstance(events[-1], AgentFailure) and events[-1].kind == "timeout"
    assert 2 <= len(events) < 50
    assert store.get_run(run.run_id).outcome == "failed"


def test_a_broken_store_never_breaks_the_run(tmp_path):
    store = RunStore(tmp_path)
    run = agent_run.start(request(), ScriptedBackend([TextChunk(text="a"), TextChunk(text="b")]),
                          store=store)
    events = iter(run)
    next(events)
    store.delete_run(run.run_id)  # the row is gone: appending and finishing now fail
    assert [e.text for e in events] == ["b"]
    assert run.outcome == "completed"


def test_a_run_is_iterated_once():
    run = agent_run.start(request(), ScriptedBackend([]))
    list(run)
    with pytest.raises(RuntimeError):
        list(run)


def test_stop_from_another_thread_ends_a_waiting_run_as_stopped_with_what_arrived(tmp_path):
    """Issue 13: the Stop button's callback runs in the next script run's thread while the
    old one may still be reading; the run ends within a moment, stored as stopped."""
    import threading

    store = RunStore(tmp_path)
    backend = ScriptedBackend([TextChunk(text="first")] + [TextChunk(text="late")] * 5, delay=1.0)
    run = agent_run.start(request(), backend, store=store)
    seen, ticks = [], 0
    threading.Timer(1.5, run.stop).start()
    t0 = time.monotonic()
    for event in run.stream(heartbeat=0.1):
        if event is None:
            ticks += 1
        else:
            seen.append(event)
    assert time.monotonic() - t0 < 2.5 and ticks >= 5  # heartbeats while the backend waited
    assert seen == [TextChunk(text="first")] and run.outcome == "stopped"
    assert store.get_run(run.run_id).outcome == "stopped"
    assert store.run_events(run.run_id) == [TextChunk(text="first")]
    # a cancelled token reaches the backend through the request
    assert run.request.cancel is run.cancel_token and run.cancel_token.cancelled
