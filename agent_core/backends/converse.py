"""``ConverseAgent``: the app's own agent loop over Bedrock Runtime ``ConverseStream``.

For any AWS account with Bedrock model access (no Bedrock Agent to build). The
model gets one tool, ``execute_python(code)``; each call runs in a code
executor (the local Jupyter kernel or the AgentCore Code Interpreter, see
:mod:`agent_core.backends.executors`) and its result goes back to the model as
a ``toolResult`` (text output, error, new files, PNG charts as images), until
the model ends its turn or a bound (tool calls, wall time, tokens) is hit.
Conversation history is kept per session, so follow-ups work.
"""
from __future__ import annotations

import hashlib
import secrets
import threading
import time
from typing import Any, Iterator, Mapping

from agent_core.backends.base import AgentRequest
from agent_core.backends.converse_stream import SOURCE, ToolCall, TurnEnd, parse_converse_stream
from agent_core.backends.data_context import describe_files
from agent_core.backends.executors import (
    AgentCoreExecutor, CodeExecutor, ExecutorError, LocalKernelExecutor, _make_client,
)
from agent_core.config import Settings
from agent_core.events import (
    AgentEvent, AgentFailure, CodeError, CodeInvocation, CodeOutput, CodeTimeout, FileReturned,
    FilesGenerated, Rationale, Reasoning,
)
from agent_core.files import AttachedFile, NameDeduper, ReturnedFile, UnsafeNameError, safe_name, sniff_type
from agent_core.interpreter.models import Execution

TOOL_NAME = "execute_python"
MAX_RESULT_TEXT = 12_000         # characters of output sent back to the model per call
MAX_IMAGES_PER_RESULT = 4
MAX_IMAGE_BYTES = 3_750_000      # Converse's per-image limit
_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif"}

TOOL_SPEC = {
    "toolSpec": {
        "name": TOOL_NAME,
        "description": (
            "Run Python 3 code in a persistent Jupyter kernel. Variables, imports and files "
            "persist between calls within the session. The working directory holds the attached "
            "files. pandas, numpy and matplotlib are available. Print the results you want to "
            "see; save charts as PNG files and tables as CSV files in the working directory: "
            "they are returned to the user, and PNGs are shown to you."
        ),
        "inputSchema": {"json": {
            "type": "object",
            "properties": {"code": {"type": "string", "description": "The Python code to run."}},
            "required": ["code"],
        }},
    }
}


def system_prompt(files_description: str) -> str:
    parts = [
        "You are a data analyst working for the user inside Agent Desk. You can run Python code "
        f"with the `{TOOL_NAME}` tool.",
        "How to work:\n"
        "- The working directory of the code holds the attached files; read them by file name "
        "(for example `pd.read_csv(\"prices.csv\")`).\n"
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


# What a trace shows; without ``enable_trace`` only the answer, files, usage and failures
# come out (as with Bedrock Agents).
_TRACE_EVENTS = (Rationale, Reasoning, CodeInvocation, CodeOutput, CodeError, CodeTimeout,
                 FilesGenerated)


class ConverseAgent:
    """A ``Backend``: ``invoke(request)`` yields AgentEvents, never raises for service failures."""

    name = "converse"

    def __init__(self, settings: Settings, *, executor: CodeExecutor | None = None,
                 pool: Any = None, client: Any = None) -> None:
        self.settings = settings
        self._executor = executor
        self._pool = pool
        self._owns_pool = False
        self._client = client
        self._history: dict[str, list[dict[str, Any]]] = {}
        self._session_files: dict[str, dict[str, tuple[str, AttachedFile]]] = {}
        self._descriptions: dict[str, str] = {}
        self._lock = threading.Lock()

    # --- collaborators, made on first use ---------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = _make_client("bedrock-runtime", self.settings)
        return self._client

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
        """A copy of the conversation kept for ``session_id`` (Converse messages)."""
        return list(self._history.get(session_id, []))

    # --- Backend protocol ----------------------------------------------------------
    def reset_session(self, session_id: str) -> None:
        with self._lock:
            self._history.pop(session_id, None)
            self._session_files.pop(session_id, None)
        if self._executor is not None or self._pool is not None:
            try:
                self.executor.reset(session_id)
            except Exception:  # noqa: BLE001 - a reset must not fail the UI
                pass

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
            yield AgentFailure(
                kind="internal",
                message=f"The Converse agent stopped unexpectedly ({type(exc).__name__}: "
                        f"{_scrub(exc)}). Retry; if it happens again, start a new session.",
                source=SOURCE)
        finally:
            if request.end_session:
                self.reset_session(request.session_id)

    # --- the loop --------------------------------------------------------------------
    def _run(self, request: AgentRequest) -> Iterator[AgentEvent]:
        s = self.settings
        if not s.model_id:
            yield AgentFailure(kind="configuration", source=SOURCE, message=(
                "No model is set for the Converse backend. Set BEDROCK_MODEL_ID to a model or "
                "inference profile id you have access to (e.g. us.anthropic.claude-sonnet-4-...)."))
            return
        started = time.monotonic()
        sid = request.session_id
        try:
            new_files = self._new_files(sid, request.files)
            self.executor.start(sid)
            if new_files:
                self.executor.put_files(sid, new_files)
            self._remember_files(sid, new_files)
        except ExecutorError as exc:
            yield AgentFailure(kind=exc.kind, message=str(exc), retryable=exc.retryable, source=SOURCE)
            return
        system = system_prompt(self._describe(sid))
        file_names = tuple(self._session_files.get(sid, {}))
        history = self.history(sid)
        messages = history + [{"role": "user", "content": [{"text": request.text or " "}]}]
        deduper = NameDeduper()
        tool_calls = 0
        turn = 0
        run_tag = secrets.token_hex(3)  # step ids unique across runs (like Bedrock's trace ids)
        while True:
            turn += 1
            step_id = f"cv-{run_tag}-{turn}"
            if time.monotonic() - started > s.max_wall_seconds:
                yield self._bound("max_wall_seconds", sid, messages, step_id)
                return
            end: TurnEnd | None = None
            try:
                response = self.client.converse_stream(
                    modelId=s.model_id, system=[{"text": system}], messages=messages,
                    toolConfig={"tools": [TOOL_SPEC]},
                    inferenceConfig={"maxTokens": int(s.max_tokens)},
                )
                for item in parse_converse_stream(response["stream"], step_id=step_id):
                    if isinstance(item, TurnEnd):
                        end = item
                    else:
                        yield item
            except Exception as exc:  # noqa: BLE001 - service / network / in-stream errors
                yield converse_failure(exc, model_id=s.model_id, step_id=step_id)
                return
            if end is None or not end.complete:
                yield AgentFailure(kind="broken_stream", retryable=True, step_id=step_id,
                                   source=SOURCE, message=(
                    "The model's response stream ended before the turn was complete. "
                    "What arrived is shown above; retry the request."))
                return
            content = list(end.message.get("content") or [])
            messages.append({"role": "assistant", "content": content or [{"text": "(no answer)"}]})

            if end.stop_reason == "max_tokens":
                if not end.tool_calls:
                    self._commit(sid, messages)
                yield AgentFailure(kind="max_tokens", step_id=step_id, source=SOURCE, message=(
                    f"The model reached the max_tokens bound ({s.max_tokens} tokens) in one turn, "
                    "so its answer is cut short. Raise AGENT_DESK_MAX_TOKENS (or ask for a "
                    "shorter answer) and retry."))
                return
            if not end.tool_calls:
                self._commit(sid, messages)
                failure = _stop_reason_failure(end.stop_reason, step_id)
                if failure is not None:
                    yield failure
                return

            results: list[dict[str, Any]] = []
            for call in end.tool_calls:
                if tool_calls >= s.max_tool_calls:
                    yield self._bound("max_tool_calls", sid, messages[:-1], step_id)
                    return
                if time.monotonic() - started > s.max_wall_seconds:
                    yield self._bound("max_wall_seconds", sid, messages[:-1], step_id)
                    return
                tool_calls += 1
                remaining = s.max_wall_seconds - (time.monotonic() - started)
                outcome: list[dict[str, Any]] = []
                failed = yield from self._run_tool(sid, call, step_id, deduper, file_names,
                                                   max(1.0, min(s.exec_timeout, remaining)), outcome)
                if failed is not None:
                    yield failed
                    return
                results.append(outcome[0])
            messages.append({"role": "user", "content": results})

    def _run_tool(self, sid: str, call: ToolCall, step_id: str, deduper: NameDeduper,
                  file_names: tuple[str, ...], timeout: float,
                  outcome: list[dict[str, Any]]) -> Iterator[AgentEvent]:
        """Yields the code events; appends the toolResult block to ``outcome``.
        Returns an AgentFailure when the executor itself failed (ends the run)."""
        if call.name != TOOL_NAME or call.input_error or call.code is None:
            problem = (f"Unknown tool {call.name!r}: the only tool is {TOOL_NAME}."
                       if call.name != TOOL_NAME else
                       call.input_error or f"{TOOL_NAME} needs a string field 'code'.")
            yield CodeError(text=problem, step_id=step_id, source=SOURCE)
            outcome.append(_tool_result(call.tool_use_id, [{"text": problem}], error=True))
            return None
        code = call.code
        yield CodeInvocation(code=code, files=file_names, step_id=step_id, source=SOURCE)
        try:
            execution = self.executor.run(sid, code, timeout=timeout)
        except ExecutorError as exc:
            return AgentFailure(kind=exc.kind, message=str(exc), retryable=exc.retryable,
                                step_id=step_id, source=SOURCE)
        events, blocks, is_error = _execution_report(execution, deduper, step_id)
        for event in events:
            yield event
        outcome.append(_tool_result(call.tool_use_id, blocks, error=is_error))
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
        if answered and answered[-1].get("role") == "user":
            self._commit(sid, answered + [{"role": "assistant", "content": [{"text": f"({text})"}]}])
        return AgentFailure(kind=which, message=text, retryable=False, step_id=step_id, source=SOURCE)

    def _commit(self, sid: str, messages: list[dict[str, Any]]) -> None:
        """Keep the conversation for follow-ups; charts already seen are kept as a note, not
        as image bytes, so the history stays small."""
        kept = [_without_images(m) for m in messages]
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
            key = f"{name}:{digest}"
            if key not in self._descriptions:
                self._descriptions[key] = describe_files([f])
            parts.append(self._descriptions[key])
        return "\n".join(parts)


def _scrub(exc: BaseException) -> str:
    from agent_core.backends.aws import scrub

    return scrub(str(exc))[:300]


def _digest(f: AttachedFile) -> str:
    return hashlib.sha256(f.data).hexdigest()


def _without_images(message: dict[str, Any]) -> dict[str, Any]:
    if message.get("role") != "user":
        return message
    content = []
    for block in message.get("content", []):
        result = block.get("toolResult")
        if result and any("image" in b for b in result.get("content", [])):
            n = sum("image" in b for b in result["content"])
            inner = [b for b in result["content"] if "image" not in b]
            inner.append({"text": f"({n} chart image(s) were shown here; omitted from the history)"})
            block = {"toolResult": {**result, "content": inner}}
        content.append(block)
    return {**message, "content": content}


def _tool_result(tool_use_id: str, content: list[dict[str, Any]], *, error: bool) -> dict[str, Any]:
    return {"toolResult": {"toolUseId": tool_use_id, "content": content,
                           "status": "error" if error else "success"}}


def _clip(text: str, limit: int = MAX_RESULT_TEXT) -> str:
    if len(text) <= limit:
        return text
    return text[: limit // 2] + f"\n... ({len(text) - limit:,} characters cut) ...\n" + text[-limit // 2:]


def _execution_report(execution: Execution, deduper: NameDeduper, step_id: str
                      ) -> tuple[list[AgentEvent], list[dict[str, Any]], bool]:
    """Events for the UI and the toolResult content blocks for the model."""
    events: list[AgentEvent] = []
    lines: list[str] = []
    output = execution.stdout or ""
    if execution.stderr:
        output = (output + ("\n" if output and not output.endswith("\n") else "")
                  + execution.stderr)
    if output.strip():
        events.append(CodeOutput(text=output, step_id=step_id, source=SOURCE))
        lines.append("Output:\n" + _clip(output))
    is_error = False
    if execution.timed_out:
        is_error = True
        message = execution.notice or "The code run hit the time limit and was stopped."
        events.append(CodeTimeout(message=message, step_id=step_id, source=SOURCE))
        lines.append("Timeout: " + message)
    elif execution.error is not None:
        is_error = True
        err = execution.error
        text = err.traceback or f"{err.name}: {err.value}"
        events.append(CodeError(text=text, step_id=step_id, source=SOURCE))
        lines.append("Error:\n" + _clip(text))
    if execution.notice and not execution.timed_out:
        events.append(CodeOutput(text=execution.notice, step_id=step_id, source=SOURCE))
        lines.append("Note: " + execution.notice)
    names: list[str] = []
    images: list[dict[str, Any]] = []
    returned: list[AgentEvent] = []
    file_lines: list[str] = []
    for f in execution.files:
        try:
            clean = safe_name(f.name)
        except UnsafeNameError:
            clean = "file"
        name = deduper.unique(clean)
        names.append(name)
        if f.truncated:
            file_lines.append(f"- {f.name} (too large to return)")
            continue
        file_lines.append(f"- {f.name} ({len(f.data):,} bytes)")
        returned.append(FileReturned(file=ReturnedFile(name=name, declared_type=f.media_type,
                                                       data=f.data),
                                     step_id=step_id, source=SOURCE))
        fmt = _IMAGE_FORMATS.get(sniff_type(f.data[:16]) if f.data else "")
        if fmt and len(images) < MAX_IMAGES_PER_RESULT and 0 < len(f.data) <= MAX_IMAGE_BYTES:
            images.append({"image": {"format": fmt, "source": {"bytes": f.data}}})
    if names:
        events.append(FilesGenerated(names=tuple(names), step_id=step_id, source=SOURCE))
        events.extend(returned)
        lines.append("Files written (returned to the user):\n" + "\n".join(file_lines))
    if not lines:
        lines.append("The code ran without output. Print the values you need.")
    blocks: list[dict[str, Any]] = [{"text": "\n\n".join(lines)}] + images
    return events, blocks, is_error


def _stop_reason_failure(stop_reason: str | None, step_id: str) -> AgentFailure | None:
    messages = {
        "guardrail_intervened": ("guardrail", "A guardrail stopped the model's answer. Rephrase "
                                 "the request, or review the guardrail's policy."),
        "content_filtered": ("content_filtered", "The model's answer was filtered by content "
                             "moderation. Rephrase the request."),
        "malformed_model_output": ("model_error", "The model produced output Bedrock could not "
                                   "read. Retry, or try another model (BEDROCK_MODEL_ID)."),
        "malformed_tool_use": ("model_error", "The model produced an invalid tool call. Retry, "
                               "or try another model (BEDROCK_MODEL_ID)."),
        "model_context_window_exceeded": ("context_too_long", "The conversation no longer fits "
                                          "the model's context window. Start a new session "
                                          "(history is dropped) and ask again."),
    }
    if stop_reason in messages:
        kind, text = messages[stop_reason]
        return AgentFailure(kind=kind, message=text, step_id=step_id, source=SOURCE)
    return None


_CODES: dict[str, tuple[str, bool, str]] = {
    "throttlingexception": ("throttling", True, "Bedrock is throttling requests to {model} "
                            "(too many requests or tokens per minute). Wait a minute and retry, "
                            "or ask for a quota increase."),
    "modelnotreadyexception": ("model_not_ready", True, "The model {model} is not ready yet "
                               "(it may be loading). Wait a moment and retry."),
    "accessdeniedexception": ("access_denied", False, "Access denied to the model {model}. Enable "
                              "model access for it in the Bedrock console (Model access) and allow "
                              "bedrock:InvokeModelWithResponseStream for your AWS identity."),
    "validationexception": ("validation", False, "Bedrock rejected the request for {model}: "
                            "{detail}. If the conversation is too long for the model, start a new "
                            "session; check that BEDROCK_MODEL_ID is a model that supports tool use "
                            "in streaming."),
    "resourcenotfoundexception": ("not_found", False, "The model {model} was not found in this "
                                  "region. Check BEDROCK_MODEL_ID and AWS_REGION (some models need "
                                  "an inference profile id such as us.<model-id>)."),
    "modeltimeoutexception": ("timeout", True, "The model {model} took too long to answer. Retry."),
    "modelerrorexception": ("model_error", True, "The model {model} returned an error: {detail}. "
                            "Retry."),
    "modelstreamerrorexception": ("broken_stream", True, "The model's response stream broke: "
                                  "{detail}. What arrived is shown above; retry."),
    "serviceunavailableexception": ("service_unavailable", True, "Bedrock is unavailable right "
                                    "now. Retry in a minute."),
    "internalserverexception": ("internal_server", True, "Bedrock had an internal error. Retry."),
}


def converse_failure(exc: BaseException, *, model_id: str | None = None,
                     step_id: str | None = None) -> AgentFailure:
    """Any exception from ``converse_stream`` (before or during the stream) -> AgentFailure."""
    response = getattr(exc, "response", None)
    code = detail = None
    if isinstance(response, Mapping):
        err = response.get("Error") or {}
        code, detail = err.get("Code"), err.get("Message")
    if code and code.lower() in _CODES:
        from agent_core.backends.aws import scrub

        kind, retryable, text = _CODES[code.lower()]
        return AgentFailure(kind=kind, retryable=retryable, step_id=step_id, source=SOURCE,
                            message=text.format(model=model_id or "(no model id)",
                                                detail=scrub(detail or code)[:500]))
    if _is_broken_stream(exc):
        return AgentFailure(kind="broken_stream", retryable=True, step_id=step_id, source=SOURCE,
                            message="The connection broke while the model was answering. What "
                                    "arrived is shown above; retry the request.")
    from agent_core.backends.aws import failure_from_exception

    failure = failure_from_exception(exc, action="ConverseStream")
    return AgentFailure(kind=failure.kind, message=failure.message, retryable=failure.retryable,
                        step_id=step_id, source=SOURCE)


def _is_broken_stream(exc: BaseException) -> bool:
    """A connection that died mid-stream (urllib3 / http.client errors surface raw there)."""
    import http.client

    from botocore.exceptions import ResponseStreamingError
    from urllib3.exceptions import ProtocolError, ReadTimeoutError as Urllib3ReadTimeout

    return isinstance(exc, (ProtocolError, http.client.IncompleteRead, ResponseStreamingError,
                            ConnectionResetError)) and not isinstance(exc, Urllib3ReadTimeout)
