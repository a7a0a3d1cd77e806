"""Attack 4: Markdown from code, data or a model made the analyst's browser fetch a URL
(``![x](http://127.0.0.1:PORT/leak?d=...)``), which defeats the kernel's no-network rule.

Each test drives the real app in headless Chromium with a local HTTP listener on 127.0.0.1
that must receive nothing, and checks that the text is still shown (as text)."""
from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest

from tests.e2e.conftest import screenshot, wait_for_app
from tests.fakes.bedrock_server import bedrock_server, chunk, fake_aws_env, rationale  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


class Listener:
    """An HTTP server on 127.0.0.1 that records every request it gets."""

    def __init__(self) -> None:
        hits = self.hits = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def image(self, tag: str) -> str:
        return f"![x](http://127.0.0.1:{self.port}/leak?d={tag})"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def listener():
    lst = Listener()
    yield lst
    lst.close()


def _ask(page, text: str) -> None:
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(text)
    box.press("Enter")
    wait_for_app(page, timeout=120_000)


def _nothing_fetched(page, listener: Listener, name: str) -> None:
    page.wait_for_timeout(1500)  # time for any image request to leave the browser
    screenshot(page, name)
    assert listener.hits == [], f"the browser fetched {listener.hits}"


def test_error_text_from_code_is_not_rendered(page, app_url, listener):
    from playwright.sync_api import expect

    page.goto(app_url)  # Analysis is the default page: served at the root
    wait_for_app(page, expect_run=False)
    payload = listener.image("error")
    _ask(page, f'run this code: ```raise ValueError("{payload}")```')
    expect(page.get_by_text("leak?d=error").first).to_be_attached()
    _nothing_fetched(page, listener, "hostile-exfil-error")


def test_data_cell_is_not_rendered(page, app_url, listener, tmp_path):
    from playwright.sync_api import expect

    rows = ["date,ticker,close"] + [f"2026-01-{d:02d},ACME,{100 + d}" for d in range(1, 29)]
    rows[5] = f"2026-01-05,ACME,{listener.image('cell')}"
    csv = tmp_path / "prices.csv"
    csv.write_text("\n".join(rows) + "\n")
    page.goto(app_url + "/upload")
    wait_for_app(page, expect_run=False)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(csv))
    wait_for_app(page)
    _nothing_fetched(page, listener, "hostile-exfil-cell-upload")
    attach = page.get_by_role("button", name="Attach")
    if attach.count():
        attach.first.click()
        wait_for_app(page)
    page.locator('[data-testid="stSidebarNav"] a', has_text="Analysis").click()
    wait_for_app(page)
    # the planner's code reads the cell as a price: its error quotes the cell
    _ask(page, "run this code: ```import pandas as pd\n"
               "df = pd.read_csv('prices.csv')\nprint(df['close'].astype(float).mean())```")
    expect(page.get_by_text("leak?d=cell").first).to_be_attached()
    _nothing_fetched(page, listener, "hostile-exfil-cell")


def test_model_answer_images_and_links_are_shown_as_text(page, bedrock_server, listener,  # noqa: F811
                                                         streamlit_server_factory):
    from playwright.sync_api import expect

    bedrock_server.script = [
        rationale(f"Thinking {listener.image('rationale')}", "t1"),
        chunk(f"Here is the chart {listener.image('answer')} and "
              f"[a link](http://127.0.0.1:{listener.port}/click)."),
    ]
    env = fake_aws_env({}, Path("/nonexistent-agent-desk-aws"))
    env.update(AGENT_BACKEND="bedrock", BEDROCK_ENDPOINT_URL=bedrock_server.url,
               BEDROCK_AGENT_ID="AGENT123", BEDROCK_AGENT_ALIAS_ID="ALIAS123", AWS_REGION="us-east-1")
    server = streamlit_server_factory(env)
    page.goto(server.url)  # Analysis is the default page: served at the root
    wait_for_app(page, expect_run=False)
    _ask(page, "Chart it")
    expect(page.get_by_text("leak?d=answer").first).to_be_visible()
    page.locator('[data-testid="stExpander"]', has_text="Rationale").locator("summary").first.click()
    expect(page.get_by_text("leak?d=rationale").first).to_be_visible()
    answer = page.locator('[data-testid="stChatMessage"]').last
    assert answer.locator("img").count() == 0
    assert answer.locator(f'a[href*="127.0.0.1:{listener.port}"]').count() == 0
    _nothing_fetched(page, listener, "hostile-exfil-model")
