"""Private scratch folders of kernels (sockets, connection file, matplotlib config).

Each is named ``adk-<pool marker>-p<pid>-<random>`` in the temporary folder, so a folder left
behind by a process that was killed (SIGKILL cannot be caught) is recognised and removed
by the next process that starts a kernel. A process ended by SIGTERM removes its own: the
pool's exit handler kills its kernels and their folders.
"""
from __future__ import annotations

import atexit
import os
import re
import tempfile
import threading
from pathlib import Path

from agent_core.interpreter.walk import remove_tree

_NAME = re.compile(r"^adk-[0-9a-f]{10}-p(\d+)-")
_swept = threading.Event()
_mine: set[str] = set()  # this process's scratch folders not yet removed
_mine_lock = threading.Lock()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(tmpdir: str | None = None) -> list[str]:
    """Remove scratch folders whose process is gone; the names removed."""
    root = tmpdir or tempfile.gettempdir()
    removed: list[str] = []
    try:
        names = os.listdir(root)
    except OSError:
        return removed
    for name in names:
        m = _NAME.match(name)
        stale = m is not None and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1)))
        if stale and remove_tree(os.path.join(root, name)):
            removed.append(name)
    return removed


def new_scratch(marker: str) -> Path:
    """A fresh scratch folder (0711) for one kernel; the first call of a process first
    removes the folders of processes that died without cleaning up."""
    if not _swept.is_set():
        _swept.set()
        sweep_stale()
    base = Path(tempfile.mkdtemp(prefix=f"{marker}-p{os.getpid()}-"))
    os.chmod(base, 0o711)
    with _mine_lock:
        _mine.add(str(base))
    return base


def remove_scratch(base: Path | str) -> None:
    remove_tree(base)
    with _mine_lock:
        _mine.discard(str(base))


@atexit.register
def _remove_all_mine() -> None:
    """At exit (also after SIGTERM in the CLI), even a kernel still starting in another
    thread leaves no folder behind."""
    with _mine_lock:
        left = list(_mine)
        _mine.clear()
    for base in left:
        remove_tree(base)
