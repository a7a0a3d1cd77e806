"""THE table reader: bytes -> a tidy frame and a typed, frozen :class:`TableProfile`.

- :mod:`.read`: caps, encoding, delimiter, decimal/thousands marks, header rows, workbooks;
  the explicit pandas read call.
- :mod:`.detect`: dates (or date + time), tickers, the role of every column, the layout.
- :mod:`.frequency`: intraday / trading-daily / calendar-daily / weekly / ... and periods a year.
- :mod:`.code`: the tidy statements, run by the reader and rendered as plain pandas code.
- :mod:`.profile`: the dataclasses; :mod:`.report`: words and chart-ready shapes.

Every part of Agent Desk that reads a table goes through :func:`read_table`.
"""
from agent_core.tables.profile import (
    ROLES,
    ColumnProfile,
    DroppedColumn,
    Frequency,
    ReadOptions,
    SheetCandidate,
    TableProfile,
)
from agent_core.tables.read import DEFAULT_LIMITS, Limits
from agent_core.tables.reader import TableRead, read_table
from agent_core.tables.report import describe, detected_rows, subset, to_csv_bytes, to_long, verdict_text

SUPPORTED_EXTENSIONS = ("csv", "tsv", "txt", "xlsx", "parquet", "json")

__all__ = ["ROLES", "ColumnProfile", "DroppedColumn", "Frequency", "ReadOptions", "SheetCandidate",
           "TableProfile", "TableRead", "read_table", "describe", "detected_rows", "subset",
           "to_csv_bytes", "to_long", "verdict_text", "Limits", "DEFAULT_LIMITS",
           "SUPPORTED_EXTENSIONS"]
