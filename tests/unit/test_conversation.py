"""The local agent's conversation: sequences of turns with the plan (state) expected after
each, a table of analysts' phrasings with the plan or refusal each must give, and the
books request refused honestly. Planner only (no kernel): the code each plan would run is
checked by the numeric tests in test_question_numbers.py."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from agent_core.files import AttachedFile
from agent_core.planner import AnalysisState, Answer, Plan, Refusal, plan_turn

TICKERS = ("AAPL", "MSFT", "GOOG", "IBM")


def _long(freq: str, name: str, tickers=TICKERS, start="2000-01-01", end="2010-12-31") -> AttachedFile:
    rng = np.random.default_rng(7)
    idx = pd.date_range(start, end, freq=freq)
    frames = [pd.DataFrame({"symbol": t, "date": idx,
                            "price": 100 * np.exp(np.cumsum(rng.normal(0, 0.02, len(idx)))).round(4)})
              for t in tickers]
    buf = io.StringIO()
    pd.concat(frames).to_csv(buf, index=False)
    return AttachedFile(name=name, media_type="text/csv", data=buf.getvalue().encode())


@pytest.fixture(scope="module")
def monthly() -> AttachedFile:
    return _long("MS", "monthly.csv")


@pytest.fixture(scope="module")
def daily() -> AttachedFile:
    return _long("B", "daily.csv", start="2006-01-01", end="2010-12-31")


def _turns(turns, files):
    """Run the turns; yield (text, plan, state) after each."""
    state = None
    for text in turns:
        plan, state = plan_turn(text, files, state)
        yield text, plan, state


def test_done_when_conversation_on_monthly_data(monthly):
    got = list(_turns(["chart with a 20-day moving average", "now only AAPL and MSFT, 50-day average",
                       "add a 200-day moving average too", "which ticker had the highest volatility in 2008?",
                       "export the result as CSV"], [monthly]))
    (_, p1, s1), (_, p2, s2), (_, p3, s3), (_, p4, s4), (_, p5, s5) = got
    assert (s1.kind, s1.tickers, s1.windows) == ("price_chart", (), (20,))
    assert p1.summary.startswith("Understood: monthly.csv, all tickers: AAPL, MSFT, GOOG and IBM, "
                                 "20-month average, price chart.")
    assert "your data is monthly" in p1.summary and "20-month moving average" in p1.code
    assert (s2.kind, s2.tickers, s2.windows) == ("price_chart", ("AAPL", "MSFT"), (50,))
    assert 'prices = prices[["AAPL", "MSFT"]]' in p2.code
    assert (s3.kind, s3.tickers, s3.windows) == ("price_chart", ("AAPL", "MSFT"), (50, 200))
    assert p3.summary.startswith("Understood: monthly.csv, AAPL and MSFT, 50- and 200-month averages")
    assert (s4.kind, s4.measure, s4.extreme, s4.date_from, s4.date_to) == (
        "question", "volatility", "highest", "2008", "2008")
    assert s4.tickers == ("AAPL", "MSFT") and "periods_per_year = 12.0" in p4.code
    assert s5.export == "csv" and s5.kind == "question" and "result.csv" in p5.outputs
    assert 'result.to_csv("result.csv"' in p5.code


def test_follow_ups_change_the_state(daily):
    seq = [
        ("plot AAPL with a 20-day moving average", dict(kind="price_chart", tickers=("AAPL",), windows=(20,))),
        ("what about GOOG?", dict(kind="price_chart", tickers=("GOOG",), windows=(20,))),
        ("use a 50-day average", dict(kind="price_chart", tickers=("GOOG",), windows=(50,))),
        ("same for 2008", dict(kind="price_chart", tickers=("GOOG",), windows=(50,), date_from="2008",
                               date_to="2008")),
        ("as a histogram", dict(kind="returns", tickers=("GOOG",), date_from="2008")),
        ("also MSFT", dict(kind="returns", tickers=("GOOG", "MSFT"))),
        ("export the result as Excel", dict(kind="returns", export="xlsx")),
        ("drawdown chart", dict(kind="drawdown", tickers=(), windows=(), date_from=None, export=None)),
    ]
    state = None
    for text, expected in seq:
        plan, state = plan_turn(text, [daily], state)
        assert isinstance(plan, Plan), (text, plan)
        for key, value in expected.items():
            assert getattr(state, key) == value, (text, key, getattr(state, key))
        assert plan.summary.startswith("Understood: "), text
    assert "result.xlsx" not in plan.outputs  # the export was that turn's, not the next one's


def test_candlesticks_follow_up_needs_ohlc_and_says_so(daily):
    plan, state = plan_turn("chart with a 20-day moving average", [daily], None)
    answer, after = plan_turn("as candlesticks", [daily], state)
    assert isinstance(answer, Answer) and "open, high, low and close" in answer.text


def test_changing_file_mid_conversation(monthly):
    weekly = _long("W-FRI", "weekly.csv", tickers=("AAPL", "IBM"), start="2005-01-01", end="2010-12-31")
    plan, state = plan_turn("now only AAPL and MSFT, 50-day average", [monthly], None)
    assert state.file == "monthly.csv" and state.tickers == ("AAPL", "MSFT")
    # the weekly file is attached: the request names it, the analysis carries over
    plan, state = plan_turn("same on weekly.csv", [monthly, weekly], state)
    assert isinstance(plan, Plan)
    assert state.file == "weekly.csv" and state.tickers == ("AAPL",) and state.windows == (50,)
    assert "50-week moving average" in plan.code and plan.summary.startswith("Understood: weekly.csv, AAPL")
    # no file named: the conversation's file stays, even though another one is attached later
    plan, state = plan_turn("add a 10-day moving average too", [weekly, monthly], state)
    assert state.file == "weekly.csv" and state.windows == (50, 10)


def test_state_round_trips_through_json():
    s = AnalysisState(file="a.csv", kind="question", tickers=("AAPL",), windows=(20, 50), date_from="2008",
                      date_to="2008", measure="volatility", extreme="highest", last_result=("answer.csv",))
    assert AnalysisState.from_json(s.to_json()) == s
    assert AnalysisState.from_json("not json") is None and AnalysisState.from_json(None) is None


BOOKS = "Please generate a list of the 10 greatest books of all time. Return it as a CSV file."


@pytest.mark.parametrize("attach", [False, True])
def test_books_request_is_refused_naming_backends(monthly, attach):
    plan, state = plan_turn(BOOKS, [monthly] if attach else [], None)
    assert isinstance(plan, Refusal)  # the run ends "refused", never "completed"
    for backend in ("bedrock", "converse", "openai"):
        assert backend in plan.text
    assert "did not run any code" in plan.text and state is None


# --- the phrasings table: text -> the plan kind (or "refused"), with a file attached and no
# conversation before; follow-ups after the seed chart on the same file ----------------------
PHRASINGS = [
    ("chart with a 20-day moving average in red and actual data in blue", "price_chart"),
    ("plot AAPL and MSFT with 20 and 50 day moving averages since 2005", "price_chart"),
    ("show me the prices", "price_chart"),
    ("MA50 for GOOG", "price_chart"),
    ("histogram of daily returns", "returns"),
    ("distribution of monthly returns", "returns"),
    ("30-day rolling volatility", "volatility"),
    ("drawdown chart", "drawdown"),
    ("compare the tickers normalised to 100", "normalised"),
    ("correlation matrix of returns", "correlation"),
    ("resample to quarterly prices as CSV", "resample"),
    ("summary statistics", "summary"),
    ("which ticker had the highest volatility in 2008?", "question:volatility:highest"),
    ("which stock had the lowest return in 2009?", "question:return:lowest"),
    ("what was the biggest drawdown since 2005?", "question:drawdown:highest"),
    ("which ticker had the highest price in 2007?", "question:price:highest"),
    ("what was the lowest price of IBM in 2003?", "question:price:lowest"),
    ("best day for AAPL", "question:day:highest"),
    ("what was the worst month?", "question:day:lowest"),
    ("what was the price of MSFT on 2008-10-01?", "question:value:None"),
    # a number asked for without a ranking: the period's value per ticker, not a rolling chart
    ("what was the annualised volatility?", "question:volatility:None"),
    ("how volatile was it in 2008?", "question:volatility:None"),
    ("what was the total return?", "question:return:None"),
    ("what was the drawdown in 2008?", "question:drawdown:None"),
    ("what was the 20-day volatility?", "volatility"),
    ("what does the rolling volatility look like?", "volatility"),
    ("what are the daily returns?", "returns"),
    ("which ticker had the highest return in March?", "question:return:highest"),
    ("what can you do?", "help"),
    ("run this code: ```print(1 + 1)```", "run_code"),
    (BOOKS, "refused"),
    ("write me a poem about the stock market", "refused"),
    ("who is the CEO of Apple?", "refused"),
    ("what's the latest news on AAPL?", "refused"),
    ("make me a sandwich", "refused"),
    ("translate this into French", "refused"),
    ("compare AAPL and MSFT", "normalised"),
    ("AAPL vs MSFT since 2005", "normalised"),
    ("what is the correlation between AAPL and MSFT?", "correlation"),
    ("show AAPL returns as a pie chart", "returns"),
    ("20-day EMA of AAPL", "price_chart"),
    ("compute the Sharpe ratio", "refused"),
]
FOLLOW_UPS = [
    ("now only AAPL and MSFT", "price_chart", dict(tickers=("AAPL", "MSFT"))),
    ("use a 50-day average", "price_chart", dict(windows=(50,))),
    ("add a 200-day moving average too", "price_chart", dict(windows=(20, 200))),
    ("same for 2008", "price_chart", dict(date_from="2008", date_to="2008")),
    ("as a histogram", "returns", {}),
    ("what about GOOG?", "price_chart", dict(tickers=("GOOG",))),
    ("export the result as CSV", "price_chart", dict(export="csv")),
    ("export it to Excel", "price_chart", dict(export="xlsx")),
    ("and for IBM too", "price_chart", dict(tickers=("IBM",))),
    ("which ticker had the highest volatility in 2008?", "question", dict(measure="volatility")),
]


@pytest.mark.parametrize(("text", "expected"), PHRASINGS)
def test_phrasings(monthly, text, expected):
    plan, state = plan_turn(text, [monthly], None)
    if expected == "refused":
        assert isinstance(plan, Refusal) and "did not run any code" in plan.text, plan
        return
    if expected == "help":
        assert isinstance(plan, Answer) and not isinstance(plan, Refusal)
        assert "what the local agent can do" in plan.text
        return
    assert isinstance(plan, Plan), plan
    if expected == "run_code":
        assert plan.code == "print(1 + 1)"
        return
    kind, _, rest = expected.partition(":")
    assert state is not None and state.kind == kind
    if rest:
        measure, extreme = rest.split(":")
        assert (state.measure, str(state.extreme)) == (measure, extreme)


@pytest.mark.parametrize(("text", "kind", "changes"), FOLLOW_UPS)
def test_follow_up_phrasings(monthly, text, kind, changes):
    _, seed = plan_turn("chart with a 20-day moving average", [monthly], None)
    plan, state = plan_turn(text, [monthly], seed)
    assert isinstance(plan, Plan) and state.kind == kind
    for key, value in changes.items():
        assert getattr(state, key) == value, (key, getattr(state, key))


def test_phrasings_table_size():
    assert len(PHRASINGS) + len(FOLLOW_UPS) >= 30


def test_synthetic_request_typed_in_analysis_tests_each_rule_in_its_code():
    text = ("generate two csv files, one called SALES with COMPANY_ID, COMPANY_NAME and SALES_2024, the other "
            "called DETAILS with COMPANY_ID and COMPANY_STATE_CODE; 200 companies sharing IDs of the form "
            "C00001; readable English names; only states near the east or west coast; eastern revenue 0 to "
            "$700,000, western $500,000 to $2,000,000. Make sure all of these hold.")
    plan, state = plan_turn(text, [], None)
    assert isinstance(plan, Plan) and state is None
    assert 'print(("PASS" if ok else "FAIL"), rule)' in plan.code


@pytest.mark.parametrize(("text", "kind", "left_out"), [
    ("show AAPL returns as a pie chart", "returns", "a pie chart"),
    ("rolling volatility and the Sharpe ratio of AAPL", "volatility", "the Sharpe ratio"),
    ("20-day EMA of AAPL", "price_chart", "exponential weighting (the moving averages drawn are simple)"),
    ("drawdown chart in green", "drawdown", "the colour green (this chart keeps its own colours)"),
    ("scatter plot of AAPL and MSFT returns", "returns", "a scatter plot"),
])
def test_a_request_only_partly_served_names_the_part_left_out(monthly, text, kind, left_out):
    plan, state = plan_turn(text, [monthly], None)
    assert isinstance(plan, Plan) and state.kind == kind
    assert f"Left out (the local agent does not do it): {left_out}" in plan.summary, plan.summary


def test_a_fully_served_request_leaves_nothing_out_and_a_follow_up_can_leave_out(monthly):
    plan, seed = plan_turn("chart with a 20-day moving average in red and actual data in blue", [monthly], None)
    assert "Left out" not in plan.summary
    plan, state = plan_turn("as a pie chart", [monthly], seed)
    assert state.kind == "price_chart" and "Left out (the local agent does not do it): a pie chart" in plan.summary
    answer, _ = plan_turn("compute the Sharpe ratio", [monthly], None)
    assert isinstance(answer, Answer) and "cannot compute or draw the Sharpe ratio" in answer.text


@pytest.mark.parametrize(("text", "period"), [
    ("how volatile was it in February?", "2010-02"),        # the file's latest February
    ("which ticker had the highest return in March?", "2010-03"),
    ("chart the prices for january", "2010-01"),
])
def test_a_month_without_a_year_takes_the_files_latest(daily, text, period):
    """A bare month was dropped silently (the whole file answered); now the file's latest such
    month is used and named in the "Understood" line."""
    plan, state = plan_turn(text, [daily], None)
    assert isinstance(plan, Plan), plan
    assert (state.date_from, state.date_to) == (period, period)
    assert f", {period}, " in plan.summary.splitlines()[0]


def test_a_month_the_file_never_reaches_is_explained():
    plan, _ = plan_turn("what was the annualised volatility in June?",
                        [_long("B", "short.csv", start="2024-01-01", end="2024-03-31")], None)
    assert isinstance(plan, Answer) and "after the last date" in plan.text, plan


@pytest.mark.parametrize("text", ["compare them normalised to 100", "correlation of those two",
                                  "plot both with a 50-day moving average"])
def test_them_and_those_keep_the_tickers_of_the_turn_before(monthly, text):
    """After "now only AAPL and MSFT", "compare them normalised to 100" compared all four
    tickers: a new analysis word started afresh and "them" was not read as the ones before."""
    _, seed = plan_turn("chart with a 20-day moving average", [monthly], None)
    _, only = plan_turn("now only AAPL and MSFT", [monthly], seed)
    plan, state = plan_turn(text, [monthly], only)
    assert isinstance(plan, Plan), plan
    assert state.tickers == ("AAPL", "MSFT")
    assert "AAPL and MSFT" in plan.summary.splitlines()[0]


@pytest.mark.parametrize(("text", "weekly", "daily"), [
    ("chart with a 20-week moving average", (20,), (100,)),
    ("chart with a 4 week moving average", (4,), (20,)),
    ("chart with 10 and 40 week moving averages", (10, 40), (50, 200)),
    ("chart with a 20-day moving average", (20,), (20,)),  # days on weekly data count rows
])
def test_a_window_said_in_weeks_counts_weeks_on_weekly_data(text, weekly, daily):
    """"A 20-week moving average" on weekly prices drew a 100-week average: weeks were turned
    into 5 trading days each, then counted as rows of the weekly file."""
    week = _long("W-FRI", "weekly.csv")
    day = _long("B", "daily.csv", start="2006-01-01", end="2010-12-31")
    _, state = plan_turn(text, [week], None)
    assert state.windows == weekly
    _, state = plan_turn(text, [day], None)
    assert state.windows == daily


@pytest.mark.parametrize("text", ["annualised return?", "what was the annualized return?",
                                  "which ticker had the highest annualised return?", "what was the CAGR?",
                                  "which ticker had the highest CAGR?"])
def test_annualised_return_is_a_question_not_a_returns_histogram(monthly, text):
    plan, state = plan_turn(text, [monthly], None)
    assert isinstance(plan, Plan) and state.kind == "question", plan
    assert state.measure == "annualised_return"
    assert "annualised with 12 periods a year (monthly data)" in plan.summary
