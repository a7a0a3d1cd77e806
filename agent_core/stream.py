"""The one parser: raw Bedrock response-stream dicts -> :mod:`agent_core.events`.

``parse_stream(raw)`` takes what boto3 yields from ``response["completion"]`` of
``InvokeAgent`` / ``InvokeInlineAgent`` (or the same shape made by the local
backend) and yields typed events, lazily, one raw dict at a time.

Layers, each usable alone (modelled on botocore's ``eventstream.py``):

* :class:`Utf8ChunkDecoder` - incremental UTF-8 for ``chunk.bytes``;
* :func:`parse_item` - one raw dict (+ per-stream :class:`StreamState`) -> events;
* :func:`failure_for_code` / :func:`failure_for_exception` - errors -> ``AgentFailure``;
* :func:`parse_stream` - drives the above over an iterable, never raises.

The dispatch tables (``TOP_LEVEL_MEMBERS``, ``TRACE_KINDS``, ...) name every member
of the botocore model that is handled; ``tests/unit/test_stream.py`` checks them
against the installed model so that a new member fails a test instead of being
dropped silently. Anything unrecognised or malformed becomes ``UnknownEvent``.
"""
from __future__ import annotations

import codecs
import mimetypes
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent_core import failures
from agent_core.events import (
    ActionGroupInput,
    ActionGroupOutput,
    AgentEvent,
    AgentFailure,
    Citations,
    CodeError,
    CodeInvocation,
    CodeOutput,
    CodeOutputProgress,
    CodeTimeout,
    CollaboratorInput,
    CollaboratorOutput,
    CustomOrchestration,
    FailureTrace,
    FileReturned,
    FilesGenerated,
    FinalResponse,
    GuardrailAction,
    KnowledgeBaseQuery,
    KnowledgeBaseResult,
    ModelInput,
    ModelOutput,
    PostProcessing,
    PreProcessing,
    Rationale,
    Reasoning,
    RepromptResponse,
    ReturnControl,
    RoutingClassification,
    TextChunk,
    UnknownEvent,
    Usage,
)
from agent_core.files import NameDeduper, ReturnedFile, UnsafeNameError, safe_name, sniff_type

__all__ = [
    "parse_stream", "parse_item", "StreamState", "Utf8ChunkDecoder", "failure_for_code",
    "failure_for_exception", "EXCEPTION_MEMBERS",
]



# --- layer 1: incremental UTF-8 ---------------------------------------------------
class Utf8ChunkDecoder:
    """Decodes ``chunk.bytes`` pieces; a character split across chunks comes out whole.

    Undecodable bytes become U+FFFD; :meth:`flush` returns what is still held back."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes) -> str:
        return self._decoder.decode(data, final=False)

    def flush(self) -> str:
        text = self._decoder.decode(b"", final=True)
        self._decoder.reset()
        return text


# --- failures: the one table lives in agent_core.failures ------------------------------
#: The exception members of ``ResponseStream`` (in-stream errors).
EXCEPTION_MEMBERS = frozenset({
    "accessDeniedException", "badGatewayException", "conflictException",
    "dependencyFailedException", "internalServerException", "modelNotReadyException",
    "resourceNotFoundException", "serviceQuotaExceededException", "throttlingException",
    "validationException",
})


def failure_for_code(code: str | None, message: str | None = None) -> AgentFailure:
    """The ``AgentFailure`` for a Bedrock Agents error code (``throttlingException`` or
    ``ThrottlingException``) and the service's own message (kept for detail)."""
    return failures.failure_for_code(code, message, op=failures.INVOKE_AGENT)


def failure_for_exception(exc: BaseException) -> AgentFailure:
    """The ``AgentFailure`` for an exception raised while reading the stream."""
    return failures.failure_for_exception(exc, op=failures.INVOKE_AGENT)


# --- layer 2: one raw dict -> events ---------------------------------------------
@dataclass
class StreamState:
    """What one stream carries from item to item: the UTF-8 decoder and file names."""

    decoder: Utf8ChunkDecoder = field(default_factory=Utf8ChunkDecoder)
    names: NameDeduper = field(default_factory=NameDeduper)
    unnamed: int = 0


class _Malformed(Exception):
    """A known member with the wrong shape; the whole item becomes ``UnknownEvent``."""


class _Ctx:
    """Per item: the trace kind (``source``), and whether anything was not understood."""

    def __init__(self, source: str | None) -> None:
        self.source = source
        self.unknown = False


# small typed accessors ------------------------------------------------------------
def _map(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _Malformed(f"{what} is not an object")
    return value


def _opt_str(d: Mapping[str, Any], key: str) -> str | None:
    value = d.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Malformed(f"{key} is not text")
    return value


def _req_str(d: Mapping[str, Any], key: str) -> str:
    value = _opt_str(d, key)
    if value is None:
        raise _Malformed(f"{key} is missing")
    return value


def _opt_int(d: Mapping[str, Any], key: str) -> int | None:
    value = d.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Malformed(f"{key} is not an integer")
    return value


def _opt_list(d: Mapping[str, Any], key: str) -> list[Any]:
    value = d.get(key)
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise _Malformed(f"{key} is not a list")
    return list(value)


def _str_tuple(d: Mapping[str, Any], key: str) -> tuple[str, ...]:
    items = _opt_list(d, key)
    if not all(isinstance(x, str) for x in items):
        raise _Malformed(f"{key} holds something other than names")
    return tuple(items)


def _step(d: Mapping[str, Any]) -> str | None:
    return _opt_str(d, "traceId")


def _dispatch(d: Any, table: Mapping[str, Callable[..., list[AgentEvent]]],
              meta: frozenset[str], ctx: _Ctx, step: str | None, what: str) -> list[AgentEvent]:
    """Run the handler of every member of ``d`` found in ``table``; flag any other
    key not in ``meta`` as unknown (the caller then adds an ``UnknownEvent``)."""
    d = _map(d, what)
    out: list[AgentEvent] = []
    for key, value in d.items():
        if key in table:
            if value is None:
                continue
            out.extend(table[key](value, ctx, step))
        elif key not in meta:
            ctx.unknown = True
    return out


# orchestration members --------------------------------------------------------------
def _rationale(v: Any, ctx: _Ctx, step: str | None) -> list[AgentEvent]:
    v = _map(v, "rationale")
    return [Rationale(text=_req_str(v, "text"), step_id=_step(v) or step, source=ctx.source)]


def _code_input(v: Any, ctx: _Ctx, step: str | None) -> list[AgentEvent]:
    v = _map(v, "codeInterpreterInvocationInput")
    return [CodeInvocation(code=_req_str(v, "code"), files=_str_tuple(v, "files"),
                           step_id=step, source=ctx.source)]


def _action_group_input(v: Any, ctx: _Ctx, step: str | None) -> list[AgentEvent]:
    v = _map(v, "actionGroupInvocationInput")
    details = {k: x for k, x in v.items() if k not in ("actionGroupName", "apiPath", "function")}
    return [ActionGroupInput(action_group=_opt_str(v, "actionGroupName"),
                             api_path=_opt_str(v, "apiPath"), function=_opt_str(v, "function"),
                             details=details, step_id=step, source=ctx.source)]


def _kb_input(v: Any, ctx: _Ctx, step: str | None) -> list[AgentEvent]:
    v = _map(v, "knowledgeBaseLookupInput")
    return [KnowledgeBaseQuery(knowledge_base_id=_opt_str(v, "knowledgeBaseId"),
                               text=_opt_str(v, "text") or "", step_id=step, source=ctx.source)]


def _collab_input(v: Any, ctx: _Ctx, step: str | None) -> list[AgentEvent]:
    v = _map(v, "agentCollaboratorInvocationInput")
    payload = _map(v.get("input") or {}, "input")
    return [CollaboratorInput(name=_opt_str(v, "agentCollaboratorName"),
                              text=_opt_str(payload, "text") or "", step_id=step,
                              source=ctx.source)]


_INVOCATION_INPUT: dict[str, Callable[..., list[AgentEvent]]] = {
    "codeInterpreterInvocationInput": _code_input,
    "actionGroupInvocationInput": _action_group_input,
    "knowledgeBaseLookupInput": _kb_input,
    "agentCollaboratorInvocationInput": _collab_input,
}
_INVOCATION_INPUT_META = frozenset({"traceId", "invocationType"})


def _step_part(v: Any, ctx: _Ctx, step: str | None, name: str,
               table: dict[str, Callable[..., list[AgentEvent]]],
               meta: frozenset[str]) -> list[AgentEvent]:
    """One orchestration part with a payload member (``invocationInput``, ``observation``)."""
    v = _map(v, name)
    step = _step(v) or step
    out = _dispatch(v, table, meta, ctx, step, name)
    if not out:
        ctx.unknown = True  # e.g. only an invocationType / type: keep it visible
    return out


def _invocation_input(v: Any, ctx: _Ctx, step: str | None) -> list[AgentEvent]:
    return _step_part(v, ctx, step, "invocationInput", _INVOCATION_INPUT, _INVOCATION_INPUT_META)


def _code_output(v: Any, ctx: _Ctx, step: str | None) -> list[AgentEvent]:
    v = _map(v, "codeInterpreterInvocationOutput")
    out: list[AgentEvent] = []
    text = _opt_str(v, "executionOutput")
    error = _opt_str(v, "executionError")
    timeout = v.get("executionTimeout")
    if timeout is not None and not isinstance(timeout, bool):
        raise _Malformed("executionTimeout is not true/false")
    names = _str_tuple(v, "files")
    if v.get("metadata") is not None:
        _map(v["metadata"], "metadata")
    if text is not None:
        out.append(CodeOutput(text=text, step_id=step, source=ctx.source))
    if error is not None:
        out.append(CodeError(text=error, step_id=step, source=ctx.source))
    if timeout:
        out.append(CodeTimeout(step_id=step, source=ctx.source))
    if names:
        out.append(FilesGenerated(names=names, step_id=step, source=ctx.source))
    if not out:  # a run with no output at all still finished
        out.append(CodeOutput(text="", step_id=step, source=ctx.source))
    return out


def _final_response(v: Any, ctx: _Ctx, step: str | None) -> list[AgentEvent]:
    v = _map(v, "finalResponse")
    return [FinalResponse(text=_req_str(v, "text"), step_id=step, source=ctx.source)]


def _reprompt(v: Any, ctx: _Ctx, step: str | None) -> list[AgentEvent]:
    v = _map(v, "repromptResponse")
    return [RepromptResponse(text=_opt_str(v, "text") or "", reprompt_source=_opt_str(v, "source"),
                             step_id=step, source=ctx.source)]


def _action_group_output(v: Any, ctx: _Ctx, step: str | None) -> list[AgentEvent]:
    v = _map(v, "actionGroupInvocationOutput")
    return [ActionGroupOutput(text=_opt_str(v, "text") or "", step_id=step, source=ctx.source)]


def _kb_output(v: Any, ctx: _Ctx, step: str | None) -> list[AgentEvent]:
    v = _map(v, "knowledgeBaseLookupOutput")
    refs = _opt_list(v, "retrievedReferences")
    return [KnowledgeBaseResult(references=tuple(_map(r, "reference") for r in refs),
                                step_id=step, source=ctx.source)]


def _collab_output(v: Any, ctx: _Ctx, step: str | None) -> list[AgentEvent]:
    v = _map(v, "agentCollaboratorInvocationOutput")
    payload = _map(v.get("output") or {}, "output")
    return [CollaboratorOutput(name=_opt_str(v, "agentCollaboratorName"),
                               text=_opt_str(payload, "text") or "", step_id=step,
                               source=ctx.source)]


_OBSERVATION: dict[str, Callable[..., list[AgentEvent]]] = {
    "codeInterpreterInvocationOutput": _code_output,
    "finalResponse": _final_response,
    "repromptResponse": _reprompt,
    "actionGroupInvocationOutput": _action_group_output,
    "knowledgeBaseLookupOutput": _kb_output,
    "agentCollaboratorInvocationOutput": _collab_output,
}
_OBSERVATION_META = frozenset({"traceId", "type"})


def _observation(v: Any, ctx: _Ctx, step: str | None) -> list[AgentEvent]:
    return _step_part(v, ctx, step, "observation", _OBSERVATION, _OBSERVATION_META)


def _model_input(v: Any, ctx: _Ctx, step: str | None) -> list[AgentEvent]:
    v = _map(v, "modelInvocationInput")
    return [ModelInput(text=_opt_str(v, "text") or "", kind=_opt_str(v, "type"),
                       step_id=_step(v) or step, source=ctx.source)]


def _usage(v: Mapping[str, Any], ctx: _Ctx, step: str | None) -> list[AgentEvent]:
    meta = v.get("metadata")
    if meta is None:
        return []
    usage = _map(meta, "metadata").get("usage")
    if usage is None:
        return []
    usage = _map(usage, "usage")
    return [Usage(input_tokens=_opt_int(usage, "inputTokens"),
                  output_tokens=_opt_int(usage, "outputTokens"), step_id=step, source=ctx.source)]


def _reasoning(v: Mapping[str, Any], ctx: _Ctx, step: str | None) -> list[AgentEvent]:
    block = v.get("reasoningContent")
    if block is None:
        return []
    block = _map(block, "reasoningContent")
    out: list[AgentEvent] = []
    if block.get("reasoningText") is not None:
        text = _opt_str(_map(block["reasoningText"], "reasoningText"), "text")
        if text is not None:
            out.append(Reasoning(text=text, step_id=step, source=ctx.source))
    if block.get("redactedContent") is not None:
        out.append(Reasoning(text="(the model's reasoning here is redacted)", step_id=step,
                             source=ctx.source))
    return out


def _raw_response(v: Mapping[str, Any]) -> str | None:
    raw = v.get("rawResponse")
    if raw is None:
        return None
    return _opt_str(_map(raw, "rawResponse"), "content")


def _model_output(v: Any, ctx: _Ctx, step: str | None) -> list[AgentEvent]:
    """``modelInvocationOutput`` of any trace kind: ModelOutput, Reasoning, Usage, and
    (pre/post-processing) the parsed response."""
    v = _map(v, "modelInvocationOutput")
    step = _step(v) or step
    out: list[AgentEvent] = []
    content = _raw_response(v)
    if content is not None:
        out.append(ModelOutput(text=content, step_id=step, source=ctx.source))
    out.extend(_reasoning(v, ctx, step))
    parsed = v.get("parsedResponse")
    if parsed is not None:
        parsed = _map(parsed, "parsedResponse")
        if ctx.source == "preProcessing":
            valid = parsed.get("isValid")
            if valid is not None and not isinstance(valid, bool):
                raise _Malformed("isValid is not true/false")
            out.append(PreProcessing(rationale=_opt_str(parsed, "rationale"), is_valid=valid,
                                     step_id=step, source=ctx.source))
        elif ctx.source == "postProcessing":
            out.append(PostProcessing(text=_opt_str(parsed, "text") or "", step_id=step,
                                      source=ctx.source))
        else:
            ctx.unknown = True
    out.extend(_usage(v, ctx, step))
    return out


ORCHESTRATION_MEMBERS: dict[str, Callable[..., list[AgentEvent]]] = {
    "rationale": _rationale,
    "invocationInput": _invocation_input,
    "observation": _observation,
    "modelInvocationInput": _model_input,
    "modelInvocationOutput": _model_output,
}
#: pre/post-processing traces: a model input and a model output (with parsedResponse)
PROCESSING_MEMBERS: dict[str, Callable[..., list[AgentEvent]]] = {
    "modelInvocationInput": _model_input,
    "modelInvocationOutput": _model_output,
}


# routing classifier: every member becomes a RoutingClassification (+ Usage) ---------
def _routing_text(kind: str, v: Mapping[str, Any]) -> str:
    if kind == "modelInvocationInput":
        return _opt_str(v, "text") or ""
    if kind == "modelInvocationOutput":
        return _raw_response(v) or ""
    for key, sub in (("agentCollaboratorInvocationInput", "input"),
                     ("agentCollaboratorInvocationOutput", "output")):
        if isinstance(v.get(key), Mapping):
            payload = v[key].get(sub)
            if isinstance(payload, Mapping) and isinstance(payload.get("text"), str):
                return payload["text"]
            name = v[key].get("agentCollaboratorName")
            return f"-> {name}" if isinstance(name, str) else ""
    for key in ("finalResponse", "knowledgeBaseLookupInput", "actionGroupInvocationOutput"):
        if isinstance(v.get(key), Mapping) and isinstance(v[key].get("text"), str):
            return v[key]["text"]
    return ""


def _routing_member(kind: str) -> Callable[..., list[AgentEvent]]:
    def handle(v: Any, ctx: _Ctx, step: str | None) -> list[AgentEvent]:
        v = _map(v, kind)
        step = _step(v) or step
        out: list[AgentEvent] = [RoutingClassification(
            kind=kind, text=_routing_text(kind, v), details=dict(v), step_id=step,
            source=ctx.source)]
        if kind == "modelInvocationOutput":
            out.extend(_usage(v, ctx, step))
        return out
    return handle


ROUTING_MEMBERS: dict[str, Callable[..., list[AgentEvent]]] = {
    k: _routing_member(k)
    for k in ("invocationInput", "modelInvocationInput", "modelInvocationOutput", "observation")
}


def _members(table: Mapping[str, Callable[..., list[AgentEvent]]], what: str,
             meta: frozenset[str] = frozenset()) -> Callable[..., list[AgentEvent]]:
    def handle(v: Any, ctx: _Ctx, step: str | None) -> list[AgentEvent]:
        return _dispatch(v, table, meta, ctx, step, what)
    return handle


def _guardrail(v: Any, ctx: _Ctx, step: str | None) -> list[AgentEvent]:
    v = _map(v, "guardrailTrace")
    details = {k: x for k, x in v.items() if k not in ("action", "traceId")}
    return [GuardrailAction(action=_opt_str(v, "action") or "NONE", details=details,
                            step_id=_step(v) or step, source=ctx.source)]


def _failure_trace(v: Any, ctx: _Ctx, step: str | None) -> list[AgentEvent]:
    v = _map(v, "failureTrace")
    return [FailureTrace(reason=_opt_str(v, "failureReason") or "The agent reported a failure.",
                         code=_opt_int(v, "failureCode"), step_id=_step(v) or step,
                         source=ctx.source)]


def _custom(v: Any, ctx: _Ctx, step: str | None) -> list[AgentEvent]:
    v = _map(v, "customOrchestrationTrace")
    event = _map(v.get("event") or {}, "event")
    return [CustomOrchestration(text=_opt_str(event, "text") or "", step_id=_step(v) or step,
                                source=ctx.source)]


#: trace kind (member of ``Trace``) -> (source name, handler)
TRACE_KINDS: dict[str, tuple[str, Callable[..., list[AgentEvent]]]] = {
    "orchestrationTrace": ("orchestration", _members(ORCHESTRATION_MEMBERS, "orchestrationTrace")),
    "preProcessingTrace": ("preProcessing", _members(PROCESSING_MEMBERS, "preProcessingTrace")),
    "postProcessingTrace": ("postProcessing", _members(PROCESSING_MEMBERS, "postProcessingTrace")),
    "routingClassifierTrace": ("routingClassifier",
                               _members(ROUTING_MEMBERS, "routingClassifierTrace")),
    "guardrailTrace": ("guardrail", _guardrail),
    "failureTrace": ("failure", _failure_trace),
    "customOrchestrationTrace": ("customOrchestration", _custom),
}
#: ``TracePart`` members that describe the trace (not events of their own)
TRACE_PART_META = frozenset({"agentAliasId", "agentId", "agentVersion", "callerChain",
                             "collaboratorName", "eventTime", "sessionId"})


# top-level members ---------------------------------------------------------------
def _chunk(v: Any, state: StreamState, ctx: _Ctx) -> list[AgentEvent]:
    v = _map(v, "chunk")
    data = v.get("bytes")
    if data is not None and not isinstance(data, (bytes, bytearray)):
        raise _Malformed("chunk.bytes is not bytes")
    attribution = v.get("attribution")
    citations: list[Any] = []
    if attribution is not None:
        citations = _opt_list(_map(attribution, "attribution"), "citations")
        citations = [_map(c, "citation") for c in citations]
    if set(v) - {"bytes", "attribution"}:
        ctx.unknown = True
    out: list[AgentEvent] = []
    text = state.decoder.feed(bytes(data)) if data else ""
    if text:
        out.append(TextChunk(text=text, source=ctx.source))
    if citations:
        out.append(Citations(citations=tuple(citations), source=ctx.source))
    return out


def _trace(v: Any, state: StreamState, ctx: _Ctx) -> list[AgentEvent]:
    part = _map(v, "trace")
    trace = _map(part.get("trace"), "trace.trace")
    for key in part:
        if key != "trace" and key not in TRACE_PART_META:
            ctx.unknown = True
    out: list[AgentEvent] = []
    for kind, body in trace.items():
        if kind not in TRACE_KINDS or body is None:
            ctx.unknown = True
            continue
        source, handler = TRACE_KINDS[kind]
        sub = _Ctx(source)
        out.extend(handler(body, sub, None))
        ctx.unknown = ctx.unknown or sub.unknown
    if not out:
        ctx.unknown = True
    return out


_SAFE_EXT = re.compile(r"^[A-Za-z0-9]{1,10}$")


def _file_name(raw: Any, data: bytes, declared: str, state: StreamState) -> str:
    name = ""
    if isinstance(raw, str):
        try:
            name = safe_name(raw, default="")
        except UnsafeNameError:
            name = ""
    if not name:
        state.unnamed += 1
        ext = ""
        if isinstance(raw, str) and "." in raw:
            candidate = raw.rsplit(".", 1)[1]
            if _SAFE_EXT.match(candidate):
                ext = "." + candidate.lower()
        if not ext:
            ext = mimetypes.guess_extension(sniff_type(data)) or ""
            if not ext and declared:
                ext = mimetypes.guess_extension(declared.split(";")[0].strip()) or ""
        name = f"file-{state.unnamed}{ext}"
    return state.names.unique(name)


def _files(v: Any, state: StreamState, ctx: _Ctx) -> list[AgentEvent]:
    part = _map(v, "files")
    if set(part) - {"files"}:
        ctx.unknown = True
    out: list[AgentEvent] = []
    for entry in _opt_list(part, "files"):
        data = entry.get("bytes") if isinstance(entry, Mapping) else None
        declared = entry.get("type") if isinstance(entry, Mapping) else None
        if not isinstance(data, (bytes, bytearray)) or not isinstance(declared, (str, type(None))):
            out.append(UnknownEvent(raw={"files": {"files": [entry]}}, source=ctx.source))
            continue
        declared = declared or ""
        name = _file_name(entry.get("name"), bytes(data), declared, state)
        out.append(FileReturned(file=ReturnedFile(name=name, declared_type=declared,
                                                  data=bytes(data)), source=ctx.source))
    return out


def _return_control(v: Any, state: StreamState, ctx: _Ctx) -> list[AgentEvent]:
    v = _map(v, "returnControl")
    inputs = tuple(_map(i, "invocationInput") for i in _opt_list(v, "invocationInputs"))
    return [ReturnControl(invocation_id=_opt_str(v, "invocationId"), inputs=inputs,
                          source=ctx.source)]


def _code_progress(v: Any, state: StreamState, ctx: _Ctx) -> list[AgentEvent]:
    """The local agent's own member (not Bedrock's): output printed while code runs."""
    v = _map(v, "codeOutputProgress")
    return [CodeOutputProgress(text=_req_str(v, "text"), step_id=_opt_str(v, "traceId"),
                               source="orchestration")]


#: members of ``ResponseStream`` / ``InlineAgentResponseStream`` that carry data
TOP_LEVEL_MEMBERS: dict[str, Callable[[Any, StreamState, _Ctx], list[AgentEvent]]] = {
    "chunk": _chunk,
    "trace": _trace,
    "files": _files,
    "returnControl": _return_control,
    "codeOutputProgress": _code_progress,  # local agent only: stdout as it is printed
}


def parse_item(item: Any, state: StreamState | None = None) -> list[AgentEvent]:
    """Events for one raw dict of the stream. Never raises: anything not understood
    becomes ``UnknownEvent(raw=item)`` (after the events that were understood)."""
    state = state if state is not None else StreamState()
    try:
        if not isinstance(item, Mapping) or len(item) != 1:
            return [UnknownEvent(raw=item)]
        (key, value), = item.items()
        if key in EXCEPTION_MEMBERS:
            message = value.get("message") if isinstance(value, Mapping) else None
            return [failure_for_code(key, message if isinstance(message, str) else None)]
        handler = TOP_LEVEL_MEMBERS.get(key) if isinstance(key, str) else None
        if handler is None:
            return [UnknownEvent(raw=item)]
        ctx = _Ctx(key)
        out = handler(value, state, ctx)
        if ctx.unknown:
            out.append(UnknownEvent(raw=item, source=key))
        return out
    except Exception:  # _Malformed, or anything odd inside a strange object
        return [UnknownEvent(raw=item)]


# --- layer 3: the stream -----------------------------------------------------------
def parse_stream(raw_events: Iterable[Any]) -> Iterator[AgentEvent]:
    """Yield events for each raw dict as it arrives. Never raises.

    A failure (an exception while iterating, or an in-stream exception member) ends
    the stream with one ``AgentFailure``, after everything received before it
    (including text still held by the UTF-8 decoder)."""
    state = StreamState()
    try:
        iterator = iter(raw_events)
    except Exception as exc:  # noqa: BLE001 - outer edge of the parser: a failure event, never a raise
        yield failure_for_exception(exc)
        return
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            break
        except Exception as exc:  # noqa: BLE001 - outer edge: whatever the wire raises ends the stream
            yield from _flush(state)
            yield failure_for_exception(exc)
            return
        for event in parse_item(item, state):
            if isinstance(event, AgentFailure):
                yield from _flush(state)
                yield event
                return
            yield event
    yield from _flush(state)


def _flush(state: StreamState) -> list[AgentEvent]:
    text = state.decoder.flush()
    return [TextChunk(text=text, source="chunk")] if text else []
