"""InlineBedrockAgent (InvokeInlineAgent) through real boto3 against the fake server."""
from __future__ import annotations

import base64

import pytest

from agent_core.backends.base import AgentRequest
from agent_core.backends.inline import DEFAULT_INSTRUCTION, InlineBedrockAgent
from agent_core.config import load_settings
from agent_core.events import AgentFailure, CodeInvocation, FileReturned, TextChunk
from agent_core.files import AttachedFile
from tests.fakes import bedrock_server as fake
from tests.fakes.bedrock_server import (  # noqa: F401 (fixtures)
    FakeBedrock, bedrock_server, fake_aws_credentials,
)

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("fake_aws_credentials")]

MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"


def inline_for(server: FakeBedrock, **kw) -> InlineBedrockAgent:
    base = dict(backend="bedrock-inline", model_id=MODEL, endpoint_url=server.url)
    base.update(kw)
    return InlineBedrockAgent(load_settings(env={}, secrets={}, **base))


def test_inline_request_has_model_instruction_code_interpreter_and_files(bedrock_server):
    data = b"date,close\n2026-01-02,1.5\n"
    request = AgentRequest(text="Describe the prices", session_id="inline-1",
                           files=(AttachedFile.from_bytes("prices.csv", data),))
    events = list(inline_for(bedrock_server).invoke(request))
    assert not any(isinstance(e, AgentFailure) for e in events)

    [sent] = bedrock_server.requests
    assert sent.operation == "InvokeInlineAgent" and sent.path == "/agents/inline-1"
    body = sent.body
    assert body["foundationModel"] == MODEL and body["inputText"] == "Describe the prices"
    assert body["instruction"] == DEFAULT_INSTRUCTION and len(body["instruction"]) >= 40
    assert body["enableTrace"] is True
    assert body["actionGroups"] == [{"actionGroupName": "CodeInterpreterAction",
                                     "parentActionGroupSignature": "AMAZON.CodeInterpreter"}]
    [f] = body["inlineSessionState"]["files"]
    assert f["name"] == "prices.csv" and f["useCase"] == "CODE_INTERPRETER"
    assert base64.b64decode(f["source"]["byteContent"]["data"]) == data
    assert "sessionState" not in body and "memoryId" not in body


def test_inline_request_names_the_chosen_workbook_sheet(bedrock_server):
    book = AttachedFile.from_bytes("book.xlsx", b"PK\x03\x04 not read here", sheet="AAPL")
    list(inline_for(bedrock_server).invoke(AgentRequest(text="Plot it", session_id="inline-2",
                                                        files=(book,))))
    assert bedrock_server.requests[0].body["inputText"] == (
        "Plot it\n\n(In the workbook `book.xlsx`, use the sheet `AAPL`.)")


def test_inline_chart_run_parses_through_the_one_parser(bedrock_server):
    bedrock_server.use("chart")
    events = list(inline_for(bedrock_server).invoke(AgentRequest(text="x", session_id="inline-2")))
    assert any(isinstance(e, CodeInvocation) for e in events)
    names = [e.file.name for e in events if isinstance(e, FileReturned)]
    assert names == ["chart.png", "summary.csv"]
    assert "".join(e.text for e in events if isinstance(e, TextChunk)) == fake.CHART_ANSWER


def test_inline_access_denied_names_inline_permission(bedrock_server):
    bedrock_server.use("denied")
    [failure] = list(inline_for(bedrock_server).invoke(AgentRequest(text="x", session_id="in-3")))
    assert failure.kind == "access_denied" and "bedrock:InvokeInlineAgent" in failure.message


def test_inline_throttling_mid_stream(bedrock_server):
    bedrock_server.use("throttle")
    events = list(inline_for(bedrock_server).invoke(AgentRequest(text="x", session_id="in-4")))
    assert isinstance(events[-1], AgentFailure) and events[-1].kind == "throttling"
    assert len(events) == 3


def test_inline_without_model_id_says_which_variable(bedrock_server):
    backend = InlineBedrockAgent(load_settings(env={}, secrets={}, backend="bedrock-inline",
                                               endpoint_url=bedrock_server.url))
    [failure] = list(backend.invoke(AgentRequest(text="x", session_id="in-5")))
    assert failure.kind == "configuration" and "BEDROCK_MODEL_ID" in failure.message
    assert bedrock_server.requests == []


def test_inline_attachment_limit_before_call(bedrock_server):
    files = tuple(AttachedFile.from_bytes(f"f{i}.csv", b"a,b\n1,2\n") for i in range(6))
    [failure] = list(inline_for(bedrock_server).invoke(
        AgentRequest(text="x", session_id="in-6", files=files)))
    assert failure.kind == "attachment_limit" and bedrock_server.requests == []


def test_inline_reset_session_ends_it(bedrock_server):
    backend = inline_for(bedrock_server)
    list(backend.invoke(AgentRequest(text="x", session_id="in-7")))
    backend.reset_session("in-7")
    assert [r.body.get("endSession") for r in bedrock_server.requests] == [False, True]
    assert bedrock_server.requests[1].body["foundationModel"] == MODEL


def test_custom_instruction_is_sent(bedrock_server):
    text = "You are a terse analyst. Always answer in one sentence with numbers."
    backend = InlineBedrockAgent(inline_for(bedrock_server).settings, instruction=text)
    list(backend.invoke(AgentRequest(text="x", session_id="in-8")))
    assert bedrock_server.requests[0].body["instruction"] == text
