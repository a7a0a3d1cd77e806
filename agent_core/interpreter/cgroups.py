"""A cgroup per kernel: memory (shared memory and memfd included) and process count.

Used where the OS lets the app make one: cgroup v1 with writable ``memory`` and ``pids``
controllers (a child of the app's own cgroup), or a cgroup v2 subtree whose ``memory`` and
``pids`` controllers are delegated to the app. The kernel enters it before it starts (its
launcher writes its own pid into ``cgroup.procs`` then becomes bubblewrap), so everything
the kernel ever forks is counted. Elsewhere :func:`make` returns None and only the
watchdog (:mod:`watchdog`) holds the budget.
"""
from __future__ import annotations

import contextlib
import os
import re
import shlex
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
_counter = 0
_NAME = re.compile(r"^adk-[0-9a-f]{10}-p(\d+)-\d+$")
_lock = threading.Lock()


@dataclass(frozen=True)
class KernelCgroup:
    version: int
    dirs: tuple[Path, ...]      # one per controller (v1) or the one v2 folder
    memory_dir: Path
    memory_bytes: int
    max_pids: int

    @property
    def mechanism(self) -> str:
        mb = self.memory_bytes // 2**20
        return (f"cgroup v{self.version} (memory {mb} MB incl. shared memory, at most {self.max_pids} "
                "processes/threads)")

    def enter_argv(self) -> list[str]:
        """Prefix: write the launcher's pid into the cgroup(s), then exec the command."""
        files = " ".join(shlex.quote(str(d / "cgroup.procs")) for d in self.dirs)
        script = f'for f in {files}; do echo $$ > "$f" || exit 97; done; exec "$@"'
        return ["/bin/sh", "-c", script, "adk-cgroup-enter"]

    def oom_killed(self) -> bool:
        """Did the kernel hit its memory limit (the OS killed a process of it)?"""
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        try:
            text = (self.memory_dir / name).read_text()
        except OSError:
            return False
        counts = dict(line.split() for line in text.splitlines() if len(line.split()) == 2)
        return int(counts.get("oom_kill", 0)) > 0

    def remove(self) -> None:
        """Remove the (now empty) cgroup; killed processes may take a moment to leave it."""
        for d in self.dirs:
            for _ in range(40):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)


def sweep_stale(parent: Path) -> None:
    """Remove the empty cgroups of processes that died without removing them."""
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        m = _NAME.match(name)
        if m and int(m.group(1)) != os.getpid() and not os.path.exists(f"/proc/{m.group(1)}"):
            with contextlib.suppress(OSError):
                os.rmdir(parent / name)


def _own_paths() -> dict[str, str]:
    out = {}
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for c in controllers.split(",") if controllers else [""]:
                out[c] = path
    except OSError:
        pass
    return out


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _child_name(marker: str) -> str:
    global _counter
    with _lock:
        _counter += 1
        return f"{marker}-p{os.getpid()}-{_counter}"


def _v1(marker: str, memory_bytes: int, max_pids: int) -> KernelCgroup | None:
    own = _own_paths()
    if "memory" not in own or "pids" not in own:
        return None
    name = _child_name(marker)
    made: list[Path] = []
    try:
        mem = ROOT / "memory" / own["memory"].lstrip("/") / name
        pids = ROOT / "pids" / own["pids"].lstrip("/") / name
        for d in (mem, pids):
            sweep_stale(d.parent)
        for d in (mem, pids):
            d.mkdir()
            made.append(d)
        _write(mem / "memory.limit_in_bytes", str(memory_bytes))
        if (mem / "memory.memsw.limit_in_bytes").exists():
            with contextlib.suppress(OSError):
                _write(mem / "memory.memsw.limit_in_bytes", str(memory_bytes))
        _write(pids / "pids.max", str(max_pids))
    except OSError:
        for d in made:
            with contextlib.suppress(OSError):
                os.rmdir(d)
        return None
    return KernelCgroup(1, tuple(made), mem, memory_bytes, max_pids)


def _v2(marker: str, memory_bytes: int, max_pids: int) -> KernelCgroup | None:
    own = _own_paths().get("")
    for base in (ROOT, ROOT / "unified"):
        if own is None or not (base / "cgroup.controllers").exists():
            continue
        parent = base / own.lstrip("/")
        try:
            enabled = (parent / "cgroup.subtree_control").read_text().split()
        except OSError:
            continue
        if not {"memory", "pids"} <= set(enabled):
            continue  # not delegated to us
        d = parent / _child_name(marker)
        try:
            d.mkdir()
            _write(d / "memory.max", str(memory_bytes))
            if (d / "memory.swap.max").exists():
                _write(d / "memory.swap.max", "0")
            _write(d / "pids.max", str(max_pids))
        except OSError:
            with contextlib.suppress(OSError):
                os.rmdir(d)
            continue
        return KernelCgroup(2, (d,), d, memory_bytes, max_pids)
    return None


def make(marker: str, memory_bytes: int, max_pids: int, *,
         mode: str = "auto") -> tuple[KernelCgroup | None, str]:
    """A cgroup for one kernel, or None and why not (in words). ``mode``: the
    AGENT_DESK_CGROUPS setting (``auto`` or ``off``)."""
    if mode == "off":
        return None, "cgroups turned off (AGENT_DESK_CGROUPS=off)"
    for attempt in (_v2, _v1):
        cg = attempt(marker, memory_bytes, max_pids)
        if cg is not None:
            return cg, ""
    return None, "no writable cgroup (v1 memory+pids, or a delegated v2 subtree) for this process"
