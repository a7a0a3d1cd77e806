"""The local code interpreter's pool, with real Jupyter kernels (plain, no sandbox).

The sandbox itself is tested in test_interpreter_sandbox.py; everything here holds in
both modes, so it runs with ``AGENT_DESK_SANDBOX=none`` (works on any machine).
"""
from __future__ import annotations

import os
import time

import pytest

from agent_core.files import AttachedFile
from agent_core.interpreter import sandbox as sb
from agent_core.interpreter.kernel import read_beneath
from agent_core.interpreter.pool import InvalidSessionId, KernelPool
from tests.unit.interpreter_helpers import kernel_processes, settings_for

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    os.environ["AWS_SECRET_ACCESS_KEY"] = "never-show-this"
    try:
        p = KernelPool(settings_for(tmp_path_factory.mktemp("pool-home"), AGENT_DESK_SANDBOX="none"))
    finally:
        os.environ.pop("AWS_SECRET_ACCESS_KEY", None)
    yield p
    p.shutdown()


@pytest.mark.timeout(120)
def test_state_persists_and_cwd_is_the_session_workdir(pool):
    first = pool.execute("persist", "x = 20\nprint('set')")
    assert first.ok and first.stdout == "set\n"
    second = pool.execute("persist", "import os\nprint(x * 2)\nprint(os.getcwd())")
    assert second.stdout.splitlines() == ["40", str(pool.workdir("persist").resolve())]
    assert pool.isolation.startswith("none")


@pytest.mark.timeout(120)
def test_first_session_gets_the_warm_spare_with_its_attached_files(pool):
    spare = pool._spare.result(timeout=60)  # the spare started in the background
    pid = spare.pid
    pool.put_files("spare-user", [AttachedFile(name="data/prices.csv", media_type="text/csv", data=b"date,close\n2024-01-02,10\n")])
    run = pool.execute("spare-user", "print(pd.read_csv('prices.csv').close.sum()); print(os.getcwd())")
    assert run.ok, run.error
    assert run.stdout.splitlines() == ["10", str(pool.workdir("spare-user").resolve())]
    assert pool.kernel_pid("spare-user") == pid  # the spare was handed over, not a new start
    assert not any((pool.home / "spare-kernels").glob(f"*/prices.csv"))


@pytest.mark.timeout(120)
def test_files_written_come_back_once_and_big_ones_are_truncated(pool):
    run = pool.execute("files", "open('out.csv','w').write('a,b\\n1,2\\n')\n"
                                "os.makedirs('sub', exist_ok=True); open('sub/n.txt','w').write('hi')\n"
                                "open('big.bin','wb').write(b'0' * (2 * 1024 * 1024))")
    by_name = {f.name: f for f in run.files}
    assert by_name["out.csv"].data == b"a,b\n1,2\n" and by_name["out.csv"].media_type == "text/csv"
    assert by_name["sub__n.txt"].data == b"hi"
    assert by_name["big.bin"].truncated and by_name["big.bin"].data == b""
    again = pool.execute("files", "print(open('out.csv').read().count(','))")
    assert again.stdout == "2\n" and again.files == ()  # unchanged files are not returned again


@pytest.mark.timeout(120)
def test_matplotlib_figure_comes_back_as_png_and_savefig_is_not_doubled(pool):
    inline = pool.execute("chart", "plt.plot([1, 3, 2]); plt.title('inline')")
    pngs = [f for f in inline.files if f.media_type == "image/png"]
    assert [f.name for f in pngs] == ["figure-1.png"] and pngs[0].data.startswith(PNG_MAGIC)
    saved = pool.execute("chart", "s = pd.Series(np.arange(2500.0)).rolling(20).mean()\n"
                                  "fig, ax = plt.subplots(); ax.plot(s); fig.savefig('ma.png')")
    assert [f.name for f in saved.files] == ["ma.png"]
    assert saved.files[0].data.startswith(PNG_MAGIC)


@pytest.mark.timeout(120)
def test_error_has_a_clean_traceback_and_the_kernel_goes_on(pool):
    run = pool.execute("errors", "def f():\n    return 1 / 0\nf()")
    assert not run.ok and run.error.name == "ZeroDivisionError"
    assert "division by zero" in run.error.value
    assert "\x1b[" not in run.error.traceback and "return 1 / 0" in run.error.traceback
    assert pool.execute("errors", "print('fine')").stdout == "fine\n"


@pytest.mark.timeout(120)
def test_infinite_loop_is_interrupted_and_state_is_kept(pool):
    pool.execute("loop", "keep = 7")
    t0 = time.monotonic()
    run = pool.execute("loop", "while True:\n    pass", timeout=1.0)
    assert time.monotonic() - t0 < 5
    assert run.timed_out and not run.kernel_restarted and "stopped" in run.notice
    after = pool.execute("loop", "print(keep)")
    assert after.ok and after.stdout == "7\n" and not after.kernel_restarted


@pytest.mark.timeout(120)
def test_code_that_ignores_the_interrupt_gets_a_fresh_kernel(pool):
    pool.execute("stubborn", "lost = 1")
    run = pool.execute("stubborn", "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                                   "while True:\n    time.sleep(0.01)", timeout=1.0)
    assert run.timed_out and run.kernel_restarted and "restarted" in run.notice
    after = pool.execute("stubborn", "print('lost' in globals())")
    assert after.stdout == "False\n" and after.kernel_restarted and after.notice


@pytest.mark.timeout(120)
def test_crash_is_detected_and_the_next_run_gets_a_fresh_kernel(pool):
    pool.execute("crash", "gone = 1")
    run = pool.execute("crash", "import os\nos._exit(3)")
    assert run.error is not None and run.error.name == "KernelDied" and run.kernel_restarted
    after = pool.execute("crash", "print('gone' in globals())")
    assert after.ok and after.stdout == "False\n"
    assert after.kernel_restarted and "fresh" in after.notice


@pytest.mark.timeout(120)
def test_memory_bomb_is_contained_by_the_address_space_limit(pool):
    limit = pool.execute("memory", "import resource; print(resource.getrlimit(resource.RLIMIT_AS)[0])")
    assert int(limit.stdout) == 1536 * 1024 * 1024
    run = pool.execute("memory", "hog = []\nwhile True:\n    hog.append(bytearray(64 * 1024 * 1024))")
    assert (run.error is not None and run.error.name == "MemoryError") or run.kernel_restarted
    after = pool.execute("memory", "hog = None; print('alive')")
    assert after.stdout.endswith("alive\n")


@pytest.mark.timeout(60)
def test_kernel_environment_is_minimal(pool):
    run = pool.execute("env", "import os; print(sorted(k for k in os.environ if k.startswith('AWS')))")
    assert run.stdout == "[]\n"


def test_bad_session_id_is_refused_with_a_message(pool):
    with pytest.raises(InvalidSessionId, match="not valid"):
        pool.workdir("../escape")
    with pytest.raises(InvalidSessionId):
        pool.execute("x", "print(1)")  # too short


def test_auto_falls_back_to_a_plain_kernel_and_bwrap_says_what_to_do(tmp_path, monkeypatch):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    sb.probe_bwrap.cache_clear()
    try:
        plan = sb.choose_plan("auto")
        assert plan.kind == "none" and "not installed" in plan.reason
        assert plan.describe(sb.Limits()).startswith("none (") and "no file-system" in plan.describe(sb.Limits())
        with pytest.raises(sb.SandboxError, match="Install bubblewrap"):
            sb.choose_plan("bwrap")
        assert sb.choose_plan("none").kind == "none"
    finally:
        sb.probe_bwrap.cache_clear()


@pytest.mark.timeout(180)
def test_pool_bound_evicts_the_least_recently_used_kernel(tmp_path):
    settings = settings_for(tmp_path, AGENT_DESK_SANDBOX="none", AGENT_DESK_MAX_KERNELS="2")
    p = KernelPool(settings, warm_spare=False)
    try:
        for sid in ("s-1", "s-2", "s-3"):
            assert p.execute(sid, f"v = '{sid}'").ok
            assert p.live_kernels() <= 2
        assert p.kernel_pid("s-1") is None and p.kernel_pid("s-3") is not None
        assert len(kernel_processes(p.marker)) == 2
        back = p.execute("s-1", "print('v' in globals())")
        assert back.stdout == "False\n" and back.kernel_restarted and "make room" in back.notice
        assert p.live_kernels() == 2 and p.kernel_pid("s-2") is None
    finally:
        p.shutdown()


@pytest.mark.timeout(120)
def test_idle_kernels_are_reaped_and_the_next_run_says_so(tmp_path):
    settings = settings_for(tmp_path, AGENT_DESK_SANDBOX="none", AGENT_DESK_KERNEL_IDLE_SECONDS="1")
    p = KernelPool(settings, warm_spare=False, reap_interval=0.2)
    try:
        assert p.execute("idle", "v = 1").ok
        deadline = time.monotonic() + 10
        while p.live_kernels() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert p.live_kernels() == 0 and not kernel_processes(p.marker)
        idle = p.execute("idle", "print('v' in globals())")
        assert idle.stdout == "False\n" and idle.kernel_restarted and "without use" in idle.notice
    finally:
        p.shutdown()


@pytest.mark.timeout(120)
def test_shutdown_leaves_no_kernel_processes(tmp_path):
    p = KernelPool(settings_for(tmp_path, AGENT_DESK_SANDBOX="none"))
    assert p.execute("one", "print(1)").ok
    p._spare.result(timeout=60)
    assert len(kernel_processes(p.marker)) >= 2
    p.shutdown()
    assert kernel_processes(p.marker) == []
    assert p.execute("one", "print(1)").error.name == "PoolClosed"


@pytest.mark.timeout(60)
def test_links_in_the_workdir_are_never_followed(pool, tmp_path):
    run = pool.execute("links", "import os\nos.symlink('/etc/hostname', 'link.txt')\n"
                                "os.makedirs('d'); open('d/f.txt', 'w').write('x')\nos.symlink('/etc', 'etc')")
    assert run.ok and [f.name for f in run.files] == ["d__f.txt"]
    # a folder swapped for a link between listing and reading is not followed either
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "f.txt").write_text("inside")
    (tmp_path / "swapped").symlink_to("/etc")
    assert read_beneath(tmp_path, "real/f.txt", 100) == (b"inside", 6)
    assert read_beneath(tmp_path, "swapped/hostname", 100) is None
    assert read_beneath(tmp_path, "real/missing", 100) is None


@pytest.mark.timeout(60)
def test_huge_output_is_capped(pool):
    run = pool.execute("noisy", "print('x' * 3_000_000)")
    assert len(run.stdout) < 1_100_000 and "output truncated" in run.stdout


@pytest.mark.timeout(120)
def test_threads_running_code_at_once_get_their_own_outputs(pool):
    import threading

    results: dict[str, list[str]] = {}
    errors: list[BaseException] = []

    def worker(sid: str, tag: str) -> None:
        try:
            out = [pool.execute(sid, f"import time; time.sleep(0.05); print({tag!r})").stdout for _ in range(3)]
            results[tag] = out
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(sid, f"{sid}-{n}"))
               for sid in ("th-a", "th-b") for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    assert not errors
    assert results == {tag: [f"{tag}\n"] * 3 for tag in results} and len(results) == 4


@pytest.mark.timeout(120)
def test_no_kernel_outlives_the_app_exiting_without_an_explicit_shutdown(tmp_path):
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(root)!r})
        from pathlib import Path
        from tests.unit.interpreter_helpers import settings_for
        from agent_core.interpreter.pool import KernelPool
        pool = KernelPool(settings_for(Path({str(tmp_path)!r}), AGENT_DESK_SANDBOX="none"), warm_spare=False)
        assert pool.execute("exit-test", "print(1)").ok
        print(pool.marker, flush=True)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=90)
    marker = done.stdout.strip()
    assert done.returncode == 0 and marker.startswith("adk-"), done.stderr
    assert kernel_processes(marker) == []


@pytest.mark.timeout(60)
def test_reset_stops_the_sessions_kernel_process(pool):
    assert pool.execute("resetme", "keep = 1").ok
    pid = pool.kernel_pid("resetme")
    assert pid is not None and pid in kernel_processes(pool.marker)
    pool.reset("resetme")
    assert pool.kernel_pid("resetme") is None and pid not in kernel_processes(pool.marker)
    after = pool.execute("resetme", "print('keep' in globals())")
    assert after.stdout == "False\n" and not after.kernel_restarted  # a reset asked for is no surprise
