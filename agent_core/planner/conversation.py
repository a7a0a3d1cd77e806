"""What a local-agent conversation is about: a typed, frozen :class:`AnalysisState`, and
how one turn's text changes it.

A follow-up is read as a change to the state ("now only AAPL and MSFT", "use a 50-day
average", "add a 200-day moving average too", "same for 2008", "as a histogram", "as
candlesticks", "export the result as CSV", "what about GOOG?"); a request with an analysis
of its own and no follow-up words starts afresh on the same file. The state is plain data
(``to_json`` / ``from_json``) so the run store can keep it with the session.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, replace
from typing import Any

from agent_core.planner.intent import PRICE_KINDS, Intent

#: chart kinds a follow-up can switch to ("as a histogram")
_AS_KIND = (
    (r"histogram|distribution", "returns"),
    (r"candle|\bohlc", "candlestick"),
    (r"drawdown", "drawdown"),
    (r"line\s*chart|price\s*chart|\bchart\b|\bplot\b", "price_chart"),
)
_FOLLOW = re.compile(
    r"^\s*(?:and\s+|ok(?:ay)?,?\s+|now\b|same\b|what\s+about\b|how\s+about\b|and\s+for\b|only\b|just\b"
    r"|add\b|also\b|use\b|instead\b|as\s+(?:a|an)?\s*\w|export\b|save\b|make\s+it\b|change\b"
    r"|switch\b|remove\b|drop\b|without\b)"
    r"|\b(?:too|as\s+well|instead|also)\b[.!?]*\s*$"
    # "compare them", "correlation of those two", "plot both": the tickers of the turn before
    r"|\b(?:them|those|both)\b", re.I)
_ADD = re.compile(r"\b(?:add|too|also|as\s+well|plus)\b", re.I)
_EXPORT = re.compile(r"\b(?:export|save|download|give\s+me)\b.*\b(csv|excel|xlsx|spreadsheet)\b"
                     r"|\b(?:as|to|in)\s+(?:a\s+|an\s+)?(csv|excel|xlsx)\b", re.I)
_WHAT_ABOUT = re.compile(r"\b(?:what|how)\s+about\b", re.I)


@dataclass(frozen=True)
class AnalysisState:
    """The analysis a session is on. ``kind`` is a recipe kind or ``question``."""

    file: str | None = None
    kind: str | None = None
    tickers: tuple[str, ...] = ()
    windows: tuple[int, ...] = ()
    date_from: str | None = None
    date_to: str | None = None
    measure: str | None = None            # question: return | volatility | drawdown | price | day
    extreme: str | None = None            # question: highest | lowest
    on_date: str | None = None            # question: the value on a date
    export: str | None = None             # csv | xlsx: the last turn asked to export
    last_result: tuple[str, ...] = ()     # the files the last turn wrote

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | None) -> AnalysisState | None:
        if not text:
            return None
        try:
            raw = json.loads(text)
        except ValueError:
            return None
        fields = set(cls.__dataclass_fields__)
        clean: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                                 for k, v in raw.items() if k in fields}
        return cls(**clean)


def is_follow_up(text: str) -> bool:
    return bool(_FOLLOW.search(text or "")) or bool(_WHAT_ABOUT.search(text or ""))


def export_format(text: str) -> str | None:
    m = _EXPORT.search(text or "")
    if not m:
        return None
    word = (m.group(1) or m.group(2) or "").lower()
    return "xlsx" if word in ("excel", "xlsx", "spreadsheet") else "csv"


def _as_kind(text: str) -> str | None:
    m = re.search(r"\b(?:as|into|to)\s+(?:a\s+|an\s+)?(\w[\w\s]{0,20})", text, re.I)
    if not m:
        return None
    for pattern, kind in _AS_KIND:
        if re.search(pattern, m.group(1), re.I):
            return kind
    return None


def next_state(prev: AnalysisState | None, intent: Intent, text: str, file: str | None,
               file_tickers: tuple[str, ...]) -> AnalysisState:
    """The state after a turn whose text parsed to ``intent``, on the table ``file`` (which
    holds ``file_tickers``). ``prev`` is the state before (None on the first turn)."""
    fresh = AnalysisState(file=file, kind=intent.kind if intent.kind in PRICE_KINDS | {"question"} else None,
                          tickers=intent.tickers, windows=intent.windows, date_from=intent.date_from,
                          date_to=intent.date_to, measure=intent.measure, extreme=intent.extreme,
                          on_date=intent.on_date)
    if prev is None or prev.kind is None:
        if fresh.kind is None and intent.kind == "unknown" and intent.windows:
            fresh = replace(fresh, kind="price_chart")  # "AAPL and MSFT, 50-day average"
        return replace(fresh, export=export_format(text))
    follow = is_follow_up(text)
    known_kind = intent.kind in PRICE_KINDS or intent.kind == "question"
    if known_kind and not follow and intent.kind != "question":
        return fresh  # a new analysis of its own, on the (same or named) file
    state = prev
    if file != prev.file:
        # another file: keep the analysis, keep only the tickers it holds
        state = replace(state, file=file, tickers=tuple(t for t in prev.tickers if t in file_tickers))
    # the kind: a question, an explicit "as a ..." or a new analysis word
    as_kind = _as_kind(text)
    if intent.kind == "question":
        state = replace(state, kind="question", measure=intent.measure, extreme=intent.extreme,
                        on_date=intent.on_date)
    elif as_kind:
        state = replace(state, kind=as_kind)
    elif known_kind and intent.kind != "price_chart":
        state = replace(state, kind=intent.kind)
    elif state.kind == "question" and (intent.windows or intent.kind == "price_chart"):
        state = replace(state, kind="price_chart")
    adding = bool(_ADD.search(text))
    if intent.tickers:
        tickers = intent.tickers
        if adding and not re.search(r"\bonly\b", text, re.I):
            tickers = tuple(dict.fromkeys(state.tickers + intent.tickers))
        state = replace(state, tickers=tickers)
    if intent.windows:
        windows = tuple(dict.fromkeys(state.windows + intent.windows)) if adding else intent.windows
        state = replace(state, windows=windows)
        if state.kind not in ("price_chart", "candlestick", "volatility"):
            state = replace(state, kind="price_chart")
    if intent.date_from or intent.date_to:
        state = replace(state, date_from=intent.date_from, date_to=intent.date_to)
    return replace(state, export=export_format(text))


def state_intent(state: AnalysisState, intent: Intent) -> Intent:
    """The intent to plan for ``state`` (colours, format and column from this turn's text)."""
    return replace(intent, kind=state.kind or intent.kind, tickers=state.tickers, windows=state.windows,
                   date_from=state.date_from, date_to=state.date_to, measure=state.measure,
                   extreme=state.extreme, on_date=state.on_date,
                   unknown_tickers=intent.unknown_tickers)


_KIND_WORDS = {
    "price_chart": "price chart", "candlestick": "candlestick chart", "returns": "returns histogram",
    "volatility": "rolling volatility", "drawdown": "drawdown", "normalised": "normalised comparison",
    "correlation": "correlation matrix", "resample": "resampled prices", "summary": "summary statistics",
}


def understood(state: AnalysisState, unit: str, all_tickers: tuple[str, ...]) -> str:
    """One line of what the turn was understood as ("AAPL and MSFT, 50- and 200-month
    averages, 2000-2010, price chart")."""
    parts: list[str] = []
    if state.file:
        parts.append(state.file)
    tickers = state.tickers or all_tickers
    if tickers:
        shown = list(tickers[:6])
        words = (" and ".join(shown) if len(shown) <= 2 else ", ".join(shown[:-1]) + " and " + shown[-1])
        parts.append(("all tickers: " if not state.tickers and len(tickers) > 1 else "") + words
                     + (f" (+{len(tickers) - 6} more)" if len(tickers) > 6 else ""))
    if state.windows and state.kind in ("price_chart", "candlestick", "volatility"):
        ws = [str(w) for w in state.windows]
        label = (ws[0] if len(ws) == 1 else ", ".join(f"{w}-" for w in ws[:-1]) + " and " + ws[-1])
        noun = "volatility window" if state.kind == "volatility" else "average"
        parts.append(f"{label}-{unit} {noun}{'s' if len(ws) > 1 else ''}")
    if state.date_from or state.date_to:
        if state.date_from == state.date_to:
            parts.append(f"{state.date_from}")
        else:
            parts.append(f"{state.date_from or 'start'}\u2013{state.date_to or 'end'}")
    if state.kind == "question":
        if state.measure == "value":
            parts.append(f"the value on {state.on_date}")
        elif state.measure == "day":
            parts.append(f"the {'best' if state.extreme == 'highest' else 'worst'} {unit}")
        elif state.extreme:
            parts.append(f"which ticker had the {state.extreme} {(state.measure or '').replace('_', ' ')}")
        else:
            measure = {"volatility": "annualised volatility", "return": "total return",
                       "annualised_return": "annualised return",
                       "drawdown": "maximum drawdown"}.get(state.measure or "", state.measure)
            parts.append(f"the {measure} of each ticker")
    elif state.kind:
        parts.append(_KIND_WORDS.get(state.kind, state.kind))
    if state.export:
        parts.append(f"exported as {'Excel' if state.export == 'xlsx' else 'CSV'}")
    return "Understood: " + ", ".join(parts) + "."
