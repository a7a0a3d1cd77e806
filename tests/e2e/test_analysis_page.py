"""Analysis page in a real browser (streamlit run + Chromium): sample data, the seed prompt,
the image, the code expander; a slow Bedrock stream renders its first step early."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.conftest import screenshot, wait_for_app
from tests.fakes.bedrock_server import CHART_CODE, bedrock_server, fake_aws_env  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

SEED = ("Given the attached price data file, please make me a chart with moving average "
        "in red and actual data in blue")


def bedrock_app_env(url: str) -> dict[str, str]:
    env = fake_aws_env({}, Path("/nonexistent-agent-desk-aws"))
    env.update(AGENT_BACKEND="bedrock", BEDROCK_ENDPOINT_URL=url, BEDROCK_AGENT_ID="AGENT123",
               BEDROCK_AGENT_ALIAS_ID="ALIAS123", AWS_REGION="us-east-1")
    return env


def upload_attach_and_open_analysis(page, app_url: str, path: Path) -> None:
    """Upload ``path`` on the Upload page, attach it, and go to Analysis through the sidebar."""
    page.goto(f"{app_url}/upload")
    wait_for_app(page, expect_run=False)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(path))
    wait_for_app(page)
    page.get_by_role("button", name="Attach").first.click()
    wait_for_app(page)
    page.get_by_test_id("stSidebarNav").get_by_text("Analysis").click()
    wait_for_app(page)


def open_with_sample(page, url: str) -> None:
    """First visit: the welcome's sample button attaches the sample and opens Analysis."""
    from playwright.sync_api import expect

    page.goto(url)
    wait_for_app(page, expect_run=False)
    expect(page.get_by_text("Welcome to Agent Desk")).to_be_visible()
    page.get_by_role("button", name="Try it with sample data").click()
    wait_for_app(page)
    expect(page.get_by_role("heading", name="Analysis")).to_be_visible()
    expect(page.get_by_text("sample_prices.csv").first).to_be_visible()


def test_bedrock_seed_prompt_shows_image_code_and_answer(page, bedrock_server,  # noqa: F811
                                                         streamlit_server_factory):
    from playwright.sync_api import expect

    bedrock_server.use("chart")
    server = streamlit_server_factory(bedrock_app_env(bedrock_server.url))
    open_with_sample(page, server.url)
    screenshot(page, "analysis-bedrock-welcome-sample")
    page.get_by_role("button", name="Moving average").click()
    wait_for_app(page)
    expect(page.get_by_text("The 20-day average is 100.5 €")).to_be_visible()
    image = page.locator('[data-testid="stImage"] img').first
    expect(image).to_be_visible()
    assert image.evaluate("img => img.naturalWidth") > 0  # a real, decoded image
    code = page.locator('[data-testid="stExpander"]', has_text="Step 1 · Generated code")
    code.locator("summary").click()
    expect(code.locator("code")).to_contain_text("rolling(20).mean()")
    expect(page.get_by_role("button", name="Download chart.png")).to_be_visible()
    # the request carried the attached sample and the seed prompt
    body = [r for r in bedrock_server.requests if not r.body.get("endSession")][-1].body
    assert body["inputText"] == SEED
    assert body["sessionState"]["files"][0]["name"] == "sample_prices.csv"
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    screenshot(page, "analysis-bedrock-steps")
    image.scroll_into_view_if_needed()
    screenshot(page, "analysis-bedrock-chart", full_page=False)


def test_slow_bedrock_stream_shows_its_first_step_before_the_last_arrives(
        page, bedrock_server, streamlit_server_factory):  # noqa: F811
    from playwright.sync_api import expect

    bedrock_server.use("slow", delay=1.0, parts=4)
    server = streamlit_server_factory(bedrock_app_env(bedrock_server.url))
    page.goto(server.url)
    wait_for_app(page, expect_run=False)
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill("Think slowly")
    box.press("Enter")
    step = page.locator('[data-testid="stExpander"]', has_text="Step 1 · Rationale")
    step.wait_for(state="visible", timeout=30_000)
    seen_at = time.monotonic()
    # the first step is on screen while the stream is still running
    sent = [s for _, s in bedrock_server.sent]
    assert not any(s[0] == "event" and s[1] == "chunk" and b"part 4" in s[2]["bytes"]
                   for s in sent), "the last chunk had already arrived"
    expect(page.get_by_text("part 1.", exact=False).first).to_be_visible(timeout=30_000)
    screenshot(page, "analysis-bedrock-slow-midway")
    wait_for_app(page)
    expect(page.get_by_text("part 4.", exact=False).first).to_be_visible()
    assert time.monotonic() - seen_at > 1.5  # the rest came later, while we watched
    screenshot(page, "analysis-bedrock-slow-done")


def test_first_visit_straight_to_a_page_after_a_server_start_gets_the_whole_frame(
        page, streamlit_server_factory):
    """A bookmark to /synthetic_data as the server's very first request: Streamlit starts in
    its legacy pages/ mode; the app must still show its own navigation, sidebar and welcome."""
    from playwright.sync_api import expect

    server = streamlit_server_factory({"AGENT_DESK_E2E_SERVER": "fresh-bookmark"})
    page.goto(f"{server.url}/synthetic_data")
    wait_for_app(page, expect_run=False)
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav).to_contain_text("Synthetic data")
    expect(nav).not_to_contain_text("streamlit app")
    expect(page.get_by_text("Backend:")).to_be_visible()
    expect(page.get_by_text("Welcome to Agent Desk")).to_be_visible()
    expect(page.get_by_role("heading", name="Synthetic data")).to_be_visible()
    screenshot(page, "first-visit-bookmark")


def test_local_upload_attach_ask_seed_prompt_see_image_and_code(page, app_url, tmp_path):
    """The whole first job on the local agent: upload a real CSV, attach it, ask the seed
    prompt, see the chart (PNG and interactive) and the generated code."""
    from playwright.sync_api import expect

    from agent_core.sample_data import sample_bytes

    csv_path = tmp_path / "my_prices.csv"
    csv_path.write_bytes(sample_bytes())
    upload_attach_and_open_analysis(page, app_url, csv_path)
    expect(page.get_by_text("my_prices.csv").first).to_be_visible()
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(SEED)
    box.press("Enter")
    wait_for_app(page, timeout=120_000)
    image = page.locator('[data-testid="stImage"] img').first
    expect(image).to_be_visible(timeout=120_000)
    assert image.evaluate("img => img.naturalWidth") > 300  # a real chart, not an icon
    code = page.locator('[data-testid="stExpander"]', has_text="Step 1 · Generated code")
    code.locator("summary").click()
    expect(code.locator("code")).to_contain_text("rolling")
    expect(code.locator("code")).to_contain_text("my_prices.csv")
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    expect(chart).to_be_visible()
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    screenshot(page, "analysis-local-steps")
    image.scroll_into_view_if_needed()
    screenshot(page, "analysis-local-chart", full_page=False)


def test_bedrock_throttling_shows_the_error_and_retry_recovers(
        page, bedrock_server, streamlit_server_factory):  # noqa: F811
    from playwright.sync_api import expect

    from tests.fakes.bedrock_server import scenario_chart, scenario_throttle

    bedrock_server.queue(scenario_throttle(), scenario_chart())
    server = streamlit_server_factory(bedrock_app_env(bedrock_server.url))
    page.goto(server.url)
    wait_for_app(page, expect_run=False)
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill("Plot it")
    box.press("Enter")
    wait_for_app(page)
    error = page.locator('[data-testid="stAlertContentError"]').first
    expect(error).to_contain_text("throttling")
    expect(page.locator('[data-testid="stExpander"]', has_text="Step 1 · Generated code")).to_be_visible()
    retry = page.get_by_role("button", name="Retry")
    expect(retry).to_be_visible()
    screenshot(page, "analysis-bedrock-throttled")
    retry.click()
    wait_for_app(page)
    expect(page.get_by_text("The 20-day average is 100.5 €")).to_be_visible()
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def test_weekly_questions_answer_the_periods_number_and_draw_no_empty_panels(page, app_url):
    """Found walking the product as an analyst on weekly prices: "what was the annualised
    volatility?" drew a 20-week rolling chart whose latest value read as the answer (38.26%
    for AAPL, the period's is 39.24%), and the drawdown answer's table was drawn as four empty
    "price and 20-row average" panels."""
    import re

    import numpy as np
    import pandas as pd
    from playwright.sync_api import expect

    data = Path(__file__).resolve().parents[1] / "data" / "conversation" / "stocks_weekly_wide.csv"
    prices = pd.read_csv(data, parse_dates=["Date"]).set_index("Date")
    vol = prices.pct_change(fill_method=None).std() * np.sqrt(52) * 100
    upload_attach_and_open_analysis(page, app_url, data)
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill("what was the annualised volatility?")
    box.press("Enter")
    wait_for_app(page, timeout=120_000)
    turn = page.locator('[data-testid="stChatMessage"]').last
    listed = ", ".join(f"{t} {vol[t]:,.2f}%" for t in prices.columns)
    expect(turn.get_by_text(f"Answer: the annualised volatility was {listed} (standard deviation "
                            "of weekly returns times sqrt(52)).").last).to_be_visible(timeout=120_000)
    expect(turn.get_by_text(re.compile(r"rolling volatility"))).to_have_count(0)
    box.fill("what was the maximum drawdown?")
    box.press("Enter")
    wait_for_app(page, timeout=120_000)
    turn = page.locator('[data-testid="stChatMessage"]').last
    expect(turn.get_by_text(re.compile(r"^Answer: AAPL had the highest maximum drawdown")).last
           ).to_be_visible(timeout=120_000)
    expect(turn.get_by_text("Interactive:").last).to_be_visible()
    expect(turn.get_by_text(re.compile(r"price and \d+-row average"))).to_have_count(0)
    expect(turn.get_by_label(re.compile(r"^Moving-average window"))).to_have_count(0)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    screenshot(page, "analysis-weekly-drawdown-answer", scroll_to=turn.get_by_text("Interactive:").last)
