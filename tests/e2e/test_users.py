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


def test_a_users_run_over_the_limit_waits_visibly_then_runs(browser, streamlit_server_factory):
    """AGENT_DESK_MAX_RUNS_PER_USER=1: Ann's second tab asks while her first tab's run is
    going; its status line says it waits (not an error) and it runs once the first ends."""
    from playwright.sync_api import expect

    server = streamlit_server_factory({**USERS_ENV, "AGENT_DESK_MAX_RUNS_PER_USER": "1"})
    ctx, first = _as(browser, ANN)
    try:
        second = ctx.new_page()
        second.set_default_timeout(30_000)
        for tab in (first, second):
            tab.goto(server.url)
            wait_for_app(tab, expect_run=False)
        box = first.get_by_test_id("stChatInputTextArea")
        box.fill("run this code: ```import time\ntime.sleep(12)\nprint('slow one done')```")
        box.press("Enter")
        expect(first.get_by_text("Running code").first).to_be_visible(timeout=60_000)
        box = second.get_by_test_id("stChatInputTextArea")
        box.fill("run this code: ```print('quick one ' + str(6 * 7))```")
        box.press("Enter")
        waiting = second.get_by_text(re.compile(r"Waiting: you have 1 run going \(at most 1 at once"))
        expect(waiting.first).to_be_visible(timeout=30_000)
        expect(second.locator('[data-testid="stException"]')).to_have_count(0)
        expect(second.locator('[data-testid="stAlert"]').filter(has_text="fail")).to_have_count(0)
        screenshot(second, "users-run-waiting")
        wait_for_app(first, timeout=120_000)
        wait_for_app(second, timeout=120_000)
        expect(second.get_by_text("quick one 42").first).to_be_attached(timeout=60_000)
        db = sqlite3.connect(server.home / "runs.sqlite3")
        rows = db.execute("SELECT prompt, started, ended, outcome, (SELECT MIN(at) FROM events e "
                          "WHERE e.run_id = r.id) FROM runs r WHERE owner = ? ORDER BY started",
                          (ANN,)).fetchall()
        db.close()
        [slow] = [r for r in rows if "slow one" in r[0]]
        [quick] = [r for r in rows if "quick one" in r[0]]
        assert slow[3] == quick[3] == "completed", rows
        assert quick[1] < slow[2], "the waiting run is recorded (as running) while it waits"
        assert quick[4] >= slow[2] - 0.5, "the waiting run reached the agent only after the first ended"
    finally:
        ctx.close()
