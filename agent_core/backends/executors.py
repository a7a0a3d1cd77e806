"""Where the Converse agent's ``execute_python`` tool runs: one small protocol, two executors.

- :class:`LocalKernelExecutor`: the session's Jupyter kernel from the local
  interpreter (``agent_core.interpreter.pool.KernelPool``).
- :class:`AgentCoreExecutor`: the AWS-managed AgentCore Code Interpreter
  (boto3 ``bedrock-agentcore``: ``start_code_interpreter_session``,
  ``invoke_code_interpreter`` with ``writeFiles`` / ``executeCode`` /
  ``listFiles`` / ``readFiles``, ``stop_code_interpreter_session``).

Both return :class:`agent_core.interpreter.models.Execution`. Service failures
raise :class:`ExecutorError` with a message that says what to do.
"""
from __future__ import annotations

import contextlib
import mimetypes
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol, runtime_checkable

from agent_core.config import Settings
from agent_core.failures import ExecutorError, executor_error
from agent_core.files import MAX_RETURNED_FILE_BYTES, AttachedFile, safe_name, sniff_type
from agent_core.interpreter.models import Execution, ExecutionError, OutputFile

AGENTCORE_INTERPRETER_ID = "aws.codeinterpreter.v1"


@runtime_checkable
class CodeExecutor(Protocol):
    name: str

    def start(self, session_id: str) -> None: ...

    def put_files(self, session_id: str, files: Sequence[AttachedFile]) -> None: ...

    def run(self, session_id: str, code: str, timeout: float | None = None) -> Execution: ...

    def reset(self, session_id: str) -> None: ...


# --- local kernel --------------------------------------------------------------
class LocalKernelExecutor:
    """The session's Jupyter kernel (``KernelPool``): state and files persist per session."""

    name = "local"

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def start(self, session_id: str) -> None:
        starter = getattr(self.pool, "start", None) or getattr(self.pool, "get", None)
        if callable(starter):
            starter(session_id)

    def put_files(self, session_id: str, files: Sequence[AttachedFile]) -> None:
        if files:
            try:
                self.pool.put_files(session_id, list(files))
            except (ValueError, OSError) as exc:
                raise ExecutorError(f"Could not put the attached files into the session's "
                                    f"working folder: {exc}", kind="executor", cause=exc) from None

    def run(self, session_id: str, code: str, timeout: float | None = None) -> Execution:
        try:
            return self.pool.execute(session_id, code, timeout=timeout)
        except (ValueError, OSError) as exc:
            raise ExecutorError(f"The local code interpreter could not run the code: {exc}. "
                                "Start a new session and retry.", kind="executor", cause=exc) from None

    def interrupt(self, session_id: str) -> None:
        """A Stop: interrupt the code running now; the kernel and its variables stay."""
        self.pool.interrupt(session_id)

    def reset(self, session_id: str) -> None:
        self.pool.reset(session_id)


# --- AgentCore Code Interpreter -------------------------------------------------
class AgentCoreExecutor:
    """The AgentCore Code Interpreter, one interpreter session per agent session."""

    name = "agentcore"

    def __init__(self, settings: Settings, *, client: Any = None,
                 interpreter_id: str = AGENTCORE_INTERPRETER_ID,
                 session_timeout_seconds: int = 3600) -> None:
        self.settings = settings
        self.interpreter_id = interpreter_id
        self.session_timeout_seconds = session_timeout_seconds
        self._client = client
        self._sessions: dict[str, str] = {}  # agent session id -> interpreter session id
        self._files: dict[str, list[AttachedFile]] = {}  # re-written if a session expires
        self._restarted: set[str] = set()
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            settings = self.settings
            if os.environ.get("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE"):
                # boto3's service-specific endpoint variable wins over BEDROCK_ENDPOINT_URL
                settings = replace(settings, endpoint_url=None)
            self._client = _make_client("bedrock-agentcore", settings)
        return self._client

    # protocol ---------------------------------------------------------------
    def start(self, session_id: str) -> None:
        self._session(session_id)

    def put_files(self, session_id: str, files: Sequence[AttachedFile]) -> None:
        if not files:
            return
        kept = {f.name: f for f in self._files.get(session_id, [])}
        kept.update({f.name: f for f in files})
        self._files[session_id] = list(kept.values())
        self._invoke(session_id, "writeFiles", _write_arguments(files),
                     action="write the attached files")

    def run(self, session_id: str, code: str, timeout: float | None = None) -> Execution:
        start = time.monotonic()
        before = self._listing(session_id)
        result = self._invoke(session_id, "executeCode", {"language": "python", "code": code},
                              action="run the code")
        execution = execution_from_result(result, duration=time.monotonic() - start)
        after = self._listing(session_id)
        changed = [path for path, sig in after.items() if before.get(path) != sig]
        files = list(execution.files) + self._read(session_id, changed)
        notice = None
        if session_id in self._restarted:
            self._restarted.discard(session_id)
            notice = ("The AgentCore interpreter session had ended (timeout); a new one was "
                      "started with the attached files: variables in memory were lost.")
        return Execution(stdout=execution.stdout, stderr=execution.stderr, error=execution.error,
                         files=tuple(files), timed_out=execution.timed_out,
                         kernel_restarted=notice is not None, notice=notice,
                         duration_seconds=time.monotonic() - start)

    def reset(self, session_id: str) -> None:
        with self._lock:
            interpreter_session = self._sessions.pop(session_id, None)
            self._files.pop(session_id, None)
        if interpreter_session is None:
            return
        with contextlib.suppress(Exception):  # noqa: BLE001 - a session that is already gone is fine
            self.client.stop_code_interpreter_session(
                codeInterpreterIdentifier=self.interpreter_id, sessionId=interpreter_session)

    def close(self) -> None:
        for session_id in list(self._sessions):
            self.reset(session_id)

    # helpers ------------------------------------------------------------------
    def _session(self, session_id: str) -> str:
        with self._lock:
            existing = self._sessions.get(session_id)
        if existing:
            return existing
        try:
            response = self.client.start_code_interpreter_session(
                codeInterpreterIdentifier=self.interpreter_id,
                name=_session_name(session_id),
                sessionTimeoutSeconds=self.session_timeout_seconds,
            )
        except Exception as exc:  # noqa: BLE001
            raise _executor_error(exc, "start an AgentCore Code Interpreter session") from None
        interpreter_session = response["sessionId"]
        with self._lock:
            self._sessions[session_id] = interpreter_session
        return interpreter_session

    def _invoke(self, session_id: str, name: str, arguments: Mapping[str, Any], *,
                action: str, retry: bool = True) -> dict[str, Any]:
        interpreter_session = self._session(session_id)
        try:
            response = self.client.invoke_code_interpreter(
                codeInterpreterIdentifier=self.interpreter_id, sessionId=interpreter_session,
                name=name, arguments=dict(arguments))
            return merge_results(response["stream"])
        except Exception as exc:  # noqa: BLE001
            error = _executor_error(exc, action)
        if error.kind != "session_expired" or not retry:
            raise error
        # The interpreter session timed out or was stopped: start a new one, write the
        # attached files again, and retry once (``run`` tells the user state was lost).
        with self._lock:
            if self._sessions.get(session_id) == interpreter_session:
                del self._sessions[session_id]
        self._restarted.add(session_id)
        files = self._files.get(session_id)
        if files:  # every file attached so far (a failed writeFiles' files are among them)
            written = self._invoke(session_id, "writeFiles", _write_arguments(files),
                                   action="write the attached files again", retry=False)
            if name == "writeFiles":
                return written
        return self._invoke(session_id, name, arguments, action=action, retry=False)

    def _listing(self, session_id: str) -> dict[str, tuple[Any, ...]]:
        result = self._invoke(session_id, "listFiles", {"directoryPath": "."},
                              action="list the interpreter's files")
        listing: dict[str, tuple[Any, ...]] = {}
        for block in result.get("content", []):
            if block.get("type") not in ("resource_link", "resource"):
                continue
            path = _path_of(block)
            if not path or path.endswith("/") or block.get("mimeType") == "inode/directory":
                continue
            listing[path] = (block.get("size"), block.get("description"))
        return listing

    def _read(self, session_id: str, paths: Iterable[str]) -> list[OutputFile]:
        paths = sorted(paths)
        if not paths:
            return []
        result = self._invoke(session_id, "readFiles", {"paths": paths},
                              action="read the files the code wrote")
        out: list[OutputFile] = []
        for block in result.get("content", []):
            resource = block.get("resource") if block.get("type") == "resource" else None
            if resource is None and block.get("type") != "resource":
                continue
            resource = resource or {}
            path = resource.get("uri") or _path_of(block)
            if resource.get("blob") is not None:
                data = bytes(resource["blob"])
            elif resource.get("text") is not None:
                data = str(resource["text"]).encode("utf-8")
            elif block.get("data") is not None:
                data = bytes(block["data"])
            else:
                data = str(block.get("text") or "").encode("utf-8")
            name = safe_name(_strip_uri(path or "file"))
            truncated = len(data) > MAX_RETURNED_FILE_BYTES
            out.append(OutputFile(name=name, media_type=resource.get("mimeType") or block.get("mimeType")
                                  or sniff_type(data), data=b"" if truncated else data,
                                  truncated=truncated))
        return out


def _write_arguments(files: Iterable[AttachedFile]) -> dict[str, Any]:
    """``writeFiles`` arguments: text files as ``text``, anything else as ``blob``."""
    content = []
    for f in files:
        entry: dict[str, Any] = {"path": safe_name(f.name)}
        if _is_text(f):
            entry["text"] = f.data.decode("utf-8")
        else:
            entry["blob"] = f.data
        content.append(entry)
    return {"content": content}


def merge_results(stream: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``result`` events of one ``InvokeCodeInterpreter`` stream merged into one dict.

    Modelled in-stream exceptions arrive as boto3 ``EventStreamError`` and propagate."""
    content: list[dict[str, Any]] = []
    structured: dict[str, Any] = {}
    is_error = False
    for event in stream:
        result = event.get("result")
        if result is None:
            continue
        content.extend(result.get("content") or [])
        for key, value in (result.get("structuredContent") or {}).items():
            if key in ("stdout", "stderr") and structured.get(key):
                structured[key] += value
            else:
                structured[key] = value
        is_error = is_error or bool(result.get("isError"))
    return {"content": content, "structuredContent": structured, "isError": is_error}


def execution_from_result(result: Mapping[str, Any], *, duration: float = 0.0) -> Execution:
    """An ``executeCode`` result (``content``, ``structuredContent``, ``isError``) -> Execution."""
    structured = result.get("structuredContent") or {}
    texts = [b.get("text") or "" for b in result.get("content", []) if b.get("type") == "text"]
    stdout = structured.get("stdout")
    stderr = structured.get("stderr") or ""
    if stdout is None:
        stdout = "" if result.get("isError") else "\n".join(t for t in texts if t)
    exit_code = structured.get("exitCode")
    failed = bool(result.get("isError")) or (exit_code not in (None, 0))
    error = None
    timed_out = False
    if failed:
        detail = stderr or "\n".join(t for t in texts if t) or f"exit code {exit_code}"
        name, value = _last_exception(detail)
        timed_out = "timed out" in detail.lower() or name == "TimeoutError"
        error = ExecutionError(name=name, value=value, traceback=detail)
    files = []
    for i, block in enumerate(b for b in result.get("content", []) if b.get("type") == "image"):
        data = bytes(block.get("data") or b"")
        ext = mimetypes.guess_extension(block.get("mimeType") or sniff_type(data)) or ".png"
        files.append(OutputFile(name=f"output-{i + 1}{ext}",
                                media_type=block.get("mimeType") or sniff_type(data), data=data))
    return Execution(stdout=stdout, stderr=stderr if not failed else "", error=error,
                     files=tuple(files), timed_out=timed_out, duration_seconds=duration)


def _last_exception(text: str) -> tuple[str, str]:
    for line in reversed([ln.strip() for ln in text.splitlines() if ln.strip()]):
        head, sep, rest = line.partition(":")
        if sep and head.replace(".", "").replace("_", "").isalnum() and (
                head.endswith("Error") or head.endswith("Exception") or head.endswith("Interrupt")):
            return head.rsplit(".", 1)[-1], rest.strip()
    return "Error", text.strip().splitlines()[-1] if text.strip() else "the code failed"


def _path_of(block: Mapping[str, Any]) -> str:
    return _strip_uri(str(block.get("uri") or block.get("name") or ""))


def _strip_uri(path: str) -> str:
    if path.startswith("file://"):
        path = path[len("file://"):]
    return path


def _is_text(f: AttachedFile) -> bool:
    if f.media_type.startswith("text/") or f.media_type in ("application/json", "application/x-yaml"):
        try:
            f.data.decode("utf-8")
            return True
        except UnicodeDecodeError:
            return False
    return False


def _session_name(session_id: str) -> str:
    # Name: [a-zA-Z][a-zA-Z0-9_]{0,47} style; keep letters, digits and underscores.
    clean = "".join(c if c.isalnum() else "_" for c in session_id)
    return ("desk_" + clean)[:48]


def _make_client(service: str, settings: Settings) -> Any:
    from agent_core.backends.aws import make_client

    return make_client(service, settings)


def _executor_error(exc: BaseException, action: str) -> ExecutorError:
    return executor_error(exc, action)  # the one mapping of wire errors: agent_core.failures
