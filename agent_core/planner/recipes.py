"""Code recipes: an :class:`Intent` and a :class:`TableInfo` -> a :class:`Plan`.

The code is what an analyst would write by hand: plain pandas and matplotlib,
commented, no import of this app. Every chart also writes the data it plotted as a
CSV with the same stem (``moving_average.png`` + ``moving_average.csv``) so the app
can draw an interactive version.

Each price plan has a fallback: the same analysis with a lenient loading step
(values that are not numbers or dates are dropped and counted instead of stopping
the run).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from string import Template

from agent_core.planner.intent import Intent
from agent_core.tables import TableProfile

TableInfo = TableProfile  # the recipes' name for the table they read (agent_core.tables)

DEFAULT_PRICE_COLOUR = "tab:blue"
DEFAULT_MA_COLOURS = ("tab:red", "tab:orange", "tab:green", "tab:purple", "tab:brown")
MAX_PANELS = 6
MAX_CANDLES = 250


@dataclass(frozen=True)
class Plan:
    """Code to run, why, what it should write, and what to try when it fails."""

    title: str
    rationale: str
    code: str
    outputs: tuple[str, ...]
    summary: str
    fallback: Plan | None = None


@dataclass(frozen=True)
class Answer:
    """A reply that needs no code (help, a request the planner cannot map, a missing file)."""

    text: str
    rationale: str


# --- loading ---------------------------------------------------------------------------------
def _lit(value) -> str:
    """A Python literal for generated code, strings in double quotes."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_lit(v) for v in value) + "]"
    return repr(value)


def _layout_words(t: TableInfo) -> str:
    return {"long": f"long layout: one row per {t.ticker_column} and {t.date_column}",
            "wide": "wide layout: one column per ticker",
            "ohlc": "OHLC layout: open/high/low/close" + ("/volume" if t.has_volume else "")
                    + " of one instrument",
            "single": "one price column"}[t.layout or "single"]


def loader_code(t: TableInfo, intent: Intent, *, lenient: bool, want_ohlc: bool = False) -> str:
    """Code that leaves ``prices`` (date index, one column per ticker, sorted, one row per
    date) and, with ``want_ohlc``, ``ohlc`` (open, high, low, close[, volume]) of one ticker.

    It starts with the profile's own read code: the file is read exactly as the Upload page
    read it (``df``: tidy, sorted, one row per (ticker and) date)."""
    d = t.date_column or "date"
    value = intent.column if intent.column in t.numeric_columns else t.value_column
    read = t.read_code.replace("import pandas as pd\n", "", 1).strip("\n")
    lines = [
        "import matplotlib",
        'matplotlib.use("Agg")',
        "import matplotlib.pyplot as plt",
        "import numpy as np",
        "import pandas as pd",
        "",
        f"# --- Load {t.name} ({_layout_words(t)}, {t.frequency.words()}), as the Upload page read it ---",
        read,
    ]
    if lenient:
        numeric = [c for c in dict.fromkeys([value, *t.price_columns]) if c]
        lines += [
            "",
            "# Lenient: every value column as numbers; cells that are not numbers become missing.",
            f"for col in {_lit(numeric)}:",
            "    df[col] = pd.to_numeric(df[col], errors=\"coerce\")",
        ]
    lines.append("")
    if t.layout == "long":
        tk = t.ticker_column
        lines += [
            "# One column per ticker.",
            f"prices = df.pivot_table(index={_lit(d)}, columns={_lit(tk)}, values={_lit(value)}, "
            "aggfunc=\"last\")",
        ]
    elif t.layout == "wide":
        lines.append(f"prices = df.set_index({_lit(d)})[{_lit(list(t.price_columns))}]")
    else:
        lines.append(f"prices = df.set_index({_lit(d)})[[{_lit(value)}]].rename(columns={{{_lit(value)}: "
                     f"{_lit(t.tickers[0])}}})")
    lines += ["prices.index.name = \"date\"", "prices.columns = [str(c) for c in prices.columns]",
              "prices.columns.name = None"]

    chosen = [x for x in intent.tickers if x in t.tickers]
    if chosen and t.layout in ("long", "wide"):
        lines.append(f"prices = prices[{_lit(chosen)}]  # the tickers asked for")
    lines += _date_filter_lines("prices", intent)
    lines.append("if prices.dropna(how=\"all\").empty:\n"
                 "    raise ValueError(\"No prices are left for the tickers and dates asked for.\")")

    if want_ohlc and t.has_ohlc:
        cols = dict(t.ohlc)
        lines += ["", "# The open/high/low/close" + ("/volume" if "volume" in cols else "")
                  + " columns, renamed."]
        if t.layout == "long":
            ticker = _candle_ticker(t, intent)
            lines += [
                f"one = df[df[{_lit(t.ticker_column)}] == {_lit(ticker)}].set_index({_lit(d)})",
                f"ohlc = one[{_lit(list(cols.values()))}].copy()",
            ]
        else:
            lines.append(f"ohlc = df.set_index({_lit(d)})[{_lit(list(cols.values()))}].copy()")
        lines += [f"ohlc.columns = {_lit(list(cols))}", "ohlc.index.name = \"date\""]
        lines += _date_filter_lines("ohlc", intent)
        lines.append("ohlc = ohlc.dropna(subset=[\"open\", \"high\", \"low\", \"close\"])")
    return "\n".join(lines)


def _date_filter_lines(var: str, intent: Intent) -> list[str]:
    out = []
    if intent.date_from or intent.date_to:
        a = _lit(intent.date_from) if intent.date_from else ""
        b = _lit(intent.date_to) if intent.date_to else ""
        words = (f"from {intent.date_from} " if intent.date_from else "") + (
            f"to {intent.date_to}" if intent.date_to else "")
        out.append(f"{var} = {var}.loc[{a}:{b}]  # only {words.strip()}")
    if intent.last:
        n, unit = intent.last
        out.append(f"{var} = {var}.loc[{var}.index.max() - pd.DateOffset({unit}={n}):]"
                   f"  # the last {n} {unit}")
    return out


UNITS = {"intraday": "bar", "trading-daily": "day", "calendar-daily": "day", "weekly": "week",
         "monthly": "month", "quarterly": "quarter", "yearly": "year"}
RETURN_WORDS = {"bar": "per-bar", "day": "daily", "week": "weekly", "month": "monthly",
                "quarter": "quarterly", "year": "yearly", "period": "per-period"}


def period_unit(t: TableInfo) -> str:
    """The data's own period ("day", "week", "month", "bar"): windows count these."""
    return UNITS.get(t.frequency.kind, "period")


def periods_per_year(t: TableInfo) -> float:
    """What annualised figures scale by: the profile's periods per year (252 when unknown)."""
    return float(t.periods_per_year or 252.0)


def window_note(t: TableInfo, windows: tuple[int, ...]) -> str:
    """Said in the answer when a window asked for in days is counted in coarser periods."""
    unit = period_unit(t)
    if not windows or unit in ("day", "bar"):
        return ""
    ws = " and ".join(f"{w}-{unit}" for w in windows)
    return (f"{ws} {'averages' if len(windows) > 1 else 'average'}: your data is {t.frequency.kind}, so a "
            f"window counts {unit}s, not days.")


SELF_CHECK = Template("""
# --- Self-check: the result must be usable before it is called done ---
problems = []
$checks
for problem in problems:
    print("Self-check failed:", problem)
if problems:
    raise RuntimeError("Self-check failed: " + "; ".join(problems))
print("Self-check passed.")
""")


#: a series charted as a line needs two finite points; ``$frame`` holds one column per ticker
SERIES_CHECK = Template("""for ticker in $frame.columns:
    if np.isfinite($frame[ticker]).sum() < $least:
        problems.append(f"{ticker}: $what ({prices[ticker].count()} price(s) in the period asked for)")""")


def series_check(frame: str, what: str, least: int = 2) -> str:
    """Self-check lines: every ticker of ``frame`` has at least ``least`` finite values."""
    return SERIES_CHECK.substitute(frame=frame, what=what, least=least)


def self_check(*checks: str) -> str:
    """The self-check block that ends a recipe's code (``checks`` append to ``problems``)."""
    return _fill(SELF_CHECK, checks="\n".join(checks))


def date_format(t: TableInfo) -> str:
    """How the answers write a date of this data: with the time for bars, the month for coarse data."""
    return {"intraday": "%Y-%m-%d %H:%M", "monthly": "%Y-%m", "quarterly": "%Y-%m",
            "yearly": "%Y"}.get(t.frequency.kind, "%Y-%m-%d")


def _fill(template: Template, **values: object) -> str:
    """A code template with its ``$names`` filled in (a leading blank line, no trailing one)."""
    return "\n" + template.substitute({k: str(v) for k, v in values.items()}).strip("\n")


# --- recipes: each one's code is a template a reader sees whole --------------------------------
PRICE_CHART = Template("""
# --- Chart: price$with_ma ---
windows = $windows  # moving-average windows, in rows ($unit periods of this data)
price_colour = $price_colour
ma_colours = $ma_colours
tickers = list(prices.columns)[:$max_panels]
# Sized for a screen (900 px wide, about 215 px per ticker) with a fixed layout: no
# tight_layout pass, which draws the whole figure once more just to measure it.
height = 1.25 + 2.15 * len(tickers)  # inches: margins + one panel per ticker
fig, axes = plt.subplots(len(tickers), 1, figsize=(9, height), sharex=True, squeeze=False)
tables = []
for ax, ticker in zip(axes[:, 0], tickers):
    series = prices[ticker].dropna()
    table = pd.DataFrame({"price": series})
    ax.plot(series.index, series, color=price_colour, linewidth=1.2, label=f"{ticker} price")
    for window, colour in zip(windows, ma_colours):
        ma = series.rolling(window).mean()
        table[f"ma_{window}"] = ma
        ax.plot(ma.index, ma, color=colour, linewidth=1.6, label=f"{window}-$unit moving average")
    ax.set_title(f"{ticker}: price" + "".join(f", {w}-$unit moving average" for w in windows))
    ax.set_ylabel("Price")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    table.insert(0, "ticker", ticker)
    tables.append(table)
axes[-1, 0].set_xlabel("Date")
fig.autofmt_xdate(bottom=0.75 / height)
fig.subplots_adjust(left=0.095, right=0.985, top=1 - 0.35 / height, hspace=0.5 / 1.7)
fig.savefig("$stem.$fmt", dpi=100$fast_png)  # the layout is fixed: saved at screen resolution
plt.close(fig)

# The plotted data, for an interactive chart.
plotted = pd.concat(tables).reset_index()
if prices.shape[1] > len(tickers):
    print(f"Note: plotted the first {len(tickers)} of {prices.shape[1]} tickers; "
          "name the ones you want to see others.")
plotted.to_csv("$stem.csv", index=False)
print(f"{len(prices)} dates from {prices.index.min():%Y-%m-%d} to {prices.index.max():%Y-%m-%d}.")
print(f"Saved $stem.$fmt and $stem.csv ({len(plotted)} rows) for: {', '.join(tickers)}.")
""")
PRICE_CHECKS = """if plotted.empty:
    problems.append("the chart has no rows")
for ticker, table in zip(tickers, tables):
    if np.isfinite(table["price"]).sum() < 2:
        problems.append(f"{ticker}: fewer than 2 prices to draw a line ({table['price'].count()} in the "
                        "period asked for)")
    for window in windows:
        column = f"ma_{window}"
        if column not in table or not np.isfinite(table[column]).any():
            problems.append(f"{ticker}: the {window}-$unit moving average has no values "
                            f"({table['price'].count()} $unit rows; use a window shorter than that)")
drawn = {matplotlib.colors.to_hex(line.get_color()) for ax in axes[:, 0] for line in ax.get_lines()}
for colour in [price_colour, *ma_colours[:len(windows)]]:
    if matplotlib.colors.to_hex(colour) not in drawn:
        problems.append(f"the colour {colour} is not used in the chart")"""
PRICE_CHART_LAST_VALUES = Template("""
for ticker in tickers:
    last = prices[ticker].dropna()
    parts = [f"last price {last.iloc[-1]:,.2f}"] + [
        f"{w}-$unit MA {last.rolling(w).mean().iloc[-1]:,.2f}" for w in windows]
    print(f"{ticker}: " + ", ".join(parts))
""")


def price_chart(t: TableInfo, intent: Intent, lenient: bool) -> tuple[str, str, tuple[str, ...], str]:
    windows = list(intent.windows)
    price_colour = intent.price_color or DEFAULT_PRICE_COLOUR
    ma_colours = list(intent.ma_colors) + [c for c in DEFAULT_MA_COLOURS if c not in intent.ma_colors]
    stem = "moving_average" if windows else "price_chart"
    fmt = intent.image_format
    body = _fill(PRICE_CHART, with_ma=" with moving averages" if windows else "", windows=_lit(windows),
                 price_colour=_lit(price_colour), ma_colours=_lit(ma_colours[: max(1, len(windows))]),
                 max_panels=MAX_PANELS, stem=stem, fmt=fmt, unit=period_unit(t),
                 # a PNG with light compression: the same pixels, encoded faster
                 fast_png=', pil_kwargs={"compress_level": 1}' if fmt == "png" else "")
    unit = period_unit(t)
    if windows:
        body += _fill(PRICE_CHART_LAST_VALUES, unit=unit)
    body += self_check(PRICE_CHECKS.replace("$unit", unit))
    wtxt = " and ".join(f"{w}-{unit}" for w in windows)
    title = (f"price chart with {wtxt} moving average{'s' if len(windows) > 1 else ''}" if windows
             else "price chart")
    colours = f"price in {intent.price_color or 'blue'}"
    if windows:
        colours += ", moving average" + ("s" if len(windows) > 1 else "") + " in " + " and ".join(
            ma_colours[: len(windows)]).replace("tab:", "")
    summary = f"Here is the {title} ({colours})." + (" " + window_note(t, intent.windows)
                                                       if window_note(t, intent.windows) else "")
    return title, body, (f"{stem}.{fmt}", f"{stem}.csv"), summary


CANDLESTICK = Template("""
# --- Candlestick chart$with_volume ---
candles = ohlc.tail($max_candles)  # at most $max_candles candles stay readable
up = candles["close"] >= candles["open"]
colours = np.where(up, "tab:green", "tab:red")
x = np.arange(len(candles))  # one slot per trading day, no gaps at weekends
$figure
ax.vlines(x, candles["low"], candles["high"], color=colours, linewidth=0.8)  # wicks
body_low = candles[["open", "close"]].min(axis=1)
body_height = (candles["close"] - candles["open"]).abs().clip(lower=1e-9)
ax.bar(x, body_height, bottom=body_low, width=0.7, color=colours)  # bodies
${overlays}ax.set_title($title)
ax.set_ylabel("Price")
ax.grid(alpha=0.3)
$volume_panel
ticks = np.linspace(0, len(candles) - 1, num=min(8, len(candles))).astype(int)
bottom_ax.set_xticks(ticks)
bottom_ax.set_xticklabels([candles.index[i].strftime("%Y-%m-%d") for i in ticks], rotation=30,
                          ha="right")
fig.tight_layout()
fig.savefig("candlestick.$fmt", dpi=110)
plt.close(fig)
candles.reset_index().to_csv("candlestick.csv", index=False)
print(f"{len(candles)} dates from {candles.index.min():%Y-%m-%d} to {candles.index.max():%Y-%m-%d}.")
print(f"Saved candlestick.$fmt and candlestick.csv ({len(candles)} candles).")
""")
CANDLE_FIGURE = 'fig, ax = plt.subplots(figsize=(12, 6))'
CANDLE_FIGURE_WITH_VOLUME = ('fig, (ax, ax_vol) = plt.subplots(2, 1, figsize=(12, 7), sharex=True, '
                             'gridspec_kw={"height_ratios": [3, 1]})')
CANDLE_NO_VOLUME = "bottom_ax = ax"
CANDLE_VOLUME = """ax_vol.bar(x, candles["volume"], width=0.7, color=colours)
ax_vol.set_ylabel("Volume")
ax_vol.grid(alpha=0.3)
bottom_ax = ax_vol"""


def candlestick(t: TableInfo, intent: Intent, lenient: bool):
    fmt = intent.image_format
    vol = t.has_volume
    ticker = _candle_ticker(t, intent)
    body = _fill(CANDLESTICK, with_volume=" with volume" if vol else "", max_candles=MAX_CANDLES,
                 figure=CANDLE_FIGURE_WITH_VOLUME if vol else CANDLE_FIGURE,
                 title=_lit(ticker + " candlestick"),
                 volume_panel=CANDLE_VOLUME if vol else CANDLE_NO_VOLUME, fmt=fmt,
                 overlays=_candle_overlays(t, intent))
    if not intent.windows:
        body += "\nwindows, ma_colours = [], []  # no moving averages asked for"
    body += self_check(CANDLE_CHECKS.replace("$unit", period_unit(t)))
    others = [x for x in t.tickers if x != ticker] if t.layout == "long" else []
    mas = " and ".join(f"{w}-{period_unit(t)}" for w in intent.windows)
    summary = (f"Here is the candlestick chart{' with volume' if vol else ''} of {ticker}"
               + (f" with the {mas} moving average{'s' if len(intent.windows) > 1 else ''} of the close"
                  if intent.windows else "")
               + f" (at most the last {MAX_CANDLES} {period_unit(t)}s)."
               + (f" Name another ticker ({', '.join(others[:5])}) to chart it instead." if others else ""))
    return "candlestick chart", body, (f"candlestick.{fmt}", "candlestick.csv"), summary


CANDLE_OVERLAYS = Template("""windows = $windows  # moving averages of the close, in $unit periods
ma_colours = $ma_colours
for window, colour in zip(windows, ma_colours):
    ma = ohlc["close"].rolling(window).mean().reindex(candles.index)  # from the full history
    candles[f"ma_{window}"] = ma
    ax.plot(x, ma, color=colour, linewidth=1.4, label=f"{window}-$unit moving average")
ax.legend(loc="upper left")
""")
CANDLE_CHECKS = """if len(candles) < 2:
    problems.append(f"{len(candles)} candle(s) with open, high, low and close in the period asked for: "
                    "too few for a chart")
for window, colour in zip(windows, ma_colours):
    column = f"ma_{window}"
    if column not in candles or not np.isfinite(candles[column]).any():
        problems.append(f"the {window}-$unit moving average has no values ({len(ohlc)} rows; "
                        "use a shorter window)")
    elif matplotlib.colors.to_hex(colour) not in {matplotlib.colors.to_hex(line.get_color())
                                                    for line in ax.get_lines()}:
        problems.append(f"the colour {colour} is not used in the chart")"""


def _candle_overlays(t: TableInfo, intent: Intent) -> str:
    if not intent.windows:
        return ""
    colours = list(intent.ma_colors) + [c for c in DEFAULT_MA_COLOURS if c not in intent.ma_colors]
    return CANDLE_OVERLAYS.substitute(windows=_lit(list(intent.windows)), unit=period_unit(t),
                                      ma_colours=_lit(colours[: len(intent.windows)]))


def _candle_ticker(t: TableInfo, intent: Intent) -> str:
    chosen = [x for x in intent.tickers if x in t.tickers]
    return (chosen or list(t.tickers) or ["price"])[0]


RESAMPLE_FIRST = Template("""
prices = prices.resample($freq).last()  # one price per period (its last)""")


def _resample_lines(intent: Intent) -> str:
    """The resampling step (a line of code), or nothing for daily data."""
    return RESAMPLE_FIRST.substitute(freq=_lit(intent.freq)) if intent.freq else ""


RETURNS = Template("""
# --- $Period returns: histogram and summary table ---$resample
rets = prices.pct_change(fill_method=None).iloc[1:]
fig, ax = plt.subplots(figsize=(10, 5.5))
for ticker in rets.columns:
    ax.hist(rets[ticker].dropna() * 100, bins=60, alpha=0.55, label=ticker)
ax.set_xlabel("$Period return (%)")
ax.set_ylabel("Count")
ax.set_title("Distribution of $period returns")
ax.grid(alpha=0.3)
ax.legend()
fig.tight_layout()
fig.savefig("returns_histogram.$fmt", dpi=110)
plt.close(fig)

long_rets = rets.reset_index().melt(id_vars="date", var_name="ticker", value_name="return").dropna()
long_rets.to_csv("returns_histogram.csv", index=False)
summary = pd.DataFrame({
    "observations": rets.count(),
    "mean_pct": rets.mean() * 100,
    "std_pct": rets.std() * 100,
    "min_pct": rets.min() * 100,
    "max_pct": rets.max() * 100,
    "skew": rets.skew(),
    "positive_share_pct": (rets > 0).sum() / rets.count() * 100,
}).round(4)
summary.index.name = "ticker"
summary.to_csv("returns_summary.csv")
print(summary.to_string())
""")
RETURNS_CHECKS = """if rets.empty:
    problems.append("no returns: a return needs two prices in a row")"""
PERIOD_WORDS = {"W": "weekly", "ME": "monthly", "QE": "quarterly", "YE": "yearly"}
FREQ_UNITS = {"W": "week", "ME": "month", "QE": "quarter", "YE": "year"}


def returns(t: TableInfo, intent: Intent, lenient: bool):
    fmt = intent.image_format
    period = PERIOD_WORDS.get(intent.freq or "", RETURN_WORDS[period_unit(t)])
    body = _fill(RETURNS, Period=period.capitalize(), period=period, resample=_resample_lines(intent),
                 fmt=fmt)
    body += self_check(RETURNS_CHECKS, series_check("rets", f"no {period} returns to chart", least=1))
    return (f"{period} returns histogram and summary", body,
            (f"returns_histogram.{fmt}", "returns_histogram.csv", "returns_summary.csv"),
            f"Here is the distribution of {period} returns with a summary table (mean, spread, extremes).")


VOLATILITY = Template("""
# --- Rolling volatility: $window-$unit standard deviation of $returns returns, annualised ---
window = $window
periods_per_year = $ppy  # this data's $unit periods in a year
rets = prices.pct_change(fill_method=None)
vol = rets.rolling(window).std() * np.sqrt(periods_per_year) * 100  # percent per year
fig, ax = plt.subplots(figsize=(11, 5))
for ticker in vol.columns:
    ax.plot(vol.index, vol[ticker], linewidth=1.2, label=ticker)
ax.set_ylabel("Annualised volatility (%)")
ax.set_title(f"{window}-$unit rolling volatility")
ax.grid(alpha=0.3)
ax.legend()
fig.autofmt_xdate()
fig.tight_layout()
fig.savefig("rolling_volatility.$fmt", dpi=110)
plt.close(fig)
vol.reset_index().melt(id_vars="date", var_name="ticker", value_name=f"volatility_{window}").dropna().to_csv(
    "rolling_volatility.csv", index=False)
latest = vol.ffill().iloc[-1].round(2)
print("Latest annualised volatility (%):", latest.to_dict())
""")


def volatility(t: TableInfo, intent: Intent, lenient: bool):
    fmt = intent.image_format
    w = intent.windows[0] if intent.windows else 20
    unit = period_unit(t)
    return (f"{w}-{unit} rolling volatility",
            _fill(VOLATILITY, window=w, fmt=fmt, unit=unit, returns=RETURN_WORDS[unit],
                  ppy=periods_per_year(t))
            + self_check(VOL_CHECKS.replace("$unit", unit)),
            (f"rolling_volatility.{fmt}", "rolling_volatility.csv"),
            f"Here is the {w}-{unit} rolling volatility (standard deviation of {RETURN_WORDS[unit]} returns, "
            f"annualised with {periods_per_year(t):g} periods a year)."
            + (" " + window_note(t, (w,)).replace("average", "window") if window_note(t, (w,)) else ""))


VOL_CHECKS = """for ticker in vol.columns:
    if not np.isfinite(vol[ticker]).any():
        problems.append(f"{ticker}: the {window}-$unit volatility has no values "
                        f"({prices[ticker].count()} rows; use a shorter window)")"""


DRAWDOWN = Template("""
# --- Drawdown: how far each price is below its running peak ---
peak = prices.cummax()
dd = (prices / peak - 1) * 100
fig, ax = plt.subplots(figsize=(11, 5))
for ticker in dd.columns:
    ax.fill_between(dd.index, dd[ticker], 0, alpha=0.35, label=ticker)
ax.set_ylabel("Drawdown from peak (%)")
ax.set_title("Drawdown")
ax.grid(alpha=0.3)
ax.legend(loc="lower left")
fig.autofmt_xdate()
fig.tight_layout()
fig.savefig("drawdown.$fmt", dpi=110)
plt.close(fig)
dd.reset_index().melt(id_vars="date", var_name="ticker", value_name="drawdown_pct").dropna().to_csv(
    "drawdown.csv", index=False)
for ticker in dd.columns:
    if dd[ticker].notna().any():
        print(f"{ticker}: maximum drawdown {dd[ticker].min():.2f}% on {dd[ticker].idxmin():%Y-%m-%d}")
""")


def drawdown(t: TableInfo, intent: Intent, lenient: bool):
    fmt = intent.image_format
    body = _fill(DRAWDOWN, fmt=fmt) + self_check(series_check("dd", "fewer than 2 prices for a drawdown"))
    return ("drawdown chart", body, (f"drawdown.{fmt}", "drawdown.csv"),
            "Here is the drawdown chart (percent below the running peak) with each ticker's "
            "maximum drawdown.")


NORMALISED = Template("""
# --- Normalised comparison: every ticker starts at 100 ---
first = prices.bfill().iloc[0]  # each ticker's first price
norm = prices / first * 100
fig, ax = plt.subplots(figsize=(11, 5.5))
for ticker in norm.columns:
    ax.plot(norm.index, norm[ticker], linewidth=1.3, label=ticker)
ax.axhline(100, color="grey", linewidth=0.8, linestyle="--")
ax.set_ylabel("Value of 100 invested")
ax.set_title("Normalised prices (start = 100)")
ax.grid(alpha=0.3)
ax.legend()
fig.autofmt_xdate()
fig.tight_layout()
fig.savefig("normalised_prices.$fmt", dpi=110)
plt.close(fig)
norm.reset_index().melt(id_vars="date", var_name="ticker", value_name="normalised").dropna().to_csv(
    "normalised_prices.csv", index=False)
print("Value of 100 at the end:", norm.ffill().iloc[-1].round(2).to_dict())

# --- The comparison in numbers: total return over the dates every ticker has a price ---
common = prices.dropna()  # the same period for all, so the returns compare like with like
growth = ((common.iloc[-1] / common.iloc[0] - 1) * 100 if len(common) >= 2
          else pd.Series(np.nan, index=prices.columns))
answer = pd.DataFrame({"first_date": common.index.min(), "last_date": common.index.max(),
                       "first_price": common.iloc[0] if len(common) else np.nan,
                       "last_price": common.iloc[-1] if len(common) else np.nan,
                       "total_return_pct": growth}, index=prices.columns)
answer.index.name = "ticker"
answer.to_csv("answer.csv")
if len(common) >= 2 and growth.notna().all():
    span = f"{common.index[0]:$datefmt}..{common.index[-1]:$datefmt}"
    how = (f"last price / first price - 1 over the {len(common)} dates "
           + ("both have" if len(growth) == 2 else "every ticker has") + " a price")
    if len(growth) == 2:
        (a, ra), (b, rb) = growth.items()
        print(f"Answer: {a} returned {ra:.1f}% vs {b} {rb:.1f}% over {span} ({how}).")
    else:
        print("Answer: total return over " + span + ": "
              + ", ".join(f"{t} {r:.1f}%" for t, r in growth.sort_values(ascending=False).items())
              + f" ({how}).")
""")
NORMALISED_CHECKS = """if len(prices.columns) > 1 and len(common) < 2:
    problems.append(f"the tickers share {len(common)} date(s) with a price: too few to compare them")"""


def normalised(t: TableInfo, intent: Intent, lenient: bool):
    fmt = intent.image_format
    body = _fill(NORMALISED, fmt=fmt, datefmt=date_format(t)) + self_check(
        series_check("norm", "fewer than 2 prices to chart"), NORMALISED_CHECKS)
    return ("normalised comparison", body,
            (f"normalised_prices.{fmt}", "normalised_prices.csv", "answer.csv"),
            "Here is the normalised comparison: each ticker rebased to 100 on its first date; the total "
            "returns over the dates all of them have a price are in answer.csv.")


CORRELATION = Template("""
# --- Correlation of $period returns: table and heatmap ---$resample
rets = prices.pct_change(fill_method=None)
corr = rets.corr()
corr.index.name = "ticker"
corr.round(4).to_csv("correlation.csv")
n = len(corr)
fig, ax = plt.subplots(figsize=(2.2 + 0.9 * n, 1.6 + 0.8 * n))
image = ax.imshow(corr.values, cmap="RdBu_r", vmin=-1, vmax=1)
ax.set_xticks(range(n), corr.columns, rotation=45, ha="right")
ax.set_yticks(range(n), corr.index)
for i in range(n):
    for j in range(n):
        value = corr.iloc[i, j]
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=9,
                color="white" if abs(value) > 0.6 else "black")
fig.colorbar(image, ax=ax, label="correlation")
ax.set_title("Correlation of $period returns")
fig.tight_layout()
fig.savefig("correlation.$fmt", dpi=110)
plt.close(fig)
print(corr.round(3).to_string())

# --- The number: each pair's correlation, on the $unit returns both tickers have ---
pairs = []
for i, a in enumerate(corr.columns):
    for b in corr.columns[i + 1:]:
        both = rets[[a, b]].dropna()
        pairs.append({"ticker_a": a, "ticker_b": b, "correlation": corr.loc[a, b], "n_returns": len(both),
                      "first_date": both.index.min(), "last_date": both.index.max()})
answer = pd.DataFrame(pairs, columns=["ticker_a", "ticker_b", "correlation", "n_returns", "first_date",
                                      "last_date"])
answer.to_csv("answer.csv", index=False)
how = "Pearson correlation; a return is price / previous price - 1"
known = answer.dropna(subset=["correlation"])
if len(answer) == 1 and len(known) == 1:
    row = known.iloc[0]
    print(f"Answer: correlation of $period returns {row.ticker_a}/{row.ticker_b}: {row.correlation:.2f} over "
          f"{row.n_returns} ${unit}s ({row.first_date:$datefmt}..{row.last_date:$datefmt}, the ${unit}s both "
          f"have a return; {how}).")
elif len(known) > 1:
    hi, lo = known.loc[known["correlation"].idxmax()], known.loc[known["correlation"].idxmin()]
    print(f"Answer: most correlated {hi.ticker_a}/{hi.ticker_b} {hi.correlation:.2f} "
          f"({hi.n_returns} returns), least {lo.ticker_a}/{lo.ticker_b} {lo.correlation:.2f} "
          f"({lo.n_returns} returns) ({how}).")
""")
CORRELATION_CHECKS = """for row in answer.itertuples():
    if not np.isfinite(row.correlation):
        problems.append(f"the correlation of {row.ticker_a} and {row.ticker_b} has no value "
                        f"({row.n_returns} returns on the same dates; it needs at least 2 that vary)")"""


def correlation(t: TableInfo, intent: Intent, lenient: bool):
    fmt = intent.image_format
    period = PERIOD_WORDS.get(intent.freq or "", RETURN_WORDS[period_unit(t)])
    unit = FREQ_UNITS.get(intent.freq or "", period_unit(t))
    datefmt = "%Y-%m" if intent.freq in ("ME", "QE", "YE") else date_format(t)
    body = _fill(CORRELATION, resample=_resample_lines(intent), fmt=fmt, period=period, unit=unit,
                 datefmt=datefmt) + self_check(CORRELATION_CHECKS)
    return ("correlation matrix of returns", body, (f"correlation.{fmt}", "correlation.csv", "answer.csv"),
            f"Here is the correlation matrix of {period} returns, as a table and a heatmap; each pair's "
            "correlation, with how many returns and which dates it rests on, is in answer.csv.")


RESAMPLE_BARS = Template("""
# --- $Word bars: first open, highest high, lowest low, last close ---
rules = {"open": "first", "high": "max", "low": "min", "close": "last"$volume}
bars = ohlc.resample($freq).agg(rules).dropna(subset=["close"])
table = bars
bars.reset_index().to_csv("prices_$word.csv", index=False)
print(f"Saved prices_$word.csv: {len(bars)} $word bars.")
print(bars.tail().round(4).to_string())
""")
RESAMPLE_PRICES = Template("""
# --- $Word prices: the last price of each period ---
periodic = prices.resample($freq).last().dropna(how="all")
table = periodic
periodic.reset_index().to_csv("prices_$word.csv", index=False)
print(f"Saved prices_$word.csv: {len(periodic)} $word rows.")
print(periodic.tail().round(4).to_string())
""")


RESAMPLE_CHECKS = """if table.empty:
    problems.append("no rows after resampling")
for ticker in table.columns:
    if table[ticker].notna().sum() == 0:
        problems.append(f"{ticker}: no values after resampling")"""


def resample(t: TableInfo, intent: Intent, lenient: bool):
    freq = intent.freq or "W"
    word = PERIOD_WORDS[freq]
    if t.has_ohlc and t.layout in ("ohlc",):
        body = _fill(RESAMPLE_BARS, Word=word.capitalize(), word=word, freq=_lit(freq),
                     volume=', "volume": "sum"' if t.has_volume else "")
    else:
        body = _fill(RESAMPLE_PRICES, Word=word.capitalize(), word=word, freq=_lit(freq))
    body += self_check(RESAMPLE_CHECKS)
    return (f"{word} resampling", body, (f"prices_{word}.csv",),
            f"Here are the prices resampled to {word} periods, as CSV.")


SUMMARY_STATS = Template("""
# --- Summary statistics per ticker ---
rets = prices.pct_change(fill_method=None)
stats = pd.DataFrame({
    "first_date": prices.apply(lambda s: s.first_valid_index()),
    "last_date": prices.apply(lambda s: s.last_valid_index()),
    "observations": prices.count(),
    "first_price": prices.bfill().iloc[0],
    "last_price": prices.ffill().iloc[-1],
    "min_price": prices.min(),
    "max_price": prices.max(),
    "mean_price": prices.mean(),
    "total_return_pct": (prices.ffill().iloc[-1] / prices.bfill().iloc[0] - 1) * 100,
    "annualised_volatility_pct": rets.std() * np.sqrt($ppy) * 100,  # $ppy periods a year
    "max_drawdown_pct": ((prices / prices.cummax()) - 1).min() * 100,
})
stats.index.name = "ticker"
numbers = stats.select_dtypes("number").columns
stats[numbers] = stats[numbers].round(4)
stats.to_csv("summary_statistics.csv")
print(stats.to_string())
""")


SUMMARY_CHECKS = """for ticker, row in stats.iterrows():
    if row["observations"] < 3 or not np.isfinite(row["annualised_volatility_pct"]):
        problems.append(f"{ticker}: {row['observations']} price(s): too few for returns and their "
                        "volatility")"""


def summary_stats(t: TableInfo, intent: Intent, lenient: bool):
    body = _fill(SUMMARY_STATS, ppy=periods_per_year(t)) + self_check(SUMMARY_CHECKS)
    return ("summary statistics", body, ("summary_statistics.csv",),
            "Here are the summary statistics per ticker (dates, prices, total return, volatility, drawdown).")


RECIPES = {
    "price_chart": price_chart, "candlestick": candlestick, "returns": returns,
    "volatility": volatility, "drawdown": drawdown, "normalised": normalised,
    "correlation": correlation, "resample": resample, "summary": summary_stats,
}


def build_price_plan(t: TableInfo, intent: Intent) -> Plan:
    """The plan for a price recipe, with its lenient fallback."""
    if intent.kind == "candlestick" and not t.has_ohlc:
        raise ValueError("no ohlc")  # the caller answers instead of running code

    def make(lenient: bool) -> Plan:
        want_ohlc = intent.kind == "candlestick" or (
            intent.kind == "resample" and t.layout == "ohlc" and t.has_ohlc)
        title, body, outputs, summary = RECIPES[intent.kind](t, intent, lenient)
        header = f"# {title[0].upper() + title[1:]} from {t.name}."
        if lenient:
            header += "\n# Lenient reading: values that are not dates or numbers are left out."
        # a question reads the whole file: returns at the period's start need the price before it
        load = replace(intent, date_from=None, date_to=None) if intent.kind == "question" else intent
        loader = loader_code(t, load, lenient=lenient, want_ohlc=want_ohlc)
        code = header + "\n" + loader + "\n" + body + "\n"
        asks, what = ((title.replace("answer: ", ""), "the answer") if intent.kind == "question"
                      else (f"for a {title}", f"the {title}"))
        rationale = (f"The request asks {asks}. {t.summary()}. I will load it with pandas, "
                     f"{'drop the values that cannot be read, ' if lenient else ''}"
                     f"compute {what} and save {', '.join(outputs)}.")
        if lenient:
            rationale = ("The first attempt failed, so I will read the file leniently (dates and numbers "
                         "that cannot be read are left out and counted) and try again. " + rationale)
        return Plan(title=title, rationale=rationale, code=code, outputs=outputs, summary=summary)

    return replace(make(False), fallback=make(True))


# --- questions with answers ------------------------------------------------------------------
QUESTION = Template("""
# --- Question: $question ---
periods_per_year = $ppy  # this data is $frequency: $ppy periods a year
rets = prices.pct_change(fill_method=None)  # $returns returns, from the whole file
start, end = $start, $end  # the period asked about (None: all of it)
in_period = prices.loc[start:end]
rets = rets.loc[start:end].iloc[0 if start else 1:]
$compute
answer.index.name = "ticker"
answer.to_csv("answer.csv")
shown = answer.copy()
numbers = shown.select_dtypes("number").columns
shown[numbers] = shown[numbers].round(4)
print(shown.to_string())
print("Answer:", sentence)
$chart
$check""")
QUESTION_CHECK = """if answer.empty or not np.isfinite(answer[column]).any():
    raise RuntimeError("Self-check failed: no finite values for the period asked about; "
                       "pick a period the file covers")
named = $named  # the tickers the request names: each must have its number
have = set(answer.index[np.isfinite(answer[column])])
missing = [t for t in named if t not in have]
if missing:
    raise RuntimeError("Self-check failed: no value for " + ", ".join(missing)
                       + " in the period asked about (too few prices there)")
for ticker in sorted(set(answer.index) - have):
    print(f"Note: no value for {ticker} in the period asked about (too few prices there).")
print("Self-check passed.")"""
#: a ranking question's bar chart: the one measure asked about, labelled with the data's frequency
QUESTION_CHART = Template("""
# --- Chart: the measure asked about, one bar per ticker ---
fig, ax = plt.subplots(figsize=(min(12, max(6, 3 + 0.7 * len(answer))), 4.5))
ax.bar(answer.index.astype(str), answer[column], color="tab:blue")
ax.set_ylabel($ylabel)
ax.set_title($title)
ax.grid(axis="y", alpha=0.3)
fig.tight_layout()
fig.savefig("answer.$fmt", dpi=110)
plt.close(fig)""")
QUESTION_COMPUTE = {
    "volatility": '''column = "annualised_volatility_pct"
answer = pd.DataFrame({"n_returns": rets.count(),  # a count, not a measure: it is not charted
                       column: rets.std() * np.sqrt(periods_per_year) * 100})
how = (f"standard deviation of $returns returns times sqrt({periods_per_year:g})")''',
    "return": '''column = "total_return_pct"
first = in_period.apply(lambda s: s.dropna().iloc[0] if s.notna().any() else np.nan)
last = in_period.apply(lambda s: s.dropna().iloc[-1] if s.notna().any() else np.nan)
count = in_period.count()  # a return needs two prices
answer = pd.DataFrame({"n_prices": count, "first_price": first, "last_price": last,
                       column: ((last / first - 1) * 100).where(count >= 2)})
how = "last price / first price - 1 over the period"''',
    "annualised_return": '''column = "annualised_return_pct"
first = in_period.apply(lambda s: s.dropna().iloc[0] if s.notna().any() else np.nan)
last = in_period.apply(lambda s: s.dropna().iloc[-1] if s.notna().any() else np.nan)
count = in_period.count()  # a return needs two prices
# periods between the first and the last price (rows of the data's own frequency, gaps included)
periods = in_period.apply(lambda s: float(s.index.get_loc(s.last_valid_index())
                                          - s.index.get_loc(s.first_valid_index()))
                          if s.notna().any() else np.nan)
growth = (last / first) ** (periods_per_year / periods) - 1
answer = pd.DataFrame({"n_prices": count, "periods": periods, "first_price": first, "last_price": last,
                       column: (growth * 100).where(count >= 2)})
how = (f"(last price / first price) ^ ({periods_per_year:g} / periods between them) - 1")''',
    "drawdown": '''column = "max_drawdown_pct"
dd = (in_period / in_period.cummax() - 1) * 100
count = in_period.count()  # a drawdown needs two prices
answer = pd.DataFrame({"n_prices": count, column: (-dd.min()).where(count >= 2),
                       "trough_date": dd.apply(lambda s: s.idxmin() if s.notna().any() else pd.NaT)})
how = "largest fall below the running peak within the period"''',
    "price": '''column = "$extreme_price"
answer = pd.DataFrame({column: in_period.$agg(),
                       "date": in_period.apply(lambda s: s.$arg() if s.notna().any() else pd.NaT)})
how = "the $extreme price in the period"''',
    "day": '''column = "return_pct"
stacked = (rets * 100).stack().dropna().rename(column)
stacked.index.names = ["date", "ticker"]
best = stacked.nlargest(5) if "$extreme" == "highest" else stacked.nsmallest(5)
answer = best.reset_index().set_index("ticker")
top = answer.iloc[0] if not answer.empty else None
how = "$returns return, price / previous price - 1"
sentence = ("no returns in the period" if top is None else
            f"the $word $unit was {top['date']:%Y-%m-%d} for {answer.index[0]}: "
            f"{top[column]:+.2f}% ({how}).")''',
    "value": '''column = "price"
on = pd.Timestamp($on_date)
upto = prices.loc[:on].dropna(how="all")
answer = pd.DataFrame({column: upto.ffill().iloc[-1] if not upto.empty else np.nan,
                       "date_used": upto.apply(lambda s: s.last_valid_index())})
how = f"the last price on or before {on:%Y-%m-%d}"
sentence = "; ".join(f"{t}: {v:,.4f} (on {d:%Y-%m-%d})" for t, v, d in
                     zip(answer.index, answer[column], answer["date_used"]) if pd.notna(v)) + f" ({how})."''',
}
QUESTION_PICK = '''values = answer[column].dropna()
pick = None if values.empty else values.idxmax() if "$extreme" == "highest" else values.idxmin()
sentence = (f"{pick} had the $extreme $label: {values[pick]:,.2f}$suffix ({how}; "
            + ", ".join(f"{t} {v:,.2f}" for t, v in values.items()) + ")." if not values.empty
            else "no values for the period asked about.")'''
#: a question that asks for the number, not for a ranking ("what was the annualised volatility?")
QUESTION_ALL = '''values = answer[column].dropna()
sentence = ("the $label was " + ", ".join(f"{t} {v:,.2f}$suffix" for t, v in values.items())
            + f" ({how})." if not values.empty else "no values for the period asked about.")'''
QUESTION_LABELS = {"volatility": ("annualised volatility", "%"), "return": ("total return", "%"),
                   "annualised_return": ("annualised return", "%"),
                   "drawdown": ("maximum drawdown", "%"), "price": ("price", "")}


def _question_axis(measure: str, extreme: str, returns: str, ppy: float) -> tuple[str, str]:
    """The bar chart's axis label and the line under its title: the one measure, and how it was
    computed (for volatility, from which returns and with which annualisation factor)."""
    return {"volatility": ("Annualised volatility (%)", f"std of {returns} returns x sqrt({ppy:g})"),
            "return": ("Total return (%)", "last price / first price - 1"),
            "annualised_return": ("Annualised return (%)", f"(last / first) ^ ({ppy:g} / periods) - 1"),
            "drawdown": ("Maximum drawdown (%)", "largest fall below the running peak"),
            "price": (f"{extreme.capitalize()} price", f"the {extreme} {returns} price")}[measure]


def question(t: TableInfo, intent: Intent, lenient: bool):
    measure = intent.measure or "return"
    extreme = intent.extreme or "highest"
    unit = period_unit(t)
    compute = QUESTION_COMPUTE[measure]
    if measure not in ("day", "value"):
        label, suffix = QUESTION_LABELS[measure]
        pick = QUESTION_PICK if intent.extreme else QUESTION_ALL
        compute += "\n" + pick.replace("$label", label).replace("$suffix", suffix)
    compute = (compute.replace("$returns", RETURN_WORDS[unit]).replace("$extreme", extreme)
               .replace("$agg", "max" if extreme == "highest" else "min")
               .replace("$arg", "idxmax" if extreme == "highest" else "idxmin")
               .replace("$word", "best" if extreme == "highest" else "worst").replace("$unit", unit)
               .replace("$on_date", _lit(intent.on_date or "")))
    words = {"day": f"the {'best' if extreme == 'highest' else 'worst'} {unit}",
             "value": f"the value on {intent.on_date}"}.get(measure) or (
                 f"which ticker had the {extreme} {measure.replace('_', ' ')}" if intent.extreme
                 else f"the {QUESTION_LABELS[measure][0]} of each ticker")
    fmt = intent.image_format
    ranking = measure in QUESTION_LABELS
    axis = _question_axis(measure, extreme, RETURN_WORDS[unit], periods_per_year(t)) if ranking else ("", "")
    until = f" to {intent.date_to}" if intent.date_to and intent.date_to != intent.date_from else ""
    period = f", {intent.date_from}{until}" if intent.date_from else ""
    chart = QUESTION_CHART.substitute(
        ylabel=_lit(axis[0]), title=_lit(f"{axis[0].split(' (')[0]}{period}\n{axis[1]}"),
        fmt=fmt) if ranking else ""
    named = [x for x in intent.tickers if x in t.tickers]
    body = _fill(QUESTION, question=words, ppy=periods_per_year(t), frequency=t.frequency.words(),
                 returns=RETURN_WORDS[unit], start=_lit(intent.date_from) if intent.date_from else "None",
                 end=_lit(intent.date_to) if intent.date_to else "None", compute=compute, chart=chart,
                 check=QUESTION_CHECK.replace("$named", _lit(named)))
    how = (f" {'Volatility' if measure == 'volatility' else 'The return'} is annualised with "
           f"{periods_per_year(t):g} periods a year ({t.frequency.words()} data)."
           if measure in ("volatility", "annualised_return") else "")
    outputs = ((f"answer.{fmt}",) if ranking else ()) + ("answer.csv",)
    return (f"answer: {words}", body, outputs,
            f"Here is the answer to {words}; the table behind it is answer.csv.{how}")


RECIPES["question"] = question

EXPORT = Template("""
# --- Export the result table as $what ---
result = pd.read_csv("$source")
$write
print(f"Exported $target: {len(result)} rows, columns {', '.join(map(str, result.columns))}.")
""")


def with_export(plan: Plan, fmt: str) -> Plan:
    """``plan`` that also writes its main table as ``result.csv`` / ``result.xlsx``."""
    tables = [o for o in plan.outputs if o.endswith(".csv")]
    if not tables:
        return plan
    target = f"result.{fmt}"
    write = (f'result.to_excel("{target}", index=False)' if fmt == "xlsx"
             else f'result.to_csv("{target}", index=False)')
    code = plan.code + _fill(EXPORT, what="Excel" if fmt == "xlsx" else "CSV", source=tables[0],
                             write=write, target=target) + "\n"
    fallback = with_export(plan.fallback, fmt) if plan.fallback else None
    return replace(plan, code=code, outputs=plan.outputs + (target,),
                   summary=plan.summary + f" The result table ({tables[0]}) is exported as {target}.",
                   fallback=fallback)
