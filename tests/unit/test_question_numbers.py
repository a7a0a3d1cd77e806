"""The answers' numbers against pandas, on daily, weekly, monthly, calendar-daily and
intraday data: each question type's generated code is run as it would be in the kernel
(plain Python in a folder holding the file) and its answer.csv compared with the same
computation written here with pandas, including the annualisation factor."""
from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest

from agent_core.files import AttachedFile
from agent_core.planner import Plan, plan_turn

FREQS = {
    # name: (pandas frequency, start, periods, expected periods per year)
    "trading-daily": ("B", "2007-01-01", 700, 252.0),
    "weekly": ("W-FRI", "2005-01-07", 300, 52.0),
    "monthly": ("MS", "2000-01-01", 132, 12.0),
    "calendar-daily": ("D", "2007-06-01", 700, 365.0),
    "intraday": ("h", "2008-01-01", 24 * 60, 24 * 365.0),
}


def _file(kind: str) -> tuple[AttachedFile, pd.DataFrame, float]:
    freq, start, n, ppy = FREQS[kind]
    idx = pd.date_range(start, periods=n, freq=freq)
    rng = np.random.default_rng(len(kind))
    prices = pd.DataFrame({t: (100 * np.exp(np.cumsum(rng.normal(0, 0.01 * (i + 1), n)))).round(4)
                           for i, t in enumerate(("AAPL", "MSFT", "GOOG"))}, index=idx)
    prices.index.name = "date"
    buf = io.StringIO()
    prices.reset_index().to_csv(buf, index=False)  # wide layout: one column per ticker
    return AttachedFile(name=f"{kind}.csv", media_type="text/csv", data=buf.getvalue().encode()), prices, ppy


def _run(plan: Plan, file: AttachedFile, folder, monkeypatch) -> pd.DataFrame:
    monkeypatch.chdir(folder)
    (folder / file.name).write_bytes(file.data)
    exec(compile(plan.code, "<recipe>", "exec"), {"__name__": "__recipe__"})  # noqa: S102 - the recipe's own code
    return pd.read_csv(folder / "answer.csv", index_col="ticker")


def _period(prices: pd.DataFrame) -> str:
    """A year (or month) the data covers fully enough to ask about."""
    mid = prices.index[len(prices) // 2]
    return f"{mid:%Y-%m}" if (prices.index[-1] - prices.index[0]).days < 400 else f"{mid:%Y}"


@pytest.mark.parametrize("kind", list(FREQS))
def test_volatility_annualised_with_the_datas_own_periods(kind, tmp_path, monkeypatch):
    file, prices, ppy = _file(kind)
    period = _period(prices)
    plan, state = plan_turn(f"which ticker had the highest volatility in {period}?", [file], None)
    assert isinstance(plan, Plan), plan
    assert f"periods_per_year = {ppy}" in plan.code
    got = _run(plan, file, tmp_path, monkeypatch)
    rets = prices.pct_change().loc[period]
    expected = rets.std() * math.sqrt(ppy) * 100
    assert np.allclose(got["annualised_volatility_pct"], expected[got.index], rtol=1e-4)
    assert expected.idxmax() == got["annualised_volatility_pct"].idxmax()


@pytest.mark.parametrize("kind", list(FREQS))
@pytest.mark.parametrize(("words", "extreme"), [("highest", "max"), ("lowest", "min")])
def test_total_return_and_price(kind, words, extreme, tmp_path, monkeypatch):
    file, prices, _ = _file(kind)
    period = _period(prices)
    plan, _ = plan_turn(f"which ticker had the {words} return in {period}?", [file], None)
    got = _run(plan, file, tmp_path, monkeypatch)
    p = prices.loc[period]
    expected = (p.iloc[-1] / p.iloc[0] - 1) * 100
    assert np.allclose(got["total_return_pct"], expected[got.index], rtol=1e-4)

    plan, _ = plan_turn(f"which ticker had the {words} price in {period}?", [file], None)
    got = _run(plan, file, tmp_path, monkeypatch)
    assert np.allclose(got[f"{words}_price"], getattr(p, extreme)()[got.index])


@pytest.mark.parametrize("kind", list(FREQS))
def test_drawdown_best_and_worst_period_and_value_on_a_date(kind, tmp_path, monkeypatch):
    file, prices, _ = _file(kind)
    plan, _ = plan_turn("what was the biggest drawdown?", [file], None)
    got = _run(plan, file, tmp_path, monkeypatch)
    expected = -((prices / prices.cummax() - 1).min() * 100)
    assert np.allclose(got["max_drawdown_pct"], expected[got.index], rtol=1e-4)

    rets = prices.pct_change().iloc[1:] * 100
    for words, pick in (("best", rets.stack().idxmax()), ("worst", rets.stack().idxmin())):
        plan, _ = plan_turn(f"what was the {words} day?", [file], None)
        got = _run(plan, file, tmp_path, monkeypatch)
        assert got.index[0] == pick[1]
        assert pd.Timestamp(got["date"].iloc[0]) == pick[0]
        assert math.isclose(got["return_pct"].iloc[0], rets.loc[pick[0], pick[1]], rel_tol=1e-6)

    when = prices.index[len(prices) // 3]
    plan, _ = plan_turn(f"what was the price on {when:%Y-%m-%d}?", [file], None)
    got = _run(plan, file, tmp_path, monkeypatch)
    assert np.allclose(got["price"], prices.loc[:when].iloc[-1][got.index])


def test_a_period_outside_the_data_fails_its_self_check(tmp_path, monkeypatch):
    file, prices, _ = _file("monthly")
    plan, _ = plan_turn("which ticker had the lowest price in 2005-13?", [file], None)
    # a month that does not exist is not a date: the request is then about the whole file
    got = _run(plan, file, tmp_path, monkeypatch)
    assert np.allclose(got["lowest_price"], prices.min()[got.index])
    plan, _ = plan_turn("what was the price on 1990-01-05?", [file], None)
    with pytest.raises(RuntimeError, match="Self-check failed"):
        _run(plan, file, tmp_path, monkeypatch)


@pytest.mark.parametrize("kind", list(FREQS))
def test_frequency_labels_windows_and_returns(kind):
    file, _, ppy = _file(kind)
    unit = {"trading-daily": "day", "calendar-daily": "day", "weekly": "week", "monthly": "month",
            "intraday": "bar"}[kind]
    plan, _ = plan_turn("chart with a 20-day moving average", [file], None)
    assert f"20-{unit} moving average" in plan.code and "Understood:" in plan.summary
    assert ("your data is" in plan.summary) == (unit not in ("day", "bar"))
    plan, _ = plan_turn("30-day rolling volatility", [file], None)
    assert f"periods_per_year = {ppy}" in plan.code and f"30-{unit} rolling volatility" in plan.title
    plan, _ = plan_turn("histogram of returns", [file], None)
    words = {"day": "daily", "week": "weekly", "month": "monthly", "bar": "per-bar"}[unit]
    assert f"Distribution of {words} returns" in plan.code


def test_candlesticks_with_moving_average_overlays(tmp_path, monkeypatch):
    idx = pd.bdate_range("2020-01-01", periods=400)
    rng = np.random.default_rng(5)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(idx))))
    frame = pd.DataFrame({"Date": idx, "Open": close * 0.995, "High": close * 1.01, "Low": close * 0.98,
                          "Close": close, "Volume": rng.integers(1000, 5000, len(idx))})
    file = AttachedFile(name="ohlc.csv", media_type="text/csv", data=frame.to_csv(index=False).encode())
    plan, state = plan_turn("candlestick chart with a 10-day and 50-day moving average", [file], None)
    assert isinstance(plan, Plan) and state.kind == "candlestick" and state.windows == (10, 50)
    assert "10-day and 50-day moving averages of the close" in plan.summary
    monkeypatch.chdir(tmp_path)
    (tmp_path / file.name).write_bytes(file.data)
    exec(compile(plan.code, "<recipe>", "exec"), {"__name__": "__recipe__"})  # noqa: S102
    got = pd.read_csv(tmp_path / "candlestick.csv", parse_dates=["date"]).set_index("date")
    for w in (10, 50):
        expected = frame.set_index("Date")["Close"].rolling(w).mean().loc[got.index]
        assert np.allclose(got[f"ma_{w}"], expected, rtol=1e-9)
    assert (tmp_path / "candlestick.png").stat().st_size > 10_000


def _exec(plan: Plan, file: AttachedFile, folder, monkeypatch, capsys) -> str:
    """Run the plan's code in ``folder``; what it printed."""
    monkeypatch.chdir(folder)
    (folder / file.name).write_bytes(file.data)
    capsys.readouterr()
    exec(compile(plan.code, "<recipe>", "exec"), {"__name__": "__recipe__"})  # noqa: S102
    return capsys.readouterr().out


def _with_gaps(kind: str) -> tuple[AttachedFile, pd.DataFrame]:
    """The file with MSFT missing its first tenth and a few rows in the middle: the numbers must
    use the dates both tickers have."""
    _, prices, _ = _file(kind)
    prices = prices.copy()
    n = len(prices)
    prices.iloc[: n // 10, prices.columns.get_loc("MSFT")] = np.nan
    prices.iloc[n // 2: n // 2 + 3, prices.columns.get_loc("MSFT")] = np.nan
    buf = io.StringIO()
    prices.reset_index().to_csv(buf, index=False)
    return AttachedFile(name=f"{kind}.csv", media_type="text/csv", data=buf.getvalue().encode()), prices


def _answered(text: str, file: AttachedFile, kind: str, folder, monkeypatch, capsys) -> str:
    """Plan ``text`` (a ``kind`` plan that writes answer.csv), run it; what it printed."""
    plan, state = plan_turn(text, [file], None)
    assert isinstance(plan, Plan) and state.kind == kind and "answer.csv" in plan.outputs
    return _exec(plan, file, folder, monkeypatch, capsys)


DATE_FORMATS = {"trading-daily": "%Y-%m-%d", "weekly": "%Y-%m-%d", "monthly": "%Y-%m",
                "calendar-daily": "%Y-%m-%d", "intraday": "%Y-%m-%d %H:%M"}
UNITS = {"trading-daily": "days", "weekly": "weeks", "monthly": "months", "calendar-daily": "days",
         "intraday": "bars"}


@pytest.mark.parametrize("kind", list(FREQS))
def test_compare_two_tickers_states_their_returns_over_the_common_dates(kind, tmp_path, monkeypatch, capsys):
    file, prices = _with_gaps(kind)
    out = _answered("compare AAPL and MSFT", file, "normalised", tmp_path, monkeypatch, capsys)
    both = prices[["AAPL", "MSFT"]].dropna()
    expected = (both.iloc[-1] / both.iloc[0] - 1) * 100
    got = pd.read_csv(tmp_path / "answer.csv", index_col="ticker")
    assert np.allclose(got["total_return_pct"], expected[got.index], rtol=1e-9)
    span = f"{both.index[0]:{DATE_FORMATS[kind]}}..{both.index[-1]:{DATE_FORMATS[kind]}}"
    line = (f"Answer: AAPL returned {expected['AAPL']:.1f}% vs MSFT {expected['MSFT']:.1f}% over {span} "
            f"(last price / first price - 1 over the {len(both)} dates both have a price).")
    assert line in out.splitlines(), out


@pytest.mark.parametrize("kind", list(FREQS))
def test_correlation_of_two_tickers_is_one_number(kind, tmp_path, monkeypatch, capsys):
    file, prices = _with_gaps(kind)
    out = _answered("what is the correlation between AAPL and MSFT?", file, "correlation", tmp_path, monkeypatch,
                    capsys)
    rets = prices[["AAPL", "MSFT"]].pct_change(fill_method=None)
    paired = rets.dropna()
    expected = paired["AAPL"].corr(paired["MSFT"])
    got = pd.read_csv(tmp_path / "answer.csv")
    assert len(got) == 1 and math.isclose(got["correlation"].iloc[0], expected, rel_tol=1e-9)
    assert got["n_returns"].iloc[0] == len(paired)
    words = {"trading-daily": "daily", "calendar-daily": "daily", "weekly": "weekly", "monthly": "monthly",
             "intraday": "per-bar"}[kind]
    fmt = DATE_FORMATS[kind]
    assert (f"Answer: correlation of {words} returns AAPL/MSFT: {expected:.2f} over {len(paired)} {UNITS[kind]} "
            f"({paired.index[0]:{fmt}}..{paired.index[-1]:{fmt}}, the {UNITS[kind]} both have a return") in out, out


def test_correlation_of_monthly_returns_on_daily_data_resamples_first(tmp_path, monkeypatch, capsys):
    file, prices = _with_gaps("trading-daily")
    plan, _ = plan_turn("correlation of monthly returns of AAPL and MSFT", [file], None)
    out = _exec(plan, file, tmp_path, monkeypatch, capsys)
    rets = prices[["AAPL", "MSFT"]].resample("ME").last().pct_change(fill_method=None).dropna()
    expected = rets["AAPL"].corr(rets["MSFT"])
    assert f"Answer: correlation of monthly returns AAPL/MSFT: {expected:.2f} over {len(rets)} months" in out
    assert "Correlation of monthly returns" in plan.code


def test_the_volatility_answer_charts_one_measure_labelled_with_the_frequency(tmp_path, monkeypatch, capsys):
    from components.charts import quick_chart

    file, prices, _ = _file("weekly")
    plan, _ = plan_turn("which ticker had the highest volatility in 2008?", [file], None)
    assert plan.outputs == ("answer.png", "answer.csv")
    _exec(plan, file, tmp_path, monkeypatch, capsys)
    got = pd.read_csv(tmp_path / "answer.csv")
    assert list(got.columns) == ["ticker", "n_returns", "annualised_volatility_pct"]  # a count, then the measure
    assert (got["n_returns"] == prices.pct_change().loc["2008"].count().values).all()
    fig = quick_chart(got, name="answer.csv")
    assert [trace.name for trace in fig.data] == ["annualised_volatility_pct"]  # not the count beside it
    assert "std of weekly returns x sqrt(52)" in plan.code and "Annualised volatility (%)" in plan.code
    assert (tmp_path / "answer.png").stat().st_size > 5_000
