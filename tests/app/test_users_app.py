"""Per-user history through AppTest (issue 16), with st.login configured (an ``[auth]`` table)
and the user seeded as st.user, over a real run store on disk: History lists only the
user's own runs, another user's session link gets the "not yours" page with nothing of
that session in it, the owner's own link restores, and nobody logged in sees a login page."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from agent_core.events import CodeInvocation, TextChunk
from agent_core.store import RunStore
from tests.app.conftest import new_app, APP, rendered_text

HISTORY = "app_pages/history.py"
ANN, BOB = "ann@example.com", "bob@example.com"
ANN_SID, BOB_SID = "desk-ann-1", "desk-bob-1"
ANN_PROMPT, BOB_PROMPT = "Ann's private margin analysis", "Bob's volatility chart"
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "c" * 32,
        "client_id": "agent-desk", "client_secret": "not-a-real-secret",
        "server_metadata_url": "https://idp.invalid/.well-known/openid-configuration"}


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENT_BACKEND", "local")
    monkeypatch.setenv("AGENT_DESK_HOME", str(tmp_path))
    store = RunStore(tmp_path)
    for sid, prompt, owner in ((ANN_SID, ANN_PROMPT, ANN), (BOB_SID, BOB_PROMPT, BOB)):
        run = store.start_run(sid, prompt, "local", owner=owner)
        store.append_event(run, CodeInvocation(code=f"# code of {prompt}", step_id="t1"))
        store.append_event(run, TextChunk(text=f"the answer to {prompt}"))
        store.finish_run(run, "completed")
    store.close()
    return tmp_path


def app_as(email: str | None, *, session: str | None = None, page: str | None = None) -> AppTest:
    def prepare(at: AppTest) -> None:
        at.secrets["auth"] = AUTH
        at.user = {"is_logged_in": True, "email": email} if email else {"is_logged_in": False}
        if session is not None:
            at.query_params["session"] = session

    return new_app(page, prepare=prepare, timeout=60)


def _runs_listed(at: AppTest) -> list[str]:
    [chooser] = [s for s in at.selectbox if s.label == "Open a run"]
    return list(chooser.options)


def test_history_lists_only_the_users_own_runs(home):
    bob = app_as(BOB, page=HISTORY)
    listed = _runs_listed(bob)
    assert len(listed) == 1 and BOB_PROMPT in listed[0]
    assert ANN_PROMPT not in rendered_text(bob) and ANN_SID not in rendered_text(bob)
    [sessions] = [s for s in bob.selectbox if s.label == "Session"]
    assert list(sessions.options) == ["All", BOB_SID]
    assert any(c.value.startswith(f"Signed in as **{BOB}**") for c in bob.caption)

    ann = app_as(ANN, page=HISTORY)
    assert [ANN_PROMPT in o for o in _runs_listed(ann)] == [True]
    assert BOB_PROMPT not in rendered_text(ann)


def test_another_users_session_link_gets_the_not_yours_page(home):
    bob = app_as(BOB, session=ANN_SID)
    assert [t.value for t in bob.title] == ["This session belongs to another user"]
    page = rendered_text(bob)
    assert ANN_PROMPT not in page and "the answer to" not in page and ANN not in page
    assert bob.session_state["session_id"] != ANN_SID and bob.session_state["chat"] == []
    assert bob.query_params["session"] in (ANN_SID, [ANN_SID])  # the link is left as it was
    # on to a session of his own: the app as usual, his own session in the link
    bob.button(key="not_yours_new").click().run()
    assert not bob.exception
    own = bob.session_state["session_id"]
    assert "This session belongs to another user" not in [t.value for t in bob.title]
    assert bob.query_params["session"] in (own, [own]) and own != ANN_SID
    # the store still says the session is Ann's, and holds nothing of Bob's in it
    store = RunStore(home)
    assert store.session_owner(ANN_SID) == ANN
    assert [r.prompt for r in store.list_runs(session=ANN_SID)] == [ANN_PROMPT]


def test_the_owner_opens_her_own_link(home):
    ann = app_as(ANN, session=ANN_SID)
    assert ann.session_state["session_id"] == ANN_SID
    assert [t.prompt for t in ann.session_state["chat"]] == [ANN_PROMPT]
    assert f"the answer to {ANN_PROMPT}" in [m.value for m in ann.markdown]


def test_nobody_logged_in_sees_only_a_login_page(home):
    at = app_as(None, session=ANN_SID)
    assert [b.label for b in at.button] == ["Log in"]
    page = rendered_text(at)
    assert ANN_PROMPT not in page and BOB_PROMPT not in page and "Open a run" not in page
