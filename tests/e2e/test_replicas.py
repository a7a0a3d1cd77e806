"""Issue 16, several replicas: a real nginx (deploy/nginx.conf, unprivileged, on 127.0.0.1) in
front of two ``app_server.py`` replicas on one store, driven by headless Chromium.

A seed chart on replica A; a long run starts on A and is followed read-only on B; A is
SIGKILLed (the run becomes interrupted on B's page); a reload through nginx lands on B with the
chat, the chart and the session id back, and a follow-up request works there."""
from __future__ import annotations

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

from tests.conftest import require_tool
from tests.e2e.conftest import ROOT, free_port, screenshot, start_streamlit, wait_for_app
from tests.e2e.test_session_and_stream import ask, code_request, expect_session_back, seed_chart_run

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

NGINX_TEMPLATE = ROOT / "deploy" / "nginx.conf"
TEMPLATE_VARS = ("AGENT_DESK_LISTEN", "AGENT_DESK_REPLICA_1", "AGENT_DESK_REPLICA_2",
                 "AGENT_DESK_LOG_DIR")


def render_nginx_conf(values: dict[str, str]) -> str:
    """What ``envsubst '$AGENT_DESK_LISTEN ...' < deploy/nginx.conf`` gives: the template's own
    variables filled, nginx's ``$...`` variables untouched."""
    text = NGINX_TEMPLATE.read_text()
    for name in TEMPLATE_VARS:
        text = text.replace("${" + name + "}", values[name])
    left = re.findall(r"\$\{\w+\}", text)
    assert not left, f"unfilled template variables in deploy/nginx.conf: {left}"
    return text


@dataclass
class Nginx:
    port: int
    prefix: Path
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def access_log(self) -> list[str]:
        path = self.prefix / "agent-desk.access.log"
        return path.read_text().splitlines() if path.exists() else []

    def upstreams(self) -> list[str]:
        """The replica address(es) that answered each logged request (the last one tried)."""
        found = [re.search(r"upstream=(\S+)", line) for line in self.access_log()]
        return [m.group(1).split(",")[-1].strip() for m in found if m and m.group(1) != "-"]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_nginx(prefix: Path, replicas: list[str]) -> Nginx:
    """deploy/nginx.conf inside a minimal main configuration of our own (temporary folders under
    ``prefix``), nginx in the foreground as this user, listening on a free 127.0.0.1 port."""
    nginx = require_tool_path("nginx")
    prefix.mkdir(parents=True, exist_ok=True)
    port = free_port()
    site = prefix / "agent-desk.conf"
    site.write_text(render_nginx_conf({
        "AGENT_DESK_LISTEN": f"127.0.0.1:{port}", "AGENT_DESK_REPLICA_1": replicas[0],
        "AGENT_DESK_REPLICA_2": replicas[1], "AGENT_DESK_LOG_DIR": str(prefix)}))
    temp = "\n".join(f"  {kind}_temp_path {prefix / kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    main = prefix / "nginx.conf"
    main.write_text(("user root;\n" if os.geteuid() == 0 else "")
                    + "worker_processes 1;\nevents { worker_connections 512; }\n"
                    + f"http {{\n{temp}\n  include {site};\n}}\n")
    error_log = prefix / "error.log"
    cmd = [nginx, "-p", str(prefix), "-e", str(error_log), "-c", str(main),
           "-g", f"daemon off; pid {prefix / 'nginx.pid'}; error_log {error_log} info;"]
    check = subprocess.run([*cmd, "-t"], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, f"nginx -t refused deploy/nginx.conf:\n{check.stderr}"
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    server = Nginx(port=port, prefix=prefix, process=proc)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited with {proc.returncode}:\n{error_log.read_text()}")
        try:
            import urllib.request

            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return server
        except OSError:
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"nginx did not answer:\n{error_log.read_text()}")


def require_tool_path(name: str) -> str:
    """nginx lives in /usr/sbin, which a plain user's PATH may lack."""
    for folder in ("/usr/sbin", "/usr/local/sbin"):
        if os.access(f"{folder}/{name}", os.X_OK) and name not in os.environ.get("PATH", ""):
            os.environ["PATH"] = os.environ.get("PATH", "") + os.pathsep + folder
    require_tool(name, "the replica test puts a real nginx in front of two app replicas")
    import shutil

    return shutil.which(name) or name


def kill_hard(server) -> None:
    """SIGKILL the replica and everything it started: a crash, not a shutdown."""
    os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=10)


def test_killed_replica_session_comes_back_on_the_other(page, browser, tmp_path):
    from playwright.sync_api import expect

    require_tool_path("nginx")
    t_start = time.monotonic()
    took: dict[str, float] = {}

    def mark(what: str) -> None:
        took[what] = round(time.monotonic() - t_start, 1)

    store_home = tmp_path / "store"  # one store for both replicas (SQLite in WAL mode)
    env = {"AGENT_DESK_HOME": str(store_home),
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

        sid = seed_chart_run(page, proxy.url)  # on whichever replica nginx picks: call it A
        mark("seed chart on A")
        served = set(proxy.upstreams())
        assert len(served) == 1, f"one client address, one replica (sticky): {served}"
        a = by_addr[served.pop()]
        b = next(r for r in replicas if r is not a)

        # a long run on A, followed read-only from B (its URL opened directly)
        ask(page, code_request("import time\nfor i in range(90):\n    print(f'beat {i}', flush=True)\n"
                               "    time.sleep(1)"))
        page.get_by_text("beat 1").first.wait_for(state="visible", timeout=60_000)
        other = browser.new_context(viewport={"width": 1400, "height": 1000})
        try:
            mark("long run going on A")
            watcher = other.new_page()
            watcher.goto(f"{b.url}/?session={sid}")
            wait_for_app(watcher, expect_run=False)
            elsewhere = watcher.get_by_text("Running on another replica").first
            expect(elsewhere).to_be_visible(timeout=30_000)
            expect(watcher.get_by_text(re.compile(r"beat [3-9]")).first).to_be_visible(timeout=20_000)
            mark("B shows it read-only")
            screenshot(watcher, "issue16-run-on-another-replica", full_page=False)

            kill_hard(a)  # the replica dies mid-run
            # B's page sees the run end (its writer is gone): it joins the chat as interrupted
            expect(watcher.get_by_text("Running on another replica")).to_have_count(0, timeout=30_000)
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

        with RunStore(store_home, recover=False) as store:
            runs = store.list_runs(session=sid)
        assert [r.outcome for r in runs[:3]] == ["completed", "interrupted", "completed"], runs[:3]
    finally:
        if proxy is not None:
            proxy.stop()
        for r in replicas:
            r.stop()
