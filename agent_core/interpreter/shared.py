"""The process-wide kernel pools: one per pool setting, built once, shared by every user.

The app's launcher (``app_server.py``) builds the pool before the server takes its first
request, so the warm spare is starting while the server starts and the first chart after a
start does not wait for a kernel; the pages then get that same pool from
:func:`shared_pool`. Kernels inside a pool are per agent session.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from agent_core.config import Settings

if TYPE_CHECKING:  # pragma: no cover
    from agent_core.interpreter.pool import KernelPool

_POOLS: dict[tuple, KernelPool] = {}
_LOCK = threading.Lock()


def pool_key(settings: Settings) -> tuple:
    """The settings a pool depends on: settings that differ only elsewhere share a pool."""
    return (str(settings.home), settings.sandbox, settings.max_kernels, settings.kernel_memory_mb,
            settings.kernel_idle_seconds, settings.exec_timeout,
            settings.code_executor == "gateway", settings.kernel_gateway_url,
            settings.kernel_gateway_kernel_name, settings.max_kernels_per_user)


def shared_pool(settings: Settings) -> KernelPool:
    """The process's pool for these settings, built (and its spare started) on first call."""
    key = pool_key(settings)
    with _LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            from agent_core.interpreter.pool import KernelPool

            pool = _POOLS[key] = KernelPool(settings)
        return pool


def started_pool(settings: Settings) -> KernelPool | None:
    """The pool for these settings if one was built, else None (never starts kernels)."""
    with _LOCK:
        return _POOLS.get(pool_key(settings))
