"""Kernels on a Jupyter Kernel Gateway or Enterprise Gateway (``CODE_EXECUTOR=gateway``).

:class:`GatewayKernel` has the interface of :class:`~agent_core.interpreter.kernel.LocalKernel`
(start, run, interrupt, kill, shutdown, adopt, is_alive), so the pool's bound, reaper, spare
and per-session mapping stay one implementation. It talks to the gateway through
jupyter_server's ``GatewayClient`` (url, auth header, timeouts, TLS, cookies; its
``JUPYTER_GATEWAY_*`` variables work too) and ``GatewayKernelManager`` (start, interrupt,
shutdown over the REST API), and reads the kernel's messages from ``GatewayKernelClient``'s
channel queues (plain ``queue.Queue`` objects fed by its websocket thread), so every call
here is blocking and any thread may use a kernel.

There is no shared folder with the gateway's kernels: attached files are written into the
kernel by code it executes (base64 chunks; Kernel Gateway's own contents API is off by
default and Enterprise Gateway has none), and the files a run created or changed come back
as display messages of a private MIME type, at most ``MAX_RETURNED_FILE_BYTES`` each, as
locally. Each kernel works in a folder of its own (``agent-desk-*`` under the kernel's start
folder), removed when the kernel exits.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import os
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_core.config import url_host
from agent_core.files import MAX_RETURNED_FILE_BYTES, safe_name
from agent_core.interpreter.caps import Budget, OutputCaps
from agent_core.interpreter.kernel import (
    _IMAGE_MIMES,
    INTERRUPT_GRACE_SECONDS,
    KernelStartError,
    LocalKernel,
    RunOutcome,
    _media_type,
    _snapshot,
    _with_images,
    strip_ansi,
)
from agent_core.interpreter.models import Execution, ExecutionError, OutputFile
from agent_core.interpreter.warmup import FIRST_DRAW_CODE, WARMUP_CODE, output_cap_code

FILE_MIME = "application/x.agent-desk.file+json"
PUSH_CHUNK = 512 * 1024  # bytes of an attached file per execute request
TOKEN_ENV = "KERNEL_GATEWAY_AUTH_TOKEN"

# Kernel side: defined once, as module ``_agent_desk`` (kept out of the user's namespace).
_KERNEL_SIDE = r'''
import base64 as _b64, os as _os
ROOT = None
BEFORE = {}
MIME = @MIME@
def setup():
    global ROOT
    import atexit, shutil, tempfile
    try:
        ROOT = tempfile.mkdtemp(prefix="agent-desk-", dir=_os.getcwd())
    except OSError:
        ROOT = tempfile.mkdtemp(prefix="agent-desk-")
    _os.chdir(ROOT)
    atexit.register(shutil.rmtree, ROOT, True)
def _path(rel):
    path = _os.path.realpath(_os.path.join(ROOT, rel))
    if not path.startswith(_os.path.realpath(ROOT) + _os.sep):
        raise ValueError("not under the working folder: " + repr(rel))
    return path
def put(rel, chunk, first, last):
    path = _path(rel)
    _os.makedirs(_os.path.dirname(path), exist_ok=True)
    with open(path + ".adk-part", "wb" if first else "ab") as fh:
        fh.write(_b64.b64decode(chunk))
    if last:
        _os.replace(path + ".adk-part", path)
        st = _os.lstat(path)
        BEFORE[_os.path.relpath(path, ROOT)] = (st.st_mtime_ns, st.st_size)  # not the run's own file
def snapshot():
    seen = {}
    for dirpath, dirs, files in _os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
        for name in files:
            p = _os.path.join(dirpath, name)
            if _os.path.islink(p) or not _os.path.isfile(p):
                continue
            st = _os.lstat(p)
            seen[_os.path.relpath(p, ROOT)] = (st.st_mtime_ns, st.st_size)
            if len(seen) >= 5000:
                return seen
    return seen
def changed(limit):
    global BEFORE
    from IPython.display import publish_display_data
    after = snapshot()
    before, BEFORE = BEFORE, after  # what this run left is what the next run starts from
    for rel in sorted(after, key=lambda r: after[r][0]):
        if before.get(rel) == after[rel]:
            continue
        data = b""
        try:
            fd = _os.open(_os.path.join(ROOT, rel), _os.O_RDONLY | getattr(_os, "O_NOFOLLOW", 0))
            with _os.fdopen(fd, "rb") as fh:
                data = fh.read(limit + 1)
        except OSError:
            continue
        big = len(data) > limit or after[rel][1] > limit
        publish_display_data({MIME: {"path": rel, "size": max(after[rel][1], len(data)),
                                     "head": _b64.b64encode(data[:4096]).decode(),
                                     "data": "" if big else _b64.b64encode(data).decode()}})
'''.replace("@MIME@", repr(FILE_MIME))

_SETUP_CODE = (
    "import sys as _adk_sys, types as _adk_types\n"
    "_adk_m = _adk_types.ModuleType('_agent_desk')\n"
    f"exec({_KERNEL_SIDE!r}, _adk_m.__dict__)\n"
    "_adk_sys.modules['_agent_desk'] = _adk_m\n"
    "_adk_m.setup()\n"
    "del _adk_sys, _adk_types, _adk_m\n"
)


@dataclass(frozen=True)
class GatewayTarget:
    """Where the kernels run: the gateway's URL, the kernel spec to start, and the token
    (a secret: never shown, logged or stored; left out of ``repr``)."""

    url: str
    kernel_name: str = "python3"
    auth_token: str | None = None
    request_timeout: float = 60.0

    def __repr__(self) -> str:
        return f"GatewayTarget(url={self.url!r}, kernel_name={self.kernel_name!r})"

    def scrub(self, text: str) -> str:
        return text.replace(self.auth_token, "***") if self.auth_token else text


class _Loop:
    """One asyncio loop thread for the process: GatewayKernelManager's calls are
    coroutines (tornado's HTTP client); callers in any thread wait for their result."""

    _lock = threading.Lock()
    _loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def call(cls, coro: Any, timeout: float) -> Any:
        with cls._lock:
            if cls._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="kernel-gateway-io", daemon=True).start()
                cls._loop = loop
            loop = cls._loop
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)


def configure_client(target: GatewayTarget) -> Any:
    """Point jupyter_server's process-wide ``GatewayClient`` at ``target``."""
    from jupyter_server.gateway.gateway_client import GatewayClient

    gc = GatewayClient.instance()
    gc.url = target.url.rstrip("/")
    gc.ws_url = None  # derived again from url (http -> ws)
    gc.ws_url = gc._ws_url_default()
    gc.auth_token = target.auth_token or ""
    gc.request_timeout = max(gc.request_timeout, target.request_timeout)
    gc._connection_args = {}  # taken again from the settings above on the next request
    return gc


def _client_class() -> Any:
    from jupyter_server.gateway.managers import ChannelQueue, GatewayKernelClient

    class _ShellQueue(ChannelQueue):
        def send(self, msg: dict[str, Any]) -> None:
            msg["channel"] = "shell"  # the gateway routes by it (it guesses "shell" with a warning)
            super().send(msg)

    class BlockingGatewayClient(GatewayKernelClient):
        """GatewayKernelClient whose websocket carries the gateway's auth header (its own
        ``start_channels`` sends none) and whose channels are read as blocking queues."""

        def open(self, timeout: float) -> None:
            import websocket
            from jupyter_client.client import KernelClient
            from jupyter_server.gateway.gateway_client import GatewayClient
            from jupyter_server.utils import url_escape, url_path_join

            gc = GatewayClient.instance()
            url = url_path_join(gc.ws_url or "", gc.kernels_endpoint, url_escape(self.kernel_id), "channels")
            headers = gc.load_connection_args().get("headers", {})
            ssl: dict[str, Any] = {"ca_certs": gc.ca_certs, "certfile": gc.client_cert,
                                   "keyfile": gc.client_key}
            if not gc.validate_cert:
                import ssl as ssl_mod

                ssl["cert_reqs"] = ssl_mod.CERT_NONE
            self.channel_socket = websocket.create_connection(
                url, timeout=timeout, enable_multithread=True, header=headers,
                sockopt=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),),  # no 40 ms delayed-ACK stalls
                sslopt={k: v for k, v in ssl.items() if v is not None})
            self.channel_socket.settimeout(None)
            KernelClient.start_channels(self, shell=True, iopub=True, stdin=False, hb=False, control=False)
            self.response_router = threading.Thread(target=self._route_responses, name="kernel-gateway-ws",
                                                    daemon=True)
            self.response_router.start()

        @property
        def shell_channel(self):
            if self._shell_channel is None:
                self._shell_channel = _ShellQueue("shell", self.channel_socket, self.log)
                self._channel_queues["shell"] = self._shell_channel
            return self._shell_channel

        def connected(self) -> bool:
            router = self.response_router
            return router is not None and router.is_alive()

    return BlockingGatewayClient


class GatewayKernel:
    """A kernel on the gateway, bound to one session folder on this host (where the pool
    puts attached files: they are copied into the kernel before the next run)."""

    uid = None   # the pool's uid leases are for local sandboxes
    pid = None   # the process is on the gateway's side

    def __init__(self, *, workdir: Path, target: GatewayTarget, start_timeout: float = 60.0,
                 first_draw: bool = True, on_shutdown: Callable[[], None] | None = None,
                 caps: OutputCaps | None = None) -> None:
        self.workdir = Path(workdir)
        self.caps = caps or OutputCaps()  # the same output caps as a local kernel
        self.target = target
        self._on_shutdown = on_shutdown  # called once when the kernel is gone (frees its slot)
        self._start_timeout = start_timeout
        self._first_draw = first_draw
        self._km: Any = None
        self._kc: Any = None
        self._lost = False
        self._pushed: dict[str, tuple[int, int]] = {}  # local files already copied into the kernel
        self.started_at = 0.0

    # --- lifecycle ----------------------------------------------------------
    def start(self) -> GatewayKernel:
        from jupyter_server.gateway.managers import GatewayKernelManager

        t0 = time.perf_counter()
        self.workdir.mkdir(parents=True, exist_ok=True)
        configure_client(self.target)
        try:
            km = GatewayKernelManager()
            self._km = km
            # GatewayKernelManager forwards every KERNEL_* variable of this process to the
            # kernel: blank the token's, or code in the kernel could read it.
            _Loop.call(km.start_kernel(kernel_name=self.target.kernel_name, env={TOKEN_ENV: ""}),
                       self._start_timeout + 5)
            km.client_factory = _client_class()
            kc = km.client()
            kc.open(self._start_timeout)
            self._kc = kc
            self._wait_ready(self._start_timeout)
        except Exception as exc:  # noqa: BLE001 - any start failure becomes one clear error
            self.shutdown()
            why = self.target.scrub(f"{exc.__class__.__name__}: {exc}")
            where = url_host(self.target.url)
            raise KernelStartError(f"The kernel on the Jupyter gateway at {where} did not "
                                   f"start ({why}). Check KERNEL_GATEWAY_URL, the token and that the "
                                   "gateway is running.") from None
        setup = self._execute(_SETUP_CODE, timeout=self._start_timeout, silent=True)
        warmup = (WARMUP_CODE + (FIRST_DRAW_CODE if self._first_draw else "")
                  + output_cap_code(self.caps.max_output_chars))  # output cut inside the kernel
        outcome = self.run(warmup, timeout=self._start_timeout, snapshot=False) if not setup.error else None
        err = setup.error or (outcome.execution.error if outcome else None)
        if err or (outcome and outcome.kernel_lost):
            self.shutdown()
            raise KernelStartError("The kernel on the Jupyter gateway could not prepare its folder or import "
                                   f"pandas/numpy/matplotlib: {err.value if err else 'it stopped'}")
        self.started_at = time.perf_counter() - t0
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg_id = self._kc.kernel_info()
            try:
                while True:
                    wait = max(0.1, min(2.0, deadline - time.monotonic()))
                    reply = self._kc.shell_channel.get(timeout=wait)
                    if reply.get("parent_header", {}).get("msg_id") == msg_id:
                        return
            except queue.Empty:
                continue
        raise TimeoutError(f"no reply from the kernel in {timeout:g} s")

    def is_alive(self) -> bool:
        return self._kc is not None and not self._lost and self._kc.connected()

    def exit_code(self) -> int | None:
        return None

    def interrupt(self) -> None:
        if self._km is not None and self.is_alive():
            with contextlib.suppress(Exception):  # a failed interrupt is handled by the restart
                _Loop.call(self._km.interrupt_kernel(), 10)

    def kill(self) -> None:
        """Ask the gateway to stop the kernel: safe from any thread."""
        km = self._km
        if km is not None and km.has_kernel:
            with contextlib.suppress(Exception):  # gone already, or the gateway is down
                _Loop.call(km.shutdown_kernel(now=True), 15)

    def shutdown(self) -> None:
        try:
            kc, self._kc = self._kc, None
            if kc is not None:
                with contextlib.suppress(Exception):
                    kc.stop_channels()
            self.kill()
            self._km = None
        finally:
            done, self._on_shutdown = self._on_shutdown, None
            if done is not None:
                done()

    def adopt(self, new_workdir: Path) -> None:
        """Become the kernel of ``new_workdir`` (a spare handed to a session): the host
        folder is renamed as for a local kernel; what is in it is copied in at the next run."""
        LocalKernel.adopt(self, new_workdir)  # type: ignore[arg-type]  # the folder part only (uid None)

    # --- running code -------------------------------------------------------
    def run(self, code: str, *, timeout: float, snapshot: bool = True,
            on_output: Callable[[str, str], object] | None = None) -> RunOutcome:
        """As :meth:`LocalKernel.run`: ``on_output(stream_name, text)`` sees printed output
        the moment the gateway relays it (the whole is in the result too)."""
        t0 = time.perf_counter()
        if not self.is_alive():
            return RunOutcome(Execution(error=ExecutionError("KernelDied", "The kernel is not running.", ""),
                                        kernel_restarted=True, notice=_lost_notice("stopped")), True)
        if snapshot:
            prep = self._push_files()
            if prep is not None:
                return prep
        got = self._execute(code, timeout=timeout, on_output=on_output)
        files: tuple[OutputFile, ...] = ()
        if snapshot and not got.lost:
            back = self._execute(f"__import__('_agent_desk').changed({MAX_RETURNED_FILE_BYTES})",
                                 timeout=max(30.0, timeout), silent=True)
            files = back.files
        files = _with_images(files, got.images, Budget(self.caps))
        limit = self.caps.max_output_chars
        return RunOutcome(Execution(stdout=_capped(got.out, limit), stderr=_capped(got.err, limit),
                                    error=got.error,
                                    files=files, timed_out=got.timed_out, kernel_restarted=got.lost,
                                    notice=got.notice, duration_seconds=time.perf_counter() - t0), got.lost)

    def _push_files(self) -> RunOutcome | None:
        """Copy new or changed host files of the session folder into the kernel (the kernel
        side counts them as there before the run, so they do not come back as its files)."""
        now = {rel: v for rel, v in _snapshot(self.workdir).files.items()
               if not Path(rel).name.startswith(".") and self._pushed.get(rel) != v}
        for rel, stamp in now.items():
            try:
                data = (self.workdir / rel).read_bytes()
            except OSError:
                continue
            chunks = [data[i:i + PUSH_CHUNK] for i in range(0, len(data), PUSH_CHUNK)] or [b""]
            for n, chunk in enumerate(chunks):
                b64 = base64.b64encode(chunk).decode()
                got = self._execute(f"__import__('_agent_desk').put({rel!r}, {b64!r}, {n == 0}, "
                                    f"{n == len(chunks) - 1})", timeout=60.0, silent=True)
                if got.error or got.lost:
                    err = got.error or ExecutionError("KernelDied", "The kernel stopped.", "")
                    return RunOutcome(Execution(error=ExecutionError(
                        "AttachError", f"Could not copy {rel} into the kernel on the gateway: {err.value}",
                        ""),
                        kernel_restarted=got.lost, notice=got.notice), got.lost)
            self._pushed[rel] = stamp
        return None

    def _execute(self, code: str, *, timeout: float, silent: bool = False,
                 on_output: Callable[[str, str], object] | None = None) -> _Collected:
        kc = self._kc
        got = _Collected()
        if kc is None:
            got.lost, got.error = True, ExecutionError("KernelDied", "The kernel is not running.", "")
            return got
        msg_id = kc.execute(code, silent=silent, store_history=not silent, allow_stdin=False,
                            stop_on_error=True)
        iopub = kc.iopub_channel
        deadline = time.monotonic() + timeout
        interrupted_at: float | None = None
        while True:
            now = time.monotonic()
            if interrupted_at is None and now > deadline:
                got.timed_out, interrupted_at = True, now
                self.interrupt()
            if interrupted_at is not None and now > interrupted_at + INTERRUPT_GRACE_SECONDS:
                got.lost = True
                got.notice = (f"The code ran longer than {timeout:g} s and did not stop when interrupted, "
                              "so the kernel on the gateway was restarted: variables in memory and the "
                              "files it wrote were lost (attached files are copied in again).")
                self._lost = True
                break
            try:
                msg = iopub.get(timeout=0.05)
            except queue.Empty:
                if not kc.connected():
                    self._died(got, "the connection to the gateway closed")
                    break
                continue
            kind, content = msg.get("msg_type"), msg.get("content", {})
            if kind == "status" and content.get("execution_state") in ("restarting", "dead"):
                self._died(got, f"the gateway reports it {content['execution_state']}")
                break
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if kind == "stream":
                (got.out if content.get("name") == "stdout" else got.err).append(content.get("text", ""))
                if on_output is not None:
                    on_output(str(content.get("name") or "stdout"), strip_ansi(content.get("text", "")))
            elif kind in ("execute_result", "display_data"):
                data = content.get("data", {})
                image = next(((m, ext) for m, ext in _IMAGE_MIMES if m in data), None)
                if FILE_MIME in data:
                    got.add_file(data[FILE_MIME])
                elif image:
                    got.images.append((image, data[image[0]]))
                elif "text/plain" in data:
                    got.out.append(str(data["text/plain"]) + "\n")
            elif kind == "error":
                got.error = ExecutionError(content.get("ename", "Error"), content.get("evalue", ""),
                                           strip_ansi("\n".join(content.get("traceback", []))))
            elif kind == "status" and content.get("execution_state") == "idle":
                break
        if not got.lost:
            _drain_shell(kc, msg_id)
        if got.timed_out and not got.lost:
            got.notice = f"The code ran longer than {timeout:g} s and was stopped; variables were kept."
            if got.error and got.error.name == "KeyboardInterrupt":
                got.error = None
        return got

    def _died(self, got: _Collected, why: str) -> None:
        self._lost = got.lost = True
        got.error = ExecutionError("KernelDied", f"The kernel on the gateway stopped while running this code "
                                   f"({why}), for example because it ran out of memory.", "")
        got.notice = _lost_notice(why)


class _Collected:
    """What one execute request produced (internal, mutable while messages arrive)."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.err: list[str] = []
        self.images: list[Any] = []
        self.files: tuple[OutputFile, ...] = ()
        self.error: ExecutionError | None = None
        self.timed_out = self.lost = False
        self.notice: str | None = None

    def add_file(self, item: Any) -> None:
        try:
            rel = str(item["path"])
            head = base64.b64decode(item.get("head", ""))
            data = base64.b64decode(item.get("data", ""))
            size = int(item.get("size", 0))
        except (KeyError, TypeError, ValueError, binascii.Error):
            return
        name = safe_name(rel.replace("/", "__").replace(os.sep, "__"))
        if size > MAX_RETURNED_FILE_BYTES or len(data) > MAX_RETURNED_FILE_BYTES or (size and not data):
            self.files += (OutputFile(name, _media_type(name, head), b"", truncated=True),)
        else:
            self.files += (OutputFile(name, _media_type(name, data), data),)


def _drain_shell(kc: Any, msg_id: str) -> None:
    end = time.monotonic() + 2.0
    while time.monotonic() < end:
        try:
            reply = kc.shell_channel.get(timeout=0.5)
        except queue.Empty:
            return
        if reply.get("parent_header", {}).get("msg_id") == msg_id:
            return


def _lost_notice(why: str) -> str:
    return (f"The Python kernel on the gateway stopped ({why}) and a fresh one is used from now on: "
            "variables in memory and the files it wrote there were lost (attached files are copied in "
            "again).")


def describe(target: GatewayTarget) -> str:
    """What confines the kernels, in words for the UI (the operator's isolation, not ours)."""
    return (f"Jupyter gateway at {url_host(target.url)}: kernels run on the gateway's side, isolated as its "
            "operator set it up (Agent Desk's bubblewrap sandbox and limits do not apply)")


def gateway_target(settings: Any) -> GatewayTarget | None:
    """Where the pool's kernels run: a gateway (``CODE_EXECUTOR=gateway``), else None (here)."""
    from agent_core.config import (
        SettingsError,
        kernel_gateway_auth_token,
        kernels_on_gateway,
    )

    if not kernels_on_gateway(settings):
        return None
    if not settings.kernel_gateway_url:
        raise SettingsError("CODE_EXECUTOR=gateway needs KERNEL_GATEWAY_URL (the Jupyter Kernel Gateway or "
                            "Enterprise Gateway, e.g. http://gateway.internal:8888).")
    return GatewayTarget(url=settings.kernel_gateway_url, kernel_name=settings.kernel_gateway_kernel_name,
                         auth_token=kernel_gateway_auth_token(),
                         request_timeout=max(60.0, settings.exec_timeout))


def _capped(parts: list[str], limit: int) -> str:
    """A stream's text, at most ``limit`` characters (the kernel already cut it; this is the
    second line), with a note of what was dropped."""
    text = strip_ansi("".join(parts))
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... output truncated: {len(text) - limit} more characters]\n"
