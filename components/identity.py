"""Who is using the app: the one job of this module.

1. ``st.login`` is configured (an ``[auth]`` table in ``.streamlit/secrets.toml``, OIDC):
   the user is ``st.user``'s email (else its ``sub``); not logged in yet, the page shows a
   login button and nothing else (:func:`require_login`).
2. Else, behind an authenticating proxy (oauth2-proxy, a cloud load balancer's OIDC): the
   header named by ``AGENT_DESK_USER_HEADER`` (default ``X-Forwarded-Email``), honoured ONLY
   when ``AGENT_DESK_TRUST_USER_HEADER=1``: anyone can send any header to an app reached
   without that proxy, so it is ignored unless the operator says the proxy sets it.
3. Else nobody in particular (``None``): the single-user install, where nothing is filtered
   and nothing is limited per user.

:func:`resolve` decides from plain data (tested without a browser); :func:`current` reads
Streamlit's context for it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import streamlit as st

from agent_core.config import Settings
from agent_core.safe_text import neutralise_markdown

MAX_NAME = 320  # the longest e-mail address


@dataclass(frozen=True)
class Identity:
    user: str | None             # None: single-user install, or not logged in yet
    source: str | None = None    # "login" (st.login) | "header" (trusted proxy header) | None
    needs_login: bool = False    # st.login is configured and the browser is not logged in


def clean_name(value: Any) -> str | None:
    """A user name as stored: trimmed, lower case (e-mail addresses compare that way), at
    most 320 characters, no control characters; None when nothing usable is left."""
    if not isinstance(value, str):
        return None
    name = value.strip().lower()
    if not name or len(name) > MAX_NAME or any(ord(c) < 32 or ord(c) == 127 for c in name):
        return None
    return name


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.strip().lower()
    for key, value in headers.items():
        if str(key).lower() == wanted:
            return value
    return None


def resolve(settings: Settings, *, login_configured: bool, user_info: Mapping[str, Any],
            headers: Mapping[str, str]) -> Identity:
    """The user from st.login's ``user_info``, else from a trusted header, else nobody."""
    if login_configured:
        if not user_info.get("is_logged_in"):
            return Identity(None, "login", needs_login=True)
        name = clean_name(user_info.get("email")) or clean_name(user_info.get("sub"))
        return Identity(name, "login", needs_login=name is None)
    if settings.trust_user_header:
        name = clean_name(_header(headers, settings.user_header))
        return Identity(name, "header") if name else Identity(None)
    return Identity(None)


def login_configured() -> bool:
    """Whether ``.streamlit/secrets.toml`` has an ``[auth]`` table (st.login's settings)."""
    try:
        return bool(st.secrets.get("auth"))
    except Exception:  # noqa: BLE001 - outer edge: a missing or broken secrets file means no login
        return False


def current(settings: Settings) -> Identity:
    """This browser session's user, read from Streamlit's context."""
    configured = login_configured()
    try:
        user_info: Mapping[str, Any] = st.user.to_dict() if configured else {}
    except Exception:  # noqa: BLE001 - outer edge: no script context (a bare script)
        user_info = {}
    headers: dict[str, str] = {}
    if settings.trust_user_header:
        try:  # the header exactly once: a second copy means something added one on the way
            values = st.context.headers.get_all(settings.user_header)
        except Exception:  # noqa: BLE001 - outer edge: no request (AppTest, a bare script)
            values = []
        if len(values) == 1:
            headers[settings.user_header] = values[0]
    return resolve(settings, login_configured=configured, user_info=user_info, headers=headers)


def current_user(settings: Settings) -> str | None:
    """The user name runs and sessions are recorded under, or None (single-user install)."""
    return current(settings).user


def require_login(settings: Settings) -> Identity:
    """With st.login configured and nobody logged in: a login page, then stop the script.
    Behind a trusted header that is missing: say so and stop (the proxy is bypassed or
    misconfigured; nothing of anyone's is shown). Otherwise the identity, page goes on."""
    who = current(settings)
    if who.needs_login:
        st.title("Agent Desk")
        st.info("Log in to see your own runs and sessions.", icon=":material/login:")
        st.button("Log in", type="primary", icon=":material/login:", on_click=st.login,
                  key="identity_login")
        st.stop()
    if settings.trust_user_header and who.user is None and not login_configured():
        st.title("Agent Desk")
        st.error(f"This app expects its users' identity from the proxy in front of it (header "
                 f"{settings.user_header}), and this request has none. Open the app through "
                 "the team's address, or ask its operator.", icon=":material/lock:")
        st.stop()
    return who


def render_user(who: Identity) -> None:
    """The sidebar line: who is logged in (and a logout button with st.login)."""
    if who.user is None:
        return
    st.caption(f"Signed in as **{neutralise_markdown(who.user)}**")
    if who.source == "login":
        st.button("Log out", key="identity_logout", icon=":material/logout:", on_click=st.logout)
