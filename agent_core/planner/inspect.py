"""What an attached file holds, in the terms the code recipes need.

The layout, date column, tickers and price columns come from
:func:`agent_core.prices.read_price_file` (the same reader the upload page uses).
On top of that this module works out how *plain pandas* in the kernel must read
the file: the ``read_csv`` options, the ``to_datetime`` options that give the same
dates, which columns arrive as text and need cleaning. Those are fitted on the
first :data:`SAMPLE_ROWS` rows, as an analyst would look at ``df.head()``; when the
rest of the file disagrees, the strict plan fails and the lenient fallback runs.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

SAMPLE_ROWS = 2000

_ROLES = {"open": "open", "high": "high", "low": "low", "close": "close", "adj close": "adj_close",
          "adj_close": "adj_close", "adjclose": "adj_close", "adjusted close": "adj_close",
          "volume": "volume", "vol": "volume"}


@dataclass(frozen=True)
class TableInfo:
    """One attached price table, described for code generation."""

    name: str                                   # file name in the working folder
    file_format: str                            # csv | xlsx | parquet | json
    read_kwargs: tuple[tuple[str, Any], ...]    # extra options for pd.read_csv
    layout: str                                 # long | wide | ohlc | single
    date_column: str                            # column name after tidying the header
    date_unnamed: bool                          # the dates are an unnamed first column (an index)
    date_kwargs: tuple[tuple[str, Any], ...]    # options for pd.to_datetime
    ticker_column: str | None
    value_column: str | None                    # the price column (long / single / ohlc close)
    price_columns: tuple[str, ...]              # wide: one column per ticker
    ohlc: tuple[tuple[str, str], ...]           # (role, column): open, high, low, close, volume
    text_columns: tuple[str, ...]               # numeric columns that read as text: clean them
    tickers: tuple[str, ...]
    columns: tuple[str, ...]                    # every column (tidied names)
    numeric_columns: tuple[str, ...]
    rows: int
    start: str | None
    end: str | None
    text_dates: bool                            # dates written as text like 'Jan 1 2000'
    problems: tuple[str, ...] = ()
    date_example: str | None = None             # the first date as written in the file

    @property
    def has_ohlc(self) -> bool:
        roles = dict(self.ohlc)
        return all(r in roles for r in ("open", "high", "low")) and ("close" in roles or "adj_close" in roles)

    @property
    def has_volume(self) -> bool:
        return "volume" in dict(self.ohlc)

    def describe(self) -> str:
        what = {"long": "long layout (one row per ticker and date)",
                "wide": "wide layout (one column per ticker)",
                "ohlc": "OHLC" + ("V" if self.has_volume else "") + " layout (open/high/low/close"
                        + ("/volume" if self.has_volume else "") + ")",
                "single": "a single price column"}[self.layout]
        more = f" and {len(self.tickers) - 6} more" if len(self.tickers) > 6 else ""
        tick = ", ".join(self.tickers[:6]) + more
        span = f", {self.start} to {self.end}" if self.start and self.end else ""
        return f"{self.name}: {what}, {self.rows:,} rows, dates in '{self.date_column}'{span}, tickers {tick}"


class NotAPriceTable(ValueError):
    """The file cannot be read as prices; the message says why and what to do."""


def inspect_file(name: str, data: bytes) -> TableInfo:
    from agent_core.prices import read_price_file

    report = read_price_file(name, data)
    if not report.ok:
        raise NotAPriceTable(report.error or f"{name} could not be read as a price table.")
    fmt = report.file_format or "csv"
    read_kwargs: list[tuple[str, Any]] = []
    if fmt == "csv":
        if report.delimiter and report.delimiter != ",":
            read_kwargs.append(("sep", report.delimiter))
        if report.decimal == ",":
            read_kwargs.append(("decimal", ","))
        if report.encoding and report.encoding not in ("utf-8", "utf-8-sig"):
            read_kwargs.append(("encoding", report.encoding))
    sample = _sample(fmt, data, dict(read_kwargs))
    date_col = report.date_column or "date"
    date_unnamed = False
    if sample is not None:
        first = str(sample.columns[0]) if len(sample.columns) else ""
        if date_col == "index" and (first == "" or first.lower().startswith("unnamed")):
            date_unnamed = True
            sample = sample.rename(columns={sample.columns[0]: "date"})
            date_col = "date"
    numeric = tuple(report.price_columns) + tuple(
        c for c in _numeric_names(report) if c not in report.price_columns)
    text_cols: list[str] = []
    if sample is not None:
        import pandas as pd

        for c in numeric:
            if c in sample.columns and not pd.api.types.is_numeric_dtype(sample[c]):
                text_cols.append(c)
    ohlc: list[tuple[str, str]] = []
    for c in numeric:
        role = _ROLES.get(re.sub(r"[\s_]+", " ", c.strip().lower()))
        if role and role not in dict(ohlc):
            ohlc.append((role, c))
    date_kwargs, text_dates = _date_kwargs(sample, date_col, report)
    return TableInfo(
        name=name, file_format=fmt, read_kwargs=tuple(read_kwargs), layout=report.layout or "wide",
        date_column=date_col, date_unnamed=date_unnamed, date_kwargs=date_kwargs,
        ticker_column=report.ticker_column, value_column=report.value_column,
        price_columns=tuple(report.price_columns), ohlc=tuple(ohlc), text_columns=tuple(text_cols),
        tickers=tuple(report.tickers),
        columns=tuple(map(str, report.frame.columns if report.frame is not None else ())),
        numeric_columns=numeric, rows=report.rows, start=_day(report.start), end=_day(report.end),
        text_dates=text_dates, problems=tuple(report.problems),
        date_example=_first_text(sample, date_col),
    )


def _first_text(sample, col: str) -> str | None:
    if sample is None or col not in sample.columns:
        return None
    values = sample[col].dropna()
    return str(values.iloc[0]).strip()[:40] if len(values) else None


def _numeric_names(report: Any) -> list[str]:
    import pandas as pd

    frame = report.frame
    skip = {report.date_column, report.ticker_column}
    return [str(c) for c in frame.columns if c not in skip and pd.api.types.is_numeric_dtype(frame[c])]


def _sample(fmt: str, data: bytes, kwargs: dict[str, Any]):
    """The first rows as the kernel's plain pandas call will see them (tidied header)."""
    import pandas as pd

    try:
        if fmt == "csv":
            df = pd.read_csv(io.BytesIO(data), nrows=SAMPLE_ROWS, **kwargs)
        elif fmt == "xlsx":
            df = pd.read_excel(io.BytesIO(data), nrows=SAMPLE_ROWS)
        else:
            return None
    except Exception:  # noqa: BLE001 - the recipes then use the lenient reading
        return None
    df.columns = [str(c).strip() for c in df.columns]
    return df


def _date_kwargs(sample, date_col: str, report: Any) -> tuple[tuple[tuple[str, Any], ...], bool]:
    """The ``pd.to_datetime`` options that read the sample's dates as the reader did."""
    import pandas as pd

    default = (("format", "mixed"),)
    if sample is None or date_col not in sample.columns:
        return default, False
    raw = sample[date_col]
    if pd.api.types.is_datetime64_any_dtype(raw):
        return (), False
    text = raw.dropna().astype(str).str.strip()
    text_dates = bool(len(text)) and not text.str.match(r"^\d{4}-\d{2}-\d{2}").all()
    expected = set(pd.to_datetime(report.frame[report.date_column]).dropna().dt.normalize())
    candidates: list[tuple[tuple[str, Any], ...]] = [
        (("format", "ISO8601"),), (("format", "mixed"),), (("format", "mixed"), ("dayfirst", True)),
    ]
    for cand in candidates:
        try:
            parsed = pd.to_datetime(text, **dict(cand))
        except (ValueError, TypeError, OverflowError):
            continue
        if parsed.dt.tz is not None:
            continue
        if set(parsed.dt.normalize()) <= expected:
            return cand, text_dates
    return default, text_dates


def _day(ts: Any) -> str | None:
    try:
        return ts.strftime("%Y-%m-%d")
    except AttributeError:
        return None if ts is None else str(ts)
