"""Writes the three price files of the issue-12 conversation (run once; the files are committed):
``python tests/data/conversation/make_files.py``.

Made-up numbers in the shapes analysts bring: monthly long format as in the vega-datasets
``stocks.csv`` (``symbol,date,price``, dates like ``Jan 1 2000``, 2000-01..2010-03, GOOG from
2004-08), weekly wide format (one column per ticker, Friday closes) and daily long OHLCV
(business days, 2007..2009)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
TICKERS = {"AAPL": 0.11, "MSFT": 0.07, "GOOG": 0.09, "IBM": 0.06}  # monthly volatility of each


def walk(rng: np.random.Generator, n: int, sigma: float, start: float, drift: float) -> np.ndarray:
    return np.round(start * np.exp(np.cumsum(rng.normal(drift, sigma, n))), 2)


def monthly() -> None:
    rng = np.random.default_rng(2000)
    dates = pd.date_range("2000-01-01", "2010-03-01", freq="MS")
    rows = []
    for ticker, sigma in TICKERS.items():
        own = dates[dates >= "2004-08-01"] if ticker == "GOOG" else dates
        prices = walk(rng, len(own), sigma, 100.0, 0.004)
        rows.append(pd.DataFrame({"symbol": ticker, "date": [f"{d:%b} 1 {d:%Y}" for d in own], "price": prices}))
    pd.concat(rows).to_csv(HERE / "stocks_monthly.csv", index=False)


def weekly() -> None:
    rng = np.random.default_rng(2001)
    dates = pd.date_range("2005-01-07", "2010-12-31", freq="W-FRI")
    frame = pd.DataFrame({"Date": dates.strftime("%Y-%m-%d")})
    for ticker, sigma in TICKERS.items():
        frame[ticker] = walk(rng, len(dates), sigma / np.sqrt(52 / 12), 50.0, 0.001)
    frame.to_csv(HERE / "stocks_weekly_wide.csv", index=False)


def daily() -> None:
    rng = np.random.default_rng(2002)
    dates = pd.bdate_range("2007-01-01", "2009-12-31")
    rows = []
    for ticker, sigma in list(TICKERS.items())[:3]:
        close = walk(rng, len(dates), sigma / np.sqrt(21), 80.0, 0.0002)
        open_ = np.round(close * (1 + rng.normal(0, 0.004, len(dates))), 2)
        rows.append(pd.DataFrame({
            "Date": dates.strftime("%Y-%m-%d"), "Ticker": ticker, "Open": open_,
            "High": np.round(np.maximum(open_, close) * 1.005, 2), "Low": np.round(np.minimum(open_, close) * 0.995, 2),
            "Close": close, "Volume": rng.integers(1_000_000, 9_000_000, len(dates))}))
    pd.concat(rows).to_csv(HERE / "stocks_daily_long.csv", index=False)


if __name__ == "__main__":
    monthly()
    weekly()
    daily()
