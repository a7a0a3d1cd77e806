"""Collects a stream of events into a ``RunResult`` (final text, files, errors, usage, timings)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from agent_core.events import (
    AgentEvent, AgentFailure, CodeError, CodeTimeout, FileReturned, FinalResponse, TextChunk, Usage,
)
from agent_core.files import ReturnedFile


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
        self._in = self._out = None
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
