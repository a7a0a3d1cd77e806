"""Issue 5's "done when" in a real browser: a run made on the Analysis page (local backend,
sample data, the seed prompt) is still there, files and all, after a tab refresh and after
the app server is restarted on the same AGENT_DESK_HOME."""
from __future__ import annotations

import io
import re
import json
import zipfile

import pytest

from tests.e2e.conftest import StreamlitServer, screenshot, start_streamlit, wait_for_app
from tests.e2e.test_analysis_page import SEED, open_with_sample

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def step_expander(page, title: str):
    return page.locator('[data-testid="stExpander"]', has_text=f"Step 1 · {title}")


def open_history(page) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="History").click()
    wait_for_app(page)


def assert_run_replayed(page) -> None:
    """The History page lists the seed run and replays it: expanders, code, chart, files."""
    from playwright.sync_api import expect

    expect(page.get_by_role("heading", name="History")).to_be_visible()
    chooser = page.get_by_role("combobox", name="Open a run")
    expect(chooser).to_have_value(re.compile(r"· local · completed · Given the attached price data"))
    expect(page.get_by_text("1 run(s)", exact=False)).to_be_visible()
    for title in ("Generated code", "Code output", "Files generated"):
        expect(step_expander(page, title)).to_be_visible()
    code = step_expander(page, "Generated code")
    code.locator("summary").click()
    expect(code.locator("code")).to_contain_text("rolling")
    expect(code.locator("code")).to_contain_text("sample_prices.csv")
    image = page.locator('[data-testid="stImage"] img').first
    expect(image).to_be_visible()
    image.wait_for(state="visible")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    assert image.evaluate("img => img.naturalWidth") > 300  # the stored chart, decoded
    expect(page.get_by_role("button", name="Download").filter(has_text=".png").first).to_be_visible()
    for name in ("Notebook (.ipynb)", "Files + events (.zip)", "Whole session (.ipynb)"):
        expect(page.get_by_role("button", name=name)).to_be_visible()
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def whole_page_screenshot(page, name: str) -> None:
    """Streamlit scrolls inside its own container: a viewport as tall as its content shows
    the whole page in one picture."""
    size = page.viewport_size
    height = page.evaluate(
        "() => Math.max(...['stMain', 'stAppViewContainer', 'stMainBlockContainer']"
        ".map(t => document.querySelector(`[data-testid=\"${t}\"]`))"
        ".filter(Boolean).map(e => e.scrollHeight))")
    page.set_viewport_size({"width": size["width"], "height": min(int(height) + 40, 8000)})
    page.wait_for_timeout(400)
    screenshot(page, name, full_page=False)
    page.set_viewport_size(size)
    page.wait_for_timeout(200)


@pytest.fixture
def home_servers(tmp_path):
    """Servers started on one AGENT_DESK_HOME; whatever is still running is stopped."""
    started: list[StreamlitServer] = []
    home = tmp_path / "agent-desk-home"

    def start() -> StreamlitServer:
        server = start_streamlit({"AGENT_DESK_E2E_SERVER": "history"}, home)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def test_browser_run_survives_refresh_and_server_restart(page, home_servers):
    from playwright.sync_api import expect

    first = home_servers()
    open_with_sample(page, first.url)
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(SEED)
    box.press("Enter")
    wait_for_app(page, timeout=120_000)
    expect(page.locator('[data-testid="stImage"] img').first).to_be_visible(timeout=60_000)

    # (1) the app opened afresh (its plain address, no ?session= to restore the chat from): a
    # new browser session with nothing in its session state (a refresh of the ?session= address
    # brings the chat back: tests/e2e/test_session_and_stream.py)
    page.goto(first.url)
    wait_for_app(page, expect_run=False)
    expect(page.locator('[data-testid="stImage"]')).to_have_count(0)  # the chat is not there...
    open_history(page)
    assert_run_replayed(page)  # ...the History page still has the run, files and all
    whole_page_screenshot(page, "history-after-refresh")
    screenshot(page, "history-after-refresh-chart", full_page=False,
               scroll_to=page.locator('[data-testid="stImage"]').first)

    # (2) the app restarted: a new streamlit process on the same home
    first.stop()
    assert first.process.returncode is not None
    second = home_servers()
    assert second.home == first.home and second.port != first.port
    page.goto(second.url)
    wait_for_app(page, expect_run=False)
    open_history(page)
    assert_run_replayed(page)
    expect(page.get_by_text("interrupted")).to_have_count(0)  # a finished run stays completed
    whole_page_screenshot(page, "history-after-restart")

    with page.expect_download() as info:
        page.get_by_role("button", name="Files + events (.zip)").click()
    download = info.value
    assert download.suggested_filename.endswith(".zip")
    with zipfile.ZipFile(io.BytesIO(download.path().read_bytes())) as zf:
        names = zf.namelist()
        assert "events.jsonl" in names, names
        events = [json.loads(line) for line in zf.read("events.jsonl").decode().splitlines() if line]
        pngs = [n for n in names if n.startswith("files/") and n.endswith(".png")]
        assert pngs, names
        assert zf.read(pngs[0]).startswith(b"\x89PNG\r\n\x1a\n")
        assert "attached/sample_prices.csv" in names, names
    kinds = {e["event"] for e in events}
    assert {"CodeInvocation", "FileReturned"} <= kinds, kinds
