"""Browser-test harness: a real ``streamlit run`` on 127.0.0.1 and Debian's Chromium.

Fixtures
- ``streamlit_server_factory(env=None)`` -> :class:`StreamlitServer`: starts the app as
  ``make run`` does (``python app_server.py``, i.e. ``streamlit run streamlit_app.py``) with its own temporary ``AGENT_DESK_HOME`` and the
  extra environment you pass (e.g. ``{"AGENT_BACKEND": "bedrock", "BEDROCK_ENDPOINT_URL":
  fake.url, ...}``), waits for ``/_stcore/health``, and stops it at the end of the test
  session. Servers are shared: the same env gives the same running server.
- ``streamlit_server``: the default one (local backend). ``app_url``: its URL.
- ``browser_type_launch_args`` is overridden to use ``/usr/bin/chromium`` headless.

Helpers (import them: ``from tests.e2e.conftest import wait_for_app, screenshot``)
- ``wait_for_app(page)``: wait until Streamlit has finished running the script.
- ``screenshot(page, name)``: saves ``test-artifacts/screenshots/<name>.png``.

Mark browser tests with ``@pytest.mark.e2e``.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import pytest

from tests.conftest import require_tool

try:  # what the user sees may take a while on a loaded 2-core CI machine: kernels, reruns
    from playwright.sync_api import expect as _expect

    _expect.set_options(timeout=20_000)
except ImportError:  # the browser tests then fail through require_module, with the reason
    pass

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
# settings the developer's shell may hold; the server gets only what the test asks for
_SCRUB = ("AGENT_BACKEND", "BEDROCK_AGENT_ID", "BEDROCK_AGENT_ALIAS_ID", "BEDROCK_MODEL_ID",
          "BEDROCK_ENDPOINT_URL", "CODE_EXECUTOR", "AGENT_DESK_HOME", "AWS_PROFILE",
          "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
          "OPENAI_BASE_URL", "OPENAI_MODEL", "OPENAI_API_KEY", "OPENAI_API_VERSION",
          "OPENAI_TOOLS", "OPENAI_VISION")
STARTUP_SECONDS = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class StreamlitServer:
    """One running ``streamlit run`` subprocess."""

    port: int
    home: Path
    log_path: Path
    env: dict[str, str]
    process: subprocess.Popen = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def wait_healthy(self, timeout: float = STARTUP_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.process.returncode}:\n"
                                   f"{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"streamlit not healthy after {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        try:  # the server was started in its own process group: stop it and its children
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def start_streamlit(env: Mapping[str, str] | None, home: Path, *, script: str = "streamlit_app.py",
                    ) -> StreamlitServer:
    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    full_env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    full_env.update({"AGENT_DESK_HOME": str(home), "PYTHONUNBUFFERED": "1",
                     "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"})
    full_env.update(dict(env or {}))
    log_path = home / "streamlit.log"
    # the app starts through its launcher (as `make run` does): kernel pool first, then streamlit
    launcher = ["app_server.py"] if script == "streamlit_app.py" else ["-m", "streamlit", "run", script]
    cmd = [sys.executable, *launcher, "--server.headless", "true",
           "--server.address", "127.0.0.1", "--server.port", str(port),
           "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    server = StreamlitServer(port=port, home=home, log_path=log_path, env=dict(env or {}),
                             process=proc)
    try:
        server.wait_healthy()
    except Exception:
        server.stop()
        raise
    return server


@pytest.fixture(scope="session")
def streamlit_server_factory(tmp_path_factory) -> Callable[..., StreamlitServer]:
    """``factory(env=None)`` -> a running server for that env (shared per env)."""
    servers: dict[tuple, StreamlitServer] = {}

    def factory(env: Mapping[str, str] | None = None) -> StreamlitServer:
        key = tuple(sorted((env or {}).items()))
        server = servers.get(key)
        if server is None or server.process.poll() is not None:
            home = tmp_path_factory.mktemp("agent-desk-home")
            server = servers[key] = start_streamlit(env, home)
        return server

    yield factory
    for server in servers.values():
        server.stop()


@pytest.fixture(scope="session")
def streamlit_server(streamlit_server_factory) -> StreamlitServer:
    return streamlit_server_factory()


@pytest.fixture(scope="session")
def app_url(streamlit_server) -> str:
    return streamlit_server.url


# --- pytest-playwright configuration -----------------------------------------------------------------
def _chromium() -> str:
    return shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    require_tool("chromium", "browser tests drive Debian's Chromium through Playwright")
    return {**browser_type_launch_args, "executable_path": _chromium(), "headless": True,
            "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1400, "height": 1000},
            "locale": "en-US", "timezone_id": "UTC"}


@pytest.fixture
def page(page):
    page.set_default_timeout(30_000)
    return page


# --- helpers -----------------------------------------------------------------------------------------------
def wait_for_app(page, *, timeout: float = 60_000, expect_run: bool = True) -> None:
    """Wait until Streamlit is connected and not running the script.

    After an action that triggers a rerun, the run may not have started yet: with
    ``expect_run`` we first give it up to a second to start, then wait for it to end."""
    app = page.locator('[data-testid="stApp"]')
    app.wait_for(state="attached", timeout=timeout)
    if expect_run:
        try:
            page.wait_for_function(
                "() => { const a = document.querySelector('[data-testid=\"stApp\"]');"
                " return a && a.getAttribute('data-test-script-state') === 'running'; }",
                timeout=1_000)
        except Exception:  # noqa: BLE001 - the run may have been too quick to see
            pass
    idle = (
        "() => { const a = document.querySelector('[data-testid=\"stApp\"]');"
        " if (!a) return false;"
        " const s = a.getAttribute('data-test-script-state');"
        " const c = a.getAttribute('data-test-connection-state');"
        " return s === 'notRunning' && (c === null || c === 'CONNECTED')"
        "   && !document.querySelector('[data-stale=\"true\"]')"
        "   && !document.querySelector('[data-testid=\"stStatusWidget\"] [data-testid=\"stStatusWidgetRunningIcon\"]'); }")
    # A page switch (st.switch_page) ends one run and starts another: idle must hold twice,
    # 250 ms apart, or a stale copy of the old page can still be on screen.
    for _ in range(20):
        page.wait_for_function(idle, timeout=timeout)
        page.wait_for_timeout(250)
        if page.evaluate(idle):
            break
    page.wait_for_timeout(150)  # let the last deltas paint


def screenshot(page, name: str, *, full_page: bool = True, scroll_to=None) -> Path:
    """Save ``test-artifacts/screenshots/<name>.png`` and return its path.

    Streamlit scrolls inside its own container, so ``full_page`` shows the viewport; pass a
    locator as ``scroll_to`` to bring that element into the picture first."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if scroll_to is not None:
        scroll_to.scroll_into_view_if_needed()
        page.wait_for_timeout(300)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "screenshot"
    path = SCREENSHOTS / f"{safe}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
