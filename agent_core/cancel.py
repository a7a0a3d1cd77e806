"""A cancel token: how a Stop reaches a running backend.

``agent_core.run`` gives every request one (``AgentRequest.cancel``). Backends register
what stopping means for them with :meth:`CancelToken.on_cancel` (the local agent interrupts
its kernel, the Bedrock backends close the response stream) and check
:attr:`CancelToken.cancelled` between steps (the model loop interrupts a local kernel's
running call, then ends).
"""
from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class CancelToken:
    """Set once by :meth:`cancel`; thread-safe."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], object]] = []

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._event.wait(timeout)

    def on_cancel(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` when cancelled (at once if already cancelled)."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return
        _call(callback)

    def cancel(self) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            _call(callback)


def _call(callback: Callable[[], object]) -> None:
    with contextlib.suppress(Exception):  # noqa: BLE001 - outer edge: one failing stop must not block the others
        callback()
