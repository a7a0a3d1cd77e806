"""One honest outcome everywhere (issue 12): the same request on the local agent, through the
CLI (its last ``--json`` event and its exit status), the run store (History's data and its
outcome filter), the Analysis page's status line and History's replay, all say the same
outcome. A 200-period average on 50 monthly points (all NaN: its self-check fails) is
``completed with problems``; the books list, with and without a price file, is ``refused``;
a 10-period average on the same file is ``completed`` (so the words are not constant)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.app.conftest import RUN_TIMEOUT, new_app

ROOT = Path(__file__).resolve().parents[2]
BOOKS = "Please generate a list of the 10 greatest books of all time. Return it as a CSV file."
CASES = [
    ("chart with a 200-day moving average", True, "completed with problems"),
    (BOOKS, True, "refused"),
    (BOOKS, False, "refused"),
    ("chart with a 10-day moving average", True, "completed"),
]


def monthly_50(path: Path) -> Path:
    """50 monthly closes of two tickers, long layout."""
    idx = pd.date_range("2004-01-01", periods=50, freq="MS").strftime("%Y-%m-%d")
    rng = np.random.default_rng(7)
    frames = [pd.DataFrame({"symbol": t, "date": idx,
                            "close": (100 * np.exp(np.cumsum(rng.normal(0, 0.05, 50)))).round(4)})
              for t in ("AAPL", "MSFT")]
    pd.concat(frames).to_csv(path, index=False)
    return path


def cli(prompt: str, file: Path | None) -> tuple[int, list[dict]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BEDROCK_", "OPENAI_"))}
    env["AGENT_BACKEND"] = "local"  # AGENT_DESK_HOME: this test's own (tests/conftest.py)
    args = [sys.executable, "-m", "agent_core", "ask", prompt, "--json"]
    if file is not None:
        args += ["--file", str(file)]
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    return proc.returncode, [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def status_words(outcome: str) -> str:
    """How the status line starts for an outcome: the same words, capitalised."""
    return outcome[0].upper() + outcome[1:] + ":"


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("prompt", "with_file", "outcome"), CASES,
                         ids=["nan-average", "books-with-file", "books-no-file", "completed"])
def test_cli_store_status_line_and_history_say_the_same_outcome(tmp_path, monkeypatch, prompt,
                                                                 with_file, outcome):
    from agent_core.files import AttachedFile
    from agent_core.store import RunStore

    monkeypatch.setenv("AGENT_BACKEND", "local")
    prices = monthly_50(tmp_path / "monthly.csv") if with_file else None

    # the CLI: the last JSON event carries the outcome; exit status 0 only for completed
    code, events = cli(prompt, prices)
    end = events[-1]
    assert end["event"] == "RunEnd" and end["outcome"] == outcome, events[-3:]
    assert code == (0 if outcome == "completed" else 1)

    # the Analysis page: its status line says the outcome in the same words
    at = new_app("app_pages/analysis.py")
    if prices is not None:
        at.session_state["agent_session"] = at.session_state["agent_session"].attach(
            AttachedFile.from_bytes(prices.name, prices.read_bytes(), media_type="text/csv"))
    at.chat_input[0].set_value(prompt).run(timeout=RUN_TIMEOUT)
    assert not at.exception, at.exception
    assert at.status[0].label.startswith(status_words(outcome)), at.status[0].label
    turn = at.session_state["chat"][-1]
    assert turn.outcome == outcome

    # the store (History's data): both runs recorded with that outcome, found by its filter
    with RunStore(os.environ["AGENT_DESK_HOME"]) as store:
        assert store.get_run(end["run_id"]).outcome == outcome
        assert store.get_run(turn.run_id).outcome == outcome
        assert {r.id for r in store.list_runs(outcome=outcome)} == {end["run_id"], turn.run_id}

    # the History page: its outcome filter lists both, its column and its replay say the same
    at.switch_page("app_pages/history.py").run()
    assert not at.exception, at.exception
    at.selectbox(key="hist_outcome").set_value(outcome).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["Outcome"]) == [outcome, outcome]
    assert set(table["Prompt"]) == {prompt[:80]} or all(p.startswith(prompt[:40]) for p in table["Prompt"])
    assert at.status[0].label.startswith(status_words(outcome)), at.status[0].label
