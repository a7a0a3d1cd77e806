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

from collections.abc import Sequence
from pathlib import PurePath
from typing import Any

import streamlit as st

from agent_core.files import ReturnedFile
from agent_core.safe_text import code_span, neutralise_markdown

MAX_TEXT_CHARS = 200_000


def stem(name: str) -> str:
    """A file's name without its extension, lower case (a chart PNG and its data CSV share it)."""
    return PurePath(name).stem.lower()


_stem = stem


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    return f"{n / 1024:.0f} KB" if n < 1024 * 1024 else f"{n / (1024 * 1024):.1f} MB"


def read_table(f: ReturnedFile):
    """Every column of a returned table (dates parsed where the reader found them), read by
    the one reader (:func:`agent_core.tables.read_table`); ValueError when it is no table."""
    result = _read(f)
    if result.raw is None:
        raise ValueError(f"{f.name} could not be read as a table. {result.profile.error or ''}".strip())
    return result.raw


def _read(f: ReturnedFile):
    from agent_core.tables import read_table as read  # noqa: PLC0415

    return read(f.name, f.data)


def _mismatch_note(f: ReturnedFile) -> None:
    if f.type_mismatch:
        st.warning(
            f"{code_span(f.name)} claims to be {f.declared_type or 'unknown'} but its content is "
            f"{f.sniffed_type}; it is shown as what it really is.", icon=":material/warning:")


@st.dialog("Full size", width="large")
def _full_size(name: str, data: bytes) -> None:
    st.image(data, caption=neutralise_markdown(name), width="content")


def image_problem(data: bytes) -> str | None:
    """Why these image bytes cannot be drawn (None when they can): PIL, which ``st.image``
    uses, must identify and verify them; a damaged or truncated file would otherwise end
    the page in a traceback."""
    import io  # noqa: PLC0415

    from PIL import Image  # noqa: PLC0415  (Streamlit's own dependency)

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
    except Exception as exc:  # noqa: BLE001 - outer edge: PIL raises many kinds for a damaged file
        return f"{type(exc).__name__}: {str(exc)[:120]}"
    return None


def _image(f: ReturnedFile, key: str) -> None:
    problem = image_problem(f.data)
    if problem is not None:
        st.warning(f"{code_span(f.name)} looks like an image ({f.media_type}) but cannot be drawn: the "
                   "file is damaged or truncated. Download it to inspect it, or ask the agent to "
                   "save the chart again.", icon=":material/broken_image:")
        return
    st.image(f.data, caption=neutralise_markdown(f.name), width="content")
    if st.button("Open full size", key=f"{key}_full", icon=":material/open_in_full:"):
        _full_size(f.name, f.data)


def formula_guard(f: ReturnedFile, key: str) -> None:
    """A CSV with cells a spreadsheet would run as formulas: say so, offer a safe copy."""
    if f.media_type not in ("text/csv", "text/tab-separated-values"):
        return
    from agent_core.csv_safety import safe_copy_name, scan, spreadsheet_safe  # noqa: PLC0415

    found = scan(f.data)
    if not found.cells:
        return
    examples = ", ".join(code_span(e) for e in found.examples)
    st.warning(f"{found.cells:,} cell(s) of {code_span(f.name)} start with =, +, - or @ (e.g. {examples}): "
               "a spreadsheet may run them as formulas. To open it in Excel or Sheets, download "
               "the spreadsheet-safe copy (those cells marked as text with a leading ').",
               icon=":material/warning:")
    st.download_button(f"Download spreadsheet-safe copy of {neutralise_markdown(f.name)}",
                       data=spreadsheet_safe(f.data), file_name=safe_copy_name(f.name),
                       mime=f.media_type, key=f"{key}_safe_dl", icon=":material/shield:")


def _download(f: ReturnedFile, key: str) -> None:
    # button labels render Markdown, images included: the name is neutralised
    st.download_button(f"Download {neutralise_markdown(f.name)} ({_size(f.size)})", data=f.data,
                       file_name=f.name,
                       mime=f.media_type if not f.is_svg or f.is_safe_svg else "application/octet-stream",
                       key=f"{key}_dl", icon=":material/download:")
    formula_guard(f, key)


def render_file(f: ReturnedFile, *, key: str) -> None:
    """Show one file by its real type; always with a download button."""
    st.markdown(f"**{neutralise_markdown(f.name)}**")
    _mismatch_note(f)
    if f.is_image:
        _image(f, key)
    elif f.is_table:
        try:
            df = read_table(f)
        except ValueError as exc:
            st.info(neutralise_markdown(f"{exc} Download it to open it elsewhere."))
        else:
            st.dataframe(df, width="stretch", height=min(400, 38 + 35 * min(len(df), 10)),
                         column_config=date_formats(df))
            _quick_chart(df, key, f.name)
    elif f.is_svg:
        if f.is_safe_svg:
            st.image(f.data.decode("utf-8", "replace"), caption=neutralise_markdown(f.name))
        else:
            st.warning(f"{code_span(f.name)} is an SVG with scripts or links in it, so it is not displayed. "
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


def date_formats(df) -> dict[str, Any]:
    """Dates without a time of day shown as dates: the reader parses a table's date column, and
    the grid showed it as '2023-01-02 00:00:00' beside the file's other dates ('2023-12-29')."""
    import pandas as pd  # noqa: PLC0415

    out: dict[str, Any] = {}
    for col in df.columns:
        s = df[col]
        if (pd.api.types.is_datetime64_any_dtype(s) and getattr(s.dt, "tz", None) is None
                and (s.dropna() == s.dropna().dt.normalize()).all()):
            out[str(col)] = st.column_config.DatetimeColumn(format="YYYY-MM-DD")
    return out


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
    """The data behind a chart, as an interactive chart with its own controls. Its controls
    live in a fragment: changing one chart's window reruns that chart only."""
    st.markdown(f"**Interactive:** {code_span(table.name)}")
    _interactive_fragment(table, key)


@st.cache_data(show_spinner=False, max_entries=256)
def _twin_data(digest: str, _table: ReturnedFile) -> tuple[Any, Any, int, str]:
    """The table, its long prices (or None), the window its columns suggest and the unit of
    that window; read once per file content (finished turns are drawn again on every rerun)."""
    result = _read(_table)
    df = result.raw
    if df is None:
        raise ValueError(f"{code_span(_table.name)} could not be read as a table.")
    return df, to_long_prices(result), guess_window(df), window_unit(result.profile)


@st.cache_data(show_spinner=False, max_entries=256)
def _twin_figure(digest: str, window: int, tickers: tuple[str, ...], unit: str, _long: Any) -> Any:
    return build_twin_figure(_long, window, tickers, unit)


def build_twin_figure(long: Any, window: int, tickers: tuple[str, ...], unit: str = "days") -> Any:
    """The figure builder of the interactive twin (cached per file, window and panels);
    ``unit``: :func:`window_unit` of the table (its panels say "20-month average")."""
    from components.charts import panel_price_chart  # noqa: PLC0415

    period = unit.split()[-1]
    return panel_price_chart(long, tickers, window=window,
                             period=period[:-1] if period.endswith("s") else period)


@st.fragment
def _interactive_fragment(table: ReturnedFile, key: str) -> None:
    import hashlib  # noqa: PLC0415

    from components.charts import MAX_PANELS  # noqa: PLC0415

    digest = hashlib.sha256(table.data).hexdigest()
    try:
        df, long, window_guess, unit = _twin_data(digest, table)
    except ValueError as exc:
        st.info(str(exc))
        _download(table, key)
        return
    if long is None:
        st.dataframe(df, width="stretch", height=min(250, 38 + 35 * min(len(df), 10)),
                     column_config=date_formats(df))
        _quick_chart(df, key, table.name)
        _download(table, key)
        return
    tickers = sorted(long["ticker"].astype(str).unique().tolist())
    window = st.number_input(f"Moving-average window ({unit})", min_value=2,
                             max_value=400, value=window_guess, step=1, key=f"{key}_win")
    chosen = tickers
    if len(tickers) > MAX_PANELS:
        chosen = st.multiselect(f"Series (up to {MAX_PANELS} panels)", tickers,
                                default=tickers[:MAX_PANELS], max_selections=MAX_PANELS,
                                key=f"{key}_series", help="Pick the series to draw, one panel each.")
        left_out = [t for t in tickers if t not in chosen]
        if left_out:
            st.caption("Not drawn: " + neutralise_markdown(", ".join(left_out))
                       + ". Pick them above to see them.")
    fig = _twin_figure(digest, int(window), tuple(chosen), unit, long)
    st.plotly_chart(fig, key=f"{key}_chart", width="stretch")
    with st.expander("Data", expanded=False):
        st.dataframe(df, width="stretch", height=250, column_config=date_formats(df))
    _download(table, key)


def window_unit(profile) -> str:
    """What one step of a rolling window is on this table's rows: 20 months of a monthly
    table are not '20 days'."""
    kind = profile.frequency.kind
    units = {"trading-daily": "days", "calendar-daily": "days", "weekly": "weeks",
             "monthly": "months", "quarterly": "quarters", "yearly": "years"}
    if kind == "intraday":
        return f"{profile.frequency.bar} bars" if profile.frequency.bar else "bars"
    return units.get(kind, "rows")


def guess_window(df) -> int:
    import re  # noqa: PLC0415

    for col in df.columns:
        m = re.search(r"(\d{1,3})", str(col))
        if m and re.search(r"ma|mean|avg|moving|sma|rolling", str(col), re.I):
            return max(2, int(m.group(1)))
    return 20


def to_long_prices(result) -> Any:
    """``date, ticker, price`` from a chart's data table, as the one reader sees it (a
    :class:`agent_core.tables.TableRead`): the value column per ticker; moving averages,
    returns, drawdowns and volatility are not prices (None when nothing else is left)."""
    from agent_core.tables import to_long  # noqa: PLC0415

    if not result.ok:
        return None
    long = to_long(result.profile, result.frame)
    if result.profile.tickers_from == "file name":  # a returned file is named by the agent, not the
        long["ticker"] = str(result.profile.value_column)  # instrument: the column names the series
    if long.empty or long.groupby("ticker").size().max() < 3:
        # one date per ticker (a drawdown answer: ticker, n_prices, trough_date) is a summary
        # whose count would be drawn as a "price" of one point: no series, no price chart
        return None
    return long.sort_values(["ticker", "date"], kind="stable")


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
