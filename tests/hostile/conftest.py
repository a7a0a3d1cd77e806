"""The hostile suite: each test replays one attack from the security review (issue 14).

Every test here is bounded in time (``pytest-timeout``, per test) and in memory: the
``memory_bound`` fixture samples this test process's RSS several times a second and fails
the test when it grows past its bound (the attacks target the app's memory, so the test
process, which plays the app, is what must stay small)."""
from __future__ import annotations

import os
import threading

import pytest

psutil = pytest.importorskip("psutil", reason="psutil measures the app's memory (requirements.txt)")

DEFAULT_GROWTH_MB = 400


class MemoryBound:
    def __init__(self, growth_mb: int) -> None:
        self.proc = psutil.Process(os.getpid())
        self.baseline = self.proc.memory_info().rss
        self.peak = self.baseline
        self.growth_mb = growth_mb
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True, name="rss-sampler")
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    @property
    def peak_growth_mb(self) -> float:
        return (self.peak - self.baseline) / 2**20

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


@pytest.fixture(autouse=True)
def memory_bound(request):
    marker = request.node.get_closest_marker("memory_mb")
    bound = MemoryBound(marker.args[0] if marker else DEFAULT_GROWTH_MB)
    yield bound
    bound.stop()
    assert bound.peak_growth_mb <= bound.growth_mb, (
        f"the test process grew by {bound.peak_growth_mb:.0f} MB (bound {bound.growth_mb} MB)")


# the browser harness (real streamlit server + headless Chromium) of tests/e2e
from tests.e2e.conftest import (  # noqa: E402,F401
    app_url,
    browser_context_args,
    browser_type_launch_args,
    page,
    streamlit_server,
    streamlit_server_factory,
)
