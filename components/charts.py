"""Interactive charts of plain tables (plotly). Pure functions returning figures: no
Streamlit, no agent calls, so they are unit-testable and reusable on any page.

Big series are downsampled for display only (tsdownsample's MinMaxLTTB keeps the
shape, peaks and troughs); the data passed in is never modified. Each figure's
``layout.meta`` says how many points came in and how many are drawn.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd
    import plotly.graph_objects as go

PALETTE = ("#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#d62728")
MA_PALETTE = ("#d62728", "#ff7f0e", "#8c564b", "#e377c2", "#bcbd22")
MAX_POINTS = 2000
OVERVIEW_POINTS = 300  # per series, drawn (as SVG) only in the range slider


def downsample_indices(x: np.ndarray, y: np.ndarray, n_out: int) -> np.ndarray:
    """Indices of at most ``n_out`` points that keep the look of ``y`` over ``x``.

    ``x`` must be increasing (dates as int64 are fine); NaNs in ``y`` must be dropped first."""
    import numpy as np

    n = len(y)
    if n <= n_out:
        return np.arange(n)
    from tsdownsample import MinMaxLTTBDownsampler

    xs = np.asarray(x)
    if xs.dtype.kind == "M":
        xs = xs.astype("datetime64[ns]").astype(np.int64)
    ys = np.ascontiguousarray(np.asarray(y, dtype=np.float64))
    return MinMaxLTTBDownsampler().downsample(np.ascontiguousarray(xs), ys, n_out=max(3, n_out))


def _xy(dates: pd.Series, values: pd.Series, max_points: int) -> tuple[Any, Any, int]:
    import numpy as np

    mask = values.notna().to_numpy() & dates.notna().to_numpy()
    x = dates.to_numpy()[mask]
    y = values.to_numpy(dtype=np.float64, na_value=np.nan)[mask]
    idx = downsample_indices(x, y, max_points)
    return x[idx], y[idx], int(mask.sum())


def _color(colors: Mapping[str, str] | Sequence[str] | None, name: str, kind: str, i: int,
           default: Sequence[str]) -> str:
    if isinstance(colors, Mapping):
        for key in (name, kind, name.split(" ")[0]):
            if key in colors:
                return colors[key]
    elif colors:
        return list(colors)[i % len(colors)]
    return default[i % len(default)]


def price_chart(long_df: pd.DataFrame, *, ma_windows: Iterable[int] = (),
                colors: Mapping[str, str] | Sequence[str] | None = None,
                max_points: int = MAX_POINTS, title: str | None = None) -> go.Figure:
    """A line chart of ``date, ticker, price`` rows with optional moving averages.

    ``colors`` maps a trace name (``"SYNA"``, ``"SYNA MA 20"``) or a kind (``"price"``,
    ``"ma"``) to a colour, or is a list used in turn. Moving averages are computed on the
    full series, then each line is downsampled to ``max_points`` for display."""
    import pandas as pd
    import plotly.graph_objects as go

    fig = go.Figure()
    windows = sorted({int(w) for w in ma_windows if int(w) > 1})
    points_in = points_shown = 0
    overview: list[Any] = []
    df = long_df[["date", "ticker", "price"]]
    labels = df["ticker"].astype(str)
    for i, (ticker, part) in enumerate(df.groupby(labels, sort=False)):  # order of appearance
        ticker = str(ticker)
        dates = part["date"] if pd.api.types.is_datetime64_any_dtype(part["date"]) else \
            pd.to_datetime(part["date"], errors="coerce")
        if not dates.is_monotonic_increasing:
            order = dates.sort_values(kind="stable").index
            part, dates = part.loc[order], dates.loc[order]
        price = pd.to_numeric(part["price"], errors="coerce")
        x, y, n = _xy(dates, price, max_points)
        points_in += n
        points_shown += len(y)
        color = _color(colors, ticker, "price", i, PALETTE)
        fig.add_trace(go.Scattergl(
            x=x, y=y, mode="lines", name=ticker, legendgroup=ticker,
            line={"color": color, "width": 1.6},
            hovertemplate="%{y:,.2f}<extra>" + ticker + "</extra>"))
        # The range slider cannot draw WebGL traces: a small SVG copy of each series sits on a
        # hidden axis squeezed to a hairline in the plot, and shows full height in the slider.
        ox, oy, _ = _xy(dates, price, OVERVIEW_POINTS)
        overview.append(go.Scatter(x=ox, y=oy, mode="lines", yaxis="y2", showlegend=False,
                                 hoverinfo="skip", legendgroup=ticker, name=f"{ticker} overview",
                                 line={"color": color, "width": 1}))
        for j, w in enumerate(windows):
            ma = price.rolling(w, min_periods=w).mean()
            mx, my, _ = _xy(dates, ma, max_points)
            name = f"{ticker} MA {w}"
            fig.add_trace(go.Scattergl(
                x=mx, y=my, mode="lines", name=name, legendgroup=ticker,
                line={"color": _color(colors, name, "ma", j + i * len(windows), MA_PALETTE),
                      "width": 2.2},
                hovertemplate="%{y:,.2f}<extra>" + name + "</extra>"))
    for trace in overview:  # after the visible lines, so fig.data[:n] are what the user sees
        fig.add_trace(trace)
    # y2 is squeezed into a hairline at the bottom of the plot; the slider draws it full height
    fig.update_layout(yaxis2={"domain": [0, 0.0005], "visible": False, "fixedrange": True,
                              "anchor": "x"}, yaxis={"domain": [0, 1]})
    fig.update_layout(
        title=title, hovermode="x unified", margin={"l": 10, "r": 10, "t": 40 if title else 10,
                                                    "b": 10},
        legend={"orientation": "v", "yanchor": "top", "y": 1, "x": 1.01, "xanchor": "left"},
        yaxis={"title": "price", "tickformat": ",.2f"}, height=480,
        meta={"points_in": points_in, "points_shown": points_shown,
              "downsampled": points_shown < points_in},
        xaxis={"rangeslider": {"visible": True, "thickness": 0.1}, "type": "date",
               "rangeselector": {"buttons": [
                   {"count": 1, "label": "1M", "step": "month", "stepmode": "backward"},
                   {"count": 6, "label": "6M", "step": "month", "stepmode": "backward"},
                   {"count": 1, "label": "YTD", "step": "year", "stepmode": "todate"},
                   {"count": 1, "label": "1Y", "step": "year", "stepmode": "backward"},
                   {"step": "all", "label": "All"}]}})
    return fig


LEGEND_GAP = 48  # px between a panel chart's plot area and its legend: room for the date labels
PRICE_BLUE = "#1f4e9c"   # as the static chart: price in blue ...
AVERAGE_RED = "#d62728"  # ... and its moving average in red
MAX_PANELS = 4


def panel_price_chart(long_df: pd.DataFrame, tickers: Sequence[str], *, window: int,
                      max_points: int = MAX_POINTS, period: str = "day") -> go.Figure:
    """The interactive twin of a moving-average PNG: one panel per ticker (price blue,
    average red, as the static chart), one shared time axis, the legend below the plot
    (never over the toolbar). ``tickers``: the panels, in order (the caller picks them);
    ``period``: one row of the data (``month`` on monthly data: a "20-month average")."""
    import pandas as pd
    from plotly.subplots import make_subplots

    shown = [str(t) for t in tickers] or sorted(long_df["ticker"].astype(str).unique())[:1]
    fig = make_subplots(rows=len(shown), cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=[f"{t}: price and {window}-{period} average" for t in shown])
    points_in = points_shown = 0
    labels = long_df["ticker"].astype(str)
    for row, ticker in enumerate(shown, start=1):
        part = long_df[labels == ticker]
        dates = pd.to_datetime(part["date"], errors="coerce")
        order = dates.sort_values(kind="stable").index
        dates, price = dates.loc[order], pd.to_numeric(part["price"].loc[order], errors="coerce")
        average = price.rolling(window, min_periods=window).mean()
        for values, name, colour, width in ((price, ticker, PRICE_BLUE, 1.4),
                                            (average, f"{ticker} MA {window}", AVERAGE_RED, 1.8)):
            x, y, n = _xy(dates, values, max_points)
            points_in += n
            points_shown += len(y)
            fig.add_trace(go_scatter()(x=x, y=y, mode="lines", name=name, line={"color": colour,
                                       "width": width},
                                       hovertemplate="%{y:,.2f}<extra>" + f"{name}</extra>"),
                          row=row, col=1)
        fig.update_yaxes(title_text="price", row=row, col=1)
    height = max(320, 230 * len(shown))
    fig.update_layout(
        height=height, hovermode="x unified",
        margin={"t": 40, "b": 10, "l": 10, "r": 10},
        # the legend's top sits LEGEND_GAP pixels below the plot, under the date labels (two
        # lines: "Jan 14" and "2024"): a fixed fraction put it over them on a one-panel chart
        legend={"orientation": "h", "yanchor": "top", "y": -LEGEND_GAP / (height - 50),
                "xanchor": "left", "x": 0},
        meta={"points_in": points_in, "points_shown": points_shown, "panels": shown})
    return fig


def go_scatter() -> Any:
    import plotly.graph_objects as go

    return go.Scattergl


def _x_column(df: pd.DataFrame) -> str | None:
    """The date column (dates are parsed by agent_core.tables, never here), else the first."""
    import pandas as pd

    for col in df.columns:
        if pd.api.types.is_datetime64_any_dtype(df[col]):
            return col
    return df.columns[0] if len(df.columns) else None


def numeric_quick_chart(df: pd.DataFrame, *, max_points: int = MAX_POINTS,
                        title: str | None = None) -> go.Figure | None:
    """Lines of a table's numeric columns against its date column (or first column).

    Returns None when the table has no numeric column to draw."""
    import pandas as pd
    import plotly.graph_objects as go

    if df is None or df.empty:
        return None
    xcol = _x_column(df)
    x_raw = df[xcol]
    is_date = pd.api.types.is_datetime64_any_dtype(x_raw)
    ycols = [c for c in df.columns if c != xcol and pd.api.types.is_numeric_dtype(df[c])
             and not pd.api.types.is_bool_dtype(df[c])]
    if not ycols:
        return None
    order = x_raw.sort_values(kind="stable").index if (is_date or pd.api.types.is_numeric_dtype(
        x_raw)) else df.index
    fig = go.Figure()
    points_in = points_shown = 0
    for i, col in enumerate(ycols):
        y = pd.to_numeric(df.loc[order, col], errors="coerce")
        xs = x_raw.loc[order]
        if is_date or pd.api.types.is_numeric_dtype(xs):
            x, yy, n = _xy(xs.reset_index(drop=True), y.reset_index(drop=True), max_points)
        else:
            x, yy, n = xs.to_numpy(), y.to_numpy(), len(y)
        points_in += n
        points_shown += len(yy)
        fig.add_trace(go.Scattergl(x=x, y=yy, mode="lines", name=str(col),
                                   line={"color": PALETTE[i % len(PALETTE)]}))
    fig.update_layout(title=title, hovermode="x unified", height=380,
                      margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
                      xaxis={"title": str(xcol)}, legend={"orientation": "h", "y": 1.02,
                                                          "yanchor": "bottom"},
                      yaxis={"title": str(ycols[0]) if len(ycols) == 1 else None},  # one line: its name
                      meta={"points_in": points_in, "points_shown": points_shown,
                            "downsampled": points_shown < points_in})
    return fig


def box_plot(df: pd.DataFrame, x: str, y: str, *, title: str | None = None,
             colors: Mapping[str, str] | None = None) -> go.Figure:
    """One box per value of ``x`` showing the spread of ``y`` (all points on hover)."""
    import pandas as pd
    import plotly.graph_objects as go

    fig = go.Figure()
    values = pd.to_numeric(df[y], errors="coerce")
    for i, (group, part) in enumerate(values.groupby(df[x].astype(str), sort=True)):
        fig.add_trace(go.Box(y=part.dropna().to_numpy(), name=str(group), boxmean=True,
                             marker={"color": (colors or {}).get(str(group),
                                                                 PALETTE[i % len(PALETTE)])}))
    fig.update_layout(title=title, yaxis={"title": str(y), "tickformat": ",.0f"},
                      xaxis={"title": str(x)}, showlegend=False, height=420,
                      margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10})
    return fig


# --- choosing a chart by the table's shape ------------------------------------------------------

MAX_GROUPS = 12
MAX_BAR_ROWS = 20
_COUNT_NAMES = {"count", "n", "observations", "obs", "rows", "n_obs", "days"}


def _is_count(name: object) -> bool:
    """A column that counts things (``observations``, ``n_returns``): context, not a measure to chart."""
    low = str(name).lower()
    return low in _COUNT_NAMES or low.startswith("n_")


def _is_num(s: pd.Series) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def _is_text(s: pd.Series) -> bool:
    import pandas as pd

    return pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s) or \
        isinstance(s.dtype, pd.CategoricalDtype)


def _as_dates(s: pd.Series) -> pd.Series | None:
    """``s`` when it is a date column. Dates are parsed once, by agent_core.tables (the tables
    given here come from it), never guessed again here."""
    import pandas as pd

    return s if pd.api.types.is_datetime64_any_dtype(s) else None


def _date_axis(df: pd.DataFrame) -> tuple[str, pd.Series] | None:
    import re

    cols = sorted(df.columns, key=lambda c: 0 if re.search(r"date|time|day|period|month",
                                                            str(c), re.I) else 1)
    for col in cols:
        dates = _as_dates(df[col])
        if dates is not None and dates.nunique() >= max(2, min(3, len(df))):  # an axis, not a stamp
            return col, dates
    return None


def _categories(df: pd.DataFrame, exclude: Sequence[Any] = ()) -> list[str]:
    """Text columns with 2..MAX_GROUPS distinct values that repeat (a grouping, not a label)."""
    out = []
    for col in df.columns:
        if col in exclude or not _is_text(df[col]) or _as_dates(df[col]) is not None:
            continue
        k = df[col].nunique(dropna=True)
        if 2 <= k <= MAX_GROUPS and k < len(df):
            out.append(col)
    return out


def _layout(fig: go.Figure, title: str | None, **kw: Any) -> go.Figure:
    fig.update_layout(title=title, height=kw.pop("height", 400),
                      margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10}, **kw)
    return fig


def heatmap_chart(df: pd.DataFrame, *, title: str | None = None) -> go.Figure | None:
    """A square matrix (first column = row labels, equal to the other columns' names; or no
    label column at all) as a heatmap with a diverging scale; -1..1 for correlations."""
    import numpy as np
    import plotly.graph_objects as go

    if df is None or df.empty or len(df.columns) < 2:
        return None
    first = df.columns[0]
    if _is_text(df[first]):
        labels, body = df[first].astype(str).tolist(), df.drop(columns=[first])
    else:
        labels, body = [str(c) for c in df.columns], df
    cols = [str(c) for c in body.columns]
    if len(cols) < 2 or len(body) != len(cols) or not all(_is_num(body[c]) for c in body.columns):
        return None
    if set(labels) != set(cols):
        return None
    z = body.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = z[np.isfinite(z)]
    if not finite.size:
        return None
    corr = bool(finite.min() >= -1 and finite.max() <= 1)
    lim = 1.0 if corr else float(np.abs(finite).max()) or 1.0
    fig = go.Figure(go.Heatmap(z=z, x=cols, y=labels, colorscale="RdBu", reversescale=True,
                               zmin=-lim, zmax=lim, zmid=0, texttemplate="%{z:.2f}",
                               hovertemplate="%{y} / %{x}: %{z:.4f}<extra></extra>"))
    return _layout(fig, title, yaxis={"autorange": "reversed"}, xaxis={"side": "bottom"},
                   height=max(320, min(700, 60 * len(cols) + 120)))


def histogram_chart(df: pd.DataFrame, value: str, group: str | None = None, *,
                    title: str | None = None) -> go.Figure:
    """Overlaid histograms of ``value``, one per ``group`` value."""
    import pandas as pd
    import plotly.graph_objects as go

    values = pd.to_numeric(df[value], errors="coerce")
    axis_title = str(value)
    if _is_fraction_of_returns(str(value), values):  # the static chart shows returns in %
        values, axis_title = values * 100, f"{value} (%)"
    parts = [(str(value), values)] if group is None else \
        [(str(g), v) for g, v in values.groupby(df[group].astype(str), sort=False)]
    fig = go.Figure()
    lo, hi = values.min(), values.max()
    # the same bins for every group, else a wide series gets wider bars and looks taller
    bins = {"start": float(lo), "end": float(hi), "size": float(hi - lo) / 60} \
        if pd.notna(lo) and hi > lo else None
    for i, (name, v) in enumerate(parts):
        fig.add_trace(go.Histogram(x=v.dropna().to_numpy(), name=name, opacity=0.55,
                                   xbins=bins,
                                   marker={"color": PALETTE[i % len(PALETTE)]}))
    # the legend goes below the plot: above it, it covered the toolbar
    return _layout(fig, title, barmode="overlay", xaxis={"title": axis_title},
                   yaxis={"title": "count"}, legend={"orientation": "h", "y": -0.18,
                                                     "yanchor": "top", "x": 0})


def _is_fraction_of_returns(name: str, values: pd.Series) -> bool:
    """A returns column written as fractions (0.012 for 1.2 %), as the agent's recipes
    write them; their PNGs draw them in percent."""
    import re

    if not re.search(r"(^|_|\b)(ret|return|returns)(_|\b|$)", name, re.I) or "pct" in name.lower():
        return False
    finite = values.dropna()
    return not finite.empty and float(finite.abs().max()) < 1.0


def grouped_lines_chart(df: pd.DataFrame, x: str, group: str, values: Sequence[str], *,
                        dates: pd.Series | None = None, max_points: int = MAX_POINTS,
                        title: str | None = None) -> go.Figure:
    """One line per ``group`` value (and per value column when there are several),
    each downsampled for display like :func:`price_chart`."""
    import pandas as pd
    import plotly.graph_objects as go

    xs = dates if dates is not None else df[x]
    fig = go.Figure()
    points_in = points_shown = i = 0
    for g, idx in df.groupby(df[group].astype(str), sort=False).groups.items():
        part_x = xs.loc[idx]
        order = part_x.sort_values(kind="stable").index
        for col in values:
            y = pd.to_numeric(df.loc[order, col], errors="coerce")
            px, py, n = _xy(part_x.loc[order].reset_index(drop=True), y.reset_index(drop=True),
                            max_points)
            points_in += n
            points_shown += len(py)
            name = str(g) if len(values) == 1 else f"{g} {col}"
            fig.add_trace(go.Scattergl(x=px, y=py, mode="lines", name=name,
                                       line={"color": PALETTE[i % len(PALETTE)]}))
            i += 1
    return _layout(fig, title, hovermode="x unified", xaxis={"title": str(x)},
                   yaxis={"title": str(values[0]) if len(values) == 1 else None},
                   legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"},
                   meta={"points_in": points_in, "points_shown": points_shown,
                         "downsampled": points_shown < points_in})


def grouped_bar_chart(df: pd.DataFrame, label: str, *,
                      title: str | None = None) -> go.Figure | None:
    """Bars of a few labelled rows (``label`` = text first column), one trace per numeric
    column. Counts are left out; ``*_pct`` columns (one unit, one axis) are preferred whenever there
    are any; otherwise None when the columns' scales differ too much to share an axis."""
    import re

    import numpy as np
    import pandas as pd
    import plotly.graph_objects as go

    rows = df[~df[label].astype(str).str.lower().isin(_COUNT_NAMES)]
    num = [c for c in rows.columns if c != label and _is_num(rows[c]) and not _is_count(c)]
    pct = [c for c in num if re.search(r"pct|percent|%", str(c), re.I)]
    cols = pct or num  # percentages share an axis; prices or counts beside them would dwarf them
    if not cols or rows.empty:
        return None
    peaks = [float(np.nanmax(np.abs(pd.to_numeric(rows[c], errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan)))) for c in cols]
    nonzero = [p for p in peaks if np.isfinite(p) and p > 0]
    if not nonzero or (cols is not pct and max(nonzero) / min(nonzero) > 1000):
        return None
    fig = go.Figure()
    for i, col in enumerate(cols):
        fig.add_trace(go.Bar(x=rows[label].astype(str).to_numpy(), y=rows[col].to_numpy(),
                             name=str(col), marker={"color": PALETTE[i % len(PALETTE)]}))
    return _layout(fig, title, barmode="group", xaxis={"title": str(label)},
                   legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"})


def quick_chart(df: pd.DataFrame, *, name: str | None = None, max_points: int = MAX_POINTS,
                title: str | None = None) -> go.Figure | None:
    """The chart that fits a table's shape, or None when unsure (no chart beats a wrong one).

    In order: a square matrix labelled by its own columns -> heatmap; a file named
    ``*histogram*`` or a ``return(s)`` column without a date axis -> histogram per group;
    dates that repeat across a small category column (ticker, region) -> one line per group;
    a date or numeric x that only goes one way -> lines of the numeric columns; a numeric
    column over a category with several rows each -> box plot; a few rows labelled by a text
    first column -> grouped bars."""
    import re


    if df is None or df.empty or len(df.columns) < 2:
        return None
    fig = heatmap_chart(df, title=title)
    if fig is not None:
        return fig
    axis = _date_axis(df)
    cats = _categories(df, exclude=[axis[0]] if axis else [])
    num = [c for c in df.columns if _is_num(df[c])]
    if not num:
        return None
    ret = next((c for c in num if re.search(r"(^|_|\b)(log_?)?returns?($|_|\b)", str(c), re.I)),
               None)
    named_hist = bool(name and re.search(r"hist", str(name), re.I))
    if (named_hist or (ret is not None and axis is None)) and len(df) >= 20:
        value = ret if ret is not None else num[0]
        return histogram_chart(df, value, cats[0] if cats else None, title=title)
    if axis is not None:
        xcol, dates = axis
        if cats and dates.duplicated().any():
            group = cats[0]
            values = [c for c in num if re.search(r"close|price|value|normali[sz]", str(c), re.I)]
            values = values[:1] or num
            if df[group].nunique() * len(values) > MAX_GROUPS:
                values = values[:1]
            return grouped_lines_chart(df, xcol, group, values, dates=dates,
                                       max_points=max_points, title=title)
        if dates.is_unique and (dates.dropna().is_monotonic_increasing
                                or dates.dropna().is_monotonic_decreasing):
            lines = [c for c in num if c != xcol]
            # volume is counted in shares, prices in currency: on one axis the prices of an
            # OHLCV table are a flat line at zero, so volume is left out beside prices
            priced = [c for c in lines if not re.search(r"^vol(ume)?\.?$|_volume$", str(c), re.I)]
            return numeric_quick_chart(df[[xcol] + (priced or lines)].assign(
                **{str(xcol): dates}), max_points=max_points, title=title)
        return None
    first = df.columns[0]
    if _is_num(df[first]) and len(num) > 1:
        x = df[first]
        if x.is_unique and (x.is_monotonic_increasing or x.is_monotonic_decreasing):
            return numeric_quick_chart(df[num], max_points=max_points, title=title)
    for group in cats:
        if len(df) / df[group].nunique() >= 3:
            value = next((c for c in num if not re.search(r"(^|_)id$", str(c), re.I)), None)
            if value is not None:
                return box_plot(df, group, value, title=title)
    if _is_text(df[first]) and df[first].is_unique and len(df) <= MAX_BAR_ROWS:
        return grouped_bar_chart(df, first, title=title)
    return None
