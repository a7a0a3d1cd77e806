"""CODE_EXECUTOR=gateway on a REAL ``jupyter kernelgateway`` (127.0.0.1, free port, its own
root folder, an auth token): the seed chart through the local agent and the CLI, the time
limit (interrupt, then restart), variables kept per session, files both ways, and the token
never shown."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from agent_core.backends.base import AgentRequest
from agent_core.backends.local import LocalAgent
from agent_core.config import SettingsError, load_settings
from agent_core.files import AttachedFile
from agent_core.interpreter.pool import KernelPool
from agent_core.run import RunCollector
from tests.kernel_gateway import TOKEN

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "assets" / "sample_prices.csv"
SEED = ("Given the attached price data file, please make me a chart with moving average in red "
        "and actual data in blue")


@pytest.fixture(scope="module")
def gateway(kernel_gateway):
    return kernel_gateway


def _settings(gateway, home: Path, **kw):
    env = {"AGENT_DESK_HOME": str(home), "CODE_EXECUTOR": "gateway", "KERNEL_GATEWAY_URL": gateway.url}
    return load_settings(env=env, secrets={}, **kw)


@pytest.fixture(scope="module")
def pool(gateway, tmp_path_factory):
    settings = _settings(gateway, tmp_path_factory.mktemp("home"), exec_timeout=2.0, max_kernels=3)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KERNEL_GATEWAY_AUTH_TOKEN", TOKEN)
        p = KernelPool(settings, warm_spare=False)
    yield p
    p.shutdown()


def test_seed_chart_through_the_local_agent_runs_on_the_gateway(pool, gateway):
    agent = LocalAgent(pool.settings, pool=pool)
    collector = RunCollector()
    data = SAMPLE.read_bytes()
    request = AgentRequest(text=SEED, session_id="gw-seed",
                           files=(AttachedFile.from_bytes("prices.csv", data),))
    for event in agent.invoke(request):
        collector.add(event)
    result = collector.result()
    assert result.ok and not result.errors, result.errors
    files = {f.name: f for f in result.files}
    assert files["moving_average.png"].data.startswith(b"\x89PNG\r\n\x1a\n")
    table = pd.read_csv(io.BytesIO(files["moving_average.csv"].data))
    assert {"date", "price", "ma_20"} <= set(table.columns) and len(table) > 100
    # it ran on the gateway: the attached file and the chart are in the kernel's own folder there
    folders = [p for p in gateway.root.glob("agent-desk-*") if (p / "prices.csv").exists()]
    assert len(folders) == 1, list(gateway.root.iterdir())
    assert (folders[0] / "prices.csv").read_bytes() == data
    assert (folders[0] / "moving_average.png").stat().st_size == len(files["moving_average.png"].data)
    assert pool.isolation.startswith("Jupyter gateway at 127.0.0.1:")
    assert pool.kernel_pid("gw-seed") is None  # no process of ours


def test_variables_persist_in_a_session_and_sessions_are_apart(pool):
    assert pool.execute("gw-vars-a", "x = 41").ok
    again = pool.execute("gw-vars-a", "print(x + 1)")
    assert again.ok and again.stdout.strip() == "42"
    other = pool.execute("gw-vars-b", "print(x)")
    assert other.error is not None and other.error.name == "NameError"


def test_files_written_by_code_come_back_with_the_size_cap(pool):
    code = ("open('small.txt', 'w').write('hello gateway')\n"
            "open('big.bin', 'wb').write(b'0' * 1_200_000)\n")
    result = pool.execute("gw-files", code)
    got = {f.name: f for f in result.files}
    assert got["small.txt"].data == b"hello gateway" and not got["small.txt"].truncated
    assert got["big.bin"].truncated and got["big.bin"].data == b""
    unchanged = pool.execute("gw-files", "1 + 1")
    assert unchanged.files == ()  # only new or changed files come back


def test_a_60_s_loop_is_interrupted_at_the_time_limit(pool):
    pool.execute("gw-loop", "kept = 'still here'")
    result = pool.execute("gw-loop", "import time\nfor _ in range(600):\n    time.sleep(0.1)")
    assert result.timed_out and not result.kernel_restarted
    assert result.notice and "longer than 2 s and was stopped; variables were kept" in result.notice
    assert result.duration_seconds < 8
    after = pool.execute("gw-loop", "print(kept)")
    assert after.ok and after.stdout.strip() == "still here"


def test_code_that_ignores_the_interrupt_gets_a_fresh_kernel_with_a_notice(pool, gateway):
    pool.execute("gw-stubborn", "lost = 1")
    code = ("import time\nwhile True:\n    try:\n        time.sleep(60)\n"
            "    except KeyboardInterrupt:\n        pass")
    result = pool.execute("gw-stubborn", code)
    assert result.timed_out and result.kernel_restarted
    assert "did not stop when interrupted" in result.notice and "restarted" in result.notice
    after = pool.execute("gw-stubborn", "print('lost' in dir())")
    assert after.ok and after.stdout.strip() == "False"


def test_the_token_never_reaches_the_kernel_or_the_words_shown(pool):
    result = pool.execute("gw-secret", "import os\nprint(dict(os.environ))")
    assert result.ok and "PATH" in result.stdout  # the kernel's environment was printed
    assert TOKEN not in result.stdout + result.stderr
    assert TOKEN not in pool.isolation and TOKEN not in repr(pool._gateway)
    assert TOKEN not in json.dumps(pool.settings.public())


def test_a_wrong_token_is_a_clear_error_without_the_token(gateway, tmp_path, monkeypatch):
    wrong = "not-the-token-83b1"
    monkeypatch.setenv("KERNEL_GATEWAY_AUTH_TOKEN", wrong)
    p = KernelPool(_settings(gateway, tmp_path / "home"), warm_spare=False)
    try:
        result = p.execute("gw-wrong", "1")
    finally:
        p.shutdown()
    assert result.error is not None and result.error.name == "KernelStartError"
    assert "Jupyter gateway at 127.0.0.1" in result.error.value and "token" in result.error.value
    assert wrong not in result.error.value


def test_the_warm_spare_on_the_gateway_is_handed_to_a_new_session(gateway, tmp_path, monkeypatch):
    monkeypatch.setenv("KERNEL_GATEWAY_AUTH_TOKEN", TOKEN)
    p = KernelPool(_settings(gateway, tmp_path / "home", max_kernels=2), warm_spare=True, first_draw=False)
    try:
        deadline = time.monotonic() + 60
        while not p.spare_ready():
            assert time.monotonic() < deadline, "the spare did not start on the gateway"
            time.sleep(0.1)
        p.put_files("gw-spare", [AttachedFile.from_bytes("in.csv", b"a,b\n1,2\n")])
        result = p.execute("gw-spare", "import pandas as pd\nprint(int(pd.read_csv('in.csv')['b'][0]))")
        assert result.ok and result.stdout.strip() == "2", result
        assert (tmp_path / "home" / "sessions" / "gw-spare" / "work" / "in.csv").exists()
        assert not p.spare_ready()  # it was taken (a new one comes after the run)
    finally:
        p.shutdown()


def test_gateway_without_url_says_which_setting(tmp_path):
    settings = load_settings(env={"AGENT_DESK_HOME": str(tmp_path), "CODE_EXECUTOR": "gateway"}, secrets={})
    with pytest.raises(SettingsError, match="KERNEL_GATEWAY_URL"):
        KernelPool(settings, warm_spare=False)
    with pytest.raises(SettingsError, match="http"):
        load_settings(env={"CODE_EXECUTOR": "gateway", "KERNEL_GATEWAY_URL": "gateway:8888"}, secrets={})


def test_cli_ask_with_the_sample_file_on_the_gateway(gateway, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BEDROCK_"))}
    env.update(AGENT_BACKEND="local", CODE_EXECUTOR="gateway", KERNEL_GATEWAY_URL=gateway.url,
               KERNEL_GATEWAY_AUTH_TOKEN=TOKEN, AGENT_DESK_HOME=str(tmp_path / "home"))
    out = tmp_path / "out"
    before = {k["id"] for k in gateway.kernels()}
    folders = set(gateway.root.glob("agent-desk-*"))
    proc = subprocess.run([sys.executable, "-m", "agent_core", "ask", SEED, "--json",
                           "--file", "assets/sample_prices.csv", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=90, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "moving_average.png").read_bytes().startswith(b"\x89PNG")
    assert len(pd.read_csv(out / "moving_average.csv")) > 100
    assert TOKEN not in proc.stdout + proc.stderr
    assert {k["id"] for k in gateway.kernels()} == before  # its kernel was shut down on the gateway
    assert set(gateway.root.glob("agent-desk-*")) == folders  # and its folder there removed
