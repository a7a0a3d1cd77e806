"""The local agent end to end on REAL Jupyter kernels: price tables of every layout, the
returned files (PNG decodes, CSV columns and rows), the event sequence through the one
parser, honest answers with no code, the fallback plan, kernel notices, synthetic data."""
from __future__ import annotations

import dataclasses
import io

import numpy as np
import pandas as pd
import pytest

from agent_core.backends.base import AgentRequest
from agent_core.backends.local import LocalAgent
from agent_core.config import load_settings
from agent_core.events import (
    CodeError, CodeInvocation, CodeOutput, CodeTimeout, FileReturned, FilesGenerated, FinalResponse,
    Rationale, TextChunk,
)
from agent_core.files import AttachedFile
from agent_core.planner import Plan
from agent_core.run import RunCollector, outcome_of
from agent_core.synthetic import SyntheticSpec, read_tables, verify

pytestmark = pytest.mark.timeout(240)

SEED_PROMPT = ("Given the attached price data file, please make me a chart with moving average in red "
               "and actual data in blue")
N = 300


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    home = tmp_path_factory.mktemp("local-agent-home")
    return load_settings(env={"AGENT_DESK_HOME": str(home)}, secrets={}, max_kernels=3)


@pytest.fixture(scope="module")
def agent(settings):
    a = LocalAgent(settings)
    yield a
    a.close()


def run(agent, text, files=(), session="agent-test", **kw):
    collector = RunCollector()
    for event in agent.invoke(AgentRequest(text=text, session_id=session, files=tuple(files), **kw)):
        collector.add(event)
    return collector.result()


def kinds(result):
    """Event kinds in Bedrock's order (the local agent's own progress events left out:
    they interleave with the code's output as it is printed)."""
    return [type(e).__name__ for e in result.events if type(e).__name__ != "CodeOutputProgress"]


def file(result, name):
    found = [f for f in result.files if f.name == name]
    assert found, f"{name} not returned; got {[f.name for f in result.files]}"
    return found[0]


def png_shape(data: bytes):
    import matplotlib.image as mpimg

    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return mpimg.imread(io.BytesIO(data), format="png").shape


def read_csv(result, name) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(file(result, name).data))


def attach(name, data: bytes):
    return AttachedFile.from_bytes(name, data)


# --- price tables of each layout ---------------------------------------------------------------
def _walk(seed, n=N):
    return 100 * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, 0.01, n)))


DATES = pd.bdate_range("2020-01-01", periods=N)
ISO = DATES.strftime("%Y-%m-%d")
A, B = _walk(1), _walk(2)


def _bytes(df, **kw):
    return df.to_csv(index=kw.pop("index", False), **kw).encode()


def _unsorted_dup():
    df = pd.DataFrame({"date": ISO, "close": A})
    dup = df.iloc[[5, 10]].assign(close=lambda d: d["close"] + 1)  # later rows win
    return _bytes(pd.concat([df, dup]).sample(frac=1, random_state=3))


LAYOUTS = {
    # name: (bytes, tickers, csv columns)
    "long.csv": (_bytes(pd.concat([pd.DataFrame({"symbol": t, "date": ISO, "price": v})
                                   for t, v in (("AAPL", A), ("MSFT", B))])),
                 ["AAPL", "MSFT"], ["date", "ticker", "price", "ma_20"]),
    "wide.csv": (_bytes(pd.DataFrame({"Date": ISO, "AAPL": A, "MSFT": B})),
                 ["AAPL", "MSFT"], ["date", "ticker", "price", "ma_20"]),
    "ohlcv.csv": (_bytes(pd.DataFrame({"Date": ISO, "Open": A * 0.995, "High": A * 1.02, "Low": A * 0.97,
                                       "Close": A, "Volume": np.arange(N) * 10 + 5000})),
                  ["ohlcv"], ["date", "ticker", "price", "ma_20"]),
    "text_dates.csv": (_bytes(pd.DataFrame({"date": DATES.strftime("%b %-d %Y"), "price": A})),
                       ["text_dates"], ["date", "ticker", "price", "ma_20"]),
    "unsorted_dup.csv": (_unsorted_dup(), ["unsorted_dup"], ["date", "ticker", "price", "ma_20"]),
}


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_seed_prompt_on_each_layout(agent, name):
    data, tickers, columns = LAYOUTS[name]
    result = run(agent, SEED_PROMPT, [attach(name, data)])
    assert result.ok and not result.errors, result.errors
    seq = kinds(result)
    # the event sequence, in Bedrock's order, through the one parser
    assert seq[:4] == ["Rationale", "CodeInvocation", "CodeOutput", "FilesGenerated"]
    assert seq[4:6] == ["FileReturned", "FileReturned"]
    assert seq[6] == "FinalResponse" and set(seq[7:]) == {"TextChunk"} and len(seq) > 8
    inv = next(e for e in result.events if isinstance(e, CodeInvocation))
    assert inv.files == (name,)
    from agent_core.planner import inspect_file

    read = inspect_file(name, data).read_code.split("\n", 2)[2].strip()
    assert "agent_core" not in inv.code and read in inv.code  # read as the Upload page read it
    gen = next(e for e in result.events if isinstance(e, FilesGenerated))
    assert set(gen.names) == {"moving_average.png", "moving_average.csv"}
    # the chart is a real PNG of a sensible size
    h, w, _ = png_shape(file(result, "moving_average.png").data)
    assert w >= 800 and h >= 300  # sized for the screen (about 900 px wide), not a poster
    # the plotted data: one row per date (and ticker), duplicates gone, dates in order
    table = read_csv(result, "moving_average.csv")
    assert list(table.columns) == columns
    assert len(table) == N * len(tickers)
    if "ticker" in table:
        assert sorted(table["ticker"].unique()) == tickers
    first = table[table["ticker"] == tickers[0]] if "ticker" in table else table
    assert pd.to_datetime(first["date"]).is_monotonic_increasing
    assert first["ma_20"].isna().sum() == 19
    assert first["ma_20"].iloc[-1] == pytest.approx(first["price"].iloc[-20:].mean())
    if name == "unsorted_dup.csv":
        assert first["price"].iloc[5] == pytest.approx(A[5] + 1)  # the last duplicate won
    # the answer names the files and the colours
    assert "moving_average.png" in result.text and "red" in result.text and "blue" in result.text
    final = next(e for e in result.events if isinstance(e, FinalResponse))
    assert result.text == final.text  # chunks add up to the final response


def test_candlestick_with_volume(agent):
    data = LAYOUTS["ohlcv.csv"][0]
    result = run(agent, "candlestick chart with volume", [attach("ohlcv.csv", data)])
    assert result.ok and not result.errors, result.errors
    png_shape(file(result, "candlestick.png").data)
    table = read_csv(result, "candlestick.csv")
    assert list(table.columns) == ["date", "open", "high", "low", "close", "volume"]
    assert len(table) == 250
    assert table["date"].iloc[-1] == ISO[-1]


@pytest.mark.parametrize("text,outputs,columns", [
    ("histogram of daily returns", ("returns_histogram.png", "returns_histogram.csv", "returns_summary.csv"),
     {"returns_histogram.csv": ["date", "ticker", "return"], "returns_summary.csv": None}),
    ("30-day rolling volatility", ("rolling_volatility.png", "rolling_volatility.csv"),
     {"rolling_volatility.csv": ["date", "ticker", "volatility_30"]}),
    ("drawdown chart", ("drawdown.png", "drawdown.csv"), {"drawdown.csv": ["date", "ticker", "drawdown_pct"]}),
    ("compare the tickers normalised", ("normalised_prices.png", "normalised_prices.csv", "answer.csv"),
     {"normalised_prices.csv": ["date", "ticker", "normalised"],
      "answer.csv": ["ticker", "first_date", "last_date", "first_price", "last_price", "total_return_pct"]}),
    ("correlation matrix of returns", ("correlation.png", "correlation.csv", "answer.csv"),
     {"correlation.csv": ["ticker", "AAPL", "MSFT"],
      "answer.csv": ["ticker_a", "ticker_b", "correlation", "n_returns", "first_date", "last_date"]}),
    ("resample to monthly prices as CSV", ("prices_monthly.csv",), {"prices_monthly.csv": ["date", "AAPL", "MSFT"]}),
    ("summary statistics", ("summary_statistics.csv",), {"summary_statistics.csv": None}),
])
def test_other_recipes(agent, text, outputs, columns):
    result = run(agent, text, [attach("long.csv", LAYOUTS["long.csv"][0])])
    assert result.ok and not result.errors, result.errors
    assert {f.name for f in result.files} == set(outputs)
    output = "".join(e.text for e in result.events if isinstance(e, CodeOutput))
    assert "Warning" not in output, output  # clean code: no pandas/matplotlib warnings
    for name in outputs:
        if name.endswith(".png"):
            png_shape(file(result, name).data)
    for name, cols in columns.items():
        table = read_csv(result, name)
        if cols is not None:
            assert list(table.columns) == cols
    if "summary_statistics.csv" in outputs:
        stats = read_csv(result, "summary_statistics.csv").set_index("ticker")
        assert stats.loc["AAPL", "observations"] == N
        assert stats.loc["AAPL", "last_price"] == pytest.approx(A[-1], rel=1e-4)
    if "prices_monthly.csv" in outputs:
        assert len(read_csv(result, "prices_monthly.csv")) == len(pd.Series(1, DATES).resample("ME").last())
    if "correlation.csv" in outputs:
        corr = read_csv(result, "correlation.csv").set_index("ticker")
        assert corr.loc["AAPL", "AAPL"] == pytest.approx(1.0)


# --- honest answers: no code ----------------------------------------------------------------
def test_unknown_request_runs_no_code(agent):
    result = run(agent, "write me a poem about the sea", [attach("long.csv", LAYOUTS["long.csv"][0])])
    seq = kinds(result)
    assert "CodeInvocation" not in seq and not result.files
    # declined as Bedrock declines: pre-processing says it is not valid, so the run is "refused"
    assert seq[:2] == ["PreProcessing", "Rationale"] and "FinalResponse" in seq
    assert result.events[0].is_valid is False
    assert outcome_of(result.events) == "refused"
    assert "did not run any code" in result.text and "Bedrock" in result.text


def test_price_request_without_a_file_asks_for_one(agent):
    result = run(agent, SEED_PROMPT)
    assert "CodeInvocation" not in kinds(result)
    assert "Upload" in result.text and "sample data" in result.text


# --- the fallback plan --------------------------------------------------------------------------
def test_a_dash_for_missing_late_in_the_file_is_read_at_the_first_try(agent):
    # the old loader was fitted on the first 2,000 rows and broke here; the reader sees the
    # column arrive as text and its read code converts it (the '-' becomes missing)
    n = 2300
    df = pd.DataFrame({"date": pd.bdate_range("2010-01-01", periods=n).strftime("%Y-%m-%d"),
                       "close": _walk(5, n).round(4).astype(str)})
    df.loc[2200, "close"] = "-"
    result = run(agent, "chart with a 50-day moving average", [attach("gappy.csv", _bytes(df))])
    assert result.ok
    seq = kinds(result)
    assert seq.count("CodeInvocation") == 1 and "CodeError" not in seq
    inv = next(e for e in result.events if isinstance(e, CodeInvocation))
    assert 'df["close"] = pd.to_numeric(df["close"]' in inv.code
    table = read_csv(result, "moving_average.csv")
    assert len(table) == n - 1  # the row without a price was left out
    assert "moving_average.png" in result.text


def test_failed_plan_and_fallback_end_with_a_clear_answer(agent):
    plan = Plan(title="test chart", rationale="first try", code="raise ValueError('first failure')",
                outputs=("x.png",), summary="done",
                fallback=Plan(title="test chart", rationale="second try", code="raise KeyError('second')",
                              outputs=("x.png",), summary="done"))
    from agent_core.stream import parse_stream

    events = list(parse_stream(agent.raw_events(AgentRequest(text="x", session_id="agent-test"), plan=plan)))
    errors = [e.text for e in events if isinstance(e, CodeError)]
    assert len(errors) == 2 and "first failure" in errors[0] and "second" in errors[1]
    final = next(e for e in events if isinstance(e, FinalResponse)).text
    assert "could not make the test chart" in final and "fallback" in final and "KeyError" in final


# --- run this code, state, files, notices ---------------------------------------------------------
def test_run_this_code_as_is_keeps_state_between_requests(agent):
    first = run(agent, "run this code: ```python\nsecret_number = 41\nprint('set')\n```", session="code-test")
    assert "set" in "".join(e.text for e in first.events if isinstance(e, CodeOutput))
    code = "secret_number += 1\nopen('answer.txt', 'w').write(str(secret_number))\nprint(secret_number)"
    second = run(agent, f"run this code: ```\n{code}\n```", session="code-test")
    inv = next(e for e in second.events if isinstance(e, CodeInvocation))
    assert inv.code == code
    assert file(second, "answer.txt").data == b"42"
    assert "42" in second.text


def test_run_code_error_is_shown(agent):
    result = run(agent, "run this code: ```\n1/0\n```", session="code-test")
    assert any("ZeroDivisionError" in e.text for e in result.events if isinstance(e, CodeError))
    assert "ZeroDivisionError" in result.text


def test_files_are_split_five_per_event_and_big_files_are_named(agent):
    code = ("for i in range(7):\n    open(f'part_{i}.txt', 'w').write('x' * 10)\n"
            "open('big.bin', 'wb').write(b'0' * (1024 * 1024 + 10))")
    raw = list(agent.raw_events(AgentRequest(text=f"run this code: ```\n{code}\n```", session_id="code-test")))
    file_events = [r["files"]["files"] for r in raw if "files" in r]
    assert [len(f) for f in file_events] == [5, 2]
    assert all(len(f["bytes"]) <= 1024 * 1024 for batch in file_events for f in batch)
    final = next(r for r in raw if "trace" in r and "finalResponse" in
                 r["trace"]["trace"]["orchestrationTrace"].get("observation", {}))
    assert "big.bin" in final["trace"]["trace"]["orchestrationTrace"]["observation"]["finalResponse"]["text"]
    # Bedrock's raw shape: every trace has the session id; one traceId per step
    traces = [r["trace"] for r in raw if "trace" in r]
    assert all(t["sessionId"] == "code-test" for t in traces)
    inv = traces[1]["trace"]["orchestrationTrace"]["invocationInput"]
    assert inv["invocationType"] == "ACTION_GROUP_CODE_INTERPRETER" and inv["traceId"].endswith("-0")
    obs = traces[2]["trace"]["orchestrationTrace"]["observation"]
    assert obs["type"] == "ACTION_GROUP_CODE_INTERPRETER" and "big.bin" in obs["codeInterpreterInvocationOutput"]["files"]
    chunks = [r["chunk"]["bytes"] for r in raw if "chunk" in r]
    assert len(chunks) > 1 and all(isinstance(c, bytes) for c in chunks)


def test_kernel_loss_reaches_the_user(agent):
    result = run(agent, "run this code: ```\nimport os\nos._exit(3)\n```", session="crash-test")
    assert "variables in memory were lost" in result.text
    after = run(agent, "run this code: ```\nprint('alive')\n```", session="crash-test")
    assert "alive" in after.text
    assert "variables in memory were lost" in after.text  # said again on the next run


def test_timeout_is_reported(settings, agent):
    quick = LocalAgent(dataclasses.replace(settings, exec_timeout=1.5), pool=agent.pool)
    result = run(quick, "run this code: ```\nimport time\ntime.sleep(30)\n```", session="code-test")
    assert any(isinstance(e, CodeTimeout) for e in result.events)
    assert "did not finish" in result.text


# --- synthetic data through the kernel --------------------------------------------------------
def test_synthetic_request_writes_files_that_pass_every_rule(agent):
    from tests.unit.test_synthetic import ISSUE_TEXT

    result = run(agent, ISSUE_TEXT, session="synthetic-test")
    assert result.ok and not result.errors, result.errors
    spec = SyntheticSpec()
    sales, details = read_tables(file(result, "SALES.csv").data, file(result, "DETAILS.csv").data)
    checks = verify(spec, sales, details)
    assert all(c.passed for c in checks), [c for c in checks if not c.passed]
    png_shape(file(result, "sales_by_region.png").data)
    assert list(read_csv(result, "sales_by_region.csv").columns) == ["COMPANY_ID", "REGION", "SALES_2024"]
    out = "".join(e.text for e in result.events if isinstance(e, CodeOutput))
    assert "All rules hold." in out and "FAIL" not in out
    assert f"all {len(checks)} rules hold" in result.text


def test_make_backend_builds_the_local_agent_with_a_shared_pool(settings, agent):
    from agent_core.backends.factory import make_backend

    backend = make_backend(settings, pool=agent.pool)
    assert isinstance(backend, LocalAgent) and backend.name == "local" and backend.pool is agent.pool


# --- other file formats ---------------------------------------------------------------------
def _other_formats():
    import json

    wide = pd.DataFrame({"Date": DATES, "AAPL": A, "MSFT": B})
    xlsx, parquet = io.BytesIO(), io.BytesIO()
    wide.to_excel(xlsx, index=False)
    wide.set_index("Date").to_parquet(parquet)
    records = json.dumps([{"date": d, "close": float(v)} for d, v in zip(ISO, A)]).encode()
    semicolon = _bytes(pd.DataFrame({"date": DATES.strftime("%d.%m.%Y"), "close": A}), sep=";", decimal=",")
    return {"prices.xlsx": (xlsx.getvalue(), 2), "prices.parquet": (parquet.getvalue(), 2),
            "prices.json": (records, 1), "european.csv": (semicolon, 1)}


@pytest.mark.parametrize("name", ["prices.xlsx", "prices.parquet", "prices.json", "european.csv"])
def test_other_file_formats(agent, name):
    data, n_tickers = _other_formats()[name]
    result = run(agent, "chart with a 10-day moving average", [attach(name, data)])
    assert result.ok and not result.errors, result.errors
    table = read_csv(result, "moving_average.csv")
    assert len(table) == N * n_tickers
    assert pd.to_datetime(table["date"]).max() == DATES[-1]
    assert table["price"].iloc[-1] == pytest.approx(B[-1] if n_tickers == 2 else A[-1])


# --- every raw event fits botocore's model of Bedrock's response stream ------------------------
def _assert_fits_bedrock_model(raw_events):
    import botocore.session
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model("bedrock-agent-runtime")
    stream = model.shape_for("ResponseStream")
    # botocore's Observation.type enum does not list ACTION_GROUP_CODE_INTERPRETER, though code
    # interpreter observations carry it (the same value as InvocationInput.invocationType)
    observation_types = [*model.shape_for("Observation").members["type"].enum, "ACTION_GROUP_CODE_INTERPRETER"]
    invocation_types = model.shape_for("InvocationInput").members["invocationType"].enum
    validator = ParamValidator()
    for item in raw_events:
        assert len(item) == 1
        (key, value), = item.items()
        report = validator.validate(value, stream.members[key])
        assert not report.has_errors(), report.generate_report()
        orch = value.get("trace", {}).get("orchestrationTrace", {}) if key == "trace" else {}
        if "observation" in orch:
            assert orch["observation"]["type"] in observation_types
        if "invocationInput" in orch:
            assert orch["invocationInput"]["invocationType"] in invocation_types


def test_raw_events_fit_the_botocore_model(agent):
    gappy = pd.DataFrame({"date": pd.bdate_range("2010-01-01", periods=2300).strftime("%Y-%m-%d"),
                          "close": _walk(5, 2300).round(4).astype(str)})
    gappy.loc[2200, "close"] = "-"
    requests = [
        AgentRequest(text=SEED_PROMPT, session_id="model-test", files=(attach("long.csv", LAYOUTS["long.csv"][0]),)),
        AgentRequest(text="chart with a 50-day moving average", session_id="model-test",
                     files=(attach("gappy.csv", _bytes(gappy)),)),  # fallback: two steps
        AgentRequest(text="write me a poem", session_id="model-test"),  # no code
        AgentRequest(text="run this code: ```\n1/0\n```", session_id="model-test"),
    ]
    for request in requests:
        raw = list(agent.raw_events(request))
        _assert_fits_bedrock_model(raw)
        assert "chunk" in raw[-1]


def test_a_planner_bug_ends_the_run_failed_in_words(settings, monkeypatch):
    import agent_core.planner as planner

    def broken(text, files=(), state=None):
        raise RuntimeError("planner exploded")

    monkeypatch.setattr(planner, "plan_turn", broken)
    result = run(LocalAgent(settings, pool=None), "anything")  # no files: no kernel needed
    assert outcome_of(result.events) == "failed" and "CodeInvocation" not in kinds(result)
    failure = result.failure
    assert failure is not None and failure.kind == "planner" and not failure.retryable
    assert "planner exploded" in failure.message and "no code was run" in failure.message
    assert "Traceback" not in failure.message


def test_seed_chart_really_draws_the_price_blue_and_the_average_red(agent):
    """Pixels, not words: the PNG holds pure-blue and pure-red line pixels."""
    import matplotlib.image as mpimg

    dates = pd.bdate_range("2022-01-03", periods=N)
    data = pd.DataFrame({"date": dates, "close": _walk(7)}).to_csv(index=False).encode()
    result = run(agent, SEED_PROMPT, [attach("one.csv", data)], session="agent-colours")
    img = mpimg.imread(io.BytesIO(file(result, "moving_average.png").data), format="png")
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    blue = ((b > 0.8) & (r < 0.2) & (g < 0.2)).sum()
    red = ((r > 0.8) & (g < 0.2) & (b < 0.2)).sum()
    assert blue > 500 and red > 500, (blue, red)


def test_more_tickers_than_panels_says_which_were_plotted(agent):
    dates = pd.bdate_range("2022-01-03", periods=60)
    wide = pd.DataFrame({"date": dates, **{f"T{i}": _walk(i, 60) for i in range(8)}})
    result = run(agent, "chart with a 20-day moving average", [attach("eight.csv", wide.to_csv(index=False).encode())],
                 session="agent-eight")
    assert result.ok
    assert "first 6 of 8 tickers" in result.text


def test_printed_output_reaches_the_answer_as_a_code_block(agent):
    """Markdown would join printed table lines into one paragraph; a fence keeps columns."""
    result = run(agent, "run this code: ```\nprint('a  1')\nprint('b  2')\n```", session="agent-fence")
    assert "```text\na  1\nb  2\n```" in result.text, result.text


def test_a_questions_answer_says_its_number_once_not_its_printout_again(agent):
    """The question's printed table is in its Code output step and answer.csv; the answer
    gives the number and how it was computed, without pasting the printout a second time."""
    rows = [{"date": d, "ticker": t, "price": p} for t, seed in (("AAPL", 1), ("MSFT", 2))
            for d, p in zip(pd.date_range("2008-01-01", periods=120, freq="D"), _walk(seed, 120))]
    prices = attach("prices.csv", _bytes(pd.DataFrame(rows)))
    result = run(agent, "which ticker had the highest volatility?", files=[prices], session="agent-once")
    assert result.ok and "Answer: " in result.text, result.text
    assert "Output:" not in result.text and result.text.count("annualised volatility") == 1, result.text
    chart = run(agent, SEED_PROMPT, files=[prices], session="agent-once-chart")
    assert "Output:" in chart.text  # a chart's printed summary (last price, average) is kept


def test_a_typed_task_is_planned_as_it_is_not_from_the_prose(settings):
    """The Synthetic page sends its SyntheticSpec as ``AgentRequest.task``: the local agent
    plans that spec (the prose is for model backends), so an edited prompt cannot change it."""
    from agent_core.synthetic import plan_code

    spec = SyntheticSpec(n_companies=7, id_prefix="ZZ", id_width=3).validate()
    request = AgentRequest(text="this prose asks for nothing the planner knows", session_id="task-1",
                           task=spec)
    raw = LocalAgent(settings).raw_events(request)
    try:
        first, second = next(raw), next(raw)  # rationale, then the code it will run
    finally:
        raw.close()  # no kernel needed: stop before the code runs
    rationale = first["trace"]["trace"]["orchestrationTrace"]["rationale"]["text"]
    code = second["trace"]["trace"]["orchestrationTrace"]["invocationInput"][
        "codeInterpreterInvocationInput"]["code"]
    assert "7 companies" in rationale and code == plan_code(spec)


def test_printed_output_streams_while_the_code_runs(agent):
    """Issue 13: a loop that prints a line at a time is seen line by line, before it ends."""
    import time as _time

    from agent_core.events import CodeOutput, CodeOutputProgress

    code = "import time\nfor i in range(3):\n    print('line', i, flush=True)\n    time.sleep(0.7)\n"
    request = AgentRequest(text=f"run this code:\n```python\n{code}```", session_id="agent-stream")
    t0 = _time.monotonic()
    arrivals = []
    for event in agent.invoke(request):
        if isinstance(event, (CodeOutputProgress, CodeOutput)):
            arrivals.append((type(event).__name__, event.text, _time.monotonic() - t0))
    progress = [a for a in arrivals if a[0] == "CodeOutputProgress"]
    final = next(a for a in arrivals if a[0] == "CodeOutput")
    assert "".join(p[1] for p in progress) == final[1] == "line 0\nline 1\nline 2\n"
    assert progress[0][1].startswith("line 0") and "line 2" not in progress[0][1]
    assert final[2] - progress[0][2] > 1.0  # the first line came well before the code ended


def test_stop_interrupts_the_kernel_and_keeps_its_variables(agent):
    import threading

    from agent_core.cancel import CancelToken
    from agent_core.events import CodeOutputProgress

    sid = "agent-stop"
    assert run(agent, "run this code:\n```python\nkept = 41\n```", session=sid).ok
    token = CancelToken()
    code = "import time\nfor i in range(60):\n    print(i, flush=True)\n    time.sleep(1)\n"
    request = AgentRequest(text=f"run this code:\n```python\n{code}```", session_id=sid, cancel=token)
    started = None
    import time as _time

    for event in agent.invoke(request):
        if isinstance(event, CodeOutputProgress) and started is None:
            started = _time.monotonic()
            threading.Timer(0.2, token.cancel).start()
    assert started is not None and _time.monotonic() - started < 4
    after = run(agent, "run this code:\n```python\nprint(kept + 1)\n```", session=sid)
    assert after.ok and "42" in after.text
