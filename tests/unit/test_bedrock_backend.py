"""BedrockAgent through an unmodified boto3 client, against the fake server on 127.0.0.1.

boto3 does all the parsing of the real event-stream frames; nothing here is stubbed.
"""
from __future__ import annotations

import base64
import io
import time

import pytest

from agent_core.backends.aws import clear_client_cache, failure_from_exception, make_client, scrub
from agent_core.backends.base import AgentRequest
from agent_core.backends.bedrock import BedrockAgent, BedrockCallError
from agent_core.backends.factory import make_backend
from agent_core.config import load_settings
from agent_core.events import (
    AgentFailure, CodeError, CodeInvocation, CodeOutput, CodeTimeout, FileReturned,
    FilesGenerated, FinalResponse, Rationale, TextChunk, UnknownEvent, Usage,
)
from agent_core.files import AttachedFile
from agent_core.run import RunCollector
from tests.fakes import bedrock_server as fake
from tests.fakes.bedrock_server import (  # noqa: F401 (fixtures)
    FakeBedrock, bedrock_server, fake_aws_credentials,
)

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("fake_aws_credentials")]

FAKE_KEY, FAKE_SECRET = fake.FAKE_ACCESS_KEY, fake.FAKE_SECRET_KEY


def settings_for(server: FakeBedrock, **kw):
    base = dict(backend="bedrock", agent_id="AGENT123", agent_alias_id="ALIAS123",
                endpoint_url=server.url)
    base.update(kw)
    return load_settings(env={}, secrets={}, **base)


def run(backend, request: AgentRequest) -> list:
    return list(backend.invoke(request))


def req(text="Plot the prices", session_id="sess-1", **kw) -> AgentRequest:
    return AgentRequest(text=text, session_id=session_id, **kw)


def csv_file(name="prices.csv") -> AttachedFile:
    return AttachedFile.from_bytes(name, b"date,close\n2026-01-02,101.5\n2026-01-05,102.0\n")


def types(events) -> list[str]:
    return [type(e).__name__ for e in events]


# --- a full code-interpreter run ------------------------------------------------------
def test_chart_run_yields_every_step_and_real_files(bedrock_server):
    from PIL import Image

    bedrock_server.use("chart")
    events = run(BedrockAgent(settings_for(bedrock_server)),
                 req(files=(csv_file(),), memory_id="mem-1"))

    wanted = [Rationale, CodeInvocation, Usage, CodeOutput, FilesGenerated, FileReturned,
              FileReturned, FinalResponse, TextChunk]
    seen = [type(e) for e in events if type(e) in wanted]
    assert seen[: len(wanted) - 1] == wanted[:-1] and set(seen[len(wanted) - 1:]) == {TextChunk}
    assert not any(isinstance(e, (AgentFailure, UnknownEvent)) for e in events)

    code = next(e for e in events if isinstance(e, CodeInvocation))
    assert "rolling(20)" in code.code and code.files == ("prices.csv",)
    assert code.step_id == "t-1"
    usage = next(e for e in events if isinstance(e, Usage))
    assert (usage.input_tokens, usage.output_tokens) == (1200, 150)

    files = {e.file.name: e.file for e in events if isinstance(e, FileReturned)}
    assert set(files) == {"chart.png", "summary.csv"}
    png = files["chart.png"]
    assert png.is_image and png.media_type == "image/png"
    with Image.open(io.BytesIO(png.data)) as img:
        img.load()
        assert img.size == (32, 16)
    assert files["summary.csv"].data == fake.SUMMARY_CSV and files["summary.csv"].is_table

    # the euro sign was split across two chunks and must come out whole
    text = "".join(e.text for e in events if isinstance(e, TextChunk))
    assert text == fake.CHART_ANSWER


def test_request_carries_ids_trace_memory_and_session_files(bedrock_server):
    bedrock_server.use("chart")
    attached = csv_file()
    run(BedrockAgent(settings_for(bedrock_server)), req(files=(attached,), memory_id="mem-1"))

    [sent] = bedrock_server.requests
    assert sent.operation == "InvokeAgent"
    assert sent.params == {"agentId": "AGENT123", "agentAliasId": "ALIAS123", "sessionId": "sess-1"}
    assert sent.body["inputText"] == "Plot the prices"
    assert sent.body["enableTrace"] is True and sent.body["endSession"] is False
    assert sent.body["memoryId"] == "mem-1"
    [f] = sent.body["sessionState"]["files"]
    assert f["name"] == "prices.csv" and f["useCase"] == "CODE_INTERPRETER"
    assert f["source"]["sourceType"] == "BYTE_CONTENT"
    assert f["source"]["byteContent"]["mediaType"] == "text/csv"
    assert base64.b64decode(f["source"]["byteContent"]["data"]) == attached.data
    assert "agent-desk/0.1" in sent.headers["user-agent"]
    assert "authorization" not in sent.headers  # the fake never records credentials


def test_the_chosen_workbook_sheet_is_named_in_the_input_text(bedrock_server):
    book = AttachedFile.from_bytes("book.xlsx", b"PK\x03\x04 not read here", sheet="Prices")
    run(BedrockAgent(settings_for(bedrock_server)), req(files=(book, csv_file())))
    text = bedrock_server.requests[0].body["inputText"]
    assert text == "Plot the prices\n\n(In the workbook `book.xlsx`, use the sheet `Prices`.)"


def test_no_files_no_session_state_and_no_memory(bedrock_server):
    run(BedrockAgent(settings_for(bedrock_server)), req())
    body = bedrock_server.requests[0].body
    assert "sessionState" not in body and "memoryId" not in body


def test_execution_error_then_successful_retry(bedrock_server):
    bedrock_server.use("retry")
    events = run(BedrockAgent(settings_for(bedrock_server)), req())
    code_steps = [e for e in events if isinstance(e, (CodeInvocation, CodeError, CodeOutput))]
    assert [type(e) for e in code_steps] == [CodeInvocation, CodeError, CodeInvocation, CodeOutput]
    assert "NameError" in code_steps[1].text and code_steps[3].text == "101.47"
    assert code_steps[1].step_id == "t-1" and code_steps[3].step_id == "t-2"
    collector = RunCollector()
    for e in events:
        collector.add(e)
    result = collector.result()
    assert result.ok and result.text == "The mean close is 101.47."
    assert len(result.errors) == 1


def test_code_timeout(bedrock_server):
    bedrock_server.use("timeout")
    events = run(BedrockAgent(settings_for(bedrock_server)), req())
    assert any(isinstance(e, CodeTimeout) for e in events)


def test_in_stream_throttling_keeps_earlier_events_and_is_retryable(bedrock_server):
    bedrock_server.use("throttle")
    events = run(BedrockAgent(settings_for(bedrock_server)), req())
    assert types(events) == ["Rationale", "CodeInvocation", "AgentFailure"]
    failure = events[-1]
    assert failure.kind == "throttling" and failure.retryable
    assert len(bedrock_server.requests) == 1  # botocore never re-sends an agent turn


def test_http_403_before_stream_names_the_permission(bedrock_server):
    bedrock_server.use("denied")
    events = run(BedrockAgent(settings_for(bedrock_server)), req())
    assert types(events) == ["AgentFailure"]
    failure = events[0]
    assert failure.kind == "access_denied" and not failure.retryable
    assert "bedrock:InvokeAgent on the agent alias" in failure.message
    assert len(bedrock_server.requests) == 1  # not retried
    assert FAKE_KEY not in failure.message and FAKE_SECRET not in failure.message


def test_http_404_says_which_ids_to_check(bedrock_server):
    bedrock_server.use("not_found")
    [failure] = run(BedrockAgent(settings_for(bedrock_server)), req())
    assert failure.kind == "not_found"
    assert "BEDROCK_AGENT_ID" in failure.message and "BEDROCK_AGENT_ALIAS_ID" in failure.message


def test_expired_credentials_say_how_to_refresh(bedrock_server):
    bedrock_server.script = [("http_error", 403, "ExpiredTokenException",
                              "The security token included in the request is expired")]
    [failure] = run(BedrockAgent(settings_for(bedrock_server)), req())
    assert failure.kind == "credentials" and "aws sso login" in failure.message
    assert FAKE_KEY not in failure.message


def test_http_throttling_before_stream_is_retried_by_botocore(bedrock_server):
    # a separate client (other read timeout): adaptive mode slows a throttled client down
    bedrock_server.queue([("http_error", 429, "ThrottlingException", "Rate exceeded")])
    bedrock_server.use("retry")
    events = run(BedrockAgent(settings_for(bedrock_server, read_timeout=601)), req())
    assert len(bedrock_server.requests) == 2
    assert not any(isinstance(e, AgentFailure) for e in events)
    assert "attempt=2" in bedrock_server.requests[1].headers["amz-sdk-request"]


def test_hostile_names_are_made_safe_and_types_sniffed(bedrock_server):
    bedrock_server.use("hostile")
    events = run(BedrockAgent(settings_for(bedrock_server)), req())
    files = [e.file for e in events if isinstance(e, FileReturned)]
    assert len(files) == 4
    for f in files:
        assert "/" not in f.name and "\\" not in f.name and "\x00" not in f.name
        assert ".." not in f.name and ":" not in f.name and f.name
    assert len({f.name for f in files}) == 4
    evil = next(f for f in files if f.name.endswith("evil.png"))
    assert evil.is_image
    liar = next(f for f in files if f.name == "report.png")
    assert liar.declared_type == "image/png" and not liar.is_image and liar.type_mismatch
    assert liar.media_type.startswith("text/")


def test_unknown_trace_kind_becomes_unknown_event_and_stream_goes_on(bedrock_server):
    bedrock_server.use("unknown")
    events = run(BedrockAgent(settings_for(bedrock_server)), req())
    unknown = [e for e in events if isinstance(e, UnknownEvent)]
    assert unknown, types(events)
    assert "futureTrace" in repr(unknown[0].raw)
    assert isinstance(events[-1], TextChunk) and events[-1].text == "Done."


def test_slow_stream_arrives_event_by_event(bedrock_server):
    delay, parts = 0.3, 4
    bedrock_server.use("slow", delay=delay, parts=parts)
    arrivals = []
    for event in BedrockAgent(settings_for(bedrock_server)).invoke(req()):
        arrivals.append((time.monotonic(), event))
    sent = [t for t, step in bedrock_server.sent]
    assert len(arrivals) == len(sent) == parts + 1
    first_arrival, last_sent = arrivals[0][0], sent[-1]
    # the first event was in our hands long before the server sent the last one
    assert first_arrival < last_sent - delay * (parts - 1)
    # and each chunk arrived promptly after it was sent, not all at the end
    for (arrived, _), sent_at in zip(arrivals, sent):
        assert arrived >= sent_at and arrived - sent_at < delay
    assert [e.text for _, e in arrivals[1:]] == [f"part {i + 1}. " for i in range(parts)]


def test_dropped_connection_keeps_what_arrived(bedrock_server):
    bedrock_server.use("drop")
    events = run(BedrockAgent(settings_for(bedrock_server)), req())
    assert types(events)[:2] == ["Rationale", "TextChunk"]
    assert isinstance(events[-1], AgentFailure) and events[-1].kind == "broken_stream"
    assert events[-1].retryable


def test_read_timeout_in_stream_becomes_timeout_failure(bedrock_server):
    bedrock_server.script = [fake.rationale("slow", "t-1"), ("sleep", 1.5), fake.chunk("late")]
    events = run(BedrockAgent(settings_for(bedrock_server, read_timeout=0.4)), req())
    assert types(events) == ["Rationale", "AgentFailure"]
    assert events[-1].kind == "timeout" and events[-1].retryable
    assert "BEDROCK_READ_TIMEOUT" in events[-1].message


# --- checks before the call ----------------------------------------------------------
def test_attachment_limits_are_checked_before_any_request(bedrock_server):
    backend = BedrockAgent(settings_for(bedrock_server))
    six = tuple(csv_file(f"p{i}.csv") for i in range(6))
    [failure] = run(backend, req(files=six))
    assert failure.kind == "attachment_limit" and "at most 5" in failure.message
    big = AttachedFile.from_bytes("big.csv", b"x" * (10 * 1024 * 1024 + 1))
    [failure] = run(backend, req(files=(big,)))
    assert failure.kind == "attachment_limit" and "10.0 MB" in failure.message
    assert bedrock_server.requests == []


def test_missing_agent_settings_name_the_variable(bedrock_server):
    backend = BedrockAgent(load_settings(env={}, secrets={}, backend="bedrock",
                                         endpoint_url=bedrock_server.url))
    [failure] = run(backend, req())
    assert failure.kind == "configuration"
    assert "BEDROCK_AGENT_ID" in failure.message and "BEDROCK_AGENT_ALIAS_ID" in failure.message
    assert bedrock_server.requests == []


def test_invalid_session_id_is_refused_before_the_call(bedrock_server):
    [failure] = run(BedrockAgent(settings_for(bedrock_server)), req(session_id="bad id!"))
    assert failure.kind == "validation" and bedrock_server.requests == []


def test_raw_events_are_boto3_dicts(bedrock_server):
    bedrock_server.use("chart")
    raw = list(BedrockAgent(settings_for(bedrock_server)).raw_events(req()))
    assert [next(iter(d)) for d in raw][:2] == ["trace", "trace"]
    assert raw[-1]["chunk"]["bytes"].endswith(b"attached.")
    bedrock_server.use("denied")
    with pytest.raises(BedrockCallError) as info:
        list(BedrockAgent(settings_for(bedrock_server)).raw_events(req()))
    assert info.value.failure.kind == "access_denied"


def test_reset_session_ends_a_used_session_only(bedrock_server):
    backend = BedrockAgent(settings_for(bedrock_server))
    backend.reset_session("never-used")
    assert bedrock_server.requests == []
    run(backend, req(session_id="sess-9"))
    backend.reset_session("sess-9")
    assert len(bedrock_server.requests) == 2
    end = bedrock_server.requests[1]
    assert end.params["sessionId"] == "sess-9" and end.body["endSession"] is True
    backend.reset_session("sess-9")  # already forgotten: nothing more is sent
    assert len(bedrock_server.requests) == 2


def test_factory_builds_bedrock_backends(bedrock_server):
    s = settings_for(bedrock_server)
    assert isinstance(make_backend(s), BedrockAgent)
    from agent_core.backends.inline import InlineBedrockAgent

    inline = make_backend(load_settings(env={}, secrets={}, backend="bedrock-inline", model_id="m"),
                          pool=object())  # a kernel pool is ignored by the Bedrock backends
    assert isinstance(inline, InlineBedrockAgent) and inline.name == "bedrock-inline"
    import dataclasses

    from agent_core.config import SettingsError

    with pytest.raises(SettingsError, match="not known"):
        make_backend(dataclasses.replace(s, backend="nope"))


def test_factory_passes_the_pool_to_converse():
    pool = object()
    backend = make_backend(load_settings(env={}, secrets={}, backend="converse", model_id="m"),
                           pool=pool)
    assert backend.name == "converse" and getattr(backend, "_pool", pool) is pool


# --- clients and failures --------------------------------------------------------------
def test_client_config_region_and_cache(bedrock_server, monkeypatch):
    s = settings_for(bedrock_server, read_timeout=777)
    client = make_client("bedrock-agent-runtime", s)
    assert client is make_client("bedrock-agent-runtime", s)
    assert client.meta.endpoint_url == bedrock_server.url
    assert client.meta.region_name == "us-east-1"
    assert client.meta.config.read_timeout == 777
    assert client.meta.config.retries["mode"] == "adaptive"
    assert client.meta.config.user_agent_extra == "agent-desk/0.1"
    other = make_client("bedrock-agent-runtime", settings_for(bedrock_server, region="eu-west-1"))
    assert other is not client and other.meta.region_name == "eu-west-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-southeast-2")
    clear_client_cache()
    assert make_client("bedrock-agent-runtime", s).meta.region_name == "ap-southeast-2"
    clear_client_cache()


def test_boto3_endpoint_variable_is_not_overridden(bedrock_server, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME", bedrock_server.url)
    clear_client_cache()
    try:
        s = load_settings(env={}, secrets={}, backend="bedrock", agent_id="A1",
                          agent_alias_id="B1", read_timeout=602)
        events = run(BedrockAgent(s), req())
    finally:
        clear_client_cache()
    assert bedrock_server.requests and bedrock_server.requests[0].params["agentId"] == "A1"
    assert isinstance(events[-1], TextChunk)


def test_no_credentials_says_how_to_configure(bedrock_server, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    for var in ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"):
        monkeypatch.delenv(var, raising=False)
    clear_client_cache()
    try:
        [failure] = run(BedrockAgent(settings_for(bedrock_server, read_timeout=603)), req())
    finally:
        clear_client_cache()
    assert failure.kind == "credentials" and "AWS_PROFILE" in failure.message, failure
    assert bedrock_server.requests == []


def test_unknown_profile_is_a_configuration_failure(bedrock_server):
    [failure] = run(BedrockAgent(settings_for(bedrock_server, profile="no-such-profile")), req())
    assert failure.kind == "configuration" and "no-such-profile" in failure.message
    assert "AWS_PROFILE" in failure.message


def test_connection_refused_is_a_retryable_connection_failure(monkeypatch):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    settings = load_settings(env={}, secrets={}, backend="bedrock", agent_id="A",
                             agent_alias_id="B", endpoint_url=f"http://127.0.0.1:{port}")
    [failure] = run(BedrockAgent(settings), req())
    assert failure.kind == "connection" and failure.retryable
    clear_client_cache()


def test_failure_messages_never_carry_secrets():
    from botocore.exceptions import ClientError, NoRegionError, ReadTimeoutError

    err = ClientError({"Error": {"Code": "UnrecognizedClientException",
                                 "Message": f"The security token {FAKE_KEY} {FAKE_SECRET} is invalid"}},
                      "InvokeAgent")
    f = failure_from_exception(err, action="InvokeAgent")
    assert f.kind == "credentials" and FAKE_KEY not in f.message and FAKE_SECRET not in f.message
    assert FAKE_KEY not in scrub(f"key {FAKE_KEY}")
    f = failure_from_exception(ReadTimeoutError(endpoint_url="http://x"), action="InvokeAgent",
                               read_timeout=600)
    assert f.kind == "timeout" and "600 s" in f.message and f.retryable
    assert failure_from_exception(NoRegionError(), action="InvokeAgent").kind == "configuration"
    v = failure_from_exception(ClientError({"Error": {"Code": "ValidationException",
                                                      "Message": "inputText too long"}},
                                           "InvokeAgent"), action="InvokeAgent")
    assert v.kind == "validation" and "inputText too long" in v.message
    q = failure_from_exception(ClientError({"Error": {"Code": "ServiceQuotaExceededException",
                                                      "Message": "too many"}}, "InvokeAgent"),
                               action="InvokeAgent")
    assert q.retryable


def test_stopping_early_closes_the_stream(bedrock_server):
    bedrock_server.use("slow", delay=0.2, parts=30)
    events = BedrockAgent(settings_for(bedrock_server)).invoke(req())
    assert isinstance(next(events), Rationale)
    events.close()  # e.g. the user pressed Stop
    deadline = time.monotonic() + 4
    while bedrock_server.aborted == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    # the server saw the connection go away instead of streaming on for 6 s
    assert bedrock_server.aborted == 1
    assert len(bedrock_server.sent) < 30


def test_bad_endpoint_or_region_is_a_configuration_failure(bedrock_server):
    [failure] = run(BedrockAgent(settings_for(bedrock_server, endpoint_url="localhost:8765")), req())
    assert failure.kind == "configuration" and "BEDROCK_ENDPOINT_URL" in failure.message
    [failure] = run(BedrockAgent(settings_for(bedrock_server, region="us east 1")), req())
    assert failure.kind == "configuration" and "AWS_REGION" in failure.message
    assert bedrock_server.requests == []


@pytest.mark.timeout(60)
def test_aws_max_attempts_counts_attempts_in_all_as_botocore_reads_it(bedrock_server, monkeypatch):
    """AWS_MAX_ATTEMPTS=2 means two requests in all (botocore resolves the variable itself;
    passing it as Config's max_attempts, which counts retries, made three)."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    clear_client_cache()
    bedrock_server.script = [("http_error", 503, "ServiceUnavailableException", "busy")]
    [failure] = run(BedrockAgent(settings_for(bedrock_server)), req())
    assert failure.kind == "service_error" and failure.retryable
    assert len(bedrock_server.requests) == 2
    clear_client_cache()


def test_without_aws_max_attempts_the_default_is_four_attempts_in_all(bedrock_server, monkeypatch):
    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    clear_client_cache()
    client = make_client("bedrock-agent-runtime", settings_for(bedrock_server))
    assert client.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 4}
    clear_client_cache()
