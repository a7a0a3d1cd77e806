"""The app's first page in a browser against a hello-world Streamlit page, same run.

TARGET: the app's first page rendered (a new browser session opens the app and waits until
        the script has run and the welcome is on screen) <= 1.3x a hello-world Streamlit page
        rendered the same way by a server started the same way, in the same run.

Both servers run on 127.0.0.1 (the app through app_server.py, as `make run` does, local
backend, once its warm kernel is ready); headless Chromium; a fresh browser context per
visit; the two pages take turns; medians.

    .venv/bin/python bench/app_page.py        (BENCH_REPEAT=N to change the repeats)
"""
from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from _harness import Result, interleaved_medians, repeats, report

from app_server import READY_LINE
from tests.e2e.conftest import CHROMIUM_ARGS, start_streamlit

TARGET = 1.3
HELLO = 'import streamlit as st\n\nst.title("Hello")\nst.write("Hello, world.")\n'
RENDERED = ("() => { const a = document.querySelector('[data-testid=\"stApp\"]');"
            " return a && a.getAttribute('data-test-script-state') === 'notRunning'"
            " && document.body.innerText.includes(%r); }")


def main() -> int:
    from playwright.sync_api import sync_playwright

    n = repeats(7)
    tmp = Path(tempfile.mkdtemp(prefix="adk-bench-page-"))
    (tmp / "hello.py").write_text(HELLO)
    app = start_streamlit({}, tmp / "app-home")
    hello = start_streamlit({}, tmp / "hello-home", script=str(tmp / "hello.py"))
    try:
        deadline = time.monotonic() + 120
        while READY_LINE not in app.log_path.read_text(errors="replace"):
            assert time.monotonic() < deadline, app.log_tail()
            time.sleep(0.2)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                         headless=True, args=CHROMIUM_ARGS)

            def visit(url: str, text: str) -> None:
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = context.new_page()
                page.goto(url)
                page.wait_for_function(RENDERED % text, timeout=60_000)
                context.close()

            visit(app.url, "Welcome to Agent Desk")  # each server's first page ever: not timed
            visit(hello.url, "Hello, world.")
            app_s, hello_s = interleaved_medians(n, lambda: visit(app.url, "Welcome to Agent Desk"),
                                                 lambda: visit(hello.url, "Hello, world."))
            browser.close()
    finally:
        app.stop()
        hello.stop()
    return report("app first page vs a hello-world Streamlit page (headless Chromium)", [
        Result("app first page / hello-world page", app_s / hello_s, TARGET),
    ], notes=[f"app first page: {app_s * 1000:.0f} ms; hello world: {hello_s * 1000:.0f} ms "
              f"(medians of {n})"])


if __name__ == "__main__":
    sys.exit(main())
