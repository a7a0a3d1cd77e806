"""The one vocabulary of the app: typed, frozen events.

Every backend ends in these events; pages and the store only ever see them.
Each event carries ``step_id`` (Bedrock's ``traceId`` where the service gives
one) and ``source`` (which trace kind it came from, e.g. ``orchestration``),
so a UI can group the events of one step together.
"""
from __future__ import annotations

import base64
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agent_core.files import ReturnedFile


@dataclass(frozen=True, kw_only=True)
class AgentEvent:
    """Base of every event. ``step_id`` groups the events of one agent step."""

    step_id: str | None = None
    source: str | None = None


# --- the answer -------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class TextChunk(AgentEvent):
    text: str


@dataclass(frozen=True, kw_only=True)
class FinalResponse(AgentEvent):
    text: str


@dataclass(frozen=True, kw_only=True)
class Citations(AgentEvent):
    """Sources cited by a chunk of the answer (``chunk.attribution.citations``)."""

    citations: tuple[Mapping[str, Any], ...] = ()


# --- orchestration: reasoning and code ---------------------------------------
@dataclass(frozen=True, kw_only=True)
class Rationale(AgentEvent):
    text: str


@dataclass(frozen=True, kw_only=True)
class Reasoning(AgentEvent):
    """A model's reasoning content (``modelInvocationOutput.reasoningContent``)."""

    text: str


@dataclass(frozen=True, kw_only=True)
class CodeInvocation(AgentEvent):
    code: str
    files: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class CodeOutput(AgentEvent):
    text: str


@dataclass(frozen=True, kw_only=True)
class CodeOutputProgress(AgentEvent):
    """Output the code printed so far, while it still runs (the local kernel streams it);
    the step's ``CodeOutput`` then holds the whole of it."""

    text: str


@dataclass(frozen=True, kw_only=True)
class CodeError(AgentEvent):
    text: str


@dataclass(frozen=True, kw_only=True)
class CodeTimeout(AgentEvent):
    message: str = "The code run hit the code interpreter's time limit."


@dataclass(frozen=True, kw_only=True)
class FilesGenerated(AgentEvent):
    names: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class FileReturned(AgentEvent):
    file: ReturnedFile


@dataclass(frozen=True, kw_only=True)
class Usage(AgentEvent):
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(frozen=True, kw_only=True)
class ModelInput(AgentEvent):
    """The prompt sent to the model in one step (``modelInvocationInput``)."""

    text: str
    kind: str | None = None


@dataclass(frozen=True, kw_only=True)
class ModelOutput(AgentEvent):
    """The model's raw response in one step (``modelInvocationOutput.rawResponse``)."""

    text: str


@dataclass(frozen=True, kw_only=True)
class RepromptResponse(AgentEvent):
    text: str
    reprompt_source: str | None = None


# --- other trace kinds -----------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class PreProcessing(AgentEvent):
    rationale: str | None = None
    is_valid: bool | None = None


@dataclass(frozen=True, kw_only=True)
class PostProcessing(AgentEvent):
    text: str


@dataclass(frozen=True, kw_only=True)
class GuardrailAction(AgentEvent):
    action: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class FailureTrace(AgentEvent):
    reason: str
    code: int | None = None


@dataclass(frozen=True, kw_only=True)
class RoutingClassification(AgentEvent):
    """A routing-classifier step (multi-agent collaboration)."""

    kind: str
    text: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class CustomOrchestration(AgentEvent):
    text: str


@dataclass(frozen=True, kw_only=True)
class ActionGroupInput(AgentEvent):
    action_group: str | None = None
    api_path: str | None = None
    function: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class ActionGroupOutput(AgentEvent):
    text: str


@dataclass(frozen=True, kw_only=True)
class KnowledgeBaseQuery(AgentEvent):
    knowledge_base_id: str | None
    text: str


@dataclass(frozen=True, kw_only=True)
class KnowledgeBaseResult(AgentEvent):
    references: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, kw_only=True)
class CollaboratorInput(AgentEvent):
    name: str | None
    text: str


@dataclass(frozen=True, kw_only=True)
class CollaboratorOutput(AgentEvent):
    name: str | None
    text: str


@dataclass(frozen=True, kw_only=True)
class ReturnControl(AgentEvent):
    invocation_id: str | None
    inputs: tuple[Mapping[str, Any], ...] = ()


# --- the end of a run -------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class AgentFailure(AgentEvent):
    """A run ended in a failure. ``kind`` is a short machine name
    (``throttling``, ``access_denied``, ``timeout``, ``connection``, ...),
    ``message`` says in words what happened and what to do."""

    kind: str
    message: str
    retryable: bool = False


@dataclass(frozen=True, kw_only=True)
class RunEnd(AgentEvent):
    """How a run ended: its one outcome (agent_core.run.outcome_of: ``completed``,
    ``completed with problems``, ``refused``, ``failed``, ``stopped``, ``interrupted``).
    Not from any stream: the run path's own closing event (the CLI's last ``--json`` line)."""

    outcome: str
    run_id: str | None = None
    session_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class UnknownEvent(AgentEvent):
    """Anything the parser did not recognise, kept whole for display and the store."""

    raw: Any


EVENT_TYPES: dict[str, type[AgentEvent]] = {
    cls.__name__: cls
    for cls in (
        TextChunk, FinalResponse, Citations, Rationale, Reasoning, CodeInvocation, CodeOutput,
        CodeOutputProgress, CodeError, CodeTimeout, FilesGenerated, FileReturned, Usage, ModelInput,
        ModelOutput, RepromptResponse, PreProcessing, PostProcessing, GuardrailAction,
        FailureTrace, RoutingClassification, CustomOrchestration, ActionGroupInput,
        ActionGroupOutput, KnowledgeBaseQuery, KnowledgeBaseResult, CollaboratorInput,
        CollaboratorOutput, ReturnControl, AgentFailure, RunEnd, UnknownEvent,
    )
}


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return {"__bytes_b64__": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def event_to_dict(event: AgentEvent, *, include_bytes: bool = False) -> dict[str, Any]:
    """``{"event": "<class name>", ...fields}``, JSON-safe.

    A returned file is written as its safe name, types and size; its bytes only
    when ``include_bytes`` (base64)."""
    out: dict[str, Any] = {"event": type(event).__name__}
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        if isinstance(value, ReturnedFile):
            out[f.name] = value.to_dict(include_bytes=include_bytes)
        else:
            out[f.name] = _jsonable(value)
    return out


def _unjson(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__bytes_b64__"}:
            return base64.b64decode(value["__bytes_b64__"])
        return {k: _unjson(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unjson(v) for v in value]
    return value


def event_from_dict(data: Mapping[str, Any], *, file_bytes: bytes | None = None) -> AgentEvent:
    """Inverse of :func:`event_to_dict`. An unknown class name becomes ``UnknownEvent``.

    ``file_bytes`` supplies a returned file's content when it was stored apart."""
    cls = EVENT_TYPES.get(str(data.get("event")))
    if cls is None:
        return UnknownEvent(raw=_unjson(dict(data)))
    try:
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if f.name == "file" and cls is FileReturned:
                value = ReturnedFile.from_dict(value, data=file_bytes)
            else:
                value = _unjson(value)
                if isinstance(value, list) and str(f.type).startswith("tuple"):
                    value = tuple(value)
            kwargs[f.name] = value
        return cls(**kwargs)
    except (TypeError, ValueError, AttributeError):  # a damaged record stays visible
        return UnknownEvent(raw=_unjson(dict(data)))
