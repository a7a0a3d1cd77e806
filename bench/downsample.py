"""Benchmark: reading big price files and drawing big series.

Prints, each against a baseline measured in the same run:
1. a 1M-row OHLCV CSV read with pandas' pyarrow engine vs its C engine (and through
   agent_core.prices.read_price_file, which adds detection and checks);
2. downsampling 1M and 5M points to 2,000 with tsdownsample's MinMaxLTTB (plus building
   that figure's JSON) vs building the JSON of a figure with every point (what the
   browser would otherwise receive).

Run: .venv/bin/python bench/downsample.py
"""
from __future__ import annotations

import io
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def ohlcv_csv(n: int) -> bytes:
    rng = np.random.default_rng(1)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    df = pd.DataFrame({
        "Date": pd.date_range("2000-01-01", periods=n, freq="min").strftime("%Y-%m-%d %H:%M:%S"),
        "Open": close * (1 + rng.normal(0, 0.0005, n)), "High": close * 1.001,
        "Low": close * 0.999, "Close": close, "Adj Close": close,
        "Volume": rng.integers(1_000, 1_000_000, n)})
    return df.to_csv(index=False, float_format="%.4f").encode()


def bench_read() -> None:
    from agent_core.prices import read_price_file

    data = ohlcv_csv(1_000_000)
    mb = len(data) / 1e6
    c = best_of(lambda: pd.read_csv(io.BytesIO(data), engine="c", parse_dates=["Date"]))
    pa = best_of(lambda: pd.read_csv(io.BytesIO(data), engine="pyarrow", parse_dates=["Date"]))
    c_raw = best_of(lambda: pd.read_csv(io.BytesIO(data), engine="c"))
    pa_raw = best_of(lambda: pd.read_csv(io.BytesIO(data), engine="pyarrow"))
    full = best_of(lambda: read_price_file("big.csv", data), repeat=2)
    report = read_price_file("big.csv", data)
    assert report.ok and report.rows == 1_000_000, report.error
    print(f"read 1M-row OHLCV CSV ({mb:.0f} MB):")
    print(f"  pandas C engine        {c:6.3f} s   (baseline; parse_dates)")
    print(f"  pandas pyarrow engine  {pa:6.3f} s   ratio C/pyarrow = {c / pa:.1f}x")
    print(f"  without parse_dates:   C {c_raw:6.3f} s, pyarrow {pa_raw:6.3f} s, "
          f"ratio = {c_raw / pa_raw:.1f}x")
    print(f"  read_price_file        {full:6.3f} s   (pyarrow + detection + checks; "
          f"{full / c:.2f}x the C engine alone)")


def bench_downsample() -> None:
    import plotly.graph_objects as go

    from components.charts import downsample_indices

    rng = np.random.default_rng(2)
    for n in (1_000_000, 5_000_000):
        x = np.arange(n, dtype=np.int64) * 60_000_000_000 + np.datetime64(
            "2000-01-01", "ns").astype(np.int64)
        y = 100 + np.cumsum(rng.normal(0, 0.05, n))
        ds = best_of(lambda: downsample_indices(x, y, 2000))

        def small_fig():
            idx = downsample_indices(x, y, 2000)
            return go.Figure(go.Scattergl(x=x[idx].astype("datetime64[ns]"), y=y[idx])).to_json()

        small = best_of(small_fig)
        t0 = time.perf_counter()
        full_json = go.Figure(go.Scattergl(x=x.astype("datetime64[ns]"), y=y)).to_json()
        full = time.perf_counter() - t0
        print(f"{n / 1e6:.0f}M points -> 2,000:")
        print(f"  all points, figure JSON     {full:7.3f} s  {len(full_json) / 1e6:6.1f} MB "
              "(baseline)")
        print(f"  MinMaxLTTB downsample       {ds * 1000:7.1f} ms  ratio = {full / ds:,.0f}x")
        print(f"  downsample + figure JSON    {small * 1000:7.1f} ms  ratio = {full / small:,.0f}x")
        del full_json


if __name__ == "__main__":
    bench_read()
    bench_downsample()
