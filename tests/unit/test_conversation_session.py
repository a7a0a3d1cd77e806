"""The conversation kept with the session in the run store: `ask --session ID` continues
what `--session ID --file prices.csv` began, without attaching the file again, through the
real CLI, the local agent and a real kernel; a result that fails its own check ends as
`completed with problems` (exit status 1, the run's outcome in the store, History's filter)."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agent_core.planner import AnalysisState
from agent_core.store import LATEST, RunStore

ROOT = Path(__file__).resolve().parents[2]


def test_store_keeps_the_conversation_per_session(tmp_path):
    with RunStore(tmp_path / "home") as store:
        assert LATEST >= 4 and store.schema_version == LATEST
        state = AnalysisState(file="m.csv", kind="price_chart", tickers=("AAPL",), windows=(50,))
        store.start_run("s1", "chart", "local")
        store.save_conversation("s1", state.to_json())
        store.save_conversation("s1", state.to_json())  # replaced, not duplicated
        assert AnalysisState.from_json(store.conversation("s1")) == state
        assert store.conversation("s2") is None
    with RunStore(tmp_path / "home") as store:  # after a restart
        assert AnalysisState.from_json(store.conversation("s1")) == state
        store.delete_session("s1")
        assert store.conversation("s1") is None


def _monthly(path: Path) -> Path:
    idx = pd.date_range("2000-01-01", "2010-12-01", freq="MS")
    rng = np.random.default_rng(3)
    frames = [pd.DataFrame({"symbol": t, "date": idx,
                            "price": 100 * np.exp(np.cumsum(rng.normal(0, 0.03 * (i + 1), len(idx))))})
              for i, t in enumerate(("AAPL", "MSFT", "GOOG"))]
    buf = io.StringIO()
    pd.concat(frames).to_csv(buf, index=False)
    path.write_text(buf.getvalue())
    return path


def _ask(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BEDROCK_"))}
    env.update(AGENT_BACKEND="local", AGENT_DESK_HOME=str(home))
    return subprocess.run([sys.executable, "-m", "agent_core", "ask", *args, "--json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def _answer(proc: subprocess.CompletedProcess) -> str:
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return "".join(e.get("text", "") for e in events if e["event"] == "TextChunk")


@pytest.mark.timeout(300)
def test_cli_session_continues_without_reattaching(tmp_path):
    home, sid = tmp_path / "home", "conv-test-1"
    prices = _monthly(tmp_path / "prices.csv")
    first = _ask(home, "chart with a 20-day moving average", "--session", sid, "--file", str(prices))
    assert first.returncode == 0, first.stderr
    assert _answer(first).startswith("Understood: prices.csv, all tickers: AAPL, MSFT and GOOG, "
                                     "20-month average, price chart.")

    second = _ask(home, "now only AAPL and MSFT, 50-day average", "--session", sid)
    assert second.returncode == 0, second.stderr
    text = _answer(second)
    assert text.startswith("Understood: prices.csv, AAPL and MSFT, 50-month average")
    assert "your data is monthly" in text and "for: AAPL, MSFT." in text

    third = _ask(home, "add a 200-day moving average too", "--session", sid)
    assert third.returncode == 1  # 200 months on 132 monthly rows: all NaN, never "done"
    text = _answer(third)
    assert text.startswith("Understood: prices.csv, AAPL and MSFT, 50- and 200-month averages")
    assert "failed its own checks" in text and "200-month moving average has no values" in text

    fourth = _ask(home, "which ticker had the highest volatility in 2008?", "--session", sid)
    assert fourth.returncode == 0, fourth.stderr
    frame = pd.read_csv(prices, parse_dates=["date"]).pivot(index="date", columns="symbol", values="price")
    vol = frame.pct_change().loc["2008", ["AAPL", "MSFT"]].std() * np.sqrt(12) * 100
    winner = vol.idxmax()
    text = _answer(fourth)
    answer = f"Answer: {winner} had the highest annualised volatility: {vol[winner]:,.2f}%"
    assert answer in text.split("Output:")[0]  # in the answer itself, not only in the printed output

    with RunStore(home) as store:
        runs = store.list_runs(session=sid)
        assert [r.outcome for r in reversed(runs)] == [
            "completed", "completed", "completed with problems", "completed"]
        assert [r.prompt for r in store.list_runs(outcome="completed with problems")] == [
            "add a 200-day moving average too"]
        state = AnalysisState.from_json(store.conversation(sid))
        assert state is not None and state.kind == "question" and state.tickers == ("AAPL", "MSFT")
