"""The local agent's conversation in a real browser: the seed chart, then follow-ups that
change it, a question with its number and how it was computed, an export; each answer
starts with what it understood (issue 12's done-when, on the sample data)."""
from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import screenshot, wait_for_app
from tests.e2e.test_analysis_page import open_with_sample

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def ask(page, text: str) -> None:
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(text)
    box.press("Enter")
    wait_for_app(page)


def test_follow_ups_continue_the_conversation(page, app_url):
    from playwright.sync_api import expect

    open_with_sample(page, app_url)
    ask(page, "chart with a 20-day moving average")
    expect(page.get_by_text("Understood: sample_prices.csv, all tickers: SYNA, SYNB and SYNC, "
                            "20-day average, price chart.").last).to_be_visible(timeout=60_000)
    ask(page, "now only SYNA and SYNB, 50-day average")
    expect(page.get_by_text("Understood: sample_prices.csv, SYNA and SYNB, 50-day average, "
                            "price chart.").last).to_be_visible(timeout=60_000)
    ask(page, "add a 200-day moving average too")
    expect(page.get_by_text("Understood: sample_prices.csv, SYNA and SYNB, 50- and 200-day averages, "
                            "price chart.").last).to_be_visible(timeout=60_000)
    screenshot(page, "conversation-200-day")
    ask(page, "which ticker had the highest volatility in 2024?")
    answer = page.get_by_text(re.compile(r"Answer: SYN[ABC] had the highest annualised volatility: [\d.]+%"))
    expect(answer.last).to_be_visible(timeout=60_000)
    screenshot(page, "conversation-question")
    ask(page, "export the result as CSV")
    expect(page.get_by_role("button", name=re.compile(r"^Download result\.csv"))).to_be_visible(timeout=60_000)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    screenshot(page, "conversation-export")
