"""Two users in real browsers (issue 16): the app behind a (stand-in) authenticating proxy,
each browser context sending its user in the trusted header, as nginx's proxy_set_header
would. Ann runs the seed chart on the local agent; Bob's History does not list it and Ann's
session link is refused for him; a request without the header is refused outright."""
from __future__ import annotations

import re
import sqlite3

import pytest

from tests.e2e.conftest import screenshot, wait_for_app
from tests.e2e.test_analysis_page import open_with_sample
from tests.e2e.test_history_page import open_history

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

HEADER = "X-Forwarded-Email"
ANN, BOB = "ann@example.com", "bob@example.com"
USERS_ENV = {"AGENT_DESK_TRUST_USER_HEADER": "1", "AGENT_DESK_USER_HEADER": HEADER,
             "AGENT_DESK_E2E_SERVER": "users"}


def _as(browser, user: str | None):
    headers = {HEADER: user} if user else {}
    context = browser.new_context(extra_http_headers=headers, viewport={"width": 1400, "height": 1000},
                                  locale="en-US", timezone_id="UTC")
    page = context.new_page()
    page.set_default_timeout(30_000)
    return context, page


def test_two_users_see_only_their_own_work(browser, streamlit_server_factory):
    from playwright.sync_api import expect

    server = streamlit_server_factory(USERS_ENV)
    ann_ctx, ann = _as(browser, ANN)
    bob_ctx, bob = _as(browser, BOB)
    nobody_ctx, nobody = _as(browser, None)
    try:
        # Ann: a real run on the local agent, recorded as hers
        open_with_sample(ann, server.url)
        expect(ann.get_by_text(f"Signed in as {ANN}")).to_be_visible()
        ann.get_by_role("button", name="Moving average").click()
        wait_for_app(ann, timeout=180_000)
        expect(ann.locator('[data-testid="stImage"] img').first).to_be_visible(timeout=60_000)
        ann_sid = re.search(r"[?&]session=([^&]+)", ann.url).group(1)
        db = sqlite3.connect(server.home / "runs.sqlite3")
        owners = db.execute("SELECT owner, session_id FROM runs").fetchall()
        assert owners == [(ANN, ann_sid)], owners
        assert db.execute("SELECT owner FROM sessions WHERE id = ?", (ann_sid,)).fetchone() == (ANN,)
        db.close()
        open_history(ann)
        expect(ann.get_by_role("combobox", name="Open a run")).to_have_value(
            re.compile(r"· local · completed · Given the attached price data"))

        # Bob: his History has none of Ann's runs
        bob.goto(server.url)
        wait_for_app(bob, expect_run=False)
        expect(bob.get_by_text(f"Signed in as {BOB}")).to_be_visible()
        open_history(bob)
        expect(bob.get_by_text("No runs yet")).to_be_visible()
        expect(bob.get_by_role("combobox", name="Open a run")).to_have_count(0)
        assert "Given the attached price data" not in bob.content()
        screenshot(bob, "users-bob-history-empty")

        # Bob opens Ann's session link: refused, nothing of it shown
        bob.goto(f"{server.url}/?session={ann_sid}")
        wait_for_app(bob, expect_run=False)
        expect(bob.get_by_role("heading", name="This session belongs to another user")).to_be_visible()
        content = bob.content()
        assert "Given the attached price data" not in content and "sample_prices.csv" not in content
        assert ANN not in content
        expect(bob.locator('[data-testid="stException"]')).to_have_count(0)
        screenshot(bob, "users-bob-not-yours")

        # Ann's own link still restores her chat
        ann.goto(f"{server.url}/?session={ann_sid}")
        wait_for_app(ann, expect_run=False)
        expect(ann.get_by_text("Given the attached price data").first).to_be_visible()

        # no header (the proxy bypassed): refused, nobody's runs shown
        nobody.goto(f"{server.url}/?session={ann_sid}")
        wait_for_app(nobody, expect_run=False)
        expect(nobody.get_by_text("expects its users' identity from the proxy")).to_be_visible()
        assert "Given the attached price data" not in nobody.content()
        screenshot(nobody, "users-no-header")
    finally:
        for ctx in (ann_ctx, bob_ctx, nobody_ctx):
            ctx.close()
