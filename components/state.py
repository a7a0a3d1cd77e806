"""The one place per-browser-session state is initialised and read.

``init_state()`` runs on every script run (``streamlit_app.py`` calls it). Slow
things live in ``st.cache_resource``: the backend (one per settings, shared), the
local kernel pool (shared; kernels inside it are keyed by the agent session id),
and a per-browser-session *lease* (``scope="session"``) whose release stops that
session's kernel when the browser tab goes away.
"""
from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st

from agent_core.config import Settings, SettingsError, load_settings, runs_code_here
from agent_core.files import AttachedFile
from agent_core.session import AgentSession

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_PRICES = ROOT / "assets" / "sample_prices.csv"

# session_state keys (one spelling, here)
K_SETTINGS = "settings"
K_SETTINGS_ERROR = "settings_error"
K_AGENT_SESSION = "agent_session"
K_SESSION_ID = "session_id"
K_CHAT = "chat"
K_ENABLE_TRACE = "enable_trace"
K_SHOW_CODE = "show_code"
K_WELCOMED = "welcome_dismissed"
K_PENDING_PROMPT = "pending_prompt"


@dataclass(frozen=True)
class Turn:
    """One chat turn: what was asked and everything the run gave back."""

    prompt: str
    result: Any  # agent_core.run.RunResult (kept loose so a partial result fits too)
    run_id: str | None = None
    backend: str | None = None


# --- settings ------------------------------------------------------------------
def _secrets_agent_table() -> dict[str, Any]:
    """The ``[agent]`` table of st.secrets, or {} when there is no secrets file."""
    try:
        table = st.secrets.get("agent")  # raises when no secrets.toml exists
    except Exception:  # noqa: BLE001 - a missing/invalid secrets file just means "none"
        return {}
    if not table:
        return {}
    return {k: v for k, v in dict(table).items()
            if k.lower() not in {"aws_access_key_id", "aws_secret_access_key", "aws_session_token"}}


def _load() -> tuple[Settings, str | None]:
    try:
        return load_settings(secrets=_secrets_agent_table()), None
    except SettingsError as exc:
        return load_settings(env={}, secrets={}), (
            f"{exc} Until that is fixed the app runs on the local backend.")


def init_state() -> None:
    """Initialise every per-browser-session key once; later runs keep what is there."""
    ss = st.session_state
    if K_SETTINGS not in ss:
        ss[K_SETTINGS], ss[K_SETTINGS_ERROR] = _load()
    if K_AGENT_SESSION not in ss:
        ss[K_AGENT_SESSION] = AgentSession.new()
    ss[K_SESSION_ID] = ss[K_AGENT_SESSION].session_id
    ss.setdefault(K_CHAT, [])
    ss.setdefault(K_ENABLE_TRACE, True)
    ss.setdefault(K_SHOW_CODE, True)
    ss.setdefault(K_WELCOMED, False)


def get_settings() -> Settings:
    init_state()
    return st.session_state[K_SETTINGS]


def settings_error() -> str | None:
    return st.session_state.get(K_SETTINGS_ERROR)


# --- agent session -----------------------------------------------------------------
def get_agent_session() -> AgentSession:
    init_state()
    return st.session_state[K_AGENT_SESSION]


def set_agent_session(session: AgentSession) -> None:
    st.session_state[K_AGENT_SESSION] = session
    st.session_state[K_SESSION_ID] = session.session_id


def attach_file(file: AttachedFile) -> None:
    """Attach (replacing one of the same name); raises AttachmentLimitError with advice."""
    set_agent_session(get_agent_session().attach(file))


def detach_file(name: str) -> None:
    set_agent_session(get_agent_session().detach(name))


def attach_sample_prices() -> str | None:
    """Attach the bundled synthetic sample (generated if missing); an error message or None."""
    try:
        from agent_core.sample_data import sample_bytes  # noqa: PLC0415

        data = sample_bytes()
    except Exception:  # noqa: BLE001 - fall back to the file itself
        try:
            data = SAMPLE_PRICES.read_bytes()
        except OSError:
            return ("The sample price file (assets/sample_prices.csv) is missing. "
                    "Upload your own price file on the Upload page instead.")
    attach_file(AttachedFile.from_bytes(SAMPLE_PRICES.name, data, media_type="text/csv"))
    return None


# --- chat history --------------------------------------------------------------------
def get_chat() -> list[Turn]:
    init_state()
    return st.session_state[K_CHAT]


def add_turn(turn: Turn) -> None:
    get_chat().append(turn)


def replace_last_turn(turn: Turn) -> None:
    chat = get_chat()
    if chat:
        chat[-1] = turn
    else:
        chat.append(turn)


# --- toggles ----------------------------------------------------------------------------
def enable_trace() -> bool:
    init_state()
    return bool(st.session_state[K_ENABLE_TRACE])


def show_code() -> bool:
    init_state()
    return bool(st.session_state[K_SHOW_CODE])


# --- backend -----------------------------------------------------------------------------
def _needs_kernel_pool(settings: Settings) -> bool:
    return runs_code_here(settings)


def _kernel_pool(settings: Settings):
    """The process-wide pool for these settings (kernels inside are per agent session):
    built by the launcher (app_server.py) at server start, so its warm kernel is ready
    before the first request; built here on first use when the app was started otherwise."""
    from agent_core.interpreter.shared import shared_pool  # noqa: PLC0415

    return shared_pool(settings)


def kernel_pool_if_started() -> Any:
    """The local kernel pool of the current settings if it is already running, else None
    (the sidebar asks this without starting kernels)."""
    from agent_core.interpreter.shared import started_pool  # noqa: PLC0415

    return started_pool(get_settings())


@st.cache_resource(show_spinner="Starting the agent backend...")
def _backend(settings: Settings):
    from agent_core.backends.factory import make_backend  # noqa: PLC0415

    params = inspect.signature(make_backend).parameters
    kwargs: dict[str, Any] = {}
    if _needs_kernel_pool(settings):
        for name in ("pool", "kernel_pool"):
            if name in params:
                kwargs[name] = _kernel_pool(settings)
                break
    backend = make_backend(settings, **kwargs)
    _BUILT_BACKENDS[settings] = backend
    return backend


_BUILT_BACKENDS: dict[Settings, Any] = {}


class _Lease:
    """Held per browser session; releasing it stops that session's kernel."""

    def __init__(self, backend: Any, session_id: str) -> None:
        self.backend, self.session_id = backend, session_id

    def release(self) -> None:
        try:
            self.backend.reset_session(self.session_id)
        except Exception:  # noqa: BLE001 - cleanup must never break a disconnect
            log.warning("could not reset session %s on release", self.session_id)


@st.cache_resource(scope="session", on_release=lambda lease: lease.release(), show_spinner=False)
def _lease(_backend_obj: Any, session_id: str) -> _Lease:
    return _Lease(_backend_obj, session_id)


def get_backend():
    """The backend for the current settings (built once), with this browser session leased."""
    settings = get_settings()
    backend = _backend(settings)
    try:
        _lease(backend, get_agent_session().session_id)
    except Exception:  # noqa: BLE001 - no session context (e.g. a bare script); nothing to lease
        pass
    return backend


def backend_error() -> str | None:
    """Why the backend cannot be built, in words, or None when it can."""
    from agent_core.config import missing_for_backend  # noqa: PLC0415

    missing = missing_for_backend(get_settings())
    if missing:
        return ("The backend needs these settings: " + "; ".join(missing)
                + ". Set them as environment variables or in .streamlit/secrets.toml under [agent].")
    return None


def new_session() -> AgentSession:
    """A fresh agent session: new id, old kernel/interpreter session reset, attachments
    and chat cleared. Returns the new session."""
    old = get_agent_session()
    try:
        backend = _BUILT_BACKENDS.get(get_settings())  # none built: nothing ran, nothing to stop
        if backend is not None:
            backend.reset_session(old.session_id)
    except Exception:  # noqa: BLE001 - the backend may not be buildable; a new id still helps
        log.info("reset_session failed for the old session", exc_info=False)
    fresh = AgentSession.new(memory_id=old.memory_id)
    set_agent_session(fresh)
    st.session_state[K_CHAT] = []
    return fresh


# --- run store (optional: the app works without it) ----------------------------------------------
@st.cache_resource(show_spinner=False)
def _run_store(home: str):
    from agent_core.store import RunStore  # noqa: PLC0415

    return RunStore(home)


def get_run_store():
    """The run store for the current home, or None when it is unavailable."""
    try:
        return _run_store(str(get_settings().home))
    except Exception:  # noqa: BLE001 - history is a bonus; a run must not depend on it
        log.warning("run store unavailable", exc_info=False)
        return None


class RunLog:
    """Writes one run's events to the store as they arrive; never breaks the run."""

    def __init__(self, prompt: str, *, attachments: tuple[AttachedFile, ...] = (),
                 parent_run_id: str | None = None) -> None:
        self.run_id: str | None = None
        self._store = get_run_store()
        self._failed = False
        if self._store is None:
            return
        s = get_settings()
        try:
            self.run_id = self._store.start_run(get_agent_session().session_id, prompt, s.backend,
                                                s, attachments, parent_run_id=parent_run_id)
        except Exception:  # noqa: BLE001
            self._store = None

    def add(self, event: Any) -> None:
        if self._store is None or self.run_id is None:
            return
        from agent_core.events import AgentFailure  # noqa: PLC0415

        self._failed = self._failed or isinstance(event, AgentFailure)
        try:
            self._store.append_event(self.run_id, event)
        except Exception:  # noqa: BLE001
            log.warning("could not store an event of run %s", self.run_id)

    def close(self, *, interrupted: bool = False) -> None:
        if self._store is None or self.run_id is None:
            return
        try:
            self._store.finish_run(self.run_id, "interrupted" if interrupted
                                   else "failed" if self._failed else "completed")
            # keep the store within AGENT_DESK_RETENTION_MB after every run (oldest go first)
            self._store.enforce_retention(get_settings().retention_mb * 1024 * 1024)
        except Exception:  # noqa: BLE001
            log.warning("could not finish run %s in the store", self.run_id)
