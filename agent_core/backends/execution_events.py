"""One code run (an executor's typed :class:`~agent_core.interpreter.models.Execution`) ->
the app's events. The one place that mapping is written.

:func:`execution_raw` gives Bedrock's raw shape (an orchestration ``observation`` with
``codeInterpreterInvocationOutput`` and top-level ``files`` events, at most 5 files per
event, 1 MB per file): the local agent streams it as it is (DESIGN.md: it doubles as an
offline stand-in for Bedrock). :func:`execution_events` is the same raw shape read by the
one Bedrock parser (:func:`agent_core.stream.parse_item`), tagged with the step and source
of a chat-model loop (``converse``, ``openai``).
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from agent_core.files import MAX_RETURNED_FILE_BYTES

if TYPE_CHECKING:  # pragma: no cover
    from agent_core.events import AgentEvent
    from agent_core.interpreter.models import Execution, OutputFile
    from agent_core.stream import StreamState

FILES_PER_EVENT = 5
CODE_INTERPRETER = "ACTION_GROUP_CODE_INTERPRETER"


def returnable(execution: Execution) -> tuple[list[OutputFile], list[str]]:
    """The files small enough to return, and the names of those that are not."""
    ok: list[OutputFile] = []
    too_big: list[str] = []
    for f in execution.files:
        if f.truncated or len(f.data) > MAX_RETURNED_FILE_BYTES:
            too_big.append(f.name)
        else:
            ok.append(f)
    return ok, too_big


def error_text(execution: Execution) -> str | None:
    """The error (traceback) and any kernel notice, or None when the run succeeded."""
    parts: list[str] = []
    if execution.error is not None:
        e = execution.error
        parts.append(e.traceback.strip() or f"{e.name}: {e.value}")
        if e.value and e.value not in parts[-1]:
            parts.append(f"{e.name}: {e.value}")
    if execution.timed_out and not parts:
        parts.append("The code ran past the time limit and was stopped.")
    if execution.notice and (parts or execution.timed_out):
        parts.append(execution.notice)
    return "\n".join(parts) if parts else None


def output_text(execution: Execution) -> str:
    """stdout then stderr, as one text."""
    text = execution.stdout
    if execution.stderr.strip():
        text = text + ("\n" if text and not text.endswith("\n") else "") + execution.stderr
    return text


def code_output(execution: Execution) -> dict[str, Any]:
    """``codeInterpreterInvocationOutput`` for one run."""
    out: dict[str, Any] = {}
    text = output_text(execution)
    error = error_text(execution)
    if execution.notice and error is None:
        text = f"Note: {execution.notice}\n" + text
    if text or error is None:
        out["executionOutput"] = text
    if error is not None:
        out["executionError"] = error
    if execution.timed_out:
        out["executionTimeout"] = True
    if execution.files:
        out["files"] = [f.name for f in execution.files]
    return out


def execution_raw(execution: Execution, trace_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Bedrock's raw shape of one run: the orchestration ``observation`` part and the
    top-level ``files`` events with the bytes of the returnable files."""
    observation = {"observation": {"traceId": trace_id, "type": CODE_INTERPRETER,
                                   "codeInterpreterInvocationOutput": code_output(execution)}}
    returned, _ = returnable(execution)
    files = [{"files": {"files": [{"name": f.name, "type": f.media_type, "bytes": f.data}
                                  for f in returned[i:i + FILES_PER_EVENT]]}}
             for i in range(0, len(returned), FILES_PER_EVENT)]
    return observation, files


def progress_raw(text: str, trace_id: str) -> dict[str, Any]:
    """Output printed while the code still runs: the local agent's own top-level
    ``codeOutputProgress`` member (not Bedrock's; read as ``CodeOutputProgress``). The
    run's observation then holds the whole output."""
    return {"codeOutputProgress": {"traceId": trace_id, "text": text}}


def execution_events(execution: Execution, *, step_id: str, source: str,
                     state: StreamState) -> list[AgentEvent]:
    """The app's events for one run: :func:`execution_raw` through the one Bedrock parser.
    ``state`` is the run's parser state (returned file names stay unique within a run)."""
    from agent_core.stream import parse_item

    observation, files = execution_raw(execution, step_id)
    items = [{"trace": {"trace": {"orchestrationTrace": observation}}}, *files]
    return [dataclasses.replace(event, step_id=step_id, source=source)
            for item in items for event in parse_item(item, state)]
