"""The local agent's planner: request text + attached files -> a :class:`Plan` (code to
run, with a fallback) or an :class:`Answer` (no code: help, a missing file, a request
it cannot map). It never guesses code for a request it does not understand.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from agent_core.files import AttachedFile
from agent_core.planner.conversation import AnalysisState, next_state, state_intent, understood
from agent_core.planner.intent import Intent, extract_code, parse_intent
from agent_core.planner.recipes import (
    Answer,
    Plan,
    TableInfo,
    build_price_plan,
    period_unit,
    with_export,
)


@dataclass(frozen=True)
class Refusal(Answer):
    """An :class:`Answer` that declines the request (it needs world knowledge or free text, or
    no recipe fits): no code runs and the run ends ``refused``, never ``completed``."""


class NotAPriceTable(ValueError):
    """The file cannot be read as prices; the message says why and what to do."""


def inspect_file(name: str, data: bytes, sheet: str | None = None) -> TableInfo:
    """The profile of an attached file (:func:`agent_core.tables.read_table`, as on the Upload
    page), or :class:`NotAPriceTable` with the reader's reason."""
    from agent_core.tables import read_table

    result = read_table(name, data, sheet=sheet)
    if not result.ok:
        raise NotAPriceTable(result.profile.error or f"{name} could not be read as a price table.")
    return result.profile

if TYPE_CHECKING:
    from agent_core.synthetic import SyntheticSpec

__all__ = ["LEFT_OUT", "AnalysisState", "RunCode", "plan_turn", "Answer", "Refusal", "Plan", "Intent",
           "TableInfo",
           "plan_request", "parse_intent", "inspect_file", "NotAPriceTable", "CAPABILITIES",
           "capabilities_text"]

#: what the local agent can do, with an example prompt for each
CAPABILITIES: tuple[tuple[str, str], ...] = (
    ("Price chart with moving averages",
     "chart with a 20-day moving average in red and actual data in blue"),
    ("Several tickers, several windows, a date range",
     "plot AAPL and MSFT with 20 and 50 day moving averages since 2021"),
    ("Candlestick chart with volume (needs open/high/low/close columns)",
     "candlestick chart of the last 6 months"),
    ("Daily returns: histogram and summary table", "histogram of daily returns"),
    ("Rolling volatility", "30-day rolling volatility"),
    ("Drawdown", "drawdown chart"),
    ("Normalised comparison of tickers; two tickers' returns over the same dates", "compare AAPL and MSFT"),
    ("Correlation matrix of returns (CSV + heatmap); of two tickers, one number",
     "correlation matrix of returns, or correlation of monthly returns of AAPL and MSFT"),
    ("Resampling to weekly or monthly prices (CSV)", "resample to monthly prices as CSV"),
    ("Summary statistics (CSV)", "summary statistics"),
    ("Synthetic companies dataset (SALES.csv, DETAILS.csv, box plot, rule check)",
     "generate two csv files, one called SALES with COMPANY_ID, COMPANY_NAME and SALES_2024, the "
     "other called DETAILS with COMPANY_ID and COMPANY_STATE_CODE; 200 companies ..."),
    ("Your own Python code, run as is", "run this code: ```print(1 + 1)```"),
)


def capabilities_text() -> str:
    lines = [f"- {what}: \"{example}\"" for what, example in CAPABILITIES]
    return "\n".join(lines)


_NEED_FILE = (
    "This needs a price file, and none is attached. Upload a CSV, Excel, Parquet or JSON file of "
    "prices on the Upload page (or load the sample data there) and ask again. Any layout works: "
    "one row per ticker and date (symbol,date,price), one column per ticker, or "
    "open/high/low/close/volume."
)


OTHER_BACKENDS = ("bedrock (Amazon Bedrock Agents with Code Interpreter), converse (Bedrock Converse "
                  "with a code tool) or openai (any OpenAI-compatible model)")


def plan_request(text: str, files: Sequence[AttachedFile] = ()) -> Plan | Answer:
    """What the local agent will do for this request (no conversation before it)."""
    return plan_turn(text, files, None)[0]


def plan_turn(text: str, files: Sequence[AttachedFile] = (),
              state: AnalysisState | None = None) -> tuple[Plan | Answer, AnalysisState | None]:
    """What the local agent will do for this turn of a conversation whose analysis so far is
    ``state``, and the state after it (``state`` unchanged when the turn ran nothing). The
    plan's summary starts with one line of what the turn was understood as."""
    tables: list[TableInfo] = []
    unreadable: list[str] = []
    for f in files:
        try:
            tables.append(inspect_file(f.name, f.data, f.sheet))
        except NotAPriceTable as exc:
            unreadable.append(f"{f.name}: {exc}")
    table, named = _chosen_table(text, tables, state.file if state else None)
    if extract_code(text) is None:  # code to run as is keeps every file name it reads
        for t in tables:  # a file named in the request ("same on weekly.csv") is not an analysis word
            text = re.sub(rf"(?<![\w.]){re.escape(t.name)}(?![\w])", " ", text, flags=re.I)
    intent = parse_intent(
        text,
        tickers=table.tickers if table else (),
        columns=table.numeric_columns if table else (),
    )
    if intent.month and table is not None:
        intent = _month_in_file(intent, table)
    if intent.week_windows and table is not None and period_unit(table) == "week":
        # "a 20-week average" on weekly data is 20 rows, not the 100 (days) it is on daily data
        weeks = {5 * w: w for w in intent.week_windows}
        intent = replace(intent, windows=tuple(weeks.get(w, w) for w in intent.windows))
    if intent.kind == "out_of_scope":
        return Refusal(
            text=f"This request needs general knowledge or free text (\"{intent.keyword}\"), not an "
                 "analysis of your price file, and the local agent only runs price analyses it can "
                 f"check, so I did not run any code. Switch the backend to {OTHER_BACKENDS}: a model "
                 "can write it.",
            rationale="The request is outside what the local agent can do; it never guesses a recipe."), state
    new_state: AnalysisState | None = None
    if table is not None and intent.kind not in ("run_code", "synthetic", "help"):
        new_state = next_state(state, intent, text, table.name, table.tickers)
        if new_state.kind is not None:
            intent = state_intent(new_state, intent)
    result = _plan_intent(text, files, tables, unreadable, table, named, intent)
    if isinstance(result, Plan) and new_state is not None and new_state.kind is not None:
        if new_state.export:
            result = with_export(result, new_state.export)
        line = understood(new_state, period_unit(table), table.tickers) if table else ""
        result = replace(result, summary=line + "\n\n" + result.summary,
                         rationale=line + " " + result.rationale)
        return result, replace(new_state, last_result=result.outputs)
    return result, state


def _plan_intent(text: str, files: Sequence[AttachedFile], tables: list[TableInfo], unreadable: list[str],
                 table: TableInfo | None, named: str, intent: Intent) -> Plan | Answer:

    if intent.kind == "run_code":
        names = ", ".join(f.name for f in files)
        return Plan(
            title="your code", code=intent.code or "", outputs=(),
            rationale="The request gives code to run, so I will run it exactly as written"
                      + (f" (attached files in the working folder: {names})." if names else "."),
            summary="I ran your code as written.",
        )
    if intent.kind == "synthetic":
        return _synthetic_plan(text)
    if intent.kind == "help":
        return Answer(text="Here is what the local agent can do, with an example prompt for each:\n"
                           + capabilities_text()
                           + "\n\nFor free-form requests, switch to the Bedrock backend.",
                      rationale="The request asks what I can do.")
    if intent.kind == "unknown":
        return Refusal(
            text=(f"The local agent cannot compute or draw {_words(intent.left_out)}. " if intent.left_out
                  else "")
            + "I could not map this request to one of the local agent's analyses, so I did not run "
                 "any code (I do not guess). The local agent can do:\n" + capabilities_text()
                 + "\n\nRephrase your request like one of these examples, or run your own code with "
                 "\"run this code: ```...```\". Free-form requests are handled by the Bedrock "
                 "backend (Amazon Bedrock Agents with Code Interpreter).",
            rationale="The request does not match any recipe of the local planner, so no code runs.",
        )

    # a price recipe
    if table is None:
        if unreadable:
            return Answer(text="The attached file could not be read as prices, so I did not run any "
                               "code.\n" + "\n".join(unreadable),
                          rationale="The price file is not readable as a price table.")
        return Answer(text=_NEED_FILE, rationale="A price analysis needs an attached price file.")
    if table.layout not in ("long", "wide") and intent.unknown_tickers:
        # one series whose name comes from the file name: a ticker in the text is that series
        intent = replace(intent, unknown_tickers=())
    empty = _outside(intent, table)
    if empty:
        return Answer(text=empty, rationale="The dates asked for are not in the file.")
    if intent.unknown_tickers and not intent.tickers:
        return Answer(
            text=f"{', '.join(intent.unknown_tickers)} {'is' if len(intent.unknown_tickers) == 1 else 'are'} "
                 f"not in {table.name}, which holds {', '.join(table.tickers[:20])}. Ask for one of "
                 "those, or attach a file with the ticker you want.",
            rationale="The tickers asked for are not in the attached file.")
    n_tickers = len([t for t in intent.tickers if t in table.tickers]) or len(table.tickers)
    if intent.kind == "correlation" and n_tickers < 2:
        return Answer(
            text=f"A correlation matrix needs at least two tickers, and {table.name} holds only "
                 f"{', '.join(table.tickers)}. Attach a file with several tickers (long or wide layout).",
            rationale="Correlation needs two or more tickers.")
    if intent.kind == "candlestick" and not table.has_ohlc:
        return Answer(
            text=f"A candlestick chart needs open, high, low and close columns, and {table.name} has "
                 f"{', '.join(c.name for c in table.columns)}. Ask for a price chart instead "
                 "(\"chart with a 20-day "
                 "moving average\"), or attach a file with open/high/low/close columns.",
            rationale="The file has no OHLC columns, so a candlestick chart is not possible.")
    plan = build_price_plan(table, intent)
    notes = []
    if len(tables) > 1:
        others = ", ".join(t.name for t in tables if t is not table)
        why = (f"the request names {named}, one of its tickers" if named and named != table.name
               else "the request names it" if named else "it is the most recently attached price file")
        notes.append(f"I used {table.name} ({why}); also attached: {others}. Name another file or one of "
                     "its tickers in the request to use it instead.")
    if intent.unknown_tickers:
        notes.append(f"{', '.join(intent.unknown_tickers)} not in {table.name}; left out.")
    notes += _left_out(intent)
    if notes:
        extra = " ".join(notes)
        plan = replace(plan, rationale=plan.rationale + " " + extra,
                       summary=plan.summary + " " + extra)
    return plan


#: how an answer starts the sentence naming what the plan does not serve
LEFT_OUT = "Left out (the local agent does not do it): "
#: the recipes that draw in the colours a request names
_COLOURED = {"price_chart": "price and moving averages", "candlestick": "moving averages"}


def _words(items: Sequence[str]) -> str:
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else "".join(items)


def _left_out(intent: Intent) -> list[str]:
    """The parts of a request the plan does not serve, in words for the answer."""
    out = list(intent.left_out)
    coloured = _COLOURED.get(intent.kind)
    asked = ([intent.price_color] if intent.price_color else []) + list(intent.ma_colors)
    if asked and coloured is None:
        out.append(f"the colour{'s' if len(asked) > 1 else ''} {_words(asked)} (this chart keeps its own "
                   "colours)")
    elif intent.kind == "candlestick" and intent.price_color:
        out.append(f"the colour {intent.price_color} for the prices (candles are green up, red down)")
    if not out:
        return []
    return [f"{LEFT_OUT}{_words(out)}. A model backend (bedrock, converse or openai) can."]


def _month_in_file(intent: Intent, table: TableInfo) -> Intent:
    """"in February" without a year: the file's latest February (the answer's "Understood:"
    line names the year); a month the file never reaches gets the last year, which
    :func:`_outside` then explains."""
    if not table.start or not table.end or intent.month is None:
        return intent
    first, last = int(table.start[:4]), int(table.end[:4])
    years = [y for y in range(last, first - 1, -1)
             if table.start[:7] <= f"{y}-{intent.month:02d}" <= table.end[:7]]
    month = f"{years[0] if years else last}-{intent.month:02d}"
    return replace(intent, date_from=month, date_to=month)


def _outside(intent: Intent, table: TableInfo) -> str | None:
    """Why the date range asked for holds no rows of the table, or None when it overlaps."""
    if not table.start or not table.end:
        return None
    if intent.date_from and intent.date_from > table.end:
        why = f"starts ({intent.date_from}) after the last date"
    elif intent.date_to and intent.date_to + "\uffff" < table.start:
        why = f"ends ({intent.date_to}) before the first date"
    elif intent.date_from and intent.date_to and intent.date_from > intent.date_to + "\uffff":
        return (f"The date range asked for starts ({intent.date_from}) after it ends ({intent.date_to}). "
                "Swap the dates and ask again.")
    else:
        return None
    return (f"{table.name} holds prices from {table.start} to {table.end}, and the range asked for {why}. "
            "Ask for dates inside that span, or attach a file that covers them. No code was run.")


def _chosen_table(text: str, tables: list[TableInfo],
                  current: str | None = None) -> tuple[TableInfo | None, str]:
    """The table the request names (by file name or stem, then by a ticker only it holds), else
    the conversation's current file, else the most recently attached one; and what the request
    named to choose it (the file's name, or the ticker), "" when it named neither."""
    low = (text or "").lower()
    for t in reversed(tables):
        stem = t.name.rsplit(".", 1)[0].lower()
        if t.name.lower() in low or (
                len(stem) >= 3 and re.search(rf"(?<![\w.]){re.escape(stem)}(?![\w])", low)):
            return t, t.name
    words = set(re.findall(r"[A-Za-z0-9^][A-Za-z0-9.\-^]*", text or ""))
    for t in reversed(tables):
        ticker = next((tk for tk in t.tickers if len(tk) >= 2 and tk.upper() == tk and tk in words), None)
        if ticker is not None:
            return t, ticker
    for t in tables:
        if current and t.name == current:
            return t, ""
    return (tables[-1], "") if tables else (None, "")


def _synthetic_plan(text: str) -> Plan | Answer:
    from agent_core.synthetic import spec_from_text

    spec = spec_from_text(text)
    assert spec is not None
    # typed into Analysis, the rules are tested in the code shown, each one printed, as on the
    # Synthetic page (whose form sets this itself): a dataset is never handed over unchecked
    return synthetic_plan(replace(spec, want_self_test=True))


@dataclass(frozen=True)
class RunCode:
    """A typed task: run ``code`` as is (the code editor's re-run), never parsed from prose."""

    code: str


def plan_task(task: object) -> Plan | Answer | None:
    """The plan for a typed task (``AgentRequest.task``): a ``SyntheticSpec`` from the form,
    or a ready ``Plan`` / ``Answer``; None for a task the local agent does not know."""
    from agent_core.synthetic import SyntheticSpec

    if isinstance(task, (Plan, Answer)):
        return task
    if isinstance(task, RunCode):
        return Plan(title="your code", code=task.code, outputs=(),
                    rationale="The edited code is run exactly as written.",
                    summary="I ran your code as written.")
    if isinstance(task, SyntheticSpec):
        return synthetic_plan(task)
    return None


def synthetic_plan(spec: SyntheticSpec) -> Plan | Answer:
    """The plan that generates the dataset ``spec`` describes (an Answer when its rules clash)."""
    from agent_core.synthetic import SpecError, plan_code

    try:
        code = plan_code(spec)
    except SpecError as exc:
        return Answer(text=f"{exc} Change the request and ask again.",
                      rationale="The synthetic data rules in the request contradict each other.")
    outputs = (spec.sales_csv, spec.details_csv) + (
        (spec.box_plot_file, spec.box_plot_csv) if spec.want_box_plot else ())
    return Plan(
        title="synthetic companies dataset",
        rationale=(f"The request asks for a synthetic dataset of {spec.n_companies} companies "
                   f"({spec.sales_csv} and {spec.details_csv}, IDs like {spec.id_example}, east revenue "
                   f"{spec.east_min:,.0f}-{spec.east_max:,.0f}, "
                   f"west {spec.west_min:,.0f}-{spec.west_max:,.0f}). "
                   "I will generate it with pandas and Faker"
                   + (", draw the box plot of sales per region" if spec.want_box_plot else "")
                   + " and test every rule."),
        code=code, outputs=outputs,
        summary=f"Here is the synthetic dataset: {spec.sales_csv} and {spec.details_csv} with "
                f"{spec.n_companies} companies"
                + (", and the box plot of sales per region." if spec.want_box_plot else "."),
    )
