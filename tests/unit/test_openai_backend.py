"""The openai backend (the shared agent loop over Chat Completions) against the fake server:
the unmodified ``openai`` client over a real socket, real server-sent events, and the real
local Jupyter kernel executor."""
from __future__ import annotations

import io
import json
import socket
import time

import pytest

from agent_core.backends.base import AgentRequest
from agent_core.backends.executors import LocalKernelExecutor
from agent_core.backends.loop import FENCED_MODE_NOTE, TOOL_NAME
from agent_core.backends.openai_chat import OpenAIAgent
from agent_core.config import load_settings, openai_api_key
from agent_core.events import (
    AgentFailure, CodeError, CodeInvocation, CodeOutput, FileReturned, FinalResponse, Rationale,
    TextChunk, Usage,
)
from agent_core.files import AttachedFile
from agent_core.run import RunCollector
from tests.fakes.converse_server import chart_code
from tests.fakes.openai_server import PRICES_CSV as PRICES
from tests.fakes.openai_server import SEED_REQUEST as SEED
from tests.fakes.openai_server import ChatTurn, FakeChat, scenario_model

MODEL = "analyst-7b"
SHARED = "oa-shared"
KEY = "sk-agentdesk-TESTKEY-9f8e7d6c5b4a3210"


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    from agent_core.interpreter.pool import KernelPool

    settings = load_settings(env={}, secrets={}, home=str(tmp_path_factory.mktemp("oa-home")),
                             max_kernels=3)
    p = KernelPool(settings, warm_spare=True)
    yield p
    p.shutdown()


def make_agent(fake: FakeChat, pool, *, api_key: str = "", model: str = MODEL, **overrides) -> OpenAIAgent:
    settings = load_settings(env={}, secrets={}, backend="openai", openai_base_url=fake.base_url,
                             openai_model=model, **overrides)
    return OpenAIAgent(settings, executor=LocalKernelExecutor(pool), api_key=api_key)


def run(agent: OpenAIAgent, text: str, session_id: str, files=(), **kw) -> list:
    return list(agent.invoke(AgentRequest(text=text, session_id=session_id, files=tuple(files), **kw)))


def prices() -> AttachedFile:
    return AttachedFile.from_bytes("prices.csv", PRICES.encode())


def failure_of(events: list) -> AgentFailure:
    assert isinstance(events[-1], AgentFailure), events[-1]
    return events[-1]


@pytest.mark.timeout(120)
def test_seed_chart_through_a_tool_call_sent_in_many_fragments(pool):
    with FakeChat(scenario_model("chart")) as fake:
        agent = make_agent(fake, pool)
        events = run(agent, SEED, "oa-chart", [prices()])
    assert not any(isinstance(e, AgentFailure) for e in events), events
    # the code arrived in ~7-character fragments and was put back together exactly
    expected = chart_code("prices.csv", SEED)
    assert len(json.dumps({"code": expected})) // 7 > 100
    assert [e.code for e in events if isinstance(e, CodeInvocation)] == [expected]
    assert [e.text for e in events if isinstance(e, Rationale)] == [
        "I will load prices.csv and plot the price with its moving average."]
    files = {e.file.name: e.file for e in events if isinstance(e, FileReturned)}
    assert set(files) == {"moving_average.png", "moving_average.csv"}
    assert files["moving_average.png"].data.startswith(b"\x89PNG")
    import pandas as pd

    table = pd.read_csv(io.BytesIO(files["moving_average.csv"].data))
    assert list(table.columns) == ["Date", "Close", "moving_average"] and len(table) == 30
    assert any(isinstance(e, CodeOutput) and "rows=30 column=Close" in e.text for e in events)

    # the answer streamed in deltas, ends as one FinalResponse; usage from each final chunk
    final = next(e for e in events if isinstance(e, FinalResponse))
    chunks = [e.text for e in events if isinstance(e, TextChunk)]
    assert len(chunks) > 3 and "".join(chunks) == final.text
    assert final.text.startswith("Done. I wrote moving_average.png, moving_average.csv")
    assert [(u.input_tokens, u.output_tokens) for u in events if isinstance(u, Usage)] == [(100, 30)] * 2
    result = RunCollector()
    for e in events:
        result.add(e)
    assert result.result().ok and result.result().input_tokens == 200

    # the requests: model, tool, usage asked for, data described; the result went back as a
    # tool message plus the chart as an image part (vision: auto)
    first, second = fake.bodies
    assert first["model"] == MODEL and first["stream"] is True
    assert first["stream_options"] == {"include_usage": True}
    assert first["tools"][0]["function"]["name"] == TOOL_NAME
    assert first["max_tokens"] == agent.settings.max_tokens
    system = first["messages"][0]
    assert system["role"] == "system" and "`prices.csv`: 30 rows" in system["content"]
    assert "2024-03-20" not in system["content"]
    assistant = second["messages"][2]
    assert assistant["tool_calls"][0]["id"] == "call_1_0"
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"code": expected}
    tool = second["messages"][3]
    assert tool["role"] == "tool" and tool["tool_call_id"] == "call_1_0"
    assert "moving_average.png" in tool["content"] and "rows=30" in tool["content"]
    image = next(p for p in second["messages"][4]["content"] if p["type"] == "image_url")
    assert image["image_url"]["url"].startswith("data:image/png;base64,")
    # the history keeps the chart as a note, not its bytes
    kept = json.dumps(agent.history("oa-chart"))
    assert "base64" not in kept and "chart image(s) left out here" in kept


@pytest.mark.timeout(120)
def test_two_tool_calls_in_one_turn_run_in_order_and_both_answers_go_back(pool):
    with FakeChat(scenario_model("two_calls")) as fake:
        agent = make_agent(fake, pool)
        events = run(agent, SEED, "oa-two", [prices()])
    codes = [e.code for e in events if isinstance(e, CodeInvocation)]
    assert len(codes) == 2 and "rows={len(df)}" in codes[0] and ".rolling(20)" in codes[1]
    outputs = [e.text for e in events if isinstance(e, CodeOutput)]
    assert outputs[0].strip() == "rows=30" and "last_ma=" in outputs[1]
    assert isinstance(events[-1], FinalResponse) and len(fake.requests) == 2
    messages = fake.bodies[1]["messages"]
    assert [c["id"] for c in messages[2]["tool_calls"]] == ["call_1_0", "call_1_1"]
    assert [(m["role"], m.get("tool_call_id")) for m in messages[3:5]] == [
        ("tool", "call_1_0"), ("tool", "call_1_1")]
    assert "rows=30" in messages[3]["content"] and "moving_average.png" in messages[4]["content"]


@pytest.mark.timeout(120)
def test_code_that_fails_is_fixed_on_the_next_turn(pool):
    with FakeChat(scenario_model("fix")) as fake:
        agent = make_agent(fake, pool)
        events = run(agent, SEED, "oa-fix", [prices()])
    kinds = [type(e).__name__ for e in events]
    err = next(e for e in events if isinstance(e, CodeError))
    assert "KeyError" in err.text and "NoSuchColumn" in err.text
    assert kinds.index("CodeError") < kinds.index("FilesGenerated") < kinds.index("FinalResponse")
    tool = fake.bodies[1]["messages"][3]
    assert tool["role"] == "tool" and "Error:" in tool["content"] and "KeyError" in tool["content"]
    assert len(fake.requests) == 3


@pytest.mark.timeout(120)
def test_a_model_without_tools_writes_code_blocks_and_the_answer_says_so(pool):
    with FakeChat(scenario_model("no_tools")) as fake:
        agent = make_agent(fake, pool)
        events = run(agent, SEED, "oa-notools", [prices()])
        first_asks = len(fake.requests)
        again = run(agent, SEED, "oa-notools-2", [prices()])
    assert not any(isinstance(e, AgentFailure) for e in events), events
    # 1: refused (400 "does not support tools"), 2: no tools, a ```python block, 3: the answer
    assert first_asks == 3 and "tools" in fake.bodies[0] and "tools" not in fake.bodies[1]
    assert "exactly one fenced ```python code block" in fake.bodies[1]["messages"][0]["content"]
    code = next(e.code for e in events if isinstance(e, CodeInvocation))
    assert code == chart_code("prices.csv", SEED)
    assert {e.file.name for e in events if isinstance(e, FileReturned)} == {
        "moving_average.png", "moving_average.csv"}
    sent_back = fake.bodies[2]["messages"][-1]
    assert sent_back["role"] == "user" and "rows=30" in json.dumps(sent_back["content"])
    final = next(e for e in events if isinstance(e, FinalResponse))
    assert final.text.startswith("Done. I wrote moving_average.png") and FENCED_MODE_NOTE in final.text
    # learned for the model: the next request asks without tools at once
    assert "tools" not in fake.bodies[first_asks] and len(fake.requests) == first_asks + 2
    assert any(isinstance(e, FinalResponse) and FENCED_MODE_NOTE in e.text for e in again)


@pytest.mark.timeout(120)
def test_tools_off_by_setting_and_the_same_bounds(pool):
    with FakeChat(scenario_model("no_tools")) as fake:
        agent = make_agent(fake, pool, openai_tools="no", max_tool_calls=0)
        events = run(agent, SEED, SHARED, [prices()])
    assert "tools" not in fake.bodies[0] and len(fake.requests) == 1
    failure = failure_of(events)
    assert failure.kind == "max_tool_calls" and "AGENT_DESK_MAX_TOOL_CALLS" in failure.message


@pytest.mark.timeout(120)
def test_no_usage_chunk_means_no_usage_event(pool):
    with FakeChat(scenario_model("no_usage")) as fake:
        events = run(make_agent(fake, pool), SEED, SHARED, [prices()])
    assert fake.bodies[0]["stream_options"] == {"include_usage": True}
    assert isinstance(events[-1], FinalResponse)
    assert not any(isinstance(e, Usage) for e in events)


@pytest.mark.timeout(120)
def test_a_text_only_model_gets_a_note_instead_of_the_chart_learned_from_its_refusal(pool):
    with FakeChat(scenario_model("text_only")) as fake:
        agent = make_agent(fake, pool)
        events = run(agent, SEED, SHARED, [prices()])
    assert isinstance(events[-1], FinalResponse), events[-1]
    assert len(fake.requests) == 3  # the image refused once, then sent as a note
    retry = fake.bodies[2]["messages"]
    assert "image_url" not in json.dumps(retry)
    tool = next(m for m in retry if m["role"] == "tool")
    assert "moving_average.csv" in tool["content"]
    notes = json.dumps(retry)
    assert "chart image(s) left out here" in notes
    # learned: later results carry the note (file name, size) from the start
    assert agent.adapter.vision is False
    results = agent.adapter.tool_results([_outcome()], fenced=False)
    assert "(Charts written: x.png (3 bytes)" in results[0]["content"] and len(results) == 1


def _outcome():
    from agent_core.backends.loop import ImagePart, ToolCall, ToolOutcome

    return ToolOutcome(ToolCall("c1", TOOL_NAME, "{}"), "Output:\nok",
                       (ImagePart("x.png", "image/png", b"abc"),))


@pytest.mark.timeout(120)
def test_vision_off_by_setting_sends_the_note_only(pool):
    with FakeChat(scenario_model("chart")) as fake:
        events = run(make_agent(fake, pool, openai_vision="no"), SEED, SHARED, [prices()])
    assert isinstance(events[-1], FinalResponse)
    second = json.dumps(fake.bodies[1]["messages"])
    assert "image_url" not in second and "Charts written: moving_average.png (" in second


@pytest.mark.timeout(60)
def test_a_model_that_never_stops_is_stopped_by_the_tool_call_bound(pool):
    with FakeChat(scenario_model("loop")) as fake:
        agent = make_agent(fake, pool, max_tool_calls=3)
        events = run(agent, "keep going", "oa-loop")
    assert [e.text.strip() for e in events if isinstance(e, CodeOutput)] == ["1", "2", "3"]
    failure = failure_of(events)
    assert failure.kind == "max_tool_calls" and "3 code runs" in failure.message
    assert len(fake.requests) == 4
    history = agent.history("oa-loop")
    assert history[-1]["role"] == "assistant" and "max_tool_calls" in history[-1]["content"]
    assert history[-2]["role"] == "tool"


@pytest.mark.timeout(60)
def test_a_stream_cut_mid_answer_keeps_what_arrived(pool):
    with FakeChat(scenario_model("cut")) as fake:
        events = run(make_agent(fake, pool), "how did it go?", SHARED)
    text = "".join(e.text for e in events if isinstance(e, TextChunk))
    assert text == "The closing prices rose steadily over the month and then"[:27]
    failure = failure_of(events)
    assert failure.kind == "broken_stream" and failure.retryable
    assert fake.server.endpoint_url in failure.message and "retry" in failure.message


def test_wrong_key_is_refused_in_plain_words_and_never_shown(pool):
    wrong = "sk-agentdesk-WRONGKEY-0123456789abcdef"
    with FakeChat(scenario_model("chart"), key=KEY) as fake:
        events = run(make_agent(fake, pool, api_key=wrong), "hi", SHARED)
    failure = failure_of(events)
    assert failure.kind == "access_denied" and "OPENAI_API_KEY" in failure.message
    assert "401" in failure.message
    assert wrong not in failure.message and "WRONGKEY" not in failure.message  # the server echoed it
    assert len(events) == 1


def test_unknown_model_lists_the_servers_models(pool):
    with FakeChat(scenario_model("chart"), models=("llama3.1:8b", "qwen2.5:7b")) as fake:
        events = run(make_agent(fake, pool, model="mistral"), "hi", SHARED)
    failure = failure_of(events)
    assert failure.kind == "not_found" and "'mistral'" in failure.message
    assert "OPENAI_MODEL" in failure.message and "llama3.1:8b, qwen2.5:7b" in failure.message


def test_rate_limit_says_how_long_to_wait(pool):
    with FakeChat(scenario_model("rate_limited")) as fake:
        events = run(make_agent(fake, pool, openai_max_retries=0), "hi", SHARED)
    failure = failure_of(events)
    assert failure.kind == "throttling" and failure.retryable
    assert "Wait 7 s" in failure.message and "429" in failure.message


@pytest.mark.timeout(120)
def test_the_client_waits_out_retry_after_and_the_run_completes(pool):
    with FakeChat(scenario_model("busy_once")) as fake:
        started = time.monotonic()
        events = run(make_agent(fake, pool), SEED, SHARED, [prices()])
        elapsed = time.monotonic() - started
    assert isinstance(events[-1], FinalResponse), events[-1]
    assert len(fake.requests) == 3 and fake.bodies[0] == fake.bodies[1]  # the same request again
    assert elapsed >= 1.0  # Retry-After: 1 was honoured


def test_context_length_exceeded_says_start_a_new_session(pool):
    with FakeChat(scenario_model("too_long")) as fake:
        events = run(make_agent(fake, pool), "hi", SHARED)
    failure = failure_of(events)
    assert failure.kind == "context_too_long" and "new session" in failure.message
    assert "8192" in failure.message


def test_connection_refused_asks_whether_the_server_runs_at_that_url(pool):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = load_settings(env={}, secrets={}, backend="openai",
                             openai_base_url=f"http://127.0.0.1:{port}/v1", openai_model=MODEL,
                             openai_max_retries=0)
    events = run(OpenAIAgent(settings, executor=LocalKernelExecutor(pool), api_key=""), "hi", SHARED)
    failure = failure_of(events)
    assert failure.kind == "connection" and f"http://127.0.0.1:{port}" in failure.message
    assert "Is the server running at this URL?" in failure.message and "OPENAI_BASE_URL" in failure.message


def test_azure_uses_the_deployment_path_api_version_and_api_key_header(pool):
    with FakeChat([ChatTurn(text="Hello from Azure.")], key=KEY) as fake:
        settings = load_settings(env={}, secrets={}, backend="openai",
                                 openai_base_url=fake.server.endpoint_url, openai_model=MODEL,
                                 openai_api_version="2024-10-21")
        events = run(OpenAIAgent(settings, executor=LocalKernelExecutor(pool), api_key=KEY), "hi", SHARED)
    assert [e.text for e in events if isinstance(e, FinalResponse)] == ["Hello from Azure."]
    request = fake.requests[0]
    assert request["path"] == f"/openai/deployments/{MODEL}/chat/completions"
    assert request["query"]["api-version"] == ["2024-10-21"] and request["key_sent"]


def test_missing_settings_are_a_configuration_failure_naming_them(pool):
    settings = load_settings(env={}, secrets={}, backend="openai")
    events = run(OpenAIAgent(settings, executor=LocalKernelExecutor(pool), api_key=""), "hi", SHARED)
    assert len(events) == 1 and events[0].kind == "configuration"
    assert "OPENAI_BASE_URL" in events[0].message and "OPENAI_MODEL" in events[0].message


def test_settings_from_env_and_secrets_never_hold_the_key(tmp_path):
    env = {"AGENT_BACKEND": "openai", "OPENAI_BASE_URL": "http://user:pw@localhost:11434/v1?key=x",
           "OPENAI_MODEL": "qwen2.5:7b", "OPENAI_API_KEY": KEY}
    s = load_settings(env=env, secrets={"OPENAI_VISION": "no", "openai_api_key": "ignored"})
    assert (s.backend, s.openai_model, s.openai_vision) == ("openai", "qwen2.5:7b", "no")
    public = json.dumps(s.public(), default=str)
    assert KEY not in public and "pw" not in public and "key=x" not in public
    assert s.public()["openai_base_url"] == "http://localhost:11434/v1"
    assert openai_api_key(env) == KEY
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'[agent]\nOPENAI_API_KEY = "{KEY}"\nOPENAI_MODEL = "m"\n')
    assert openai_api_key({}, secrets) == KEY
    assert openai_api_key({}, tmp_path / "missing.toml") is None
    from agent_core.config import SettingsError

    with pytest.raises(SettingsError, match="OPENAI_TOOLS"):
        load_settings(env={"OPENAI_TOOLS": "maybe"}, secrets={})


@pytest.mark.timeout(60)
def test_stop_interrupts_the_running_call_and_ends_the_loop(pool):
    """Issue 13: the openai backend shares the loop: a Stop interrupts the running call (its
    variables stay), then no further model call is made and no failure is reported."""
    from agent_core.cancel import CancelToken
    from tests.unit.interpreter_helpers import SLOW_CALL, StopDuringRun

    token = CancelToken()
    executor = StopDuringRun(pool, token, after=1.0)
    LocalKernelExecutor(pool).run("oa-stop", "0")  # a warm kernel: the Stop lands in the call, not in the start
    call = (TOOL_NAME, json.dumps({"code": SLOW_CALL}))
    with FakeChat([ChatTurn(text="Working.", calls=(call,))]) as fake:
        settings = load_settings(env={}, secrets={}, backend="openai", openai_base_url=fake.base_url,
                                 openai_model=MODEL)
        agent = OpenAIAgent(settings, executor=executor, api_key="")
        started = time.monotonic()
        events = run(agent, "keep going", "oa-stop", cancel=token)
        took = time.monotonic() - started
    assert took < 15, f"the 30 s call was not interrupted ({took:.1f} s)"
    assert not any(isinstance(e, CodeOutput) and "slept" in e.text for e in events), events
    assert not any(isinstance(e, AgentFailure) for e in events), events
    assert len(fake.requests) == 1  # no model call after the Stop
    assert LocalKernelExecutor(pool).run("oa-stop", "print(x + 1)").stdout.strip() == "42"
