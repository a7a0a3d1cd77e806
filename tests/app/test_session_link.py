"""The session in the URL (issue 13), through AppTest with a real run store on disk:
a link with a known session restores its chat, files and toggles; an unknown or malformed
one starts a new session with a one-line notice."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from agent_core.events import CodeInvocation, CodeOutput, FileReturned, TextChunk
from agent_core.files import AttachedFile, ReturnedFile
from agent_core.store import RunStore
from tests.app.conftest import APP

def _png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (31, 78, 156)).save(buf, format="PNG")
    return buf.getvalue()


PNG = _png()
PRICES = AttachedFile(name="prices.csv", media_type="text/csv", data=b"date,A\n2024-01-02,1\n")
SPARE = AttachedFile(name="spare.csv", media_type="text/csv", data=b"date,B\n2024-01-02,2\n")


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENT_BACKEND", "local")
    monkeypatch.setenv("AGENT_DESK_HOME", str(tmp_path))
    return tmp_path


def seed_session(home, sid: str = "desk-kept-1", turns: int = 2) -> str:
    store = RunStore(home)
    for i in range(turns):
        run = store.start_run(sid, f"question {i}", "local", attachments=[PRICES])
        for ev in (CodeInvocation(code=f"x{i} = {i}\nprint(x{i})", step_id=f"t{i}"),
                   CodeOutput(text=f"{i}\n", step_id=f"t{i}"),
                   FileReturned(file=ReturnedFile(name=f"chart{i}.png", declared_type="image/png",
                                                  data=PNG)),
                   TextChunk(text=f"answer number {i}")):
            store.append_event(run, ev)
        store.finish_run(run, "completed")
    store.save_session_state(sid, "local", settings={"show_code": False, "enable_trace": True},
                             attached=[PRICES], uploaded=[PRICES, SPARE])
    store.close()
    return sid


def url_session(at: AppTest) -> str:
    value = at.query_params["session"]
    return value if isinstance(value, str) else value[-1]


def open_link(sid: str | None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    if sid is not None:
        at.query_params["session"] = sid
    at.run()  # the default page is Analysis
    assert not at.exception, at.exception
    return at


def test_a_link_restores_chat_files_and_toggles(home):
    sid = seed_session(home)
    at = open_link(sid)
    assert at.session_state["session_id"] == sid
    assert url_session(at) == sid
    markdown = [m.value for m in at.markdown]
    assert "answer number 0" in markdown and "answer number 1" in markdown
    assert [t.prompt for t in at.session_state["chat"]] == ["question 0", "question 1"]
    assert len(at.image) == 2  # each turn's returned chart is drawn again
    assert [f.name for f in at.session_state["agent_session"].attachments] == ["prices.csv"]
    assert set(at.session_state["upload_files"]) == {"prices.csv", "spare.csv"}
    assert at.session_state["show_code"] is False
    assert not any("Welcome to Agent Desk" in m.value for m in at.markdown)
    # no kernel runs this session in this process: the notice and the rebuild offer show once
    assert any("Python kernel of this session was restarted" in m.value for m in at.markdown)
    assert any(b.label == "Rebuild the kernel" for b in at.button)
    at.button(key="dismiss_kernel_notice").click().run()
    assert not any("Python kernel of this session" in m.value for m in at.markdown)


def test_changes_are_kept_for_the_next_link(home):
    sid = seed_session(home)
    at = open_link(sid)
    at.toggle(key="show_code").set_value(True).run()
    at.button(key="detach_prices.csv").click().run()
    assert not at.exception
    kept = RunStore(home).session_state(sid)
    assert kept is not None and kept.attached == () and kept.settings["show_code"] is True


@pytest.mark.parametrize("wanted", ["desk-nobody-here", "bad id/../x"])
def test_unknown_or_malformed_link_gets_a_new_session_and_one_line(home, wanted):
    seed_session(home)
    at = open_link(wanted)
    sid = at.session_state["session_id"]
    assert sid != wanted and url_session(at) == sid
    notes = [i.value for i in at.info if "a new session was started" in i.value]
    assert len(notes) == 1 and ("not found" in notes[0] or "not a valid" in notes[0])
    assert at.session_state["chat"] == []
    at.run()  # said once
    assert not any("a new session was started" in i.value for i in at.info)


def test_no_link_gets_a_new_session_in_the_url(home):
    at = open_link(None)
    assert url_session(at) == at.session_state["session_id"]


def test_a_run_still_going_elsewhere_is_followed_read_only_then_joins_the_chat(home):
    """Issue 16: a restored session whose run another replica is still writing shows that
    run's steps so far, read-only; a new request works meanwhile; once the run ends it joins
    the chat like any other turn."""
    from tests.app.conftest import RUN_TIMEOUT

    sid = seed_session(home, turns=1)
    store = RunStore(home)
    going = store.start_run(sid, "the long one", "local", attachments=[PRICES])
    store.append_event(going, CodeInvocation(code="import time\ntime.sleep(600)", step_id="s1"))
    store.append_event(going, CodeOutput(text="halfway there\n", step_id="s1"))
    at = open_link(sid)
    text = [m.value for m in at.markdown] + [c.value for c in at.caption]
    assert any("Running on another replica" in t for t in text), text
    assert any("halfway there" in c.value for c in at.code), [c.value for c in at.code]
    assert [t.prompt for t in at.session_state["chat"]] == ["question 0"]  # not a finished turn
    assert at.session_state["session_runs_elsewhere"] == [going]

    at.chat_input[0].set_value("run this code:\n```python\nprint('meanwhile', 6 * 7)\n```"
                               ).run(timeout=RUN_TIMEOUT)
    assert not at.exception, at.exception
    assert any("meanwhile 42" in c.value for c in at.code)
    assert [t.prompt for t in at.session_state["chat"]][0] == "question 0"

    store.append_event(going, TextChunk(text="the long one is done"))
    store.finish_run(going, "completed")
    store.close()
    at.run()
    assert not at.exception, at.exception
    text = [m.value for m in at.markdown] + [c.value for c in at.caption]
    assert not any("Running on another replica" in t for t in text)
    assert "the long one" in [t.prompt for t in at.session_state["chat"]]
    assert "the long one is done" in [m.value for m in at.markdown]
    assert not at.session_state["session_runs_elsewhere"]
