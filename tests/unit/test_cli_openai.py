"""``python -m agent_core ask --backend openai`` as a subprocess against the fake Chat
Completions server on 127.0.0.1 (which wants an API key), code on the local kernel: the three
jobs of the original walkthrough (the seed chart, the synthetic data, the books CSV); the key
comes from the environment and never shows in any output."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent_core.synthetic import SyntheticSpec, read_tables, verify
from tests.fakes.openai_server import BOOKS_REQUEST as BOOKS
from tests.fakes.openai_server import PRICES_CSV as PRICES
from tests.fakes.openai_server import SEED_REQUEST as SEED
from tests.fakes.openai_server import FakeChat, scenario_model

ROOT = Path(__file__).resolve().parents[2]
MODEL = "analyst-7b"
KEY = "sk-agentdesk-CLIKEY-5a4b3c2d1e0f9988"


@pytest.fixture(scope="module")
def fake():
    server = FakeChat(scenario_model("chart"), key=KEY, models=(MODEL,)).start()
    yield server
    server.stop()


def ask(fake: FakeChat, tmp_path: Path, prompt: str, *args: str,
        key: str = KEY) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AWS_", "BEDROCK_"))
           and k not in ("AGENT_BACKEND", "CODE_EXECUTOR")}
    env.update(OPENAI_API_KEY=key, AGENT_DESK_HOME=str(tmp_path / "home"))
    return subprocess.run(
        [sys.executable, "-m", "agent_core", "ask", "--backend", "openai", "--base-url", fake.base_url,
         "--model", MODEL, "--out", str(tmp_path / "out"), *args, prompt],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=100)


def events(proc: subprocess.CompletedProcess, key: str = KEY) -> list[dict]:
    assert key not in proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    names = [d["event"] for d in lines]
    assert "AgentFailure" not in names and names[-2:] == ["FinalResponse", "RunEnd"], names
    assert lines[-1]["outcome"] == "completed"
    assert names.index("Rationale") < names.index("CodeInvocation") < names.index("CodeOutput")
    assert all(d.get("source") == "openai" for d in lines[:-1])  # the last: RunEnd, from the run
    return lines


@pytest.mark.timeout(120)
def test_seed_chart_request(fake, tmp_path):
    asked = len(fake.requests)
    prices = tmp_path / "prices.csv"
    prices.write_text(PRICES)
    lines = events(ask(fake, tmp_path, SEED, "--json", "--file", str(prices)))
    code = next(d["code"] for d in lines if d["event"] == "CodeInvocation")
    assert "pd.read_csv('prices.csv')" in code and 'color="red"' in code and 'color="blue"' in code
    out = tmp_path / "out"
    assert (out / "moving_average.png").read_bytes().startswith(b"\x89PNG")
    import pandas as pd

    table = pd.read_csv(out / "moving_average.csv")
    assert len(table) == 30
    closes = pd.read_csv(io.StringIO(PRICES))["Close"]
    assert table["moving_average"].iloc[-1] == pytest.approx(closes.tail(20).mean())
    new = fake.requests[asked:]
    assert len(new) == 2 and all(r["key_sent"] and r["body"]["model"] == MODEL for r in new)


@pytest.mark.timeout(120)
def test_synthetic_request_tables_pass_every_rule(fake, tmp_path):
    spec = SyntheticSpec()
    lines = events(ask(fake, tmp_path, spec.to_prompt(), "--json"))
    returned = {d["file"]["name"] for d in lines if d["event"] == "FileReturned"}
    assert {spec.sales_csv, spec.details_csv, spec.box_plot_file} <= returned
    out = tmp_path / "out"
    sales, details = read_tables((out / spec.sales_csv).read_bytes(), (out / spec.details_csv).read_bytes())
    assert len(sales) == len(details) == spec.n_companies
    checks = verify(spec, sales, details)
    assert len(checks) >= 10 and all(c.passed for c in checks), [c for c in checks if not c.passed]


@pytest.mark.timeout(120)
def test_books_request_returns_a_csv_with_ten_rows_in_a_readable_transcript(fake, tmp_path):
    proc = ask(fake, tmp_path, BOOKS)
    assert KEY not in proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "# backend openai" in proc.stdout and "[code]" in proc.stdout
    assert "[file] greatest_books.csv (text/csv" in proc.stdout and "== answer ==" in proc.stdout
    import pandas as pd

    books = pd.read_csv(tmp_path / "out" / "greatest_books.csv")
    assert len(books) == 10 and list(books.columns) == ["rank", "title", "author", "year"]
    assert books["title"].is_unique


def test_a_wrong_key_exits_1_and_is_never_printed(fake, tmp_path):
    wrong = "sk-agentdesk-WRONGCLI-000111222333"
    proc = ask(fake, tmp_path, "hi", key=wrong)
    assert proc.returncode == 1
    assert "OPENAI_API_KEY" in proc.stdout and "[failed: access_denied]" in proc.stdout
    assert wrong not in proc.stdout + proc.stderr and "WRONGCLI" not in proc.stdout + proc.stderr


def test_help_lists_the_openai_flags_and_no_key_flag():
    proc = subprocess.run([sys.executable, "-m", "agent_core", "ask", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0
    for flag in ("--base-url", "--model", "--api-version", "OPENAI_API_KEY"):
        assert flag in proc.stdout
    assert "--api-key" not in proc.stdout
