"""What the columns of a raw frame mean: the date (or date + time) column, the tickers, the
role of every column, the layout and the value column. Each decision adds a tidy statement
to :class:`~agent_core.tables.code.Steps`; nothing here loops over rows in Python (samples
of at most :data:`SAMPLE` values decide, whole columns are converted by pandas).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent_core.tables.code import Steps, lit
from agent_core.tables.profile import PRICE_ROLES, ColumnProfile, DroppedColumn
from agent_core.tables.read import Unusable

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

SAMPLE = 2000

_DATE_NAMES = {"date", "datetime", "timestamp", "time", "day", "tradedate", "period", "datum",
               "fecha", "data", "asof", "dt", "observationdate", "opentime", "starttime", "start",
               "dagsetning", "dato", "index", "unnamed0", "", "t", "datadate", "pricedate"}
_TICKER_NAMES = {"symbol", "ticker", "tickers", "symbols", "asset", "instrument", "security",
                 "stock", "code", "name", "isin", "sym", "pair", "coin", "company", "secid",
                 "permno", "tic"}
_ROLE_NAMES: dict[str, str] = {
    **dict.fromkeys(("open", "openprice", "opening", "o", "first"), "open"),
    **dict.fromkeys(("high", "highprice", "h", "max", "highest"), "high"),
    **dict.fromkeys(("low", "lowprice", "l", "min", "lowest"), "low"),
    **dict.fromkeys(("close", "closeprice", "closelast", "last", "lastprice", "c", "closing",
                     "closingprice", "settle", "settlement"), "close"),
    # European brokers' and exchanges' own headers (de, fr, es, it, pt, nl), accents folded by norm
    **dict.fromkeys(("eroffnung", "eroffn", "eroffnungskurs", "erster", "ouverture", "apertura",
                     "abertura", "openingskoers"), "open"),
    **dict.fromkeys(("hoch", "tageshoch", "hochst", "hochstkurs", "plushaut", "maximo", "maxima",
                     "massimo", "hoog"), "high"),
    **dict.fromkeys(("tief", "tagestief", "tiefst", "tiefstkurs", "plusbas", "minimo", "minima",
                     "laag"), "low"),
    **dict.fromkeys(("schluss", "schlusskurs", "letzter", "zuletzt", "cloture", "dernier", "cierre",
                     "ultimo", "chiusura", "fechamento", "slot", "slotkoers"), "close"),
    **dict.fromkeys(("adjclose", "adjustedclose", "adjcloseprice", "adjustedcloseprice"),
                    "adj_close"),
    **dict.fromkeys(("price", "value", "pxlast", "rate", "mid", "nav", "level", "index",
                     "closevalue", "gengi", "kurs", "midrate"), "price"),
    **dict.fromkeys(("volume", "vol", "v", "qty", "quantity", "shares", "turnover", "volumeto",
                     "volumen", "stucke"), "volume"),
    **dict.fromkeys(("change", "changepct", "pctchange", "chg", "return", "returns", "ret",
                     "changepercent", "percentchange", "pctchg", "dailyreturn", "logreturn",
                     "changerate", "netchange"), "return"),
    **dict.fromkeys(("dividend", "dividends", "dividendamount", "exdividend", "divcash", "div"),
                    "dividend"),
    **dict.fromkeys(("split", "splits", "splitratio", "splitcoefficient", "stocksplits",
                     "splitfactor"), "split"),
    **dict.fromkeys(("closetime", "timestamp", "unix", "epoch", "endtime", "t", "time", "date",
                     "datetime"), "timestamp"),
    **dict.fromkeys(("id", "rownumber", "unnamed0", "row", "no", "index0"), "id"),
}
_OTHER_WHY = {
    "openint": "open interest, not a price", "openinterest": "open interest, not a price",
    "ignore": "a field the exchange leaves unused", "marketcap": "market capitalisation, not a price",
    "numberoftrades": "a count of trades, not a price", "trades": "a count of trades, not a price",
    "count": "a count, not a price", "per": "the bar length code of the file",
    "quoteassetvolume": "the volume in the quote currency (the base volume is used)",
    "takerbuybaseassetvolume": "the takers' share of the volume",
    "takerbuyquoteassetvolume": "the takers' share of the volume, in the quote currency",
}
_DROP_WHY = {
    "return": "a return or percent change, not a price (recompute it from the prices)",
    "dividend": "dividends paid, not a price", "split": "split ratios, not a price",
    "timestamp": "a second timestamp", "id": "row numbers", "other": "not a price or volume",
    "volume": "a second volume column",
}
_INDICATOR = (r"^(s|e|w)?ma\d+$|^(rolling|moving|drawdown|volatil|sharpe|beta|corr|zscore|rsi|macd|"
              r"bollinger|std|var|cum)")
_TIME_TEXT = re.compile(r"^\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$")
_SLASH = r"^(\d{1,2})([/.\-])(\d{1,2})\2(\d{4}|\d{2})(?:[ T](\d{1,2}:\d{2}(?::\d{2})?))?$"
_OFFSET = re.compile(r"(?:[+-]\d{2}:?\d{2}|Z| UTC)$")
_TEXT_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S",
                 "%Y/%m/%d", "%Y%m%d", "%b %d, %Y", "%b %d %Y", "%B %d, %Y", "%B %d %Y",
                 "%d %b %Y", "%d %B %Y", "%d-%b-%Y", "%d-%b-%y", "%Y-%m", "%Y.%m.%d")
_NUM_CLEAN = r"[$€£¥%\s\u00a0,]"


def norm(name: Any) -> str:
    # fold accents first (Eröffnung -> eroffnung, Clôture -> cloture): dropping the letter
    # instead would leave names no table knows
    s = unicodedata.normalize("NFKD", str(name).replace("ß", "ss"))
    s = "".join(ch for ch in s if not unicodedata.combining(ch)).strip().lower().strip("<>")
    s = re.sub(r"^\d+[a-z]?\.\s*", "", s)  # Alpha Vantage's "1. open", "5. adjusted close"
    return re.sub(r"[^a-z0-9]", "", s)


def _role_by_name(name: str) -> str | None:
    n = norm(name)
    raw = str(name).lower()
    if n in _ROLE_NAMES:
        return _ROLE_NAMES[n]
    if re.match(_INDICATOR, n):
        return "other"  # an indicator computed from prices, not a price
    if "%" in raw or n.startswith(("change", "pctch", "return")):
        return "return"
    if n.startswith("adj") and n.endswith("close"):
        return "adj_close"
    if n.startswith("adj"):
        return "other"
    if n.startswith("volume") or n.endswith("volume"):
        return "volume" if n.startswith("volume") else "other"
    if n.startswith(("dividend", "exdiv")):
        return "dividend"
    if n.startswith("split"):
        return "split"
    if n in _OTHER_WHY:
        return "other"
    if n.endswith("time") or n.endswith("timestamp"):
        return "timestamp"
    return None


@dataclass
class Found:
    """The detection results, filled in step by step."""

    date_column: str | None = None
    date_format: str | None = None
    timezone: str | None = None
    time_column: str | None = None
    ticker_column: str | None = None
    tickers_from: str | None = None
    roles: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    keep: list[str] = field(default_factory=list)
    dropped: list[DroppedColumn] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    layout: str | None = None
    value_column: str | None = None
    price_columns: list[str] = field(default_factory=list)
    volume_column: str | None = None
    wide_tickers: list[str] = field(default_factory=list)
    converted: list[str] = field(default_factory=list)  # text columns turned into numbers
    decimal: str = "."
    codes: Any = None                    # the ticker column factorised (first appearance order)
    uniques: list[str] = field(default_factory=list)


# --- structure --------------------------------------------------------------------------------
def structure(df: pd.DataFrame, multi_header: str | None, steps: Steps,
              kind: str, index_name: str | None = None) -> tuple[str | None, list[str]]:
    """Header rows and index -> a flat frame. Returns (where tickers came from, tickers)."""
    import pandas as pd

    tickers: list[str] = []
    source = None
    if multi_header and isinstance(df.columns, pd.MultiIndex):
        tick_level = 1 if multi_header == "price-ticker" else 0
        field_level = 1 - tick_level
        tickers = list(dict.fromkeys(str(t).strip() for t in df.columns.get_level_values(tick_level)))
        fields = [str(f) for f in df.columns.get_level_values(field_level)]
        known = sum(_role_by_name(re.sub(r"\.\d+$", "", f)) is not None for f in fields)
        source = "header row"
        idx = str(index_name or df.index.name or "Date")
        if known < len(fields) / 2:  # the field row holds names: one price column per ticker
            steps.add(f"df.columns = df.columns.get_level_values({tick_level})",
                      "the Ticker header row names the columns")
            steps.add(f"df = df.rename_axis({lit(idx)}).reset_index()", "the dates were the index")
        elif len(tickers) == 1:
            steps.add(f"df.columns = df.columns.get_level_values({field_level})",
                      f"one ticker ({tickers[0]}): keep the field names")
            steps.add(f"df = df.rename_axis({lit(idx)}).reset_index()", "the dates were the index")
        else:
            steps.add(f"df = df.stack(level={tick_level}, future_stack=True)"
                      f".rename_axis([{lit(idx)}, \"Ticker\"]).reset_index()",
                      "several tickers side by side -> one row per date and ticker")
            steps.add("df.columns.name = None")
    elif kind in ("parquet", "json") and not isinstance(df.index, pd.RangeIndex):
        steps.add('df = df.rename_axis(df.index.name or "date").reset_index()', "dates in the index")
    return source, tickers


def tidy_names(columns: list[Any], steps: Steps) -> None:
    clean = [str(c).strip().strip("<>").strip() for c in columns]
    if clean != [str(c) for c in columns]:
        steps.add("df.columns = [str(c).strip().strip(\"<>\").strip() for c in df.columns]",
                  "tidy the column names")


# --- dates ------------------------------------------------------------------------------------
def _sample(s: pd.Series) -> pd.Series:
    """The first and last values (at most SAMPLE, missing ones left out), without a pass over
    the whole column."""
    import pandas as pd

    if len(s) > 4 * SAMPLE:
        half = SAMPLE // 2
        s = pd.concat([s.iloc[:half], s.iloc[-half:]])
    v = s.dropna()
    if len(v) > SAMPLE:
        half = SAMPLE // 2
        v = pd.concat([v.iloc[:half], v.iloc[-half:]])
    return v


def _numeric_dates(s: pd.Series, name_hint: bool, excel: bool) -> tuple[str, str] | None:
    """(code, words) to turn a numeric column into dates, or None."""
    import pandas as pd

    v = _sample(s)
    if v.empty or pd.api.types.is_bool_dtype(s):
        return None
    lo, hi = float(v.min()), float(v.max())
    whole = bool((v % 1 == 0).all())
    c = lit(str(s.name))
    if whole and lo >= 19000101 and hi <= 21001231 and name_hint:
        return (f"df[{c}] = pd.to_datetime(df[{c}].astype(\"Int64\").astype(str), format=\"%Y%m%d\", "
                "errors=\"coerce\")", "YYYYMMDD numbers")
    for unit, a in (("s", 1), ("ms", 1e3), ("us", 1e6), ("ns", 1e9)):
        if 3.15e8 * a <= lo and hi <= 4.2e9 * a and (name_hint or unit != "s"):
            return (f"df[{c}] = pd.to_datetime(df[{c}], unit={lit(unit)}, errors=\"coerce\")",
                    f"epoch {'seconds' if unit == 's' else unit}")
    if lo >= 18264 and hi <= 73051 and (name_hint or excel):
        return (f"df[{c}] = pd.to_datetime(df[{c}], unit=\"D\", origin=\"1899-12-30\", errors=\"coerce\")",
                "Excel serial day numbers")
    return None


def _text_dates(s: pd.Series, european: bool, problems: list[str]) -> tuple[str, str, str | None] | None:
    """(code, words, timezone note) to parse a text column as dates, or None."""
    import pandas as pd

    v = _sample(s).astype(str).str.strip()
    v = v[v != ""]
    if v.empty:
        return None
    if v.str.fullmatch(r"-?\$?[\d,]+(\.\d+)?%?").mean() > 0.5 or v.str.match(_TIME_TEXT.pattern).mean() > 0.5:
        return None
    c = lit(str(s.name))
    tz = None
    text = f"df[{c}]"
    has_offset = v.str.contains(_OFFSET.pattern, regex=True).mean() > 0.5
    slash = v.str.extract(_SLASH)
    if slash[0].notna().mean() > 0.9:
        uniq = pd.Series(s.dropna().astype(str).str.strip().unique())
        parts = uniq.str.extract(_SLASH)
        first, second = pd.to_numeric(parts[0], errors="coerce"), pd.to_numeric(parts[2], errors="coerce")
        sep = slash[1].dropna().iloc[0]
        if (first > 12).any():
            dayfirst = True
        elif (second > 12).any():
            dayfirst = False
        else:
            dayfirst = european
            problems.append(f"Dates in '{s.name}' like {v.iloc[0]} could be day/month or month/day; they "
                            f"were read as {'day/month' if dayfirst else 'month/day'}"
                            f"{' (the file uses European separators)' if european else ''}. If that is "
                            "wrong, save the dates as YYYY-MM-DD.")
        year = "%Y" if len(slash[3].dropna().iloc[0]) == 4 else "%y"
        fmt = f"%d{sep}%m{sep}{year}" if dayfirst else f"%m{sep}%d{sep}{year}"
        if slash[4].notna().mean() > 0.9:
            fmt += " %H:%M:%S" if slash[4].dropna().iloc[0].count(":") == 2 else " %H:%M"
        ok = pd.to_datetime(v, format=fmt, errors="coerce").notna().mean()
        if ok < 0.9:
            return None
        return (f"df[{c}] = pd.to_datetime({text}, format={lit(fmt)}, errors=\"coerce\")",
                "day first" if dayfirst else "month first", tz)
    if has_offset:
        parsed = pd.to_datetime(v, utc=True, errors="coerce", format="ISO8601")
        if parsed.notna().mean() >= 0.9:
            offs = v.str.extract("(" + _OFFSET.pattern + ")")[0].dropna().unique()
            tz = ", ".join(map(str, offs[:3]))
            return (f"df[{c}] = pd.to_datetime({text}, utc=True, format=\"ISO8601\", errors=\"coerce\")"
                    ".dt.tz_localize(None)", "ISO with UTC offsets (converted to UTC)", tz)
    for fmt in _TEXT_FORMATS:
        ok = pd.to_datetime(v, format=fmt, errors="coerce").notna().mean()
        if ok >= 0.95:
            words = "ISO" if fmt.startswith("%Y-%m-%d") else f"text like {v.iloc[0]}"
            return (f"df[{c}] = pd.to_datetime({text}, format={lit(fmt)}, errors=\"coerce\")", words, tz)
    try:
        ok = pd.to_datetime(v, format="mixed", errors="coerce").notna().mean()
    except (ValueError, TypeError, OverflowError):
        return None
    if ok >= 0.9:
        return (f"df[{c}] = pd.to_datetime({text}, format=\"mixed\", errors=\"coerce\")",
                f"mixed text like {v.iloc[0]}", tz)
    return None


def find_dates(df: pd.DataFrame, f: Found, steps: Steps, european: bool, excel: bool) -> None:
    import pandas as pd

    cols = list(df.columns)
    order = sorted(range(len(cols)), key=lambda i: (norm(cols[i]) not in _DATE_NAMES,
                                                     "date" not in norm(cols[i]), i))
    for i in order[:60]:
        col = cols[i]
        s = df[col]
        n = norm(col)
        hint = n in _DATE_NAMES or "date" in n or "time" in n or i == 0
        name = lit(str(col))
        if pd.api.types.is_datetime64_any_dtype(s):
            if getattr(s.dt, "tz", None) is not None:
                steps.add(f"df[{name}] = df[{name}].dt.tz_convert(\"UTC\").dt.tz_localize(None)",
                          "UTC offsets -> UTC times")
                f.timezone = str(s.dt.tz)
            f.date_column, f.date_format = str(col), "read as dates"
            break
        if pd.api.types.is_numeric_dtype(s):
            found = _numeric_dates(s, hint, excel)
            if found:
                steps.add(found[0], f"{found[1]} -> dates")
                f.date_column, f.date_format = str(col), found[1]
                break
            continue
        head = _sample(s)
        if s.dtype == object and len(head) and _is_pydate(head.iloc[0]):
            steps.add(f"df[{name}] = pd.to_datetime(df[{name}])", "dates")
            f.date_column, f.date_format = str(col), "ISO"
            break
        if not (s.dtype == object or pd.api.types.is_string_dtype(s)):
            continue
        found_t = _text_dates(s, european, f.problems)
        if found_t:
            steps.add(found_t[0], f"dates written as {found_t[1]}")
            f.date_column, f.date_format, f.timezone = str(col), found_t[1], found_t[2] or f.timezone
            break
    if f.date_column is None:
        return
    if f.date_column == "" or f.date_column.lower().startswith("unnamed"):  # a saved index
        steps.add(f"df = df.rename(columns={{{lit(f.date_column)}: \"date\"}})", "the unnamed first column "
                  "holds the dates")
        f.date_column = "date"
    f.roles[f.date_column] = "date"
    _find_time(df, f, steps)


def _is_pydate(v: Any) -> bool:
    import datetime as dt

    return isinstance(v, (dt.date, dt.datetime))


def _find_time(df: pd.DataFrame, f: Found, steps: Steps) -> None:
    """A separate time-of-day column (stooq's ``Date,Time``) -> combined into the dates."""
    import pandas as pd

    d = f.date_column
    for col in df.columns:
        if col == d or norm(col) not in ("time", "hour", "timeofday"):
            continue
        s = _sample(df[col])
        if s.empty:
            continue
        text = s.astype(str).str.strip()
        c, dc = lit(str(col)), lit(str(d))
        if text.str.match(_TIME_TEXT.pattern).mean() > 0.9:
            steps.add(f"df[{dc}] = df[{dc}] + pd.to_timedelta(df[{c}].astype(str))",
                      f"add the time of day from '{col}'")
        elif pd.api.types.is_integer_dtype(df[col]) and s.between(0, 235959).all():
            steps.add(f"df[{dc}] = df[{dc}] + pd.to_timedelta(df[{c}].astype(str).str.zfill(6)"
                      ".str.replace(r\"(\\d\\d)(\\d\\d)(\\d\\d)\", r\"\\1:\\2:\\3\", regex=True))",
                      f"add the time of day (HHMMSS) from '{col}'")
        else:
            continue
        f.time_column = str(col)
        f.roles[str(col)] = "time"
        f.date_format = (f.date_format or "") + f" + time from '{col}'"
        return


# --- numbers ----------------------------------------------------------------------------------
def numeric_text(s: pd.Series, decimal: str = ".") -> tuple[str, str | None] | None:
    """(conversion code, unit) for a text column that holds numbers, or None for real text.
    With a decimal comma, dots are thousands marks (``1.234,56``)."""
    import pandas as pd

    v = _sample(s).astype(str).str.strip()
    v = v[(v != "") & (v.str.lower() != "nan")]
    if v.empty:
        return None
    c = lit(str(s.name))
    suffix = v.str.fullmatch(r"-?[\d,.]+[KMBkmb]").mean()
    if suffix > 0.5:
        marks = (".str.replace(\".\", \"\", regex=False).str.replace(\",\", \".\", regex=False)"
                 if decimal == "," else ".str.replace(\",\", \"\", regex=False)")  # 35,04M is 35.04M
        code = (f"df[{c}] = pd.to_numeric(df[{c}].astype(str){marks}"
                f".str.rstrip(\"KMBkmb\"), errors=\"coerce\") * df[{c}].astype(str).str[-1].str.upper()"
                ".map({\"K\": 1e3, \"M\": 1e6, \"B\": 1e9}).fillna(1)")
        return code, "K/M/B"
    if decimal == ",":
        v = v.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    cleaned = pd.to_numeric(v.str.replace(_NUM_CLEAN, "", regex=True), errors="coerce")
    if cleaned.notna().mean() < 0.8:
        return None
    unit = ("%" if v.str.endswith("%").mean() > 0.5 else
            next((u for u in "$€£¥" if v.str.contains(u, regex=False).mean() > 0.5), None))
    text = f"df[{c}].astype(str)"
    if decimal == ",":
        text += ".str.replace(\".\", \"\", regex=False).str.replace(\",\", \".\", regex=False)"
    code = (f"df[{c}] = pd.to_numeric({text}.str.replace({lit(_NUM_CLEAN)}, \"\", regex=True), "
            "errors=\"coerce\")")
    return code, unit


# --- tickers, roles, layout -------------------------------------------------------------------
def find_ticker(df: pd.DataFrame, f: Found) -> None:
    import pandas as pd

    d = f.date_column
    n = len(df)
    best, best_named = None, False
    for col in df.columns:
        if col in (d, f.time_column):
            continue
        s = df[col]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_datetime64_any_dtype(s):
            continue
        sample = _sample(s).astype(str).str.strip()
        if sample.empty or numeric_text(s, f.decimal) is not None:
            continue
        named = norm(col) in _TICKER_NAMES
        if not named and sample.str.len().max() > 24:
            continue
        if sample.nunique() > max(500, n // 2) and n > 4:
            continue
        if named and not best_named:
            best, best_named = col, True
        elif best is None and not named:
            best = col
    if best is None:
        return
    codes, uniques = pd.factorize(df[best])
    if len(uniques) > max(500, n // 2) and n > 4:
        return
    if not best_named and len(uniques) > 1 and not df[d].duplicated().any():
        return  # one row per date and different labels: labels, not tickers
    f.ticker_column = str(best)
    f.roles[str(best)] = "ticker"
    f.tickers_from = "column"
    f.codes, f.uniques = codes, [str(u) for u in uniques]


def assign_roles(df: pd.DataFrame, f: Found, steps: Steps) -> None:
    """The role of every other column; text numbers converted; the layout decided."""
    import pandas as pd

    numeric: list[str] = []
    for col in df.columns:
        col = str(col)
        if col in f.roles:
            continue
        s = df[col]
        role = _role_by_name(col)
        if not s.notna().any():  # an empty column (a trailing delimiter on every line)
            f.roles[col] = "other"
            f.dropped.append(DroppedColumn(col, "empty"))
            continue
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_datetime64_any_dtype(s):
            f.roles[col] = "timestamp" if pd.api.types.is_datetime64_any_dtype(s) else "other"
            continue
        if not pd.api.types.is_numeric_dtype(s):
            conv = numeric_text(s, f.decimal) if s.notna().any() else None
            if conv is None:
                f.roles[col] = role if role in ("id", "other") else ("other" if role is None else role)
                if role not in (None, "other", "id") and s.notna().any():
                    f.roles[col] = "other"
                continue
            f.units[col] = conv[1] or ""
            if role in PRICE_ROLES or role == "volume" or role is None:
                steps.add(conv[0], f"numbers written as text{f' ({conv[1]})' if conv[1] else ''}")
                f.converted.append(col)
        if role == "timestamp" and col != f.date_column:
            f.roles[col] = "timestamp"
            continue
        if role is None and _is_row_number(s):
            f.roles[col] = "id"
            continue
        f.roles[col] = role or "price?"
        if role is None:
            numeric.append(col)
    roles = f.roles
    have = {r for r in roles.values()}
    ohlc = bool({"close", "adj_close", "price"} & have) and len({"open", "high", "low"} & have) >= 2
    named_prices = [c for c, r in roles.items() if r in PRICE_ROLES]
    if f.ticker_column:
        f.layout = "long"
        for c in numeric:
            roles[c] = "other" if named_prices else "price"
    elif ohlc or named_prices:
        f.layout = "ohlc" if ohlc else "single"
        for c in numeric:
            roles[c] = "other"
        if not ohlc and len(named_prices) > 1 and not any(roles[c] in ("close", "adj_close")
                                                          for c in named_prices):
            f.layout = "wide"
            f.wide_tickers = named_prices
    else:
        for c in numeric:
            roles[c] = "price"
        f.layout = "single" if len(numeric) == 1 else "wide"
        if len(numeric) > 1:
            f.wide_tickers = numeric
    for c, r in roles.items():
        if r == "price?":
            roles[c] = "other"
    _pick_value(f)


def _is_row_number(s: pd.Series) -> bool:
    import numpy as np
    import pandas as pd

    if not pd.api.types.is_integer_dtype(s) or len(s) < 3:
        return False
    head = s.iloc[:50].to_numpy()
    return head[0] in (0, 1) and np.array_equal(head, np.arange(head[0], head[0] + len(head))) and (
        str(s.name).lower().startswith(("unnamed", "index", "column")) or str(s.name) in ("", "id"))


def _pick_value(f: Found) -> None:
    roles = f.roles
    by_role: dict[str, list[str]] = {}
    for c, r in roles.items():
        by_role.setdefault(r, []).append(c)
    for r in ("adj_close", "close", "price"):
        if by_role.get(r):
            f.value_column = by_role[r][0]
            break
    if f.layout == "wide":
        f.value_column = None
        f.price_columns = list(f.wide_tickers)
    else:
        f.price_columns = [c for c in roles if roles[c] in PRICE_ROLES]
        # a second close / price column of the same role: keep the first only
        seen: set[str] = set()
        for c in list(f.price_columns):
            if roles[c] in seen:
                roles[c] = "other"
                f.price_columns.remove(c)
                f.dropped.append(DroppedColumn(c, f"a second {roles_word(c, by_role)} column"))
            seen.add(roles[c])
    vols = by_role.get("volume", [])
    f.volume_column = vols[0] if vols else None
    keep = [f.date_column] + ([f.ticker_column] if f.ticker_column else []) + f.price_columns
    if f.volume_column:
        keep.append(f.volume_column)
    f.keep = [c for c in keep if c]
    for c, r in roles.items():
        if c in f.keep or r in ("date", "ticker", "time") or any(d.name == c for d in f.dropped):
            continue
        if r == "volume":
            why = _DROP_WHY["volume"] + f" ({f.volume_column} is used)"
        elif r == "other":
            why = _OTHER_WHY.get(norm(c), _DROP_WHY["other"])
            if norm(c) not in _OTHER_WHY and re.match(_INDICATOR, norm(c)):
                why = "an indicator computed from the prices, not a price"
            if norm(c).startswith("adj"):
                why = f"an adjusted column beside '{f.value_column}', which is the series analysed"
        elif r in ("open", "high", "low", "close", "adj_close", "price"):
            why = "a second column with the same role"
        else:
            why = _DROP_WHY.get(r, "not used")
        f.dropped.append(DroppedColumn(c, why))


def roles_word(c: str, by_role: dict[str, list[str]]) -> str:
    return next((r for r, cs in by_role.items() if c in cs), "price")


def role_of_columns(f: Found, all_columns: list[str]) -> tuple[ColumnProfile, ...]:
    out = []
    dropped = {d.name: d.reason for d in f.dropped}
    for c in all_columns:
        role = f.roles.get(c, "other")
        out.append(ColumnProfile(name=c, role=role, kept=c in f.keep,  # type: ignore[arg-type]
                                 unit=f.units.get(c) or None, note=dropped.get(c)))
    return tuple(out)


def ticker_from_name(name: str) -> str:
    """A symbol-looking token of the file name (``daily_adjusted_AAPL.csv`` -> ``AAPL``)."""
    base = re.split(r"[\\/]", name)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    # investing.com names its downloads "<instrument> Historical Data.csv" (a copy: "... (1)")
    stem = re.sub(r"[\s_\-]+historical[\s_\-]+data(\s*\(\d+\))?$", "", stem, flags=re.I) or stem
    skip = {"CSV", "DATA", "DAILY", "HISTORICAL", "PRICES", "PRICE", "STOCK", "1H", "1D", "1M", "XLSX",
            "ADJUSTED", "TXT", "WEEKLY", "MONTHLY", "INTRADAY", "HISTORY", "QUOTES", "WIKI", "EOD"}
    pair = re.match(r"^([A-Z0-9]{2,10}-(?:USD|EUR|GBP|JPY|USDT|USDC|BTC|ETH))(?=$|[_\s.])", stem)
    if pair:  # Yahoo's crypto and currency pairs: BTC-USD.csv is BTC-USD, not BTC
        return pair.group(1)
    for token in re.split(r"[_\-\s]+", stem):
        if re.fullmatch(r"[A-Z][A-Z0-9]{0,9}(\.[A-Z]{1,3})?|\^[A-Z0-9]{1,8}", token) and token not in skip:
            return token
    stooq = re.match(r"^([a-z0-9^]{1,8})[._](us|uk|jp|de|pl|hk|hu|f|v|b|fr|ca)([._]|$)", stem)
    if stooq:  # stooq names its files aapl_us_h.txt / aapl.us.txt
        return stooq.group(1).upper()
    return stem or "series"


def require(cond: bool, message: str) -> None:
    if not cond:
        raise Unusable(message)
