"""Routes AgentEvents, as they arrive, into Streamlit elements.

Modelled on LangChain's ``StreamlitCallbackHandler``: an :class:`EventRouter`
is given a parent container (so it can be tested with any container), keeps a
small state machine per agent step (``step_id``), and for each event

* updates an ``st.status`` with what the agent is doing now ("Planning",
  "Running code", "Reading results", "Writing the answer"),
* writes the event into its step's expander: *Rationale*, *Generated code*,
  *Code output*, *Errors* (expanded), *Files generated*, or a compact
  *Trace details* for every other trace kind,
* streams answer text into a placeholder, chunk by chunk.

It feeds an :class:`agent_core.run.RunCollector` and :meth:`finish` returns the
``RunResult``. :func:`replay` renders stored events the same way.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from agent_core.events import (
    AgentEvent,
    AgentFailure,
    CodeError,
    CodeInvocation,
    CodeOutput,
    CodeOutputProgress,
    CodeTimeout,
    FailureTrace,
    FileReturned,
    FilesGenerated,
    FinalResponse,
    Rationale,
    TextChunk,
    Usage,
    event_to_dict,
)
from agent_core.run import RunCollector, RunResult
from agent_core.safe_text import code_fence, code_span, neutralise_markdown

# expander titles (tests and the History page rely on these words)
RATIONALE = "Rationale"
CODE = "Generated code"
OUTPUT = "Code output"
ERRORS = "Errors"
FILES = "Files generated"
TRACE = "Trace details"

# what the status says per phase
PHASES = {
    "planning": "Planning",
    "code": "Running code",
    "results": "Reading results",
    "answer": "Writing the answer",
    "trace": "Checking",
}


def step_label(number: int, title: str) -> str:
    return f"Step {number} · {title}"


@dataclass
class _Step:
    """One agent step: its number, phase and lazily created expanders."""

    number: int
    container: Any
    phase: str = "planning"
    sections: dict[str, Any] = field(default_factory=dict)
    live_output: Any = None  # the placeholder printed output streams into
    printed: list[str] = field(default_factory=list)


class EventRouter:
    """Render events into ``parent`` as they arrive; collect a ``RunResult``.

    ``show_code`` hides the *Generated code* expanders; ``show_trace`` hides the
    rationale / output / trace expanders (errors always show). After
    ``max_visible_steps`` steps, further steps go into one "More steps" expander
    so a long run stays readable."""

    def __init__(self, parent: Any, *, show_code: bool = True, show_trace: bool = True,
                 max_visible_steps: int = 12, live: bool = True, title: str = "Working",
                 key: str = "run", show_files: bool = True, since: float | None = None) -> None:
        self._key = key
        self._show_files = show_files
        self.show_code, self.show_trace = show_code, show_trace
        self.max_visible_steps = max(1, max_visible_steps)
        self._collector = RunCollector()
        self._steps: dict[str | None, _Step] = {}
        self._current: _Step | None = None
        self._answer_text: list[str] = []
        self._final: str | None = None
        self._live = live
        self._overflow: Any = None
        # ``since``: the run's start (epoch seconds) when it began before this view did
        self._started = time.monotonic() - (max(0.0, time.time() - since) if since else 0.0)
        self._label = f"{title}…"
        self._files_box: Any = None
        self._twin_slots: dict[str, Any] = {}
        self._waiting_tables: dict[str, Any] = {}
        self._drawn_files = 0
        with parent:
            self._status = st.status(f"{title}…" if live else "Agent steps",
                                     expanded=False, state="running" if live else "complete")
            self._steps_box = st.container()
            self._answer = st.empty()
            self._tail = st.container()

    # --- public -------------------------------------------------------------
    def add(self, event: AgentEvent) -> None:
        """Route one event now (call for each event as it arrives)."""
        self._collector.add(event)
        if isinstance(event, TextChunk):
            self._answer_text.append(event.text)
            self._answer.markdown(neutralise_markdown("".join(self._answer_text))
                                  + (" ▌" if self._live else ""))
            self._set_phase(self._current, "answer")
            return
        if isinstance(event, FinalResponse):
            self._final = event.text
            if not self._answer_text:
                self._answer.markdown(neutralise_markdown(event.text))
            self._set_phase(self._current, "answer")
            return
        if isinstance(event, FileReturned):
            if self._live:
                self._file_arrived(event.file)  # drawn now, not after the answer
            return  # a replay draws the files as a group in finish()
        if isinstance(event, (Usage, AgentFailure)):
            return  # shown by finish(): usage as a caption, failure as an error
        step = self._step_for(event)
        if isinstance(event, CodeOutputProgress):
            step.printed.append(event.text)
            if self.show_trace:
                if step.live_output is None:
                    step.live_output = self._section(step, OUTPUT, expanded=self._live).empty()
                step.live_output.code("".join(step.printed), language=None)
            self._set_phase(step, "code")
            return
        if isinstance(event, Rationale):
            if self.show_trace:
                self._section(step, RATIONALE).markdown(neutralise_markdown(event.text))
            self._set_phase(step, "planning")
        elif isinstance(event, CodeInvocation):
            if self.show_code:
                box = self._section(step, CODE)
                box.code(event.code, language="python")
                if event.files:
                    box.caption("Files given to the code: "
                                + ", ".join(neutralise_markdown(f) for f in event.files))
            self._set_phase(step, "code")
        elif isinstance(event, CodeOutput):
            if self.show_trace:
                if step.live_output is not None:  # the whole output replaces what streamed
                    step.live_output.code(event.text or "(no output)", language=None)
                    step.live_output = None
                else:
                    self._section(step, OUTPUT).code(event.text or "(no output)", language=None)
            self._set_phase(step, "results")
        elif isinstance(event, (CodeError, CodeTimeout, FailureTrace)):
            text = getattr(event, "text", None) or getattr(event, "message", None) \
                or getattr(event, "reason", "")
            self._section(step, ERRORS, expanded=True).code(text, language=None)
            self._set_phase(step, "results")
        elif isinstance(event, FilesGenerated):
            if self.show_trace:
                self._section(step, FILES).markdown(
                    "\n".join(f"- {code_span(n)}" for n in event.names) or "(none)")
            self._set_phase(step, "results")
        else:
            if self.show_trace:
                self._section(step, TRACE).markdown(describe(event))
            if step.phase == "planning" and not step.sections.keys() - {TRACE}:
                self._set_phase(step, "trace")

    def add_all(self, events: Iterable[AgentEvent]) -> RunResult:
        for event in events:
            self.add(event)
        return self.finish()

    def tick(self, waiting: str | None = None) -> None:
        """No event for a while: refresh the status line's elapsed time (a live run); while
        the run waits for a slot (``Run.waiting``), the line says so instead."""
        if self._live:
            self._status.update(label=self._timed(f"{waiting}…" if waiting else self._label))

    def follow(self, run: Any, heartbeat: float = 0.25) -> None:
        """Render a run's events as they arrive, the status line ticking (and saying why
        the run waits, if it does) between them."""
        for event in run.stream(heartbeat=heartbeat):
            if event is None:
                self.tick(run.waiting)
            else:
                self.add(event)

    def stopped(self) -> RunResult:
        """The run was stopped: close the status as stopped and show what arrived."""
        self._stopped = True
        return self.finish()

    def _timed(self, label: str) -> str:
        return f"{label} {time.monotonic() - self._started:.0f} s"

    def _file_arrived(self, f: Any) -> None:
        """Draw a returned file the moment it arrives; a chart's data table joins its PNG
        as the interactive twin beside it (a table that comes first waits for its PNG)."""
        if not self._show_files:
            return
        from components.file_view import render_file, render_interactive, stem  # noqa: PLC0415

        if self._files_box is None:
            with self._tail:
                st.markdown("**Files returned**")
                self._files_box = st.container()
        s = stem(f.name)
        if f.is_table and s in self._twin_slots:
            column, k = self._twin_slots.pop(s)
            with column:
                render_interactive(f, key=f"{k}_data")
            return
        if f.is_table and not f.is_image:
            self._waiting_tables[s] = f
            return
        # the same keys as render_files gives the finished turn, so a control changed
        # right after the run keeps its value when the turn is drawn from history
        k = f"{self._key}_{self._drawn_files}"
        self._drawn_files += 1
        box = self._files_box.container(border=True)
        if f.is_image:
            left, right = box.columns(2)
            with left:
                render_file(f, key=k)
            if s in self._waiting_tables:
                with right:
                    render_interactive(self._waiting_tables.pop(s), key=f"{k}_data")
            else:
                self._twin_slots[s] = (right, k)
        else:
            with box:
                render_file(f, key=k)

    @property
    def result(self) -> RunResult:
        """What has come so far (also valid mid-run)."""
        return self._collector.result()

    def finish(self, outcome: str | None = None) -> RunResult:
        """Close the status, show the answer, files, failure and usage; return the result.
        ``outcome``: the run's recorded outcome (a replay); otherwise it comes from the events."""
        from agent_core.run import outcome_of  # noqa: PLC0415
        from components.file_view import render_files  # noqa: PLC0415

        result = self._collector.result()
        text = "".join(self._answer_text) or (self._final or "")
        if text:
            self._answer.markdown(neutralise_markdown(text))
        elif result.failure is None and not result.files and not getattr(self, "_stopped", False):
            self._answer.caption("The agent returned no answer text.")
        n = len(self._steps)
        steps = f"{n} step{'s' if n != 1 else ''}"
        took = f" in {result.duration_seconds:.1f} s" if self._live else ""
        # the status line says the run's one outcome in the same words as History and the CLI
        if getattr(self, "_stopped", False):
            outcome = "stopped"
        elif outcome is None or outcome == "running":
            outcome = outcome_of(result.events)
        if outcome == "stopped":
            took = f" ({result.duration_seconds:.1f} s)" if self._live else ""
            label = f"Stopped by you after {steps}{took}; what arrived is kept"
        elif outcome == "interrupted":
            label = f"Interrupted after {steps}: the app or the tab closed while it ran; what arrived is kept"
        elif outcome == "failed" and result.failure is not None:
            label = f"Failed after {steps}: {result.failure.kind}"
        elif outcome == "refused":
            label = f"Refused: {steps}; the agent declined the request (its answer says why)"
        elif outcome == "completed with problems":  # never "done" (issue 12)
            label = (f"Completed with problems: {steps}; the last code step failed or its result "
                     "failed its own checks (the error is in the step above)")
        else:
            label = f"Completed: {steps}{took}"
        self._status.update(label=label, state="complete" if outcome == "completed" else "error",
                            expanded=False)
        with self._tail:
            if self._live and self._show_files:  # files were drawn as they came; tables
                from components.file_view import render_file  # noqa: PLC0415

                for table in self._waiting_tables.values():  # tables without a PNG: now
                    with self._files_box.container(border=True):
                        render_file(table, key=f"{self._key}_{self._drawn_files}")
                    self._drawn_files += 1
                self._waiting_tables.clear()
            elif result.files and self._show_files:
                render_files(result.files, key=self._key)
            if result.failure is not None:
                st.error(neutralise_markdown(failure_message(result.failure)), icon=":material/error:")
            if result.input_tokens or result.output_tokens:
                st.caption(f"Tokens: {result.input_tokens or 0} in, {result.output_tokens or 0} out")
        return result

    # --- internals ----------------------------------------------------------------
    def _step_for(self, event: AgentEvent) -> _Step:
        key = event.step_id
        if key is None and self._current is not None:
            return self._current
        step = self._steps.get(key)
        if step is None:
            number = len(self._steps) + 1
            if number > self.max_visible_steps:
                if self._overflow is None:
                    self._overflow = self._steps_box.expander("More steps", expanded=False)
                container = self._overflow.container()
            else:
                container = self._steps_box.container()
            step = _Step(number=number, container=container)
            self._steps[key] = step
        self._current = step
        return step

    def _section(self, step: _Step, title: str, *, expanded: bool = False) -> Any:
        box = step.sections.get(title)
        if box is None:
            box = step.container.expander(step_label(step.number, title), expanded=expanded)
            step.sections[title] = box
        return box

    def _set_phase(self, step: _Step | None, phase: str) -> None:
        where_key = (step.number if step is not None else None, phase)
        if step is not None:
            step.phase = phase
        if where_key == getattr(self, "_last_phase", None):
            return
        self._last_phase = where_key
        if self._live:
            where = f"Step {step.number}: " if step is not None else ""
            self._label = f"{where}{PHASES[phase]}…"
            self._status.update(label=self._timed(self._label))
            self._status.write(f"{where}{PHASES[phase]}")


def failure_message(failure: AgentFailure) -> str:
    """The failure's own message (backends say what to do), plus a Retry hint if missing."""
    msg = failure.message.strip() or f"The run failed ({failure.kind})."
    if failure.retryable and "retry" not in msg.lower():
        msg += " Press Retry to try again."
    return msg


def describe(event: AgentEvent) -> str:
    """A compact, readable line for a trace kind without its own expander."""
    data = event_to_dict(event)
    name = data.pop("event")
    data.pop("step_id", None)
    source = data.pop("source", None)
    body = {k: v for k, v in data.items() if v not in (None, "", [], {})}
    text = json.dumps(body, ensure_ascii=False, default=str)
    if len(text) > 1500:
        text = text[:1500] + " …"
    where = f" ({source})" if source else ""
    return f"**{code_span(name)}**{neutralise_markdown(where)}\n\n{code_fence(text, '')}"


def replay(parent: Any, events: Iterable[AgentEvent], *, show_code: bool = True,
           show_trace: bool = True, max_visible_steps: int = 12, key: str = "replay",
           show_files: bool = True, stopped: bool = False, outcome: str | None = None) -> RunResult:
    """Render stored events exactly as a live run would (History page, chat re-render).
    ``key`` must be stable across reruns and unique on the page (widget keys derive from it).
    ``outcome``: the run's recorded outcome, said in the status line (else judged from the events)."""
    router = EventRouter(parent, show_code=show_code, show_trace=show_trace,
                         max_visible_steps=max_visible_steps, live=False, key=key,
                         show_files=show_files)
    for event in events:
        router.add(event)
    return router.stopped() if stopped or outcome == "stopped" else router.finish(outcome)
