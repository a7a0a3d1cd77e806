"""The Converse agent loop over a fake ConverseStream endpoint (real boto3, real event-stream
frames over a socket) and the real local Jupyter kernel executor."""
from __future__ import annotations

import base64
import io
import json
import time
import uuid

import pytest

from agent_core.backends.base import AgentRequest
from agent_core.backends.converse import TOOL_NAME, ConverseAgent
from agent_core.backends.executors import LocalKernelExecutor
from agent_core.config import load_settings
from agent_core.events import (
    AgentFailure, CodeError, CodeInvocation, CodeOutput, FileReturned, FilesGenerated,
    FinalResponse, Rationale, TextChunk, Usage,
)
from agent_core.files import AttachedFile
from agent_core.run import RunCollector
from tests.fakes.converse_server import FakeConverse, Reply, Turn, scenario_model
from tests.unit.interpreter_helpers import SLOW_CALL, StopDuringRun

MODEL = "anthropic.claude-fake-v1:0"
SHARED = "conv-shared"  # tests that do not depend on a fresh kernel share one (kernel starts cost)
PRICES = "Date,Open,High,Low,Close,Volume\n" + "\n".join(
    f"2024-01-{d:02d},{100 + d},{101 + d},{99 + d},{100.5 + d * 0.7:.2f},{1000 + d}" for d in range(1, 31)
) + "\n"


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
                "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    from agent_core.interpreter.pool import KernelPool

    settings = load_settings(env={}, secrets={}, home=str(tmp_path_factory.mktemp("pool-home")),
                             max_kernels=3)
    p = KernelPool(settings, warm_spare=True)
    yield p
    p.shutdown()


def make_agent(fake: FakeConverse, pool, **overrides) -> ConverseAgent:
    settings = load_settings(env={}, secrets={}, backend="converse", model_id=MODEL,
                             endpoint_url=fake.endpoint_url, region="us-east-1", **overrides)
    return ConverseAgent(settings, executor=LocalKernelExecutor(pool))


def run(agent: ConverseAgent, text: str, session_id: str, files=(), **kw) -> list:
    return list(agent.invoke(AgentRequest(text=text, session_id=session_id, files=tuple(files), **kw)))


def prices_file() -> AttachedFile:
    return AttachedFile.from_bytes("prices.csv", PRICES.encode())


def tool_result(body: dict) -> dict:
    return next(b["toolResult"] for b in body["messages"][-1]["content"] if "toolResult" in b)


@pytest.mark.timeout(120)
def test_failing_code_then_fixed_chart_then_answer_on_the_local_kernel(pool):
    with FakeConverse(scenario_model("fix")) as fake:
        agent = make_agent(fake, pool)
        events = run(agent, "Given the attached price data file, please make me a chart with "
                     "moving average in red and actual data in blue", "conv-fix", [prices_file()])

    kinds = [type(e).__name__ for e in events]
    assert not any(isinstance(e, AgentFailure) for e in events), events
    # thinking before each tool call is a rationale, the code is shown, the error too
    assert [e.text for e in events if isinstance(e, Rationale)][0].startswith("I will load the data")
    codes = [e.code for e in events if isinstance(e, CodeInvocation)]
    assert len(codes) == 2 and "NoSuchColumn" in codes[0] and "rolling(20)" in codes[1]
    assert all(e.files == ("prices.csv",) for e in events if isinstance(e, CodeInvocation))
    err = next(e for e in events if isinstance(e, CodeError))
    assert "KeyError" in err.text and "NoSuchColumn" in err.text
    assert kinds.index("CodeError") < kinds.index("FilesGenerated") < kinds.index("FinalResponse")

    # the files come back: a real PNG and the CSV behind it
    generated = next(e for e in events if isinstance(e, FilesGenerated))
    assert set(generated.names) == {"moving_average.png", "moving_average.csv"}
    files = {e.file.name: e.file for e in events if isinstance(e, FileReturned)}
    assert files["moving_average.png"].is_image
    import pandas as pd
    from PIL import Image

    assert Image.open(io.BytesIO(files["moving_average.png"].data)).size[0] > 300
    table = pd.read_csv(io.BytesIO(files["moving_average.csv"].data))
    assert list(table.columns) == ["Date", "Close", "moving_average"] and len(table) == 30
    assert any(isinstance(e, CodeOutput) and "rows=30 column=Close" in e.text for e in events)

    # what went back to the model: the error text, then the output, file list and the image
    bodies = fake.bodies
    assert len(bodies) == 3
    first = tool_result(bodies[1])
    assert first["status"] == "error"
    assert "KeyError" in first["content"][0]["text"] and "NoSuchColumn" in first["content"][0]["text"]
    second = tool_result(bodies[2])
    assert second["status"] == "success"
    text = second["content"][0]["text"]
    assert "moving_average.png" in text and "moving_average.csv" in text and "rows=30" in text
    image = next(b["image"] for b in second["content"] if "image" in b)
    assert image["format"] == "png"
    assert base64.b64decode(image["source"]["bytes"]) == files["moving_average.png"].data

    # the request itself: model, tool, bounds, and the attached data described (not the whole file)
    first_body = bodies[0]
    assert fake.requests[0]["model_id"] == MODEL
    assert first_body["toolConfig"]["tools"][0]["toolSpec"]["name"] == TOOL_NAME
    assert first_body["inferenceConfig"] == {"maxTokens": agent.settings.max_tokens}
    system = first_body["system"][0]["text"]
    assert "`prices.csv`: 30 rows" in system and "Close (float64)" in system
    assert "2024-01-01 to 2024-01-30" in system and "2024-01-20" not in system

    # the final answer streams as text chunks and ends as one FinalResponse; usage adds up
    final = next(e for e in events if isinstance(e, FinalResponse))
    assert final.text.startswith("Done. I wrote moving_average.png, moving_average.csv")
    assert "".join(e.text for e in events if isinstance(e, TextChunk)) == final.text
    collector = RunCollector()
    for e in events:
        collector.add(e)
    result = collector.result()
    assert result.ok and result.text == final.text and len(result.files) == 2
    assert result.input_tokens == 3 * 120 and sum(isinstance(e, Usage) for e in events) == 3

    # the history keeps the exchange for follow-ups, the chart as a note instead of its bytes
    kept = json.dumps(agent.history("conv-fix"), default=str)
    assert '"image"' not in kept and "chart image(s) were shown here" in kept and "rows=30" in kept


@pytest.mark.timeout(120)
def test_follow_up_uses_history_and_kernel_state(pool):
    turns = [
        Turn(text="Loading.", code="import pandas as pd\ndf = pd.read_csv('prices.csv')\nprint(len(df))"),
        Turn(text="The file has 30 rows."),
        Turn(text="Using the table loaded before.", code="print(round(df['Close'].max(), 2))"),
        Turn(text="The highest close is 121.5."),
    ]
    with FakeConverse(turns) as fake:
        agent = make_agent(fake, pool)
        first = run(agent, "How many rows?", "conv-follow", [prices_file()])
        second = run(agent, "And the highest close?", "conv-follow")
    assert [e.text for e in first if isinstance(e, FinalResponse)] == ["The file has 30 rows."]
    assert any(isinstance(e, CodeOutput) and e.text.strip() == "121.5" for e in second), second
    follow_up = fake.bodies[2]["messages"]
    assert [m["role"] for m in follow_up] == ["user", "assistant", "user", "assistant", "user"]
    assert follow_up[0]["content"][0]["text"] == "How many rows?"
    assert follow_up[1]["content"][1]["toolUse"]["input"]["code"].startswith("import pandas")
    assert follow_up[3]["content"][0]["text"] == "The file has 30 rows."
    assert follow_up[4]["content"][0]["text"] == "And the highest close?"
    # the file was attached once; the follow-up still describes it
    assert "`prices.csv`" in fake.bodies[2]["system"][0]["text"]
    assert len(agent.history("conv-follow")) == 8

    agent.reset_session("conv-follow")
    assert agent.history("conv-follow") == []


@pytest.mark.timeout(120)
def test_a_model_that_never_stops_is_stopped_by_the_tool_call_bound(pool):
    with FakeConverse(scenario_model("loop")) as fake:
        agent = make_agent(fake, pool, max_tool_calls=3)
        events = run(agent, "keep going", SHARED)
    assert sum(isinstance(e, CodeInvocation) for e in events) == 3
    assert [e.text.strip() for e in events if isinstance(e, CodeOutput)] == ["1", "2", "3"]
    failure = events[-1]
    assert isinstance(failure, AgentFailure) and failure.kind == "max_tool_calls"
    assert "3 code runs" in failure.message and "AGENT_DESK_MAX_TOOL_CALLS" in failure.message
    assert len(fake.requests) == 4  # the 4th tool call was asked for but not run
    # history keeps what was answered, closed by a note, so a follow-up is a valid conversation
    history = agent.history(SHARED)
    assert history[-1]["role"] == "assistant" and "max_tool_calls" in history[-1]["content"][0]["text"]
    assert [m["role"] for m in history] == ["user", "assistant"] * (len(history) // 2)


@pytest.mark.timeout(60)
def test_wall_time_bound_stops_the_run(pool):
    turns = [Turn(text="Waiting.", code="import time; time.sleep(0.6); print('slept')")]
    session = f"wall-{uuid.uuid4().hex[:8]}"
    LocalKernelExecutor(pool).run(session, "0")  # the kernel's start is not what the bound times
    with FakeConverse(turns) as fake:  # the model asks for the same run again and again
        agent = make_agent(fake, pool, max_wall_seconds=1.5)
        events = run(agent, "sleep", session)
    failure = events[-1]
    assert isinstance(failure, AgentFailure) and failure.kind == "max_wall_seconds", events
    assert "AGENT_DESK_MAX_WALL_SECONDS" in failure.message
    assert 1 <= sum(isinstance(e, CodeOutput) and "slept" in e.text for e in events) <= 3, events


@pytest.mark.timeout(60)
def test_max_tokens_stop_is_reported_with_how_to_raise_it(pool):
    with FakeConverse([Turn(text="The analysis shows that the", stop_reason="max_tokens")]) as fake:
        agent = make_agent(fake, pool, max_tokens=64)
        events = run(agent, "explain", SHARED)
    assert fake.bodies[0]["inferenceConfig"] == {"maxTokens": 64}
    assert "".join(e.text for e in events if isinstance(e, TextChunk)) == "The analysis shows that the"
    failure = events[-1]
    assert isinstance(failure, AgentFailure) and failure.kind == "max_tokens"
    assert "64 tokens" in failure.message and "AGENT_DESK_MAX_TOKENS" in failure.message


@pytest.mark.timeout(60)
def test_throttling_mid_stream_keeps_earlier_events(pool):
    turns = [Turn(text="First a look.", code="print('looked')"),
             Turn(text="Now the chart", exception=("throttlingException", "Too many tokens, please wait."))]
    with FakeConverse(turns) as fake:
        agent = make_agent(fake, pool)
        events = run(agent, "chart", SHARED)
    kinds = [type(e).__name__ for e in events]
    assert kinds[:3] == ["Rationale", "Usage", "CodeInvocation"]
    assert any(isinstance(e, CodeOutput) and "looked" in e.text for e in events)
    assert "".join(e.text for e in events if isinstance(e, TextChunk)) == "Now the chart"
    failure = events[-1]
    assert isinstance(failure, AgentFailure) and failure.kind == "throttling" and failure.retryable
    assert MODEL in failure.message and "retry" in failure.message.lower()
    assert agent.history(SHARED) == []  # a broken turn is not kept half-done
    assert len(fake.requests) == 2


def _http_error(status: int, code: str, message: str):
    def route(method, path, headers, body):
        if path.endswith("/converse-stream"):
            return Reply(status, {"message": message}, headers={"x-amzn-errortype": code})
        return None
    return route


@pytest.mark.timeout(60)
@pytest.mark.parametrize("status,code,kind,hint", [
    (403, "AccessDeniedException", "access_denied", "Model access"),
    (400, "ValidationException", "validation", "new session"),
    (404, "ResourceNotFoundException", "not_found", "BEDROCK_MODEL_ID"),
])
def test_service_errors_become_failures_that_say_what_to_do(pool, status, code, kind, hint):
    with FakeConverse([Turn(text="unused")]) as fake:
        fake.server.routes.insert(0, _http_error(status, code, "Input is too long for requested model."))
        agent = make_agent(fake, pool)
        events = run(agent, "hello", SHARED)
    assert len(events) == 1
    failure = events[0]
    assert isinstance(failure, AgentFailure) and failure.kind == kind and hint in failure.message
    assert "testing" not in failure.message


@pytest.mark.timeout(60)
def test_unknown_tool_and_bad_input_get_error_results(pool):
    turns = [Turn(text="Trying a shell.", code="ls", tool_name="run_shell"),
             Turn(text="Now python.", raw_tool_input='{"code": "print(1)"'),
             Turn(text="Sorry, I could not run anything.")]
    with FakeConverse(turns) as fake:
        agent = make_agent(fake, pool)
        events = run(agent, "hi", SHARED)
    errors = [e.text for e in events if isinstance(e, CodeError)]
    assert "Unknown tool 'run_shell'" in errors[0] and "not valid JSON" in errors[1]
    assert not any(isinstance(e, CodeInvocation) for e in events)
    assert tool_result(fake.bodies[1])["status"] == "error"
    assert "execute_python" in tool_result(fake.bodies[1])["content"][0]["text"]
    assert isinstance(events[-1], FinalResponse)


def test_missing_model_id_is_a_configuration_failure(pool):
    settings = load_settings(env={}, secrets={}, backend="converse")
    events = list(ConverseAgent(settings, executor=LocalKernelExecutor(pool)).invoke(
        AgentRequest(text="hi", session_id="conv-nomodel")))
    assert len(events) == 1 and events[0].kind == "configuration"
    assert "BEDROCK_MODEL_ID" in events[0].message


@pytest.mark.timeout(120)
def test_synthetic_request_writes_both_tables_and_the_box_plot(pool):
    from agent_core.synthetic import SyntheticSpec, verify

    with FakeConverse(scenario_model("chart")) as fake:
        agent = make_agent(fake, pool)
        events = run(agent, SyntheticSpec().to_prompt(), "conv-syn")
    assert isinstance(events[-1], FinalResponse), events[-1]
    files = {e.file.name: e.file for e in events if isinstance(e, FileReturned)}
    spec = SyntheticSpec()
    assert {spec.sales_csv, spec.details_csv, spec.box_plot_file} <= set(files)
    assert files[spec.box_plot_file].is_image
    import pandas as pd

    sales = pd.read_csv(io.BytesIO(files[spec.sales_csv].data))
    details = pd.read_csv(io.BytesIO(files[spec.details_csv].data))
    checks = verify(spec, sales, details)
    assert checks and all(c.passed for c in checks), [c for c in checks if not c.passed]
    assert fake.bodies[0]["messages"][0]["content"][0]["text"] == SyntheticSpec().to_prompt()
    assert any(isinstance(e, CodeOutput) and "PASS" in e.text and "FAIL" not in e.text for e in events)


@pytest.mark.timeout(60)
def test_without_trace_only_the_answer_files_and_usage_come_out(pool):
    turns = [Turn(text="Writing a file.", code="open('note.txt', 'w').write('hi'); print('ok')"),
             Turn(text="Wrote note.txt.")]
    with FakeConverse(turns) as fake:
        agent = make_agent(fake, pool)
        events = run(agent, "write", SHARED, enable_trace=False)
    assert {type(e).__name__ for e in events} == {"Usage", "FileReturned", "TextChunk", "FinalResponse"}
    assert next(e.file for e in events if isinstance(e, FileReturned)).data == b"hi"


@pytest.mark.timeout(60)
def test_a_connection_cut_mid_stream_is_a_retryable_broken_stream(pool):
    with FakeConverse([Turn(text="Half an answer that never ends", cut_after=3)]) as fake:
        agent = make_agent(fake, pool)
        events = run(agent, "hi", SHARED)
    assert "".join(e.text for e in events if isinstance(e, TextChunk)) == "Half an answer that neve"
    failure = events[-1]
    assert isinstance(failure, AgentFailure) and failure.kind == "broken_stream" and failure.retryable


def test_data_description_reads_semicolon_tables_and_never_the_whole_file():
    from agent_core.backends.data_context import describe_files

    import datetime as dt

    days = [dt.date(2024, 1, 3) + dt.timedelta(days=i) for i in range(400)]
    rows = "\n".join(f"{d:%d.%m.%Y};{i};{str(100 + i * 0.25).replace('.', ',')}" for i, d in enumerate(days))
    big = AttachedFile.from_bytes("eu.csv", ("Datum;Nr;Kurs\n" + rows).encode())
    text = describe_files([big, AttachedFile.from_bytes("notes.pdf", b"%PDF-1.4 ...")])
    assert "`eu.csv`: 400 rows; columns: Datum (datetime64[us]), Kurs (float64)." in text
    assert 'pd.read_csv("eu.csv", sep=";", decimal=","' in text  # the read code the Upload page used
    assert 'pd.to_datetime(df["Datum"], format="%d.%m.%Y"' in text
    assert "calendar-daily, 365 periods a year" in text and "Nr (not a price or volume)" in text
    assert "04.02.2025" not in text and "2024-01-04,100.25" in text  # five rows, not four hundred
    assert "`notes.pdf` (application/pdf" in text and "not read as a table" in text


@pytest.mark.timeout(60)
def test_stop_interrupts_the_running_call_and_ends_the_loop(pool):
    """Issue 13: a Stop interrupts the code the kernel is running (its variables stay), then
    the shared loop asks the model nothing more and ends without a failure (agent_core.run
    stores the run as stopped)."""
    from agent_core.cancel import CancelToken

    token, session = CancelToken(), f"stop-{uuid.uuid4().hex[:8]}"
    executor = StopDuringRun(pool, token, after=1.0)
    LocalKernelExecutor(pool).run(session, "0")  # a warm kernel: the Stop lands in the call, not in the start
    with FakeConverse([Turn(text="Working.", code=SLOW_CALL)]) as fake:
        settings = load_settings(env={}, secrets={}, backend="converse", model_id=MODEL,
                                 endpoint_url=fake.endpoint_url, region="us-east-1")
        agent = ConverseAgent(settings, executor=executor)
        started = time.monotonic()
        events = run(agent, "keep going", session, cancel=token)
        took = time.monotonic() - started
    assert took < 15, f"the 30 s call was not interrupted ({took:.1f} s)"
    assert not any(isinstance(e, CodeOutput) and "slept" in e.text for e in events), events
    assert not any(isinstance(e, AgentFailure) for e in events), events
    assert len(fake.requests) == 1  # no model call after the Stop
    assert LocalKernelExecutor(pool).run(session, "print(x + 1)").stdout.strip() == "42"
