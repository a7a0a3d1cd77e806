"""Vendor files on the Upload page in a real browser: the verdict, the columns' roles and the
read code, a workbook's sheet choice (screenshots under test-artifacts/screenshots/)."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import screenshot, wait_for_app
from tests.unit.table_corpus import CORPUS

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def test_vendor_files_verdicts_roles_and_sheet_choice(page, app_url):
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"{app_url}/upload")
    wait_for_app(page, expect_run=False)
    files = [str(CORPUS / n) for n in ("investing_NSEI_historical_data.csv", "yfinance_multi.csv",
                                       "workbook_two_sheets.xlsx")]
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(files)
    wait_for_app(page)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    alerts = page.locator('[data-testid="stAlert"]')
    for verdict in ("investing_NSEI_historical_data.csv: ohlc layout, 1 ticker (NSEI)",
                    "yfinance_multi.csv: long layout, 3 tickers (AAPL, MSFT, NVDA)"):
        expect(alerts.filter(has_text=verdict)).to_have_count(1)
    expect(page.get_by_text("'Change %' (a return or percent change").first).to_be_visible()
    screenshot(page, "tables-investing-verdict")

    page.get_by_role("tab", name="Columns and read code").first.click()
    code = page.locator('[data-testid="stCode"]').filter(has_text="read_csv").first
    expect(code).to_contain_text('pd.read_csv("investing_NSEI_historical_data.csv", thousands=",")')
    screenshot(page, "tables-investing-read-code", scroll_to=code)

    sheet = page.locator('[data-testid="stSelectbox"]').filter(has_text="Sheet")
    expect(sheet).to_have_count(1)
    sheet.scroll_into_view_if_needed()
    expect(alerts.filter(has_text="workbook_two_sheets.xlsx: ohlc layout, 1 ticker (AAPL)")).to_have_count(1)
    sheet.get_by_role("combobox").click()
    page.get_by_role("option", name="MSFT").click()
    wait_for_app(page)
    expect(alerts.filter(has_text="workbook_two_sheets.xlsx: ohlc layout, 1 ticker (MSFT)")).to_have_count(1)
    screenshot(page, "tables-workbook-sheet", scroll_to=sheet)

    # switching pages in the app (not a reload) keeps the uploaded files on the Upload page
    nav = page.locator('[data-testid="stSidebarNav"]')
    nav.get_by_role("link", name="Analysis").click()
    wait_for_app(page)
    expect(page.get_by_role("heading", name="workbook_two_sheets.xlsx")).to_have_count(0)
    nav.get_by_role("link", name="Upload").click()
    wait_for_app(page)
    for name in ("investing_NSEI_historical_data.csv", "yfinance_multi.csv", "workbook_two_sheets.xlsx"):
        expect(page.get_by_role("heading", name=name)).to_be_visible()
    expect(alerts.filter(has_text="workbook_two_sheets.xlsx: ohlc layout, 1 ticker (MSFT)")).to_have_count(1)
    screenshot(page, "tables-after-page-switch")
