"""``BedrockAgent``: an Amazon Bedrock Agent with the Code Interpreter (InvokeAgent).

The request goes out through a real boto3 client (``aws.make_client``); the
``completion`` stream comes back as raw dicts in Bedrock's own shape and
``agent_core.stream.parse_stream`` turns them into events. Limits are checked
before the call; nothing here raises for a service or network failure: the run
ends in an ``AgentFailure``.
"""
from __future__ import annotations

import abc
import contextlib
import logging
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from agent_core.backends.aws import failure_from_exception, make_client
from agent_core.backends.base import AgentRequest
from agent_core.config import Settings
from agent_core.events import AgentEvent, AgentFailure
from agent_core.failures import AgentDeskError
from agent_core.files import AttachedFile, AttachmentLimitError, check_attachment_limits
from agent_core.session import is_valid_session_id

log = logging.getLogger(__name__)

SERVICE = "bedrock-agent-runtime"


class BedrockCallError(AgentDeskError, RuntimeError):
    """Raised by ``raw_events`` when the call fails before the stream; carries the failure."""

    def __init__(self, failure: AgentFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def session_files(files: Iterable[AttachedFile]) -> list[dict[str, Any]]:
    """Attachments in the shape of ``sessionState.files`` / ``inlineSessionState.files``."""
    return [{"name": f.name,
             "source": {"sourceType": "BYTE_CONTENT",
                        "byteContent": {"mediaType": f.media_type, "data": f.data}},
             "useCase": f.use_case} for f in files]


def input_text(request: AgentRequest) -> str:
    """``inputText``: the analyst's words, then which sheet of each attached workbook the
    analyst chose on the Upload page (the agent gets the whole workbook and would guess)."""
    notes = [f"(In the workbook `{f.name}`, use the sheet `{f.sheet}`.)"
             for f in request.files if f.sheet]
    return "\n\n".join([request.text, *notes]) if notes else request.text


def _close(stream: Any) -> None:
    close = getattr(stream, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):  # noqa: BLE001 - closing a broken stream must not hide what happened
            close()


class _BedrockAgentsBackend(abc.ABC):
    """What InvokeAgent and InvokeInlineAgent share: checks, the call, the stream."""

    name = "bedrock"
    operation = "InvokeAgent"

    def __init__(self, settings: Settings, *, client: Any = None) -> None:
        self.settings = settings
        self._client = client
        self._used: set[str] = set()
        self._lock = threading.Lock()

    # -- what each operation (InvokeAgent, InvokeInlineAgent) defines ---------------
    @abc.abstractmethod
    def missing_settings(self) -> list[str]:
        """What this backend still needs, in words (empty when ready)."""

    @abc.abstractmethod
    def build_params(self, request: AgentRequest) -> dict[str, Any]:
        """The keyword arguments of the boto3 call for ``request``."""

    @abc.abstractmethod
    def _call(self, client: Any, params: dict[str, Any]) -> dict[str, Any]:
        """Call the operation; returns boto3's response (with ``completion``)."""

    # -- the protocol --------------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = make_client(SERVICE, self.settings)
        return self._client

    def check(self, request: AgentRequest) -> AgentFailure | None:
        """What would make the call fail before it is sent (settings, session id, limits)."""
        missing = self.missing_settings()
        if missing:
            return AgentFailure(kind="configuration", message=(
                f"The {self.name} backend is not configured: set {' and '.join(missing)} "
                "(environment, .streamlit/secrets.toml [agent], or the command-line flags)."))
        if not is_valid_session_id(request.session_id):
            return AgentFailure(kind="validation", message=(
                f"The session id {request.session_id!r} is not valid for Bedrock: use 2 to 100 "
                "characters of letters, digits and . _ : - (start a new session)."))
        try:
            check_attachment_limits(request.files)
        except AttachmentLimitError as exc:
            return AgentFailure(kind="attachment_limit", message=str(exc))
        return None

    def _open(self, request: AgentRequest) -> Iterable[dict[str, Any]] | AgentFailure:
        failure = self.check(request)
        if failure is not None:
            return failure
        try:
            response = self._call(self.client, self.build_params(request))
        except Exception as exc:  # every pre-stream error becomes a failure with a fix
            return failure_from_exception(exc, action=self.operation,
                                          read_timeout=self.settings.read_timeout)
        with self._lock:
            self._used.add(request.session_id)
        return response["completion"]

    def raw_events(self, request: AgentRequest) -> Iterator[dict[str, Any]]:
        """The raw dicts boto3 yields from ``completion`` (in-stream errors propagate as
        boto3 raises them); a failure before the stream raises :class:`BedrockCallError`."""
        opened = self._open(request)
        if isinstance(opened, AgentFailure):
            raise BedrockCallError(opened)
        try:
            yield from opened
        finally:
            _close(opened)

    def invoke(self, request: AgentRequest) -> Iterator[AgentEvent]:
        opened = self._open(request)
        if isinstance(opened, AgentFailure):
            yield opened
            return
        from agent_core.stream import parse_stream

        if request.cancel is not None:  # a Stop closes the stream (unblocks a waiting read)
            request.cancel.on_cancel(lambda: _close(opened))
        try:
            yield from parse_stream(opened)
        except Exception as exc:  # the parser should catch these; never let one escape
            yield failure_from_exception(exc, action=self.operation,
                                         read_timeout=self.settings.read_timeout)
        finally:  # also when the caller stops early (a Stop button): free the connection
            _close(opened)

    def reset_session(self, session_id: str) -> None:
        """Forget the session; if this backend used it, end it on the service too
        (``endSession=True``, which frees its code interpreter). Never raises."""
        with self._lock:
            if session_id not in self._used:
                return
            self._used.discard(session_id)
        if self.missing_settings():
            return
        try:
            params = self.build_params(AgentRequest(text="End of session.", session_id=session_id,
                                                    enable_trace=False, end_session=True))
            for _ in self._call(self.client, params)["completion"]:
                pass
        except Exception as exc:  # best effort: the session expires on its own anyway
            log.info("ending Bedrock session failed: %s", type(exc).__name__)


class BedrockAgent(_BedrockAgentsBackend):
    """InvokeAgent on an agent you built (agent id + alias id)."""

    name = "bedrock"
    operation = "InvokeAgent"

    def missing_settings(self) -> list[str]:
        missing = []
        if not self.settings.agent_id:
            missing.append("BEDROCK_AGENT_ID (--agent-id)")
        if not self.settings.agent_alias_id:
            missing.append("BEDROCK_AGENT_ALIAS_ID (--agent-alias-id)")
        return missing

    def build_params(self, request: AgentRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "agentId": self.settings.agent_id,
            "agentAliasId": self.settings.agent_alias_id,
            "sessionId": request.session_id,
            "inputText": input_text(request),
            "enableTrace": request.enable_trace,
            "endSession": request.end_session,
        }
        if request.memory_id:
            params["memoryId"] = request.memory_id
        if request.files:
            params["sessionState"] = {"files": session_files(request.files)}
        return params

    def _call(self, client: Any, params: dict[str, Any]) -> dict[str, Any]:
        return client.invoke_agent(**params)
