"""One Jupyter kernel: start (sandboxed or plain), warm up, execute, interrupt, stop.

The kernel talks over Jupyter's ``ipc`` transport (unix sockets in a private folder):
inside bubblewrap there is no working loopback network.
"""
from __future__ import annotations

import base64
import contextlib
import os
import queue
import re
import shutil
import stat
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_core.failures import AgentDeskError
from agent_core.files import MAX_RETURNED_FILE_BYTES, NameDeduper, guess_declared_type, safe_name, sniff_type
from agent_core.interpreter import sandbox as sb
from agent_core.interpreter.models import Execution, ExecutionError, OutputFile
from agent_core.interpreter.reap import stop_process_tree
from agent_core.interpreter.warmup import FIRST_DRAW_CODE, WARMUP_CODE

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_IMAGE_MIMES = (("image/png", "png"), ("image/jpeg", "jpg"), ("image/svg+xml", "svg"))
MAX_SNAPSHOT_FILES = 5000
MAX_STREAM_CHARS = 1_000_000  # per stream and run; the rest is dropped with a note
INTERRUPT_GRACE_SECONDS = 3.0


class KernelStartError(AgentDeskError, RuntimeError):
    """The kernel did not start; the message says why."""

    kind = "kernel"


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


@dataclass(frozen=True)
class RunOutcome:
    execution: Execution
    kernel_lost: bool  # the kernel died or was killed: start a fresh one next time


def _manager_class():
    from jupyter_client import KernelManager

    class SandboxKernelManager(KernelManager):
        """A KernelManager whose command is prefixed by the sandbox argv."""

        prefix_factory: Any = None

        def format_kernel_cmd(self, extra_arguments=None):
            cmd = super().format_kernel_cmd(extra_arguments)
            return list(self.prefix_factory()) + cmd if self.prefix_factory else cmd

    return SandboxKernelManager


class LocalKernel:
    """A started kernel bound to one host folder (its working directory)."""

    def __init__(self, *, workdir: Path, plan: sb.SandboxPlan, limits: sb.Limits, marker: str,
                 uid: int | None = None, hide: tuple[Path, ...] = (), mpl_cache: Path | None = None,
                 start_timeout: float = 60.0, first_draw: bool = True) -> None:
        self.workdir = Path(workdir)
        self.plan = plan
        self.limits = limits
        self.marker = marker
        self.uid = uid if plan.drop_uid else None
        self._hide = hide
        self._mpl_cache = mpl_cache
        self._start_timeout = start_timeout
        self._first_draw = first_draw  # warm the first chart's path too (for a kept-warm kernel)
        self._km: Any = None
        self._kc: Any = None
        self._base: Path | None = None
        self.started_at = 0.0

    # --- lifecycle ----------------------------------------------------------
    def start(self) -> LocalKernel:
        from jupyter_client.kernelspec import KernelSpec

        t0 = time.perf_counter()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._base = Path(tempfile.mkdtemp(prefix=f"{self.marker}-"))
        os.chmod(self._base, 0o711)
        sock, mpl = self._base / "s", self._base / "mpl"
        sock.mkdir()
        mpl.mkdir()
        if self._mpl_cache and self._mpl_cache.is_dir():
            for f in self._mpl_cache.glob("fontlist-*.json"):
                shutil.copy2(f, mpl / f.name)
        conn = self._base / "kernel.json"
        sandboxed = self.plan.sandboxed
        env = sb.kernel_env(sandboxed=sandboxed, mpl_dir=str(mpl),
                            home="/tmp" if sandboxed else str(mpl))
        if self.uid is not None:
            for p in (sock, mpl):
                sb.chown_tree(p, self.uid)
            sb.chown_tree(self.workdir, self.uid)

        def prefix() -> list[str]:
            if self.uid is not None and conn.exists():
                os.chown(conn, self.uid, self.uid)
            if sandboxed:
                mounts = sb.Mounts(self.workdir, sock, conn, mpl, self._hide)
                return sb.bwrap_argv(self.plan, mounts, self.limits, env, self.uid)
            return self.limits.prlimit_argv(with_nproc=False)

        km = _manager_class()(transport="ipc", ip=str(sock / "k"), connection_file=str(conn))
        km.prefix_factory = prefix
        km._kernel_spec = KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                  "--HistoryManager.enabled=False", "--IPKernelApp.log_level=ERROR"],
            display_name="Agent Desk", language="python", interrupt_mode="message", env={})
        self._km = km
        try:
            km.start_kernel(env=env, cwd=str(self.workdir))
            kc = km.client()
            kc.start_channels()
            self._kc = kc
            kc.wait_for_ready(timeout=self._start_timeout)
        except Exception as exc:  # noqa: BLE001 - any start failure becomes one clear error
            self.shutdown()
            raise KernelStartError(
                f"The Python kernel did not start ({exc.__class__.__name__}: {exc}).") from None
        warmup = WARMUP_CODE + (FIRST_DRAW_CODE if self._first_draw else "")
        outcome = self.run(warmup, timeout=self._start_timeout, snapshot=False)
        if outcome.kernel_lost or outcome.execution.error:
            err = outcome.execution.error
            self.shutdown()
            raise KernelStartError("The Python kernel could not import pandas/numpy/matplotlib: "
                                   f"{err.value if err else 'it stopped'}")
        self.started_at = time.perf_counter() - t0
        return self

    @property
    def pid(self) -> int | None:
        proc = getattr(getattr(self._km, "provisioner", None), "process", None)
        return proc.pid if proc is not None else None

    def is_alive(self) -> bool:
        proc = getattr(getattr(self._km, "provisioner", None), "process", None)
        return proc is not None and proc.poll() is None

    def exit_code(self) -> int | None:
        proc = getattr(getattr(self._km, "provisioner", None), "process", None)
        return None if proc is None else proc.poll()

    def interrupt(self) -> None:
        if self._km is not None and self.is_alive():
            with contextlib.suppress(Exception):  # noqa: BLE001 - a failed interrupt is handled by the restart
                self._km.interrupt_kernel()

    def kill(self) -> None:
        """Kill the kernel's processes only: safe from any thread, even while another thread
        is starting or using this kernel (which then sees it died and cleans up)."""
        proc = getattr(getattr(self._km, "provisioner", None), "process", None)
        if proc is not None:
            stop_process_tree(proc, sandboxed=self.plan.sandboxed)

    def shutdown(self) -> None:
        """Kill the kernel (and its sandbox) at once and remove its sockets."""
        kc, self._kc = self._kc, None
        if kc is not None:
            with contextlib.suppress(Exception):  # noqa: BLE001
                kc.stop_channels()
        proc = getattr(getattr(self._km, "provisioner", None), "process", None)
        if proc is not None:
            stop_process_tree(proc, sandboxed=self.plan.sandboxed)
        if self._km is not None:
            with contextlib.suppress(Exception):  # noqa: BLE001
                self._km.cleanup_resources(restart=False)
        if self._base is not None:
            shutil.rmtree(self._base, ignore_errors=True)
            self._base = None

    def adopt(self, new_workdir: Path) -> None:
        """Become the kernel of ``new_workdir``: move what is already there into this
        kernel's folder, then rename the folder to ``new_workdir`` (the bind mount and the
        kernel's cwd follow the folder, not its name)."""
        new_workdir = Path(new_workdir)
        new_workdir.parent.mkdir(parents=True, exist_ok=True)
        if new_workdir.is_dir():
            for entry in new_workdir.iterdir():
                os.replace(entry, self.workdir / entry.name)
            new_workdir.rmdir()
        os.replace(self.workdir, new_workdir)
        self.workdir = new_workdir
        if self.uid is not None:
            sb.chown_tree(new_workdir, self.uid)

    # --- running code -------------------------------------------------------
    def run(self, code: str, *, timeout: float, snapshot: bool = True) -> RunOutcome:
        t0 = time.perf_counter()
        before = _snapshot(self.workdir) if snapshot else {}
        kc = self._kc
        if kc is None or not self.is_alive():
            return RunOutcome(Execution(error=ExecutionError("KernelDied", "The kernel is not running.", ""),
                                        kernel_restarted=True, notice=_lost_notice("stopped")), True)
        msg_id = kc.execute(code, store_history=True, allow_stdin=False, stop_on_error=True)
        out: list[str] = []
        err: list[str] = []
        images: list[tuple[Any, Any]] = []
        error: ExecutionError | None = None
        deadline = time.monotonic() + timeout
        timed_out = lost = False
        notice = None
        interrupted_at: float | None = None
        while True:
            now = time.monotonic()
            if interrupted_at is None and now > deadline:
                timed_out = True
                interrupted_at = now
                self.interrupt()
            if interrupted_at is not None and now > interrupted_at + INTERRUPT_GRACE_SECONDS:
                lost = True
                notice = (f"The code ran longer than {timeout:g} s and did not stop when interrupted, "
                          "so the kernel was restarted: variables in memory were lost "
                          "(files in the working folder are kept).")
                self.shutdown()
                break
            try:
                msg = kc.get_iopub_msg(timeout=0.05)
            except ValueError:  # a garbled message (e.g. the kernel died while sending)
                continue
            except queue.Empty:
                if not self.is_alive():
                    lost = True
                    code_ = self.exit_code()
                    why = f"exit code {code_}" if code_ is not None else "stopped"
                    error = ExecutionError(
                        "KernelDied", f"The kernel stopped while running this code ({why}), "
                        "for example because it ran out of memory.", "")
                    notice = _lost_notice(why)
                    self.shutdown()
                    break
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                (out if content.get("name") == "stdout" else err).append(content.get("text", ""))
            elif kind in ("execute_result", "display_data"):
                data = content.get("data", {})
                image = next(((m, ext) for m, ext in _IMAGE_MIMES if m in data), None)
                if image:
                    images.append((image, data[image[0]]))
                elif "text/plain" in data:
                    out.append(str(data["text/plain"]) + "\n")
            elif kind == "error":
                error = ExecutionError(content.get("ename", "Error"), content.get("evalue", ""),
                                       strip_ansi("\n".join(content.get("traceback", []))))
            elif kind == "status" and content.get("execution_state") == "idle":
                break
        if not lost:
            _drain_shell(kc, msg_id)
        if timed_out and not lost:
            notice = (f"The code ran longer than {timeout:g} s and was stopped; variables were kept.")
            if error and error.name == "KeyboardInterrupt":
                error = None
        files = _changed_files(self.workdir, before) if snapshot else ()
        files = _with_images(files, images)
        return RunOutcome(Execution(stdout=_capped(out), stderr=_capped(err),
                                    error=error, files=files, timed_out=timed_out, kernel_restarted=lost,
                                    notice=notice, duration_seconds=time.perf_counter() - t0), lost)


def _capped(parts: list[str]) -> str:
    text = strip_ansi("".join(parts))
    if len(text) <= MAX_STREAM_CHARS:
        return text
    dropped = len(text) - MAX_STREAM_CHARS
    return text[:MAX_STREAM_CHARS] + f"\n[... output truncated: {dropped} more characters]\n"


def _lost_notice(why: str) -> str:
    return (f"The Python kernel stopped ({why}) and a fresh one is used from now on: variables "
            "in memory were lost (files in the working folder are kept).")


def _drain_shell(kc: Any, msg_id: str) -> None:
    end = time.monotonic() + 2.0
    while time.monotonic() < end:
        try:
            reply = kc.get_shell_msg(timeout=0.5)
        except queue.Empty:
            return
        if reply.get("parent_header", {}).get("msg_id") == msg_id:
            return


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    seen: dict[str, tuple[int, int]] = {}
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
        for name in files:
            p = os.path.join(dirpath, name)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if not os.path.isfile(p) or os.path.islink(p):
                continue
            seen[os.path.relpath(p, root)] = (st.st_mtime_ns, st.st_size)
            if len(seen) >= MAX_SNAPSHOT_FILES:
                return seen
    return seen


def _media_type(name: str, head: bytes) -> str:
    sniffed = sniff_type(head) if head else "application/octet-stream"
    if sniffed in ("application/octet-stream", "text/plain"):
        guessed = guess_declared_type(name)
        if guessed != "application/octet-stream":
            return guessed
    return sniffed


def read_beneath(root: Path, rel: str, limit: int) -> tuple[bytes, int] | None:
    """Read at most ``limit`` bytes of the regular file ``rel`` under ``root`` without
    following any symlink (the kernel may swap a file for a link to a host file while
    we read): ``(data, size)``, or None if it is not a plain file any more."""
    parts = Path(rel).parts
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nxt
        ffd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        st = os.fstat(ffd)
        if not stat.S_ISREG(st.st_mode):
            return None
        with os.fdopen(ffd, "rb", closefd=False) as fh:
            return fh.read(limit), st.st_size
    finally:
        os.close(ffd)


def _changed_files(root: Path, before: dict[str, tuple[int, int]]) -> tuple[OutputFile, ...]:
    after = _snapshot(root)
    out = []
    for rel in sorted(after, key=lambda r: after[r][0]):
        if before.get(rel) == after[rel]:
            continue
        name = safe_name(rel.replace(os.sep, "__"))
        got = read_beneath(root, rel, MAX_RETURNED_FILE_BYTES + 1)
        if got is None:
            continue
        data, size = got
        if size > MAX_RETURNED_FILE_BYTES or len(data) > MAX_RETURNED_FILE_BYTES:
            out.append(OutputFile(name, _media_type(name, data[:4096]), b"", truncated=True))
        else:
            out.append(OutputFile(name, _media_type(name, data), data))
    return tuple(out)


def _with_images(files: tuple[OutputFile, ...], images: list) -> tuple[OutputFile, ...]:
    if not images:
        return files
    dedupe = NameDeduper()
    for f in files:
        dedupe.unique(f.name)
    extra = []
    for n, ((mime, ext), payload) in enumerate(images, start=1):
        data = payload.encode("utf-8") if mime == "image/svg+xml" else base64.b64decode(payload)
        extra.append(OutputFile(dedupe.unique(f"figure-{n}.{ext}"), mime, data))
    return files + tuple(extra)
