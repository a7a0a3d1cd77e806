"""``read_table(name, bytes)`` -> :class:`TableRead` (the tidy frame and its
:class:`TableProfile`). Never raises: a file that cannot be used comes back with
``profile.error`` saying why and what to do."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agent_core.tables import detect
from agent_core.tables.code import Steps, render, run
from agent_core.tables.detect import Found, require
from agent_core.tables.frequency import detect_frequency, looks_crypto
from agent_core.tables.profile import PRICE_ROLES, DroppedColumn, ReadOptions, SheetCandidate, TableProfile
from agent_core.tables.read import (
    DEFAULT_LIMITS,
    Deadline,
    Head,
    Limits,
    Unusable,
    check_workbook_caps,
    excel_options,
    kind_of,
    plan_text,
    read_other,
    read_text,
    read_workbook,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


@dataclass(frozen=True, eq=False)
class TableRead:
    """The tidy table (``None`` when unusable) and what was found."""

    profile: TableProfile
    frame: pd.DataFrame | None = field(default=None, repr=False)
    #: every column as the file has them, in file order, with the date column parsed when one
    #: was found; also for tables that are not prices (views of any returned table use it)
    raw: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.profile.ok and self.frame is not None


def read_table(name: str, data: bytes, *, sheet: str | None = None,
               limits: Limits = DEFAULT_LIMITS) -> TableRead:
    """Read one file of prices. Never raises: failures come back in ``profile.error``."""
    import pandas  # noqa: F401 - imported before the clock starts

    t0 = time.perf_counter()
    name = str(name or "file")
    sheets: tuple[SheetCandidate, ...] = ()
    try:
        result = _read(name, bytes(data or b""), sheet, limits, Deadline(limits.seconds))
    except Unusable as exc:
        sheets = getattr(exc, "sheets", ())
        opts = getattr(exc, "read", None)
        result = TableRead(TableProfile(name=name, error=str(exc), sheets=sheets, read=opts,
                                        read_code=render(opts, Steps(), name) if opts else ""),
                           raw=getattr(exc, "raw", None))
    except MemoryError:
        result = TableRead(TableProfile(name=name, error="The file is too large to read in memory. "
                                        "Upload a shorter date range or fewer columns."))
    except Exception as exc:  # noqa: BLE001 - the caller gets words, never a traceback
        result = TableRead(TableProfile(
            name=name, error=f"The file could not be read as a price table ({type(exc).__name__}: "
                             f"{_short(str(exc))}). Save it as a CSV with a header row, a date column "
                             "and one or more numeric price columns, then upload it again."))
    from dataclasses import replace

    return TableRead(replace(result.profile, read_seconds=round(time.perf_counter() - t0, 4)),
                     result.frame, result.raw)


def _read(name: str, data: bytes, sheet: str | None, limits: Limits, deadline: Deadline) -> TableRead:
    if not data[:65536].strip() and not data.strip():
        raise Unusable("The file is empty. Export the prices again (with a header row and at least "
                       "one row of data) and upload that file.")
    kind = kind_of(name, data)
    if kind == "xls":
        raise Unusable("This is an old Excel .xls file, which is not supported. Open it in Excel or "
                       "LibreOffice and save it as .xlsx or CSV.")
    sheets: tuple[SheetCandidate, ...] = ()
    head = Head()
    if kind == "xlsx":
        check_workbook_caps(data, limits)
        deadline.check("opening the workbook")
        book = read_workbook(data)
        deadline.check("reading the workbook")
        sheets, chosen = _choose_sheet(book, sheet)
        raw, opts = book[chosen], excel_options(chosen)
    elif kind in ("parquet", "json"):
        if len(data) > limits.max_bytes:
            raise Unusable(f"The file is larger than {limits.max_bytes / 1048576:,.0f} MB.")
        raw, opts = read_other(kind, data)
    else:
        opts, head = plan_text(name, data, limits)
        deadline.check("looking at the first lines")
        raw, opts = read_text(data, opts)
    deadline.check("parsing")
    if raw.shape[1] > limits.max_columns:
        raise Unusable(f"The table has {raw.shape[1]:,} columns; the limit is {limits.max_columns:,}.")
    view: list[pd.DataFrame] = [raw]  # the frame with every column, dates parsed once found
    try:
        profile, frame = _analyse(name, raw, opts, head, kind, deadline, view)
    except Unusable as exc:
        exc.sheets, exc.raw, exc.read = sheets, view[-1], opts  # type: ignore[attr-defined]
        raise
    from dataclasses import replace

    return TableRead(replace(profile, sheet=opts.kwargs[0][1] if kind == "xlsx" else None,
                             sheets=sheets), frame, view[-1])


def _choose_sheet(book: dict[str, pd.DataFrame],
                  wanted: str | None) -> tuple[tuple[SheetCandidate, ...], str]:
    import pandas as pd

    cands = []
    for sname, df in book.items():
        usable, why = False, "no column of dates"
        if df.shape[1] < 2 or len(df) < 1:
            why = "empty or a single column (notes, not a table)"
        else:
            f = Found()
            try:
                detect.find_dates(df, f, Steps(), european=False, excel=True)
            except Exception:  # noqa: BLE001 - a sheet we cannot read is not a candidate
                f.date_column = None
            numbers = [c for c in df.columns if c != f.date_column and (
                pd.api.types.is_numeric_dtype(df[c]) or detect.numeric_text(df[c]) is not None)]
            if f.date_column and numbers:
                usable, why = True, f"dates in '{f.date_column}' and {len(numbers)} numeric column(s)"
            elif f.date_column:
                why = "dates but no numeric column"
        cands.append(SheetCandidate(str(sname), int(len(df)), int(df.shape[1]), usable, why))
    sheets = tuple(cands)
    if wanted is not None:
        if wanted not in book:
            err = Unusable(f"The workbook has no sheet named '{wanted}'. Its sheets: "
                           + ", ".join(f"'{s.name}'" for s in sheets) + ".")
            err.sheets = sheets  # type: ignore[attr-defined]
            raise err
        return sheets, wanted
    chosen = next((s.name for s in sheets if s.usable), None)
    if chosen is None:
        err = Unusable("No sheet of the workbook holds a table of dates and numbers (" + "; ".join(
            f"'{s.name}': {s.why}" for s in sheets) + "). Put the prices in one sheet with a header "
            "row, a date column and price columns.")
        first = next(iter(book), None)
        err.sheets = sheets  # type: ignore[attr-defined]
        if first is not None:
            err.raw, err.read = book[first], excel_options(str(first))  # type: ignore[attr-defined]
        raise err
    return sheets, chosen


def _analyse(name: str, raw: pd.DataFrame, opts: ReadOptions, head: Head, kind: str,
             deadline: Deadline, view: list[pd.DataFrame]) -> tuple[TableProfile, pd.DataFrame]:
    steps = Steps()
    source, header_tickers = detect.structure(raw, head.multi_header, steps, kind, head.index_name)
    df = run(raw, steps, deadline)
    done = len(steps.lines)
    detect.tidy_names(list(df.columns), steps)
    df = run(df, steps, deadline, done)
    done = len(steps.lines)
    view.append(df)
    all_columns = [str(c) for c in df.columns]
    rows_in_file = int(len(raw))  # before a side-by-side file is stacked to one row per date and ticker
    require(rows_in_file > 0, "The file has a header but no data rows. Upload a table with at least "
                              "one row of prices (a date and a price on each row).")
    require(len(all_columns) >= 2, "The file has a single column; a price table needs a date column and "
                                   "at least one price column. Check the delimiter and export it again.")
    f = Found()
    european = opts.delimiter == ";" or opts.decimal == ","
    f.decimal = opts.decimal or "."
    detect.find_dates(df, f, steps, european, excel=kind == "xlsx")
    require(f.date_column is not None,
            "No column of dates was found (columns: " + ", ".join(all_columns[:12]) + "). The reader "
            "understands dates like 2024-01-31, 01/31/2024, 31.01.2024, Jan 31, 2024, epoch seconds or "
            "milliseconds and Excel day numbers; put the dates in the first column with a header "
            "such as 'Date' and upload the file again.")
    deadline.check("finding the dates")
    df = run(df, steps, deadline, done)
    done = len(steps.lines)
    view.append(df)
    d = str(f.date_column)
    all_columns = [str(c) for c in df.columns]
    detect.find_ticker(df, f)
    detect.assign_roles(df, f, steps)
    require(bool(f.price_columns),
            f"No numeric price column was found next to the dates in '{d}'. Each price column must hold "
            "numbers like 101.25 (or 101,25 in a ';'-separated file).")
    texts = {c: df[c] for c in f.converted}
    df = run(df, steps, deadline, done)
    done = len(steps.lines)
    deadline.check("reading the numbers")
    for col, text in texts.items():
        _not_numbers(col, text, df[col], f.problems)

    sheet = str(opts.kwargs[0][1]) if kind == "xlsx" else None
    tickers, tickers_from = _tickers(name, df, f, source, header_tickers, sheet)
    if f.ticker_column and len(tickers) == 1:
        f.keep.remove(f.ticker_column)  # a constant symbol column: one instrument
        f.dropped.append(DroppedColumn(f.ticker_column, f"the same symbol ({tickers[0]}) on every row: "
                                       "it names the instrument"))
        f.layout = "ohlc" if _is_ohlc(f) else "single"
        f.ticker_column = None
    if f.keep != [str(c) for c in df.columns]:
        steps.add(f"df = df[{detect.lit(f.keep)}]", "the date, " + ("ticker, " if f.ticker_column else "")
                  + "price and volume columns")
    problems = list(f.problems)
    if head.headerless:
        problems.append(f"The file has no header row; its columns were named {head.headerless}.")
    df = run(df, steps, deadline, done)
    done = len(steps.lines)
    bad_dates = int(df[d].isna().sum())
    if bad_dates:
        steps.add(f"df = df.dropna(subset=[{detect.lit(d)}])", "rows whose date could not be read")
        problems.append(f"{bad_dates:,} row{'s' if bad_dates != 1 else ''} had a date that could not be "
                        f"read in '{d}' and {'were' if bad_dates != 1 else 'was'} left out.")
    empty = int(df[f.price_columns].isna().all(axis=1).sum())
    if empty:
        steps.add(f"df = df.dropna(subset={detect.lit(f.price_columns)}, how=\"all\")",
                  "rows without any price (e.g. 'null' rows)")
        problems.append(f"{empty:,} row{'s' if empty != 1 else ''} without any price (empty or 'null') "
                        f"{'were' if empty != 1 else 'was'} left out.")
    df = run(df, steps, deadline, done)
    done = len(steps.lines)
    if bad_dates or empty:
        f.codes = None  # rows were left out: the codes no longer line up
    before = len(steps.lines)
    _order(df, f, steps, problems)
    if len(steps.lines) - before > 1:
        f.codes = None  # sorted or de-duplicated
    df = run(df, steps, deadline, done)
    deadline.check("sorting")
    import numpy as np
    import pandas as pd

    require(len(df) > 0, "No row has both a date and a price. Check the file's date and price columns.")

    freq_dates = df[d]
    if f.ticker_column:  # the dates of the ticker with the most rows
        codes = pd.factorize(df[f.ticker_column])[0] if f.codes is None else f.codes
        freq_dates = df[d][codes == int(np.argmax(np.bincount(codes[codes >= 0])))]
    frequency = detect_frequency(freq_dates, always_open=bool(tickers) and all(map(looks_crypto, tickers)))
    _value_problems(df, f, problems)
    if tickers_from == "file name":
        problems.append(f"The file does not name its instrument; it is called '{tickers[0]}' after the "
                        "file name.")
    if f.timezone and f.timezone not in ("UTC", "Z", "+00:00", "+0000", " UTC"):
        problems.append(f"The times carry UTC offsets ({f.timezone}); they were converted to UTC.")
    if f.dropped:
        problems.append("Set aside: " + "; ".join(f"'{x.name}' ({x.reason})" for x in f.dropped) + ".")
    start, end = df[d].min(), df[d].max()
    day_ns = 86_400_000_000_000
    intraday = frequency.kind == "intraday" or bool(
        (df[d].to_numpy().astype("datetime64[ns]").view("int64") % day_ns != 0).any())
    iso = "%Y-%m-%dT%H:%M:%S" if intraday else "%Y-%m-%d"
    profile = TableProfile(
        name=name, read=opts, layout=f.layout,  # type: ignore[arg-type]
        date_column=d, date_format=f.date_format, timezone=f.timezone,
        ticker_column=f.ticker_column, tickers=tuple(tickers), tickers_from=tickers_from,
        columns=detect.role_of_columns(f, all_columns), value_column=f.value_column,
        price_columns=tuple(f.price_columns), volume_column=f.volume_column, frequency=frequency,
        rows=rows_in_file, tidy_rows=int(len(df)), start=start.strftime(iso), end=end.strftime(iso),
        problems=tuple(problems), dropped_columns=tuple(f.dropped),
        read_code=render(opts, steps, name))
    return profile, df


def _is_ohlc(f: Found) -> bool:
    have = set(f.roles.values())
    return bool({"close", "adj_close", "price"} & have) and len({"open", "high", "low"} & have) >= 2


def _tickers(name: str, df: pd.DataFrame, f: Found, source: str | None,
             header_tickers: list[str], sheet: str | None = None) -> tuple[list[str], str]:

    if f.ticker_column:
        return [u for u in f.uniques if u not in ("nan", "<NA>", "None")], "column"
    if f.layout == "wide":
        return list(f.wide_tickers), source or "column names"
    if header_tickers:
        return header_tickers[:1], source or "header row"
    value = f.value_column or ""
    if f.layout == "single" and detect.norm(value) not in detect._ROLE_NAMES and value:
        return [value], "column name"
    if sheet and re.fullmatch(r"\^?[A-Z][A-Z0-9]{0,9}([.\-][A-Z]{1,3})?", sheet):
        return [sheet], "sheet name"
    return [detect.ticker_from_name(name)], "file name"


def _order(df: pd.DataFrame, f: Found, steps: Steps, problems: list[str]) -> None:
    """Sort by (ticker,) date when needed and drop duplicated (ticker,) dates, vectorised."""
    import numpy as np
    import pandas as pd

    d = str(f.date_column)
    t = f.ticker_column
    keys = [t, d] if t else [d]
    dv = df[d].to_numpy().astype("datetime64[ns]").view("int64")
    step = np.diff(dv)
    if not t:
        ordered = bool((step >= 0).all())
        strict = bool((step > 0).all())
    else:
        codes = pd.factorize(df[t])[0] if f.codes is None or len(f.codes) != len(df) else f.codes
        change = np.diff(codes) != 0
        contiguous = int(change.sum()) + 1 == len(np.unique(codes))
        if contiguous:
            ordered = bool(((step >= 0) | change).all())
            strict = bool(((step > 0) | change).all())
        else:
            ordered, strict = bool((step >= 0).all()), False
    if not ordered:
        steps.add(f"df = df.sort_values({detect.lit(keys)}, kind=\"stable\")",
                  "oldest first" + (" within each ticker" if t else ""))
        problems.append(f"The rows were not in date order (newest first?); they were sorted "
                        f"{'by ticker and date' if t else 'oldest first'}.")
    if not strict:
        n_dup = int(df.duplicated(subset=keys, keep="last").sum())
        if n_dup:
            steps.add(f"df = df.drop_duplicates({detect.lit(keys)}, keep=\"last\")",
                      "a date twice: keep the last row")
            what = "ticker and date pair" if t else "date"
            problems.append(f"{n_dup:,} duplicated {what}{'s' if n_dup != 1 else ''}; the last row of "
                            "each was kept.")
    steps.add("df = df.reset_index(drop=True)")


def _not_numbers(col: str, text: pd.Series, numbers: pd.Series, problems: list[str]) -> None:
    """Cells that held something but did not read as a number, counted (vectorised)."""
    import pandas as pd

    bad = numbers.isna() & text.notna()
    if not bad.any():
        return
    cells = text[bad].astype(str).str.strip()
    cells = cells[~cells.isin(["", "nan", "NaN", "null", "None", "-", ".", "N/A", "n/a", "#N/A"])]
    if cells.empty:
        return
    examples = ", ".join(repr(v) for v in pd.unique(cells)[:3])
    n = len(cells)
    problems.append(f"{n:,} non-numeric value{'s' if n != 1 else ''} in '{col}' (e.g. {examples}) "
                    f"{'were' if n != 1 else 'was'} treated as missing.")


def _value_problems(df: pd.DataFrame, f: Found, problems: list[str]) -> None:
    for col in f.price_columns:
        missing = int(df[col].isna().sum())
        if missing:
            problems.append(f"{missing:,} missing value{'s' if missing != 1 else ''} in '{col}' (left "
                            "empty; charts skip them).")
        role = f.roles.get(col)
        if role in PRICE_ROLES:
            bad = int((df[col] <= 0).sum())
            if bad:
                problems.append(f"'{col}' has {bad:,} zero or negative prices; check them before "
                                "computing returns.")
    if len(df) < 2:
        problems.append("Only one row of prices: charts and moving averages need more dates.")


def _short(msg: str, limit: int = 160) -> str:
    msg = " ".join(msg.split())
    return msg if len(msg) <= limit else msg[: limit - 1] + "…"

