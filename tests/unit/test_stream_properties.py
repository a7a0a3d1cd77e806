"""Property tests: whatever arrives, parse_stream yields only events and never raises."""
from __future__ import annotations

from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_core.events import AgentEvent, AgentFailure, TextChunk, event_to_dict
from agent_core.stream import parse_stream


def _model_names() -> list[str]:
    from botocore.loaders import Loader

    shapes = Loader().load_service_model("bedrock-agent-runtime", "service-2")["shapes"]
    return sorted({m for s in shapes.values() for m in s.get("members", {})})


# keys the parser looks for (so random shapes reach deep handlers) and some noise
KEYS = st.sampled_from(_model_names()) | st.text(max_size=6)
LEAVES = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
          | st.text(max_size=20) | st.binary(max_size=20))
VALUES = st.recursive(
    LEAVES,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=40,
)

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
VALID = [
    {"chunk": {"bytes": "Résumé 📈".encode()}},
    {"trace": {"sessionId": "s", "trace": {"orchestrationTrace": {
        "rationale": {"text": "plan", "traceId": "t-0"}}}}},
    {"trace": {"trace": {"orchestrationTrace": {"invocationInput": {
        "traceId": "t-0", "invocationType": "ACTION_GROUP_CODE_INTERPRETER",
        "codeInterpreterInvocationInput": {"code": "print(1)", "files": ["a.csv"]}}}}}},
    {"trace": {"trace": {"orchestrationTrace": {"observation": {
        "traceId": "t-0", "codeInterpreterInvocationOutput": {
            "executionOutput": "1", "executionError": "E", "executionTimeout": True,
            "files": ["c.png"]}}}}}},
    {"trace": {"trace": {"orchestrationTrace": {"modelInvocationOutput": {
        "traceId": "t-0", "rawResponse": {"content": "x"},
        "reasoningContent": {"reasoningText": {"text": "r"}},
        "metadata": {"usage": {"inputTokens": 3, "outputTokens": 4}}}}}}},
    {"trace": {"trace": {"preProcessingTrace": {"modelInvocationOutput": {
        "parsedResponse": {"isValid": True, "rationale": "ok"}}}}}},
    {"trace": {"trace": {"guardrailTrace": {"action": "NONE", "traceId": "g"}}}},
    {"trace": {"trace": {"failureTrace": {"failureReason": "x", "failureCode": 500}}}},
    {"files": {"files": [{"name": "../c.png", "type": "image/png", "bytes": PNG}]}},
    {"returnControl": {"invocationId": "i", "invocationInputs": [{"x": 1}]}},
]


@st.composite
def garbled(draw: st.DrawFn) -> Any:
    """A valid item with random parts dropped, retyped, truncated or extended."""
    def mutate(value: Any, depth: int) -> Any:
        roll = draw(st.integers(0, 9))
        if roll == 0:
            return draw(VALUES)                       # replaced by anything
        if roll == 1 and isinstance(value, (bytes, str)):
            return value[: draw(st.integers(0, len(value)))]  # truncated
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                if draw(st.integers(0, 6)) == 0:
                    continue                          # key dropped
                out[k] = mutate(v, depth + 1)
            if draw(st.integers(0, 8)) == 0:
                out[draw(KEYS)] = draw(VALUES)        # key added
            return out
        if isinstance(value, list):
            return [mutate(v, depth + 1) for v in value]
        return value
    return mutate(draw(st.sampled_from(VALID)), 0)


ITEMS = st.one_of(VALUES, garbled(), st.sampled_from(VALID),
                  st.dictionaries(KEYS, VALUES, min_size=1, max_size=1))
EXCEPTIONS = st.sampled_from([
    RuntimeError("x"), ValueError("bad"), ConnectionResetError("reset"), TimeoutError(),
    KeyError("k"), UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"),
])


def _check(events: list[Any]) -> None:
    assert all(isinstance(e, AgentEvent) for e in events)
    failures = [i for i, e in enumerate(events) if isinstance(e, AgentFailure)]
    assert failures in ([], [len(events) - 1])  # at most one, and it is last
    for e in events:
        event_to_dict(e)  # every event can be stored / printed as JSON
        if isinstance(e, TextChunk):
            assert e.text


@pytest.mark.timeout(120)
@settings(max_examples=120, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ITEMS, max_size=8))
def test_any_items_give_only_events_and_never_raise(items):
    _check(list(parse_stream(items)))


@pytest.mark.timeout(120)
@settings(max_examples=80, deadline=None, database=None)
@given(st.lists(ITEMS, max_size=5), EXCEPTIONS)
def test_a_raising_source_ends_in_one_failure_after_everything_before_it(items, exc):
    def source() -> Iterator[Any]:
        yield from items
        raise exc

    events = list(parse_stream(source()))
    _check(events)
    assert isinstance(events[-1], AgentFailure)
    alone = list(parse_stream(items))
    if not any(isinstance(e, AgentFailure) for e in alone):
        # what the items give on their own came out first, unchanged
        assert events[: len(alone)] == alone or _same_text(events[:-1], alone)


def _same_text(a: list[Any], b: list[Any]) -> bool:
    """Text held back by the decoder may be flushed as its own chunk at the failure."""
    def text(events: list[Any]) -> str:
        return "".join(e.text for e in events if isinstance(e, TextChunk))

    others = lambda evs: [e for e in evs if not isinstance(e, TextChunk)]  # noqa: E731
    return text(a) == text(b) and others(a) == others(b)


@pytest.mark.timeout(60)
@settings(max_examples=100, deadline=None, database=None)
@given(st.binary(max_size=60), st.lists(st.integers(0, 60), max_size=6))
def test_any_bytes_split_anywhere_decode_like_the_whole(data, cuts):
    bounds = sorted({0, len(data), *[min(c, len(data)) for c in cuts]})
    items = [{"chunk": {"bytes": data[a:b]}} for a, b in zip(bounds, bounds[1:])]
    text = "".join(e.text for e in parse_stream(items))
    assert text == data.decode("utf-8", errors="replace")
