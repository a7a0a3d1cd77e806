"""The upload page under AppTest: verdicts, preview, chart, attach/detach and the limits."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from agent_core.sample_data import sample_bytes

PAGE = str(Path(__file__).resolve().parents[2] / "app_pages" / "upload.py")
WIDE = b"Date,AAA,BBB\n2020-01-01,1.5,2.5\n2020-01-02,1.6,\n2020-01-03,1.7,2.7\n"

pytestmark = pytest.mark.timeout(120)


def page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception
    return at


def upload(at: AppTest, *files: tuple[str, bytes]) -> AppTest:
    at.file_uploader(key="price_uploads").set_value([(n, b, "text/csv") for n, b in files])
    at.run()
    assert not at.exception, at.exception
    return at


def buttons(at: AppTest, label: str) -> list:
    return [b for b in at.button if b.label == label]


def attachments(at: AppTest) -> list[str]:
    return [f.name for f in at.session_state["agent_session"].attachments]


def test_upload_shows_verdict_preview_and_chart_then_attach_and_detach():
    at = upload(page(), ("prices.csv", sample_bytes()))
    assert "prices.csv: long layout, 3 tickers (SYNA, SYNB, SYNC)" in at.success[0].value
    table = at.table[0].value
    assert list(table.iloc[:, 1])[:2] == ["long (one row per ticker and date)", "date (ISO)"]
    df = at.dataframe[0].value
    assert list(df.columns) == ["date", "ticker", "open", "high", "low", "close", "volume"]
    assert len(at.get("plotly_chart")) == 1
    assert at.multiselect[0].value == [20]
    assert "0 of 5" in at.get("progress")[0].proto.text

    buttons(at, "Attach")[0].click()
    at.run()
    assert attachments(at) == ["prices.csv"]
    assert any("Attached **prices.csv**" in s.value for s in at.success)
    assert "1 of 5" in at.get("progress")[0].proto.text
    attached = at.session_state["agent_session"].attachments[0]
    assert attached.data == sample_bytes() and attached.media_type == "text/csv"

    buttons(at, "Detach")[-1].click()
    at.run()
    assert attachments(at) == []


def test_problems_are_listed_as_a_warning():
    at = upload(page(), ("wide.csv", WIDE))
    assert not at.success
    warning = at.warning[0].value
    assert "1 missing value in 'BBB'" in warning and "wide layout" in warning


def test_garbage_file_gets_an_error_and_no_exception():
    at = upload(page(), ("garbage.csv", bytes(range(256)) * 40), ("good.csv", WIDE))
    errors = [e.value for e in at.error]
    assert any("can't be used" in e and "binary data" in e for e in errors)
    assert not at.exception
    attach = buttons(at, "Attach")
    assert attach[0].disabled and not attach[1].disabled  # garbage can't be attached
    assert len(at.get("plotly_chart")) == 1  # the good file still gets its chart


def test_sixth_attachment_shows_the_limit_and_a_way_forward():
    files = [(f"p{i}.csv", WIDE.replace(b"AAA", f"T{i}".encode())) for i in range(6)]
    at = upload(page(), *files)
    for i in range(6):
        buttons(at, "Attach")[0].click()
        at.run()
        assert not at.exception
    assert attachments(at) == [f"p{i}.csv" for i in range(5)]
    message = " ".join(e.value for e in at.error)
    assert "at most 5" in message and "Detach" in message
    assert "5 of 5" in at.get("progress")[0].proto.text


def test_moving_average_window_changes_the_chart():
    at = upload(page(), ("wide.csv", WIDE))
    at.multiselect[0].set_value([2])
    at.run()
    assert not at.exception
    import json

    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert [t["name"] for t in fig["data"] if t.get("showlegend") is not False] == [
        "AAA", "AAA MA 2", "BBB", "BBB MA 2"]


def test_sample_button_loads_the_synthetic_sample():
    at = page()
    [b for b in at.button if "synthetic sample" in b.label][0].click()
    at.run()
    assert any("Synthetic sample data" in i.value for i in at.info)
    assert "SYNA, SYNB, SYNC" in at.success[0].value


def big_csv(rows: int = 160_000) -> bytes:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(3)
    dates = pd.date_range("2000-01-01", periods=rows, freq="h")
    df = pd.DataFrame({"date": dates.strftime("%Y-%m-%d %H:%M:%S")})
    for t in ("AAA", "BBB", "CCC", "DDD", "EEE"):
        df[t] = np.round(100 + np.cumsum(rng.normal(0, 0.1, rows)), 6)
    return df.to_csv(index=False).encode()


def test_file_over_10_mb_gets_the_limit_and_a_smaller_copy_to_attach():
    data = big_csv()
    assert len(data) > 10 * 1024 * 1024
    at = upload(page(), ("big.csv", data))
    assert any("Too big to attach" in e.label for e in at.expander)
    buttons(at, "Attach")[0].click()
    at.run()
    assert attachments(at) == []
    message = " ".join(e.value for e in at.error)
    assert "10.0 MB" in message and "shorter date range" in message and "smaller copy" in message

    start, end = at.slider[0].value
    at.slider[0].set_value((start, start.replace(year=start.year + 2)))
    at.multiselect(key=[m.key for m in at.multiselect if m.label == "Tickers"][0]).set_value(
        ["AAA", "BBB"])
    [b for b in at.button if b.label == "Attach the smaller copy"][0].click()
    at.run()
    assert not at.exception
    assert attachments(at) == ["big_subset.csv"]
    copy = at.session_state["agent_session"].attachments[0]
    assert copy.size < 10 * 1024 * 1024
    header, first, *_ = copy.data.decode().splitlines()
    assert header == "date,AAA,BBB" and first.startswith("2000-01-01 00:00:00,")
    assert any("Attached **big_subset.csv**" in s.value for s in at.success)


def test_on_bedrock_a_file_attached_here_reaches_invoke_agent(bedrock_env):
    """Upload page on the Bedrock backend (fake endpoint): the attached file goes to
    InvokeAgent as sessionState.files, byte for byte, with the CODE_INTERPRETER use case."""
    import base64

    from tests.app.conftest import RUN_TIMEOUT, new_app

    bedrock_env.use("chart")
    at = new_app("app_pages/upload.py")
    at.file_uploader(key="price_uploads").set_value([("wide.csv", WIDE, "text/csv")]).run()
    assert not at.exception, at.exception
    buttons(at, "Attach")[0].click().run()
    assert attachments(at) == ["wide.csv"]
    at.switch_page("app_pages/analysis.py").run()
    at.chat_input[0].set_value("Plot it").run(timeout=RUN_TIMEOUT)
    assert not at.exception, at.exception
    sent = [r.body for r in bedrock_env.requests if not r.body.get("endSession")][-1]
    files = sent["sessionState"]["files"]
    assert [f["name"] for f in files] == ["wide.csv"]
    assert files[0]["useCase"] == "CODE_INTERPRETER"
    assert base64.b64decode(files[0]["source"]["byteContent"]["data"]) == WIDE


@pytest.mark.parametrize(("freq", "unit"), [("MS", "months"), ("W-FRI", "weeks"), ("B", "days")])
def test_moving_average_control_counts_the_datas_own_periods(freq, unit):
    import pandas as pd

    idx = pd.date_range("2015-01-01", periods=60, freq=freq)
    data = pd.DataFrame({"Date": idx, "AAA": range(1, 61)}).to_csv(index=False).encode()
    at = upload(page(), ("p.csv", data))
    assert at.multiselect[0].label == f"Moving averages ({unit})"
