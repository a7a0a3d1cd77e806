"""The local planner: request text -> intent and parameters; attached files -> layout;
requests it cannot serve -> an honest answer with no code."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agent_core.files import AttachedFile
from agent_core.planner import Answer, Plan, inspect_file, parse_intent, plan_request
from agent_core.planner.intent import extract_colours, extract_dates, extract_windows

SEED_PROMPT = ("Given the attached price data file, please make me a chart with moving average in red "
               "and actual data in blue")


def _dates(n=60):
    return pd.bdate_range("2021-01-04", periods=n)


def _walk(n, seed):
    return 100 * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, 0.01, n)))


def _csv(df: pd.DataFrame, **kw) -> bytes:
    return df.to_csv(index=kw.pop("index", False), **kw).encode()


@pytest.fixture(scope="module")
def tables() -> dict[str, bytes]:
    d, a, b = _dates(), _walk(60, 1), _walk(60, 2)
    iso = d.strftime("%Y-%m-%d")
    return {
        "long.csv": _csv(pd.concat([pd.DataFrame({"symbol": t, "date": iso, "price": v})
                                    for t, v in (("AAPL", a), ("MSFT", b))])),
        "wide.csv": _csv(pd.DataFrame({"Date": iso, "AAPL": a, "MSFT": b})),
        "ohlcv.csv": _csv(pd.DataFrame({"Date": iso, "Open": a, "High": a * 1.01, "Low": a * 0.99,
                                        "Close": a, "Volume": np.arange(60) + 1000})),
        "text_dates.csv": _csv(pd.DataFrame({"date": d.strftime("%b %-d %Y"), "price": a})),
        "indexed.csv": _csv(pd.DataFrame({"AAPL": a, "MSFT": b}, index=d), index=True),
        "semicolon.csv": _csv(pd.DataFrame({"date": iso, "close": a}), sep=";", decimal=","),
    }


# --- intent ---------------------------------------------------------------------------------
def test_seed_prompt_is_a_moving_average_chart_red_average_blue_price():
    intent = parse_intent(SEED_PROMPT)
    assert intent.kind == "price_chart"
    assert intent.windows == (20,)
    assert intent.ma_colors == ("red",)
    assert intent.price_color == "blue"
    assert intent.image_format == "png"


@pytest.mark.parametrize("text,windows", [
    ("chart with a 50-day moving average", (50,)),
    ("20 and 50 day moving averages", (20, 50)),
    ("plot MA20 and SMA 100", (20, 100)),
    ("moving averages of 10, 30 and 200 days", (10, 30, 200)),
    ("moving average with a window of 15", (15,)),
    ("4-week moving average", (20,)),
    ("moving average since 2020-01-01 over the last 90 days", (20,)),  # dates are not windows
])
def test_windows(text, windows):
    assert parse_intent(text).windows == windows


@pytest.mark.parametrize("text,price,mas", [
    ("moving average in red and actual data in blue", "blue", ("red",)),
    ("red moving average, black price", "black", ("red",)),
    ("price in green with the 20 and 50 day averages in orange and purple", "green", ("orange", "purple")),
    ("draw the prices in navy", "navy", ()),
    ("plot the close in #1f77b4 and the MA in dark red", "#1f77b4", ("darkred",)),
    ("moving average", None, ()),
])
def test_colours(text, price, mas):
    assert extract_colours(text) == (price, mas)


@pytest.mark.parametrize("text,start,end,last", [
    ("chart since 2021", "2021", None, None),
    ("from 2020-01-01 to 2020-06-30", "2020-01-01", "2020-06-30", None),
    ("between Jan 2019 and March 2020", "2019-01", "2020-03", None),
    ("prices in 2022", "2022", "2022", None),
    ("until 2023-05", None, "2023-05", None),
    ("the last 90 days", None, None, (90, "days")),
    ("past 6 months", None, None, (6, "months")),
])
def test_date_ranges(text, start, end, last):
    _, a, b, n = extract_dates(text)
    assert (a, b, n) == (start, end, last)


@pytest.mark.parametrize("text,kind", [
    ("candlestick chart with volume", "candlestick"),
    ("show OHLC bars", "candlestick"),
    ("histogram of daily returns and a summary table", "returns"),
    ("30-day rolling volatility", "volatility"),
    ("max drawdown chart", "drawdown"),
    ("compare AAPL and MSFT normalised to 100", "normalised"),
    ("correlation matrix of returns", "correlation"),
    ("resample to weekly prices as CSV", "resample"),
    ("summary statistics", "summary"),
    ("Give me summary statistics for the attached price data: first and last date, min, max, mean, "
     "and total return per series.", "summary"),
    ("Compute daily returns for each series in the attached price data, summarise them and chart "
     "their distribution.", "returns"),
    ("Compute the 30-day rolling annualised volatility of each series and chart it.", "volatility"),
    ("Compute the maximum drawdown of each series and chart the drawdown over time.", "drawdown"),
    ("Compute the correlation matrix of daily returns between the series and show it as a heatmap.",
     "correlation"),
    ("plot the prices", "price_chart"),
    ("what can you do?", "help"),
    ("write me a poem about the sea", "out_of_scope"),
    ("predict tomorrow's bitcoin price with a neural network", "unknown"),
])
def test_kinds(text, kind):
    assert parse_intent(text).kind == kind


def test_tickers_columns_frequency_and_format_from_the_data():
    intent = parse_intent("plot msft and TSLA adj close weekly as svg",
                          tickers=("AAPL", "MSFT"), columns=("Close", "Adj Close"))
    assert intent.tickers == ("MSFT",)
    assert intent.unknown_tickers == ("TSLA",)
    assert intent.column == "Adj Close"
    assert intent.freq == "W"
    assert intent.image_format == "svg"


def test_run_this_code_keeps_the_code_exactly():
    code = "import math\nprint(math.pi)  # keep me\n\nx = [1,  2]"
    intent = parse_intent(f"run this code: ```python\n{code}\n```")
    assert intent.kind == "run_code"
    assert intent.code == code
    assert parse_intent("```\nprint(1)\n```").code == "print(1)"
    assert parse_intent("what does ```print(1)``` do?").kind != "run_code"


def test_code_from_the_app_editor_with_a_longer_fence():
    code = 'x = """\n```\ninner\n```\n"""\nprint(x)'
    text = "run this code:\n````python\n" + code + "\n````"
    assert parse_intent(text).code == code


def test_windows_ignore_years():
    assert extract_windows("prices since 2021 with a 30 day window") == (30,)


# --- inspecting attachments ------------------------------------------------------------------
@pytest.mark.parametrize("name,layout,date_col,tickers", [
    ("long.csv", "long", "date", ("AAPL", "MSFT")),
    ("wide.csv", "wide", "Date", ("AAPL", "MSFT")),
    ("ohlcv.csv", "ohlc", "Date", ("ohlcv",)),
    ("text_dates.csv", "single", "date", ("text_dates",)),
    ("indexed.csv", "wide", "date", ("AAPL", "MSFT")),
    ("semicolon.csv", "single", "date", ("semicolon",)),
])
def test_inspect_layouts(tables, name, layout, date_col, tickers):
    info = inspect_file(name, tables[name])
    assert (info.layout, info.date_column, info.tickers) == (layout, date_col, tickers)
    assert info.rows == (120 if layout == "long" else 60)


def test_inspect_details(tables):
    ohlc = inspect_file("ohlcv.csv", tables["ohlcv.csv"])
    assert ohlc.has_ohlc and ohlc.has_volume
    assert dict(ohlc.ohlc)["close"] == "Close"
    text = inspect_file("text_dates.csv", tables["text_dates.csv"])
    assert "format=\"%b %d %Y\"" in text.read_code and text.date_format.startswith("text like")
    semi = inspect_file("semicolon.csv", tables["semicolon.csv"])
    assert {"sep": ";", "decimal": ","}.items() <= dict(semi.read.kwargs).items()
    indexed = inspect_file("indexed.csv", tables["indexed.csv"])
    assert "the unnamed first column holds the dates" in indexed.read_code


# --- plans and honest answers ----------------------------------------------------------------
def _attach(tables, name):
    return [AttachedFile.from_bytes(name, tables[name])]


def test_seed_prompt_plan_code_is_plain_pandas_with_the_colours(tables):
    plan = plan_request(SEED_PROMPT, _attach(tables, "long.csv"))
    assert isinstance(plan, Plan)
    assert plan.outputs == ("moving_average.png", "moving_average.csv")
    assert "agent_core" not in plan.code
    assert 'price_colour = "blue"' in plan.code and 'ma_colours = ["red"]' in plan.code
    assert "windows = [20]" in plan.code
    compile(plan.code, "<plan>", "exec")
    assert plan.fallback is not None and "errors=\"coerce\"" in plan.fallback.code
    assert "long layout" in plan.rationale


def test_date_range_and_tickers_reach_the_code(tables):
    plan = plan_request("plot MSFT with 20 and 50 day moving averages from 2021-02-01 to 2021-03-15",
                        _attach(tables, "wide.csv"))
    assert 'prices = prices[["MSFT"]]' in plan.code
    assert 'prices.loc["2021-02-01":"2021-03-15"]' in plan.code
    assert "windows = [20, 50]" in plan.code


def test_price_recipe_without_a_file_asks_for_one():
    answer = plan_request(SEED_PROMPT, [])
    assert isinstance(answer, Answer)
    assert "attach" in answer.text.lower() or "upload" in answer.text.lower()
    assert "sample data" in answer.text


def test_unknown_request_is_answered_honestly_with_examples(tables):
    answer = plan_request("make me a sandwich", _attach(tables, "long.csv"))
    assert isinstance(answer, Answer)
    assert "did not run any code" in answer.text
    assert "Bedrock" in answer.text
    assert "moving average in red" in answer.text and "correlation matrix" in answer.text


@pytest.mark.parametrize("text,name,words", [
    ("candlestick chart", "long.csv", "open, high, low and close"),
    ("correlation matrix", "ohlcv.csv", "at least two tickers"),
    ("chart of TSLA with a moving average", "long.csv", "TSLA is not in long.csv"),
])
def test_impossible_requests_say_why(tables, text, name, words):
    answer = plan_request(text, _attach(tables, name))
    assert isinstance(answer, Answer) and words in answer.text


def test_unreadable_attachment_is_explained():
    answer = plan_request("summary statistics", [AttachedFile.from_bytes("notes.txt", b"just words\nmore words\n")])
    assert isinstance(answer, Answer) and "could not be read" in answer.text


def test_synthetic_request_plans_the_dataset():
    from tests.unit.test_synthetic import ISSUE_TEXT

    plan = plan_request(ISSUE_TEXT, [])
    assert isinstance(plan, Plan)
    assert plan.outputs == ("SALES.csv", "DETAILS.csv", "sales_by_region.png", "sales_by_region.csv")
    assert "agent_core" not in plan.code


def test_several_files_the_named_one_is_used(tables):
    files = _attach(tables, "long.csv") + _attach(tables, "wide.csv")
    latest = plan_request("summary statistics", files)
    assert 'pd.read_csv("wide.csv"' in latest.code
    assert "most recently attached" in latest.summary and "also attached: long.csv" in latest.summary
    named = plan_request("summary statistics of long.csv", files)
    assert 'pd.read_csv("long.csv"' in named.code and "the request names it" in named.summary
    both = files + _attach(tables, "ohlcv.csv")
    by_ticker = plan_request("summary statistics of MSFT", [both[0], both[2]])
    assert 'pd.read_csv("long.csv"' in by_ticker.code
    # the ticker chose the file, not its name: the answer says so
    assert "I used long.csv (the request names MSFT, one of its tickers)" in by_ticker.summary


@pytest.mark.parametrize("text,words", [
    ("chart since 2030", "holds prices from 2021-01-04 to 2021-03-26"),
    ("chart until 2019-06", "ends (2019-06) before the first date"),
    ("chart from 2021-03-01 to 2021-02-01", "Swap the dates"),
])
def test_date_ranges_outside_the_file_are_answered(tables, text, words):
    answer = plan_request(text, _attach(tables, "wide.csv"))
    assert isinstance(answer, Answer) and words in answer.text


def test_date_range_inside_the_file_runs(tables):
    assert isinstance(plan_request("chart in 2021", _attach(tables, "wide.csv")), Plan)
    assert isinstance(plan_request("chart until 2021-01", _attach(tables, "wide.csv")), Plan)


def test_a_ticker_named_for_a_single_series_file_is_that_series(tables):
    plan = plan_request("chart AAPL with a 20-day moving average", _attach(tables, "text_dates.csv"))
    assert isinstance(plan, Plan)


def test_code_to_run_keeps_the_attached_file_names_it_reads():
    """The file name an analyst's code reads is not an analysis word: it must reach the kernel
    whole (a stripped name made every re-run fail with FileNotFoundError: ' ')."""
    data = "date,close\n" + "".join(f"2024-01-{d:02d},{100 + d}\n" for d in range(1, 29))
    code = 'import pandas as pd\ndf = pd.read_csv("prices.csv")\nprint(len(df))'
    plan = plan_request("run this code:\n```python\n" + code + "\n```",
                        [AttachedFile.from_bytes("prices.csv", data.encode())])
    assert isinstance(plan, Plan)
    assert 'pd.read_csv("prices.csv")' in plan.code
