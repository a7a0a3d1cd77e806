"""Issue 12's done-when in a real browser, on a MONTHLY long-format file uploaded and attached
on the Upload page: the seed chart, then follow-ups that change it, a question whose number
is the one pandas computes from the same file, an export. Each answer starts with what it
understood, windows are labelled in months, a 200-month average on 123 months (no values)
ends "Completed with problems", never done, and the status line says each outcome."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from tests.e2e.conftest import screenshot, wait_for_app

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
SEED = ("Given the attached price data file, please make me a chart with moving average in red "
        "and actual data in blue")


def ask(page, text: str) -> None:
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(text)
    box.press("Enter")
    wait_for_app(page)


def monthly_prices(path) -> pd.DataFrame:
    """123 month-start closes of four tickers, 2000-01 to 2010-03, long layout."""
    idx = pd.date_range("2000-01-01", "2010-03-01", freq="MS")
    rng = np.random.default_rng(12)
    frames = [pd.DataFrame({"symbol": t, "date": idx.strftime("%Y-%m-%d"),
                            "close": (100 * np.exp(np.cumsum(rng.normal(0.005, 0.04 * (i + 1), len(idx))))).round(4)})
              for i, t in enumerate(("AAPL", "MSFT", "GOOG", "IBM"))]
    table = pd.concat(frames)
    table.to_csv(path, index=False)
    return table


def last_turn(page):
    return page.locator('[data-testid="stChatMessage"]').last


def expect_status(page, words: str) -> None:
    from playwright.sync_api import expect

    expect(last_turn(page).get_by_text(re.compile(rf"^{re.escape(words)}: \d+ step")).last).to_be_visible(
        timeout=60_000)


def test_done_when_conversation_on_monthly_data(page, app_url, tmp_path):
    from playwright.sync_api import expect

    table = monthly_prices(tmp_path / "monthly.csv")
    page.goto(f"{app_url}/upload")
    wait_for_app(page, expect_run=False)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
        str(tmp_path / "monthly.csv"))
    wait_for_app(page)
    expect(page.locator('[data-testid="stAlertContentSuccess"]').first).to_contain_text(
        "monthly.csv: long layout, 4 tickers")
    page.get_by_role("button", name="Attach").first.click()
    wait_for_app(page)
    page.get_by_role("link", name="Analysis").first.click()
    wait_for_app(page)
    expect(page.get_by_role("heading", name="Analysis")).to_be_visible()

    ask(page, SEED)
    expect(last_turn(page).get_by_text(
        "Understood: monthly.csv, all tickers: AAPL, MSFT, GOOG and IBM, 20-month average, "
        "price chart.").last).to_be_visible(timeout=60_000)
    expect_status(page, "Completed")
    screenshot(page, "conversation-monthly-seed", scroll_to=last_turn(page).get_by_text(
        re.compile(r"^Completed: ")).last)

    ask(page, "now only AAPL and MSFT, 50-day average")
    turn = last_turn(page)
    expect(turn.get_by_text("Understood: monthly.csv, AAPL and MSFT, 50-month average, price chart.").last
           ).to_be_visible(timeout=60_000)
    expect(turn.get_by_text(re.compile(r"your data is monthly")).last).to_be_visible()
    expect_status(page, "Completed")
    # the interactive twin labels its window in the data's own periods too
    chart = turn.locator('[data-testid="stPlotlyChart"]').first
    expect(chart.get_by_text("AAPL: price and 50-month average")).to_be_visible()
    expect(turn.get_by_label("Moving-average window (months)")).to_have_value("50")
    screenshot(page, "conversation-monthly-50", scroll_to=turn.get_by_text(
        re.compile(r"your data is monthly")).last)

    ask(page, "add a 200-day moving average too")  # 200 months on 123 monthly rows: no values
    turn = last_turn(page)
    expect(turn.get_by_text("Understood: monthly.csv, AAPL and MSFT, 50- and 200-month averages, "
                            "price chart.").last).to_be_visible(timeout=60_000)
    expect(turn.get_by_text(re.compile(r"200-month moving average has no values")).last).to_be_visible()
    expect_status(page, "Completed with problems")
    screenshot(page, "conversation-monthly-200", scroll_to=turn.get_by_text(
        re.compile(r"^Completed with problems: ")).last)

    ask(page, "which ticker had the highest volatility in 2008?")
    prices = table.assign(date=pd.to_datetime(table["date"])).pivot(index="date", columns="symbol",
                                                                     values="close")
    vol = prices.pct_change().loc["2008", ["AAPL", "MSFT"]].std() * np.sqrt(12) * 100
    winner = vol.idxmax()
    turn = last_turn(page)
    expect(turn.get_by_text(f"Answer: {winner} had the highest annualised volatility: "
                            f"{vol[winner]:,.2f}%").last).to_be_visible(timeout=60_000)
    expect_status(page, "Completed")
    screenshot(page, "conversation-monthly-question", scroll_to=turn.get_by_text(
        re.compile(r"^Completed: ")).last)

    ask(page, "export the result as CSV")
    turn = last_turn(page)
    expect(turn.get_by_role("button", name=re.compile(r"^Download result\.csv"))).to_be_visible(timeout=60_000)
    expect_status(page, "Completed")
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    screenshot(page, "conversation-monthly-export", scroll_to=turn)
