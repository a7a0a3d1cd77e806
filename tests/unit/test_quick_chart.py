"""quick_chart picks a chart by the table's shape; tables are shaped like the CSVs the local
agent really returns for assets/sample_prices.csv (tickers SYNA/SYNB/SYNC)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from components.charts import quick_chart
from components.file_view import date_formats, to_long_prices, window_unit

TICKERS = ("SYNA", "SYNB", "SYNC")


def _long(value: str, n: int = 60, start: float = 100.0) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    dates = pd.date_range("2023-01-02", periods=n, freq="B").strftime("%Y-%m-%d")
    parts = [pd.DataFrame({"date": dates, "ticker": t,
                           value: start + rng.normal(0, 1, n).cumsum()}) for t in TICKERS]
    return pd.concat(parts, ignore_index=True)


def _read(df: pd.DataFrame):  # the returned file, read back by the one reader
    from agent_core.tables import read_table

    return read_table("returned.csv", df.to_csv(index=False).encode())


def _csv(df: pd.DataFrame) -> pd.DataFrame:  # every column, dates parsed by the reader
    return _read(df).raw


def _types(fig) -> list[str]:
    return [t.type for t in fig.data]


@pytest.mark.parametrize("value", ["drawdown_pct", "volatility_30", "normalised"])
def test_long_date_ticker_table_is_one_line_per_ticker(value):
    fig = quick_chart(_csv(_long(value)), name=f"{value}.csv")
    assert _types(fig) == ["scattergl"] * 3
    assert [t.name for t in fig.data] == list(TICKERS)
    # each line is one ticker's values only, in date order (not a zigzag across tickers)
    syna = _long(value).query("ticker == 'SYNA'")[value].to_numpy()
    assert np.allclose(fig.data[0].y, syna)


def test_price_table_prefers_close_over_other_columns():
    df = _long("close")
    df["volume"] = 1_000_000
    fig = quick_chart(_csv(df))
    assert [t.name for t in fig.data] == list(TICKERS)
    assert fig.layout.yaxis.title.text == "close"


def test_resampled_ohlcv_table_draws_prices_not_volume_on_their_axis():
    """'resample to monthly' returns date,open,high,low,close,volume: with volume (1e8) on the
    same axis the prices (190) were a flat line at zero."""
    df = pd.DataFrame({"date": ["2024-01-31", "2024-02-29", "2024-03-31"],
                       "open": [184.22, 186.19, 190.09], "high": [195.53, 194.59, 190.85],
                       "low": [182.86, 183.2, 188.95], "close": [187.53, 187.66, 189.71],
                       "volume": [114660829, 104539051, 10694096]})
    fig = quick_chart(_csv(df), name="prices_monthly.csv")
    assert [t.name for t in fig.data] == ["open", "high", "low", "close"]
    only_volume = quick_chart(_csv(df[["date", "volume"]]), name="volume.csv")
    assert [t.name for t in only_volume.data] == ["volume"]


def test_returns_histogram_is_a_histogram_per_ticker():
    df = _csv(_long("return", start=0.0))  # returns_histogram.csv: date, ticker, return
    fig = quick_chart(df, name="returns_histogram.csv")
    assert _types(fig) == ["histogram"] * 3 and [t.name for t in fig.data] == list(TICKERS)
    assert len(fig.data[1].x) == 60 and fig.layout.barmode == "overlay"
    # one set of bins for all tickers, so a wider spread does not get wider (taller) bars
    assert fig.data[0].xbins == fig.data[2].xbins and fig.data[0].xbins.size > 0
    # without a date axis a returns column is a histogram whatever the file is called
    fig2 = quick_chart(df.drop(columns=["date"]), name="data.csv")
    assert _types(fig2) == ["histogram"] * 3


def test_correlation_matrix_is_one_heatmap_from_minus_one_to_one():
    df = pd.DataFrame({"ticker": list(TICKERS), "SYNA": [1.0, 0.0474, -0.0157],
                       "SYNB": [0.0474, 1.0, 0.0241], "SYNC": [-0.0157, 0.0241, 1.0]})
    fig = quick_chart(_csv(df), name="correlation.csv")
    assert _types(fig) == ["heatmap"]
    hm = fig.data[0]
    assert (hm.zmin, hm.zmax) == (-1, 1) and list(hm.x) == list(TICKERS)
    assert list(hm.y) == list(TICKERS) and hm.z[0][2] == pytest.approx(-0.0157)
    # a covariance matrix (values beyond 1) keeps a symmetric diverging scale around 0
    cov = df.assign(SYNA=[4.0, 0.5, -0.2])
    assert quick_chart(cov).data[0].zmax == 4.0 and quick_chart(cov).data[0].zmin == -4.0


def test_summary_tables_are_grouped_bars():
    returns_summary = pd.DataFrame({
        "ticker": list(TICKERS), "observations": [782] * 3, "mean_pct": [0.0394, 0.0351, 0.0261],
        "std_pct": [1.43, 2.29, 1.16], "min_pct": [-3.9, -6.4, -3.6], "max_pct": [4.1, 8.5, 4.2],
        "skew": [0.02, 0.15, 0.07], "positive_share_pct": [50.9, 49.2, 49.4]})
    fig = quick_chart(_csv(returns_summary), name="returns_summary.csv")
    assert set(_types(fig)) == {"bar"} and fig.layout.barmode == "group"
    assert "observations" not in [t.name for t in fig.data]  # counts are not drawn
    assert list(fig.data[0].x) == list(TICKERS)
    summary_statistics = pd.DataFrame({
        "ticker": list(TICKERS), "first_date": ["2023-01-02"] * 3, "last_date": ["2025-12-31"] * 3,
        "observations": [783] * 3, "first_price": [100.68, 43.24, 250.78],
        "mean_price": [128.3, 38.7, 234.0], "total_return_pct": [25.7, 7.3, 16.3],
        "annualised_volatility_pct": [22.7, 36.3, 18.5], "max_drawdown_pct": [-27.8, -39.2, -29.4]})
    fig = quick_chart(_csv(summary_statistics), name="summary_statistics.csv")
    assert _types(fig) == ["bar"] * 3
    assert [t.name for t in fig.data] == ["total_return_pct", "annualised_volatility_pct",
                                          "max_drawdown_pct"]


def test_one_ticker_summary_is_bars_not_an_empty_line_chart():
    # the Summary preset on a one-instrument file (an investing.com index): one row, so its
    # single first_date is a stamp, not an axis; it drew an empty line chart of every column
    one = pd.DataFrame({
        "ticker": ["Dow Jones Industrial Average"], "first_date": ["2023-01-02"],
        "last_date": ["2023-12-29"], "observations": [260], "first_price": [24953.67],
        "last_price": [20871.75], "mean_price": [24180.61], "total_return_pct": [-16.358],
        "annualised_volatility_pct": [17.19], "max_drawdown_pct": [-29.29]})
    fig = quick_chart(_csv(one), name="summary_statistics.csv")
    assert _types(fig) == ["bar"] * 3
    assert [t.name for t in fig.data] == ["total_return_pct", "annualised_volatility_pct",
                                          "max_drawdown_pct"]


def test_bars_of_wildly_different_scales_are_not_drawn():
    df = pd.DataFrame({"name": ["a", "b"], "revenue": [1e9, 2e9], "margin": [0.1, 0.2]})
    assert quick_chart(df) is None


def test_sales_by_region_is_a_box_per_region():
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"COMPANY_ID": [f"C{i:05d}" for i in range(1, 21)],
                       "REGION": ["east", "west", "south", "north"] * 5,
                       "SALES_2024": rng.integers(100_000, 2_000_000, 20)})
    fig = quick_chart(_csv(df), name="sales_by_region.csv")
    assert _types(fig) == ["box"] * 4
    assert sorted(t.name for t in fig.data) == ["east", "north", "south", "west"]
    east = df.loc[df["REGION"] == "east", "SALES_2024"].sort_values().tolist()
    assert sorted(next(t for t in fig.data if t.name == "east").y) == east


def test_wide_monthly_prices_keep_the_line_chart():
    df = pd.DataFrame({"date": pd.date_range("2023-01-31", periods=6, freq="ME").strftime("%Y-%m-%d"),
                       "SYNA": range(6), "SYNB": range(6, 12), "SYNC": range(12, 18)})
    fig = quick_chart(_csv(df), name="prices_monthly.csv")
    assert _types(fig) == ["scattergl"] * 3 and [t.name for t in fig.data] == list(TICKERS)


def test_unsure_tables_get_no_chart():
    text = pd.DataFrame({"COMPANY_ID": ["C1", "C2", "C3"], "COMPANY_STATE_CODE": ["DE", "OR", "WA"]})
    assert quick_chart(text) is None
    # a numeric x that jumps back and forth is not a line
    assert quick_chart(pd.DataFrame({"id": [3, 1, 2, 5, 4], "v": [1.0, 2, 3, 4, 5]})) is None
    # dates that repeat with no category to split them by would zigzag
    zig = _long("drawdown_pct").drop(columns=["ticker"])
    assert quick_chart(_csv(zig)) is None
    assert quick_chart(pd.DataFrame()) is None
    # many labelled rows: a text label per row, too many for bars
    many = pd.DataFrame({"name": [f"n{i}" for i in range(50)], "v": range(50)})
    assert quick_chart(many) is None


def test_to_long_prices_takes_a_normalised_column_but_not_returns():
    norm = to_long_prices(_read(_long("normalised")))
    assert list(norm.columns) == ["date", "ticker", "price"] and norm["ticker"].nunique() == 3
    assert to_long_prices(_read(_long("return", start=0.0))) is None
    assert to_long_prices(_read(_long("drawdown_pct"))) is None
    # the moving_average.csv twin: price column kept, the ma_20 column dropped
    ma = _long("price")
    ma["ma_20"] = ma.groupby("ticker")["price"].transform(lambda s: s.rolling(20).mean())
    long = to_long_prices(_read(ma))
    assert list(long.columns) == ["date", "ticker", "price"] and len(long) == len(ma)


@pytest.mark.parametrize("freq, unit", [("B", "days"), ("W-FRI", "weeks"), ("ME", "months"),
                                        ("h", "1h bars")])
def test_moving_average_window_is_counted_in_the_tables_own_periods(freq, unit):
    # the seed chart's returned CSV for a monthly file: its window control said "(days)"
    dates = pd.date_range("2000-01-03", periods=60, freq=freq)
    df = pd.DataFrame({"date": dates.strftime("%Y-%m-%d %H:%M:%S"), "price": np.arange(60) + 100.0})
    df["ma_20"] = df["price"].rolling(20).mean()
    assert window_unit(_read(df).profile) == unit


def test_parsed_dates_without_a_time_are_shown_as_dates():
    summary = pd.DataFrame({"ticker": ["SPY"], "first_date": ["2023-01-02"], "last_date": ["2023-12-29"],
                            "total_return_pct": [12.5]})
    config = date_formats(_csv(summary))
    assert list(config) == ["first_date"]  # the one column the reader parsed
    assert config["first_date"]["type_config"]["format"] == "YYYY-MM-DD"
    hourly = pd.DataFrame({"date": pd.date_range("2024-03-01 16:00", periods=30, freq="h")
                           .strftime("%Y-%m-%d %H:%M:%S"), "price": np.arange(30.0)})
    assert date_formats(_csv(hourly)) == {}  # times of day stay visible


def test_returns_histogram_is_in_percent_like_the_png_and_its_legend_is_below_the_toolbar():
    """Issue 13: the static chart shows returns in %; the twin showed fractions and its
    legend sat over the toolbar."""
    import numpy as np
    import pandas as pd

    from components.charts import histogram_chart

    rng = np.random.default_rng(3)
    df = pd.DataFrame({"ticker": ["A"] * 200 + ["B"] * 200,
                       "return": np.concatenate([rng.normal(0, 0.01, 200), rng.normal(0, 0.02, 200)])})
    fig = histogram_chart(df, "return", "ticker")
    shown = np.concatenate([np.asarray(t.x) for t in fig.data])
    assert np.allclose(np.sort(shown), np.sort(df["return"].to_numpy() * 100))
    assert fig.layout.xaxis.title.text == "return (%)"
    assert fig.layout.legend.y < 0 and fig.layout.legend.yanchor == "top"
    already = histogram_chart(pd.DataFrame({"return_pct": [1.5, -2.0, 0.3]}), "return_pct")
    assert list(already.data[0].x) == [1.5, -2.0, 0.3]  # already in percent: left alone


@pytest.mark.parametrize("panels", [1, 2, 3])
def test_panel_chart_legend_sits_below_the_date_labels_not_over_them(panels):
    """The interactive twin of a one-ticker moving-average chart (the Nasdaq AAPL file) had its
    legend 16 px under the plot, over the two-line date labels ("Jan 14 / 2024" were hidden)."""
    from components.charts import panel_price_chart

    fig = panel_price_chart(_long("price"), TICKERS[:panels], window=20)
    margin = fig.layout.margin
    plot_height = fig.layout.height - margin.t - margin.b
    gap = -fig.layout.legend.y * plot_height
    assert fig.layout.legend.yanchor == "top"
    assert gap >= 40, f"legend top only {gap:.0f} px below the plot: it covers the date labels"


def test_drawdown_answer_is_not_drawn_as_one_point_price_series():
    """The answer.csv of "what was the maximum drawdown?" (ticker, n_prices, max_drawdown_pct,
    trough_date) was read as prices: four empty "AAPL: price and 20-row average" panels of
    one point each (the count 313 as the price). It is a summary; its chart is the bars."""
    answer = pd.DataFrame({"ticker": ["AAPL", "MSFT", "GOOG", "IBM"], "n_prices": [313] * 4,
                           "max_drawdown_pct": [76.711, 52.4819, 71.3308, 50.1004],
                           "trough_date": ["2010-11-19", "2010-04-16", "2009-10-23", "2010-11-12"]})
    assert to_long_prices(_read(answer)) is None
    fig = quick_chart(_csv(answer), name="answer.csv")
    assert fig is None or "max_drawdown_pct" in [t.name for t in fig.data] or all(
        t.type == "bar" for t in fig.data)


def test_one_line_against_dates_is_titled_by_its_column_and_several_are_not():
    dates = pd.date_range("2024-01-01", periods=30, freq="D").strftime("%Y-%m-%d")
    one = quick_chart(_csv(pd.DataFrame({"date": dates, "volatility_30": np.linspace(0.1, 0.3, 30)})))
    assert one.layout.yaxis.title.text == "volatility_30"
    two = quick_chart(_csv(pd.DataFrame({"date": dates, "AAPL": np.arange(30.0), "MSFT": np.arange(30.0)})))
    assert two.layout.yaxis.title.text is None  # the legend names the lines
