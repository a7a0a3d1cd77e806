"""Describes the attached files for the Converse agent's system prompt.

For each table: file name, columns with dtypes, row count, date range and a
few rows — never the whole file. Other files are listed by name, type and size.
"""
from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from agent_core.files import AttachedFile

SAMPLE_ROWS = 5
MAX_COLUMNS = 40
MAX_CELL = 40

_TABLE_EXT = (".csv", ".tsv", ".txt", ".xlsx", ".xls", ".parquet", ".json")


@dataclass(frozen=True)
class TableSummary:
    name: str
    rows: int
    columns: tuple[tuple[str, str], ...]  # (name, dtype)
    date_column: str | None
    date_start: str | None
    date_end: str | None
    sample: str  # a few rows as CSV text


def describe_files(files: Sequence[AttachedFile]) -> str:
    """Text for the system prompt about every attached file ("" when none)."""
    if not files:
        return ""
    parts = []
    for f in files:
        summary = summarize_table(f)
        if summary is None:
            parts.append(f"- `{f.name}` ({f.media_type}, {f.size:,} bytes): not read as a table.")
            continue
        cols = ", ".join(f"{c} ({t})" for c, t in summary.columns[:MAX_COLUMNS])
        if len(summary.columns) > MAX_COLUMNS:
            cols += f", ... ({len(summary.columns) - MAX_COLUMNS} more)"
        lines = [f"- `{summary.name}`: {summary.rows:,} rows; columns: {cols}."]
        if summary.date_column:
            lines.append(f"  Dates in `{summary.date_column}` from {summary.date_start} "
                         f"to {summary.date_end}.")
        lines.append(f"  First rows:\n```\n{summary.sample.rstrip()}\n```")
        parts.append("\n".join(lines))
    return "\n".join(parts)


def summarize_table(f: AttachedFile) -> TableSummary | None:
    """A :class:`TableSummary` when the file reads as a table, else None."""
    name = f.name.lower()
    if not name.endswith(_TABLE_EXT) and f.media_type not in ("text/csv", "text/tab-separated-values"):
        return None
    try:
        df = _read(f)
    except Exception:  # noqa: BLE001 - a file that does not parse is described by name only
        return None
    if df is None or df.shape[1] == 0:
        return None
    import pandas as pd

    date_col, start, end = _date_range(df)
    sample = df.head(SAMPLE_ROWS).copy()
    for col in sample.columns:
        if _is_text(sample[col]):
            sample[col] = sample[col].astype(str).str.slice(0, MAX_CELL)
    sample = sample.iloc[:, :MAX_COLUMNS]
    with pd.option_context("display.width", 200):
        sample_text = sample.to_csv(index=False)
    return TableSummary(
        name=f.name, rows=int(len(df)),
        columns=tuple((str(c), str(t)) for c, t in df.dtypes.items()),
        date_column=date_col, date_start=start, date_end=end, sample=sample_text,
    )


def _read(f: AttachedFile):
    import pandas as pd

    name = f.name.lower()
    buf = io.BytesIO(f.data)
    if name.endswith(".parquet"):
        return pd.read_parquet(buf)
    if name.endswith((".xlsx", ".xls")):
        return pd.read_excel(buf)
    if name.endswith(".json"):
        return pd.read_json(buf)
    return pd.read_csv(buf, sep=_delimiter(f.data, name))


def _delimiter(data: bytes, name: str) -> str:
    """The CSV delimiter from the first lines (so pandas' fast C parser can read the file)."""
    import csv

    if name.endswith(".tsv"):
        return "\t"
    head = data[:65536].decode("utf-8", errors="ignore")
    try:
        return csv.Sniffer().sniff(head, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _date_range(df) -> tuple[str | None, str | None, str | None]:
    import warnings

    import pandas as pd

    candidates = [c for c in df.columns if pd.api.types.is_datetime64_any_dtype(df[c])]
    candidates += [c for c in df.columns if c not in candidates and _is_text(df[c])
                   and any(k in str(c).lower() for k in ("date", "time", "day"))]
    candidates += [c for c in df.columns if c not in candidates and _is_text(df[c])]
    for col in candidates[:6]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = pd.to_datetime(df[col], errors="coerce", format="mixed")
        valid = parsed.dropna()
        if len(valid) and len(valid) >= 0.8 * df[col].notna().sum():
            return str(col), valid.min().date().isoformat(), valid.max().date().isoformat()
    return None, None, None


def _is_text(series) -> bool:
    import pandas as pd

    return series.dtype == object or pd.api.types.is_string_dtype(series.dtype)
