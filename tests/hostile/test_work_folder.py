"""Attack 5: the work folder bricked a session. After code made 1,200 nested folders every
later run (and the CLI) failed with RecursionError in the work-folder walk; a killed CLI or a
failed kernel start left its temporary folder behind."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent_core.interpreter import sandbox as sb
from agent_core.interpreter.pool import KernelPool
from tests.conftest import require_tool
from tests.unit.interpreter_helpers import kernel_processes, settings_for

ROOT = Path(__file__).resolve().parents[2]
NEST = "import os\np = 'd'\nfor _ in range(1200):\n    os.mkdir(p)\n    p += '/d'\nprint('made')"


@pytest.fixture
def pool(tmp_path):
    require_tool("bwrap", "the kernel sandbox")
    p = KernelPool(settings_for(tmp_path / "home", AGENT_DESK_SANDBOX="auto", AGENT_DESK_MAX_KERNELS="2"),
                   warm_spare=False)
    yield p
    p.shutdown()
    assert kernel_processes(p.marker) == []


@pytest.mark.timeout(180)
def test_1200_nested_folders_then_a_normal_run_works(pool):
    made = pool.execute("deep", NEST)
    assert made.error is None and "made" in made.stdout
    after = pool.execute("deep", "open('chart.csv', 'w').write('a,b\\n1,2\\n'); x = 41; print(x + 1)")
    assert after.error is None, after.error
    assert "42" in after.stdout
    assert [f.name for f in after.files] == ["chart.csv"]
    assert "deeper than" in (after.notice or "")  # the page is told what was not looked at
    # after a restart of the kernel the session still works, and the folder can be cleared
    pool.reset("deep")
    again = pool.execute("deep", "import subprocess; subprocess.run(['rm', '-rf', 'd']); print('ok')")
    assert again.error is None and "ok" in again.stdout
    assert not (pool.workdir("deep") / "d").exists()


def _scratch(tmp: Path) -> list[str]:
    return sorted(n for n in os.listdir(tmp) if n.startswith("adk-"))


@pytest.mark.timeout(240)
def test_killed_cli_and_failed_start_leave_no_temporary_folder(tmp_path):
    require_tool("bwrap", "the kernel sandbox")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp), "AGENT_DESK_HOME": str(tmp_path / "home"),
           "AGENT_BACKEND": "local"}

    def cli_until_kernel(sig: int) -> int:
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent_core", "ask", "run this code: ```import time; time.sleep(60)```"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 90
        while not _scratch(tmp) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _scratch(tmp), "the CLI never started a kernel"
        time.sleep(1.0)
        proc.send_signal(sig)
        return proc.wait(timeout=60)

    assert cli_until_kernel(signal.SIGTERM) != 0
    assert _scratch(tmp) == []  # SIGTERM: cleaned up on the way out
    cli_until_kernel(signal.SIGKILL)
    left = _scratch(tmp)
    assert left  # SIGKILL cannot be caught: the folder stays until the next process starts
    # the next process that starts a kernel removes what the killed one left
    nxt = subprocess.run([sys.executable, "-m", "agent_core", "ask", "run this code: ```print(1)```"],
                         cwd=ROOT, env=env, capture_output=True, timeout=120)
    assert nxt.returncode == 0, nxt.stderr[-500:]
    assert _scratch(tmp) == []
    # a kernel that cannot start (1 MB of memory) leaves no folder either
    import tempfile

    old = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(tmp)
    tempfile.tempdir = None
    bad = KernelPool(settings_for(tmp_path / "home3"), warm_spare=False, limits=sb.Limits(memory_mb=1))
    try:
        failed = bad.execute("s2", "print(1)")
        assert failed.error is not None and failed.error.name == "KernelStartError"
        assert _scratch(tmp) == []
    finally:
        bad.shutdown()
        if old is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = old
        tempfile.tempdir = None
