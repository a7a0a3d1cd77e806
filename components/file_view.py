"""Shows a file the agent returned, by what its bytes really are.

Images with ``st.image`` (and a full-size view), tables with ``st.dataframe``
plus a quick chart, text/JSON with ``st.code``, safe SVG inline; anything else
as a download. Every file has a download button. A file whose bytes do not
match its claimed type is never shown as that type, and the user is told.
Where a PNG chart came back with the data behind it (same stem, e.g.
``moving_average.png`` + ``moving_average.csv``), an interactive version sits
beside the PNG with its own controls (moving-average window, series).
"""
from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import PurePath
from typing import Any

import streamlit as st

from agent_core.files import ReturnedFile

MAX_TEXT_CHARS = 200_000


def _stem(name: str) -> str:
    return PurePath(name).stem.lower()


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    return f"{n / 1024:.0f} KB" if n < 1024 * 1024 else f"{n / (1024 * 1024):.1f} MB"


def read_table(f: ReturnedFile):
    """A DataFrame from a table file (CSV/TSV/XLSX/Parquet by its bytes), or raise ValueError."""
    import pandas as pd  # noqa: PLC0415

    mt = f.media_type
    buf = io.BytesIO(f.data)
    try:
        if mt == "application/vnd.apache.parquet":
            return pd.read_parquet(buf)
        if mt.startswith("application/vnd.openxmlformats"):
            return pd.read_excel(buf)
        sep = "\t" if mt == "text/tab-separated-values" or f.name.lower().endswith(".tsv") else None
        return pd.read_csv(buf, sep=sep, engine="python" if sep is None else "c")
    except Exception as exc:  # noqa: BLE001 - any reader failure means "not a readable table"
        raise ValueError(f"{f.name} could not be read as a table ({type(exc).__name__}).") from None


def _mismatch_note(f: ReturnedFile) -> None:
    if f.type_mismatch:
        st.warning(
            f"{f.name} claims to be {f.declared_type or 'unknown'} but its content is "
            f"{f.sniffed_type}; it is shown as what it really is.", icon=":material/warning:")


@st.dialog("Full size", width="large")
def _full_size(name: str, data: bytes) -> None:
    st.image(data, caption=name, width="content")


def _download(f: ReturnedFile, key: str) -> None:
    st.download_button(f"Download {f.name} ({_size(f.size)})", data=f.data, file_name=f.name,
                       mime=f.media_type if not f.is_svg or f.is_safe_svg else "application/octet-stream",
                       key=f"{key}_dl", icon=":material/download:")


def render_file(f: ReturnedFile, *, key: str) -> None:
    """Show one file by its real type; always with a download button."""
    st.markdown(f"**{f.name}**")
    _mismatch_note(f)
    if f.is_image:
        st.image(f.data, caption=f.name, width="content")
        if st.button("Open full size", key=f"{key}_full", icon=":material/open_in_full:"):
            _full_size(f.name, f.data)
    elif f.is_table:
        try:
            df = read_table(f)
        except ValueError as exc:
            st.info(f"{exc} Download it to open it elsewhere.")
        else:
            st.dataframe(df, width="stretch", height=min(400, 38 + 35 * min(len(df), 10)))
            _quick_chart(df, key, f.name)
    elif f.is_svg:
        if f.is_safe_svg:
            st.image(f.data.decode("utf-8", "replace"), caption=f.name)
        else:
            st.warning(f"{f.name} is an SVG with scripts or links in it, so it is not displayed. "
                       "Download it only if you trust it.", icon=":material/gpp_maybe:")
    elif f.is_text:
        text = f.data.decode("utf-8", "replace")
        lang = "json" if f.sniffed_type == "application/json" else None
        if len(text) > MAX_TEXT_CHARS:
            st.caption(f"Showing the first {MAX_TEXT_CHARS:,} characters; download for the rest.")
            text = text[:MAX_TEXT_CHARS]
        st.code(text, language=lang)
    else:
        st.caption(f"{f.media_type}, {_size(f.size)}: not shown here; download to open it.")
    _download(f, key)


def _quick_chart(df, key: str, name: str | None = None) -> None:
    """The chart that fits the table's shape (components.charts.quick_chart), or none."""
    try:
        from components.charts import quick_chart  # noqa: PLC0415
    except ImportError:
        return
    try:
        fig = quick_chart(df, name=name)
    except Exception:  # noqa: BLE001 - a chart is a bonus; the table is already shown
        return
    if fig is not None:
        st.plotly_chart(fig, key=f"{key}_quick", width="stretch")


def pair_charts(files: Sequence[ReturnedFile]) -> list[tuple[ReturnedFile, ReturnedFile | None]]:
    """Each file once, in order; a PNG is paired with the table of the same stem, which is
    then not listed on its own."""
    tables = {_stem(f.name): f for f in files if f.is_table}
    partner = {id(f): tables[_stem(f.name)] for f in files
               if f.is_image and _stem(f.name) in tables}
    taken = {id(t) for t in partner.values()}
    return [(f, partner.get(id(f))) for f in files if id(f) not in taken]


def render_files(files: Sequence[ReturnedFile], *, key: str) -> None:
    """All returned files; a chart PNG with its data CSV side by side, interactive."""
    if not files:
        return
    st.markdown(f"**Files returned** ({len(files)})")
    for i, (f, data) in enumerate(pair_charts(files)):
        k = f"{key}_{i}"
        with st.container(border=True):
            if data is None:
                render_file(f, key=k)
                continue
            left, right = st.columns(2)
            with left:
                render_file(f, key=k)
            with right:
                render_interactive(data, key=f"{k}_data")


def render_interactive(table: ReturnedFile, *, key: str) -> None:
    """The data behind a chart, as an interactive price chart with its own controls."""
    st.markdown(f"**Interactive: {table.name}**")
    try:
        df = read_table(table)
    except ValueError as exc:
        st.info(str(exc))
        _download(table, key)
        return
    long = to_long_prices(df)
    if long is None:
        st.dataframe(df, width="stretch", height=min(250, 38 + 35 * min(len(df), 10)))
        _quick_chart(df, key, table.name)
        _download(table, key)
        return
    tickers = sorted(long["ticker"].unique().tolist())
    window = st.number_input("Moving-average window (days)", min_value=2, max_value=400,
                             value=guess_window(df), step=1, key=f"{key}_win")
    chosen = st.multiselect("Series", tickers, default=tickers[:5], key=f"{key}_series",
                            help="Pick the series to draw; click a legend entry to hide one.")
    view = long[long["ticker"].isin(chosen)] if chosen else long
    try:
        from components.charts import price_chart  # noqa: PLC0415

        fig = price_chart(view, ma_windows=(int(window),),
                          colors=_blue_red_colours(sorted(view["ticker"].unique()), int(window)))
    except Exception:  # noqa: BLE001 - fall back to a plain plotly chart
        fig = _fallback_price_chart(view, int(window))
    st.plotly_chart(fig, key=f"{key}_chart", width="stretch")
    with st.expander("Data", expanded=False):
        st.dataframe(df, width="stretch", height=250)
    _download(table, key)


def guess_window(df) -> int:
    import re  # noqa: PLC0415

    for col in df.columns:
        m = re.search(r"(\d{1,3})", str(col))
        if m and re.search(r"ma|mean|avg|moving|sma|rolling", str(col), re.I):
            return max(2, int(m.group(1)))
    return 20


def to_long_prices(df) -> Any:
    """``date, ticker, price`` from a chart's data table (a date column plus one or more
    numeric columns; moving-average columns are dropped: the chart recomputes them). A long
    table (``date, ticker, <close|price|value|normalised>``) is taken as is; a long table of
    returns, drawdown or volatility gives None: it is not a price to average."""
    import re  # noqa: PLC0415

    import pandas as pd  # noqa: PLC0415

    if df is None or df.empty:
        return None
    date_col = None
    for col in df.columns:
        if re.search(r"date|time|day", str(col), re.I):
            date_col = col
            break
    if date_col is None:
        return None
    dates = pd.to_datetime(df[date_col], errors="coerce")
    if dates.notna().mean() < 0.8:
        return None
    cols = [c for c in df.columns if c != date_col]
    if "ticker" in [str(c).lower() for c in cols]:
        tcol = next(c for c in cols if str(c).lower() == "ticker")
        pcol = next((c for c in cols if re.search(r"close|price|value|normali[sz]", str(c), re.I)
                     and pd.api.types.is_numeric_dtype(df[c])), None)
        if pcol is None:
            return None
        out = pd.DataFrame({"date": dates, "ticker": df[tcol].astype(str), "price": df[pcol]})
    else:
        num = [c for c in cols if pd.api.types.is_numeric_dtype(df[c])
               and not re.search(r"(^|_|\b)(ma|sma|ema|mean|avg|rolling|moving)", str(c), re.I)]
        if not num:
            return None
        wide = df[num].copy()
        wide.insert(0, "date", dates)
        out = wide.melt(id_vars="date", var_name="ticker", value_name="price")
        out["ticker"] = out["ticker"].astype(str)
    return out.dropna(subset=["date", "price"]).sort_values(["ticker", "date"])


_BLUES = ("#1f4e9c", "#4f8fd6", "#0b2a5b", "#7fb2e5", "#2c6e9e")
_REDS = ("#d62728", "#f08080", "#8b0000", "#ff6347", "#b22222")


def _blue_red_colours(tickers: list[str], window: int) -> dict[str, str]:
    """The agent's colours (price in blue, moving average in red), one shade per ticker
    so that several tickers can still be told apart."""
    colours: dict[str, str] = {}
    for i, ticker in enumerate(tickers):
        colours[str(ticker)] = _BLUES[i % len(_BLUES)]
        colours[f"{ticker} MA {window}"] = _REDS[i % len(_REDS)]
    return colours


def _fallback_price_chart(long_df, window: int):
    import plotly.graph_objects as go  # noqa: PLC0415

    fig = go.Figure()
    for ticker, g in long_df.groupby("ticker"):
        fig.add_scatter(x=g["date"], y=g["price"], name=f"{ticker}", line={"color": "blue"})
        fig.add_scatter(x=g["date"], y=g["price"].rolling(window).mean(),
                        name=f"{ticker} MA {window}", line={"color": "red"})
    fig.update_layout(hovermode="x unified", margin={"t": 30, "b": 10},
                      xaxis={"rangeslider": {"visible": True}})
    return fig
