"""THE run path: a request on a backend -> events, recorded in the store as they stream,
ending with one outcome. The Analysis and Synthetic pages, the code editor and the CLI
all start their runs here; they only render (or print) what it yields.

    run = start(request, backend, store=store, settings=settings)
    for event in run:          # lazily, as the backend yields them
        show(event)
    run.run_id, run.outcome, run.result()

* Where a run starts: :func:`start` (one :class:`Run` per request).
* Where it is recorded: ``RunStore.recording`` (agent_core/store/runstore.py), entered by
  :meth:`Run.__iter__`: the run row first, each event as it arrives, then the outcome.
* How it ended: :func:`outcome_of`, the one place the six outcomes are decided.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent_core import failures
from agent_core.backends.base import AgentRequest, Backend
from agent_core.cancel import CancelToken
from agent_core.events import (
    AgentEvent,
    AgentFailure,
    CodeError,
    CodeOutput,
    CodeTimeout,
    FailureTrace,
    FileReturned,
    FinalResponse,
    GuardrailAction,
    PreProcessing,
    RunEnd,
    TextChunk,
    Usage,
)
from agent_core.files import ReturnedFile, check_attachment_limits

if TYPE_CHECKING:
    from agent_core.store import RunStore

log = logging.getLogger(__name__)

__all__ = [
    "AgentRequest", "CancelToken", "OUTCOME_EVENTS", "REFUSAL_KINDS", "Run", "RunCollector", "RunResult",
    "outcome_of", "start",
]

# --- how a run ended ---------------------------------------------------------------------
#: failure kinds that mean "the agent (or its guardrail) declined", not "something broke"
REFUSAL_KINDS = frozenset({"guardrail", "content_filtered"})
#: the events :func:`outcome_of` looks at (a recorder keeps only these)
#: how long a Stop waits for the backend's reader thread to close the stream
STOP_WAIT_SECONDS = 0.3
OUTCOME_EVENTS = (AgentFailure, CodeError, CodeOutput, CodeTimeout, FailureTrace, GuardrailAction,
                  PreProcessing)


def outcome_of(events: Iterable[AgentEvent], *, ended: str = "normally") -> str:
    """The one outcome of a run, from its events and how its stream ended.

    ``ended``: ``normally`` (the backend finished), ``stopped`` (the reader stopped
    reading: Stop pressed, the page rerun, a generator closed) or ``interrupted`` (an
    exception left the run: the process or script was stopped mid-run).

    ``refused``: a guardrail intervened, pre-processing rejected the request, or the
    failure was a refusal; ``failed``: any other ``AgentFailure``; ``completed with
    problems``: the run finished but its last code run failed or timed out (an error the
    agent then fixed does not count) or the trace reported a failure; ``completed``:
    nothing went wrong."""
    if ended in ("stopped", "interrupted"):
        return ended
    failure = refused = trace_failed = last_code_failed = False
    for e in events:
        if isinstance(e, AgentFailure):
            refused = refused or e.kind in REFUSAL_KINDS
            failure = True
        elif isinstance(e, GuardrailAction):
            refused = refused or e.action.upper() in {"INTERVENED", "BLOCKED"}
        elif isinstance(e, PreProcessing):
            refused = refused or e.is_valid is False
        elif isinstance(e, FailureTrace):
            trace_failed = True
        elif isinstance(e, (CodeError, CodeTimeout)):
            last_code_failed = True
        elif isinstance(e, CodeOutput):  # the agent fixed its code: an earlier error is history
            last_code_failed = False
    problems = trace_failed or last_code_failed
    if refused:
        return "refused"
    if failure:
        return "failed"
    return "completed with problems" if problems else "completed"


# --- what a run gave back ------------------------------------------------------------------
@dataclass(frozen=True)
class RunResult:
    text: str
    files: tuple[ReturnedFile, ...]
    errors: tuple[str, ...]
    failure: AgentFailure | None
    input_tokens: int | None
    output_tokens: int | None
    events: tuple[AgentEvent, ...]
    first_event_seconds: float | None
    duration_seconds: float

    @property
    def ok(self) -> bool:
        return self.failure is None


class RunCollector:
    """Feed events with :meth:`add`; :meth:`result` at any time gives what has come so far."""

    def __init__(self) -> None:
        self._start = time.monotonic()
        self._first: float | None = None
        self._chunks: list[str] = []
        self._final: str | None = None
        self._files: list[ReturnedFile] = []
        self._errors: list[str] = []
        self._failure: AgentFailure | None = None
        self._in: int | None = None
        self._out: int | None = None
        self._events: list[AgentEvent] = []

    def add(self, event: AgentEvent) -> None:
        if self._first is None:
            self._first = time.monotonic() - self._start
        self._events.append(event)
        if isinstance(event, TextChunk):
            self._chunks.append(event.text)
        elif isinstance(event, FinalResponse):
            self._final = event.text
        elif isinstance(event, FileReturned):
            self._files.append(event.file)
        elif isinstance(event, CodeError):
            self._errors.append(event.text)
        elif isinstance(event, CodeTimeout):
            self._errors.append(event.message)
        elif isinstance(event, AgentFailure):
            self._failure = event
        elif isinstance(event, Usage):
            if event.input_tokens is not None:
                self._in = (self._in or 0) + event.input_tokens
            if event.output_tokens is not None:
                self._out = (self._out or 0) + event.output_tokens

    def result(self) -> RunResult:
        text = "".join(self._chunks) or (self._final or "")
        return RunResult(
            text=text, files=tuple(self._files), errors=tuple(self._errors), failure=self._failure,
            input_tokens=self._in, output_tokens=self._out, events=tuple(self._events),
            first_event_seconds=self._first, duration_seconds=time.monotonic() - self._start,
        )


# --- the run ----------------------------------------------------------------------------------
BackendSource = Backend | Callable[[], Backend]


class Run:
    """One request on one backend. Iterate it (once) for its events; they are recorded in
    ``store`` (when given) as they pass. ``run_id`` is set as soon as the run is recorded,
    ``outcome`` when it has ended."""

    def __init__(self, request: AgentRequest, backend: BackendSource, *,
                 store: RunStore | None = None, settings: Any = None,
                 backend_name: str | None = None, parent_run_id: str | None = None,
                 timeout: float | None = None, retention_bytes: int | None = None,
                 retention_keep_runs: int = 3, owner: str | None = None,
                 max_runs_per_user: int | None = None, page: str | None = None) -> None:
        self.cancel_token = request.cancel or CancelToken()
        changes: dict[str, Any] = {}
        if request.cancel is None:
            changes["cancel"] = self.cancel_token
        if owner is not None:
            changes["owner"] = owner
        self.request = dataclasses.replace(request, **changes) if changes else request
        self._backend_source = backend
        self.store = store
        self.settings = settings
        self.backend_name = backend_name or getattr(backend, "name", None) \
            or getattr(settings, "backend", None) or "unknown"
        self.parent_run_id = parent_run_id
        self.timeout = timeout
        self.retention_bytes = retention_bytes
        self.retention_keep_runs = retention_keep_runs
        self.max_runs_per_user = int(max_runs_per_user if max_runs_per_user is not None
                                     else getattr(settings, "max_runs_per_user", 0) or 0)
        #: while the run waits for one of its user's run slots: what to show ("Waiting: ...")
        self.waiting: str | None = None
        self._refused: failures.AgentDeskError | None = None  # another user's session
        self.page = page
        self.run_id: str | None = None
        self.outcome: str | None = None
        self._collector = RunCollector()
        self._gen: Iterator[AgentEvent | None] | None = None
        self._stop_requested = False

    def result(self) -> RunResult:
        """What the run gave back so far (complete once iteration has ended)."""
        return self._collector.result()

    def __iter__(self) -> Iterator[AgentEvent]:
        return self._open(None)  # type: ignore[return-value]  # no heartbeat: never None

    def stream(self, heartbeat: float = 0.5) -> Iterator[AgentEvent | None]:
        """The events as they arrive, and ``None`` after each ``heartbeat`` seconds without
        one: a page updates its elapsed time then (and Streamlit gets the chance to handle
        a Stop click, which it does at the page's next element call)."""
        return self._open(heartbeat)

    def stop(self) -> None:
        """End the run now: the backend is cancelled (local kernel interrupted, stream
        closed, model loop's running call interrupted on a local kernel) and the run is recorded as
        ``stopped`` with everything received so far. Safe at any time, also after the end."""
        self._stop_requested = True
        self.cancel_token.cancel()
        if self._gen is not None:
            # ValueError: being read in another thread; that reader ends it, as stopped
            with contextlib.suppress(ValueError):
                self._gen.close()  # type: ignore[attr-defined]

    @property
    def stopped(self) -> bool:
        return self._stop_requested

    def end_event(self) -> RunEnd:
        """The run's closing event, once it has ended: its one outcome, run and session id
        (the CLI prints it last, so ``--json`` ends with what History and the exit status say)."""
        if self.outcome is None:
            raise RuntimeError("The run has not ended yet: iterate it to the end first.")
        return RunEnd(outcome=self.outcome, run_id=self.run_id, session_id=self.request.session_id,
                      source="run")

    # --- internals --------------------------------------------------------------------
    def _open(self, heartbeat: float | None) -> Iterator[AgentEvent | None]:
        if self._gen is not None:
            raise RuntimeError("A Run is iterated once; start a new one to run again.")
        self._gen = self._events(heartbeat)
        return self._gen

    def _events(self, heartbeat: float | None) -> Iterator[AgentEvent | None]:
        ended = "interrupted"
        with ExitStack() as stack:
            recorder = self._open_recorder(stack)
            inner = self._backend_events(heartbeat) if self._refused is None else self._refusal()
            stack.callback(inner.close)  # type: ignore[attr-defined]
            try:
                for event in inner:
                    if event is None:
                        yield None
                        continue
                    if recorder is not None:
                        recorder.add(event)
                    self._collector.add(event)
                    yield event
                ended = "stopped" if self._stop_requested else "normally"
                if recorder is not None and ended == "stopped":
                    recorder.stopped_as = "stopped"
            except GeneratorExit:
                ended = "stopped"
                self.cancel_token.cancel()
                raise
            finally:
                self.outcome = outcome_of(self._collector.result().events, ended=ended)
        self._keep_within_retention()

    def _open_recorder(self, stack: ExitStack) -> Any:
        if self.store is None:
            return None
        from agent_core.store import NotYourSessionError  # noqa: PLC0415 - the store imports run

        try:
            recorder = stack.enter_context(self.store.recording(
                self.request.session_id, self.request.text, self.backend_name, self._recorded_settings(),
                self.request.files, parent_run_id=self.parent_run_id, owner=self.request.owner))
        except NotYourSessionError as exc:  # never run code in another user's session
            self._refused = exc
            return None
        except Exception:  # noqa: BLE001 - outer edge: history is a bonus, a run never depends on it
            log.warning("could not record a run in the store at %s", getattr(self.store, "home", "?"))
            return None
        self.run_id = recorder.run_id
        return recorder

    def _refusal(self) -> Iterator[AgentEvent | None]:
        yield AgentFailure(kind="access_denied", retryable=False, source="run",
                           message=failures.clip(str(self._refused), 2 * failures.MAX_MESSAGE))

    def _wait_for_slot(self, heartbeat: float | None) -> Iterator[None]:
        """At most ``max_runs_per_user`` runs of one user at once (AGENT_DESK_MAX_RUNS_PER_USER),
        counted in the store, so every app process (and replica) sees the same runs: this run
        (recorded as running already) goes once fewer than that many of its user's running
        runs started before it. Until then ``waiting`` says why, a ``None`` goes out every
        ``heartbeat`` seconds, and a Stop ends the wait."""
        owner, limit = self.request.owner, self.max_runs_per_user
        if owner is None or limit <= 0 or self.store is None or self.run_id is None:
            return
        from agent_core.run_slots import RunSlots  # noqa: PLC0415

        slots = RunSlots(self.store, owner, limit)
        try:
            while not self.cancel_token.cancelled:
                try:
                    ahead = slots.ahead(self.run_id)
                except Exception:  # noqa: BLE001 - outer edge: a store hiccup never blocks or breaks a run
                    log.warning("could not count the runs of this run's user; it goes ahead")
                    return
                if ahead < limit:
                    return
                self.waiting = slots.describe(ahead)
                if heartbeat is None:
                    self.cancel_token.wait(slots.poll_seconds)
                else:
                    self.cancel_token.wait(min(heartbeat, slots.poll_seconds))
                    yield None
        finally:
            self.waiting = None

    def _recorded_settings(self) -> Any:
        """The settings kept with the run, and which page (or tool) started it: the Analysis
        chat restores only its own conversation, never the Synthetic page's runs."""
        if self.page is None:
            return self.settings
        from agent_core.store import public_settings

        return {**public_settings(self.settings), "page": self.page}

    def _backend_events(self, heartbeat: float | None) -> Iterator[AgentEvent | None]:
        try:
            check_attachment_limits(self.request.files)
        except failures.AgentDeskError as exc:
            yield exc.to_failure(source="run")
            return
        yield from self._wait_for_slot(heartbeat)
        if self.cancel_token.cancelled:
            return
        try:  # built here, in the caller's thread (a page's backend comes from its session)
            backend = self._backend()
        except Exception as exc:  # noqa: BLE001 - outer edge: building a backend runs third-party code
            yield failures.BackendUnavailableError(
                reason=failures.clip(f"{type(exc).__name__}: {exc}", 300)).to_failure(source="run")
            return
        self.backend_name = getattr(backend, "name", None) or self.backend_name
        yield from _pump(lambda: backend.invoke(self.request), self.cancel_token,
                         timeout=self.timeout, heartbeat=heartbeat,
                         op=failures.operation(self.backend_name))

    def _backend(self) -> Backend:
        source = self._backend_source
        if hasattr(source, "invoke"):
            return source  # type: ignore[return-value]
        build: Callable[[], Backend] = source
        return build()

    def _keep_within_retention(self) -> None:
        if self.store is None or not self.retention_bytes:
            return
        try:
            # never this run nor the newest runs of each session (AGENT_DESK_RETENTION_KEEP_RUNS)
            self.store.enforce_retention(self.retention_bytes, keep_per_session=self.retention_keep_runs,
                                         current_run=self.run_id)
        except Exception:  # noqa: BLE001 - outer edge: cleaning old runs must never fail this one
            log.warning("could not enforce the run store's retention limit")


def start(request: AgentRequest, backend: BackendSource, **options: Any) -> Run:
    """Start a run of ``request`` on ``backend`` (an object with ``invoke``, or a function
    that builds one: a build failure then ends the run as an ``AgentFailure`` too).
    ``options``: ``store``, ``settings``, ``backend_name``, ``parent_run_id``, ``timeout``
    (seconds in all, then a timeout failure ends it), ``retention_bytes`` and
    ``retention_keep_runs`` (the newest runs of each session retention never deletes),
    ``owner`` (the user; else ``request.owner``), ``max_runs_per_user`` (else the
    settings'; a run over it waits, with ``run.waiting`` saying so, until one of its
    user's runs ends) and ``page`` (what started it: ``analysis``, ``synthetic``,
    ``rebuild``, ``cli``; kept with the run's settings)."""
    return Run(request, backend, **options)


def _pump(open_stream: Callable[[], Iterator[AgentEvent]], token: CancelToken, *,
          timeout: float | None, heartbeat: float | None,
          op: failures.Operation) -> Iterator[AgentEvent | None]:
    """The events of ``open_stream()``, read in a worker thread so the reader is never
    stuck in a backend: ``None`` after each ``heartbeat`` seconds without an event; after
    ``timeout`` seconds in all, a timeout ``AgentFailure`` ends the stream. When ``token``
    is cancelled the worker stops reading and closes the backend's stream."""
    q: queue.Queue[Any] = queue.Queue()
    done = object()
    taken = threading.Semaphore(0)  # lazily, as before: the next event is asked for only
    #                                 once the reader has taken (and recorded) this one

    def work() -> None:
        stream = None
        try:
            stream = open_stream()
            for ev in stream:
                if token.cancelled:
                    break
                q.put(ev)
                while not taken.acquire(timeout=0.05):
                    if token.cancelled:
                        return
        except Exception as exc:  # noqa: BLE001 - outer edge: a backend must end in AgentFailure, never raise
            q.put(failures.failure_for_exception(exc, op=op))
        except BaseException as exc:  # KeyboardInterrupt, SystemExit: raised again in the reader
            q.put(_Raised(exc))
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):  # noqa: BLE001 - cleanup of a finished stream
                    close()
            q.put(done)

    worker = threading.Thread(target=work, name="agent-run", daemon=True)
    worker.start()
    try:
        yield from _read(q, done, taken, token, timeout=timeout, heartbeat=heartbeat)
    finally:  # stopped or ended: the worker closes the backend's stream (a moment at most)
        if worker.is_alive():
            token.cancel()
            worker.join(timeout=STOP_WAIT_SECONDS)


@dataclass(frozen=True)
class _Raised:
    exc: BaseException


def _read(q: queue.Queue[Any], done: object, taken: threading.Semaphore, token: CancelToken, *,
          timeout: float | None, heartbeat: float | None) -> Iterator[AgentEvent | None]:
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        wait = heartbeat
        if deadline is not None:
            left = max(0.0, deadline - time.monotonic())
            wait = left if wait is None else min(wait, left)
        try:
            item = q.get(timeout=wait)
            if token.cancelled:
                return
        except queue.Empty:
            if token.cancelled:
                return
            if deadline is not None and time.monotonic() >= deadline:
                token.cancel()
                yield AgentFailure(kind="timeout", retryable=True, source="run", message=(
                    f"The run took longer than {timeout:g} s and was abandoned; what arrived so far "
                    "is kept. Give it more time (the CLI's --timeout)."))
                return
            yield None
            continue
        if item is done:
            return
        if isinstance(item, _Raised):
            raise item.exc
        yield item
        taken.release()
