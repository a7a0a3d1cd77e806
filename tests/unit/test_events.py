"""agent_core.events: frozen, keyword-only events and their JSON form."""
from __future__ import annotations

import dataclasses
import json

import pytest

from agent_core.events import (
    EVENT_TYPES, AgentEvent, AgentFailure, Citations, CodeInvocation, FileReturned,
    FilesGenerated, GuardrailAction, KnowledgeBaseResult, ReturnControl, TextChunk, UnknownEvent,
    Usage, event_from_dict, event_to_dict,
)
from agent_core.files import ReturnedFile

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"

SAMPLES: list[AgentEvent] = [
    TextChunk(text="héllo 📈", source="chunk"),
    CodeInvocation(code="print(1)", files=("a.csv", "b.csv"), step_id="t-0",
                   source="orchestration"),
    FilesGenerated(names=("chart.png",), step_id="t-0", source="orchestration"),
    Usage(input_tokens=10, output_tokens=None, step_id="t-0"),
    GuardrailAction(action="INTERVENED", details={"inputAssessments": [{"topicPolicy": {}}]}),
    KnowledgeBaseResult(references=({"content": {"text": "x"}},)),
    ReturnControl(invocation_id="i", inputs=({"functionInvocationInput": {"function": "f"}},)),
    Citations(citations=({"retrievedReferences": []},), source="chunk"),
    AgentFailure(kind="throttling", message="Wait a minute and press Retry.", retryable=True),
    UnknownEvent(raw={"newThing": [1, "two", None, {"b": b"\x00\xff"}]}, source="trace"),
    UnknownEvent(raw=["a list stays a list", 1]),
]


def test_every_event_type_is_frozen_keyword_only_and_has_step_and_source():
    for name, cls in EVENT_TYPES.items():
        assert cls.__name__ == name and issubclass(cls, AgentEvent)
        params = cls.__dataclass_params__
        assert params.frozen, name
        fields = {f.name: f for f in dataclasses.fields(cls)}
        assert {"step_id", "source"} <= set(fields)
        assert all(f.kw_only for f in fields.values()), name


def test_events_cannot_be_changed():
    event = TextChunk(text="a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.text = "b"  # type: ignore[misc]
    with pytest.raises(TypeError):
        TextChunk("a")  # type: ignore[misc]  # keyword-only


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_round_trip_through_json(event):
    data = json.loads(json.dumps(event_to_dict(event)))
    assert data["event"] == type(event).__name__
    assert event_from_dict(data) == event


def test_returned_file_is_stored_without_bytes_unless_asked():
    event = FileReturned(file=ReturnedFile(name="chart.png", declared_type="image/png", data=PNG),
                         source="files")
    small = event_to_dict(event)
    assert small["file"] == {"name": "chart.png", "declared_type": "image/png",
                             "media_type": "image/png", "size": len(PNG)}
    assert "data_b64" not in json.dumps(small)
    assert event_from_dict(small, file_bytes=PNG) == event
    full = json.loads(json.dumps(event_to_dict(event, include_bytes=True)))
    assert event_from_dict(full) == event
    assert event_from_dict(small).file.data == b""  # bytes stored apart and not given


def test_unknown_class_name_or_bad_fields_become_unknown_events():
    odd = {"event": "FromTheFuture", "x": 1}
    assert event_from_dict(odd) == UnknownEvent(raw=odd)
    missing = {"event": "TextChunk"}  # required field absent
    assert event_from_dict(missing) == UnknownEvent(raw=missing)
    assert event_from_dict({"x": 1}) == UnknownEvent(raw={"x": 1})
    damaged = {"event": "FileReturned", "file": "chart.png"}
    assert event_from_dict(damaged) == UnknownEvent(raw=damaged)
    bad_b64 = {"event": "FileReturned", "file": {"name": "a.png", "data_b64": "abc"}}  # bad padding
    assert isinstance(event_from_dict(bad_b64), UnknownEvent)


def test_to_dict_makes_anything_json_safe():
    import datetime as dt

    event = UnknownEvent(raw={"t": dt.datetime(2026, 1, 1), "s": {1, 2}.__class__.__name__,
                              "b": bytearray(b"\x01")})
    data = event_to_dict(event)
    json.dumps(data)  # no TypeError
    assert isinstance(data["raw"]["t"], str)
    assert event_from_dict(data).raw["b"] == b"\x01"
