"""Reading a big uploaded price file, and drawing big series.

TARGETS:
1. the upload reader (``agent_core.tables.read_table``: the whole profile and tidy frame)
   on a long file with a ticker column (200,000 rows: 20 tickers x 10,000
   days, OHLCV, 11 MB) <= 3x pyarrow's plain read of the same bytes
   (``pd.read_csv(..., engine="pyarrow")``, no options);
2. a 1M-point series downsampled to 2,000 points (tsdownsample MinMaxLTTB) and its figure's
   JSON built <= 0.05x building the JSON of the figure with every point (what the browser
   would otherwise receive).

Medians of the same number of repeats, product and baseline taking turns, same run.

    .venv/bin/python bench/downsample.py        (BENCH_REPEAT=N to change the repeats)
"""
from __future__ import annotations

import io
import sys

import numpy as np
import pandas as pd
from _harness import Result, interleaved_medians, repeats, report

READER_TARGET = 3.0
DOWNSAMPLE_TARGET = 0.05


def long_prices_csv(days: int = 10_000, tickers: int = 20) -> bytes:
    """A long-layout OHLCV file: date, ticker, open, high, low, close, volume; by date."""
    rng = np.random.default_rng(1)
    dates = pd.bdate_range("1990-01-01", periods=days).strftime("%Y-%m-%d")
    frames = []
    for t in range(tickers):
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, days)))
        frames.append(pd.DataFrame({"date": dates, "ticker": f"T{t:02d}", "open": close * 0.998,
                                    "high": close * 1.01, "low": close * 0.99, "close": close,
                                    "volume": rng.integers(1_000, 1_000_000, days)}))
    return (pd.concat(frames).sort_values(["date", "ticker"], kind="stable")
            .to_csv(index=False, float_format="%.4f").encode())


def bench_reader(n: int) -> tuple[Result, str]:
    from agent_core.tables import read_table

    data = long_prices_csv()
    result = read_table("long.csv", data)
    assert result.ok and result.profile.rows == 200_000, result.profile.error
    reader, plain = interleaved_medians(n, lambda: read_table("long.csv", data),
                                        lambda: pd.read_csv(io.BytesIO(data), engine="pyarrow"))
    note = (f"reader on a {len(data) / 1e6:.0f} MB long file with a ticker column: {reader * 1000:.0f} ms; "
            f"pyarrow plain read: {plain * 1000:.0f} ms")
    return Result("upload reader / pyarrow plain read", reader / plain, READER_TARGET), note


def bench_downsample(n: int) -> tuple[Result, str]:
    import plotly.graph_objects as go

    from components.charts import downsample_indices

    rng = np.random.default_rng(2)
    points = 1_000_000
    x = (np.arange(points, dtype=np.int64) * 60_000_000_000
         + np.datetime64("2000-01-01", "ns").astype(np.int64))
    y = 100 + np.cumsum(rng.normal(0, 0.05, points))

    def small() -> str:
        idx = downsample_indices(x, y, 2000)
        return go.Figure(go.Scattergl(x=x[idx].astype("datetime64[ns]"), y=y[idx])).to_json()

    def full() -> str:
        return go.Figure(go.Scattergl(x=x.astype("datetime64[ns]"), y=y)).to_json()

    small_s, full_s = interleaved_medians(n, small, full)
    note = (f"1M points -> 2,000 + figure JSON: {small_s * 1000:.0f} ms; "
            f"every point's figure JSON: {full_s * 1000:.0f} ms")
    return Result("downsampled figure / full figure", small_s / full_s, DOWNSAMPLE_TARGET), note


def main() -> int:
    n = repeats(3)
    results, notes = [], []
    for bench in (bench_reader, bench_downsample):
        result, note = bench(n)
        results.append(result)
        notes.append(note)
    return report("big files: upload reader and downsampled charts", results, notes)


if __name__ == "__main__":
    sys.exit(main())
