"""The app on AGENT_BACKEND=openai in a real browser (streamlit run + Chromium) against the
fake Chat Completions server, which wants an API key: the seed chart request shows its
steps, the chart and the answer; the sidebar shows host and model; the key is nowhere in the
page or the server's log."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import screenshot, wait_for_app
from tests.fakes.openai_server import SEED_REQUEST, FakeChat, scenario_model

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

MODEL = "analyst-7b"
KEY = "sk-agentdesk-E2EKEY-0a1b2c3d4e5f6789"


@pytest.fixture(scope="module")
def fake():
    server = FakeChat(scenario_model("chart"), key=KEY, models=(MODEL,)).start()
    yield server
    server.stop()


def test_seed_chart_on_an_openai_compatible_server(page, fake, streamlit_server_factory):
    from playwright.sync_api import expect

    server = streamlit_server_factory({"AGENT_BACKEND": "openai", "OPENAI_BASE_URL": fake.base_url,
                                       "OPENAI_MODEL": MODEL, "OPENAI_API_KEY": KEY})
    page.goto(server.url)
    wait_for_app(page, expect_run=False)
    page.get_by_role("button", name="Try it with sample data").click()
    wait_for_app(page)
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar).to_contain_text("OpenAI-compatible model server")
    expect(sidebar).to_contain_text(fake.server.endpoint_url)
    expect(sidebar).to_contain_text(MODEL)

    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(SEED_REQUEST)
    box.press("Enter")
    wait_for_app(page, timeout=120_000)
    expect(page.get_by_text("Done. I wrote moving_average.png, moving_average.csv").first).to_be_visible()
    image = page.locator('[data-testid="stImage"] img').first
    expect(image).to_be_visible()
    assert image.evaluate("img => img.naturalWidth") > 300
    code = page.locator('[data-testid="stExpander"]', has_text="Step 1 · Generated code")
    code.locator("summary").click()
    expect(code.locator("code")).to_contain_text("rolling(20)")
    expect(page.get_by_role("button", name="Download moving_average.png")).to_be_visible()
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    screenshot(page, "analysis-openai-steps")
    image.scroll_into_view_if_needed()
    screenshot(page, "analysis-openai-chart", full_page=False)

    assert KEY not in page.content()
    assert KEY not in server.log_path.read_text(errors="replace")
    assert len(fake.chat_requests) >= 2 and all(r["key_sent"] for r in fake.chat_requests)
