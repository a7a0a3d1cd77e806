"""Issue 16, several replicas: a real nginx (deploy/nginx.conf, unprivileged, on 127.0.0.1) in
front of two ``app_server.py`` replicas on one store, driven by headless Chromium.

A seed chart on replica A; a long run starts on A and is followed read-only on B; A is
SIGKILLed (the run becomes interrupted on B's page); a reload through nginx lands on B with the
chat, the chart and the session id back, and a follow-up request works there."""
from __future__ import annotations

import importlib.util
import os
import re
import secrets
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.nginx import require_tool_path, start_nginx
from tests.e2e.conftest import screenshot, start_streamlit, wait_for_app
from tests.e2e.test_session_and_stream import ask, code_request, expect_session_back, seed_chart_run

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]  # ~90 s idle; 3 min seen on a loaded machine

HAVE_PG = importlib.util.find_spec("tests.pg") is not None  # the PostgreSQL store's test server
if HAVE_PG:
    from tests.pg import pg_url  # noqa: F401  (fixture)

def upload_status(url: str, size: int) -> int:
    """The status a ``size``-byte upload POST gets through the proxy (Streamlit refuses this
    one itself, for its unknown session: what matters is that nginx let the body through)."""
    import urllib.error
    import urllib.request

    body = b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.csv\"\r\n\r\n"
    body += b"0" * size + b"\r\n--b--\r\n"
    req = urllib.request.Request(f"{url}/_stcore/upload_file/no-session/no-file", data=body,
                                 method="PUT",
                                 headers={"Content-Type": "multipart/form-data; boundary=b"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def kill_hard(server) -> None:
    """SIGKILL the replica and everything it started: a crash, not a shutdown."""
    os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=10)


def shared_store_url(request) -> str | None:
    """A fresh PostgreSQL database for the replicas (tests/pg.py's ``pg_url``), or None
    while the store has no PostgreSQL support."""
    if not HAVE_PG:
        return None
    return request.getfixturevalue("pg_url")


def test_killed_replica_session_comes_back_on_the_other(page, browser, tmp_path, request):
    from playwright.sync_api import expect

    require_tool_path("nginx")
    t_start = time.monotonic()
    took: dict[str, float] = {}

    def mark(what: str) -> None:
        took[what] = round(time.monotonic() - t_start, 1)

    store_home = tmp_path / "store"
    # one store for both replicas: PostgreSQL (a database of the test's own) where the store
    # supports it, else one SQLite file in WAL mode (replicas on one host only)
    store_url = shared_store_url(request)
    env = {"AGENT_DESK_HOME": str(store_home), **({"AGENT_DESK_STORE_URL": store_url} if store_url else {}),
           "AGENT_DESK_LEASE_SECONDS": "6",  # a killed replica's run is interrupted within 6 s
           "AGENT_DESK_EXEC_TIMEOUT": "600",  # the long run must still be going when A is killed
           # the same cookie secret on every replica: Streamlit's XSRF cookie (uploads) and
           # st.login's cookie must be valid on whichever replica a request lands
           "STREAMLIT_SERVER_COOKIE_SECRET": secrets.token_hex(16)}
    with ThreadPoolExecutor(2) as pool:
        started = [pool.submit(start_streamlit, env, tmp_path / f"replica{i}") for i in (1, 2)]
        replicas = [f.result() for f in started]
    proxy = None
    try:
        by_addr = {f"127.0.0.1:{r.port}": r for r in replicas}
        proxy = start_nginx(tmp_path / "nginx", list(by_addr))
        mark("replicas and nginx up")
        assert upload_status(proxy.url, 5 * 1024 * 1024) != 413  # nginx's default limit is 1 MB
        served = set(proxy.upstreams())  # this client's replica: call it A
        assert len(served) == 1, served
        a = by_addr[served.pop()]
        b = next(r for r in replicas if r is not a)
        other = browser.new_context(viewport={"width": 1400, "height": 1000})
        watcher = other.new_page()
        watcher.goto(b.url)  # B's first page (imports, caches) loads while A draws the chart

        sid = seed_chart_run(page, proxy.url)
        mark("seed chart on A")
        assert set(proxy.upstreams()) == {f"127.0.0.1:{a.port}"}, "one client address, one replica"

        # a long run on A, followed read-only from B (its URL opened directly)
        ask(page, code_request("import time\nfor i in range(900):\n    print(f'beat {i}', flush=True)\n"
                               "    time.sleep(1)"))
        page.get_by_text("beat 1").first.wait_for(state="visible", timeout=60_000)
        try:
            mark("long run going on A")
            watcher.goto(f"{b.url}/?session={sid}")  # not waiting for an idle page: it refreshes
            elsewhere = watcher.get_by_text("Running on another replica").first
            expect(elsewhere).to_be_visible(timeout=120_000)
            mark("B: the run is there")
            expect(watcher.get_by_text(re.compile(r"beat [3-9]")).first).to_be_visible(timeout=20_000)
            mark("B shows it read-only")
            screenshot(watcher, "issue16-run-on-another-replica", full_page=False, scroll_to=elsewhere)

            kill_hard(a)  # the replica dies mid-run
            # B's page sees the run end (its writer is gone): it joins the chat as interrupted
            expect(watcher.get_by_text("Running on another replica")).to_have_count(0, timeout=60_000)
            mark("A killed, B shows the run ended")
        finally:
            other.close()

        page.reload()
        wait_for_app(page, expect_run=False)
        expect_session_back(page, sid)
        assert proxy.upstreams()[-1] == f"127.0.0.1:{b.port}", proxy.access_log()[-3:]
        mark("reload through nginx: session back on B")
        screenshot(page, "issue16-after-failover", full_page=False,
                   scroll_to=page.locator('[data-testid="stImage"] img').first)

        ask(page, code_request("print('on replica B', 6 * 7)"))
        wait_for_app(page, timeout=90_000)
        expect(page.get_by_text("on replica B 42").first).to_be_visible()
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
        mark("follow-up on B")
        print(f"replica test, seconds since start: {took}")

        from agent_core.store import RunStore

        with RunStore(store_home, recover=False, **({"url": store_url} if store_url else {})) as store:
            runs = store.list_runs(session=sid)
        assert [r.outcome for r in runs[:3]] == ["completed", "interrupted", "completed"], runs[:3]
    finally:
        if proxy is not None:
            proxy.stop()
        for r in replicas:
            r.stop()
