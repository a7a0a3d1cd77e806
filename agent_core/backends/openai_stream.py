"""Chat Completions stream chunks (the ``openai`` client's ``ChatCompletionChunk`` objects)
-> AgentEvents, one model turn at a time, and a :class:`~agent_core.backends.loop.TurnEnd`.

- ``delta.content``: text. Held until the turn shows what it is: text before a tool call is
  the model's thinking (``Rationale``); text of a turn without a tool call is the answer
  (``TextChunk`` per delta, then ``FinalResponse``). Text that grows past
  :data:`HOLD_CHARS` without a tool call streams on as the answer from then on.
- ``delta.tool_calls``: fragments keyed by ``index`` (id and name in the first fragment,
  ``function.arguments`` in pieces), several calls per turn.
- ``delta.reasoning_content`` / ``delta.reasoning`` (vLLM, LM Studio, Ollama, DeepSeek):
  ``Reasoning``.
- ``usage`` (the last chunk with ``stream_options.include_usage``): one ``Usage``; none when
  the server sends none.
- ``finish_reason``: ``stop`` -> ``end_turn``, ``tool_calls`` -> ``tool_use``, ``length`` ->
  ``max_tokens``; a stream that ends without one is incomplete.

An exception while iterating after something arrived is re-raised as :class:`StreamCut`,
after the held text was given out (nothing received is lost).
"""
from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from typing import Any

from agent_core.backends.model_adapter import ToolCall, TurnEnd
from agent_core.events import AgentEvent, FinalResponse, Rationale, Reasoning, TextChunk, Usage

SOURCE = "openai"
HOLD_CHARS = 400

_STOP_REASONS = {"stop": "end_turn", "tool_calls": "tool_use", "function_call": "tool_use",
                 "length": "max_tokens", "content_filter": "content_filtered"}


class StreamCut(Exception):
    """The stream broke after part of the turn arrived; ``cause`` is the original error."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _Call:
    def __init__(self, position: int) -> None:
        self.position = position
        self.id = ""
        self.name = ""
        self.parts: list[str] = []


def _get(obj: Any, name: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(name)
    value = getattr(obj, name, None)
    if value is None:
        extra = getattr(obj, "model_extra", None)
        if isinstance(extra, dict):
            value = extra.get(name)
    return value


def parse_chat_stream(chunks: Iterable[Any], *, step_id: str | None = None,
                      hold_text: bool = False) -> Iterator[AgentEvent | TurnEnd]:
    """Yield AgentEvents as one turn streams, and a :class:`TurnEnd` last. With
    ``hold_text`` no text event comes out (the loop reads ``TurnEnd.text``)."""
    held: list[str] = []
    text_parts: list[str] = []
    streaming = False          # past the hold: text goes out as the answer
    calls: dict[Any, _Call] = {}
    finish: str | None = None
    usage: tuple[int | None, int | None] | None = None
    received = False

    def flush_held() -> Iterator[AgentEvent]:
        for part in held:
            yield TextChunk(text=part, step_id=step_id, source=SOURCE)
        held.clear()

    items = iter(chunks)
    while True:
        try:
            chunk = next(items)
        except StopIteration:
            break
        except Exception as exc:
            if not hold_text and not calls:
                yield from flush_held()
            if received:
                raise StreamCut(exc) from exc
            raise
        received = True
        u = _get(chunk, "usage")
        if u is not None:
            usage = (_get(u, "prompt_tokens"), _get(u, "completion_tokens"))
        for choice in _get(chunk, "choices") or []:
            if (_get(choice, "index") or 0) != 0:
                continue
            delta = _get(choice, "delta")
            if delta is not None:
                reasoning = _get(delta, "reasoning_content") or _get(delta, "reasoning")
                if isinstance(reasoning, str) and reasoning:
                    yield Reasoning(text=reasoning, step_id=step_id, source=SOURCE)
                content = _get(delta, "content")
                if isinstance(content, str) and content:
                    text_parts.append(content)
                    if hold_text:
                        pass
                    elif streaming:
                        yield TextChunk(text=content, step_id=step_id, source=SOURCE)
                    else:
                        held.append(content)
                        if not calls and sum(map(len, held)) > HOLD_CHARS:
                            streaming = True
                            yield from flush_held()
                for fragment in _get(delta, "tool_calls") or []:
                    index = _get(fragment, "index")
                    key = index if index is not None else (_get(fragment, "id") or len(calls))
                    if key not in calls:
                        calls[key] = _Call(len(calls))
                        if held and not streaming and not hold_text:
                            text = "".join(held).strip()
                            held.clear()
                            if text:
                                yield Rationale(text=text, step_id=step_id, source=SOURCE)
                    call = calls[key]
                    call.id = call.id or (_get(fragment, "id") or "")
                    function = _get(fragment, "function")
                    if function is not None:
                        call.name = call.name or (_get(function, "name") or "")
                        arguments = _get(function, "arguments")
                        if isinstance(arguments, str):
                            call.parts.append(arguments)
            reason = _get(choice, "finish_reason")
            if reason:
                finish = str(reason)

    text = "".join(text_parts)
    if held and not hold_text:
        if calls:  # text after the first tool call: more thinking
            joined = "".join(held).strip()
            if joined:
                yield Rationale(text=joined, step_id=step_id, source=SOURCE)
            held.clear()
        else:
            yield from flush_held()
    if usage is not None:
        yield Usage(input_tokens=usage[0], output_tokens=usage[1], step_id=step_id, source=SOURCE)
    if not hold_text and not calls and text and finish is not None:
        yield FinalResponse(text=text, step_id=step_id, source=SOURCE)

    tool_calls = tuple(_tool_call(c, step_id) for c in sorted(calls.values(), key=lambda c: c.position))
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if tool_calls:
        message["tool_calls"] = [{"id": c.tool_use_id, "type": "function",
                                  "function": {"name": c.name, "arguments": c.raw_input}}
                                 for c in tool_calls]
    stop = _STOP_REASONS.get(finish or "", finish)
    if tool_calls and stop == "end_turn":
        stop = "tool_use"  # some servers say "stop" after a tool call
    yield TurnEnd(stop_reason=stop, text=text, tool_calls=tool_calls, message=message,
                  complete=finish is not None)


def _tool_call(c: _Call, step_id: str | None) -> ToolCall:
    raw = "".join(c.parts)
    call_id = c.id or f"call_{step_id or 'turn'}_{c.position}"
    try:
        value = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        return ToolCall(call_id, c.name, raw, {}, f"the tool input is not valid JSON ({exc})")
    if isinstance(value, str):  # some servers double-encode the arguments
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    if not isinstance(value, dict):
        return ToolCall(call_id, c.name, raw, {}, "the tool input is not a JSON object")
    return ToolCall(call_id, c.name, raw, value)
