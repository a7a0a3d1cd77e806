"""``python -m agent_core ask --backend converse`` as a subprocess, end to end, against one fake
server on 127.0.0.1 (ConverseStream + AgentCore Code Interpreter): the seed chart request on
the local kernel executor and the synthetic-data request on both executors. (The chart request
on the AgentCore executor through the standalone fake is in test_agentcore_executor.py.)"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent_core.synthetic import SyntheticSpec, read_tables, verify
from tests.fakes.agentcore_server import FakeAgentCore
from tests.fakes.bedrock_server import FAKE_ACCESS_KEY, FAKE_SECRET_KEY, fake_aws_env
from tests.fakes.converse_server import FakeConverse, FakeServer, scenario_model

ROOT = Path(__file__).resolve().parents[2]
MODEL_ID = "us.anthropic.claude-fake-cli-v1:0"
SEED = ("Given the attached price data file, please make me a chart with moving average "
        "in red and actual data in blue")
PRICES = "Date,Close\n" + "\n".join(f"2024-03-{d:02d},{80 + d * 0.75 + d % 5:.2f}" for d in range(1, 31)) + "\n"


@pytest.fixture(scope="module")
def fakes():
    server = FakeServer().start()
    converse = FakeConverse(scenario_model("chart"), server=server)
    agentcore = FakeAgentCore(server=server)
    yield converse, agentcore
    agentcore.close()
    server.stop()


def ask(url: str, tmp_path: Path, executor: str, prompt: str, *args: str) -> subprocess.CompletedProcess:
    env = fake_aws_env(dict(os.environ), tmp_path)
    for var in ("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
                "AGENT_BACKEND", "BEDROCK_MODEL_ID", "CODE_EXECUTOR"):
        env.pop(var, None)
    return subprocess.run(
        [sys.executable, "-m", "agent_core", "ask", "--backend", "converse", "--model-id", MODEL_ID,
         "--executor", executor, "--endpoint-url", url, "--region", "us-east-1", "--json",
         "--out", str(tmp_path / "out"), *args, prompt],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=100)


def events(proc: subprocess.CompletedProcess) -> list[dict]:
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert FAKE_ACCESS_KEY not in proc.stdout + proc.stderr
    assert FAKE_SECRET_KEY not in proc.stdout + proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    names = [d["event"] for d in lines]
    assert "AgentFailure" not in names and names[-2:] == ["FinalResponse", "RunEnd"], names
    assert lines[-1]["outcome"] == "completed"
    assert names.index("Rationale") < names.index("CodeInvocation") < names.index("CodeOutput")
    return lines


@pytest.mark.timeout(120)
def test_seed_chart_request_on_the_local_kernel_executor(fakes, tmp_path):
    converse, agentcore = fakes
    asked, remote_runs = len(converse.requests), len(agentcore.calls("executeCode"))
    prices = tmp_path / "prices.csv"
    prices.write_text(PRICES)
    lines = events(ask(converse.endpoint_url, tmp_path, "local", SEED, "--file", str(prices)))
    code = next(d["code"] for d in lines if d["event"] == "CodeInvocation")
    assert "pd.read_csv('prices.csv')" in code and ".rolling(20)" in code
    saved = {d["file"]["name"]: Path(d["saved_as"]) for d in lines if d["event"] == "FileReturned"}
    assert set(saved) == {"moving_average.png", "moving_average.csv"}
    out = tmp_path / "out"
    assert (out / "moving_average.png").read_bytes().startswith(b"\x89PNG")
    import pandas as pd

    table = pd.read_csv(out / "moving_average.csv")
    assert list(table.columns) == ["Date", "Close", "moving_average"] and len(table) == 30
    assert table["moving_average"].iloc[-1] == pytest.approx(pd.read_csv(io.StringIO(PRICES))["Close"].tail(20).mean())
    # the model was the fake at --endpoint-url with --model-id; the code ran here, not remotely
    assert [r["model_id"] for r in converse.requests[asked:]] == [MODEL_ID, MODEL_ID]
    assert "`prices.csv`: 30 rows" in converse.requests[asked]["body"]["system"][0]["text"]
    assert len(agentcore.calls("executeCode")) == remote_runs


@pytest.mark.timeout(120)
@pytest.mark.parametrize("executor", ["local", "agentcore"])
def test_synthetic_request_writes_tables_that_pass_every_rule(fakes, tmp_path, executor):
    converse, agentcore = fakes
    remote_runs = len(agentcore.calls("executeCode"))
    spec = SyntheticSpec()
    lines = events(ask(converse.endpoint_url, tmp_path, executor, spec.to_prompt()))
    out = tmp_path / "out"
    returned = {d["file"]["name"] for d in lines if d["event"] == "FileReturned"}
    assert {spec.sales_csv, spec.details_csv, spec.box_plot_file} <= returned
    assert (out / spec.box_plot_file).read_bytes().startswith(b"\x89PNG")
    sales, details = read_tables((out / spec.sales_csv).read_bytes(), (out / spec.details_csv).read_bytes())
    assert len(sales) == len(details) == spec.n_companies
    checks = verify(spec, sales, details)
    assert len(checks) >= 10 and all(c.passed for c in checks), [c for c in checks if not c.passed]
    ran_remotely = len(agentcore.calls("executeCode")) - remote_runs
    assert ran_remotely == (1 if executor == "agentcore" else 0)


@pytest.mark.timeout(120)
def test_seed_chart_request_with_kernels_on_a_jupyter_gateway(fakes, tmp_path, kernel_gateway, monkeypatch):
    """CODE_EXECUTOR=gateway for a model backend: the model's code runs in a kernel on a real
    Kernel Gateway (the attached file copied in, the chart and CSV copied back)."""
    from tests.kernel_gateway import TOKEN

    converse, agentcore = fakes
    remote_runs = len(agentcore.calls("executeCode"))
    monkeypatch.setenv("KERNEL_GATEWAY_URL", kernel_gateway.url)
    monkeypatch.setenv("KERNEL_GATEWAY_AUTH_TOKEN", TOKEN)
    prices = tmp_path / "prices.csv"
    prices.write_text(PRICES)
    proc = ask(converse.endpoint_url, tmp_path, "gateway", SEED, "--file", str(prices))
    lines = events(proc)
    assert TOKEN not in proc.stdout + proc.stderr
    saved = {d["file"]["name"] for d in lines if d["event"] == "FileReturned"}
    assert saved == {"moving_average.png", "moving_average.csv"}
    assert (tmp_path / "out" / "moving_average.png").read_bytes().startswith(b"\x89PNG")
    assert len(agentcore.calls("executeCode")) == remote_runs  # not AgentCore
    # the file was in the kernel's folder on the gateway while it ran (removed at the CLI's exit)
    log = kernel_gateway.log.read_text()
    assert "POST /api/kernels" in log and "DELETE /api/kernels/" in log
