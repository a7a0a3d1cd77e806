"""Reading and validating uploaded price tables.

:func:`read_price_file` takes a file name and its bytes and returns a
:class:`PriceReport`: the tidy table (or ``None``), what was detected (layout,
date column, tickers, price columns, rows, date range), every problem in plain
English and, when the file cannot be used, an ``error`` saying why and what to
do. It never raises to the caller.

Supported: CSV / TSV / TXT (UTF-8, UTF-8 with BOM, UTF-16 with BOM, Latin-1
fallback; ``,`` ``;`` or tab delimited; decimal comma), XLSX, Parquet and JSON
(a list of records, or a mapping of columns). Layouts: ``long``
(``symbol,date,price``, one row per ticker and date, with one or several price
columns), ``wide`` (one column per ticker), ``ohlc`` (open/high/low/close/
adj close/volume of one instrument) and ``single`` (one price column).

Dates such as ``01/02/2020`` are ambiguous. The reader looks at every value:
a first number above 12 means day first, a second number above 12 means month
first. When nothing decides it, it reads day first for files that use the
European conventions (``;`` delimiter or decimal comma) and month first
otherwise, and says so in ``problems``.

pandas is imported inside functions: this module is only imported where the
tables are needed.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

Layout = str  # "long" | "wide" | "ohlc" | "single"

TEXT_EXTENSIONS = ("csv", "tsv", "txt", "tab", "dat")
SUPPORTED_EXTENSIONS = ("csv", "tsv", "txt", "xlsx", "parquet", "json")

_DATE_NAMES = ("date", "datetime", "timestamp", "time", "day", "trade_date", "tradedate", "period",
               "datum", "fecha", "data",
               "as_of", "asof", "dt", "index", "unnamed: 0", "")
_TICKER_NAMES = ("symbol", "ticker", "tickers", "symbols", "asset", "instrument", "security", "stock",
                 "code", "name", "isin", "sym", "company")
# preferred price column, first match wins
_VALUE_NAMES = ("adj close", "adj_close", "adjclose", "adjusted close", "adjusted_close", "close",
                "price", "last", "value", "px_last", "close price", "closing price")
_OHLC = {"open", "high", "low", "close", "adj close", "volume"}
_VOLUME_NAMES = ("volume", "vol", "qty", "quantity", "shares")
_DATE_FORMATS = ("ISO8601", "%b %d %Y", "%b %d, %Y", "%B %d %Y", "%B %d, %Y", "%d %b %Y",
                 "%d %B %Y", "%d-%b-%Y", "%d-%b-%y", "%Y%m%d", "%Y/%m/%d", "%d.%m.%Y",
                 "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")
_SLASH_DATE = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{2}|\d{4})(\s.*)?$")
_DECIMAL_COMMA = re.compile(r"^\s*-?(\d{1,3}(\.\d{3})+|\d+),\d+\s*$")
_CURRENCY = re.compile(r"[$€£¥\s\u00a0%]")


@dataclass(frozen=True, eq=False)
class PriceReport:
    """What :func:`read_price_file` found in one file."""

    name: str
    frame: pd.DataFrame | None = field(default=None, repr=False)
    layout: Layout | None = None
    date_column: str | None = None
    tickers: tuple[str, ...] = ()
    price_columns: tuple[str, ...] = ()
    rows: int = 0
    start: Any = None  # pandas Timestamp or None
    end: Any = None
    problems: tuple[str, ...] = ()
    error: str | None = None
    ticker_column: str | None = None
    value_column: str | None = None  # the column charted as "price"
    file_format: str | None = None  # csv | xlsx | parquet | json
    encoding: str | None = None
    delimiter: str | None = None
    decimal: str | None = None
    read_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and self.frame is not None


class _Unusable(Exception):
    """The file cannot be used; the message is for the user."""


# --- public API -----------------------------------------------------------------------------------
def read_price_file(name: str, data: bytes) -> PriceReport:
    """Read one uploaded price file. Never raises: failures come back in ``error``."""
    import pandas  # noqa: F401 - imported before the clock starts: read_seconds is the reading

    t0 = time.perf_counter()
    name = str(name or "file")
    meta: dict[str, Any] = {}
    try:
        if not data or not data.strip():
            raise _Unusable("The file is empty. Export the prices again (with a header row and at "
                            "least one row of data) and upload that file.")
        frame = _read_table(name, bytes(data), meta)
        report = _analyse(name, frame, meta)
    except _Unusable as exc:
        report = PriceReport(name=name, error=str(exc), **_meta_fields(meta))
    except MemoryError:
        report = PriceReport(name=name, error="The file is too large to read in memory. Upload a "
                             "shorter date range or fewer columns.", **_meta_fields(meta))
    except Exception as exc:  # noqa: BLE001 - the caller gets words, never a traceback
        report = PriceReport(
            name=name, **_meta_fields(meta),
            error=f"The file could not be read as a price table ({type(exc).__name__}: "
                  f"{_short(str(exc))}). Save it as a CSV with a header row, a date column and "
                  "one or more numeric price columns, then upload it again.")
    return _with_time(report, time.perf_counter() - t0)


def to_long(report: PriceReport) -> pd.DataFrame:
    """The prices as ``date, ticker, price`` rows (for charts). Empty when the report has no data."""
    import pandas as pd

    empty = pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"),
                          "ticker": pd.Series(dtype=object), "price": pd.Series(dtype=float)})
    if not report.ok or report.frame is None or not report.date_column:
        return empty
    df, d = report.frame, report.date_column
    if report.layout == "long" and report.ticker_column and report.value_column:
        out = df[[d, report.ticker_column, report.value_column]].copy()
        out.columns = ["date", "ticker", "price"]
    elif report.layout in ("ohlc", "single") and report.value_column:
        out = pd.DataFrame({"date": df[d], "ticker": report.tickers[0] if report.tickers else
                            report.value_column, "price": df[report.value_column]})
    else:
        cols = [c for c in report.tickers if c in df.columns]
        out = df[[d, *cols]].melt(id_vars=[d], var_name="ticker", value_name="price")
        out = out.rename(columns={d: "date"})
    out["ticker"] = out["ticker"].astype(str)
    out["price"] = pd.to_numeric(out["price"], errors="coerce")
    return out.dropna(subset=["price"]).reset_index(drop=True)


def subset(report: PriceReport, *, start: Any = None, end: Any = None,
           tickers: Iterable[str] | None = None,
           columns: Iterable[str] | None = None) -> pd.DataFrame:
    """A smaller copy of the tidy table: a date range, some tickers, some price columns.

    For a wide table the tickers are its columns. Used to attach a file that is over
    Bedrock's 10 MB limit. Empty when the report has no data."""
    import pandas as pd

    if not report.ok or report.frame is None or not report.date_column:
        return pd.DataFrame()
    df, d = report.frame, report.date_column
    mask = pd.Series(True, index=df.index)
    if start is not None:
        mask &= df[d] >= pd.Timestamp(start)
    if end is not None:
        end_ts = pd.Timestamp(end)
        if end_ts == end_ts.normalize():
            end_ts += pd.Timedelta(days=1) - pd.Timedelta(1, "ns")  # the whole end day
        mask &= df[d] <= end_ts
    keep = [d]
    if report.ticker_column:
        keep.append(report.ticker_column)
        if tickers is not None:
            mask &= df[report.ticker_column].isin(list(tickers))
    wanted = list(report.price_columns)
    if report.layout == "wide" and tickers is not None:
        wanted = [c for c in wanted if c in set(tickers)]
    if columns is not None:
        chosen = set(columns)
        wanted = [c for c in wanted if c in chosen]
    return df.loc[mask, keep + wanted].reset_index(drop=True)


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """UTF-8 CSV bytes (ISO dates, no index): what the agent reads most easily."""
    return frame.to_csv(index=False, date_format="%Y-%m-%d %H:%M:%S" if _has_time(frame)
                        else "%Y-%m-%d").encode("utf-8")


def _has_time(frame: pd.DataFrame) -> bool:
    import pandas as pd

    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            return bool((s.dropna() != s.dropna().dt.normalize()).any())
    return False


def describe(report: PriceReport) -> str:
    """A one-line verdict."""
    if report.error:
        return f"{report.name}: cannot be used. {report.error}"
    tick = ", ".join(report.tickers[:5]) + (f" and {len(report.tickers) - 5} more"
                                             if len(report.tickers) > 5 else "")
    rng = ""
    if report.start is not None and report.end is not None:
        rng = f" from {_fmt_date(report.start)} to {_fmt_date(report.end)}"
    n = len(report.problems)
    probs = "no problems" if n == 0 else f"{n} problem{'s' if n != 1 else ''} (see below)"
    return (f"{report.name}: {report.layout} layout, {len(report.tickers)} "
            f"ticker{'s' if len(report.tickers) != 1 else ''} ({tick}), {report.rows:,} rows{rng}; "
            f"{probs}.")


# --- reading bytes into a raw DataFrame -----------------------------------------------------------
def _read_table(name: str, data: bytes, meta: dict[str, Any]) -> pd.DataFrame:
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    head = data[:8]
    if head.startswith(b"PAR1"):
        meta["file_format"] = "parquet"
        return _read_parquet(data)
    if head.startswith(b"PK\x03\x04"):
        meta["file_format"] = "xlsx"
        return _read_excel(data)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise _Unusable("This is an old Excel .xls file, which is not supported. Open it in Excel "
                        "or LibreOffice and save it as .xlsx or CSV.")
    if ext == "parquet":
        raise _Unusable("The file is named .parquet but its bytes are not a Parquet file. Export "
                        "it again, or upload it as CSV.")
    if ext in ("xlsx", "xlsm"):
        raise _Unusable("The file is named .xlsx but its bytes are not an Excel workbook. Save it "
                        "again from Excel as .xlsx, or as CSV.")
    text, encoding = _decode(data)
    meta["encoding"] = encoding
    stripped = text.lstrip()
    if ext == "json" or stripped[:1] in ("{", "["):
        meta["file_format"] = "json"
        return _read_json(text)
    meta["file_format"] = "csv"
    frame = _read_csv_text(text, data if encoding in ("utf-8", "utf-8-sig") else None, ext, meta)
    return _unstack_ticker_header(frame)


def _unstack_ticker_header(df: pd.DataFrame) -> pd.DataFrame:
    """yfinance's CSV: a ``Price,Close,High,...`` header, then a ``Ticker,AAPL,AAPL,...`` row
    and a ``Date,,,`` row. One ticker -> an OHLCV table; several -> long with a Ticker column."""
    import pandas as pd

    if len(df) < 2 or len(df.columns) < 2 or str(df.columns[0]).strip().lower() != "price":
        return df
    first = df.columns[0]
    col0 = df[first].astype(str).str.strip().str.lower()
    if col0.iloc[0] != "ticker":
        return df
    skip = 2 if col0.iloc[1] in ("date", "datetime") and df.iloc[1, 1:].isna().all() else 1
    fields = [re.sub(r"\.\d+$", "", str(c)) for c in df.columns[1:]]  # pandas renames Close.1
    tickers = [str(t).strip() for t in df.iloc[0, 1:]]
    body = df.iloc[skip:].reset_index(drop=True)
    dates = body[first].rename("Date")
    frames = []
    for ticker in dict.fromkeys(tickers):
        cols = [i for i, t in enumerate(tickers) if t == ticker]
        part = body.iloc[:, [i + 1 for i in cols]].copy()
        part.columns = [fields[i] for i in cols]
        if len(set(tickers)) > 1:
            part.insert(0, "Ticker", ticker)
        part.insert(0, "Date", dates)
        frames.append(part)
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise _Unusable("The file starts like UTF-16 text but cannot be decoded. Save it "
                            "again as CSV (UTF-8).") from None
    enc = "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"
    _check_not_binary(data[:8192])
    try:
        return data.decode(enc), enc
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _check_not_binary(head: bytes) -> None:
    if not head:
        return
    if b"\x00" in head:
        raise _Unusable("The file holds binary data, not a text table. Upload a CSV, TSV, TXT, "
                        "XLSX, Parquet or JSON file of prices.")
    control = sum(1 for b in head if b < 32 and b not in (9, 10, 13))
    if control / len(head) > 0.05:
        raise _Unusable("The file holds binary data, not a text table. Upload a CSV, TSV, TXT, "
                        "XLSX, Parquet or JSON file of prices.")


def _read_parquet(data: bytes) -> pd.DataFrame:
    import pandas as pd

    try:
        df = pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001
        raise _Unusable(f"The Parquet file could not be read ({_short(str(exc))}). Export it "
                        "again, or upload the data as CSV.") from None
    return _index_to_column(df)


def _read_excel(data: bytes) -> pd.DataFrame:
    import pandas as pd

    try:
        sheets = pd.read_excel(io.BytesIO(data), sheet_name=None, engine="openpyxl")
    except Exception as exc:  # noqa: BLE001
        raise _Unusable(f"The workbook could not be read ({_short(str(exc))}). Save it again as "
                        ".xlsx from Excel, or as CSV.") from None
    for df in sheets.values():
        df = df.dropna(how="all").dropna(axis=1, how="all")
        if not df.empty:
            return df
    raise _Unusable("The workbook has no data in any sheet. Put the prices in the first sheet "
                    "(header row, then one row per date) and upload it again.")


def _read_json(text: str) -> pd.DataFrame:
    import pandas as pd

    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise _Unusable(f"The JSON is not valid ({_short(str(exc))}). Fix it, or export the "
                        "prices as CSV.") from None
    if isinstance(obj, dict) and len(obj) == 1 and isinstance(next(iter(obj.values())), list):
        obj = next(iter(obj.values()))  # {"data": [...]}
    try:
        if isinstance(obj, list):
            if not obj or not all(isinstance(r, dict) for r in obj):
                raise _Unusable("The JSON must be a list of records like "
                                '[{"date": "2024-01-02", "price": 101.5}, ...] or a mapping of '
                                'columns like {"date": [...], "price": [...]}.')
            return pd.DataFrame.from_records(obj)
        if isinstance(obj, dict):
            if all(isinstance(v, list) for v in obj.values()):
                return pd.DataFrame(obj)
            if all(isinstance(v, dict) for v in obj.values()):
                return _index_to_column(pd.DataFrame(obj))
    except _Unusable:
        raise
    except Exception as exc:  # noqa: BLE001
        raise _Unusable(f"The JSON could not be turned into a table ({_short(str(exc))}). Use a "
                        "list of records or a mapping of equal-length columns.") from None
    raise _Unusable("The JSON must be a list of records like [{\"date\": \"2024-01-02\", "
                    "\"price\": 101.5}, ...] or a mapping of columns like {\"date\": [...], "
                    "\"price\": [...]}.")


def _index_to_column(df: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    if isinstance(df.index, pd.RangeIndex):
        return df
    name = df.index.name or "date"
    if name in df.columns:
        name = f"{name}_index"
    return df.rename_axis(name).reset_index()


def _sniff_delimiter(text: str, ext: str) -> str:
    lines = [ln for ln in text[:65536].splitlines()[:60] if ln.strip()]
    if not lines:
        return ","
    best, best_score = None, (0.0, 0)
    for sep in ("\t", ";", ",", "|"):
        try:
            counts = [len(row) for row in csv.reader(lines, delimiter=sep)]
        except csv.Error:
            continue
        header = counts[0]
        if header < 2:
            continue
        agree = sum(1 for c in counts if c == header) / len(counts)
        score = (agree, header)
        if score > best_score:
            best, best_score = sep, score
    if best is None:
        try:
            best = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|").delimiter
        except csv.Error:
            best = "\t" if ext == "tsv" else ","
    return best


def _has_decimal_comma(text: str, sep: str) -> bool:
    if sep == ",":
        return False
    hits = 0
    for row in csv.reader([ln for ln in text[:65536].splitlines()[1:60] if ln.strip()],
                          delimiter=sep):
        hits += sum(1 for cell in row if _DECIMAL_COMMA.match(cell))
    return hits > 0


def _read_csv_text(text: str, utf8: bytes | None, ext: str, meta: dict[str, Any]) -> pd.DataFrame:
    import pandas as pd

    text = text.lstrip("\ufeff")
    sep = _sniff_delimiter(text, ext)
    decimal = "," if _has_decimal_comma(text, sep) else "."
    meta["delimiter"], meta["decimal"] = sep, decimal
    # no ``thousands=``: it would turn dates like 01.02.2020 into numbers; values such as
    # 1.234,56 stay text here and are cleaned column by column in _as_numeric.
    kwargs: dict[str, Any] = {"sep": sep, "decimal": decimal}
    source = utf8[3:] if utf8 is not None and utf8.startswith(b"\xef\xbb\xbf") else utf8
    if source is None:
        source = text.encode("utf-8")
    try:  # the fast path (KNOWN.md: about 3x faster on 1M rows)
        return pd.read_csv(io.BytesIO(source), engine="pyarrow", **kwargs)
    except Exception:  # noqa: BLE001 - ragged rows, odd quoting...: the C engine copes
        pass
    try:
        return pd.read_csv(io.BytesIO(source), engine="c", skipinitialspace=True,
                           on_bad_lines="warn", **kwargs)
    except pd.errors.EmptyDataError:
        raise _Unusable("The file has no rows to read. Upload a table with a header row and "
                        "at least one row of prices.") from None
    except Exception as exc:  # noqa: BLE001
        raise _Unusable(f"The text could not be read as a table ({_short(str(exc))}). Check that "
                        "every row has the same number of columns, then upload it again.") from None


# --- understanding the table ----------------------------------------------------------------------
def _norm(col: Any) -> str:
    return re.sub(r"[\s_]+", " ", str(col).strip().lower())


def _analyse(name: str, raw: pd.DataFrame, meta: dict[str, Any]) -> PriceReport:
    import pandas as pd

    problems: list[str] = []
    df = raw.copy()
    df.columns = [_clean_col_name(c, i) for i, c in enumerate(df.columns)]
    df = df.dropna(how="all").dropna(axis=1, how="all")
    if df.empty or len(df.columns) == 0:
        raise _Unusable("The file has a header but no data rows. Upload a table with at least "
                        "one row of prices.")
    df = _drop_row_numbers(df)
    european = meta.get("delimiter") == ";" or meta.get("decimal") == ","

    date_col, dates, date_note = _find_date_column(df, european)
    if date_col is None:
        raise _Unusable(
            "No column of dates was found (columns: " + ", ".join(map(str, df.columns[:12])) +
            "). Add a column named 'date' with dates like 2024-01-31, then upload the file again.")
    if date_note:
        problems.append(date_note)
    # a year like -3 or 9999 is a misread number, not a price date
    with contextlib.suppress(TypeError, ValueError, OverflowError):
        dates = dates.where((dates >= "1800-01-01") & (dates <= "2200-12-31"))
    if dates.notna().sum() == 0:
        raise _Unusable(f"The dates in '{date_col}' could not be read. Use dates like 2024-01-31, "
                        "then upload the file again.")
    df[date_col] = dates
    bad_dates = int(dates.isna().sum())
    if bad_dates:
        problems.append(f"{bad_dates:,} row{'s' if bad_dates != 1 else ''} had a date that could "
                        f"not be read in column '{date_col}' and {'were' if bad_dates != 1 else 'was'}"
                        " left out.")
        df = df[dates.notna()]

    ticker_col = _find_ticker_column(df, date_col)
    numeric: list[str] = []
    for col in df.columns:
        if col in (date_col, ticker_col):
            continue
        series, note = _as_numeric(df[col], col, meta.get("decimal") or ".")
        if series is None:
            continue
        df[col] = series
        numeric.append(col)
        if note:
            problems.append(note)
    if not numeric:
        raise _Unusable(
            f"No numeric price column was found next to the dates in '{date_col}'. Each price "
            "column must hold numbers like 101.25 (or 101,25 in a ';'-separated file).")
    keep = [date_col] + ([ticker_col] if ticker_col else []) + numeric
    df = df[keep]

    norm = {c: _norm(c) for c in numeric}
    ohlc_cols = [c for c in numeric if norm[c] in _OHLC or norm[c] in ("adjclose", "adj. close")]
    has_ohlc = any(norm[c] in ("close", "adj close", "adjclose") for c in ohlc_cols) and sum(
        norm[c] in ("open", "high", "low") for c in ohlc_cols) >= 2
    value_col = _pick_value_column(numeric)

    if ticker_col:
        layout = "long"
        df[ticker_col] = df[ticker_col].astype(str).str.strip()
        tickers = tuple(sorted(df[ticker_col].dropna().unique().tolist()))
        price_columns = tuple(numeric)
        keys = [ticker_col, date_col]
    elif has_ohlc:
        layout = "ohlc"
        tickers = (_stem(name),)
        price_columns = tuple(numeric)
        keys = [date_col]
    else:
        prices = [c for c in numeric if norm[c] not in _VOLUME_NAMES] or numeric
        if len(prices) == 1:
            layout = "single"
            col = prices[0]
            tickers = (_stem(name) if norm[col] in _VALUE_NAMES or norm[col] in ("price", "value")
                       else str(col),)
            value_col = col
        else:
            layout = "wide"
            tickers = tuple(str(c) for c in prices)
            value_col = None
        price_columns = tuple(prices)
        keys = [date_col]

    # order and duplicates
    if ticker_col:
        unsorted = bool((df.groupby(ticker_col, sort=False)[date_col].diff() < pd.Timedelta(0)).any())
    else:
        unsorted = not df[date_col].is_monotonic_increasing
    if unsorted:
        problems.append(f"The dates in '{date_col}' were not in order; the rows were sorted by "
                        "date for you.")
    if unsorted:
        df = df.sort_values(keys, kind="stable")
    dup_mask = df.duplicated(subset=keys, keep="last")
    n_dup = int(dup_mask.sum())
    if n_dup:
        exact = int(df.duplicated(keep="last").sum())
        what = "date" + (" and ticker" if ticker_col else "")
        problems.append(
            f"{n_dup:,} duplicated {what}{'s' if n_dup != 1 and not ticker_col else ''} "
            f"({exact:,} of them exact copies); the last row of each was kept.")
        df = df[~dup_mask]
    if ticker_col and not df[date_col].is_monotonic_increasing:
        df = df.sort_values([date_col, ticker_col], kind="stable")
    df = df.reset_index(drop=True)

    for col in price_columns:
        missing = int(df[col].isna().sum())
        if missing:
            problems.append(f"{missing:,} missing value{'s' if missing != 1 else ''} in column "
                            f"'{col}' (left empty; charts skip them).")
    nonpos = [c for c in price_columns if norm.get(c) not in _VOLUME_NAMES and (df[c] <= 0).any()]
    for col in nonpos:
        problems.append(f"Column '{col}' has {int((df[col] <= 0).sum()):,} zero or negative "
                        "prices; check them before computing returns.")
    if len(df) < 2:
        problems.append("Only one row of prices: charts and moving averages need more dates.")

    return PriceReport(
        name=name, frame=df, layout=layout, date_column=str(date_col), tickers=tickers,
        price_columns=tuple(str(c) for c in price_columns), rows=len(df),
        start=df[date_col].min(), end=df[date_col].max(), problems=tuple(problems),
        ticker_column=ticker_col, value_column=value_col, **_meta_fields(meta))


def _drop_row_numbers(df: pd.DataFrame) -> pd.DataFrame:
    """A saved pandas index (a nameless first column 0, 1, 2, ...) is not a price column."""
    import numpy as np
    import pandas as pd

    first = df.columns[0]
    if first != "index" and not str(first).lower().startswith(("unnamed", "column_")):
        return df
    s = df[first]
    if len(df.columns) > 1 and pd.api.types.is_integer_dtype(s) and len(s) > 0:
        values = s.to_numpy()
        start = values[0]
        if start in (0, 1) and np.array_equal(values, np.arange(start, start + len(values))):
            return df.drop(columns=[first])
    return df


def _clean_col_name(col: Any, i: int) -> str:
    s = str(col).strip()
    if s == "" or s.lower().startswith("unnamed:"):
        return "index" if i == 0 else f"column_{i + 1}"
    return s


def _find_date_column(df: pd.DataFrame, european: bool) -> tuple[str | None, Any, str | None]:
    import pandas as pd

    candidates = sorted(df.columns, key=lambda c: (_norm(c) not in _DATE_NAMES,
                                                   "date" not in _norm(c), list(df.columns).index(c)))
    for col in candidates:
        s = df[col]
        named = _norm(col) in _DATE_NAMES or "date" in _norm(col) or "time" in _norm(col)
        if pd.api.types.is_datetime64_any_dtype(s):
            return col, _naive(s), None
        if pd.api.types.is_numeric_dtype(s):
            if not named or pd.api.types.is_bool_dtype(s):
                continue
            parsed = _numeric_dates(s)
            if parsed is not None:
                return col, parsed, None
            continue
        parsed, note = _parse_dates(s, european)
        if parsed is not None:
            return col, parsed, note
    return None, None, None


def _naive(s: pd.Series) -> pd.Series:
    if getattr(s.dt, "tz", None) is not None:
        return s.dt.tz_convert("UTC").dt.tz_localize(None)
    return s


def _numeric_dates(s: pd.Series) -> pd.Series | None:
    import pandas as pd

    v = s.dropna()
    if v.empty:
        return None
    lo, hi = v.min(), v.max()
    if lo >= 19000101 and hi <= 21001231 and (v % 1 == 0).all():
        out = pd.to_datetime(s.astype("Int64").astype(str), format="%Y%m%d", errors="coerce")
        return out if out.notna().mean() > 0.9 else None
    for unit, (a, b) in (("s", (3e8, 5e9)), ("ms", (3e11, 5e12)), ("ns", (3e17, 5e18))):
        if a <= lo and hi <= b:
            return pd.to_datetime(s, unit=unit, errors="coerce")
    return None


def _parse_dates(s: pd.Series, european: bool) -> tuple[pd.Series | None, str | None]:
    import pandas as pd

    values = s.dropna().astype(str).str.strip()
    values = values[values != ""]
    if values.empty:
        return None, None
    sample = values.iloc[:: max(1, len(values) // 500)].iloc[:500]
    if sample.str.fullmatch(r"-?\d+(\.\d+)?").mean() > 0.5:
        return None, None  # plain numbers are prices, not dates
    text = s.astype(str).str.strip().where(s.notna())
    slash = sample.str.extract(_SLASH_DATE)
    note = None
    if slash[0].notna().mean() > 0.9:
        first = pd.to_numeric(values.str.extract(_SLASH_DATE)[0], errors="coerce")
        second = pd.to_numeric(values.str.extract(_SLASH_DATE)[1], errors="coerce")
        if (first > 12).any():
            dayfirst = True
        elif (second > 12).any():
            dayfirst = False
        else:
            dayfirst = european
            note = (f"Dates in '{s.name}' like {sample.iloc[0]} could be day/month or month/day; "
                    f"they were read as {'day/month' if dayfirst else 'month/day'}"
                    f"{' (the file uses European conventions)' if european else ''}. "
                    "If that is wrong, save the dates as YYYY-MM-DD.")
        sep = values.iloc[0].strip()[len(slash[0].iloc[0]):][:1] or "/"
        year = "%Y" if len(slash[2].iloc[0]) == 4 else "%y"
        fmt = (f"%d{sep}%m{sep}{year}" if dayfirst else f"%m{sep}%d{sep}{year}")
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
        if parsed.notna().mean() < 0.8:
            parsed = pd.to_datetime(text, dayfirst=dayfirst, format="mixed", errors="coerce")
        return (parsed if parsed.notna().sum() >= 0.8 * len(values) else None), note
    for fmt in _DATE_FORMATS:
        try:
            ok = pd.to_datetime(sample, format=fmt, errors="coerce").notna().mean()
        except (ValueError, TypeError):
            continue
        if ok >= 0.9:
            parsed = pd.to_datetime(text, format=fmt, errors="coerce")
            if parsed.notna().sum() >= 0.8 * len(values):
                return _naive_any(parsed), None
    try:
        ok = pd.to_datetime(sample, format="mixed", errors="coerce").notna().mean()
    except (ValueError, TypeError):
        return None, None
    if ok >= 0.9:
        parsed = pd.to_datetime(text, format="mixed", errors="coerce")
        if parsed.notna().sum() >= 0.8 * len(values):
            return _naive_any(parsed), None
    return None, None


def _naive_any(s: pd.Series) -> pd.Series:
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(s):
        return _naive(s)
    return pd.to_datetime(s, utc=True, errors="coerce").dt.tz_localize(None)


def _find_ticker_column(df: pd.DataFrame, date_col: str) -> str | None:
    import pandas as pd

    n = len(df)
    best = None
    for col in df.columns:
        if col == date_col:
            continue
        s = df[col]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_datetime64_any_dtype(s):
            continue
        vals = s.dropna().astype(str)
        if vals.empty:
            continue
        # mostly numbers: a price column with a few bad cells, not tickers
        if pd.to_numeric(vals.str.replace(",", ".", regex=False).map(_strip_currency),
                         errors="coerce").notna().mean() > 0.5:
            continue
        uniq = vals.nunique()
        if uniq > max(500, n // 2) and n > 4:
            continue
        repeated_dates = df[date_col].duplicated().any()
        if (_norm(col) in _TICKER_NAMES or repeated_dates) and (
                best is None or _norm(col) in _TICKER_NAMES):
            best = col
    if best is not None and not df[date_col].duplicated().any() and df[best].nunique() > 1:
        return None  # one row per date and several names: labels, not tickers
    return best


def _strip_currency(v: str) -> str:
    return _CURRENCY.sub("", v)


def _as_numeric(s: pd.Series, col: str, decimal: str) -> tuple[pd.Series | None, str | None]:
    import pandas as pd

    if pd.api.types.is_bool_dtype(s):
        return None, None
    if pd.api.types.is_numeric_dtype(s):
        return s.astype(float), None
    if pd.api.types.is_datetime64_any_dtype(s):
        return None, None
    raw = s.where(s.notna(), None)
    text = raw.dropna().astype(str).str.strip()
    text = text[text != ""]
    if text.empty:
        return None, None
    cleaned = text.map(_strip_currency)
    if decimal == ",":
        cleaned = cleaned.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    else:
        cleaned = cleaned.str.replace(",", "", regex=False)
    nums = pd.to_numeric(cleaned, errors="coerce")
    if nums.notna().mean() < 0.5:
        return None, None
    out = pd.Series(float("nan"), index=s.index, dtype=float)
    out.loc[nums.index] = nums.astype(float)
    bad = text[nums.isna()]
    note = None
    if len(bad):
        examples = ", ".join(repr(v) for v in bad.unique()[:3])
        note = (f"{len(bad):,} non-numeric value{'s' if len(bad) != 1 else ''} in column '{col}' "
                f"(e.g. {examples}) {'were' if len(bad) != 1 else 'was'} treated as missing.")
    return out, note


def _pick_value_column(numeric: list[str]) -> str | None:
    norm = {_norm(c): c for c in numeric}
    for cand in _VALUE_NAMES:
        if cand in norm:
            return norm[cand]
    for c in numeric:
        if _norm(c) not in _VOLUME_NAMES:
            return c
    return numeric[0] if numeric else None


# --- small helpers --------------------------------------------------------------------------------
def _stem(name: str) -> str:
    base = re.split(r"[\\/]", name)[-1]
    return base.rsplit(".", 1)[0] if "." in base else base or "price"


def _short(msg: str, limit: int = 160) -> str:
    msg = " ".join(msg.split())
    return msg if len(msg) <= limit else msg[: limit - 1] + "…"


def _fmt_date(ts: Any) -> str:
    try:
        if ts.hour or ts.minute or ts.second:
            return ts.strftime("%Y-%m-%d %H:%M")
        return ts.strftime("%Y-%m-%d")
    except Exception:  # noqa: BLE001 - NaT, out-of-range years: show what there is
        return str(ts)


def _meta_fields(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: meta.get(k) for k in ("file_format", "encoding", "delimiter", "decimal")}


def _with_time(report: PriceReport, seconds: float) -> PriceReport:
    from dataclasses import replace

    return replace(report, read_seconds=round(seconds, 4))
