"""The profile in words (the Upload verdict, ``inspect``) and the frame in the shapes views
need: ``date, ticker, price`` rows for charts, a trimmed copy, CSV bytes."""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from agent_core.tables.profile import ROLES, TableProfile

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

LAYOUT_WORDS = {"long": "long (one row per ticker and date)", "wide": "wide (one column per ticker)",
                "ohlc": "OHLC (open/high/low/close of one instrument)",
                "single": "a single price series"}


def describe(p: TableProfile) -> str:
    """A one-line verdict."""
    if p.error:
        return f"{p.name}: cannot be used. {p.error}"
    tick = ", ".join(p.tickers[:5]) + (f" and {len(p.tickers) - 5} more" if len(p.tickers) > 5 else "")
    n = len(p.problems)
    probs = "no problems" if n == 0 else f"{n} thing{'s' if n != 1 else ''} to check (see below)"
    return (f"{p.name}: {p.layout} layout, {len(p.tickers)} ticker{'s' if len(p.tickers) != 1 else ''} "
            f"({tick}), {p.frequency.words()}, {p.tidy_rows:,} rows from {p.start} to {p.end}; {probs}.")


def detected_rows(p: TableProfile) -> list[tuple[str, str]]:
    """What was detected, as (label, value) pairs."""
    fmt = (p.file_format or "?").upper()
    if p.read and p.file_format == "csv":
        sep = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}.get(p.read.delimiter or ",", "?")
        fmt += f" ({sep}-separated, {p.read.encoding}"
        fmt += ", decimal comma" if p.read.decimal == "," else ""
        fmt += ", thousands separator" if p.read.thousands else ""
        fmt += f", {p.read.header_rows} header rows" if p.read.header_rows > 1 else ""
        fmt += ")"
    if p.sheet:
        fmt += f" (sheet '{p.sheet}')"
    tickers = ", ".join(p.tickers[:12]) + (f" (+{len(p.tickers) - 12} more)" if len(p.tickers) > 12 else "")
    ppy = p.frequency.periods_per_year
    return [
        ("Layout", LAYOUT_WORDS.get(p.layout or "", str(p.layout))),
        ("Date column", f"{p.date_column} ({p.date_format})"),
        ("Tickers", f"{tickers} (from the {p.tickers_from})" if tickers else "-"),
        ("Value column", str(p.value_column or "one column per ticker")),
        ("Price columns", ", ".join(p.price_columns)),
        ("Frequency", p.frequency.words() + (f", {ppy:g} periods a year" if ppy else "")),
        ("Rows", f"{p.tidy_rows:,} (of {p.rows:,} in the file)" if p.tidy_rows <= p.rows else
                 f"{p.tidy_rows:,} (one per date and ticker, from {p.rows:,} rows in the file)"),
        ("Date range", f"{p.start} to {p.end}"),
        ("Read as", fmt),
    ]


def verdict_text(p: TableProfile) -> str:
    """The whole verdict in words (``python -m agent_core inspect FILE``)."""
    if p.error:
        lines = [f"{p.name}: cannot be used.", p.error]
        if p.sheets:
            lines.append("Sheets: " + "; ".join(f"'{s.name}' ({s.why})" for s in p.sheets))
        return "\n".join(lines) + "\n"
    lines = [describe(p), ""]
    lines += [f"  {k}: {v}" for k, v in detected_rows(p)]
    lines.append("  Columns:")
    for c in p.columns:
        mark = "kept" if c.kept else "set aside"
        unit = f", unit {c.unit}" if c.unit else ""
        lines.append(f"    {c.name}: {c.role} ({ROLES.get(c.role, '')}){unit}; {mark}"
                     + (f": {c.note}" if c.note and not c.kept else ""))
    if len(p.sheets) > 1:
        lines.append("  Sheets: " + "; ".join(f"'{s.name}' ({s.why})" for s in p.sheets))
    if p.problems:
        lines.append("  To check:")
        lines += [f"    - {x}" for x in p.problems]
    lines += ["", "Read it with pandas:", p.read_code]
    return "\n".join(lines)


def to_long(p: TableProfile, frame: pd.DataFrame | None) -> pd.DataFrame:
    """``date, ticker, price`` rows of the value series (for charts)."""
    import pandas as pd

    empty = pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"),
                          "ticker": pd.Series(dtype=object), "price": pd.Series(dtype=float)})
    if frame is None or not p.ok or not p.date_column:
        return empty
    d = p.date_column
    if p.layout == "long" and p.ticker_column and p.value_column:
        out = frame[[d, p.ticker_column, p.value_column]].copy()
        out.columns = ["date", "ticker", "price"]
    elif p.layout in ("ohlc", "single") and p.value_column:
        out = pd.DataFrame({"date": frame[d], "ticker": p.tickers[0] if p.tickers else p.value_column,
                            "price": frame[p.value_column]})
    else:
        cols = [c for c in p.price_columns if c in frame.columns]
        out = frame[[d, *cols]].melt(id_vars=[d], var_name="ticker", value_name="price")
        out = out.rename(columns={d: "date"})
    out["ticker"] = out["ticker"].astype(str)
    out["price"] = pd.to_numeric(out["price"], errors="coerce")
    return out.dropna(subset=["price"]).reset_index(drop=True)


def subset(p: TableProfile, frame: pd.DataFrame | None, *, start: Any = None, end: Any = None,
           tickers: Iterable[str] | None = None, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """A smaller copy of the tidy table: a date range, some tickers, some price columns."""
    import pandas as pd

    if frame is None or not p.ok or not p.date_column:
        return pd.DataFrame()
    df, d = frame, p.date_column
    mask = pd.Series(True, index=df.index)
    if start is not None:
        mask &= df[d] >= pd.Timestamp(start)
    if end is not None:
        end_ts = pd.Timestamp(end)
        if end_ts == end_ts.normalize():
            end_ts += pd.Timedelta(days=1) - pd.Timedelta(1, "ns")
        mask &= df[d] <= end_ts
    keep = [d]
    if p.ticker_column:
        keep.append(p.ticker_column)
        if tickers is not None:
            mask &= df[p.ticker_column].isin(list(tickers))
    wanted = list(p.price_columns) + ([p.volume_column] if p.volume_column else [])
    if p.layout == "wide" and tickers is not None:
        wanted = [c for c in wanted if c in set(tickers)]
    if columns is not None:
        chosen = set(columns)
        wanted = [c for c in wanted if c in chosen]
    return df.loc[mask, keep + wanted].reset_index(drop=True)


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """UTF-8 CSV bytes (ISO dates, no index)."""
    import pandas as pd

    timed = any(pd.api.types.is_datetime64_any_dtype(frame[c]) and
                bool((frame[c].dropna() != frame[c].dropna().dt.normalize()).any()) for c in frame.columns)
    return frame.to_csv(index=False, date_format="%Y-%m-%d %H:%M:%S" if timed else "%Y-%m-%d").encode()
