"""A bounded pool of kernels, one per session, plus one warm spare.

* ``execute(session_id, code)`` runs code in the session's persistent kernel (started on
  first use, or begun earlier by ``prestart``; the warm spare is handed over when there is
  one, so a new session's first chart does not wait for a kernel start). A spare that was
  taken is prepared again once the run that took it is over.
* Every kernel process is started (and stopped) by the pool's one long-lived owner thread
  (:mod:`agent_core.interpreter.owner`), never by the caller's thread: the sandbox's
  ``--die-with-parent`` fires when the *thread* that started it ends, and Streamlit runs
  each script run in a thread of its own. A spare is prepared again after one is taken.
* At most ``settings.max_kernels`` kernels are alive, the spare included: starting one
  more shuts the least recently used session kernel down.
* At most ``settings.max_kernels_per_user`` of them belong to one user's sessions
  (:meth:`KernelPool.set_owner`; sessions of no user are not counted): a user's next kernel
  first shuts down that user's own least recently used idle kernel, else waits for one of
  theirs, so one user cannot take the team's kernels. Kernels idle for
  ``settings.kernel_idle_seconds`` are shut down by a reaper thread. Either way the
  session's next run says that in-memory state was lost (its files are kept).
* Thread-safe: one lock per session, one for the pool's own tables.
* ``shutdown()`` (also run at exit) kills every kernel at once; it never waits for a kernel
  still starting (it kills that one too).
"""
from __future__ import annotations

import atexit
import contextlib
import functools
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass, field
from pathlib import Path

from agent_core.config import Settings
from agent_core.failures import AgentDeskError
from agent_core.files import AttachedFile, safe_name
from agent_core.interpreter import sandbox as sb
from agent_core.interpreter import uids
from agent_core.interpreter.budget import KernelSlots, NoFreeKernel
from agent_core.interpreter.caps import OutputCaps
from agent_core.interpreter.kernel import KernelStartError, LocalKernel, RunOutcome
from agent_core.interpreter.models import Execution, ExecutionError
from agent_core.interpreter.owner import KernelOwnerThread, OwnerClosed

_SESSION_ID = re.compile(r"^[0-9A-Za-z._:-]{2,100}$")  # Bedrock's rule for session ids
KERNEL_WAIT_SECONDS = 120.0  # a request waits this long for a free interpreter


class InvalidSessionId(AgentDeskError, ValueError):
    """A session id that cannot name a folder."""

    kind = "validation"


@dataclass
class _Session:
    lock: threading.Lock = field(default_factory=threading.Lock)
    kernel: LocalKernel | None = None
    last_used: float = field(default_factory=time.monotonic)
    pending_notice: str | None = None
    starting: tuple[Future, bool] | None = None  # begun by prestart(): (kernel future, is the spare)
    owner: str | None = None  # the user whose session this is (None: not counted per user)
    reserved: bool = False    # counted against its owner's limit while its kernel starts


class KernelPool:
    def __init__(self, settings: Settings, *, warm_spare: bool = True, first_draw: bool | None = None,
                 limits: sb.Limits | None = None, reap_interval: float | None = None) -> None:
        """``warm_spare``: keep a started kernel ready for the next new session (the app);
        ``first_draw``: each kernel draws a chart while warming up, so that its first real
        chart is as fast as its second (default: when a spare is kept, i.e. when kernels are
        started ahead of need; a one-shot CLI kernel would only pay it twice)."""
        self.settings = settings
        # --- CODE_EXECUTOR=gateway: the same pool, its kernels on a Jupyter gateway -----------
        from agent_core.interpreter.gateway import gateway_target

        self._gateway = gateway_target(settings)  # None: kernels on this host
        # --- end gateway ---------------------------------------------------------------------
        self.home = Path(settings.home)
        self.plan = sb.choose_plan(settings.sandbox)
        self.limits = limits or sb.Limits(memory_mb=settings.kernel_memory_mb,
                                          cpu_seconds=int(max(3600, 10 * settings.exec_timeout)))
        self.marker = f"adk-{uuid.uuid4().hex[:10]}"
        self._hide = (Path(settings.home), Path(__file__).resolve().parents[2], Path.cwd())
        self._lock = threading.RLock()
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self.slots = KernelSlots(settings.max_kernels)  # the real bound (see budget.py)
        self._warm_spare = warm_spare and settings.max_kernels >= 2
        self._first_draw = warm_spare if first_draw is None else first_draw
        self._spare: Future | None = None
        self._owner = KernelOwnerThread(name="kernel-owner")
        self._starting: set[LocalKernel] = set()  # kernels the owner is starting right now
        self._closed = False
        self.spare_delay = 1.0
        self._started_spares = 0
        self._mpl_cache = self.home / "cache" / "matplotlib"
        self._stop = threading.Event()
        interval = reap_interval or min(30.0, max(0.2, settings.kernel_idle_seconds / 4))
        self._reaper = threading.Thread(target=self._reap_loop, args=(interval,),
                                        name="kernel-reaper", daemon=True)
        self._reaper.start()
        atexit.register(_shutdown_ref, weakref.ref(self))
        if self._warm_spare:
            self._schedule_spare()

    # --- public API ---------------------------------------------------------
    @property
    def isolation(self) -> str:
        """What confines the kernels, in words for the UI (starts with "bubblewrap", "none"
        or "Jupyter gateway")."""
        if self._gateway is not None:  # CODE_EXECUTOR=gateway
            from agent_core.interpreter.gateway import describe

            return describe(self._gateway)
        return self.plan.describe(self.limits)

    @property
    def sandboxed(self) -> bool:
        return self.plan.sandboxed

    def workdir(self, session_id: str) -> Path:
        path = self._workdir_path(session_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def set_owner(self, session_id: str, owner: str | None) -> None:
        """Count this session's kernel against ``owner``'s AGENT_DESK_MAX_KERNELS_PER_USER
        (the backends call it with ``AgentRequest.owner`` before running code)."""
        if owner is not None:
            self._session(session_id).owner = owner

    def put_files(self, session_id: str, files: Iterable[AttachedFile]) -> tuple[str, ...]:
        """Write attached files into the session's working folder (safe names); the names."""
        sess = self._session(session_id)
        names = []
        with sess.lock:
            work = self.workdir(session_id)
            for f in files:
                name = safe_name(f.name)
                tmp = work / f".{name}.{uuid.uuid4().hex[:8]}.part"
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
                try:
                    if sess.kernel is not None and sess.kernel.uid is not None:
                        os.fchown(fd, sess.kernel.uid, sess.kernel.uid)
                    with os.fdopen(fd, "wb", closefd=False) as fh:
                        fh.write(f.data)
                finally:
                    os.close(fd)
                os.replace(tmp, work / name)  # replaces a link of that name, never its target
                names.append(name)
        return tuple(names)

    def execute(self, session_id: str, code: str, timeout: float | None = None,
                on_output: Callable[[str, str], object] | None = None) -> Execution:
        """Run ``code`` in the session's kernel; ``on_output(stream, text)`` sees printed
        output as it comes (see :meth:`LocalKernel.run`)."""
        try:
            return self._execute(session_id, code, timeout, on_output)
        finally:
            # The spare taken by this session (if any) is prepared again once the run that
            # took it is over, so that its start does not compete with that run.
            self._schedule_spare()

    def _execute(self, session_id: str, code: str, timeout: float | None,
                 on_output: Callable[[str, str], object] | None) -> Execution:
        timeout = float(timeout if timeout is not None else self.settings.exec_timeout)
        sess = self._session(session_id)
        with sess.lock:
            if self._closed:
                return Execution(error=ExecutionError(
                    "PoolClosed", "The code interpreter was shut down.", ""))
            notice = None
            if sess.kernel is not None and not sess.kernel.is_alive():
                code_ = sess.kernel.exit_code()
                sess.kernel.shutdown()
                sess.kernel = None
                sess.pending_notice = sess.pending_notice or (
                    f"The Python kernel had stopped (exit code {code_}); a fresh one was started: "
                    "variables in memory were lost (files in the working folder are kept).")
            if sess.kernel is None:
                notice, sess.pending_notice = sess.pending_notice, None
                try:
                    sess.kernel = self._new_kernel(session_id, sess)
                except (KernelStartError, NoFreeKernel, uids.NoFreeUid, OSError) as exc:
                    return Execution(error=ExecutionError("KernelStartError", str(exc), ""), notice=notice,
                                     kernel_restarted=notice is not None)
                finally:
                    sess.reserved = False  # counted as its owner's live kernel now (or not at all)
            sess.last_used = time.monotonic()
            try:
                outcome = sess.kernel.run(code, timeout=timeout, on_output=on_output)
            except Exception as exc:  # noqa: BLE001 - never a raw traceback for the UI
                outcome = RunOutcome(Execution(
                    error=ExecutionError(
                        "InterpreterError", f"Talking to the kernel failed ({exc.__class__.__name__}); "
                        "it was restarted. Run the code again.", ""),
                    kernel_restarted=True, notice="The Python kernel was restarted: variables in memory "
                    "were lost (files in the working folder are kept)."), True)
            sess.last_used = time.monotonic()
            result = outcome.execution
            if outcome.kernel_lost:
                sess.kernel.shutdown()
                sess.kernel = None
                sess.pending_notice = result.notice
            if notice is not None:
                from dataclasses import replace

                result = replace(result, kernel_restarted=True,
                                 notice=" ".join(n for n in (notice, result.notice) if n))
            return result

    def prestart(self, session_id: str) -> None:
        """Begin getting the session's kernel now (the spare, else a start on the owner
        thread) without waiting, e.g. while its request is being planned; the session's next
        run waits for it. Does nothing when it has a kernel or one is coming."""
        sess = self._session(session_id)
        if not sess.lock.acquire(blocking=False):
            return  # a run holds the session: it has, or is getting, its kernel
        try:
            if self._closed or sess.kernel is not None or sess.starting is not None:
                return
            if not self._owner_room(session_id, sess, wait=False):
                return  # the user's kernels are all busy: the run waits for one
            sess.starting = self._claim(session_id)
        except KernelStartError:
            return  # the run will report it
        finally:
            sess.reserved = False  # a kernel coming (``starting``) is counted from now on
            sess.lock.release()

    def interrupt(self, session_id: str) -> None:
        """Interrupt the code the session's kernel is running now (a Stop); the kernel and
        its variables stay. Does not wait for the session's lock: the run holds it."""
        with self._lock:
            sess = self._sessions.get(session_id)
        kernel = sess.kernel if sess is not None else None
        if kernel is not None:
            kernel.interrupt()

    def reset(self, session_id: str) -> None:
        """Shut the session's kernel down; the next run starts a fresh one (no notice)."""
        sess = self._session(session_id)
        with sess.lock:
            if sess.starting is not None:
                (fut, is_spare), sess.starting = sess.starting, None
                _discard_spare(fut, remove_folder=is_spare)
            if sess.kernel is not None:
                sess.kernel.shutdown()
                sess.kernel = None
            sess.pending_notice = None

    def shutdown(self) -> None:
        """Kill every kernel, the spare and any kernel still starting too, without waiting
        for a start to finish. The pool cannot be used afterwards."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stop.set()
            spare, self._spare = self._spare, None
            sessions = list(self._sessions.values())
            starting = list(self._starting)
        if spare is not None:
            _discard_spare(spare)
        for k in starting:  # only its process: the owner thread's start then fails and cleans up
            k.kill()
        for sess in sessions:
            kernel, sess.kernel = sess.kernel, None
            if kernel is not None:
                kernel.shutdown()
            if sess.starting is not None:
                (fut, is_spare), sess.starting = sess.starting, None
                _discard_spare(fut, remove_folder=is_spare)
        # Only now may the owner thread end: its end kills (PDEATHSIG) what it started, and a
        # sandbox killed from the outside in leaves a zombie (see reap.py).
        self._owner.close()

    def on_spare_ready(self, callback: Callable[[LocalKernel | None], None]) -> None:
        """Call ``callback(kernel)`` once the spare being prepared now is ready (``None``
        when there is no spare or it could not start). For logs and health checks."""
        with self._lock:
            spare = self._spare
        if spare is None:
            callback(None)
            return

        def done(f: Future) -> None:
            try:
                callback(f.result() if not f.cancelled() else None)
            except Exception:  # noqa: BLE001 - a failed spare is reported as None
                callback(None)

        spare.add_done_callback(done)

    def spare_ready(self) -> bool:
        """Is a warm spare started and waiting for a session right now?"""
        with self._lock:
            spare = self._spare
        return (spare is not None and spare.done() and not spare.cancelled()
                and spare.exception() is None and spare.result().is_alive())

    def live_kernels(self) -> int:
        """Session kernels alive now (the spare not counted)."""
        with self._lock:
            return sum(1 for s in self._sessions.values() if s.kernel is not None)

    def kernel_pid(self, session_id: str) -> int | None:
        with self._lock:
            sess = self._sessions.get(session_id)
            return sess.kernel.pid if sess and sess.kernel else None

    # --- internals ----------------------------------------------------------
    def _workdir_path(self, session_id: str) -> Path:
        if not isinstance(session_id, str) or not _SESSION_ID.match(session_id) or session_id == "..":
            raise InvalidSessionId(
                f"Session id {session_id!r} is not valid: use 2-100 letters, digits, '.', '_', ':' or '-'.")
        return self.home / "sessions" / session_id / "work"

    def _session(self, session_id: str) -> _Session:
        self._workdir_path(session_id)
        with self._lock:
            sess = self._sessions.get(session_id)
            if sess is None:
                sess = self._sessions[session_id] = _Session()
            self._sessions.move_to_end(session_id)
            return sess

    def _make_kernel(self, workdir: Path, *, slot_taken: bool = False) -> LocalKernel:
        """Start a kernel. Runs on the owner thread only (see the module's docstring).
        A session's start comes with a slot of the bound already taken (by its caller, which
        may wait for one); the spare only takes a free slot, never waits."""
        assert self._owner.on_owner_thread(), "kernels are started by the pool's owner thread"
        if not slot_taken and not self.slots.try_take():
            raise KernelStartError("No free interpreter slot for a spare kernel.")
        if self._gateway is not None:  # CODE_EXECUTOR=gateway: counted in the bound, no uid
            from agent_core.interpreter.gateway import GatewayKernel

            kernel: LocalKernel = GatewayKernel(  # type: ignore[assignment]  # same interface
                workdir=workdir, target=self._gateway, first_draw=self._first_draw,
                on_shutdown=self.slots.give, caps=OutputCaps.from_settings(self.settings))
            return self._start_kernel(kernel)
        try:
            uid = uids.acquire(self.home) if self.plan.drop_uid else None
        except BaseException:
            self.slots.give()
            raise

        def gone() -> None:
            uids.release(uid)
            self.slots.give()

        self._ensure_mpl_cache()
        kernel = LocalKernel(workdir=workdir, plan=self.plan, limits=self.limits, marker=self.marker,
                             uid=uid, hide=self._hide, mpl_cache=self._mpl_cache, first_draw=self._first_draw,
                             caps=OutputCaps.from_settings(self.settings), on_shutdown=gone,
                             cgroups_mode=self.settings.kernel_cgroups)
        return self._start_kernel(kernel)

    def _start_kernel(self, kernel: LocalKernel) -> LocalKernel:
        with self._lock:
            closed = self._closed
            if not closed:
                self._starting.add(kernel)
        if closed:
            kernel.shutdown()  # frees the slot and the uid
            raise KernelStartError("The code interpreter was shut down.")
        try:
            kernel.start()
        finally:
            with self._lock:
                self._starting.discard(kernel)
        if self._closed:
            kernel.shutdown()
            raise KernelStartError("The code interpreter was shut down.")
        return kernel

    def _take_slot(self, session_id: str) -> None:
        """A slot of AGENT_DESK_MAX_KERNELS for this session's kernel: evict an idle kernel,
        else wait (the page says "Waiting for a free interpreter") up to KERNEL_WAIT_SECONDS."""
        self.slots.take(KERNEL_WAIT_SECONDS, lambda: self._make_room(session_id))

    def _submit_start(self, workdir: Path) -> Future:
        """Submit a cold start (its slot already taken) to the owner thread."""
        try:
            return self._owner.submit(functools.partial(self._make_kernel, workdir, slot_taken=True))
        except OwnerClosed:
            self.slots.give()
            raise KernelStartError("The code interpreter was shut down.") from None

    def _start_on_owner(self, workdir: Path, session_id: str) -> LocalKernel:
        """A cold start for a session: done by the owner thread; this thread waits for it."""
        self._take_slot(session_id)
        try:
            return self._submit_start(workdir).result()
        except CancelledError:
            self.slots.give()  # never ran: its slot was not handed to a kernel
            raise KernelStartError("The code interpreter was shut down.") from None

    def _claim(self, session_id: str) -> tuple[Future, bool]:
        """Where the session's kernel comes from: the spare (``True``), else a cold start
        submitted to the owner thread, after making room (least recently used kernel)."""
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            return spare, True
        self._take_slot(session_id)
        return self._submit_start(self.workdir(session_id)), False

    def _new_kernel(self, session_id: str, sess: _Session) -> LocalKernel:
        """The session's kernel (its lock held): the one prestart() began, else the warm
        spare, else a cold start; a dead or failed spare is replaced by a cold start."""
        workdir = self.workdir(session_id)
        claimed, sess.starting = sess.starting, None
        if claimed is None:
            self._owner_room(session_id, sess, wait=True)
        fut, is_spare = claimed or self._claim(session_id)
        kernel = None
        try:
            kernel = fut.result()
        except CancelledError:
            raise KernelStartError("The code interpreter was shut down.") from None
        except Exception:
            if not is_spare:
                raise
        if is_spare:
            if kernel is not None and not kernel.is_alive():
                kernel.shutdown()
                kernel = None
            if kernel is None:
                kernel = self._start_on_owner(workdir, session_id)
            else:
                kernel.adopt(workdir)
        assert kernel is not None  # a cold start returns one or raises
        return kernel

    def _make_room(self, session_id: str) -> bool:
        """Free one slot: the spare first (it holds no one's state), else the least recently
        used idle session kernel. False when every other kernel is busy (the caller waits)."""
        with self._lock:
            spare, self._spare = self._spare, None
            live = [(sid, s) for sid, s in self._sessions.items() if s.kernel is not None]
        if spare is not None:
            _discard_spare(spare)
            return True
        return self._evict_idle([(sid, s) for sid, s in live if sid != session_id],
                                f"at most {self.settings.max_kernels} run at once")

    @staticmethod
    def _evict_idle(candidates: list[tuple[str, _Session]], why: str) -> bool:
        """Shut down the least recently used idle kernel among ``candidates``; False when
        every one of them is busy."""
        for _, _sid, s in sorted((s.last_used, sid, s) for sid, s in candidates):
            if s.lock.acquire(blocking=False):
                try:
                    if s.kernel is not None:
                        s.kernel.shutdown()
                        s.kernel = None
                        s.pending_notice = (
                            f"This session's Python kernel was shut down to make room ({why}): "
                            "variables in memory were lost (files in the working folder are kept).")
                        return True
                finally:
                    s.lock.release()
        return False

    def _owners_kernels(self, sess: _Session) -> list[tuple[str, _Session]]:
        """The other sessions of ``sess``'s owner that hold, or are getting, a kernel."""
        with self._lock:
            return [(sid, s) for sid, s in self._sessions.items()
                    if s is not sess and s.owner == sess.owner
                    and (s.kernel is not None or s.starting is not None or s.reserved)]

    def _owner_room(self, session_id: str, sess: _Session, *, wait: bool) -> bool:
        """Room for one more kernel of ``sess``'s owner (AGENT_DESK_MAX_KERNELS_PER_USER):
        reserved at once when they have fewer; else their least recently used idle kernel is
        shut down; else (``wait``) wait up to KERNEL_WAIT_SECONDS for one of theirs to end
        (:class:`NoFreeKernel` after that), or (not ``wait``) False."""
        limit = self.settings.max_kernels_per_user
        if sess.owner is None or limit <= 0:
            return True
        deadline = time.monotonic() + KERNEL_WAIT_SECONDS
        while True:
            with self._lock:
                theirs = self._owners_kernels(sess)
                if len(theirs) < limit:
                    sess.reserved = True
                    return True
            if self._evict_idle([(sid, s) for sid, s in theirs if s.kernel is not None],
                                f"at most {limit} kernels per user"):
                continue
            if not wait:
                return False
            if self._closed or time.monotonic() >= deadline:
                raise NoFreeKernel(
                    f"Your {limit} Python kernels stayed busy for {KERNEL_WAIT_SECONDS:g} s "
                    "(AGENT_DESK_MAX_KERNELS_PER_USER); try again when one of your runs ends.")
            time.sleep(0.1)

    def waiting_for_kernel(self, session_id: str) -> bool:
        """Would this session's next run wait for a free interpreter? (for a status line)"""
        return self.wait_reason(session_id) is not None

    def wait_reason(self, session_id: str) -> str | None:
        """Why this session's next run would wait for a kernel, in words, or None."""
        with self._lock:
            sess = self._sessions.get(session_id)
            has_kernel = sess is not None and sess.kernel is not None and sess.kernel.is_alive()
            idle_other = any(s.kernel is not None and not s.lock.locked()
                             for sid, s in self._sessions.items() if sid != session_id)
            spare = self._spare is not None
        if has_kernel:
            return None
        limit = self.settings.max_kernels_per_user
        if sess is not None and sess.owner is not None and limit > 0:
            theirs = self._owners_kernels(sess)
            if len(theirs) >= limit and all(s.kernel is None or s.lock.locked() for _, s in theirs):
                return (f"Waiting for one of your Python kernels: you have {len(theirs)} busy "
                        f"(at most {limit} per user, AGENT_DESK_MAX_KERNELS_PER_USER).")
        if not spare and not idle_other and self.slots.in_use >= self.slots.limit:
            return (f"Waiting for a free interpreter: all {self.settings.max_kernels} are busy with "
                    "other sessions' runs (AGENT_DESK_MAX_KERNELS).")
        return None

    def _schedule_spare(self) -> None:
        with self._lock:
            if not self._warm_spare or self._closed or self._spare is not None:
                return
            live = sum(1 for s in self._sessions.values() if s.kernel is not None)
            # the session kernel being handed out right now counts as live
            if live + 2 > self.settings.max_kernels:
                return
            folder = self.home / "spare-kernels" / uuid.uuid4().hex[:12]
            # a refill waits a moment, so it does not compete with the run that took the spare
            # (the owner thread runs jobs due sooner, e.g. a cold start, in the meantime)
            delay = self.spare_delay if self._started_spares else 0.0
            self._started_spares += 1
            try:
                self._spare = self._owner.submit(self._start_spare, folder, delay=delay)
            except OwnerClosed:
                self._spare = None

    def _start_spare(self, folder: Path) -> LocalKernel:
        if self._closed:
            raise KernelStartError("The pool was shut down.")
        folder.mkdir(parents=True, exist_ok=True)
        try:
            return self._make_kernel(folder)
        except Exception:  # cleanup, then re-raised: a kernel that did not start leaves no folder
            shutil.rmtree(folder, ignore_errors=True)
            raise

    def _ensure_mpl_cache(self) -> None:
        """Build matplotlib's font list once, copied into each kernel's private config dir."""
        if any(self._mpl_cache.glob("fontlist-*.json")):
            return
        self._mpl_cache.mkdir(parents=True, exist_ok=True)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "MPLCONFIGDIR": str(self._mpl_cache),
               "HOME": str(self._mpl_cache)}
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], env=env,
                           capture_output=True, timeout=120)

    def _reap_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            idle = self.settings.kernel_idle_seconds
            now = time.monotonic()
            with self._lock:
                items = list(self._sessions.items())
            for _sid, s in items:
                if s.kernel is None or now - s.last_used < idle:
                    continue
                if not s.lock.acquire(blocking=False):
                    continue
                try:
                    if s.kernel is not None and time.monotonic() - s.last_used >= idle:
                        s.kernel.shutdown()
                        s.kernel = None
                        s.pending_notice = (
                            f"This session's Python kernel was shut down after {idle:g} s without use: "
                            "variables in memory were lost (files in the working folder are kept).")
                finally:
                    s.lock.release()
            self._schedule_spare()


def _discard_spare(spare: Future, *, remove_folder: bool = True) -> None:
    """Stop a spare (or a session's kernel still starting): cancelled when not started yet,
    else shut down once it is ready; a spare's own folder is removed with it."""
    if spare.cancel():
        return

    def done(f: Future) -> None:
        try:
            k = f.result()
        except BaseException:  # noqa: BLE001 - a failed or cancelled start left nothing
            return
        k.shutdown()
        if remove_folder:
            shutil.rmtree(k.workdir, ignore_errors=True)

    spare.add_done_callback(done)


def _shutdown_ref(ref: weakref.ref[KernelPool]) -> None:
    pool = ref()
    if pool is not None:
        pool.shutdown()
