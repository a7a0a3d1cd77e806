"""The Chat Completions stream parser on the chunks the unmodified ``openai`` client yields
from the fake server's server-sent events."""
from __future__ import annotations

import openai

from agent_core.backends.loop import TurnEnd
from agent_core.backends.openai_stream import HOLD_CHARS, StreamCut, parse_chat_stream
from agent_core.events import FinalResponse, Rationale, Reasoning, TextChunk, Usage
from tests.fakes.openai_server import ChatTurn, FakeChat, code_call


class Counting:
    """Wraps the client's stream; ``taken`` is how many chunks were read so far."""

    def __init__(self, stream) -> None:
        self.stream, self.taken = iter(stream), 0

    def __iter__(self):
        return self

    def __next__(self):
        item = next(self.stream)
        self.taken += 1
        return item


def chunks(turn: ChatTurn, **create):
    with FakeChat([turn]) as fake:
        client = openai.OpenAI(base_url=fake.base_url, api_key="x", max_retries=0)
        stream = client.chat.completions.create(
            model="analyst-7b", messages=[{"role": "user", "content": "hi"}], stream=True,
            stream_options={"include_usage": True}, **create)
        return list(stream)


def test_a_long_answer_streams_before_the_turn_ends():
    text = "The closing price rose. " * 60  # well past the hold
    items = chunks(ChatTurn(text=text))
    counting = Counting(items)
    seen_at = None
    events = []
    for event in parse_chat_stream(counting, step_id="s1"):
        if isinstance(event, TextChunk) and seen_at is None:
            seen_at = counting.taken
        events.append(event)
    assert seen_at is not None and seen_at < len(items) // 2  # out long before the last chunk
    assert "".join(e.text for e in events if isinstance(e, TextChunk)) == text
    assert [e.text for e in events if isinstance(e, FinalResponse)] == [text]
    assert sum(len(e.text) for e in events if isinstance(e, TextChunk)) > HOLD_CHARS


def test_text_before_tool_calls_is_rationale_and_calls_are_assembled_in_order():
    items = chunks(ChatTurn(text="Two steps.", calls=(code_call("print(1)"), code_call("print(2)"))))
    events = list(parse_chat_stream(items, step_id="s1"))
    end = events[-1]
    assert isinstance(end, TurnEnd) and end.stop_reason == "tool_use" and end.complete
    assert [c.code for c in end.tool_calls] == ["print(1)", "print(2)"]
    assert [c.tool_use_id for c in end.tool_calls] == ["call_1_0", "call_1_1"]
    assert [e.text for e in events if isinstance(e, Rationale)] == ["Two steps."]
    assert not any(isinstance(e, (TextChunk, FinalResponse)) for e in events)
    assert end.message["tool_calls"][1]["function"]["arguments"] == '{"code": "print(2)"}'
    assert [(u.input_tokens, u.output_tokens) for u in events if isinstance(u, Usage)] == [(100, 30)]


def test_held_text_of_a_model_without_tools_is_not_given_out():
    items = chunks(ChatTurn(text="Here:\n```python\nprint(1)\n```\n", usage=None))
    events = list(parse_chat_stream(items, hold_text=True))
    assert len(events) == 1 and events[0].text.startswith("Here:") and events[0].tool_calls == ()


def test_reasoning_fields_and_a_length_stop():
    stream = [{"choices": [{"index": 0, "delta": {"reasoning_content": "Think."}}]},
              {"choices": [{"index": 0, "delta": {"content": "Half"}, "finish_reason": "length"}]}]
    events = list(parse_chat_stream(stream))
    assert [e.text for e in events if isinstance(e, Reasoning)] == ["Think."]
    assert events[-1].stop_reason == "max_tokens"


def test_a_break_after_some_chunks_keeps_the_text_and_says_stream_cut():
    def broken():
        yield {"choices": [{"index": 0, "delta": {"content": "Partial "}}]}
        yield {"choices": [{"index": 0, "delta": {"content": "answer"}}]}
        raise ConnectionResetError("gone")

    out = []
    try:
        for event in parse_chat_stream(broken()):
            out.append(event)
    except StreamCut as cut:
        assert isinstance(cut.cause, ConnectionResetError)
    else:
        raise AssertionError("the cut must be raised")
    assert "".join(e.text for e in out) == "Partial answer"
