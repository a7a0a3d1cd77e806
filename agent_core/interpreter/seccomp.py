"""A seccomp filter for the kernel: no new user namespaces inside the sandbox.

bubblewrap's ``--disable-userns`` needs ``--unshare-user``, which the root-run app cannot
use (the kernel drops to its own host uid, which a user namespace would not map). So the
kernel gets a small classic-BPF filter instead, loaded by bubblewrap (``--seccomp FD``)
before it runs the kernel's command:

* ``unshare`` and ``clone`` with ``CLONE_NEWUSER`` fail with ``EPERM`` (``unshare -Ur``);
* ``clone3`` fails with ``ENOSYS`` (its flags are in memory a filter cannot read; the C
  library then falls back to ``clone``, which is checked);
* ``setns`` fails with ``EPERM``; x32 system calls fail with ``ENOSYS``.

Everything else is allowed. Known architectures: x86_64 and aarch64 (elsewhere no filter,
and ``docs/sandbox.md`` says so).
"""
from __future__ import annotations

import errno
import platform
import struct

CLONE_NEWUSER = 0x10000000
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_LD_W_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06

# arch -> (AUDIT_ARCH, unshare, clone, clone3, setns)
_ARCH = {
    "x86_64": (0xC000003E, 272, 56, 435, 308),
    "aarch64": (0xC00000B7, 97, 220, 435, 268),
}


def supported() -> bool:
    return platform.machine() in _ARCH


def _ins(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def no_userns_filter() -> bytes:
    """The compiled filter (``struct sock_filter[]``) for this machine's architecture."""
    audit, unshare, clone, clone3, setns = _ARCH[platform.machine()]
    x32 = platform.machine() == "x86_64"
    prog = [
        _ins(_LD_W_ABS, 4),                       # 0 arch
        _ins(_JEQ, audit, 1, 0),                  # 1 native -> 3
        _ins(_RET, _RET_ERRNO | errno.ENOSYS),    # 2 foreign arch
        _ins(_LD_W_ABS, 0),                       # 3 nr
        _ins(_JGE, 0x40000000 if x32 else 0xFFFFFFFF, 0, 1),  # 4 x32 -> 5
        _ins(_RET, _RET_ERRNO | errno.ENOSYS),    # 5
        _ins(_JEQ, clone3, 0, 1),                 # 6
        _ins(_RET, _RET_ERRNO | errno.ENOSYS),    # 7
        _ins(_JEQ, setns, 0, 1),                  # 8
        _ins(_RET, _RET_ERRNO | errno.EPERM),     # 9
        _ins(_JEQ, unshare, 1, 0),                # 10 -> 12
        _ins(_JEQ, clone, 0, 3),                  # 11 -> 12, else -> 15
        _ins(_LD_W_ABS, 16),                      # 12 args[0], low 32 bits
        _ins(_JSET, CLONE_NEWUSER, 0, 1),         # 13 -> 14, else -> 15
        _ins(_RET, _RET_ERRNO | errno.EPERM),     # 14
        _ins(_RET, _RET_ALLOW),                   # 15
    ]
    return b"".join(prog)
