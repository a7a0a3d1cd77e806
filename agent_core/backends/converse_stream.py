"""ConverseStream events (boto3 ``bedrock-runtime`` ``response["stream"]``) -> AgentEvents.

One model turn at a time. The members are the ones of botocore's
``ConverseStreamOutput`` shape: ``messageStart``, ``contentBlockStart``,
``contentBlockDelta`` (``text``, ``toolUse.input`` fragments, ``reasoningContent``),
``contentBlockStop``, ``messageStop`` (``stopReason``) and ``metadata``
(``usage``). In-stream exceptions are raised by boto3 as ``EventStreamError``
while iterating; they are not caught here (the loop maps them to an
``AgentFailure``).

Text of a turn is held back until the turn shows what it is: text before a
``toolUse`` block is the model's thinking (``Rationale``), text of a turn that
ends without a tool call is the answer (``TextChunk`` per streamed delta, then
``FinalResponse``). The :class:`TurnEnd` record closes each turn with what the
loop needs: the stop reason, the tool calls and the assistant message to keep
in the conversation history.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from agent_core.backends.model_adapter import ToolCall, TurnEnd
from agent_core.events import (
    AgentEvent,
    FinalResponse,
    Rationale,
    Reasoning,
    TextChunk,
    UnknownEvent,
    Usage,
)

SOURCE = "converse"
__all__ = ["SOURCE", "ToolCall", "TurnEnd", "parse_converse_stream"]


class _Block:
    def __init__(self, kind: str, start: Mapping[str, Any] | None = None) -> None:
        self.kind = kind  # text | toolUse | reasoning
        self.start = dict(start or {})
        self.parts: list[str] = []
        self.signature: str | None = None
        self.redacted: bytes | None = None


def parse_converse_stream(stream: Iterable[Mapping[str, Any]], *,
                          step_id: str | None = None) -> Iterator[AgentEvent | TurnEnd]:
    """Yield AgentEvents as one turn streams, and a :class:`TurnEnd` last."""
    blocks: dict[int, _Block] = {}
    order: list[int] = []
    held: list[str] = []           # text deltas not yet known to be rationale or answer
    stop_reason: str | None = None
    saw_stop = False
    saw_tool = False

    def block(index: int, kind: str, start: Mapping[str, Any] | None = None) -> _Block:
        if index not in blocks:
            blocks[index] = _Block(kind, start)
            order.append(index)
        return blocks[index]

    def flush_rationale() -> Iterator[AgentEvent]:
        text = "".join(held).strip()
        held.clear()
        if text:
            yield Rationale(text=text, step_id=step_id, source=SOURCE)

    items = iter(stream)
    while True:
        try:
            item = next(items)
        except StopIteration:
            break
        except Exception:
            # The stream broke (e.g. an in-stream throttlingException): what was said stays.
            for part in held:
                yield TextChunk(text=part, step_id=step_id, source=SOURCE)
            held.clear()
            raise
        if not isinstance(item, Mapping) or len(item) != 1:
            yield UnknownEvent(raw=item, step_id=step_id, source=SOURCE)
            continue
        kind, body = next(iter(item.items()))
        body = body or {}
        if kind == "messageStart":
            continue
        if kind == "contentBlockStart":
            start = body.get("start") or {}
            index = int(body.get("contentBlockIndex", len(order)))
            if "toolUse" in start:
                saw_tool = True
                yield from flush_rationale()
                block(index, "toolUse", start["toolUse"])
            else:
                if start:  # toolResult / image blocks: not part of a tool-calling turn here
                    yield UnknownEvent(raw=dict(item), step_id=step_id, source=SOURCE)
                block(index, "other", start)
            continue
        if kind == "contentBlockDelta":
            delta = body.get("delta") or {}
            index = int(body.get("contentBlockIndex", 0))
            if "text" in delta:
                block(index, "text").parts.append(delta["text"])
                held.append(delta["text"])
            elif "toolUse" in delta:
                b = block(index, "toolUse")
                b.parts.append((delta["toolUse"] or {}).get("input", "") or "")
            elif "reasoningContent" in delta:
                rc = delta["reasoningContent"] or {}
                b = block(index, "reasoning")
                if rc.get("text"):
                    b.parts.append(rc["text"])
                    yield Reasoning(text=rc["text"], step_id=step_id, source=SOURCE)
                if rc.get("signature"):
                    b.signature = rc["signature"]
                if rc.get("redactedContent"):
                    b.redacted = (b.redacted or b"") + rc["redactedContent"]
            else:
                yield UnknownEvent(raw=item, step_id=step_id, source=SOURCE)
            continue
        if kind == "contentBlockStop":
            continue
        if kind == "messageStop":
            stop_reason = body.get("stopReason")
            saw_stop = True
            continue
        if kind == "metadata":
            usage = body.get("usage") or {}
            if usage:
                yield Usage(input_tokens=usage.get("inputTokens"),
                            output_tokens=usage.get("outputTokens"),
                            step_id=step_id, source=SOURCE)
            continue
        yield UnknownEvent(raw=dict(item), step_id=step_id, source=SOURCE)

    text = "".join("".join(blocks[i].parts) for i in order if blocks[i].kind == "text")
    if saw_tool:
        yield from flush_rationale()
    elif held:
        # The answer: every streamed delta as it came, then the whole text.
        for part in held:
            yield TextChunk(text=part, step_id=step_id, source=SOURCE)
        held.clear()
        if saw_stop:
            yield FinalResponse(text=text, step_id=step_id, source=SOURCE)

    tool_calls: list[ToolCall] = []
    content: list[dict[str, Any]] = []
    for i in order:
        b = blocks[i]
        if b.kind == "text":
            joined = "".join(b.parts)
            if joined:
                content.append({"text": joined})
        elif b.kind == "reasoning":
            if b.redacted is not None:
                content.append({"reasoningContent": {"redactedContent": b.redacted}})
            else:
                rt: dict[str, Any] = {"text": "".join(b.parts)}
                if b.signature:
                    rt["signature"] = b.signature
                content.append({"reasoningContent": {"reasoningText": rt}})
        elif b.kind == "toolUse":
            call = _tool_call(b)
            tool_calls.append(call)
            content.append({"toolUse": {"toolUseId": call.tool_use_id, "name": call.name,
                                        "input": dict(call.input) if call.input_error is None else {}}})
    yield TurnEnd(stop_reason=stop_reason, text=text, tool_calls=tuple(tool_calls),
                  message={"role": "assistant", "content": content}, complete=saw_stop)


def _tool_call(b: _Block) -> ToolCall:
    raw = "".join(b.parts)
    tool_use_id = str(b.start.get("toolUseId", ""))
    name = str(b.start.get("name", ""))
    try:
        value = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        return ToolCall(tool_use_id, name, raw, {}, f"the tool input is not valid JSON ({exc})")
    if not isinstance(value, dict):
        return ToolCall(tool_use_id, name, raw, {}, "the tool input is not a JSON object")
    return ToolCall(tool_use_id, name, raw, value)
