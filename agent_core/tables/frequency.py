"""How often the rows come, and how many periods make a year (for annualising).

Decided on the dates of one instrument (the one with the most rows), vectorised:
the most common gap between consecutive dates, and how many dates a week holds
(7 for markets that trade every day, such as crypto; 5 for exchanges).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from agent_core.tables.profile import Frequency

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

TRADING_DAYS = 252
CALENDAR_DAYS = 365


def _bar_words(seconds: float) -> str:
    if seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds % 60 == 0:
        return f"{int(seconds // 60)}min"
    return f"{seconds:g}s"


def detect_frequency(dates: pd.Series, always_open: bool = False) -> Frequency:
    """``dates``: datetime64 values of one instrument (any order, may repeat); ``always_open``:
    the instrument trades every day (a crypto pair), whatever the dates show."""
    import numpy as np

    values = np.unique(dates.dropna().to_numpy(dtype="datetime64[ns]"))
    if len(values) < 3:
        return Frequency("unknown", None)
    ns = np.diff(values).astype("int64")
    gaps, counts = np.unique(ns, return_counts=True)
    modal = float(gaps[np.argmax(counts)]) / 1e9  # seconds
    day = 86400.0
    days = values.astype("datetime64[D]")
    unique_days = np.unique(days)
    weeks = (unique_days.astype("int64") + 3) // 7  # week number (Monday start)
    per_week = float(np.percentile(np.unique(weeks, return_counts=True)[1], 90))
    weekend = bool((((unique_days.astype("int64") + 3) % 7) >= 5).mean() > 0.2)  # Sat/Sun
    year_days = (CALENDAR_DAYS if always_open or per_week >= 6.5 or (len(unique_days) >= 7 and weekend)
                 else TRADING_DAYS)
    if modal < day:
        per_day = float(np.median(np.unique(days, return_counts=True)[1]))
        if always_open or per_day * modal >= 20 * 3600:  # around the clock, every day (crypto)
            year_days, per_day = CALENDAR_DAYS, day / modal
        return Frequency("intraday", round(per_day * year_days, 1), _bar_words(modal))
    d = modal / day
    if d <= 1.5:
        return Frequency("calendar-daily" if year_days == CALENDAR_DAYS else "trading-daily",
                         float(year_days))
    share = counts.max() / counts.sum()
    if 6 <= d <= 8:
        return Frequency("weekly", 52.0)
    if 27 <= d <= 32:
        return Frequency("monthly", 12.0)
    if 88 <= d <= 93:
        return Frequency("quarterly", 4.0)
    if 360 <= d <= 367:
        return Frequency("yearly", 1.0)
    if d <= 4 and share > 0.3:  # a daily series with many gaps (holidays of several exchanges)
        return Frequency("trading-daily", float(TRADING_DAYS))
    span_years = (values[-1] - values[0]).astype("int64") / 1e9 / (365.25 * day)
    return Frequency("irregular", round(len(values) / span_years, 1) if span_years > 0 else None)


CRYPTO = ("USDT", "USDC", "BUSD", "BTC", "ETH", "-USD", "PERP")


def looks_crypto(ticker: str) -> bool:
    """A crypto pair (``BTCUSDT``, ``ETH-USD``, ``BTC-PERP``): markets open every day."""
    t = ticker.upper()
    return t.endswith(CRYPTO) or t.startswith(("BTC", "ETH", "SOL", "XRP", "DOGE"))
