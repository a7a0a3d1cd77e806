"""Renders a :class:`agent_core.prices.PriceReport`: the verdict, what was detected, the
problems in words, and a preview table with column formats."""
from __future__ import annotations

from typing import Any

import streamlit as st

from agent_core.prices import PriceReport, describe
from agent_core.safe_text import neutralise_markdown

PREVIEW_ROWS = 1000
_VOLUME = ("volume", "vol", "qty", "quantity", "shares")


def _date(ts: Any) -> str:
    try:
        return ts.strftime("%Y-%m-%d") if not (ts.hour or ts.minute) else ts.strftime(
            "%Y-%m-%d %H:%M")
    except Exception:  # noqa: BLE001 - NaT or an out-of-range year
        return str(ts)


def detected_rows(report: PriceReport) -> list[tuple[str, str]]:
    """What was detected, as (label, value) pairs (plain data, easy to test)."""
    tickers = ", ".join(report.tickers[:12]) + (f" (+{len(report.tickers) - 12} more)"
                                                 if len(report.tickers) > 12 else "")
    fmt = (report.file_format or "?").upper()
    if report.file_format == "csv":
        sep = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}.get(
            report.delimiter or ",", repr(report.delimiter))
        fmt += f" ({sep}-separated, {report.encoding}"
        fmt += ", decimal comma)" if report.decimal == "," else ")"
    return [
        ("Layout", {"long": "long (one row per ticker and date)",
                    "wide": "wide (one column per ticker)",
                    "ohlc": "OHLC (open/high/low/close)",
                    "single": "single price series"}.get(report.layout or "", str(report.layout))),
        ("Date column", str(report.date_column)),
        ("Tickers", tickers or "-"),
        ("Price columns", ", ".join(report.price_columns)),
        ("Rows", f"{report.rows:,}"),
        ("Date range", f"{_date(report.start)} to {_date(report.end)}"),
        ("Read as", fmt),
    ]


def render_verdict(report: PriceReport) -> None:
    """st.error / st.warning / st.success with the one-line verdict and every problem."""
    if report.error:
        st.error(f"**This file can't be used.** {neutralise_markdown(report.error)}", icon=":material/error:")
        return
    # problems quote cells of the file: never Markdown (a cell could hold a remote image)
    problems = "".join(f"\n- {neutralise_markdown(p)}" for p in report.problems)
    if report.problems:
        st.warning(f"**Usable, with {len(report.problems)} thing"
                   f"{'s' if len(report.problems) != 1 else ''} to check.** "
                   f"{neutralise_markdown(describe(report))}"
                   f"{problems}", icon=":material/warning:")
    else:
        st.success(f"**Ready.** {neutralise_markdown(describe(report))}", icon=":material/check_circle:")
    rows = detected_rows(report)
    st.table({"Detected": [k for k, _ in rows], "Value": [neutralise_markdown(str(v)) for _, v in rows]},
             hide_index=True, hide_header=True)


def column_config(report: PriceReport) -> dict[str, Any]:
    """Column formats for the preview: dates as dates, prices with 2 decimals, volume as integers."""
    cfg: dict[str, Any] = {}
    if report.date_column:
        cfg[report.date_column] = st.column_config.DatetimeColumn(
            report.date_column, format="YYYY-MM-DD" if _all_midnight(report) else
            "YYYY-MM-DD HH:mm")
    if report.ticker_column:
        cfg[report.ticker_column] = st.column_config.TextColumn(report.ticker_column)
    for col in report.price_columns:
        if col.strip().lower() in _VOLUME:
            cfg[col] = st.column_config.NumberColumn(col, format="localized")
        else:
            cfg[col] = st.column_config.NumberColumn(col, format="%.2f")
    return cfg


def _all_midnight(report: PriceReport) -> bool:
    frame = report.frame
    if frame is None or not report.date_column:
        return True
    s = frame[report.date_column].head(5000)
    try:
        return bool((s.dt.normalize() == s).all())
    except AttributeError:
        return True


def render_preview(report: PriceReport, *, key: str | None = None) -> None:
    """The first rows of the tidy table with column formats."""
    if report.frame is None:
        return
    frame = report.frame
    shown = frame.head(PREVIEW_ROWS)
    st.dataframe(shown, column_config=column_config(report), hide_index=True, height=320,
                 key=key, width="stretch")
    if len(frame) > len(shown):
        st.caption(f"Showing the first {len(shown):,} of {len(frame):,} rows (sorted by date). "
                   "The whole file goes to the agent.")
