"""Small fixes, through AppTest: the New-session popover closes on confirm; the code editor is
monospace (issue 13); a damaged PNG and the restored chat (issue 12)."""
from __future__ import annotations

import pytest

from tests.app.conftest import new_app


def test_new_session_popover_closes_on_confirm(monkeypatch, tmp_path):
    monkeypatch.setenv("AGENT_BACKEND", "local")
    monkeypatch.setenv("AGENT_DESK_HOME", str(tmp_path))
    at = new_app()
    old = at.session_state["session_id"]
    at.session_state["new_session_popover"] = True  # the analyst opened it
    at.run()
    at.button(key="confirm_new_session").click().run()
    assert not at.exception
    assert at.session_state["session_id"] != old
    assert at.session_state["new_session_popover"] is False


# --- issue 12's UI leftovers ---------------------------------------------------------------------
BROKEN_PNG_CODE = ("run this code: ```\n"
                   "open('broken.png', 'wb').write(b'\\x89PNG\\r\\n\\x1a\\n' + bytes(40))\n"
                   "print('wrote it')\n```")


@pytest.mark.timeout(240)
def test_damaged_png_and_restored_chat_of_the_analysis_page_only(monkeypatch, tmp_path):
    """A returned PNG PIL cannot read shows a clear message (live and restored), never a
    traceback; a restored session's chat holds its Analysis turns, not its Synthetic-page runs."""
    from streamlit.testing.v1 import AppTest

    from agent_core.store import RunStore
    from tests.app.conftest import APP, RUN_TIMEOUT

    monkeypatch.setenv("AGENT_BACKEND", "local")
    monkeypatch.setenv("AGENT_DESK_HOME", str(tmp_path))
    at = new_app("app_pages/synthetic_data.py")
    at.number_input(key="syn_n").set_value(20)
    at.get("form_submit_button")[0].click().run(timeout=RUN_TIMEOUT)
    assert not at.exception, at.exception
    at.switch_page("app_pages/analysis.py").run()
    at.chat_input[0].set_value(BROKEN_PNG_CODE).run(timeout=RUN_TIMEOUT)
    assert not at.exception, at.exception
    assert [f.name for f in at.session_state["chat"][-1].result.files] == ["broken.png"]
    damaged = [w.value for w in at.warning if "cannot be drawn" in w.value]
    assert damaged and "broken.png" in damaged[0] and not at.image
    assert any(b.label.startswith("Download broken.png") for b in at.download_button)
    sid = at.session_state["session_id"]
    with RunStore(tmp_path) as store:  # both pages ran in this session
        pages = sorted(r.settings.get("page") for r in store.list_runs(session=sid))
    assert pages == ["analysis", "synthetic"]

    again = AppTest.from_file(APP, default_timeout=60)  # a refresh: the session from the link
    again.query_params["session"] = sid
    again.run()
    assert not again.exception, again.exception
    assert [t.prompt for t in again.session_state["chat"]] == [BROKEN_PNG_CODE]
    assert any("cannot be drawn" in w.value for w in again.warning)
