"""Who the user is (issue 16): st.login first, else a proxy header only when the operator
trusts it, else nobody (the single-user install, where nothing changes)."""
from __future__ import annotations

import pytest

from agent_core.config import SettingsError, load_settings
from components.identity import Identity, clean_name, resolve

TRUSTED = {"AGENT_DESK_TRUST_USER_HEADER": "1"}


def settings(**env: str):
    return load_settings(env=env, secrets={})


def test_no_identity_configured_means_nobody_and_a_header_alone_is_ignored():
    plain = settings()
    assert (plain.trust_user_header, plain.user_header) == (False, "X-Forwarded-Email")
    assert resolve(plain, login_configured=False, user_info={}, headers={}) == Identity(None)
    # anyone can send any header to an app not behind the proxy: untrusted, it means nothing
    forged = {"X-Forwarded-Email": "ceo@example.com"}
    assert resolve(plain, login_configured=False, user_info={}, headers=forged).user is None
    for off in ("0", "false", "no", ""):
        s = settings(AGENT_DESK_TRUST_USER_HEADER=off)
        assert resolve(s, login_configured=False, user_info={}, headers=forged).user is None


def test_trusted_header_names_the_user_case_insensitively_and_cleaned():
    s = settings(**TRUSTED)
    who = resolve(s, login_configured=False, user_info={}, headers={"x-forwarded-email": "  Ann@Example.COM "})
    assert who == Identity("ann@example.com", "header")
    other = settings(**TRUSTED, AGENT_DESK_USER_HEADER="X-Auth-Request-User")
    assert resolve(other, login_configured=False, user_info={},
                   headers={"X-Auth-Request-User": "bob"}).user == "bob"
    # the configured header only: another identity header is not read
    assert resolve(other, login_configured=False, user_info={},
                   headers={"X-Forwarded-Email": "ann@example.com"}).user is None


@pytest.mark.parametrize("value", ["", "   ", "ann\r\nX-Admin: 1", "a\x00b", "x" * 321, None])
def test_unusable_header_values_name_nobody(value):
    headers = {} if value is None else {"X-Forwarded-Email": value}
    assert resolve(settings(**TRUSTED), login_configured=False, user_info={}, headers=headers).user is None
    assert clean_name(value) is None


def test_st_login_wins_over_the_header_and_asks_for_a_login_first():
    s = settings(**TRUSTED)
    header = {"X-Forwarded-Email": "mallory@example.com"}
    out = resolve(s, login_configured=True, user_info={"is_logged_in": False}, headers=header)
    assert out == Identity(None, "login", needs_login=True)
    logged = resolve(s, login_configured=True, headers=header,
                     user_info={"is_logged_in": True, "email": "Ann@example.com", "sub": "123"})
    assert logged == Identity("ann@example.com", "login")
    no_email = resolve(s, login_configured=True, headers={},
                       user_info={"is_logged_in": True, "sub": "google-oauth2|42"})
    assert no_email.user == "google-oauth2|42"
    nameless = resolve(s, login_configured=True, headers={}, user_info={"is_logged_in": True})
    assert nameless.user is None and nameless.needs_login


def test_limit_settings_read_and_checked():
    s = settings(AGENT_DESK_MAX_RUNS_PER_USER="3", AGENT_DESK_MAX_KERNELS_PER_USER="0")
    assert (s.max_runs_per_user, s.max_kernels_per_user) == (3, 0)
    assert (settings().max_runs_per_user, settings().max_kernels_per_user) == (2, 2)
    with pytest.raises(SettingsError, match="AGENT_DESK_MAX_RUNS_PER_USER"):
        settings(AGENT_DESK_MAX_RUNS_PER_USER="-1")
    with pytest.raises(SettingsError, match="AGENT_DESK_USER_HEADER"):
        settings(**TRUSTED, AGENT_DESK_USER_HEADER=" ")
    secrets = load_settings(env={}, secrets={"AGENT_DESK_TRUST_USER_HEADER": True,
                                             "AGENT_DESK_USER_HEADER": "X-User"})
    assert secrets.trust_user_header and secrets.user_header == "X-User"
