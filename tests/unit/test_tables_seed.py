"""The seed chart request through the local agent (real kernel) on every corpus file: a PNG
and its data CSV come back, with the file's own dates, tickers and prices."""
from __future__ import annotations

import io

import pandas as pd
import pytest

from agent_core.backends.base import AgentRequest
from agent_core.backends.local import LocalAgent
from agent_core.config import load_settings
from agent_core.files import AttachedFile
from agent_core.run import RunCollector
from agent_core.tables import read_table
from tests.unit.table_corpus import FILES

pytestmark = pytest.mark.timeout(300)

SEED_PROMPT = ("Given the attached price data file, please make me a chart with moving average in red "
               "and actual data in blue")


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    home = tmp_path_factory.mktemp("seed-home")
    a = LocalAgent(load_settings(env={"AGENT_DESK_HOME": str(home), "AGENT_DESK_SANDBOX": "none"},
                                 secrets={}, max_kernels=2))
    yield a
    a.close()


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_seed_chart_request_on_each_vendor_file(agent, path):
    data = path.read_bytes()
    expected = read_table(path.name, data)
    p, frame = expected.profile, expected.frame
    collector = RunCollector()
    request = AgentRequest(text=SEED_PROMPT, session_id=f"seed-{abs(hash(path.name)) % 10**8}",
                           files=(AttachedFile.from_bytes(path.name, data),))
    for event in agent.invoke(request):
        collector.add(event)
    result = collector.result()
    names = {f.name: f for f in result.files}
    assert "moving_average.png" in names and "moving_average.csv" in names, (path.name, result.text)
    assert names["moving_average.png"].data.startswith(b"\x89PNG\r\n\x1a\n")
    table = pd.read_csv(io.BytesIO(names["moving_average.csv"].data))
    table["date"] = pd.to_datetime(table["date"])
    if p.layout in ("long", "wide"):
        plotted = list(dict.fromkeys(table["ticker"]))
        assert plotted == list(p.tickers[: len(plotted)]) and len(plotted) == min(6, len(p.tickers))
    else:
        plotted = [p.tickers[0]]
        assert set(table["ticker"]) == {p.tickers[0]}  # the CSV says which series it holds
    for ticker in plotted:
        if p.layout == "long":
            own = frame[frame[p.ticker_column] == ticker].set_index(p.date_column)[p.value_column]
        elif p.layout == "wide":
            own = frame.set_index(p.date_column)[ticker]
        else:
            own = frame.set_index(p.date_column)[p.value_column]
        own = own.dropna()
        got = table[table["ticker"] == ticker] if "ticker" in table else table
        assert list(got["date"]) == list(own.index), (path.name, ticker)
        assert got["price"].to_numpy() == pytest.approx(own.to_numpy())
    assert "ma_20" in table and table["ma_20"].notna().any() == (len(table) >= 20)
