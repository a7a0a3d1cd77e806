"""Code every new kernel runs once before it is used.

It pre-imports pandas, numpy and matplotlib (so the first chart is fast), turns on the
inline backend (figures left open at the end of a cell come back as PNG images), and
closes figures the cell already saved with ``savefig`` so the same chart does not come
back twice (once as the saved file, once as an inline image).
"""
from __future__ import annotations

from string import Template

WARMUP_CODE = r"""
import os, sys, warnings
import numpy as np
import pandas as pd
import matplotlib
import matplotlib.figure as _adk_mfig
import matplotlib.pyplot as plt

def _adk_install():
    _orig_savefig = _adk_mfig.Figure.savefig
    if getattr(_orig_savefig, "_adk", False):
        return
    def savefig(self, *args, **kwargs):
        self._adk_saved = True
        return _orig_savefig(self, *args, **kwargs)
    savefig._adk = True
    _adk_mfig.Figure.savefig = savefig

    def _adk_close_saved():
        from matplotlib._pylab_helpers import Gcf
        for manager in list(Gcf.get_all_fig_managers()):
            if getattr(manager.canvas.figure, "_adk_saved", False):
                plt.close(manager.canvas.figure)

    get_ipython().events.register("post_execute", _adk_close_saved)

_adk_install()
del _adk_install
get_ipython().run_line_magic("matplotlib", "inline")

os.umask(0o022)
"""

# Run after WARMUP_CODE by kernels kept warm for a later first chart (the spare), not by a
# kernel whose first chart follows at once (the CLI): that chart pays the same costs anyway.
FIRST_DRAW_CODE = r"""
def _adk_first_draw():
    # Walk the path of the first chart once, on a small made-up table, so its first run
    # pays none of the one-time costs: CSV reading and ISO dates, a pivot to one column per
    # ticker, rolling means, panels with dates, titles, legends and a fixed layout, the PNG
    # writer (fonts, glyphs, the Agg renderer, PIL), and writing a CSV.
    import io
    import pandas.plotting._matplotlib  # noqa: F401 - what df.plot uses
    days = pd.bdate_range("2024-01-01", periods=300).strftime("%Y-%m-%d")
    text = "date,ticker,close\n" + "".join(
        f"{d},T{t},{100 + t + i % 17 * 0.5:.2f}\n" for t in range(2) for i, d in enumerate(days))
    raw = pd.read_csv(io.StringIO(text))
    raw["date"] = pd.to_datetime(raw["date"], format="ISO8601")
    raw["close"] = raw["close"].astype(float)
    raw["ticker"] = raw["ticker"].astype(str).str.strip()
    prices = raw.sort_values("date", kind="stable").pivot_table(
        index="date", columns="ticker", values="close", aggfunc="last")
    fig, axes = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True, squeeze=False)
    tables = []
    for ax, ticker in zip(axes[:, 0], prices.columns):
        series = prices[ticker].dropna()
        ma = series.rolling(20).mean()
        ax.plot(series.index, series, color="blue", linewidth=1.2, label=f"{ticker} price")
        ax.plot(ma.index, ma, color="red", linewidth=1.6, label="20-day moving average")
        ax.set_title(f"{ticker}: price, 20-day moving average")
        ax.set_ylabel("Price")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left")
        tables.append(pd.DataFrame({"price": series, "ma_20": ma}))
    axes[-1, 0].set_xlabel("Date")
    fig.autofmt_xdate(bottom=0.15)
    fig.subplots_adjust(left=0.095, right=0.985, top=0.94, hspace=0.3)
    fig.savefig(io.BytesIO(), format="png", dpi=100, pil_kwargs={"compress_level": 1})
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(8, 4))  # pandas' own plotting and tight_layout, for other charts
    prices.plot(ax=ax, title="warm")
    fig.tight_layout()
    fig.savefig(io.BytesIO(), format="png", dpi=100)
    plt.close(fig)
    pd.concat(tables).reset_index().to_csv(io.StringIO(), index=False)
    f"{prices.index.min():%Y-%m-%d} {prices.iloc[-1, 0]:,.2f}"

_adk_first_draw()
del _adk_first_draw
"""


# Caps what one execution may print, inside the kernel (see output_cap_code).
OUTPUT_CAP_CODE = Template("""
def _adk_cap_output(limit=$limit):
    import sys
    cls = type(sys.stdout)
    if getattr(cls, "_adk_capped", False):
        return
    orig = cls.write
    kept, dropped = {}, {}

    def capped(self, text, *args, **kwargs):
        key = getattr(self, "name", "stdout")
        text = text if isinstance(text, str) else str(text)
        room = limit - kept.get(key, 0)
        part = text[:max(room, 0)]
        if part:
            kept[key] = kept.get(key, 0) + len(part)
            orig(self, part)
        if len(part) < len(text):
            dropped[key] = dropped.get(key, 0) + len(text) - len(part)
        return len(text)

    def get(self):
        return self.__dict__.get("_adk_write") or capped.__get__(self)

    def put(self, value):
        func = getattr(value, "__func__", None)
        if func is capped or func is orig:
            self.__dict__.pop("_adk_write", None)  # a wrapper restoring "the" write: ours
        else:
            self.__dict__["_adk_write"] = value     # a wrapper (IPython's tee) around ours

    cls.write = property(get, put)
    cls._adk_capped = True
    streams = {"stdout": sys.stdout, "stderr": sys.stderr}
    for stream in streams.values():
        stream.__dict__.pop("write", None)

    def pre_execute(*args):
        kept.clear()
        dropped.clear()

    def post_execute(*args):
        for key, n in list(dropped.items()):
            note = f"\\n[... output truncated in the kernel: {n:,} more characters]\\n"
            orig(streams.get(key, sys.stdout), note)
        dropped.clear()

    get_ipython().events.register("pre_execute", pre_execute)
    get_ipython().events.register("post_execute", post_execute)

_adk_cap_output()
del _adk_cap_output
"""
)


def output_cap_code(limit: int) -> str:
    """Code that caps what one execution may print, inside the kernel, as it is written:
    past ``limit`` characters per stream the rest is counted, not sent (a run printing
    200 MB would otherwise arrive at the app as one 200 MB message). ``write`` becomes a
    data descriptor on the stream class, so IPython's per-cell history tee (which swaps
    ``stream.write`` on the instance) always ends in the capped write; subprocess output
    captured by ipykernel goes through it too. A note says what was dropped."""
    return OUTPUT_CAP_CODE.substitute(limit=int(limit))
