"""How a kernel process is confined: the bubblewrap argv, resource limits, environment.

Two kinds of plan:

* ``bwrap``: the kernel runs inside bubblewrap with no network, its own PID/IPC/UTS
  namespaces, only an allow-list of system folders mounted read-only (:data:`SYSTEM_DIRS`:
  no ``/run``, ``/var``, home folders or other services' sockets), a private ``/tmp``,
  no new user namespaces (a seccomp filter, :mod:`seccomp`), and only its own session
  folder writable (mounted at :data:`INSIDE_WORKDIR`). When the app runs as
  root, the kernel additionally drops to an unprivileged uid of its own (``setpriv``), with
  no capabilities and ``no_new_privs``, so ``RLIMIT_NPROC`` holds (a fork bomb stops);
  as a normal user, bubblewrap's user namespace maps the user to uid 1000.
* ``none``: a plain kernel process with resource limits only (memory, file size, CPU).

Every limit is applied by ``prlimit`` in the kernel's own argv, so it holds for the
kernel and everything it starts.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from agent_core.failures import AgentDeskError

INSIDE_WORKDIR = "/home/sandbox/work"
# Hidden behind empty tmpfs mounts inside the sandbox (plus the app folder and home).
HIDDEN_DIRS = ("/root", "/home", "/tmp", "/var/tmp", "/run", "/mnt", "/media", "/srv")
_NEVER_HIDE = ("/", "/usr", "/etc", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/opt",
               "/proc", "/dev", "/sys", "/var")


class SandboxError(AgentDeskError, RuntimeError):
    """The requested sandbox cannot be used here; the message says what to do."""

    kind = "sandbox"


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 2048       # RLIMIT_AS of the kernel and its children
    file_size_mb: int = 512     # RLIMIT_FSIZE: largest single file it may write
    cpu_seconds: int = 3600     # RLIMIT_CPU over the kernel's lifetime
    tasks: int = 128            # processes + threads of a session: the cgroup's pids.max, and
                                # RLIMIT_NPROC (sandbox with its own uid)
    tmp_mb: int = 256           # size of the private /tmp (bwrap only)

    def prlimit_argv(self, *, with_nproc: bool) -> list[str]:
        argv = ["prlimit", f"--as={self.memory_mb * 1024 * 1024}",
                f"--fsize={self.file_size_mb * 1024 * 1024}", f"--cpu={self.cpu_seconds}",
                "--core=0"]
        if with_nproc:
            argv.append(f"--nproc={self.tasks}")
        return argv + ["--"]


@dataclass(frozen=True)
class SandboxPlan:
    kind: str            # "bwrap" | "none"
    drop_uid: bool       # bwrap run as root: the kernel drops to its own unprivileged uid
    reason: str = ""     # why this plan (e.g. why bubblewrap is not used)

    @property
    def sandboxed(self) -> bool:
        return self.kind == "bwrap"

    def describe(self, limits: Limits) -> str:
        lim = (f"memory {limits.memory_mb} MB, file size {limits.file_size_mb} MB, "
               f"CPU {limits.cpu_seconds} s")
        if self.kind == "bwrap":
            who = ("own unprivileged uid, no capabilities, at most "
                   f"{limits.tasks} processes/threads" if self.drop_uid
                   else "user namespace, no capabilities")
            return ("bubblewrap: no network, read-only system, only this session's folder "
                    "writable, other sessions/home folders//tmp hidden, no AWS variables, "
                    f"{who}; limits: {lim}")
        why = f" ({self.reason})" if self.reason else ""
        return f"none{why}: plain kernel with limits only ({lim}); no file-system or network isolation"


def _bwrap_probe_argv(drop_uid: bool) -> list[str]:
    argv = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--tmpfs", "/tmp", "--unshare-net", "--unshare-pid", "--new-session",
            "--die-with-parent", "--cap-drop", "ALL"]
    if drop_uid:
        argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP",
                 "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                 "--bounding-set=-all", "--no-new-privs", "true"]
    else:
        argv = argv[:1] + ["--unshare-user", "--uid", "1000"] + argv[1:] + ["true"]
    return argv


@functools.lru_cache(maxsize=2)
def probe_bwrap(drop_uid: bool | None = None) -> tuple[bool, str]:
    """Does bubblewrap work here (with the options the kernel needs)? ``(ok, why_not)``."""
    if drop_uid is None:
        drop_uid = os.geteuid() == 0
    missing = [t for t in ("bwrap", "prlimit") + (("setpriv",) if drop_uid else ()) if not shutil.which(t)]
    if missing:
        return False, f"{', '.join(missing)} not installed (apt-get install bubblewrap util-linux)"
    try:
        proc = subprocess.run(_bwrap_probe_argv(drop_uid), capture_output=True, timeout=15,
                              env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"bubblewrap could not start ({exc.__class__.__name__})"
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        return False, f"bubblewrap does not work here: {msg[-1] if msg else proc.returncode}"
    return True, ""


def choose_plan(setting: str) -> SandboxPlan:
    """``auto``: bubblewrap when it works, else a plain kernel; ``bwrap``: bubblewrap or
    :class:`SandboxError`; ``none``: a plain kernel."""
    if setting == "none":
        return SandboxPlan("none", False, "AGENT_DESK_SANDBOX=none")
    drop_uid = os.geteuid() == 0
    ok, why = probe_bwrap(drop_uid)
    if ok:
        return SandboxPlan("bwrap", drop_uid)
    if setting == "bwrap":
        raise SandboxError(f"AGENT_DESK_SANDBOX=bwrap but {why}. Install bubblewrap, or set "
                           "AGENT_DESK_SANDBOX=auto to fall back to a plain kernel.")
    return SandboxPlan("none", False, why)


def kernel_env(*, sandboxed: bool, mpl_dir: str, home: str) -> dict[str, str]:
    """The kernel's whole environment: nothing inherited (no AWS_*, no tokens)."""
    venv_bin = str(Path(sys.executable).parent)
    return {
        "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "MPLBACKEND": "agg",
        "MPLCONFIGDIR": mpl_dir,
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MALLOC_ARENA_MAX": "2",
        # pyarrow (pandas 3 strings) would reserve 1 GB of address space for mimalloc,
        # which counts against the memory limit (RLIMIT_AS): use the system allocator.
        "ARROW_DEFAULT_MEMORY_POOL": "system",
        "JPY_PARENT_PID": "1" if sandboxed else str(os.getpid()),
    }


def hidden_dirs(extra: list[Path]) -> list[str]:
    """Folders replaced by empty tmpfs inside the sandbox, outermost first, none nested."""
    cands = [os.path.realpath(p) for p in list(HIDDEN_DIRS) + [str(p) for p in extra]]
    out: list[str] = []
    for c in sorted(set(cands), key=lambda p: (p.count("/"), p)):
        if c in _NEVER_HIDE or not os.path.isdir(c):
            continue
        if any(c == h or c.startswith(h + "/") for h in out):
            continue
        if any(n != "/" and (n == c or n.startswith(c + "/")) for n in _NEVER_HIDE):
            continue
        out.append(c)
    return out


def _parent_dirs(target: str, hidden: list[str]) -> list[str]:
    """Intermediate folders to create (0755) between a hidden root and ``target``."""
    root = next((h for h in hidden if target.startswith(h + "/")), None)
    if root is None:
        return []
    parts = Path(target).relative_to(root).parts[:-1]
    out, cur = [], root
    for part in parts:
        cur = f"{cur}/{part}"
        out.append(cur)
    return out


@dataclass(frozen=True)
class Mounts:
    host_workdir: Path
    sock_dir: Path       # ipc sockets (rw)
    conn_file: Path      # connection file (ro)
    mpl_dir: Path        # private matplotlib config/cache (rw)
    hide: tuple[Path, ...] = ()   # extra folders to hide (app folder, Agent Desk home)
    seccomp: Path | None = None   # compiled filter (seccomp.no_userns_filter) to load


def bwrap_argv(plan: SandboxPlan, mounts: Mounts, limits: Limits, env: dict[str, str],
               uid: int | None) -> list[str]:
    """The argv prefix that runs a command inside the sandbox."""
    hidden = [h for h in hidden_dirs(list(mounts.hide))
              if h == "/tmp" or any(h == a or h.startswith(a + "/") for a in _allowed_roots())]
    argv = ["bwrap"]
    for src, link in _system_mounts():
        argv += ["--symlink", link, src] if link else ["--ro-bind", src, src]
    argv += ["--dev", "/dev", "--proc", "/proc"]
    for h in hidden:
        if h == "/tmp":
            argv += ["--perms", "1777", "--size", str(limits.tmp_mb * 1024 * 1024), "--tmpfs", h]
        else:
            argv += ["--tmpfs", h]
    made: set[str] = set()

    def bind(kind: str, src: str, dest: str) -> None:
        parents = _parent_dirs(dest, hidden)
        if not parents and not any(dest.startswith(a + "/") for a in _allowed_roots()):
            # outside every mounted folder: make each parent (0755, not bwrap's 0700) so the
            # kernel's uid can walk down to it
            parts = Path(dest).parts[1:-1]
            parents = ["/" + "/".join(parts[:i + 1]) for i in range(len(parts))]
        for d in parents:
            if d not in made:
                made.add(d)
                argv.extend(["--perms", "0755", "--dir", d])
        argv.extend([kind, src, dest])

    python_dirs = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    python_dirs.add(sys.prefix)
    for p in sorted(python_dirs, key=lambda p: (p.count("/"), p)):
        inside_allowed = any(p == a or p.startswith(a + "/") for a in _allowed_roots())
        if not inside_allowed or any(p == h or p.startswith(h + "/") for h in hidden):
            bind("--ro-bind", p, p)
    bind("--bind", str(mounts.sock_dir), str(mounts.sock_dir))
    bind("--ro-bind", str(mounts.conn_file), str(mounts.conn_file))
    bind("--bind", str(mounts.mpl_dir), str(mounts.mpl_dir))
    bind("--bind", str(mounts.host_workdir), INSIDE_WORKDIR)
    argv += ["--chdir", INSIDE_WORKDIR,
             "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
             "--hostname", "sandbox", "--new-session", "--die-with-parent",
             "--cap-drop", "ALL", "--clearenv"]
    for k, v in env.items():
        argv += ["--setenv", k, v]
    if plan.drop_uid:
        assert uid is not None
        argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP",
                 "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                 "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
    else:
        argv[1:1] = ["--unshare-user", "--uid", "1000", "--gid", "1000"]
    if mounts.seccomp is not None:
        # bwrap reads the filter from a descriptor: the shell opens it, then becomes bwrap
        argv = ["/bin/sh", "-c", 'exec 9<"$0" && exec "$@"', str(mounts.seccomp),
                argv[0], "--seccomp", "9", *argv[1:]]
    return argv + limits.prlimit_argv(with_nproc=True)


# System folders mounted (read-only) inside the sandbox; nothing else of the host is there
# (no /run, /var, /srv, /mnt, /media, /home, /root: no sockets of other services).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/sys")


def _allowed_roots() -> list[str]:
    return [d for d in SYSTEM_DIRS if os.path.isdir(d) and not os.path.islink(d)]


def _system_mounts() -> list[tuple[str, str | None]]:
    """(folder, None) to bind read-only, or (folder, target) for a symlink (merged /usr)."""
    out: list[tuple[str, str | None]] = []
    for d in SYSTEM_DIRS:
        if os.path.islink(d):
            out.append((d, os.readlink(d)))
        elif os.path.isdir(d):
            out.append((d, None))
    return out


def chown_tree(path: Path, uid: int) -> None:
    """Give a folder (and what is in it) to the kernel's uid, so it can write there
    (iteratively: the kernel may have nested folders deeper than Python's recursion)."""
    from agent_core.interpreter.walk import chown_tree as _chown

    _chown(path, uid)
