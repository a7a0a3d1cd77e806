"""Slow, shared things, each built once inside ``st.cache_resource``: the local kernel
pool, the backend, the run store; and the per-browser-session lease that stops a
session's kernel when its tab goes away. Also what a run needs from them
(:func:`run_options`), so a page starts a run with ``agent_core.run.start``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
from typing import TYPE_CHECKING, Any

import streamlit as st

from agent_core.config import Settings, runs_code_here
from components import state

if TYPE_CHECKING:
    from agent_core.backends.base import Backend
    from agent_core.interpreter.pool import KernelPool
    from agent_core.store import RunStore

log = logging.getLogger(__name__)

# st.cache_resource cannot be asked "is it built?" without building it: "new session" looks
# here for the backend instead (filled on build).
_STARTED: dict[tuple[str, Settings], Any] = {}


def needs_kernel_pool(settings: Settings) -> bool:
    """The backends that run code in a local kernel."""
    return runs_code_here(settings)


# --- the kernel pool: one function ---------------------------------------------------------------
def kernel_pool(settings: Settings) -> KernelPool:
    """The process-wide pool for these settings (kernels inside are per agent session): built
    by the launcher (app_server.py) at server start, so its warm kernel is ready before the
    first request; built here on first use when the app was started otherwise."""
    from agent_core.interpreter.shared import shared_pool  # noqa: PLC0415

    return shared_pool(settings)


def kernel_pool_if_started() -> KernelPool | None:
    """The local kernel pool of the current settings if it is already running, else None
    (the sidebar asks this without starting kernels)."""
    from agent_core.interpreter.shared import started_pool  # noqa: PLC0415

    return started_pool(state.get_settings())


# --- the backend ---------------------------------------------------------------------------------
@st.cache_resource(show_spinner="Starting the agent backend...")
def _backend(settings: Settings) -> Backend:
    from agent_core.backends.factory import make_backend  # noqa: PLC0415

    pool = kernel_pool(settings) if needs_kernel_pool(settings) else None
    backend = make_backend(settings, pool=pool)
    _STARTED["backend", settings] = backend
    return backend


class _Lease:
    """Held per browser session; releasing it stops that session's kernel."""

    def __init__(self, backend: Backend, session_id: str) -> None:
        self.backend, self.session_id = backend, session_id

    def release(self) -> None:
        try:
            self.backend.reset_session(self.session_id)
        except Exception:  # noqa: BLE001 - outer edge: cleanup must never break a disconnect
            log.warning("could not reset session %s on release", self.session_id)


@st.cache_resource(scope="session", on_release=lambda lease: lease.release(), show_spinner=False)
def _lease(_backend_obj: Backend, session_id: str) -> _Lease:
    return _Lease(_backend_obj, session_id)


def get_backend(settings: Settings | None = None) -> Backend:
    """The backend for ``settings`` (default: the session's; built once), with this
    browser session leased."""
    backend = _backend(settings or state.get_settings())
    with contextlib.suppress(Exception):  # noqa: BLE001 - outer edge: no session context (a bare script); nothing to lease
        _lease(backend, state.get_agent_session().session_id)
    return backend


def local_settings() -> Settings:
    """The current settings with the local agent as backend (the code editor runs there)."""
    return dataclasses.replace(state.get_settings(), backend="local")


def get_local_backend() -> Backend:
    """The local agent (its kernel pool shared with the app), whatever backend is active."""
    return get_backend(local_settings())


def backend_error() -> str | None:
    """Why the backend cannot be built, in words, or None when it can."""
    from agent_core.config import missing_for_backend  # noqa: PLC0415

    missing = missing_for_backend(state.get_settings())
    if missing:
        return ("The backend needs these settings: " + "; ".join(missing)
                + ". Set them as environment variables or in .streamlit/secrets.toml under [agent].")
    return None


def reset_started_session(session_id: str) -> None:
    """Stop ``session_id``'s kernel / interpreter session if the backend was ever built
    (none built: nothing ran, nothing to stop)."""
    backend = _STARTED.get(("backend", state.get_settings()))
    if backend is None:
        return
    try:
        backend.reset_session(session_id)
    except Exception:  # noqa: BLE001 - outer edge: a backend's cleanup; a new session id still helps
        log.info("reset_session failed for the old session", exc_info=False)


# --- the run store (optional: the app works without it) -------------------------------------------
@st.cache_resource(show_spinner=False)
def _run_store(home: str) -> RunStore:
    from agent_core.store import RunStore  # noqa: PLC0415

    return RunStore(home)


def get_run_store() -> RunStore | None:
    """The run store for the current home, or None when it is unavailable."""
    try:
        return _run_store(str(state.get_settings().home))
    except Exception:  # noqa: BLE001 - outer edge: history is a bonus; a run must not depend on it
        log.warning("run store unavailable", exc_info=False)
        return None


def run_options(settings: Settings | None = None) -> dict[str, Any]:
    """What ``agent_core.run.start`` needs besides the request and the backend: the store
    to record into, the (public) settings, the retention limit, and the user the run
    belongs to (None on a single-user install)."""
    from components.identity import current_user  # noqa: PLC0415

    s = settings or state.get_settings()
    return {"store": get_run_store(), "settings": s, "backend_name": s.backend,
            "retention_bytes": s.retention_mb * 1024 * 1024,
            "retention_keep_runs": s.retention_keep_runs, "owner": current_user(s)}
