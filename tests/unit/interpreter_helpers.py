"""Shared helpers for the interpreter tests (real kernels, real processes)."""
from __future__ import annotations

import os
import threading
from pathlib import Path

from agent_core.backends.executors import LocalKernelExecutor
from agent_core.config import load_settings


def settings_for(home: Path, **env: str):
    base = {"AGENT_DESK_HOME": str(home), "AGENT_DESK_KERNEL_MEMORY_MB": "1536"}
    base.update(env)
    return load_settings(env=base, secrets={})


def kernel_processes(marker: str) -> list[int]:
    """PIDs whose command line mentions ``marker`` and ``ipykernel`` or ``bwrap``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ")
        except OSError:
            continue
        if marker.encode() in cmd and (b"ipykernel" in cmd or b"bwrap" in cmd):
            found.append(int(entry))
    return found


class StopDuringRun(LocalKernelExecutor):
    """The real kernel executor of the chat-model loop; a Stop (``token``) arrives ``after``
    seconds into the code of a call, while the kernel runs it."""

    def __init__(self, pool, token, after: float = 1.0) -> None:
        super().__init__(pool)
        self.token = token
        self.after = after

    def run(self, session_id, code, timeout=None):
        timer = threading.Timer(self.after, self.token.cancel)
        timer.start()
        try:
            return super().run(session_id, code, timeout)
        finally:
            timer.cancel()


#: A call that sets a variable, then would run for 30 s: a Stop must interrupt it.
SLOW_CALL = "x = 41\nimport time\nfor _ in range(300):\n    time.sleep(0.1)\nprint('slept')"
