"""Interactive charts of plain tables (plotly). Pure functions returning figures: no
Streamlit, no agent calls, so they are unit-testable and reusable on any page.

Big series are downsampled for display only (tsdownsample's MinMaxLTTB keeps the
shape, peaks and troughs); the data passed in is never modified. Each figure's
``layout.meta`` says how many points came in and how many are drawn.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd
    import plotly.graph_objects as go

PALETTE = ("#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#d62728")
MA_PALETTE = ("#d62728", "#ff7f0e", "#8c564b", "#e377c2", "#bcbd22")
MAX_POINTS = 2000
OVERVIEW_POINTS = 300  # per series, drawn (as SVG) only in the range slider


def downsample_indices(x: "np.ndarray", y: "np.ndarray", n_out: int) -> "np.ndarray":
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


def _xy(dates: "pd.Series", values: "pd.Series", max_points: int) -> tuple[Any, Any, int]:
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


def price_chart(long_df: "pd.DataFrame", *, ma_windows: Iterable[int] = (),
                colors: Mapping[str, str] | Sequence[str] | None = None,
                max_points: int = MAX_POINTS, title: str | None = None) -> "go.Figure":
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


def _x_column(df: "pd.DataFrame") -> str | None:
    import pandas as pd

    for col in df.columns:
        if pd.api.types.is_datetime64_any_dtype(df[col]):
            return col
    for col in df.columns:
        lowered = str(col).lower()
        if any(k in lowered for k in ("date", "time", "day", "period", "month")):
            if pd.to_datetime(df[col], errors="coerce", format="mixed").notna().mean() > 0.8:
                return col
    return df.columns[0] if len(df.columns) else None


def numeric_quick_chart(df: "pd.DataFrame", *, max_points: int = MAX_POINTS,
                        title: str | None = None) -> "go.Figure | None":
    """Lines of a table's numeric columns against its date column (or first column).

    Returns None when the table has no numeric column to draw."""
    import pandas as pd
    import plotly.graph_objects as go

    if df is None or df.empty:
        return None
    xcol = _x_column(df)
    x_raw = df[xcol]
    is_date = pd.api.types.is_datetime64_any_dtype(x_raw)
    if not is_date and not pd.api.types.is_numeric_dtype(x_raw):
        parsed = pd.to_datetime(x_raw, errors="coerce", format="mixed")
        if parsed.notna().mean() > 0.8:
            x_raw, is_date = parsed, True
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
                      meta={"points_in": points_in, "points_shown": points_shown,
                            "downsampled": points_shown < points_in})
    return fig


def box_plot(df: "pd.DataFrame", x: str, y: str, *, title: str | None = None,
             colors: Mapping[str, str] | None = None) -> "go.Figure":
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
