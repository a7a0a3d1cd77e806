"""AgentCoreExecutor over an unmodified boto3 ``bedrock-agentcore`` client and a fake
AgentCore Code Interpreter on 127.0.0.1 that runs the code in a real kernel; and the
Converse loop's scripted run through it."""
from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from agent_core.backends.base import AgentRequest
from agent_core.backends.converse import ConverseAgent
from agent_core.backends.executors import (
    AgentCoreExecutor, ExecutorError, execution_from_result,
)
from agent_core.config import load_settings
from agent_core.events import AgentFailure, CodeError, FileReturned, FilesGenerated, FinalResponse
from agent_core.files import AttachedFile
from tests.fakes.agentcore_server import FakeAgentCore
from tests.fakes.converse_server import FakeConverse, scenario_model

ROOT = Path(__file__).resolve().parents[2]
PRICES = "date,close\n" + "\n".join(f"2024-02-{d:02d},{50 + d % 7 + d * 0.5}" for d in range(1, 29)) + "\n"


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def agentcore():
    fake = FakeAgentCore().start()
    yield fake
    fake.stop()


def settings_for(endpoint_url: str, **overrides):
    return load_settings(env={}, secrets={}, backend="converse", model_id="anthropic.fake",
                         code_executor="agentcore", endpoint_url=endpoint_url,
                         region="us-east-1", **overrides)


@pytest.mark.timeout(120)
def test_files_state_outputs_and_errors_through_the_real_api_shapes(agentcore):
    executor = AgentCoreExecutor(settings_for(agentcore.endpoint_url))
    sid = "exec-direct"
    executor.start(sid)
    blob = bytes(range(256))
    executor.put_files(sid, [AttachedFile.from_bytes("prices.csv", PRICES.encode()),
                             AttachedFile.from_bytes("raw.bin", blob)])
    writes = agentcore.calls("writeFiles")
    assert writes[-1]["body"]["arguments"]["content"][0] == {"path": "prices.csv", "text": PRICES}
    assert base64.b64decode(writes[-1]["body"]["arguments"]["content"][1]["blob"]) == blob

    first = executor.run(sid, "import pandas as pd\ndf = pd.read_csv('prices.csv')\n"
                              "print(len(df), open('raw.bin','rb').read() == bytes(range(256)))\n"
                              "df.describe().to_csv('stats.csv')")
    assert first.ok and first.stdout.strip() == "28 True"
    assert [f.name for f in first.files] == ["stats.csv"]  # attachments are not "new" files
    assert first.files[0].data.decode().startswith(",close")
    args = agentcore.calls("executeCode")[-1]["body"]["arguments"]
    assert set(args) == {"language", "code"} and args["language"] == "python"
    assert [r["body"]["name"] for r in agentcore.requests[-4:]] == [
        "listFiles", "executeCode", "listFiles", "readFiles"]

    second = executor.run(sid, "print(df['close'].max())\ndf['nope']")  # state persists
    assert float(second.stdout) == max(50 + d % 7 + d * 0.5 for d in range(1, 29))
    assert second.error is not None and second.error.name == "KeyError" and "nope" in second.error.traceback
    assert second.files == ()

    # reset stops the interpreter session; the next run starts a new one with no state
    starts = sum(r["op"] == "start" for r in agentcore.requests)
    executor.reset(sid)
    assert agentcore.stopped and agentcore.stopped[-1] not in agentcore.sessions
    third = executor.run(sid, "print('df' in globals())")
    assert third.stdout.strip() == "False"
    assert sum(r["op"] == "start" for r in agentcore.requests) == starts + 1


@pytest.mark.timeout(60)
def test_service_failures_become_executor_errors_with_what_to_do():
    executor = AgentCoreExecutor(settings_for("http://127.0.0.1:9"))  # nothing listens there
    with pytest.raises(ExecutorError) as info:
        executor.start("exec-down")
    assert info.value.kind == "connection" and "retry" in str(info.value).lower()
    assert "testing" not in str(info.value)


def test_execute_code_results_map_to_an_execution():
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 20
    ok = execution_from_result({"content": [{"type": "text", "text": "hi\n"},
                                            {"type": "image", "mimeType": "image/png", "data": png}],
                                "structuredContent": {"stdout": "hi\n", "stderr": "", "exitCode": 0,
                                                      "executionTime": 0.1}, "isError": False})
    assert ok.ok and ok.stdout == "hi\n" and ok.files[0].name == "output-1.png" and ok.files[0].data == png
    bad = execution_from_result({"content": [{"type": "text", "text": "Traceback...\nZeroDivisionError: division by zero"}],
                                 "isError": True})
    assert bad.error.name == "ZeroDivisionError" and bad.error.value == "division by zero"
    assert bad.stdout == ""


@pytest.mark.timeout(120)
def test_converse_loop_through_agentcore_fix_then_chart(agentcore):
    with FakeConverse(scenario_model("fix")) as model:
        settings = settings_for(model.endpoint_url)
        executor = AgentCoreExecutor(settings_for(agentcore.endpoint_url))
        agent = ConverseAgent(settings, executor=executor)
        events = list(agent.invoke(AgentRequest(
            text="Given the attached price data file, please make me a chart with moving average "
                 "in red and actual data in blue", session_id="conv-agentcore",
            files=(AttachedFile.from_bytes("prices.csv", PRICES.encode()),))))
        assert not any(isinstance(e, AgentFailure) for e in events), events
        assert "KeyError" in next(e for e in events if isinstance(e, CodeError)).text
        assert next(e for e in events if isinstance(e, FilesGenerated)).names == (
            "moving_average.csv", "moving_average.png")
        files = {e.file.name: e.file for e in events if isinstance(e, FileReturned)}
        assert files["moving_average.png"].is_image
        import pandas as pd

        assert len(pd.read_csv(io.BytesIO(files["moving_average.csv"].data))) == 28
        assert isinstance(events[-1], FinalResponse)
        results = [b["toolResult"] for body in model.bodies[1:] for b in body["messages"][-1]["content"]]
        assert results[0]["status"] == "error" and "NoSuchColumn" in results[0]["content"][0]["text"]
        image = next(b["image"] for b in results[1]["content"] if "image" in b)
        assert base64.b64decode(image["source"]["bytes"]) == files["moving_average.png"].data

        stops = len(agentcore.stopped)
        agent.reset_session("conv-agentcore")
        assert len(agentcore.stopped) == stops + 1 and agent.history("conv-agentcore") == []


@pytest.mark.timeout(120)
def test_standalone_fakes_serve_the_cli_end_to_end(tmp_path):
    """`python -m tests.fakes.converse_server` (with AgentCore on the same port) answers the
    seed chart request through `python -m agent_core ask --backend converse --executor agentcore`."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen([sys.executable, "-m", "tests.fakes.converse_server", "--port", str(port),
                               "--scenario", "chart"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert "fake converse+agentcore" in server.stdout.readline()
        prices = tmp_path / "prices.csv"
        prices.write_text(PRICES)
        out = tmp_path / "out"
        cli = subprocess.run(
            [sys.executable, "-m", "agent_core", "ask", "--backend", "converse", "--model-id", "anthropic.fake",
             "--executor", "agentcore", "--endpoint-url", f"http://127.0.0.1:{port}", "--region", "us-east-1",
             "--file", str(prices), "--out", str(out), "--json",
             "Given the attached price data file, please make me a chart with moving average in red "
             "and actual data in blue"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=100)
        assert cli.returncode == 0, cli.stdout[-2000:] + cli.stderr[-2000:]
        assert (out / "moving_average.png").read_bytes().startswith(b"\x89PNG")
        assert '"event": "FinalResponse"' in cli.stdout and '"event": "CodeInvocation"' in cli.stdout
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.timeout(120)
def test_an_expired_interpreter_session_is_replaced_with_the_files_and_a_notice(agentcore):
    executor = AgentCoreExecutor(settings_for(agentcore.endpoint_url))
    sid = "exec-expire"
    executor.put_files(sid, [AttachedFile.from_bytes("prices.csv", PRICES.encode())])
    assert executor.run(sid, "x = 41").ok
    # the service ends the session behind our back (as its timeout does)
    gone = executor._sessions[sid]
    agentcore.sessions.pop(gone).close()
    after = executor.run(sid, "import os\nprint(os.path.exists('prices.csv'), 'x' in globals())")
    assert after.stdout.split() == ["True", "False"]
    assert after.kernel_restarted and "variables in memory were lost" in after.notice
    assert executor._sessions[sid] != gone
    # attaching a file to an expired session recovers too, with every file attached so far
    agentcore.sessions.pop(executor._sessions[sid]).close()
    executor.put_files(sid, [AttachedFile.from_bytes("more.csv", b"a,b\n1,2\n")])
    both = executor.run(sid, "import os\nprint(sorted(f for f in os.listdir('.') if f.endswith('.csv')))")
    assert both.stdout.strip() == "['more.csv', 'prices.csv']" and both.files == ()
    assert both.kernel_restarted
    executor.reset(sid)


def test_the_agentcore_endpoint_variable_wins_over_the_bedrock_endpoint(monkeypatch, agentcore):
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", agentcore.endpoint_url)
    executor = AgentCoreExecutor(settings_for("http://127.0.0.1:9"))  # the model's endpoint
    assert executor.client.meta.endpoint_url == agentcore.endpoint_url
