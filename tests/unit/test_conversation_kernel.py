"""The issue's "done when" conversation, on a REAL kernel through the local agent with the
session kept in the run store (as the CLI's ``--session`` does), on monthly, weekly and daily
price files (tests/data/conversation): seed chart -> "now only AAPL and MSFT, 50-day average"
-> "add a 200-day moving average too" -> "which ticker had the highest volatility in 2008?"
-> "export the result as CSV". Every number is checked against pandas, every label against
the data's frequency, and a result that fails its own checks is never "completed"."""
from __future__ import annotations

import io
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agent_core.backends.base import AgentRequest
from agent_core.backends.local import LocalAgent
from agent_core.config import load_settings
from agent_core.files import AttachedFile
from agent_core.run import start
from agent_core.store import RunStore

pytestmark = pytest.mark.timeout(600)

DATA = Path(__file__).parent.parent / "data" / "conversation"
SEED = ("Given the attached price data file, please make me a chart with moving average in red and actual "
        "data in blue")
# file: (how to read it as one column per ticker, the window unit, periods a year)
FILES = {
    "stocks_monthly.csv": ("month", 12),
    "stocks_weekly_wide.csv": ("week", 52),
    "stocks_daily_long.csv": ("day", 252),
}


def _prices(name: str) -> pd.DataFrame:
    df = pd.read_csv(DATA / name)
    if name == "stocks_monthly.csv":
        df["date"] = pd.to_datetime(df["date"], format="%b %d %Y")
        return df.pivot(index="date", columns="symbol", values="price")
    if name == "stocks_daily_long.csv":
        df["Date"] = pd.to_datetime(df["Date"])
        return df.pivot(index="Date", columns="Ticker", values="Close")
    return df.assign(Date=pd.to_datetime(df["Date"])).set_index("Date")


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    """The local agent and the run store it keeps conversations in (the same home)."""
    home = tmp_path_factory.mktemp("conversation-home")
    a = LocalAgent(load_settings(env={"AGENT_DESK_HOME": str(home)}, secrets={}, max_kernels=2))
    yield a, RunStore(home)
    a.close()


def _turn(agent, session: str, text: str, files=()):
    """One turn through the one run path, recorded in the store (the CLI's way)."""
    backend, store = agent
    run = start(AgentRequest(text=text, session_id=session, files=tuple(files)), backend, store=store)
    for _ in run:
        pass
    result = run.result()
    return result, run.outcome, {f.name: f.data for f in result.files}


def _ma_matches(data: bytes, prices: pd.DataFrame, tickers, windows) -> None:
    table = pd.read_csv(io.BytesIO(data), parse_dates=["date"])
    assert list(dict.fromkeys(table["ticker"])) == sorted(tickers) or set(table["ticker"]) == set(tickers)
    for ticker in tickers:
        own = table[table["ticker"] == ticker].set_index("date")
        assert np.allclose(own["price"], prices[ticker].loc[own.index])
        for w in windows:
            expected = prices[ticker].dropna().rolling(w).mean().loc[own.index]
            assert np.allclose(own[f"ma_{w}"], expected, equal_nan=True, rtol=1e-9), (ticker, w)


@pytest.mark.parametrize("name", list(FILES))
def test_the_done_when_conversation(agent, name):
    unit, ppy = FILES[name]
    prices = _prices(name)
    session = "conv-" + re.sub(r"\W", "-", name)
    file = AttachedFile.from_bytes(name, (DATA / name).read_bytes())
    coarse = unit != "day"

    # 1. the seed chart: every ticker, a 20-period average labelled in the data's own periods
    result, outcome, files = _turn(agent, session, SEED, [file])
    assert outcome == "completed", result.text
    assert result.text.startswith(f"Understood: {name}, all tickers: ")
    assert f"20-{unit} average" in result.text
    assert (f"20-{unit} average: your data is" in result.text) == coarse
    _ma_matches(files["moving_average.csv"], prices, list(prices.columns), (20,))

    # 2. a follow-up without the file: the store keeps it and the conversation
    result, outcome, files = _turn(agent, session, "now only AAPL and MSFT, 50-day average")
    assert outcome == "completed", result.text
    assert result.text.startswith(f"Understood: {name}, AAPL and MSFT, 50-{unit} average")
    _ma_matches(files["moving_average.csv"], prices, ["AAPL", "MSFT"], (50,))

    # 3. a 200-period average: on 123 months it has no values, and the run says so
    result, outcome, files = _turn(agent, session, "add a 200-day moving average too")
    assert f"AAPL and MSFT, 50- and 200-{unit} averages" in result.text
    if len(prices) < 200:
        assert outcome == "completed with problems", result.text
        assert f"the 200-{unit} moving average has no values ({len(prices)} {unit} rows" in result.text
    else:
        assert outcome == "completed", result.text
        _ma_matches(files["moving_average.csv"], prices, ["AAPL", "MSFT"], (50, 200))

    # 4. the question: annualised with the data's own periods a year, AAPL and MSFT only
    result, outcome, files = _turn(agent, session, "which ticker had the highest volatility in 2008?")
    assert outcome == "completed", result.text
    rets = prices[["AAPL", "MSFT"]].pct_change(fill_method=None).loc["2008"]
    expected = rets.std() * math.sqrt(ppy) * 100
    answer = pd.read_csv(io.BytesIO(files["answer.csv"]), index_col="ticker")
    assert list(answer.columns) == ["n_returns", "annualised_volatility_pct"]
    assert np.allclose(answer["annualised_volatility_pct"], expected[answer.index], rtol=1e-9)
    assert (answer["n_returns"] == rets.count()[answer.index]).all()
    top = expected.idxmax()
    words = {"month": "monthly", "week": "weekly", "day": "daily"}[unit]
    assert (f"Answer: {top} had the highest annualised volatility: {expected[top]:,.2f}% (standard deviation "
            f"of {words} returns times sqrt({ppy}); ") in result.text
    assert f"annualised with {ppy} periods a year" in result.text
    assert files["answer.png"].startswith(b"\x89PNG")

    # 5. the export: the question's table as result.csv
    result, outcome, files = _turn(agent, session, "export the result as CSV")
    assert outcome == "completed", result.text
    assert "exported as CSV" in result.text.splitlines()[0]
    exported = pd.read_csv(io.BytesIO(files["result.csv"]), index_col="ticker")
    pd.testing.assert_frame_equal(exported, answer)


@pytest.mark.parametrize("name", list(FILES))
def test_what_was_the_annualised_volatility_is_the_periods_number_per_ticker(agent, name):
    """Asked as a question without "highest", the volatility is one number per ticker over the
    whole file, annualised with the data's own periods a year; it was a 20-period rolling chart
    whose last value (38.26% for weekly AAPL, not the period's 39.24%) read as the answer."""
    unit, ppy = FILES[name]
    prices = _prices(name)
    file = AttachedFile.from_bytes(name, (DATA / name).read_bytes())
    session = "vol-" + re.sub(r"\W", "-", name)
    result, outcome, files = _turn(agent, session, "what was the annualised volatility?", [file])
    assert outcome == "completed", result.text
    assert "the annualised volatility of each ticker" in result.text.splitlines()[0]
    expected = prices.pct_change(fill_method=None).std() * math.sqrt(ppy) * 100
    answer = pd.read_csv(io.BytesIO(files["answer.csv"]), index_col="ticker")
    assert np.allclose(answer["annualised_volatility_pct"], expected[answer.index], rtol=1e-9)
    listed = ", ".join(f"{t} {expected[t]:,.2f}%" for t in answer.index)
    assert f"Answer: the annualised volatility was {listed} (" in result.text
    assert "highest" not in result.text
    assert f"annualised with {ppy} periods a year" in result.text


def test_a_month_without_a_year_is_the_files_latest_such_month(agent):
    """"How volatile was it in February?" on 2007-2009 daily prices: February 2009, the latest
    February of the file, named in the "Understood" line; the month was dropped silently and
    the whole file's volatility answered."""
    name = "stocks_daily_long.csv"
    prices = _prices(name)
    file = AttachedFile.from_bytes(name, (DATA / name).read_bytes())
    result, outcome, files = _turn(agent, "feb-month", "how volatile was it in February?", [file])
    assert outcome == "completed", result.text
    assert "2009-02, the annualised volatility of each ticker" in result.text.splitlines()[0]
    rets = prices.pct_change(fill_method=None).loc["2009-02"]
    expected = rets.std() * math.sqrt(252) * 100
    answer = pd.read_csv(io.BytesIO(files["answer.csv"]), index_col="ticker")
    assert np.allclose(answer["annualised_volatility_pct"], expected[answer.index], rtol=1e-9)
    assert (answer["n_returns"] == rets.count()[answer.index]).all()


@pytest.mark.parametrize("name", list(FILES))
def test_annualised_return_uses_the_datas_periods_a_year(agent, name):
    """"Annualised return?" drew a histogram of returns; it is (last / first) ^ (periods a year
    / periods between them) - 1, with the data's own periods a year."""
    unit, ppy = FILES[name]
    prices = _prices(name)
    file = AttachedFile.from_bytes(name, (DATA / name).read_bytes())
    result, outcome, files = _turn(agent, "ann-" + re.sub(r"\W", "-", name), "annualised return?", [file])
    assert outcome == "completed", result.text
    answer = pd.read_csv(io.BytesIO(files["answer.csv"]), index_col="ticker")
    for ticker in answer.index:
        s = prices[ticker]
        first, last = s.first_valid_index(), s.last_valid_index()
        periods = s.index.get_loc(last) - s.index.get_loc(first)
        expected = ((s[last] / s[first]) ** (ppy / periods) - 1) * 100
        assert math.isclose(answer.loc[ticker, "annualised_return_pct"], expected, rel_tol=1e-9), ticker
    assert f"annualised with {ppy} periods a year" in result.text
