"""A chat that stays fast (issue 13): finished turns' interactive charts live in fragments
and their figures are cached, so changing one turn's window rebuilds that figure only;
the twin has one panel per ticker (price blue, average red) on one time axis."""
from __future__ import annotations

import io
import json

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from agent_core.events import FileReturned, TextChunk
from agent_core.files import ReturnedFile
from agent_core.store import RunStore
from components import file_view
from tests.app.conftest import APP


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (60, 40), (31, 78, 156)).save(buf, format="PNG")
    return buf.getvalue()


def _csv(turn: int, tickers: int = 2) -> bytes:
    import numpy as np
    import pandas as pd

    dates = pd.bdate_range("2024-01-01", periods=120)
    data = {"date": dates.strftime("%Y-%m-%d")}
    for t in range(tickers):
        data[f"T{turn}{t}"] = 100 + np.cumsum(np.random.default_rng(turn * 10 + t).normal(size=120))
    return pd.DataFrame(data).to_csv(index=False).encode()


def seed(home, turns: int, tickers: int = 2) -> str:
    store = RunStore(home)
    sid = "desk-fast-chat"
    for i in range(turns):
        run = store.start_run(sid, f"chart {i}", "local")
        for ev in (FileReturned(file=ReturnedFile(name="chart.png", declared_type="image/png",
                                                  data=_png())),
                   FileReturned(file=ReturnedFile(name="chart.csv", declared_type="text/csv",
                                                  data=_csv(i, tickers))),
                   TextChunk(text=f"answer {i}")):
            store.append_event(run, ev)
        store.finish_run(run, "completed")
    store.close()
    return sid


@pytest.fixture
def counted(monkeypatch, tmp_path):
    monkeypatch.setenv("AGENT_BACKEND", "local")
    monkeypatch.setenv("AGENT_DESK_HOME", str(tmp_path))
    st.cache_data.clear()
    calls: list[tuple[int, tuple[str, ...]]] = []
    real = file_view.build_twin_figure

    def counting(long, window, tickers, unit="days"):
        calls.append((window, tickers))
        return real(long, window, tickers, unit)

    monkeypatch.setattr(file_view, "build_twin_figure", counting)
    return calls


def traces(chart) -> list[dict]:
    return json.loads(chart.proto.spec)["data"]


def test_changing_one_turns_window_rebuilds_that_figure_only(counted, tmp_path):
    sid = seed(tmp_path, turns=3)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["session"] = sid
    at.run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 3 and len(counted) == 3  # each figure built once
    counted.clear()
    at.run()  # a rerun of the page: every figure comes from the cache
    assert counted == []
    at.number_input(key="turn1_0_data_win").set_value(7).run()
    assert not at.exception, at.exception
    assert counted == [(7, ("T10", "T11"))]  # turn 1 only; turns 0 and 2 not rebuilt
    windows = {t["name"] for c in at.get("plotly_chart") for t in traces(c) if "MA" in t["name"]}
    assert "T10 MA 7" in windows and "T00 MA 20" in windows


def test_twin_has_a_panel_per_ticker_blue_and_red_and_names_what_it_left_out(counted, tmp_path):
    from components.charts import AVERAGE_RED, MAX_PANELS, PRICE_BLUE

    sid = seed(tmp_path, turns=1, tickers=MAX_PANELS + 2)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["session"] = sid
    at.run()
    assert not at.exception, at.exception
    chart = at.get("plotly_chart")[0]
    spec = json.loads(chart.proto.spec)
    data, layout = spec["data"], spec["layout"]
    assert len(data) == 2 * MAX_PANELS  # price + average per panel, one panel per ticker
    assert {t["line"]["color"] for t in data[0::2]} == {PRICE_BLUE}
    assert {t["line"]["color"] for t in data[1::2]} == {AVERAGE_RED}
    assert {t.get("xaxis", "x") for t in data} == {"x", *(f"x{i}" for i in range(2, MAX_PANELS + 1))}
    assert layout["xaxis"].get("matches") or layout["xaxis2"].get("matches") == "x"  # one time axis
    assert layout["legend"]["orientation"] == "h" and layout["legend"]["y"] < 0  # below the plot
    picker = at.multiselect(key="turn0_0_data_series")
    assert len(picker.value) == MAX_PANELS
    left_out = [c.value for c in at.caption if c.value.startswith("Not drawn:")]
    assert left_out == ["Not drawn: T04, T05. Pick them above to see them."]
    titles = [a["text"] for a in layout["annotations"]]
    assert titles[0] == "T00: price and 20-day average"  # business-daily rows: days


def test_twin_titles_count_the_datas_own_periods():
    """On monthly data the twin's panels say "20-month average" (issue 12), as the answer does."""
    import pandas as pd

    long = pd.DataFrame({"date": pd.date_range("2000-01-01", periods=30, freq="MS"), "ticker": "AAPL",
                         "price": range(30)})
    for unit, words in (("months", "20-month"), ("weeks", "20-week"), ("5min bars", "20-bar")):
        fig = file_view.build_twin_figure(long, 20, ("AAPL",), unit)
        assert fig.layout.annotations[0].text == f"AAPL: price and {words} average"
