"""Attack 8: nested user namespaces were allowed inside the sandbox (``unshare -Urm`` then
``mount -t tmpfs`` worked), and Unix sockets outside the hidden folders were reachable (a
socket under /var/lib answered). These start real bubblewrap kernels."""
from __future__ import annotations

import os
import secrets
import shutil
import socket
import threading

import pytest

from agent_core.interpreter import sandbox as sb
from agent_core.interpreter.pool import KernelPool
from tests.conftest import require_tool
from tests.unit.interpreter_helpers import kernel_processes, settings_for

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    require_tool("bwrap", "the kernel sandbox")
    ok, why = sb.probe_bwrap()
    assert ok, why
    p = KernelPool(settings_for(tmp_path_factory.mktemp("tight-home"), AGENT_DESK_SANDBOX="bwrap",
                                AGENT_DESK_MAX_KERNELS="2"), warm_spare=False)
    yield p
    p.shutdown()
    assert kernel_processes(p.marker) == []


@pytest.mark.timeout(120)
def test_unshare_user_namespace_is_refused_inside(pool):
    require_tool("unshare", "util-linux unshare")
    code = ("import subprocess\n"
            "r = subprocess.run(['unshare', '-Urm', 'sh', '-c', 'mount -t tmpfs none /mnt && echo MOUNTED'],"
            " capture_output=True, text=True)\n"
            "print('rc', r.returncode, r.stdout.strip(), r.stderr.strip())\n"
            "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "if libc.unshare(0x10000000) == 0:\n    print('PY-UNSHARED')\n"
            "else:\n    print('py refused', ctypes.get_errno())")
    r = pool.execute("userns", code)
    assert r.error is None, r.error
    assert "MOUNTED" not in r.stdout and "PY-UNSHARED" not in r.stdout, r.stdout
    assert "rc 0" not in r.stdout and "py refused 1" in r.stdout  # EPERM
    # threads and subprocesses still work under the filter
    r = pool.execute("userns", "import subprocess, threading\n"
                               "t = threading.Thread(target=print, args=('t-ok',))\nt.start(); t.join()\n"
                               "print(subprocess.run(['echo', 's-ok'], capture_output=True,\n"
                               "                     text=True).stdout)")
    assert "t-ok" in r.stdout and "s-ok" in r.stdout


@pytest.mark.timeout(120)
def test_a_socket_under_var_is_unreachable(pool):
    folder = f"/var/lib/adk-hostile-{secrets.token_hex(4)}"
    os.makedirs(folder, mode=0o755)
    path = f"{folder}/service.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    accepted = []
    try:
        server.bind(path)
        os.chmod(path, 0o777)  # a service that lets anyone connect
        server.listen(1)
        server.settimeout(0.5)

        def accept() -> None:
            try:
                conn, _ = server.accept()
                accepted.append(conn)
                conn.sendall(b"hello from the host\n")
            except OSError:
                pass

        t = threading.Thread(target=accept, daemon=True)
        t.start()
        code = (f"import socket, os\ns = socket.socket(socket.AF_UNIX)\n"
                f"try:\n    s.connect({path!r}); print('ANSWER', s.recv(100))\n"
                f"except OSError as e:\n    print('refused', type(e).__name__)\n"
                f"print('var', os.path.exists('/var'), 'run', os.path.exists('/run'))")
        r = pool.execute("sockets", code)
        t.join()
        assert r.error is None, r.error
        assert "ANSWER" not in r.stdout and "refused" in r.stdout, r.stdout
        assert "var False run False" in r.stdout
        assert accepted == []
    finally:
        server.close()
        shutil.rmtree(folder, ignore_errors=True)
