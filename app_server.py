"""Start Agent Desk: ``python app_server.py [streamlit run options]`` (what ``make run`` does).

Streamlit has no server-start hook: a page builds what it needs on its first run, so the
local code interpreter's pool, and the warm kernel it keeps ready, used to be built by the
first request, which then waited a full kernel start. This launcher builds the
process-wide pool first (its warm spare starts at once, on the pool's own thread), then
runs ``streamlit run streamlit_app.py`` in this same process; the pages' ``shared_pool``
returns that pool. It prints one line when the warm kernel is ready.

Options are those of ``streamlit run`` (``--server.port 8501`` ...).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

APP = Path(__file__).resolve().parent / "streamlit_app.py"
READY_LINE = "Agent Desk: warm kernel ready"


def prepare_kernels() -> None:
    """Build the shared kernel pool for the settings the pages will load (when the backend
    runs code here) and report on stderr when its warm kernel is ready."""
    from agent_core.config import SettingsError, load_settings, runs_code_here
    from agent_core.interpreter.shared import shared_pool

    try:
        settings = load_settings()
    except SettingsError as exc:  # the pages say what to fix; nothing to prepare
        print(f"Agent Desk: no warm kernel prepared ({exc})", file=sys.stderr, flush=True)
        return
    if not runs_code_here(settings):
        return
    t0 = time.perf_counter()
    pool = shared_pool(settings)

    def report(kernel: object) -> None:
        if kernel is None:
            print("Agent Desk: the warm kernel did not start; the first request will start one.",
                  file=sys.stderr, flush=True)
        else:
            print(f"{READY_LINE} in {time.perf_counter() - t0:.1f} s ({pool.isolation.split(':')[0]}).",
                  file=sys.stderr, flush=True)

    pool.on_spare_ready(report)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    prepare_kernels()
    from streamlit.web import cli as streamlit_cli

    streamlit_cli.main(args=["run", str(APP), *args], prog_name="streamlit")


if __name__ == "__main__":
    main()
