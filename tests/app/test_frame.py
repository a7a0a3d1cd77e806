"""The app frame through AppTest: navigation, welcome, sidebar, session id, new session, secrets."""
from __future__ import annotations

import pytest

from streamlit.testing.v1 import AppTest

from tests.app.conftest import APP, RUN_TIMEOUT, new_app

SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"


def all_text(at) -> str:
    """Every piece of text the app shows (main and sidebar)."""
    parts = []
    for kind in ("markdown", "caption", "code", "text", "info", "warning", "error", "success",
                 "title", "subheader"):
        parts += [str(getattr(e, "value", "")) for e in getattr(at, kind)]
    parts += [str(x.value) for x in at.text_input]
    return "\n".join(parts)


def test_entry_script_shows_welcome_navigation_and_sidebar_on_first_run(local_env):
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception, at.exception
    text = all_text(at)
    assert "Welcome to Agent Desk" in text and "Local agent" in text
    assert at.title[0].value == "Analysis"  # the default page
    assert at.session_state["session_id"] in [c.value for c in at.sidebar.code]
    assert at.sidebar.toggle  # trace / code toggles


def test_welcome_names_the_backend_and_sample_button_attaches_synthetic_prices(local_env):
    at = new_app("app_pages/synthetic_data.py")
    text = all_text(at)
    assert "Welcome to Agent Desk" in text
    assert "Local agent" in text and "AGENT_BACKEND=bedrock" in text  # how to switch
    at.button(key="welcome_sample").click().run()
    assert not at.exception, at.exception
    session = at.session_state["agent_session"]
    assert [f.name for f in session.attachments] == ["sample_prices.csv"]
    assert session.attachments[0].data.startswith(b"date,")
    assert at.title[0].value == "Analysis"  # the sample button opens Analysis
    assert "Welcome to Agent Desk" not in all_text(at)  # shown once
    assert "sample_prices.csv" in " ".join(c.value for c in at.sidebar.caption)
    # detach from the sidebar
    at.sidebar.button(key="detach_sample_prices.csv").click().run()
    assert at.session_state["agent_session"].attachments == ()


def test_welcome_goes_once_a_file_is_attached_another_way(local_env):
    """An analyst who attached a file (Upload page, or Analysis's own button) no longer sees
    the first-visit welcome above the chat (the done-when screenshots showed it there)."""
    at = new_app("app_pages/analysis.py")
    assert "Welcome to Agent Desk" in all_text(at)
    at.button(key="analysis_sample").click().run()
    assert not at.exception, at.exception
    assert at.session_state["agent_session"].attachments
    assert "Welcome to Agent Desk" not in all_text(at)


def test_session_id_is_kept_across_reruns_and_pages(local_env):
    at = new_app()
    sid = at.session_state["session_id"]
    assert sid.startswith("desk-")
    at.run()
    at.switch_page("app_pages/synthetic_data.py").run()
    assert not at.exception
    at.switch_page("app_pages/analysis.py").run()
    assert at.session_state["session_id"] == sid
    assert at.session_state["agent_session"].session_id == sid


@pytest.mark.timeout(120)
def test_new_session_gives_a_new_id_clears_chat_and_files_and_ends_the_old_one(bedrock_env):
    at = new_app("app_pages/analysis.py")
    at.button(key="analysis_sample").click().run()
    old = at.session_state["session_id"]
    at.chat_input[0].set_value("chart").run(timeout=RUN_TIMEOUT)
    assert len(at.session_state["chat"]) == 1
    assert old in [c.value for c in at.sidebar.code]
    at.sidebar.button(key="confirm_new_session").click().run()
    assert not at.exception, at.exception
    new = at.session_state["session_id"]
    assert new != old and at.session_state["agent_session"].session_id == new
    assert at.session_state["chat"] == [] and at.session_state["agent_session"].attachments == ()
    assert new in [c.value for c in at.sidebar.code]
    assert not at.chat_message  # the old conversation is gone from the page
    # the old Bedrock session was ended (endSession=True), so its interpreter is freed
    ended = [r for r in bedrock_env.requests if r.body.get("endSession")]
    assert ended and f"/sessions/{old}/" in ended[-1].path


def test_sidebar_shows_settings_never_credentials(bedrock_env, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SECRET + "TOKEN")
    at = new_app("app_pages/synthetic_data.py")
    text = all_text(at)
    assert "Amazon Bedrock Agent" in text and "AGENT123" in text and "ALIAS123" in text
    assert SECRET not in text and "testing" not in text
    memory = at.sidebar.text_input(key="sidebar_memory_id")
    memory.set_value("mem-1").run()
    assert at.session_state["agent_session"].memory_id == "mem-1"


def test_secrets_agent_table_configures_the_backend_and_keys_are_ignored(bedrock_server):
    at = AppTest.from_file(APP, default_timeout=30)
    at.secrets["agent"] = {"AGENT_BACKEND": "bedrock", "BEDROCK_AGENT_ID": "FROMSECRETS",
                           "BEDROCK_AGENT_ALIAS_ID": "ALIASX",
                           "aws_secret_access_key": SECRET}
    at.run()
    assert not at.exception
    settings = at.session_state["settings"]
    assert settings.backend == "bedrock" and settings.agent_id == "FROMSECRETS"
    text = all_text(at)
    assert "FROMSECRETS" in text and SECRET not in text


def test_bad_setting_is_explained_and_the_app_still_starts(monkeypatch):
    monkeypatch.setenv("AGENT_BACKEND", "nonsense")
    at = new_app()
    assert any("nonsense" in e.value and "local" in e.value for e in at.error)
    assert at.session_state["settings"].backend == "local"


def test_missing_bedrock_ids_are_named(monkeypatch):
    monkeypatch.setenv("AGENT_BACKEND", "bedrock")
    at = new_app("app_pages/analysis.py")
    assert any("BEDROCK_AGENT_ID" in w.value for w in at.warning)
