"""The ConverseStream parser: the dicts an unmodified boto3 client yields from real frames."""
from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import EventStreamError

from agent_core.backends.converse_stream import ToolCall, TurnEnd, parse_converse_stream
from agent_core.events import (
    FinalResponse, Rationale, Reasoning, TextChunk, UnknownEvent, Usage,
)
from tests.fakes.converse_server import FakeConverse, Turn


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def boto_stream(turns):
    """Stream items exactly as boto3 parses them from the fake's frames."""
    fake = FakeConverse(turns).start()
    try:
        client = boto3.client("bedrock-runtime", region_name="us-east-1",
                              endpoint_url=fake.endpoint_url)
        response = client.converse_stream(modelId="m", messages=[{"role": "user", "content": [{"text": "hi"}]}])
        return list(response["stream"])
    finally:
        fake.stop()


def split(items):
    events = [i for i in items if not isinstance(i, TurnEnd)]
    ends = [i for i in items if isinstance(i, TurnEnd)]
    assert len(ends) == 1 and isinstance(items[-1], TurnEnd)
    return events, ends[0]


def test_text_before_a_tool_call_is_rationale_and_tool_input_is_assembled():
    code = "import pandas as pd\nprint({'a': 1})  # quotes \" and unicode é"
    raw = boto_stream([Turn(text="Let me load the file first.", code=code)])
    assert [next(iter(i)) for i in raw][:2] == ["messageStart", "contentBlockDelta"]
    events, end = split(list(parse_converse_stream(raw, step_id="turn-1")))
    assert events[0] == Rationale(text="Let me load the file first.", step_id="turn-1", source="converse")
    assert not any(isinstance(e, (TextChunk, FinalResponse)) for e in events)
    assert end.stop_reason == "tool_use" and end.complete
    assert end.tool_calls == (ToolCall("tooluse_0001", "execute_python", json.dumps({"code": code}),
                                       {"code": code}),)
    assert end.tool_calls[0].code == code
    assert end.message == {"role": "assistant", "content": [
        {"text": "Let me load the file first."},
        {"toolUse": {"toolUseId": "tooluse_0001", "name": "execute_python", "input": {"code": code}}}]}
    assert Usage(input_tokens=120, output_tokens=40, step_id="turn-1", source="converse") in events


def test_final_turn_streams_text_chunks_then_one_final_response():
    text = "The 20-day average ends at 121.3 — up 4 % over the month."
    raw = boto_stream([Turn(text=text)])
    events, end = split(list(parse_converse_stream(raw)))
    chunks = [e.text for e in events if isinstance(e, TextChunk)]
    assert len(chunks) > 3 and "".join(chunks) == text
    assert [e.text for e in events if isinstance(e, FinalResponse)] == [text]
    assert not any(isinstance(e, Rationale) for e in events)
    assert end.stop_reason == "end_turn" and end.tool_calls == () and end.text == text


def test_invalid_tool_input_is_reported_not_raised():
    raw = boto_stream([Turn(text="", raw_tool_input='{"code": "print(1)"')])
    _, end = split(list(parse_converse_stream(raw)))
    call = end.tool_calls[0]
    assert call.input_error and "not valid JSON" in call.input_error and call.code is None
    assert end.message["content"][0]["toolUse"]["input"] == {}


def test_in_stream_exception_raises_after_keeping_the_text_said_so_far():
    raw_items = []
    fake = FakeConverse([Turn(text="Partial answer", exception=("throttlingException", "slow down"))]).start()
    try:
        client = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=fake.endpoint_url)
        stream = client.converse_stream(modelId="m", messages=[{"role": "user", "content": [{"text": "x"}]}])["stream"]
        with pytest.raises(EventStreamError) as info:
            for item in parse_converse_stream(stream):
                raw_items.append(item)
    finally:
        fake.stop()
    assert info.value.response["Error"]["Code"] == "throttlingException"
    assert "".join(e.text for e in raw_items if isinstance(e, TextChunk)) == "Partial answer"


def test_reasoning_is_shown_and_kept_with_its_signature_for_the_history():
    stream = [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"delta": {"reasoningContent": {"text": "The user wants "}}, "contentBlockIndex": 0}},
        {"contentBlockDelta": {"delta": {"reasoningContent": {"text": "a chart."}}, "contentBlockIndex": 0}},
        {"contentBlockDelta": {"delta": {"reasoningContent": {"signature": "sig=="}}, "contentBlockIndex": 0}},
        {"contentBlockStop": {"contentBlockIndex": 0}},
        {"contentBlockStart": {"start": {"toolUse": {"toolUseId": "t1", "name": "execute_python"}},
                               "contentBlockIndex": 1}},
        {"contentBlockDelta": {"delta": {"toolUse": {"input": '{"code": "1"}'}}, "contentBlockIndex": 1}},
        {"contentBlockStop": {"contentBlockIndex": 1}},
        {"messageStop": {"stopReason": "tool_use"}},
        {"somethingNew": {"x": 1}},
    ]
    events, end = split(list(parse_converse_stream(stream)))
    assert [e.text for e in events if isinstance(e, Reasoning)] == ["The user wants ", "a chart."]
    assert isinstance(events[-1], UnknownEvent) and events[-1].raw == {"somethingNew": {"x": 1}}
    assert end.message["content"][0] == {
        "reasoningContent": {"reasoningText": {"text": "The user wants a chart.", "signature": "sig=="}}}


def test_a_stream_cut_before_message_stop_is_incomplete():
    stream = [{"messageStart": {"role": "assistant"}},
              {"contentBlockDelta": {"delta": {"text": "Half"}, "contentBlockIndex": 0}}]
    events, end = split(list(parse_converse_stream(stream)))
    assert not end.complete
    assert [e.text for e in events if isinstance(e, TextChunk)] == ["Half"]
    assert not any(isinstance(e, FinalResponse) for e in events)
