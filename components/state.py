"""Per-browser-session state: its keys (one spelling, here) and their accessors.

``init_state()`` runs on every script run (the frame calls it). Slow, shared things
(backend, kernel pool, run store) are built in :mod:`components.resources`; runs are
started and recorded by :mod:`agent_core.run`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from agent_core.config import Settings, SettingsError, load_settings
from agent_core.files import AttachedFile
from agent_core.run import RunResult
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
K_UPLOADED = "upload_files"  # name -> bytes: files on the Upload page, attached or not


@dataclass(frozen=True)
class Turn:
    """One chat turn: what was asked and everything the run gave back."""

    prompt: str
    result: RunResult  # complete, or what arrived before the run was stopped
    run_id: str | None = None
    backend: str | None = None
    outcome: str | None = None  # agent_core.run's outcome (``stopped`` when Stop was pressed)


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


def new_session() -> AgentSession:
    """A fresh agent session: new id, old kernel/interpreter session reset, attachments
    and chat cleared. Returns the new session."""
    from components.resources import reset_started_session  # noqa: PLC0415 - resources uses state

    old = get_agent_session()
    reset_started_session(old.session_id)
    fresh = AgentSession.new(memory_id=old.memory_id)
    set_agent_session(fresh)
    st.session_state[K_CHAT] = []
    return fresh
