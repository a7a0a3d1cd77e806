"""Request text -> :class:`Intent`: which recipe, and its parameters.

Reads window sizes ("20-day", "20 and 50 day", "MA50", "window of 30"), colours and
what they apply to ("moving average in red and actual data in blue"), chart kinds,
tickers and columns present in the data, date ranges ("since 2021", "from
2020-01-01 to 2020-06-30", "in 2022", "last 90 days"), resampling frequency and
image format. Pure text processing: no pandas, no I/O.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

KINDS = ("run_code", "synthetic", "question", "out_of_scope", "correlation", "candlestick", "drawdown",
         "volatility", "price_chart", "normalised", "returns", "resample", "summary", "help", "unknown")

#: kinds that need a price table
PRICE_KINDS = frozenset({"correlation", "candlestick", "drawdown", "volatility", "price_chart",
                         "normalised", "returns", "resample", "summary"})

COLOURS = (
    "red", "blue", "green", "orange", "purple", "black", "grey", "gray", "yellow", "pink",
    "brown", "cyan", "magenta", "navy", "teal", "olive", "maroon", "gold", "violet", "turquoise",
    "lime", "indigo", "silver", "crimson", "salmon", "coral", "darkred", "darkblue",
    "darkgreen", "lightblue", "lightgreen", "skyblue", "steelblue", "darkorange",
)
_COLOUR_RE = re.compile(
    r"(?<![\w#])(?:(?:dark|light|sky|steel)\s?)?(?:" + "|".join(sorted(COLOURS, key=len, reverse=True))
    + r")\b|#[0-9a-fA-F]{6}\b", re.I)
_MA_SUBJECT = re.compile(
    r"moving[\s-]?averages?|rolling[\s-](?:mean|average)s?|\b[se]?ma\s*-?\d*\b|\bmas\b|\baverages?\b"
    r"|trend[\s-]?lines?|smoothed", re.I)
_PRICE_SUBJECT = re.compile(
    r"actual(?:\s+(?:data|prices?|values?|series|line|close))?|raw\s+(?:data|prices?)|original(?:\s+data)?"
    r"|(?:closing\s+|close\s+|share\s+|stock\s+)?prices?\b|\bdata\b|\bclose\b|\bseries\b|underlying", re.I)
_CLAUSE_SPLIT = re.compile(r",|;|\band\b|\bwhile\b|\bbut\b|\bwith\b|\.(?:\s|$)", re.I)

_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
_MONTH_RE = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DATE_RE = (rf"(?:\d{{4}}-\d{{1,2}}-\d{{1,2}}|\d{{4}}/\d{{1,2}}/\d{{1,2}}|\d{{4}}-\d{{1,2}}"
            rf"|{_MONTH_RE}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}|\d{{1,2}}\s+{_MONTH_RE},?\s+\d{{4}}"
            rf"|{_MONTH_RE},?\s+\d{{4}}|(?:19|20)\d{{2}})")

# words that look like tickers but are not
_NOT_TICKERS = frozenset({
    "CSV", "PNG", "SVG", "PDF", "OHLC", "OHLCV", "MA", "SMA", "EMA", "ID", "IDS", "USD", "EUR", "A",
    "I", "AND", "OR", "THE", "TO", "IN", "OF", "ON", "AT", "BY", "FOR", "WITH", "MY", "ME", "IT",
    "IS", "AS", "AN", "BE", "DO", "ALL", "JSON", "XLSX", "TSV", "PLEASE", "YTD", "API", "AI", "OK",
    "US", "UK", "EU", "NYSE", "UTC", "ETF", "DATE", "CLOSE", "OPEN", "HIGH", "LOW", "VOLUME",
    "PRICE", "PRICES", "SALES", "DETAILS", "NOT", "NO", "CAGR",
})


@dataclass(frozen=True)
class Intent:
    kind: str
    windows: tuple[int, ...] = ()
    price_color: str | None = None
    ma_colors: tuple[str, ...] = ()
    tickers: tuple[str, ...] = ()              # tickers of the data named in the text
    unknown_tickers: tuple[str, ...] = ()      # ticker-like words the data does not hold
    column: str | None = None                  # a price column of the data named in the text
    date_from: str | None = None               # partial ISO strings ("2021", "2021-03", "2021-03-05")
    date_to: str | None = None
    last: tuple[int, str] | None = None        # (90, "days") for "last 90 days"
    freq: str | None = None                    # W | ME | QE | YE
    image_format: str = "png"
    code: str | None = None                    # run_code: the code, as given
    keyword: str = ""                          # the words that decided the kind
    measure: str | None = None                 # question: return|volatility|drawdown|price|day|value
    extreme: str | None = None                 # question: highest | lowest
    on_date: str | None = None                 # question "value on a date": the date
    month: int | None = None                   # "in February" without a year (the file's year)
    week_windows: tuple[int, ...] = ()         # windows said in weeks (in windows as 5 days each)
    left_out: tuple[str, ...] = ()             # parts of the request no recipe serves, in words


# --- entry point ----------------------------------------------------------------------------
def parse_intent(text: str, *, tickers: Iterable[str] = (), columns: Iterable[str] = ()) -> Intent:
    text = text or ""
    tickers, columns = tuple(tickers), tuple(columns)
    code = extract_code(text)
    if code is not None:
        return Intent(kind="run_code", code=code, keyword="run this code")
    from agent_core.synthetic import spec_from_text

    if spec_from_text(text) is not None:
        return Intent(kind="synthetic", keyword="synthetic companies dataset")

    if OUT_OF_SCOPE.search(text):
        return Intent(kind="out_of_scope", keyword=OUT_OF_SCOPE.search(text).group(0))  # type: ignore[union-attr]
    left_out = extract_left_out(text)
    on_date = extract_on_date(text)
    rest, date_from, date_to, last = extract_dates(text)
    rest = _RETURN_AS.sub(" ", rest)  # "return it as a CSV" asks for a file, not for returns
    month = None if date_from or date_to or on_date else extract_bare_month(rest)
    if month is not None:
        intent = parse_intent(_BARE_MONTH.sub(" ", text), tickers=tickers, columns=columns)
        return replace(intent, month=month)
    question = extract_question(rest)
    if question is not None or on_date:
        measure, extreme = question or ("value", None)
        found, unknown = extract_tickers(text, tickers)
        return Intent(kind="question", measure=measure, extreme=extreme, on_date=on_date,
                      tickers=found, unknown_tickers=unknown, column=extract_column(text, columns),
                      date_from=None if on_date else date_from, date_to=None if on_date else date_to,
                      last=last, keyword="question", left_out=left_out)
    kind, keyword = classify(rest)
    windows = extract_windows(rest)
    if kind == "price_chart" and not windows and _MA_SUBJECT.search(rest):
        windows = (20,)
    if kind == "volatility" and not windows:
        windows = (20,)
    price_color, ma_colors = extract_colours(rest)
    found, unknown = extract_tickers(text, tickers)
    return Intent(
        kind=kind, windows=windows, week_windows=extract_week_windows(rest), price_color=price_color,
        ma_colors=ma_colors, tickers=found,
        unknown_tickers=unknown, column=extract_column(text, columns), date_from=date_from,
        date_to=date_to, last=last, freq=extract_freq(rest), image_format=extract_format(text),
        keyword=keyword, left_out=left_out,
    )


# --- out of scope, questions -----------------------------------------------------------------
#: requests that need world knowledge or free text: no price recipe can serve them
OUT_OF_SCOPE = re.compile(
    r"\b(?:books?|novels?|poems?|essays?|stor(?:y|ies)|recipes? for|jokes?|movies?|songs?|authors?"
    r"|greatest|famous|biograph\w*|translate|news|headlines|write\s+(?:me\s+)?(?:a|an)\s+"
    r"(?:email|letter|poem|story|essay|summary of)|who\s+(?:is|was|invented|wrote))\b", re.I)
_RETURN_AS = re.compile(r"\breturn\s+(?:it|them|this|that|the\s+\w+)\s+(?:as|in)\b", re.I)
_ANNUALISED_RETURN = r"annuali[sz]ed\s+(?:total\s+)?returns?|compound(?:ed)?\s+annual|\bcagr\b"
_MEASURES = (("volatility", r"volatil|\bvol\b|risk(?:iest)?"), ("drawdown", r"draw[\s-]?down"),
             ("annualised_return", _ANNUALISED_RETURN),
             ("return", r"\breturns?\b|gain|performance|perform(?:ed|er)|\bup\b"),
             ("price", r"prices?|close|value"))


#: chart kinds and measures analysts ask for that no recipe draws or computes: (pattern, words)
_NOT_SERVED = (
    (r"\bpie\b", "a pie chart"),
    (r"\bscatter", "a scatter plot"),
    (r"\b3-?d\b", "a 3D chart"),
    (r"\barea\s+(?:chart|plot|graph)", "an area chart"),
    (r"\banimat", "an animation"),
    (r"\blog(?:arithmic)?[\s-]*(?:scale|axis)", "a logarithmic scale"),
    (r"\bsharpe", "the Sharpe ratio"),
    (r"\bsortino", "the Sortino ratio"),
    (r"\bbeta\b", "beta"),
    (r"\brsi\b|relative\s+strength", "the RSI"),
    (r"\bmacd\b", "the MACD"),
    (r"\bbollinger", "Bollinger bands"),
    (r"\bema\b|\bema\s*-?\d+|exponential(?:ly)?[\s-]+(?:weighted\s+)?moving", "exponential weighting (the "
     "moving averages drawn are simple)"),
    (r"(?i:value[\s-]at[\s-]risk)|\bVaR\b", "value at risk"),  # case kept: "var" is a word
    (r"\bforecast|\bpredict|\bprojection", "a forecast"),
)


def extract_left_out(text: str) -> tuple[str, ...]:
    """What the request asks for that no recipe serves ("as a pie chart", "the Sharpe ratio"):
    said in the answer, never dropped without a word."""
    return tuple(words for pattern, words in _NOT_SERVED
                 if re.search(pattern, text, 0 if "VaR" in pattern else re.I))


def extract_question(text: str) -> tuple[str, str | None] | None:
    """(measure, extreme) of "which ticker had the highest volatility", "best day", "lowest
    price", "biggest drawdown"; None for a request that is not such a question."""
    low = text.lower()
    day = re.search(r"\b(best|worst|biggest\s+(?:gain|loss|drop|fall|rise))\s+(day|week|month|session|bar)"
                    r"|\b(largest|biggest)\s+(?:one[\s-]day|daily)\s+(gain|rise|loss|drop|fall)", low)
    if day:
        word = day.group(1) or day.group(4) or ""
        good = any(w in word for w in ("best", "gain", "rise"))
        return "day", "highest" if good else "lowest"
    m = re.search(r"\b(highest|lowest|largest|smallest|biggest|most|least|max(?:imum)?|min(?:imum)?"
                  r"|best|worst|deepest|top)\b", low)
    asks = re.search(r"\b(which|what|who|where|when)\b|\?\s*$", low)
    if not m and asks:
        return _plain_question(low)
    if not m or not asks:
        return None
    word = m.group(1)
    extreme = ("lowest" if word in ("lowest", "smallest", "least", "min", "minimum", "worst") else "highest")
    for measure, pattern in _MEASURES:
        if re.search(pattern, low):
            if measure == "drawdown" and word in ("biggest", "largest", "deepest", "worst", "max", "maximum"):
                extreme = "highest"
            return measure, extreme
    return None


#: "what was the annualised volatility?", "how volatile was it?", "what is the max drawdown":
#: one number per ticker over the period, not a chart; a window or a chart word makes it a chart
_PLAIN_MEASURES = (("volatility", r"\bvolatil|\bhow\s+risky"), ("drawdown", r"draw[\s-]?down(?!s)"),
                   ("annualised_return", _ANNUALISED_RETURN),
                   ("return", r"\b(?:total|overall|cumulative)\s+return\b|\breturn\b(?!s)"))
_PLAIN_ASK = re.compile(r"^\s*(?:so\s+|and\s+|ok,?\s+)?(?:what|how)\b|\?\s*$", re.I)
_CHART_WORDS = re.compile(r"chart|plot|graph|\bdraw\b|rolling|window|moving|\d+[\s-]*(?:day|week|month|"
                          r"period|bar)|histogram|distribution|over\s+time", re.I)


def _plain_question(low: str) -> tuple[str, None] | None:
    """(measure, None) of a question that asks for a number without ranking the tickers."""
    if not _PLAIN_ASK.search(low) or _CHART_WORDS.search(low):
        return None
    for measure, pattern in _PLAIN_MEASURES:
        if re.search(pattern, low):
            return measure, None
    return None


_BARE_MONTH = re.compile(r"\b(?:in|for|during|of)\s+(january|february|march|april|may|june|july|august"
                         r"|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sept?|oct"
                         r"|nov|dec)\b\.?(?!\s*,?\s*\d)", re.I)


def extract_bare_month(text: str) -> int | None:
    """The month of "in February" said without a year (1-12); the planner finds its year in
    the file (the dates of "in February 2024" are read by :func:`extract_dates`)."""
    m = _BARE_MONTH.search(text)
    return _MONTHS[m.group(1).lower()[:3]] if m else None


def extract_on_date(text: str) -> str | None:
    """The date of "the value (price, close) on 2020-03-16" / "what was AAPL at on 5 March 2021"."""
    m = re.search(rf"\b(?:value|price|close|level|worth|trading|at)\b[^.?]*?\b(?:on|at)\s+({_DATE_RE})",
                  text, re.I)
    if not m:
        return None
    d = _norm_date(m.group(1))
    return d if d and len(d) == 10 else None


# --- the kind --------------------------------------------------------------------------------
_KIND_RULES: tuple[tuple[str, str], ...] = (
    ("correlation", r"correl|\bcorr\b|heat[\s-]?map|co-?movement"),
    ("candlestick", r"candle|\bohlc"),
    ("drawdown", r"draw[\s-]?downs?|peak[\s-]to[\s-]trough|underwater"),
    ("volatility", r"volatil|rolling\s+(?:std|standard\s+deviation)|\bvol\b"),
    ("price_chart", r"moving[\s-]?averages?|rolling[\s-](?:mean|average)|\b[se]?ma\s*-?\d+\b|\b[se]?mas?\b"
                    r"|trend[\s-]?lines?"),
    ("normalised", r"normali[sz]|rebas|indexed\s+to|relative\s+performance|\bcompar|base\s+100"
                   r"|side[\s-]by[\s-]side|growth\s+of|\bvs\.?(?!\w)|\bversus\b"),
    ("summary", r"summary\s+stat|statistic|\bstats\b|\bdescribe\b|overview"),
    ("returns", r"\breturns?\b|histogram|distribution|daily\s+(?:changes?|moves?)|pct\s+change"
                r"|percent(?:age)?\s+change"),
    ("resample", r"weekly|monthly|quarterly|yearly|annual\s+(?:prices|data)|resampl|downsampl"
                 r"|per\s+(?:week|month|quarter)|month[\s-]end|week[\s-]end"),
    ("summary", r"summary|summari[sz]e|min(?:imum)?\s+and\s+max"),
    ("price_chart", r"chart|plot|graph|visuali[sz]e|\bdraw\b|\blines?\b|show\s+(?:me\s+)?(?:the\s+)?prices?"),
    ("help", r"what\s+can\s+you\s+do|^\s*help\b|\bhelp\s+me\b|how\s+do\s+i\s+use|capabilit"),
)


def classify(text: str) -> tuple[str, str]:
    low = text.lower()
    for kind, pattern in _KIND_RULES:
        m = re.search(pattern, low)
        if m:
            return kind, m.group(0)
    return "unknown", ""


# --- code to run as is ------------------------------------------------------------------------
_FENCE = re.compile(r"(?<!`)(`{3,})[ \t]*(?:python3|python|py)?[ \t]*\n?(.*?)(?<!`)\1(?!`)", re.S | re.I)


def extract_code(text: str) -> str | None:
    """The code of "run this code: ```...```" (or a request that is only a code block)."""
    m = _FENCE.search(text)
    if m:
        before = text[: m.start()].lower()
        if re.search(r"\b(run|execute|exec|evaluate|try)\b", before) or not before.strip():
            code = m.group(2).strip("\n")
            return code if code.strip() else None
        return None
    m = re.match(r"\s*(?:please\s+)?(?:run|execute)\s+(?:this|the following|my)\s+"
                 r"(?:python\s+)?code\s*:\s*\n(.+)", text, re.S | re.I)
    if m and m.group(1).strip():
        return m.group(1).strip("\n")
    return None


# --- dates -----------------------------------------------------------------------------------
def _norm_date(s: str, *, end: bool = False) -> str | None:
    s = s.strip().rstrip(",").lower()
    m = re.fullmatch(r"(\d{4})[-/](\d{1,2})(?:[-/](\d{1,2}))?", s)
    if m:
        y, mo, d = m.group(1), int(m.group(2)), m.group(3)
        if not 1 <= mo <= 12:
            return None
        return f"{y}-{mo:02d}" + (f"-{int(d):02d}" if d else "")
    if re.fullmatch(r"(?:19|20)\d{2}", s):
        return s
    m = re.fullmatch(rf"({_MONTH_RE})\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})", s)
    if m:
        return f"{m.group(3)}-{_MONTHS[m.group(1)[:3]]:02d}-{int(m.group(2)):02d}"
    m = re.fullmatch(rf"(\d{{1,2}})\s+({_MONTH_RE}),?\s+(\d{{4}})", s)
    if m:
        return f"{m.group(3)}-{_MONTHS[m.group(2)[:3]]:02d}-{int(m.group(1)):02d}"
    m = re.fullmatch(rf"({_MONTH_RE}),?\s+(\d{{4}})", s)
    if m:
        return f"{m.group(2)}-{_MONTHS[m.group(1)[:3]]:02d}"
    return None


def extract_dates(text: str) -> tuple[str, str | None, str | None, tuple[int, str] | None]:
    """(text without the date phrases, date_from, date_to, last)."""
    date_from = date_to = None
    last = None
    rest = text
    patterns = (
        (rf"\b(?:from|between)\s+({_DATE_RE})\s+(?:to|until|till|through|thru|and|-|–)"
         rf"\s+({_DATE_RE})", "range"),
        (rf"\b(?:since|after|starting(?:\s+(?:from|in|on))?|from|beginning)\s+({_DATE_RE})", "from"),
        (rf"\b(?:until|till|up\s+to|before|through|to|ending(?:\s+in)?)\s+({_DATE_RE})", "to"),
        (rf"\b(?:in|for|during|of)\s+(\d{{4}}-\d{{1,2}}(?![\d-])|(?:19|20)\d{{2}}(?![-/]\d)"
         rf"|{_MONTH_RE},?\s+\d{{4}})\b", "in"),
    )
    for pattern, what in patterns:
        m = re.search(pattern, rest, re.I)
        if not m:
            continue
        a = _norm_date(m.group(1))
        if a is None:
            continue
        if what == "range":
            b = _norm_date(m.group(2))
            if b is None:
                continue
            date_from, date_to = a, b
        elif what == "from" and date_from is None:
            date_from = a
        elif what == "to" and date_to is None:
            date_to = a
        elif what == "in" and date_from is None and date_to is None:
            date_from = date_to = a
        else:
            continue
        rest = rest[: m.start()] + " " + rest[m.end():]
    m = re.search(r"\b(?:last|past|previous|recent)\s+(\d+)?\s*(day|week|month|year)s?\b", rest, re.I)
    if m:
        last = (int(m.group(1) or 1), m.group(2).lower() + "s")
        rest = rest[: m.start()] + " " + rest[m.end():]
    return rest, date_from, date_to, last


# --- windows ---------------------------------------------------------------------------------
_NUMS = r"\d{1,3}(?:\s*(?:,|and|&|/|or)\s*\d{1,3})*"


_WEEKS = rf"({_NUMS})\s*[-\s]?\s*(?:week|wk)s?\b"


def extract_week_windows(text: str) -> tuple[int, ...]:
    """The windows said in weeks ("20-week average"), as numbers of weeks: on daily data they
    are 5 days each (as :func:`extract_windows` gives them), on weekly data that many rows."""
    return tuple(int(n) for m in re.finditer(_WEEKS, text, re.I) for n in re.findall(r"\d+", m.group(1)))


def extract_windows(text: str) -> tuple[int, ...]:
    found: list[tuple[int, int]] = []  # (position, window)

    def add(pos: int, group: str, factor: int = 1) -> None:
        for n in re.findall(r"\d+", group):
            found.append((pos, int(n) * factor))

    for m in re.finditer(rf"({_NUMS})\s*[-\s]?\s*(day|d|period|session|bar|week|wk)s?\b", text, re.I):
        add(m.start(), m.group(1), 5 if m.group(2).lower() in ("week", "wk") else 1)
    for m in re.finditer(r"\b[se]?ma\s*[-_ ]?(\d{1,3})\b", text, re.I):
        add(m.start(), m.group(1))
    for m in re.finditer(rf"\b(?:windows?|periods?|lookback|span|length)\s*"
                         rf"(?:of|=|:|is|are|sizes?)?\s*({_NUMS})\b", text, re.I):
        add(m.start(), m.group(1))
    for m in re.finditer(rf"({_NUMS})\s*[-\s]?\s*(?:moving|rolling)", text, re.I):
        add(m.start(), m.group(1))
    for m in re.finditer(rf"(?:moving|rolling)\s+(?:averages?|means?|volatility)\s+"
                         rf"(?:of|over|with)\s+({_NUMS})", text, re.I):
        add(m.start(), m.group(1))
    seen: list[int] = []
    for _, w in sorted(found):
        if 2 <= w <= 1000 and w not in seen:
            seen.append(w)
    return tuple(seen)


# --- colours ---------------------------------------------------------------------------------
def _colour_name(s: str) -> str:
    s = s.strip()
    return s if s.startswith("#") else re.sub(r"\s+", "", s.lower())


def extract_colours(text: str) -> tuple[str | None, tuple[str, ...]]:
    """(price colour, moving-average colours) from phrases such as "moving average in red
    and actual data in blue", "red 20-day MA", "price in black, averages in red and green"."""
    price: str | None = None
    mas: list[str] = []
    last_subject: str | None = None
    for clause in _CLAUSE_SPLIT.split(text):
        colours = list(_COLOUR_RE.finditer(clause))
        subjects = [(m.start(), "ma") for m in _MA_SUBJECT.finditer(clause)]
        subjects += [(m.start(), "price") for m in _PRICE_SUBJECT.finditer(clause)
                     if not any(abs(m.start() - s) < 3 for s, _ in subjects)]
        subjects.sort()
        prev_end = 0
        for c in colours:
            before = [k for pos, k in subjects if prev_end <= pos < c.start()]
            after = [k for pos, k in subjects if pos > c.end()]
            subject = before[-1] if before else (after[0] if after else last_subject)
            if subject is None:
                subject = "price"
            colour = _colour_name(c.group(0))
            if subject == "ma":
                if colour not in mas:
                    mas.append(colour)
            elif price is None:
                price = colour
            last_subject = subject
            prev_end = c.end()
        if subjects and not colours:
            last_subject = subjects[-1][1]
    return price, tuple(mas)


# --- tickers, columns, frequency, format ---------------------------------------------------
_STOP_CASE = frozenset({"on", "it", "all", "now", "are", "be", "so", "go", "an", "a", "key", "low",
                        "high", "open", "close", "big", "fun", "cat", "car", "see", "has", "new"})


def extract_tickers(text: str, known: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    known = [str(k) for k in known]
    found: list[tuple[int, str]] = []
    for t in known:
        if not t:
            continue
        flags = 0 if (t.lower() in _STOP_CASE or len(t) < 2) else re.I
        m = re.search(rf"(?<![\w.]){re.escape(t)}(?![\w])", text, flags)
        if m:
            found.append((m.start(), t))
    found.sort()
    known_upper = {k.upper() for k in known}
    unknown = []
    if known:
        for m in re.finditer(r"(?<![\w$#])\$?([A-Z]{2,5}(?:\.[A-Z])?)(?![\w])", text):
            w = m.group(1)
            if w not in known_upper and w not in _NOT_TICKERS and w not in unknown:
                unknown.append(w)
    return tuple(t for _, t in found), tuple(unknown)


def extract_column(text: str, columns: Iterable[str]) -> str | None:
    best = None
    for c in columns:
        c = str(c)
        if len(c) < 2:
            continue
        m = re.search(rf"(?<![\w]){re.escape(c)}(?![\w])", text, re.I)
        if m and (best is None or len(c) > len(best)):
            best = c
    return best


def extract_freq(text: str) -> str | None:
    low = text.lower()
    for pattern, freq in ((r"weekly|per\s+week|week[\s-]end|\bweeks?\b", "W"),
                          (r"monthly|per\s+month|month[\s-]end|\bmonths?\b", "ME"),
                          (r"quarterly|per\s+quarter|\bquarters?\b", "QE"),
                          (r"yearly|annual(?:ly)?\s+(?:prices|data|bars)|per\s+year", "YE")):
        if re.search(pattern, low):
            return freq
    return None


def extract_format(text: str) -> str:
    low = text.lower()
    if re.search(r"\bsvg\b", low):
        return "svg"
    if re.search(r"\bpdf\b", low):
        return "pdf"
    return "png"
