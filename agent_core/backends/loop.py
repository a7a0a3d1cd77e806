"""The agent loop for chat models, whatever their wire format.

"Send the messages and the ``execute_python`` tool -> stream text and tool calls -> run
each call's code in the executor -> send the result back", until the model ends its turn
or a bound (tool calls, wall time, tokens per turn) is hit. Conversation history is kept
per session, so follow-ups work; the attached files are described to the model
(:mod:`agent_core.backends.data_context`), never sent whole.

The wire format lives in a :class:`ModelAdapter` (Bedrock ``ConverseStream`` in
:mod:`agent_core.backends.converse`, Chat Completions in
:mod:`agent_core.backends.openai_chat`); the code runs in a
:class:`~agent_core.backends.executors.CodeExecutor` (local kernel or AgentCore). A model
that cannot call tools is asked for one fenced ```python block per turn instead, with the
same bounds, and the answer says so.
"""
from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
import threading
import time
from collections.abc import Generator, Iterator
from typing import Any

from agent_core.backends.base import AgentRequest
from agent_core.backends.data_context import describe_files
from agent_core.backends.execution_events import (
    error_text,
    execution_events,
    output_text,
    returnable,
)
from agent_core.backends.executors import (
    AgentCoreExecutor,
    CodeExecutor,
    ExecutorError,
    LocalKernelExecutor,
)
from agent_core.backends.model_adapter import (
    TOOL_DESCRIPTION,
    TOOL_INPUT_SCHEMA,
    TOOL_NAME,
    ImagePart,
    ModelAdapter,
    ToolCall,
    ToolOutcome,
    TurnEnd,
)
from agent_core.cancel import CancelToken
from agent_core.config import Settings
from agent_core.events import (
    AgentEvent,
    AgentFailure,
    CodeError,
    CodeInvocation,
    CodeOutput,
    CodeTimeout,
    FileReturned,
    FilesGenerated,
    FinalResponse,
    Rationale,
    Reasoning,
    TextChunk,
)
from agent_core.files import AttachedFile, sniff_type
from agent_core.interpreter.models import Execution

__all__ = [  # the adapter-facing types are re-exported for ``from ...loop import ...``
    "TOOL_DESCRIPTION", "TOOL_INPUT_SCHEMA", "TOOL_NAME", "FENCED_MODE_NOTE", "AgentLoop",
    "ImagePart", "ModelAdapter", "ToolCall", "ToolOutcome", "TurnEnd", "fenced_code",
    "system_prompt", "tool_outcome",
]

MAX_RESULT_TEXT = 12_000         # characters of output sent back to the model per call
MAX_IMAGES_PER_RESULT = 4
MAX_IMAGE_BYTES = 3_750_000      # Converse's per-image limit; also kept for Chat Completions
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif")

FENCED_MODE_NOTE = ("(This model cannot call tools, so Agent Desk asked it for one ```python "
                    "block per turn and ran each block in the code interpreter.)")


# --- the system prompt ----------------------------------------------------------------------
def system_prompt(files_description: str, *, fenced: bool = False) -> str:
    how = (f"You can run Python code with the `{TOOL_NAME}` tool." if not fenced else
           "You can run Python code: write exactly one fenced ```python code block in a reply "
           "and it is run for you; its output comes back in the next message. Write no code "
           "block in your final answer.")
    parts = [
        "You are a data analyst working for the user inside Agent Desk. " + how,
        "How to work:\n"
        "- The working directory of the code holds the attached files; read each table with the "
        "code given for it below (it reads the file exactly as the user's Upload page did: "
        "delimiter, header rows, dates, numbers), then work on its `df`.\n"
        "- Save every chart as a PNG file (`plt.savefig(\"name.png\", dpi=110, "
        "bbox_inches=\"tight\")`) and every table you produce as a CSV file in the working "
        "directory; they are returned to the user. Do not call plt.show().\n"
        "- Print the numbers and short summaries you need to answer; output you do not print "
        "is not returned.\n"
        "- If the code fails, read the error, fix the code and try again.\n"
        "- When done, answer briefly in plain language: what you did, the key results, and "
        "the names of the files you wrote.",
    ]
    if files_description:
        parts.append("Attached data (in the working directory):\n" + files_description)
    else:
        parts.append("No files are attached. If the request needs data, generate it in code "
                     "or ask the user to attach a file.")
    return "\n\n".join(parts)


_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)```", re.S | re.I)


def fenced_code(text: str) -> tuple[str, str] | None:
    """(text before the first ```python block, its code), or None when there is none."""
    m = _FENCE.search(text)
    if m is None or not m.group(1).strip():
        return None
    return text[:m.start()].strip(), m.group(1)


# What a trace shows; without ``enable_trace`` only the answer, files, usage and failures
# come out (as with Bedrock Agents).
_TRACE_EVENTS = (Rationale, Reasoning, CodeInvocation, CodeOutput, CodeError, CodeTimeout,
                 FilesGenerated)


class AgentLoop:
    """A ``Backend`` over a :class:`ModelAdapter`: ``invoke(request)`` yields AgentEvents,
    never raises for service failures."""

    name = "loop"

    def __init__(self, settings: Settings, adapter: ModelAdapter, *,
                 executor: CodeExecutor | None = None, pool: Any = None,
                 fenced: bool = False) -> None:
        self.settings = settings
        self.adapter = adapter
        self._executor = executor
        self._pool = pool
        self._owns_pool = False
        self._fenced = fenced  # the model takes no tools: ask for code blocks
        self._history: dict[str, list[dict[str, Any]]] = {}
        self._session_files: dict[str, dict[str, tuple[str, AttachedFile]]] = {}
        self._descriptions: dict[str, str] = {}
        self._lock = threading.Lock()

    # --- collaborators, made on first use ---------------------------------------
    @property
    def executor(self) -> CodeExecutor:
        if self._executor is None:
            if self.settings.code_executor == "agentcore":
                self._executor = AgentCoreExecutor(self.settings)
            else:
                if self._pool is None:
                    from agent_core.interpreter.pool import KernelPool

                    self._pool = KernelPool(self.settings)
                    self._owns_pool = True
                self._executor = LocalKernelExecutor(self._pool)
        return self._executor

    def history(self, session_id: str) -> list[dict[str, Any]]:
        """A copy of the conversation kept for ``session_id`` (the adapter's messages)."""
        return list(self._history.get(session_id, []))

    # --- Backend protocol ----------------------------------------------------------
    def reset_session(self, session_id: str) -> None:
        with self._lock:
            self._history.pop(session_id, None)
            self._session_files.pop(session_id, None)
        if self._executor is not None or self._pool is not None:
            with contextlib.suppress(Exception):  # a reset must not fail the UI
                self.executor.reset(session_id)

    def close(self) -> None:
        """Stop what this agent started: AgentCore sessions, or the kernel pool it made."""
        executor, self._executor = self._executor, None
        close = getattr(executor, "close", None)
        if callable(close):
            close()
        if self._pool is not None and isinstance(executor, LocalKernelExecutor) and self._owns_pool:
            self._pool.shutdown()

    def invoke(self, request: AgentRequest) -> Iterator[AgentEvent]:
        try:
            for event in self._run(request):
                if request.enable_trace or not isinstance(event, _TRACE_EVENTS):
                    yield event
        except Exception as exc:  # noqa: BLE001 - the protocol: failures end the stream
            from agent_core.backends.aws import scrub

            yield AgentFailure(
                kind="internal",
                message=f"The agent stopped unexpectedly ({type(exc).__name__}: "
                        f"{scrub(str(exc))[:300]}). Retry; if it happens again, start a new session.",
                source=self.adapter.source)
        finally:
            if request.end_session:
                self.reset_session(request.session_id)

    # --- the loop --------------------------------------------------------------------
    def _run(self, request: AgentRequest) -> Iterator[AgentEvent]:
        s, adapter, source = self.settings, self.adapter, self.adapter.source
        failure = adapter.configuration_failure()
        if failure is not None:
            yield failure
            return
        started = time.monotonic()
        sid = request.session_id
        set_owner = getattr(getattr(self.executor, "pool", None), "set_owner", None)
        if set_owner is not None:  # a kernel of the pool: counted against the user's limit
            set_owner(sid, request.owner)
        try:
            new_files = self._new_files(sid, request.files)
            self.executor.start(sid)
            interrupt = getattr(self.executor, "interrupt", None)  # a local kernel can be interrupted
            if request.cancel is not None and callable(interrupt):
                request.cancel.on_cancel(lambda: interrupt(sid))
            if new_files:
                self.executor.put_files(sid, new_files)
            self._remember_files(sid, new_files)
        except ExecutorError as exc:
            yield AgentFailure(kind=exc.kind, message=str(exc), retryable=exc.retryable, source=source)
            return
        description = self._describe(sid)
        file_names = tuple(self._session_files.get(sid, {}))
        messages = self.history(sid) + [adapter.user_message(request.text or " ")]
        from agent_core.stream import StreamState

        state = StreamState()  # returned file names stay unique within the run
        tool_calls = 0
        turn = 0
        run_tag = secrets.token_hex(3)  # step ids unique across runs (like Bedrock's trace ids)
        while True:
            if _cancelled(request.cancel):
                return  # Stop: the loop ends after the current call
            turn += 1
            step_id = f"cv-{run_tag}-{turn}"
            if time.monotonic() - started > s.max_wall_seconds:
                yield self._bound("max_wall_seconds", sid, messages, step_id)
                return
            end: TurnEnd | None = None
            retried: set[str] = set()
            while True:
                fenced = self._fenced
                system = system_prompt(description, fenced=fenced)
                said_something = False
                try:
                    for item in adapter.stream_turn(system, messages, step_id, tools=not fenced,
                                                    cancel=request.cancel):
                        if isinstance(item, TurnEnd):
                            end = item
                        else:
                            said_something = True
                            yield item
                    break
                except Exception as exc:  # noqa: BLE001 - service / network / in-stream errors
                    if _cancelled(request.cancel):
                        return  # a Stop closed the stream: not a failure
                    if not said_something and "tools" not in retried and not fenced \
                            and adapter.tools_refused(exc):
                        retried.add("tools")
                        self._fenced = True
                        continue
                    if not said_something and "images" not in retried and adapter.images_refused(exc):
                        retried.add("images")
                        messages = [adapter.compact(m) for m in messages]
                        continue
                    yield adapter.failure(exc, step_id)
                    return
            if end is None or not end.complete:
                yield AgentFailure(kind="broken_stream", retryable=True, step_id=step_id,
                                   source=source, message=(
                    "The model's response stream ended before the turn was complete. "
                    "What arrived is shown above; retry the request."))
                return
            messages.append(dict(end.message))
            calls = end.tool_calls
            if fenced:
                calls, answer = self._fenced_turn(end, step_id)
                yield from answer

            if end.stop_reason == "max_tokens":
                if not calls:
                    self._commit(sid, messages)
                yield AgentFailure(kind="max_tokens", step_id=step_id, source=source, message=(
                    f"The model reached the max_tokens bound ({s.max_tokens} tokens) in one turn, "
                    "so its answer is cut short. Raise AGENT_DESK_MAX_TOKENS (or ask for a "
                    "shorter answer) and retry."))
                return
            if not calls:
                self._commit(sid, messages)
                failure = adapter.stop_failure(end.stop_reason, step_id)
                if failure is not None:
                    yield failure
                return

            outcomes: list[ToolOutcome] = []
            for call in calls:
                if _cancelled(request.cancel):
                    return
                if tool_calls >= s.max_tool_calls:
                    yield self._bound("max_tool_calls", sid, messages[:-1], step_id)
                    return
                if time.monotonic() - started > s.max_wall_seconds:
                    yield self._bound("max_wall_seconds", sid, messages[:-1], step_id)
                    return
                tool_calls += 1
                remaining = s.max_wall_seconds - (time.monotonic() - started)
                done: list[ToolOutcome] = []
                failed = yield from self._run_tool(sid, call, step_id, state, file_names,
                                                   max(1.0, min(s.exec_timeout, remaining)), done)
                if failed is not None:
                    yield failed
                    return
                outcomes.extend(done)
            messages.extend(adapter.tool_results(outcomes, fenced=fenced))

    def _fenced_turn(self, end: TurnEnd, step_id: str
                     ) -> tuple[tuple[ToolCall, ...], list[AgentEvent]]:
        """A turn of a model without tools: its first ```python block is the tool call (the
        text before it, the rationale); a turn without one is the answer, with the note."""
        source = self.adapter.source
        found = fenced_code(end.text)
        if found is not None:
            before, code = found
            events: list[AgentEvent] = []
            if before:
                events.append(Rationale(text=before, step_id=step_id, source=source))
            call = ToolCall(f"block-{step_id}", TOOL_NAME, code, {"code": code})
            return (call,), events
        answer = (end.text.rstrip() + "\n\n" + FENCED_MODE_NOTE).lstrip()
        return (), [TextChunk(text=answer, step_id=step_id, source=source),
                    FinalResponse(text=answer, step_id=step_id, source=source)]

    def _run_tool(self, sid: str, call: ToolCall, step_id: str, state: Any,
                  file_names: tuple[str, ...], timeout: float,
                  outcome: list[ToolOutcome]) -> Generator[AgentEvent, None, AgentFailure | None]:
        """Yields the code events; appends the :class:`ToolOutcome` to ``outcome``.
        Returns an AgentFailure when the executor itself failed (ends the run)."""
        source = self.adapter.source
        if call.name != TOOL_NAME or call.input_error or call.code is None:
            problem = (f"Unknown tool {call.name!r}: the only tool is {TOOL_NAME}."
                       if call.name != TOOL_NAME else
                       call.input_error or f"{TOOL_NAME} needs a string field 'code'.")
            yield CodeError(text=problem, step_id=step_id, source=source)
            outcome.append(ToolOutcome(call, problem, is_error=True))
            return None
        code = call.code
        yield CodeInvocation(code=code, files=file_names, step_id=step_id, source=source)
        try:
            execution = self.executor.run(sid, code, timeout=timeout)
        except ExecutorError as exc:
            return AgentFailure(kind=exc.kind, message=str(exc), retryable=exc.retryable,
                                step_id=step_id, source=source)
        events = execution_events(execution, step_id=step_id, source=source, state=state)
        yield from events
        outcome.append(tool_outcome(call, execution, events))
        return None

    # --- helpers ---------------------------------------------------------------------
    def _bound(self, which: str, sid: str, answered: list[dict[str, Any]], step_id: str) -> AgentFailure:
        s = self.settings
        if which == "max_tool_calls":
            text = (f"Stopped after {s.max_tool_calls} code runs (the max_tool_calls bound) before "
                    "the model finished. The results so far are shown above. To allow more, raise "
                    "AGENT_DESK_MAX_TOOL_CALLS; or ask a narrower question.")
        else:
            text = (f"Stopped after {s.max_wall_seconds:g} s (the max_wall_seconds bound) before "
                    "the model finished. The results so far are shown above. To allow longer runs, "
                    "raise AGENT_DESK_MAX_WALL_SECONDS.")
        # keep what was answered, closed by a note, so a follow-up can build on it
        if answered and answered[-1].get("role") in ("user", "tool"):
            self._commit(sid, answered + [self.adapter.note(f"({text})")])
        return AgentFailure(kind=which, message=text, retryable=False, step_id=step_id,
                            source=self.adapter.source)

    def _commit(self, sid: str, messages: list[dict[str, Any]]) -> None:
        """Keep the conversation for follow-ups; charts already seen are kept as a note, not
        as image bytes, so the history stays small."""
        kept = [self.adapter.compact(m) for m in messages]
        with self._lock:
            self._history[sid] = kept

    def _new_files(self, sid: str, files: tuple[AttachedFile, ...]) -> list[AttachedFile]:
        """Files of this request not yet in the session's working directory."""
        known = self._session_files.get(sid, {})
        return [f for f in files if known.get(f.name, ("",))[0] != _digest(f)]

    def _remember_files(self, sid: str, files: list[AttachedFile]) -> None:
        known = self._session_files.setdefault(sid, {})
        for f in files:
            known[f.name] = (_digest(f), f)

    def _describe(self, sid: str) -> str:
        parts = []
        for name, (digest, f) in sorted(self._session_files.get(sid, {}).items()):
            key = f"{name}:{digest}:{f.sheet}"
            if key not in self._descriptions:
                self._descriptions[key] = describe_files([f])
            parts.append(self._descriptions[key])
        return "\n".join(parts)


def _cancelled(token: CancelToken | None) -> bool:
    return token is not None and token.cancelled


def _digest(f: AttachedFile) -> str:
    return hashlib.sha256(f.data).hexdigest()


def clip(text: str, limit: int = MAX_RESULT_TEXT) -> str:
    if len(text) <= limit:
        return text
    return text[: limit // 2] + f"\n... ({len(text) - limit:,} characters cut) ...\n" + text[-limit // 2:]


def tool_outcome(call: ToolCall, execution: Execution, events: list[AgentEvent]) -> ToolOutcome:
    """What the model is told about one run: output, error, files written (names as the user
    got them) and up to :data:`MAX_IMAGES_PER_RESULT` charts."""
    lines: list[str] = []
    output = output_text(execution)
    if output.strip():
        lines.append("Output:\n" + clip(output))
    error = error_text(execution)
    if execution.timed_out:
        lines.append("Timeout: " + (execution.notice or "The code run hit the time limit and was stopped."))
    elif error is not None:
        lines.append("Error:\n" + clip(error))
    elif execution.notice:
        lines.append("Note: " + execution.notice)
    returned = [e.file for e in events if isinstance(e, FileReturned)]
    file_lines = [f"- {f.name} ({f.size:,} bytes)" for f in returned]
    file_lines += [f"- {name} (too large to return)" for name in returnable(execution)[1]]
    images: list[ImagePart] = []
    for f in returned:
        kind = sniff_type(f.data[:16]) if f.data else ""
        if kind in IMAGE_TYPES and len(images) < MAX_IMAGES_PER_RESULT and 0 < f.size <= MAX_IMAGE_BYTES:
            images.append(ImagePart(name=f.name, media_type=kind, data=f.data))
    if file_lines:
        lines.append("Files written (returned to the user):\n" + "\n".join(file_lines))
    if not lines:
        lines.append("The code ran without output. Print the values you need.")
    return ToolOutcome(call, "\n\n".join(lines), tuple(images),
                       is_error=execution.timed_out or execution.error is not None)
