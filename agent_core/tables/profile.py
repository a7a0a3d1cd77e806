"""The typed, frozen description of one table file: :class:`TableProfile`.

Everything downstream (the Upload page, the planner and its recipes, the Converse data
description, the views of returned files, ``python -m agent_core inspect``) reads these
fields; nothing re-detects them. Field meanings, for code that builds on the profile:

- ``layout``: ``long`` (one row per ticker and date, tickers in ``ticker_column``),
  ``wide`` (one numeric column per ticker), ``ohlc`` (open/high/low/close[/volume] of one
  instrument) or ``single`` (one price series).
- ``date_column``: the name of the datetime64 column of the tidy frame (naive: time-zone
  offsets are dropped and ``timezone`` says what they were).
- ``tickers``: the instruments, in order of first appearance; ``tickers_from`` says where
  they came from (``column``, ``header row``, ``column names``, ``file name``).
- ``columns``: every column of the file with its :data:`Role` (see ``ROLES``).
- ``value_column``: the one price series an analysis uses by default (adjusted close over
  close; ``Close/Last``; ``Price``); ``price_columns``: the price-like columns kept.
- ``frequency`` / ``periods_per_year``: see :class:`Frequency`; use ``periods_per_year``
  to annualise (252 trading days, 365 calendar days for 24/7 markets, 52, 12, 4, bars per
  year for intraday data).
- ``read_code``: plain pandas that reads the file (named ``file_name``) into ``df`` exactly
  as the reader did; the reader runs the same tidy statements, so the two frames are equal.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Layout = Literal["long", "wide", "ohlc", "single"]
Role = Literal["date", "time", "ticker", "open", "high", "low", "close", "adj_close", "price",
               "volume", "return", "dividend", "split", "timestamp", "id", "other"]
FrequencyKind = Literal["intraday", "trading-daily", "calendar-daily", "weekly", "monthly",
                        "quarterly", "yearly", "irregular", "unknown"]

#: the roles a column can have, in words
ROLES: dict[str, str] = {
    "date": "the dates (or date-times) of the rows",
    "time": "the time of day, combined with the date column",
    "ticker": "the instrument of each row",
    "open": "opening price", "high": "highest price", "low": "lowest price",
    "close": "closing price", "adj_close": "closing price adjusted for splits and dividends",
    "price": "a price or level series", "volume": "traded volume",
    "return": "a return or percent change (not a price)", "dividend": "dividend paid",
    "split": "split ratio", "timestamp": "a second timestamp or an identifier of time",
    "id": "a row number or identifier", "other": "a column with another meaning",
}
PRICE_ROLES = ("open", "high", "low", "close", "adj_close", "price")


@dataclass(frozen=True)
class ColumnProfile:
    """One column of the file: its name there, what it means, how it was read."""

    name: str
    role: Role
    kept: bool                      # in the tidy frame
    unit: str | None = None         # "$", "%", "K/M/B", "epoch ms", ...
    note: str | None = None


@dataclass(frozen=True)
class DroppedColumn:
    name: str
    reason: str


@dataclass(frozen=True)
class Frequency:
    """How often rows come. ``bar`` is the bar size for intraday data (``"1min"``, ``"1h"``);
    ``periods_per_year`` is what annualised figures multiply by."""

    kind: FrequencyKind
    periods_per_year: float | None
    bar: str | None = None

    def words(self) -> str:
        if self.kind == "intraday":
            return f"intraday, {self.bar} bars"
        return self.kind


@dataclass(frozen=True)
class SheetCandidate:
    """A workbook sheet and whether it holds a table of dates and numbers."""

    name: str
    rows: int
    columns: int
    usable: bool
    why: str = ""


@dataclass(frozen=True)
class ReadOptions:
    """How the bytes were parsed: the explicit arguments of the pandas read call."""

    file_format: Literal["csv", "xlsx", "parquet", "json"]
    function: str                                   # read_csv | read_excel | read_parquet | read_json
    kwargs: tuple[tuple[str, Any], ...] = ()
    encoding: str | None = None
    delimiter: str | None = None
    decimal: str | None = None
    thousands: str | None = None
    header_rows: int = 1


@dataclass(frozen=True)
class TableProfile:
    """What :func:`agent_core.tables.read_table` found in one file (see module docs)."""

    name: str
    error: str | None = None
    read: ReadOptions | None = None
    sheet: str | None = None
    sheets: tuple[SheetCandidate, ...] = ()
    layout: Layout | None = None
    date_column: str | None = None
    date_format: str | None = None                  # in words: "ISO", "epoch ms", "day first", ...
    timezone: str | None = None
    ticker_column: str | None = None
    tickers: tuple[str, ...] = ()
    tickers_from: str | None = None
    columns: tuple[ColumnProfile, ...] = ()
    value_column: str | None = None
    price_columns: tuple[str, ...] = ()
    volume_column: str | None = None
    frequency: Frequency = field(default_factory=lambda: Frequency("unknown", None))
    rows: int = 0                                   # data rows in the file
    tidy_rows: int = 0                              # rows of the tidy frame
    start: str | None = None                        # ISO; with the time for intraday data
    end: str | None = None
    problems: tuple[str, ...] = ()
    dropped_columns: tuple[DroppedColumn, ...] = ()
    read_code: str = ""
    read_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def periods_per_year(self) -> float | None:
        return self.frequency.periods_per_year

    @property
    def file_format(self) -> str | None:
        return self.read.file_format if self.read else None

    def role_of(self, column: str) -> str | None:
        return next((c.role for c in self.columns if c.name == column), None)

    def columns_with(self, role: str) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.role == role and c.kept)

    @property
    def has_ohlc(self) -> bool:
        kept = {c.role for c in self.columns if c.kept}
        return {"open", "high", "low"} <= kept and bool(kept & {"close", "adj_close"})

    @property
    def has_volume(self) -> bool:
        return self.volume_column is not None

    @property
    def ohlc(self) -> tuple[tuple[str, str], ...]:
        """(role, column) for open, high, low, close (the close, else the adjusted close) and
        volume, as far as the file has them."""
        out = []
        for role in ("open", "high", "low"):
            cols = self.columns_with(role)
            if cols:
                out.append((role, cols[0]))
        close = self.columns_with("close") or self.columns_with("adj_close")
        if close:
            out.append(("close", close[0]))
        if self.volume_column:
            out.append(("volume", self.volume_column))
        return tuple(out)

    @property
    def numeric_columns(self) -> tuple[str, ...]:
        """Every numeric column of the tidy frame (prices, then volume)."""
        return self.price_columns + ((self.volume_column,) if self.volume_column else ())

    def summary(self) -> str:
        """One line for a rationale or a system prompt."""
        what = {"long": f"long layout (one row per {self.ticker_column} and {self.date_column})",
                "wide": "wide layout (one column per ticker)",
                "ohlc": "OHLC" + ("V" if self.has_volume else "") + " layout of one instrument",
                "single": "a single price series"}.get(self.layout or "", str(self.layout))
        more = len(self.tickers) - 6
        tick = ", ".join(self.tickers[:6]) + (f" and {more} more" if more > 0 else "")
        return (f"{self.name}: {what}, {self.tidy_rows:,} rows of {self.frequency.words()} data, dates in "
                f"'{self.date_column}' from {self.start} to {self.end}, tickers {tick}")

    def code_for(self, path: str) -> str:
        """The read code with another file path (``read_code`` reads ``self.name``)."""
        from agent_core.tables.code import lit

        return self.read_code.replace(lit(self.name), lit(path), 1)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``inspect --json``."""
        out: dict[str, Any] = {
            "name": self.name, "usable": self.ok, "error": self.error,
            "file_format": self.file_format, "sheet": self.sheet,
            "sheets": [asdict(s) for s in self.sheets],
            "layout": self.layout, "date_column": self.date_column,
            "date_format": self.date_format, "timezone": self.timezone,
            "ticker_column": self.ticker_column, "tickers": list(self.tickers),
            "tickers_from": self.tickers_from, "value_column": self.value_column,
            "price_columns": list(self.price_columns), "volume_column": self.volume_column,
            "columns": [asdict(c) for c in self.columns],
            "frequency": self.frequency.kind, "bar": self.frequency.bar,
            "periods_per_year": self.frequency.periods_per_year,
            "rows": self.rows, "tidy_rows": self.tidy_rows, "start": self.start, "end": self.end,
            "problems": list(self.problems),
            "dropped_columns": [asdict(d) for d in self.dropped_columns],
            "read_code": self.read_code,
        }
        if self.read:
            out.update(encoding=self.read.encoding, delimiter=self.read.delimiter,
                       decimal=self.read.decimal, thousands=self.read.thousands,
                       header_rows=self.read.header_rows)
        return out
