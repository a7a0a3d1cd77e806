"""agent_core.stream: every member of Bedrock's response stream -> events.

Raw dicts below are in the exact shape boto3 yields from ``response["completion"]``
(checked against the botocore model in ``test_model_*`` and through botocore's own
event-stream parser in ``test_real_botocore_parsing_*``)."""
from __future__ import annotations

import datetime as dt
import io
from typing import Any, Iterator

import pytest
from botocore.exceptions import (
    ConnectionClosedError, EndpointConnectionError, EventStreamError, ReadTimeoutError,
    ResponseStreamingError,
)

from agent_core import stream
from agent_core.events import (
    EVENT_TYPES, ActionGroupInput, ActionGroupOutput, AgentEvent, AgentFailure, Citations,
    CodeError, CodeInvocation, CodeOutput, CodeOutputProgress, CodeTimeout, CollaboratorInput, CollaboratorOutput,
    CustomOrchestration, FailureTrace, FileReturned, FilesGenerated, FinalResponse,
    GuardrailAction, KnowledgeBaseQuery, KnowledgeBaseResult, ModelInput, ModelOutput,
    PostProcessing, PreProcessing, Rationale, Reasoning, RepromptResponse, ReturnControl,
    RoutingClassification, RunEnd, TextChunk, UnknownEvent, Usage, event_from_dict, event_to_dict,
)
from agent_core.stream import (
    StreamState, Utf8ChunkDecoder, failure_for_code, parse_item, parse_stream,
)

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 16
TID = "a3f1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d-0"
ARN = "arn:aws:bedrock:us-east-1:123456789012:agent-alias/AGENT12345/TSTALIASID"


def trace(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """A ``trace`` item as boto3 yields it for InvokeAgent."""
    return {"trace": {
        "agentAliasId": "TSTALIASID", "agentId": "AGENT12345", "agentVersion": "DRAFT",
        "callerChain": [{"agentAliasArn": ARN}],
        "eventTime": dt.datetime(2026, 11, 27, 4, 40, tzinfo=dt.timezone.utc),
        "sessionId": "desk-2026-11-27-abc", "trace": {kind: body}}}


def orch(body: dict[str, Any]) -> dict[str, Any]:
    return trace("orchestrationTrace", body)


def one(item: Any) -> list[AgentEvent]:
    return list(parse_stream([item]))


# --- one test per event kind ---------------------------------------------------------
def test_chunk_is_text():
    assert one({"chunk": {"bytes": "The 20-day average is 101.5 €.".encode()}}) == [
        TextChunk(text="The 20-day average is 101.5 €.", source="chunk")]


def test_chunk_with_attribution_gives_citations():
    cite = {"generatedResponsePart": {"textResponsePart": {"text": "x", "span": {"start": 0,
                                                                                  "end": 1}}},
            "retrievedReferences": [{"content": {"text": "doc"},
                                     "location": {"type": "S3",
                                                  "s3Location": {"uri": "s3://b/k"}}}]}
    events = one({"chunk": {"bytes": b"x", "attribution": {"citations": [cite]}}})
    assert events == [TextChunk(text="x", source="chunk"),
                      Citations(citations=(cite,), source="chunk")]


def test_rationale():
    assert one(orch({"rationale": {"text": "I will load the CSV and compute returns.",
                                   "traceId": TID}})) == [
        Rationale(text="I will load the CSV and compute returns.", step_id=TID,
                  source="orchestration")]


def test_code_invocation():
    code = "import pandas as pd\ndf = pd.read_csv('prices.csv')\nprint(df.tail())"
    item = orch({"invocationInput": {
        "invocationType": "ACTION_GROUP_CODE_INTERPRETER", "traceId": TID,
        "codeInterpreterInvocationInput": {"code": code, "files": ["prices.csv"]}}})
    assert one(item) == [CodeInvocation(code=code, files=("prices.csv",), step_id=TID,
                                        source="orchestration")]


def test_code_output_and_files_generated():
    item = orch({"observation": {"type": "ACTION_GROUP_CODE_INTERPRETER", "traceId": TID,
                                 "codeInterpreterInvocationOutput": {
                                     "executionOutput": "        close\n2024-01-05  103.2\n",
                                     "files": ["chart.png", "returns.csv"]}}})
    assert one(item) == [
        CodeOutput(text="        close\n2024-01-05  103.2\n", step_id=TID, source="orchestration"),
        FilesGenerated(names=("chart.png", "returns.csv"), step_id=TID, source="orchestration")]


def test_code_error():
    err = "Traceback (most recent call last):\nKeyError: 'Close'"
    item = orch({"observation": {"type": "ACTION_GROUP_CODE_INTERPRETER", "traceId": TID,
                                 "codeInterpreterInvocationOutput": {"executionError": err}}})
    assert one(item) == [CodeError(text=err, step_id=TID, source="orchestration")]


def test_code_timeout():
    item = orch({"observation": {"type": "ACTION_GROUP_CODE_INTERPRETER", "traceId": TID,
                                 "codeInterpreterInvocationOutput": {"executionTimeout": True}}})
    assert one(item) == [CodeTimeout(step_id=TID, source="orchestration")]


def test_code_run_without_output_still_reports_an_output():
    item = orch({"observation": {"traceId": TID, "codeInterpreterInvocationOutput": {
        "executionTimeout": False}}})
    assert one(item) == [CodeOutput(text="", step_id=TID, source="orchestration")]


def test_final_response():
    item = orch({"observation": {"type": "FINISH", "traceId": TID,
                                 "finalResponse": {"text": "Done: see chart.png",
                                                   "metadata": {"operationTotalTimeMs": 5300}}}})
    assert one(item) == [FinalResponse(text="Done: see chart.png", step_id=TID,
                                       source="orchestration")]


def test_reprompt_response():
    item = orch({"observation": {"type": "REPROMPT", "traceId": TID, "repromptResponse": {
        "text": "Please say which ticker.", "source": "PARSER"}}})
    assert one(item) == [RepromptResponse(text="Please say which ticker.", reprompt_source="PARSER",
                                          step_id=TID, source="orchestration")]


def test_action_group_input_and_output():
    inp = orch({"invocationInput": {"invocationType": "ACTION_GROUP", "traceId": TID,
                                    "actionGroupInvocationInput": {
                                        "actionGroupName": "prices", "apiPath": "/quote",
                                        "verb": "get", "executionType": "LAMBDA",
                                        "parameters": [{"name": "ticker", "type": "string",
                                                        "value": "SYNA"}]}}})
    [event] = one(inp)
    assert isinstance(event, ActionGroupInput)
    assert (event.action_group, event.api_path, event.function, event.step_id) == (
        "prices", "/quote", None, TID)
    assert event.details["parameters"][0]["value"] == "SYNA" and event.details["verb"] == "get"
    out = orch({"observation": {"type": "ACTION_GROUP", "traceId": TID,
                                "actionGroupInvocationOutput": {"text": '{"price": 101.5}'}}})
    assert one(out) == [ActionGroupOutput(text='{"price": 101.5}', step_id=TID,
                                          source="orchestration")]


def test_knowledge_base_query_and_result():
    inp = orch({"invocationInput": {"invocationType": "KNOWLEDGE_BASE", "traceId": TID,
                                    "knowledgeBaseLookupInput": {"knowledgeBaseId": "KB123",
                                                                 "text": "dividend policy"}}})
    assert one(inp) == [KnowledgeBaseQuery(knowledge_base_id="KB123", text="dividend policy",
                                           step_id=TID, source="orchestration")]
    ref = {"content": {"text": "Dividends are paid quarterly."},
           "location": {"type": "S3", "s3Location": {"uri": "s3://kb/policy.pdf"}},
           "metadata": {"page": 3}}
    out = orch({"observation": {"type": "KNOWLEDGE_BASE", "traceId": TID,
                                "knowledgeBaseLookupOutput": {"retrievedReferences": [ref]}}})
    assert one(out) == [KnowledgeBaseResult(references=(ref,), step_id=TID,
                                            source="orchestration")]


def test_collaborator_input_and_output():
    inp = orch({"invocationInput": {"invocationType": "AGENT_COLLABORATOR", "traceId": TID,
                                    "agentCollaboratorInvocationInput": {
                                        "agentCollaboratorName": "charting",
                                        "agentCollaboratorAliasArn": ARN,
                                        "input": {"type": "TEXT", "text": "Plot SYNA"}}}})
    assert one(inp) == [CollaboratorInput(name="charting", text="Plot SYNA", step_id=TID,
                                          source="orchestration")]
    out = orch({"observation": {"type": "AGENT_COLLABORATOR", "traceId": TID,
                                "agentCollaboratorInvocationOutput": {
                                    "agentCollaboratorName": "charting",
                                    "output": {"type": "TEXT", "text": "Chart ready"}}}})
    assert one(out) == [CollaboratorOutput(name="charting", text="Chart ready", step_id=TID,
                                           source="orchestration")]


def test_model_input():
    item = orch({"modelInvocationInput": {
        "traceId": TID, "type": "ORCHESTRATION", "text": '{"system": "You are..."}',
        "foundationModel": "anthropic.claude-sonnet", "inferenceConfiguration": {
            "maximumLength": 2048, "temperature": 0.0, "topP": 1.0, "stopSequences": []}}})
    assert one(item) == [ModelInput(text='{"system": "You are..."}', kind="ORCHESTRATION",
                                    step_id=TID, source="orchestration")]


def test_model_output_usage_and_reasoning():
    item = orch({"modelInvocationOutput": {
        "traceId": TID, "rawResponse": {"content": "<thinking>load</thinking>"},
        "reasoningContent": {"reasoningText": {"text": "The user wants returns.",
                                               "signature": "sig"}},
        "metadata": {"usage": {"inputTokens": 1523, "outputTokens": 212},
                     "totalTimeMs": 2100}}})
    assert one(item) == [
        ModelOutput(text="<thinking>load</thinking>", step_id=TID, source="orchestration"),
        Reasoning(text="The user wants returns.", step_id=TID, source="orchestration"),
        Usage(input_tokens=1523, output_tokens=212, step_id=TID, source="orchestration")]


def test_redacted_reasoning_is_shown_as_redacted():
    item = orch({"modelInvocationOutput": {"traceId": TID, "reasoningContent": {
        "redactedContent": b"\x01\x02"}}})
    [event] = one(item)
    assert isinstance(event, Reasoning) and "redacted" in event.text


def test_pre_processing():
    tid = "b1-pre-0"
    items = [
        trace("preProcessingTrace", {"modelInvocationInput": {
            "traceId": tid, "type": "PRE_PROCESSING", "text": "Classify the input"}}),
        trace("preProcessingTrace", {"modelInvocationOutput": {
            "traceId": tid, "parsedResponse": {"isValid": True, "rationale": "A price question."},
            "rawResponse": {"content": "<category>D</category>"},
            "metadata": {"usage": {"inputTokens": 400, "outputTokens": 30}}}}),
    ]
    assert list(parse_stream(items)) == [
        ModelInput(text="Classify the input", kind="PRE_PROCESSING", step_id=tid,
                   source="preProcessing"),
        ModelOutput(text="<category>D</category>", step_id=tid, source="preProcessing"),
        PreProcessing(rationale="A price question.", is_valid=True, step_id=tid,
                      source="preProcessing"),
        Usage(input_tokens=400, output_tokens=30, step_id=tid, source="preProcessing"),
    ]


def test_post_processing():
    item = trace("postProcessingTrace", {"modelInvocationOutput": {
        "traceId": "p-0", "parsedResponse": {"text": "SYNA rose 3% this week."}}})
    assert one(item) == [PostProcessing(text="SYNA rose 3% this week.", step_id="p-0",
                                        source="postProcessing")]


def test_guardrail():
    assessment = {"topicPolicy": {"topics": [{"name": "advice", "type": "DENY",
                                              "action": "BLOCKED"}]}}
    item = trace("guardrailTrace", {"action": "INTERVENED", "traceId": "g-0",
                                    "inputAssessments": [assessment], "outputAssessments": []})
    [event] = one(item)
    assert event == GuardrailAction(action="INTERVENED", details={
        "inputAssessments": [assessment], "outputAssessments": []}, step_id="g-0",
        source="guardrail")


def test_failure_trace():
    item = trace("failureTrace", {"failureReason": "Lambda function timed out",
                                  "failureCode": 424, "traceId": "f-0"})
    assert one(item) == [FailureTrace(reason="Lambda function timed out", code=424, step_id="f-0",
                                      source="failure")]


def test_routing_classifier():
    items = [
        trace("routingClassifierTrace", {"invocationInput": {
            "invocationType": "AGENT_COLLABORATOR", "traceId": "r-0",
            "agentCollaboratorInvocationInput": {"agentCollaboratorName": "charting",
                                                 "input": {"type": "TEXT", "text": "Plot it"}}}}),
        trace("routingClassifierTrace", {"modelInvocationOutput": {
            "traceId": "r-0", "rawResponse": {"content": "<a>charting</a>"},
            "metadata": {"usage": {"inputTokens": 90, "outputTokens": 5}}}}),
    ]
    events = list(parse_stream(items))
    assert [type(e) for e in events] == [RoutingClassification, RoutingClassification, Usage]
    assert (events[0].kind, events[0].text, events[0].step_id, events[0].source) == (
        "invocationInput", "Plot it", "r-0", "routingClassifier")
    assert (events[1].kind, events[1].text) == ("modelInvocationOutput", "<a>charting</a>")
    assert events[2] == Usage(input_tokens=90, output_tokens=5, step_id="r-0",
                              source="routingClassifier")


def test_custom_orchestration():
    item = trace("customOrchestrationTrace", {"traceId": "c-0",
                                              "event": {"text": "step 1: plan"}})
    assert one(item) == [CustomOrchestration(text="step 1: plan", step_id="c-0",
                                             source="customOrchestration")]


def test_files_returned_with_sniffed_types():
    item = {"files": {"files": [
        {"name": "chart.png", "type": "image/png", "bytes": PNG},
        {"name": "returns.csv", "type": "text/csv", "bytes": b"date,ret\n2024-01-02,0.01\n"}]}}
    events = one(item)
    assert [type(e) for e in events] == [FileReturned, FileReturned]
    png, csv = (e.file for e in events)
    assert (png.name, png.is_image, png.data) == ("chart.png", True, PNG)
    assert (csv.name, csv.is_table) == ("returns.csv", True)
    assert {e.source for e in events} == {"files"}


def test_file_names_are_made_safe_and_unique_per_stream():
    hostile = ["../../etc/passwd", "C:\\x\\chart.png", "a\x00b.png", "con\x07.csv",
               "x" * 500 + ".csv", "..", "", None, "chart.png", "chart.png"]
    items = [{"files": {"files": [{"name": n, "type": "image/png", "bytes": PNG}
                                  for n in hostile[:5]]}},
             {"files": {"files": [{"name": n, "type": "image/png", "bytes": PNG}
                                  for n in hostile[5:]]}}]
    names = [e.file.name for e in parse_stream(items)]
    assert len(names) == len(hostile)  # none dropped
    assert names[0] == "file-1.png"            # '..' -> neutral name, extension sniffed
    assert names[1] == "chart.png"             # folders stripped
    assert names[2] == "file-2.png"            # NUL
    assert names[3] == "file-3.csv"            # control character: its safe extension kept
    assert len(names[4]) <= 120 and names[4].endswith(".csv")
    assert names[5:8] == ["file-4.png", "file-5.png", "file-6.png"]
    assert names[8:] == ["chart (2).png", "chart (3).png"]
    assert len({n.lower() for n in names}) == len(names)
    for n in names:
        assert "/" not in n and "\\" not in n and "\x00" not in n and n not in ("", "..")


def test_file_with_bad_bytes_becomes_unknown_but_others_survive():
    bad = {"name": "x.png", "type": "image/png", "bytes": "not bytes"}
    events = one({"files": {"files": [bad, {"name": "ok.png", "type": "image/png",
                                            "bytes": PNG}]}})
    assert events[0] == UnknownEvent(raw={"files": {"files": [bad]}}, source="files")
    assert isinstance(events[1], FileReturned) and events[1].file.name == "ok.png"


def test_return_control():
    inputs = [{"functionInvocationInput": {"actionGroup": "prices", "function": "quote",
                                           "parameters": [{"name": "t", "type": "string",
                                                           "value": "SYNA"}]}}]
    assert one({"returnControl": {"invocationId": "inv-1", "invocationInputs": inputs}}) == [
        ReturnControl(invocation_id="inv-1", inputs=tuple(inputs), source="returnControl")]


@pytest.mark.parametrize("code", sorted(stream.EXCEPTION_MEMBERS))
def test_in_stream_exception_member_is_a_failure_and_ends_the_stream(code):
    items = [{"chunk": {"bytes": b"partial"}}, {code: {"message": "details"}},
             {"chunk": {"bytes": b"never"}}]
    events = list(parse_stream(items))
    assert events[0] == TextChunk(text="partial", source="chunk")
    assert events[1] == failure_for_code(code, "details")
    assert len(events) == 2
    assert events[1].kind != "service_error" or code == "internalServerException"


# --- unknown and malformed --------------------------------------------------------------
@pytest.mark.parametrize("item", [
    {"newMember": {"x": 1}},                                          # future member
    {"chunk": {"bytes": b"a"}, "trace": {}},                          # extra top-level key
    "not a dict", None, 42, [], {},                                   # not one-key dicts
    {"chunk": {"bytes": "text, not bytes"}},                          # wrong type
    {"chunk": "oops"},
    {"trace": {"trace": {"planningTrace": {"text": "new"}}}},         # new trace kind
    orch({"rationale": {"traceId": TID}}),                            # missing key
    orch({"rationale": {"text": 5}}),
    orch({"invocationInput": {"traceId": TID, "browserInvocationInput": {}}}),
    orch({"observation": {"traceId": TID, "type": "FINISH"}}),
    orch({"modelInvocationOutput": {"metadata": {"usage": {"inputTokens": "many"}}}}),
    trace("failureTrace", {"failureCode": "x"}),
    {"trace": {"trace": None}},
    {"files": {"files": "chart.png"}},
    {"returnControl": {"invocationInputs": [1, 2]}},
])
def test_unrecognised_or_malformed_becomes_unknown(item):
    events = one(item)
    assert events and isinstance(events[-1], UnknownEvent)
    assert events[-1].raw is item
    assert all(not isinstance(e, AgentFailure) for e in events)


def test_unknown_member_next_to_known_ones_keeps_both():
    item = orch({"rationale": {"text": "plan", "traceId": TID}, "planningStep": {"x": 1}})
    events = one(item)
    assert events == [Rationale(text="plan", step_id=TID, source="orchestration"),
                      UnknownEvent(raw=item, source="trace")]


# --- UTF-8 ------------------------------------------------------------------------------
def test_decoder_holds_back_a_split_character_and_flushes_bad_bytes():
    d = Utf8ChunkDecoder()
    euro = "€".encode()  # 3 bytes
    assert d.feed(b"1" + euro[:1]) == "1"
    assert d.feed(euro[1:2]) == ""
    assert d.feed(euro[2:] + b"2") == "€2"
    assert d.feed(b"\xff") == "\ufffd"
    assert d.feed(euro[:2]) == ""
    assert d.flush() == "\ufffd"
    assert d.flush() == ""


def test_split_multibyte_characters_come_out_whole():
    text = "Rendite 3,5 % – 📈 über €100 ✓"
    data = text.encode()
    chunks = [{"chunk": {"bytes": data[i:i + 1]}} for i in range(len(data))]  # byte by byte
    events = list(parse_stream(chunks))
    assert all(isinstance(e, TextChunk) for e in events)
    assert "".join(e.text for e in events) == text
    assert "\ufffd" not in "".join(e.text for e in events)


def test_truncated_character_at_end_is_flushed_as_replacement():
    events = list(parse_stream([{"chunk": {"bytes": "ok €".encode()[:-1]}}]))
    assert "".join(e.text for e in events) == "ok \ufffd"


# --- failures while iterating -------------------------------------------------------------
def _stream_error(code: str, message: str = "msg") -> EventStreamError:
    return EventStreamError({"Error": {"Code": code, "Message": message}}, "InvokeAgent")


def _raising(items: list[Any], exc: BaseException) -> Iterator[Any]:
    yield from items
    raise exc


@pytest.mark.parametrize("exc, kind, retryable, hint", [
    (_stream_error("throttlingException", "Rate exceeded"), "throttling", True, "wait a minute"),
    (_stream_error("accessDeniedException"), "access_denied", False, "bedrock:InvokeAgent"),
    (_stream_error("validationException"), "validation", False, "session id"),
    (_stream_error("internalServerException"), "service_error", True, "Retry"),
    (_stream_error("dependencyFailedException"), "dependency_failed", True, "Lambda"),
    (_stream_error("badGatewayException"), "bad_gateway", True, "Retry"),
    (_stream_error("modelNotReadyException"), "model_not_ready", True, "Wait a minute"),
    (_stream_error("serviceQuotaExceededException"), "quota_exceeded", True, "quota"),
    (_stream_error("conflictException"), "conflict", True, "new session"),
    (_stream_error("resourceNotFoundException"), "not_found", False, "BEDROCK_AGENT_ID"),
    (ReadTimeoutError(endpoint_url="https://bedrock-agent-runtime"), "timeout", True,
     "BEDROCK_READ_TIMEOUT"),
    (ResponseStreamingError(error="Connection broken"), "broken_stream", True, "network"),
    (ConnectionClosedError(endpoint_url="https://x"), "broken_stream", True, "network"),
    (EndpointConnectionError(endpoint_url="https://x"), "connection", True, "network"),
    (ConnectionResetError("reset by peer"), "broken_stream", True, "network"),
    (__import__("urllib3").exceptions.ProtocolError("broken"), "broken_stream", True, "network"),
    (RuntimeError("weird"), "unexpected", True, "RuntimeError"),
])
def test_failure_after_events_comes_last_and_keeps_earlier_events(exc, kind, retryable, hint):
    euro = "€".encode()
    items = [{"chunk": {"bytes": b"Average " + euro[:2]}},
             orch({"rationale": {"text": "plan", "traceId": TID}})]
    events = list(parse_stream(_raising(items, exc)))
    assert events[0] == TextChunk(text="Average ", source="chunk")
    assert events[1] == Rationale(text="plan", step_id=TID, source="orchestration")
    assert events[2] == TextChunk(text="\ufffd", source="chunk")  # decoder flushed first
    failure = events[3]
    assert isinstance(failure, AgentFailure) and len(events) == 4
    assert (failure.kind, failure.retryable) == (kind, retryable)
    assert hint.lower() in failure.message.lower()


def test_failure_for_code_accepts_client_error_spelling_and_unknown_codes():
    assert failure_for_code("ThrottlingException", "Rate exceeded") == failure_for_code(
        "throttlingException", "Rate exceeded")
    expired = failure_for_code("ExpiredTokenException", "The security token has expired")
    assert expired.kind == "credentials" and "aws sso login" in expired.message
    assert failure_for_code("UnrecognizedClientException").kind == "credentials"
    odd = failure_for_code("SomethingNewException", "what happened")
    assert odd.kind == "service_error" and "SomethingNewException" in odd.message
    assert "what happened" in odd.message
    assert failure_for_code(None).kind == "service_error"


def test_failure_messages_never_show_key_like_strings():
    key, token = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEYxyz0123"
    denied = failure_for_code("accessDeniedException", f"User {key} with {token} is not allowed")
    broken = stream.failure_for_exception(RuntimeError(f"signature {token} mismatch"))
    for failure in (denied, broken):
        assert key not in failure.message and token not in failure.message
        assert "[redacted]" in failure.message


def test_failure_message_is_clipped_to_one_readable_line():
    long = failure_for_code("validationException", "x\n" * 2000)
    assert "\n" not in long.message and len(long.message) < 1000


def test_non_iterable_input_is_a_failure_not_an_exception():
    [event] = list(parse_stream(None))  # type: ignore[arg-type]
    assert isinstance(event, AgentFailure) and event.kind == "unexpected"


def test_parse_stream_is_lazy():
    pulled: list[int] = []

    def source():
        for i in range(3):
            pulled.append(i)
            yield {"chunk": {"bytes": f"part{i} ".encode()}}

    events = parse_stream(source())
    assert pulled == []
    assert next(events) == TextChunk(text="part0 ", source="chunk")
    assert pulled == [0]
    assert next(events).text == "part1 "
    assert pulled == [0, 1]


def test_parse_item_is_usable_alone_with_shared_state():
    state = StreamState()
    euro = "€".encode()
    assert parse_item({"chunk": {"bytes": euro[:1]}}, state) == []
    assert parse_item({"chunk": {"bytes": euro[1:]}}, state) == [TextChunk(text="€",
                                                                          source="chunk")]
    f = {"files": {"files": [{"name": "a.csv", "type": "text/csv", "bytes": b"a,b\n1,2\n"}]}}
    assert parse_item(f, state)[0].file.name == "a.csv"
    assert parse_item(f, state)[0].file.name == "a (2).csv"


# --- the botocore model: every member has a mapping -------------------------------------------
@pytest.fixture(scope="module")
def shapes() -> dict[str, Any]:
    from botocore.loaders import Loader

    return Loader().load_service_model("bedrock-agent-runtime", "service-2")["shapes"]


def _members(shapes: dict[str, Any], name: str) -> set[str]:
    return set(shapes[name]["members"])


def test_model_response_stream_members_all_have_a_mapping(shapes):
    for name in ("ResponseStream", "InlineAgentResponseStream"):
        members = _members(shapes, name)
        exceptions = {m for m in members
                      if shapes[shapes[name]["members"][m]["shape"]].get("exception")}
        assert exceptions <= stream.EXCEPTION_MEMBERS, name
        assert members - exceptions <= set(stream.TOP_LEVEL_MEMBERS), name
    assert _members(shapes, "TracePart") <= stream.TRACE_PART_META | {"trace"}
    assert _members(shapes, "InlineAgentTracePart") <= stream.TRACE_PART_META | {"trace"}


@pytest.mark.parametrize("shape, table", [
    ("Trace", set(stream.TRACE_KINDS)),
    ("OrchestrationTrace", set(stream.ORCHESTRATION_MEMBERS)),
    ("PreProcessingTrace", set(stream.PROCESSING_MEMBERS)),
    ("PostProcessingTrace", set(stream.PROCESSING_MEMBERS)),
    ("RoutingClassifierTrace", set(stream.ROUTING_MEMBERS)),
    ("InvocationInput", set(stream._INVOCATION_INPUT) | stream._INVOCATION_INPUT_META),
    ("Observation", set(stream._OBSERVATION) | stream._OBSERVATION_META),
])
def test_model_trace_members_all_have_a_mapping(shapes, shape, table):
    missing = _members(shapes, shape) - table
    assert not missing, f"botocore's {shape} has members the parser does not map: {missing}"


def _example(shapes: dict[str, Any], name: str, depth: int = 0) -> Any:
    """A value of every member of a shape, as boto3 would hand it over."""
    shape = shapes[name]
    kind = shape["type"]
    if kind == "structure":
        if depth > 8:
            return {}
        return {m: _example(shapes, ref["shape"], depth + 1)
                for m, ref in shape["members"].items()}
    if kind == "list":
        return [] if depth > 8 else [_example(shapes, shape["member"]["shape"], depth + 1)]
    if kind == "map":
        return {"k": _example(shapes, shape["value"]["shape"], depth + 1)}
    return {"string": "x", "integer": 1, "long": 1, "boolean": True, "double": 1.0,
            "float": 1.0, "blob": PNG,
            "timestamp": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)}[kind]


@pytest.mark.parametrize("stream_shape", ["ResponseStream", "InlineAgentResponseStream"])
def test_model_full_examples_of_every_member_parse_without_unknowns(shapes, stream_shape):
    """Every data member, filled with every field the model has, is understood."""
    seen: set[type] = set()
    for member, ref in shapes[stream_shape]["members"].items():
        if shapes[ref["shape"]].get("exception"):
            continue
        value = _example(shapes, ref["shape"])
        items = [{member: value}]
        if member == "trace":  # one item per trace kind, as the service sends them
            trace_shape = shapes[ref["shape"]]["members"]["trace"]["shape"]
            items = [{member: {**value, "trace": {kind: _example(shapes, kref["shape"], 2)}}}
                     for kind, kref in shapes[trace_shape]["members"].items()]
        for item in items:
            events = list(parse_stream(item for item in [item]))
            assert events, item
            unknown = [e for e in events if isinstance(e, (UnknownEvent, AgentFailure))]
            assert not unknown, (member, item)
            seen.update(type(e) for e in events)
    # CodeOutputProgress is the local agent's own member (output printed while code runs);
    # RunEnd is the run path's closing event, never in a stream
    expected = set(EVENT_TYPES.values()) - {UnknownEvent, AgentFailure, CodeOutputProgress, RunEnd}
    assert expected <= seen, f"never produced: {sorted(c.__name__ for c in expected - seen)}"


# --- through botocore's own event-stream parser -------------------------------------------------
class _Body:
    """What urllib3 hands botocore: ``stream()`` yields byte pieces, cut anywhere."""

    def __init__(self, data: bytes, piece: int) -> None:
        self._data, self._piece = data, piece

    def stream(self) -> Iterator[bytes]:
        buf = io.BytesIO(self._data)
        while block := buf.read(self._piece):
            yield block

    def close(self) -> None:
        pass


def _botocore_completion(frames: bytes, piece: int = 7):
    import botocore.session
    from botocore.eventstream import EventStream
    from botocore.parsers import EventStreamJSONParser

    model = botocore.session.get_session().get_service_model("bedrock-agent-runtime")
    shape = model.operation_model("InvokeAgent").output_shape.members["completion"]
    return EventStream(_Body(frames, piece), shape, EventStreamJSONParser(), "InvokeAgent")


def test_real_botocore_parsing_of_a_code_interpreter_run_then_throttling():
    from tests.fakes.eventstream import encode_event, encode_exception

    code = "df['close'].plot()"
    answer = "Chart saved – 📈".encode()
    frames = b"".join([
        encode_event("trace", orch({"rationale": {"text": "Plot it", "traceId": TID}})["trace"]
                     | {"eventTime": 1795000000}),
        encode_event("trace", {"trace": {"orchestrationTrace": {"invocationInput": {
            "traceId": TID, "invocationType": "ACTION_GROUP_CODE_INTERPRETER",
            "codeInterpreterInvocationInput": {"code": code}}}}}),
        encode_event("trace", {"trace": {"orchestrationTrace": {"observation": {
            "traceId": TID, "type": "ACTION_GROUP_CODE_INTERPRETER",
            "codeInterpreterInvocationOutput": {"executionOutput": "", "files": ["chart.png"]}}}}}),
        encode_event("trace", {"trace": {"orchestrationTrace": {"modelInvocationOutput": {
            "traceId": TID, "metadata": {"usage": {"inputTokens": 10, "outputTokens": 3}}}}}}),
        encode_event("files", {"files": [{"name": "../chart.png", "type": "image/png",
                                          "bytes": PNG}]}),
        encode_event("chunk", {"bytes": answer[:-2]}),
        encode_event("chunk", {"bytes": answer[-2:]}),
        encode_exception("throttlingException", "Rate exceeded"),
        encode_event("chunk", {"bytes": b"never seen"}),
    ])
    events = list(parse_stream(_botocore_completion(frames)))
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["Rationale", "CodeInvocation", "CodeOutput", "FilesGenerated", "Usage",
                     "FileReturned", "TextChunk", "TextChunk", "AgentFailure"]
    assert events[1].code == code and events[3].names == ("chart.png",)
    assert events[5].file.name == "file-1.png" and events[5].file.data == PNG
    assert "".join(e.text for e in events if isinstance(e, TextChunk)) == "Chart saved – 📈"
    assert events[-1].kind == "throttling" and events[-1].retryable
    assert "Rate exceeded" in events[-1].message


def test_real_botocore_unknown_members_still_become_unknown_events():
    """botocore drops members its model does not know: a new trace kind arrives as an
    ``UnknownEvent`` holding the trace part (the kind's body is gone). A new top-level
    event type is skipped by botocore itself (``EventStream.__iter__`` drops the empty
    parse), before the parser can see it; the stream goes on."""
    from tests.fakes.eventstream import encode_event

    frames = b"".join([
        encode_event("chunk", {"bytes": b"hi"}),
        encode_event("trace", {"sessionId": "s-1", "trace": {
            "futureTrace": {"traceId": "z-0", "text": "new"}}}),
        encode_event("futureEvent", {"x": 1}),
        encode_event("chunk", {"bytes": b" there"}),
    ])
    events = list(parse_stream(_botocore_completion(frames, piece=1000)))
    assert events[0] == TextChunk(text="hi", source="chunk")
    assert isinstance(events[1], UnknownEvent) and events[1].raw["trace"]["sessionId"] == "s-1"
    assert events[2:] == [TextChunk(text=" there", source="chunk")]


# --- events survive the JSON form (the store and --json use it) ---------------------------
def test_every_parsed_event_round_trips_through_json(shapes):
    import json

    items = []
    for member, ref in shapes["ResponseStream"]["members"].items():
        if shapes[ref["shape"]].get("exception"):
            items.append({member: {"message": "m"}})
            continue
        value = _example(shapes, ref["shape"])
        if member == "trace":
            tshape = shapes[ref["shape"]]["members"]["trace"]["shape"]
            items += [{"trace": {**value, "trace": {k: _example(shapes, r["shape"], 2)}}}
                      for k, r in shapes[tshape]["members"].items()]
        else:
            items.append({member: value})
    events = [e for item in items for e in parse_item(item, StreamState())]
    events.append(UnknownEvent(raw={"x": [1, b"\x00"], "y": None}))
    for event in events:
        d = json.loads(json.dumps(event_to_dict(event, include_bytes=True)))
        back = event_from_dict(d)
        if isinstance(event, FileReturned):
            assert back.file == event.file
        elif isinstance(event, (RoutingClassification, GuardrailAction, ActionGroupInput,
                                KnowledgeBaseResult, ReturnControl, Citations)):
            assert type(back) is type(event)  # datetimes in details are stored as text
        else:
            assert back == event, event
