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
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_core.failures import AgentDeskError
from agent_core.files import NameDeduper, clean_name, guess_declared_type, sniff_type
from agent_core.interpreter import cgroups, reap, seccomp
from agent_core.interpreter import sandbox as sb
from agent_core.interpreter.caps import Budget, OutputCaps, StreamBuffer
from agent_core.interpreter.models import Execution, ExecutionError, OutputFile
from agent_core.interpreter.reap import stop_process_tree
from agent_core.interpreter.scratch import new_scratch, remove_scratch
from agent_core.interpreter.walk import MAX_FILES, Walk, walk_files
from agent_core.interpreter.warmup import FIRST_DRAW_CODE, WARMUP_CODE, output_cap_code
from agent_core.interpreter.watchdog import WATCHDOG

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_IMAGE_MIMES = (("image/png", "png"), ("image/jpeg", "jpg"), ("image/svg+xml", "svg"))
MAX_SNAPSHOT_FILES = MAX_FILES
MAX_STREAM_CHARS = OutputCaps.max_output_chars  # per stream and run (AGENT_DESK_MAX_OUTPUT_CHARS)
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
                 start_timeout: float = 60.0, first_draw: bool = True, caps: OutputCaps | None = None,
                 on_shutdown: Any = None, cgroups_mode: str = "auto") -> None:
        self.workdir = Path(workdir)
        self.plan = plan
        self.limits = limits
        self.marker = marker
        self.uid = uid if plan.drop_uid else None
        self._hide = hide
        self._mpl_cache = mpl_cache
        self._start_timeout = start_timeout
        self.caps = caps or OutputCaps()
        self._on_shutdown = on_shutdown  # called once when the kernel is gone (frees its slot, uid)
        self._python_pid: int | None = None
        # the session's memory budget over its whole process tree (cgroup where possible, and
        # the watchdog everywhere); stop_reason says why the watchdog stopped the kernel
        self.memory_budget_bytes = limits.memory_mb * 1024 * 1024
        self.stop_reason: str | None = None
        self.cgroup: cgroups.KernelCgroup | None = None
        self.budget_mechanism = "watchdog"
        self._cgroups_mode = cgroups_mode  # AGENT_DESK_CGROUPS
        self._first_draw = first_draw  # warm the first chart's path too (for a kept-warm kernel)
        self._km: Any = None
        self._kc: Any = None
        self._base: Path | None = None
        self.started_at = 0.0

    # --- lifecycle ----------------------------------------------------------
    def start(self) -> LocalKernel:
        t0 = time.perf_counter()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._base = new_scratch(self.marker)
        try:
            self._start(t0)
        except BaseException:
            self.shutdown()  # a failed start leaves no process and no scratch folder behind
            raise
        return self

    def _start(self, t0: float) -> None:
        from jupyter_client.kernelspec import KernelSpec

        assert self._base is not None
        sock, mpl = self._base / "s", self._base / "mpl"
        sock.mkdir()
        mpl.mkdir()
        if self._mpl_cache and self._mpl_cache.is_dir():
            for f in self._mpl_cache.glob("fontlist-*.json"):
                shutil.copy2(f, mpl / f.name)
        conn = self._base / "kernel.json"
        bpf = None
        if self.plan.sandboxed and seccomp.supported():  # no user namespaces inside
            bpf = self._base / "no-userns.bpf"
            bpf.write_bytes(seccomp.no_userns_filter())
        sandboxed = self.plan.sandboxed
        env = sb.kernel_env(sandboxed=sandboxed, mpl_dir=str(mpl),
                            home="/tmp" if sandboxed else str(mpl))
        if self.uid is not None:
            for p in (sock, mpl):
                sb.chown_tree(p, self.uid)
            sb.chown_tree(self.workdir, self.uid)

        self.cgroup, why_not = cgroups.make(self.marker, self.memory_budget_bytes, self.limits.tasks,
                                            mode=self._cgroups_mode)
        self.budget_mechanism = (f"{self.cgroup.mechanism} + watchdog" if self.cgroup
                                 else f"watchdog only ({why_not})")

        def prefix() -> list[str]:
            if self.uid is not None and conn.exists():
                os.chown(conn, self.uid, self.uid)
            enter = self.cgroup.enter_argv() if self.cgroup else []
            if sandboxed:
                mounts = sb.Mounts(self.workdir, sock, conn, mpl, self._hide, seccomp=bpf)
                return enter + sb.bwrap_argv(self.plan, mounts, self.limits, env, self.uid)
            return enter + self.limits.prlimit_argv(with_nproc=False)

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
            WATCHDOG.watch(self)
        except Exception as exc:  # noqa: BLE001 - any start failure becomes one clear error
            self.shutdown()
            raise KernelStartError(
                f"The Python kernel did not start ({exc.__class__.__name__}: {exc}).") from None
        warmup = (WARMUP_CODE + (FIRST_DRAW_CODE if self._first_draw else "")
                  + output_cap_code(self.caps.max_output_chars))
        outcome = self.run(warmup, timeout=self._start_timeout, snapshot=False)
        if outcome.kernel_lost or outcome.execution.error:
            err = outcome.execution.error
            self.shutdown()
            raise KernelStartError("The Python kernel could not import pandas/numpy/matplotlib: "
                                   f"{err.value if err else 'it stopped'}")
        self.started_at = time.perf_counter() - t0

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
        try:
            self._shutdown()
        finally:
            done, self._on_shutdown = self._on_shutdown, None
            if done is not None:
                done()

    def kernel_python_pid(self) -> int | None:
        """The pid (on the host) of the Python process inside the sandbox."""
        if self._python_pid is None and self.pid is not None:
            for pid in [self.pid, *reap._descendants(self.pid)]:
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as fh:
                        args = fh.read().split(b"\0")
                    # the Python process itself, not bwrap/setpriv/prlimit whose argv holds it too
                    if os.path.basename(args[0]).startswith(b"python") and b"ipykernel_launcher" in args:
                        self._python_pid = pid
                        break
                except OSError:
                    continue
        return self._python_pid

    def end_background(self) -> int:
        """Kill what the run left running (processes started by the code): the run's
        background processes end with the run. Returns how many were stopped."""
        root = self.kernel_python_pid()
        if root is None:
            return 0
        left = reap._processes(reap._descendants(root))
        reap._kill(left)
        if left:
            reap._wait_gone(left, timeout=2.0)  # the run ends after they are gone
        return len(left)

    def _over_budget_message(self) -> str | None:
        """Why the kernel was stopped for memory, if it was (watchdog or cgroup)."""
        if self.stop_reason:
            return self.stop_reason
        if self.cgroup is not None and self.cgroup.oom_killed():
            budget_mb = self.memory_budget_bytes // 2**20
            return (f"The session's code went over its memory budget of {budget_mb:,} MB "
                    "(all its processes and shared memory together; AGENT_DESK_KERNEL_MEMORY_MB), so the "
                    "system stopped it: variables in memory were lost (files in the working folder are "
                    "kept). Work on less data at once.")
        return None

    def _shutdown(self) -> None:
        WATCHDOG.forget(self)
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
        if self.cgroup is not None:
            self.cgroup.remove()  # empty now: every process of the kernel is gone
        if self._base is not None:
            remove_scratch(self._base)
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
    def run(self, code: str, *, timeout: float, snapshot: bool = True,
            on_output: Callable[[str, str], object] | None = None) -> RunOutcome:
        """Run ``code``; ``on_output(stream_name, text)`` is called for each piece of
        stdout/stderr the moment the kernel sends it (the whole is in the result too)."""
        t0 = time.perf_counter()
        before = _snapshot(self.workdir).files if snapshot else {}
        kc = self._kc
        if kc is None or not self.is_alive():
            return RunOutcome(Execution(error=ExecutionError("KernelDied", "The kernel is not running.", ""),
                                        kernel_restarted=True, notice=_lost_notice("stopped")), True)
        msg_id = kc.execute(code, store_history=True, allow_stdin=False, stop_on_error=True)
        caps = self.caps
        # the kernel caps its own output; this is the second line (room for the kernel's note)
        out = StreamBuffer(caps.max_output_chars + 200)
        err = StreamBuffer(caps.max_output_chars + 200)
        images: list[tuple[Any, Any]] = []
        images_dropped = 0
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
                    over_budget = self._over_budget_message()
                    if over_budget:
                        error = ExecutionError("MemoryBudgetExceeded", over_budget, "")
                        notice = over_budget
                    else:
                        error = ExecutionError("KernelDied", f"The kernel stopped while running this code "
                                               f"({why}), for example because it ran out of memory.", "")
                        notice = _lost_notice(why)
                    self.shutdown()
                    break
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                # kept up to the cap as it arrives: a run printing 200 MB never has it all here
                (out if content.get("name") == "stdout" else err).add(strip_ansi(content.get("text", "")))
                if on_output is not None:
                    on_output(str(content.get("name") or "stdout"), strip_ansi(content.get("text", "")))
            elif kind in ("execute_result", "display_data"):
                data = content.get("data", {})
                image = next(((m, ext) for m, ext in _IMAGE_MIMES if m in data), None)
                if image:
                    payload = data[image[0]]
                    if len(images) < caps.max_images and len(payload) <= caps.max_file_bytes * 4 // 3 + 4:
                        images.append((image, payload))
                    else:
                        images_dropped += 1
                elif "text/plain" in data:
                    out.add(strip_ansi(str(data["text/plain"])) + "\n")
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
        walk_note = None
        files: tuple[OutputFile, ...] = ()
        budget = Budget(caps)
        if snapshot:
            after = _snapshot(self.workdir)
            walk_note = after.note()
            files = _changed_files(self.workdir, before, after.files, budget)
        files = _with_images(files, images, budget)
        stopped = self.end_background() if not lost else 0
        bg_note = (f"{stopped} background process(es) started by this run were stopped when it ended."
                   if stopped else None)
        notes = (notice, walk_note, budget.note(images_dropped), bg_note)
        notice = " ".join(n for n in notes if n) or None
        return RunOutcome(Execution(stdout=out.text(), stderr=err.text(),
                                    error=error, files=files, timed_out=timed_out, kernel_restarted=lost,
                                    notice=notice, duration_seconds=time.perf_counter() - t0), lost)




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


def _snapshot(root: Path) -> Walk:
    """The working folder's files (iterative walk, capped in depth and entries)."""
    return walk_files(root)


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


def _changed_files(root: Path, before: dict[str, tuple[int, int]],
                   after: dict[str, tuple[int, int]], budget: Budget) -> tuple[OutputFile, ...]:
    """New or changed files, read one at a time within the run's budget (files, bytes)."""
    out = []
    names = NameDeduper()  # sub/dir/x.txt and sub__dir__x.txt must not get one name
    for rel in sorted(after, key=lambda r: after[r][0]):
        if before.get(rel) == after[rel]:
            continue
        # never refuses (a bidi or newline character in a name must not lose the run)
        name = names.unique(clean_name(rel.replace(os.sep, "__")))
        limit = budget.caps.max_file_bytes
        if after[rel][1] > limit:  # too big to return: only its head, to name its type
            got = read_beneath(root, rel, 4096)
            if got is not None:
                out.append(OutputFile(name, _media_type(name, got[0]), b"", truncated=True))
            continue
        if not budget.room_for(after[rel][1]):
            budget.left_out.append(name)
            continue
        got = read_beneath(root, rel, limit + 1)
        if got is None:
            continue
        data, size = got
        if size > limit or len(data) > limit:
            out.append(OutputFile(name, _media_type(name, data[:4096]), b"", truncated=True))
        else:
            budget.take(len(data))
            out.append(OutputFile(name, _media_type(name, data), data))
    return tuple(out)


def _with_images(files: tuple[OutputFile, ...], images: list, budget: Budget) -> tuple[OutputFile, ...]:
    if not images:
        return files
    dedupe = NameDeduper()
    for f in files:
        dedupe.unique(f.name)
    extra = []
    for n, ((mime, ext), payload) in enumerate(images, start=1):
        data = payload.encode("utf-8") if mime == "image/svg+xml" else base64.b64decode(payload)
        name = dedupe.unique(f"figure-{n}.{ext}")
        if not budget.room_for(len(data)):
            budget.left_out.append(name)
            continue
        budget.take(len(data))
        extra.append(OutputFile(name, mime, data))
    return files + tuple(extra)
