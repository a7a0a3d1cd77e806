"""The local kernel in the real app (app_server.py + Chromium): a warm kernel is ready
before the first request and the first request gets it; a session keeps its kernel, and
its variables, from one request to the next (each request is a new script-run thread)."""
from __future__ import annotations

import time

import psutil
import pytest

from app_server import READY_LINE
from tests.e2e.conftest import screenshot, wait_for_app

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def kernels_of(server) -> set[int]:
    """PIDs of the Jupyter kernels the server process started (inside their sandboxes)."""
    found = set()
    for p in psutil.Process(server.process.pid).children(recursive=True):
        try:
            if p.name().startswith("python") and "ipykernel_launcher" in p.cmdline():
                found.add(p.pid)
        except psutil.Error:
            pass
    return found


def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout:.0f} s: {what}")


def shown(page, text: str):
    """The visible occurrence of ``text`` (the answer; the step expanders are collapsed)."""
    return page.get_by_text(text).filter(visible=True).first


def ask(page, text: str) -> None:
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(text)
    box.press("Enter")
    wait_for_app(page, timeout=120_000)


def test_a_warm_kernel_is_ready_before_the_first_request_and_the_first_request_gets_it(
        page, streamlit_server_factory):
    from playwright.sync_api import expect

    server = streamlit_server_factory({"AGENT_DESK_E2E_SERVER": "spare-at-start"})
    # no page has been opened on this server yet: only /_stcore/health was asked
    wait_until(lambda: READY_LINE in server.log_path.read_text(errors="replace"), 90,
               f"{READY_LINE!r} in the server log:\n{server.log_tail()}")
    spare = kernels_of(server)
    assert len(spare) == 1, spare
    page.goto(server.url)
    wait_for_app(page, expect_run=False)
    ask(page, "run this code: ```print('first answer', 6 * 7)```")
    expect(shown(page, "first answer 42")).to_be_visible()
    # the session got the warm kernel (still alive, now the session's), and a new spare is
    # being prepared for the next session
    assert spare <= kernels_of(server)
    wait_until(lambda: len(kernels_of(server)) == 2, 90, "a new warm kernel after the first was taken")
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def test_two_requests_in_one_session_share_the_kernels_variables(page, streamlit_server_factory):
    """One kernel at most: no warm spare, so the session's kernel is started while its first
    request runs, i.e. from that request's script-run thread, which then ends."""
    from playwright.sync_api import expect

    server = streamlit_server_factory({"AGENT_DESK_MAX_KERNELS": "1"})
    page.goto(server.url)
    wait_for_app(page, expect_run=False)
    ask(page, "run this code: ```x = 41\nprint('x is set')```")
    expect(shown(page, "x is set")).to_be_visible()
    time.sleep(2.0)  # the run's thread has ended; a kernel tied to it would be gone by now
    ask(page, "run this code: ```print('x + 1 =', x + 1)```")
    expect(shown(page, "x + 1 = 42")).to_be_visible()
    expect(page.get_by_text("NameError")).to_have_count(0)
    expect(page.get_by_text("variables in memory were lost")).to_have_count(0)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    screenshot(page, "kernel-two-requests-one-session")
