"""Kernel uids unique across processes (the app run as root gives each kernel its own uid).

A uid is leased by holding an exclusive ``flock`` on ``<home>/uids/<uid>.lock`` for the
kernel's life: another process (or thread) cannot take a held uid, and a process that dies
releases its leases with its file descriptors, so nothing stale is left to clean. A uid that
still owns a running process (a kernel of a process using another home) is skipped too.
"""
from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

UID_BASE = 61000
UID_COUNT = 4000

_held: dict[int, int] = {}  # uid -> open fd holding its lock
_lock = threading.Lock()


class NoFreeUid(RuntimeError):
    """Every kernel uid is in use."""


def _uids_in_use() -> set[int]:
    used = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            used.add(os.stat(f"/proc/{entry}").st_uid)
        except OSError:
            continue
    return used


def acquire(home: Path | str, *, base: int = UID_BASE, count: int = UID_COUNT) -> int:
    """Lease a uid no other kernel (of any process using ``home``) holds."""
    folder = Path(home) / "uids"
    folder.mkdir(parents=True, exist_ok=True)
    busy = _uids_in_use()
    with _lock:
        for uid in range(base, base + count):
            if uid in _held or uid in busy:
                continue
            fd = os.open(folder / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            _held[uid] = fd
            return uid
    raise NoFreeUid(f"All {count} kernel uids from {base} are in use.")


def release(uid: int | None) -> None:
    """End the lease (safe to call twice, or with None)."""
    if uid is None:
        return
    with _lock:
        fd = _held.pop(uid, None)
    if fd is not None:
        os.close(fd)
