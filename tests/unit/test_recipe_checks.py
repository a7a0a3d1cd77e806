"""Every recipe's code checks its own result, on a REAL kernel through the local agent: on data
that gives an empty or all-NaN result (a ticker with one row, a 200-period average on 50
points) each recipe kind ends "completed with problems" with the check's words in the
answer, never "completed"; the same recipe on good data ends "completed"."""
from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest

from agent_core.backends.base import AgentRequest
from agent_core.backends.local import LocalAgent
from agent_core.config import load_settings
from agent_core.events import CodeError, CodeOutput
from agent_core.files import AttachedFile
from agent_core.run import RunCollector, outcome_of

pytestmark = pytest.mark.timeout(300)

DATES = pd.bdate_range("2020-01-01", periods=300)


def _ohlc_long() -> AttachedFile:
    """AAPL and MSFT with 300 days each, ZZZ with one row."""
    rng = np.random.default_rng(12)
    frames = []
    for ticker, dates in (("AAPL", DATES), ("MSFT", DATES), ("ZZZ", DATES[150:151])):
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(dates))))
        frames.append(pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "symbol": ticker, "open": close * 0.99,
                                    "high": close * 1.02, "low": close * 0.97, "close": close}))
    return AttachedFile.from_bytes("long.csv", pd.concat(frames).round(4).to_csv(index=False).encode())


def _short_ohlc() -> AttachedFile:
    """One instrument, 50 days: a 200-day average has no values."""
    close = np.linspace(100, 120, 50)
    frame = pd.DataFrame({"Date": DATES[:50].strftime("%Y-%m-%d"), "Open": close, "High": close + 1,
                          "Low": close - 1, "Close": close})
    return AttachedFile.from_bytes("short.csv", frame.to_csv(index=False).encode())


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    home = tmp_path_factory.mktemp("checks-home")
    a = LocalAgent(load_settings(env={"AGENT_DESK_HOME": str(home)}, secrets={}, max_kernels=2))
    yield a
    a.close()


def _run(agent, text: str, file: AttachedFile):
    collector = RunCollector()
    request = AgentRequest(text=text, session_id="checks-" + uuid.uuid4().hex[:8], files=(file,))
    for event in agent.invoke(request):
        collector.add(event)
    result = collector.result()
    return result, outcome_of(result.events)


# (recipe kind, request on bad data, words of its failed check, the same request on good data)
BAD = [
    ("price_chart", "plot ZZZ", "ZZZ: fewer than 2 prices to draw a line", "plot AAPL"),
    ("price_chart MA", "chart with a 200-day moving average", "the 200-day moving average has no values",
     "chart with a 20-day moving average"),
    ("candlestick", "candlestick of ZZZ", "1 candle(s)", "candlestick of AAPL"),
    ("candlestick MA", "candlestick chart with a 200-day moving average",
     "the 200-day moving average has no values", "candlestick chart with a 20-day moving average"),
    ("returns", "histogram of returns of ZZZ", "ZZZ: no daily returns to chart", "histogram of returns of AAPL"),
    ("volatility", "30-day rolling volatility of ZZZ", "ZZZ: the 30-day volatility has no values",
     "30-day rolling volatility of AAPL"),
    ("drawdown", "drawdown of ZZZ", "ZZZ: fewer than 2 prices for a drawdown", "drawdown of AAPL"),
    ("normalised", "compare ZZZ and AAPL", "the tickers share 1 date(s) with a price", "compare MSFT and AAPL"),
    ("correlation", "correlation of ZZZ and AAPL", "the correlation of ZZZ and AAPL has no value",
     "correlation of MSFT and AAPL"),
    ("resample", "resample AAPL and ZZZ to monthly since 2020-09", "ZZZ: no values after resampling",
     "resample AAPL and MSFT to monthly since 2020-09"),
    ("summary", "summary statistics of ZZZ", "ZZZ: 1 price(s): too few", "summary statistics of AAPL"),
    ("question return", "which of ZZZ and AAPL had the highest return?", "no value for ZZZ",
     "which of MSFT and AAPL had the highest return?"),
    ("question drawdown", "which of ZZZ and AAPL had the biggest drawdown?", "no value for ZZZ",
     "which of MSFT and AAPL had the biggest drawdown?"),
    ("question volatility", "which of ZZZ and AAPL had the highest volatility?", "no value for ZZZ",
     "which ticker had the highest volatility in 2020?"),
    ("question day", "what was the best day for ZZZ?", "no finite values", "what was the best day for AAPL?"),
]


@pytest.mark.parametrize(("kind", "bad", "words", "good"), BAD, ids=[b[0] for b in BAD])
def test_a_result_that_fails_its_own_checks_is_completed_with_problems(agent, kind, bad, words, good):
    file = _short_ohlc() if "200-day" in bad else _ohlc_long()
    result, outcome = _run(agent, bad, file)
    assert outcome == "completed with problems", (kind, result.text)
    assert "failed its own checks" in result.text and words in result.text, result.text
    errors = [e for e in result.events if isinstance(e, CodeError)]
    assert errors and "Self-check failed" in errors[-1].text  # readable in the code step's output
    assert "Traceback" not in result.text

    result, outcome = _run(agent, good, file)
    assert outcome == "completed", (kind, result.text)
    outputs = "".join(e.text for e in result.events if isinstance(e, CodeOutput))
    assert "Self-check passed." in outputs, outputs  # the check ran, in the code step's output


def test_a_failed_check_still_names_what_the_request_left_out(agent):
    result, outcome = _run(agent, "plot ZZZ as a pie chart", _ohlc_long())
    assert outcome == "completed with problems"
    assert "failed its own checks" in result.text
    assert "Left out (the local agent does not do it): a pie chart." in result.text
