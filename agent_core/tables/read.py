"""Bytes -> the explicit pandas read call (:class:`ReadOptions`) and the raw frame.

Everything here is decided from the first bytes (the head), checked against the caps
BEFORE pandas parses anything: the file size, the number of columns in the header line,
the number of cells (lines x columns), and for a workbook the uncompressed size of its
parts and the cells its sheets declare. A :class:`Deadline` bounds the whole read.
"""
from __future__ import annotations

import csv
import io
import re
import time
import zipfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent_core.tables.profile import ReadOptions

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

HEAD_BYTES = 65536
SAMPLE_LINES = 200
_DELIMITERS = (",", ";", "\t", "|")
_NA_TOKENS = (".", "-", "--", "\u2014", "#N/A", "n/a")
_DECIMAL_COMMA = re.compile(r"^-?(\d{1,3}(\.\d{3})+|\d+),\d+$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")
BINANCE = ("Open time", "Open", "High", "Low", "Close", "Volume", "Close time", "Quote asset volume",
           "Number of trades", "Taker buy base asset volume", "Taker buy quote asset volume", "Ignore")
_THOUSANDS_COMMA = re.compile(r"^-?\$?\d{1,3}(,\d{3})+(\.\d+)?$")
# a decimal comma no comma-thousands number can be: "15.296,72", "35,04M", "-1,10%" (quoted, in a
# comma-separated file: de.investing.com and other European exports)
_EUROPEAN_ONLY = re.compile(r"^-?(\d{1,3}(\.\d{3})+,\d+|\d+,(\d{1,2}|\d{4,}))[%KMBkmb]?$")


class Unusable(Exception):
    """The file cannot be used; the message is for the user (what, and what to do)."""


@dataclass(frozen=True)
class Limits:
    """Caps on untrusted bytes, checked before parsing."""

    max_bytes: int = 300 * 1024 * 1024
    max_columns: int = 5_000
    max_cells: int = 150_000_000
    max_workbook_bytes: int = 60 * 1024 * 1024      # uncompressed parts of an .xlsx
    max_workbook_cells: int = 3_000_000
    seconds: float = 60.0


DEFAULT_LIMITS = Limits()


class Deadline:
    """A time limit, checked between the steps of a read."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.start = time.perf_counter()

    def check(self, what: str) -> None:
        if time.perf_counter() - self.start > self.seconds:
            raise Unusable(f"Reading the file took longer than {self.seconds:.0f} s (stopped while "
                           f"{what}). Upload a shorter date range or fewer columns.")


@dataclass(frozen=True)
class Head:
    """What the first lines say about the layout of the header."""

    multi_header: str | None = None    # "price-ticker" (yfinance) or "ticker-price"
    header_names: tuple[str, ...] = ()  # the first header row (yfinance: fields or names)
    index_name: str | None = None       # yfinance's third row: "Date" or "Datetime"
    headerless: str | None = None       # what the reader named the columns of a file without a header


def kind_of(name: str, data: bytes) -> str:
    """csv | xlsx | parquet | json | xls (by the bytes first, then the name)."""
    head = data[:8]
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "xls"
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext == "parquet":
        raise Unusable("The file is named .parquet but its bytes are not a Parquet file. Export it "
                       "again, or upload the data as CSV.")
    if ext in ("xlsx", "xlsm"):
        raise Unusable("The file is named .xlsx but its bytes are not an Excel workbook. Save it "
                       "again from Excel as .xlsx, or as CSV.")
    stripped = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if ext == "json" or stripped[:1] in (b"{", b"["):
        return "json"
    return "csv"


# --- text files ----------------------------------------------------------------------------
def _encoding(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    head = data[:HEAD_BYTES]
    if b"\x00" in head[:8192]:
        raise Unusable("The file holds binary data, not a text table. Upload a CSV, TSV, TXT, "
                       "XLSX, Parquet or JSON file of prices.")
    control = sum(1 for b in head[:8192] if b < 32 and b not in (9, 10, 13))
    if head and control / len(head[:8192]) > 0.05:
        raise Unusable("The file holds binary data, not a text table. Upload a CSV, TSV, TXT, "
                       "XLSX, Parquet or JSON file of prices.")
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    cut = head.rfind(b"\n") if len(data) > len(head) else len(head)
    try:
        head[: cut if cut > 0 else len(head)].decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "cp1252" if _cp1252_ok(head) else "latin-1"


def _cp1252_ok(head: bytes) -> bool:
    try:
        head.decode("cp1252")
        return True
    except UnicodeDecodeError:
        return False


def check_text_caps(data: bytes, limits: Limits) -> None:
    """Columns and cells, counted on the raw bytes (no parsing)."""
    if len(data) > limits.max_bytes:
        raise Unusable(f"The file is {len(data) / 1048576:,.0f} MB; the limit is "
                       f"{limits.max_bytes / 1048576:,.0f} MB. Upload a shorter date range or "
                       "fewer columns.")
    first_nl = data.find(b"\n", 0, 1 << 20)
    if first_nl < 0 and len(data) > 1 << 20:
        raise Unusable(f"The first line is longer than 1 MB: that is more than the "
                       f"{limits.max_columns:,} columns this reader accepts. Upload a table with "
                       "fewer columns (one row per date and ticker works for any number of tickers).")
    line = data[: first_nl if first_nl >= 0 else len(data)]
    wide = 2 if data.startswith((b"\xff\xfe", b"\xfe\xff")) else 1
    columns = max(line.count(d.encode()) for d in _DELIMITERS) // wide + 1
    if columns > limits.max_columns:
        raise Unusable(f"The file has about {columns:,} columns; the limit is {limits.max_columns:,}. "
                       "Upload a table with fewer columns (one row per date and ticker works for "
                       "any number of tickers).")
    head = data[: 1 << 20]
    in_head = head.count(b"\n") + 1  # lines estimated from the first MB: no pass over the whole file
    lines = in_head if len(data) <= len(head) else int(len(data) * in_head / len(head)) + 1
    if lines * columns > limits.max_cells:
        raise Unusable(f"The file has about {lines * columns:,} cells ({lines:,} lines x {columns:,} "
                       f"columns); the limit is {limits.max_cells:,}. Upload a shorter date range "
                       "or fewer columns.")


def _sample_rows(text: str) -> list[str]:
    lines = text.splitlines()
    if len(lines) > 1:
        lines = lines[:-1] if not text.endswith(("\n", "\r")) else lines  # a cut last line
    return [ln for ln in lines[:SAMPLE_LINES] if ln.strip()]


def _delimiter(lines: list[str], ext: str) -> tuple[str, int]:
    """The delimiter and the number of fields a data row has."""
    best, best_score = ("\t" if ext == "tsv" else ","), (0.0, 0)
    for sep in _DELIMITERS:
        try:
            counts = [len(r) for r in csv.reader(lines, delimiter=sep)]
        except csv.Error:
            continue
        if not counts:
            continue
        mode = max(set(counts), key=counts.count)
        if mode < 2:
            continue
        score = (counts.count(mode) / len(counts), mode)
        if score > best_score:
            best, best_score = sep, score
    return best, best_score[1]


def plan_text(name: str, data: bytes, limits: Limits) -> tuple[ReadOptions, Head]:
    """The explicit ``pd.read_csv`` arguments for a text table."""
    check_text_caps(data, limits)
    encoding = _encoding(data)
    head_text = data[: HEAD_BYTES * (2 if encoding == "utf-16" else 1)].decode(
        encoding, errors="replace").lstrip("\ufeff")
    lines = _sample_rows(head_text)
    if not lines:
        raise Unusable("The file is empty. Export the prices again (with a header row and at least "
                       "one row of data) and upload that file.")
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    sep, nfields = _delimiter(lines, ext)
    rows = list(csv.reader(lines, delimiter=sep))
    kwargs: dict[str, Any] = {}
    if sep != ",":
        kwargs["sep"] = sep
    if encoding not in ("utf-8", "utf-8-sig"):
        kwargs["encoding"] = encoding
    # a title or notes above the header: skip to the first row with the full field count
    skip = next((i for i, r in enumerate(rows) if len(r) >= max(nfields, 2)), 0)
    if skip:
        kwargs["skiprows"] = skip
    rows = rows[skip:]
    head = Head(header_names=tuple(c.strip() for c in rows[0]) if rows else ())
    header_rows = 1
    first = [r[0].strip().lower() if r else "" for r in rows[:3]]
    if len(rows) >= 3 and {first[0], first[1]} == {"price", "ticker"}:
        header_rows = 2
        kwargs.update(header=[0, 1], index_col=0)
        if first[2] in ("date", "datetime", "") and not any(c.strip() for c in rows[2][1:]):
            kwargs["skiprows"] = [skip + 2] if not skip else list(range(skip)) + [skip + 2]
            header_rows = 3
        head = Head(multi_header="price-ticker" if first[0] == "price" else "ticker-price",
                    header_names=head.header_names,
                    index_name=rows[2][0].strip() if header_rows == 3 and rows[2][0].strip() else None)
    if rows and not header_rows > 1 and all(_NUMBER.match(c.strip()) for c in rows[0]):
        kwargs["header"] = None  # the first row is data: no header row (Binance's klines)
        n = len(rows[0])
        first_value = float(rows[0][0].strip())
        if n == len(BINANCE) and 1e11 <= first_value <= 5e15:
            kwargs["names"], words = list(BINANCE), "Binance's kline columns"
        else:
            kwargs["names"], words = [f"column_{i + 1}" for i in range(n)], "column_1, column_2, ..."
        head = Head(headerless=words)
    body = [c.strip() for r in rows[1:] for c in r]
    quoted = sep == "," and any(_THOUSANDS_COMMA.match(c) for c in body)
    decimal = "," if sep != "," and any(_DECIMAL_COMMA.match(c) for c in body) else "."
    if decimal == ",":
        kwargs["decimal"] = ","
    elif sep == "," and sum(bool(_EUROPEAN_ONLY.match(c)) for c in body) > sum(
            bool(_THOUSANDS_COMMA.match(c)) for c in body):
        # quoted numbers with decimal commas: read as text, converted column by column knowing
        # the comma is the decimal mark (read_csv's thousands="." would eat dates like 31.03.2023)
        decimal, quoted = ",", False
    thousands = "," if quoted else None
    if thousands:
        kwargs["thousands"] = ","
    na = [t for t in _NA_TOKENS if t in set(body)]
    if na:
        kwargs["na_values"] = na
    return ReadOptions(file_format="csv", function="read_csv", kwargs=tuple(kwargs.items()),
                       encoding=encoding, delimiter=sep, decimal=decimal, thousands=thousands,
                       header_rows=header_rows), head


def read_text(data: bytes, opts: ReadOptions) -> tuple[pd.DataFrame, ReadOptions]:
    """Run the read call. pyarrow first where its options allow (several times faster), the C
    engine when pyarrow refuses the file; the options returned are the ones that worked."""
    import pandas as pd

    kwargs = dict(opts.kwargs)
    source = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    pyarrow_ok = ("thousands" not in kwargs and "header" not in kwargs
                  and not isinstance(kwargs.get("skiprows"), list)
                  and opts.encoding in ("utf-8", "utf-8-sig"))
    if pyarrow_ok:
        try:
            frame = pd.read_csv(io.BytesIO(source), engine="pyarrow", **kwargs)
            return frame, _with(opts, {**kwargs, "engine": "pyarrow"})
        except Exception:  # noqa: BLE001 - ragged rows, odd quoting: the C engine copes
            pass
    try:
        frame = pd.read_csv(io.BytesIO(data), **kwargs)
        return frame, _with(opts, kwargs)
    except UnicodeDecodeError:
        kwargs["encoding"] = "latin-1"
    except pd.errors.EmptyDataError:
        raise Unusable("The file has no rows to read. Upload a table with a header row and at "
                       "least one row of prices.") from None
    except pd.errors.ParserError:
        kwargs["on_bad_lines"] = "skip"
    frame = pd.read_csv(io.BytesIO(data), **kwargs)
    return frame, _with(opts, kwargs)


def _with(opts: ReadOptions, kwargs: dict[str, Any]) -> ReadOptions:
    from dataclasses import replace

    return replace(opts, kwargs=tuple(kwargs.items()), encoding=kwargs.get("encoding", opts.encoding))


# --- workbooks -----------------------------------------------------------------------------
_DIMENSION = re.compile(rb'<(?:\w+:)?dimension ref="([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?"')


def _col_number(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ch - 64)
    return n


def check_workbook_caps(data: bytes, limits: Limits) -> None:
    """Uncompressed size and declared cells of an .xlsx, read from the zip directory."""
    if len(data) > limits.max_bytes:
        raise Unusable(f"The workbook is {len(data) / 1048576:,.0f} MB; the limit is "
                       f"{limits.max_bytes / 1048576:,.0f} MB.")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise Unusable(f"The workbook could not be opened ({exc}). Save it again as .xlsx from "
                       "Excel, or as CSV.") from None
    total = sum(i.file_size for i in infos)
    if total > limits.max_workbook_bytes:
        raise Unusable(f"The workbook unpacks to {total / 1048576:,.0f} MB (it is "
                       f"{len(data) / 1048576:,.1f} MB packed); the limit is "
                       f"{limits.max_workbook_bytes / 1048576:,.0f} MB. Save the price sheet alone "
                       "as CSV and upload that.")
    cells = 0
    for info in infos:
        if info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml"):
            with zf.open(info) as fh:
                m = _DIMENSION.search(fh.read(4096))
            if m and m.group(3):
                cols = _col_number(m.group(3)) - _col_number(m.group(1)) + 1
                if cols > limits.max_columns:
                    raise Unusable(f"A sheet of the workbook declares {cols:,} columns; the limit is "
                                   f"{limits.max_columns:,}. Save the price sheet alone as CSV.")
                cells += cols * (int(m.group(4)) - int(m.group(2)) + 1)
    if cells > limits.max_workbook_cells:
        raise Unusable(f"The workbook declares {cells:,} cells; the limit is "
                       f"{limits.max_workbook_cells:,}. Save the price sheet alone as CSV.")


def read_workbook(data: bytes) -> dict[str, pd.DataFrame]:
    import pandas as pd

    try:
        return pd.read_excel(io.BytesIO(data), sheet_name=None, engine="openpyxl")
    except Exception as exc:  # noqa: BLE001
        raise Unusable(f"The workbook could not be read ({_short(str(exc))}). Save it again as "
                       ".xlsx from Excel, or as CSV.") from None


def excel_options(sheet: str) -> ReadOptions:
    return ReadOptions(file_format="xlsx", function="read_excel",
                       kwargs=(("sheet_name", sheet), ("engine", "openpyxl")))


# --- parquet / json ------------------------------------------------------------------------
def read_other(kind: str, data: bytes) -> tuple[pd.DataFrame, ReadOptions]:
    import pandas as pd

    try:
        if kind == "parquet":
            return pd.read_parquet(io.BytesIO(data)), ReadOptions("parquet", "read_parquet")
        return pd.read_json(io.BytesIO(data)), ReadOptions("json", "read_json")
    except Exception as exc:  # noqa: BLE001
        raise Unusable(f"The {kind} file could not be read as a table ({_short(str(exc))}). "
                       "Export the prices as CSV and upload that.") from None


def _short(msg: str, limit: int = 160) -> str:
    msg = " ".join(msg.split())
    return msg if len(msg) <= limit else msg[: limit - 1] + "…"
