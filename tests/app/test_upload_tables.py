"""The Upload page with the one table reader: several files and which one the agent uses,
uploads that stay across a page switch, and choosing a workbook's sheet."""
from __future__ import annotations

import pytest

from tests.app.conftest import RUN_TIMEOUT, expander, new_app
from tests.unit.table_corpus import CORPUS

pytestmark = pytest.mark.timeout(240)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def upload(at, *names: str):
    files = [(n, (CORPUS / n).read_bytes(), XLSX if n.endswith("xlsx") else "text/csv") for n in names]
    at.file_uploader(key="price_uploads").set_value(files).run()
    assert not at.exception, at.exception
    return at


def click(at, label: str, index: int = 0):
    [b for b in at.button if b.label == label][index].click().run()
    assert not at.exception, at.exception


def test_two_files_attached_the_request_naming_the_second_uses_it(local_shared):
    at = upload(new_app("app_pages/upload.py"), "WIKI-AAPL.csv", "monthly_prices.csv")
    click(at, "Attach")
    click(at, "Attach")  # the first button left is the second file's
    assert [f.name for f in at.session_state["agent_session"].attachments] == [
        "WIKI-AAPL.csv", "monthly_prices.csv"]
    at.switch_page("app_pages/analysis.py").run()
    at.chat_input[0].set_value("summary statistics of WIKI-AAPL.csv").run(timeout=RUN_TIMEOUT)
    assert not at.exception, at.exception
    code = expander(at, "Generated code").code[0].value
    assert 'pd.read_csv("WIKI-AAPL.csv"' in code and "monthly_prices.csv" not in code
    answer = " ".join(m.value for m in at.markdown)
    assert "I used WIKI-AAPL.csv (the request names it)" in answer
    assert "also attached: monthly_prices.csv" in answer


def test_uploads_stay_on_the_upload_page_after_a_page_switch(local_env):
    at = upload(new_app("app_pages/upload.py"), "yfinance_multi.csv", "SP500.csv")
    before = [s.value for s in at.subheader]
    assert len(before) == 2
    at.switch_page("app_pages/analysis.py").run()
    at.switch_page("app_pages/upload.py").run()
    assert not at.exception, at.exception
    assert [s.value for s in at.subheader] == before
    assert any("yfinance_multi.csv: long layout, 3 tickers (AAPL, MSFT, NVDA)" in s.value for s in at.success)
    click(at, "Remove")
    assert [s.value for s in at.subheader] == before[1:]


def test_a_two_sheet_workbook_lets_the_analyst_choose_the_sheet(local_env):
    at = upload(new_app("app_pages/upload.py"), "workbook_two_sheets.xlsx")
    sheet = at.selectbox(key=[s.key for s in at.selectbox if s.label == "Sheet"][0])
    assert sheet.options == ["AAPL", "MSFT"] and sheet.value == "AAPL"
    assert "1 ticker (AAPL)" in at.success[0].value
    sheet.set_value("MSFT").run()
    at.run()
    assert not at.exception, at.exception
    assert "1 ticker (MSFT)" in at.success[0].value
    click(at, "Attach")
    attached = at.session_state["agent_session"].attachments[0]
    assert attached.name == "workbook_two_sheets.xlsx" and attached.sheet == "MSFT"
