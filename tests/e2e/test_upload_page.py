"""Upload page in a real browser: upload a price CSV, see the verdict and chart, attach it."""
from __future__ import annotations

import pytest

from agent_core.sample_data import sample_bytes
from tests.e2e.conftest import screenshot, wait_for_app

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def test_upload_verdict_chart_and_attach(page, app_url, tmp_path):
    from playwright.sync_api import expect

    csv_path = tmp_path / "prices.csv"
    csv_path.write_bytes(sample_bytes())

    page.goto(f"{app_url}/upload")
    wait_for_app(page, expect_run=False)
    expect(page.get_by_role("heading", name="Upload price data")).to_be_visible()
    # a deep link on a fresh server still gets the app frame (navigation + sidebar)
    expect(page.locator('[data-testid="stSidebar"]')).to_contain_text("Agent session")
    expect(page.get_by_text("Attached files: 0 of 5")).to_be_visible()

    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(csv_path))
    wait_for_app(page)
    verdict = page.locator('[data-testid="stAlertContentSuccess"]').first
    expect(verdict).to_contain_text("prices.csv: long layout, 3 tickers (SYNA, SYNB, SYNC)")
    expect(page.get_by_text("2023-01-02 to 2025-12-31", exact=True)).to_be_visible()
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    expect(chart).to_be_visible()
    expect(chart.locator(".legendtext", has_text="SYNA MA 20")).to_have_count(1)
    expect(chart.locator("canvas").first).to_be_attached()  # Scattergl draws with WebGL
    screenshot(page, "upload-verdict")
    screenshot(page, "upload-chart", scroll_to=chart)

    page.get_by_role("button", name="Attach").first.click()
    wait_for_app(page)
    expect(page.get_by_text("Attached prices.csv to the agent session.")).to_be_visible()
    expect(page.get_by_text("Attached files: 1 of 5")).to_be_visible()
    expect(page.get_by_role("button", name="Detach").first).to_be_visible()
    screenshot(page, "upload-attached")

    page.get_by_role("tab", name="Table").click()
    grid = page.locator('[data-testid="stDataFrame"]').first
    expect(grid).to_be_visible()
    screenshot(page, "upload-table", scroll_to=grid)


def test_garbage_upload_shows_an_error_not_a_traceback(page, app_url, tmp_path):
    from playwright.sync_api import expect

    bad = tmp_path / "garbage.csv"
    bad.write_bytes(bytes(range(256)) * 50)
    page.goto(f"{app_url}/upload")
    wait_for_app(page, expect_run=False)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(bad))
    wait_for_app(page)
    expect(page.locator('[data-testid="stAlertContentError"]').first).to_contain_text(
        "binary data")
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    screenshot(page, "upload-garbage")
