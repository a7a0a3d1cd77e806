"""History page through AppTest: a run made on Analysis survives a "refresh" (a new AppTest
session), replays with the same expanders and file views, filters, deletes, continues."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from agent_core.events import (
    CodeInvocation, CodeOutput, FileReturned, FinalResponse, Rationale, TextChunk, Usage,
)
from agent_core.files import AttachedFile, ReturnedFile
from agent_core.store import RunStore
from tests.app.conftest import RUN_TIMEOUT, expander, expander_labels, new_app
from tests.fakes.bedrock_server import CHART_ANSWER, CHART_CODE, make_png

ROOT = Path(__file__).resolve().parents[2]
HISTORY = "app_pages/history.py"


def history_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / HISTORY), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    return at


def by_label(elements, label: str):
    for e in elements:
        if e.label == label:
            return e
    raise AssertionError(f"no element '{label}' in {[e.label for e in elements]}")


@pytest.mark.timeout(180)
def test_run_made_on_analysis_is_on_history_after_refresh_with_its_files(bedrock_env):
    bedrock_env.use("chart")
    at = new_app("app_pages/analysis.py")
    at.chat_input[0].set_value("Chart my prices").run(timeout=RUN_TIMEOUT)
    assert not at.exception, at.exception
    sid = at.session_state["session_id"]

    fresh = new_app(HISTORY)  # a new browser session: nothing in its session state
    assert fresh.session_state["session_id"] != sid
    assert fresh.title[0].value == "History"
    runs = by_label(fresh.selectbox, "Open a run")
    assert len(runs.options) == 1 and "Chart my prices" in runs.options[0]
    labels = expander_labels(fresh)
    for title in ("Rationale", "Generated code", "Code output", "Files generated"):
        assert f"Step 1 · {title}" in labels
    assert expander(fresh, "Generated code").code[0].value.strip() == CHART_CODE.strip()
    assert CHART_ANSWER in [m.value for m in fresh.markdown]
    assert len(fresh.image) == 1 and len(fresh.dataframe) >= 2  # chart + summary.csv (+ run list)
    downloads = [b.label for b in fresh.download_button]
    assert any(d.startswith("Download chart.png") for d in downloads)
    assert {"Notebook (.ipynb)", "Files + events (.zip)"} <= set(downloads)
    metrics = {m.label: m.value for m in fresh.metric}
    assert metrics["Tokens in"] == "1,200" and metrics["Tokens out"] == "150"
    assert metrics["Outcome"] == "completed" and metrics["Duration"] != "—"
    # the settings stored with the run name the backend, never a credential
    store = RunStore(Path(os.environ["AGENT_DESK_HOME"]))
    run = store.list_runs()[0]
    assert run.session_id == sid and run.backend == "bedrock"
    assert "testing" not in repr(run.settings)  # the dummy AWS keys are not stored
    store.close()

    # an app restart: every cached resource (the store, the backend) is built again
    import streamlit as st

    st.cache_resource.clear()
    restarted = new_app(HISTORY)
    assert "Chart my prices" in by_label(restarted.selectbox, "Open a run").options[0]
    assert len(restarted.image) == 1
    assert {m.label: m.value for m in restarted.metric}["Outcome"] == "completed"


def _populate(home: Path) -> dict[str, str]:
    store = RunStore(home)
    csv = AttachedFile.from_bytes("prices.csv", b"date,close\n2024-01-01,1\n2024-01-02,2\n")
    a = store.start_run("sess-one", "Moving average chart of SYNA", "local", attachments=[csv])
    for ev in (Rationale(text="Plot it.", step_id="s1"),
               CodeInvocation(code="print('hello from the past')", step_id="s1"),
               CodeOutput(text="hello from the past\n", step_id="s1"),
               FileReturned(file=ReturnedFile("chart.png", "image/png", make_png())),
               Usage(input_tokens=10, output_tokens=2),
               TextChunk(text="Here is your chart.")):
        store.append_event(a, ev)
    store.finish_run(a, "completed")
    b = store.start_run("sess-two", "Volatility of SYNB", "bedrock")
    store.append_event(b, FinalResponse(text="Vol is 20%."))
    store.finish_run(b, "failed")
    c = store.start_run("sess-one", "Drawdown please", "local")
    store.append_event(c, TextChunk(text="partial"))
    store.finish_run(c, "interrupted")
    store.close()
    return {"a": a, "b": b, "c": c}


@pytest.mark.timeout(120)
def test_filters_replay_and_interrupted_note(_isolated_home):
    ids = _populate(_isolated_home)
    at = history_page()
    runs = by_label(at.selectbox, "Open a run")
    assert len(runs.options) == 3
    assert runs.value == ids["c"] and "Drawdown please" in runs.options[0]  # newest first, opened
    assert any("interrupted" in i.value for i in at.info)
    by_label(at.text_input, "Search prompts").set_value("volatility").run()
    runs = by_label(at.selectbox, "Open a run")
    assert len(runs.options) == 1 and runs.value == ids["b"] and "Volatility of SYNB" in runs.options[0]
    by_label(at.text_input, "Search prompts").set_value("").run()
    by_label(at.selectbox, "Backend").set_value("local").run()
    assert len(by_label(at.selectbox, "Open a run").options) == 2
    by_label(at.selectbox, "Outcome").set_value("completed").run()
    runs = by_label(at.selectbox, "Open a run")
    assert len(runs.options) == 1 and runs.value == ids["a"]
    assert expander(at, "Code output").code[0].value.strip() == "hello from the past"
    assert len(at.image) == 1
    assert any("prices.csv" in c.value for c in at.caption)
    assert {m.label: m.value for m in at.metric}["Tokens in"] == "10"


@pytest.mark.timeout(120)
def test_delete_run_and_session_ask_first(_isolated_home):
    ids = _populate(_isolated_home)
    at = history_page()
    by_label(at.button, "Delete run").click().run()
    assert any("cannot be undone" in w.value for w in at.warning)
    by_label(at.button, "Cancel").click().run()
    assert len(by_label(at.selectbox, "Open a run").options) == 3
    by_label(at.button, "Delete run").click().run()
    by_label(at.button, "Yes, delete").click().run()
    assert not at.exception, at.exception
    assert len(by_label(at.selectbox, "Open a run").options) == 2
    store = RunStore(_isolated_home)
    assert ids["c"] not in [r.id for r in store.list_runs()]
    by_label(at.selectbox, "Session").set_value("sess-one").run()
    by_label(at.button, "Delete session").click().run()
    assert any("1 run(s)" in w.value for w in at.warning)
    by_label(at.button, "Yes, delete").click().run()
    assert [r.id for r in store.list_runs()] == [ids["b"]]
    assert any("deleted" in s.value for s in at.success)


@pytest.mark.timeout(120)
def test_continue_this_session_restores_id_files_and_chat(_isolated_home):
    ids = _populate(_isolated_home)
    at = history_page()
    by_label(at.selectbox, "Open a run").set_value(ids["a"]).run()
    by_label(at.button, "Continue this session").click().run()
    assert not at.exception, at.exception
    session = at.session_state["agent_session"]
    assert session.session_id == "sess-one" == at.session_state["session_id"]
    assert [f.name for f in session.attachments] == ["prices.csv"]
    assert session.attachments[0].data.startswith(b"date,close")
    chat = at.session_state["chat"]
    assert [t.prompt for t in chat] == ["Moving average chart of SYNA", "Drawdown please"]
    assert chat[0].result.files[0].name == "chart.png"
    assert any("current session again" in s.value for s in at.success)


def test_empty_store_says_what_to_do():
    at = history_page()
    assert any("No runs yet" in i.value for i in at.info)


def test_rerun_prompt_keeps_code_whole():
    from components.code_editor import rerun_prompt

    assert rerun_prompt("print(1)\n") == "run this code:\n```python\nprint(1)\n```"
    tricky = 'doc = """\n```\nnot the end\n```\n"""\nprint(doc)'
    text = rerun_prompt(tricky)
    assert text.startswith("run this code:\n````python\n") and text.endswith("\n````")
    assert tricky in text


@pytest.mark.timeout(240)
def test_edit_and_rerun_runs_in_local_kernel_and_is_stored_linked(_isolated_home, local_env):
    store = RunStore(_isolated_home)
    csv = AttachedFile.from_bytes("prices.csv", b"date,close\n2024-01-01,1\n2024-01-02,2\n")
    original = store.start_run("sess-remote", "Read the file", "bedrock", attachments=[csv])
    store.append_event(original, CodeInvocation(code="print(open('prices.csv').readline())"))
    store.append_event(original, CodeOutput(text="date,close"))
    store.finish_run(original, "completed")

    at = history_page()
    by_label(at.toggle, "Edit and re-run").set_value(True).run()
    edited = "rows = open('prices.csv').read().splitlines()\nprint('edited:', rows[2])"
    by_label(at.text_area, "Code").set_value(edited).run()
    by_label(at.button, "Run locally").click().run(timeout=RUN_TIMEOUT)
    assert not at.exception, at.exception

    reruns = store.list_runs(parent=original)
    assert len(reruns) == 1
    rerun = reruns[0]
    assert rerun.backend == "local" and rerun.outcome == "completed"
    assert rerun.session_id == "sess-remote" and edited in rerun.prompt
    outputs = [e.text for e in store.run_events(rerun.id) if isinstance(e, CodeOutput)]
    assert any("edited: 2024-01-02,2" in o for o in outputs), outputs
    assert [f.name for f in store.attached_files(rerun.id)] == ["prices.csv"]
    shown = [c.value for e in at.expander if e.label.endswith("Code output") for c in e.code]
    assert any("edited: 2024-01-02,2" in s for s in shown), shown
    # after a rerun of the page the result is replayed from the store, with its link
    at.run()
    assert any(rerun.id in c.value for c in at.caption)


@pytest.mark.timeout(120)
def test_retention_is_enforced_after_every_run(bedrock_env, _isolated_home, monkeypatch):
    """AGENT_DESK_RETENTION_MB bounds the store after each run: the oldest runs go first,
    the new one and the newest runs of each session stay."""
    store = RunStore(_isolated_home)
    for i in range(4):
        old = store.start_run("sess-old", f"old run {i}", "bedrock")
        store.append_event(old, FileReturned(file=ReturnedFile(f"big{i}.bin", "application/octet-stream",
                                                               os.urandom(300 * 1024))))
        store.finish_run(old, "completed")
    monkeypatch.setenv("AGENT_DESK_RETENTION_MB", "1")
    monkeypatch.setenv("AGENT_DESK_RETENTION_KEEP_RUNS", "2")
    bedrock_env.use("chart")
    at = new_app("app_pages/analysis.py")
    at.chat_input[0].set_value("Plot it").run(timeout=RUN_TIMEOUT)
    assert not at.exception, at.exception
    remaining = [r.prompt for r in RunStore(_isolated_home).list_runs()]
    assert remaining[:3] == ["Plot it", "old run 3", "old run 2"] and "old run 0" not in remaining
    assert RunStore(_isolated_home).space_used().total <= 1024 * 1024


def test_edited_code_travels_as_a_typed_task_not_a_parsed_prompt():
    from agent_core.planner import Plan, RunCode, plan_task
    from components.code_editor import edited_code_request

    code = 'print("run this code: ```x```")  # prose that a regex would misread'
    request = edited_code_request(code, session_id="sess-1")
    assert request.task == RunCode(code)
    plan = plan_task(request.task)
    assert isinstance(plan, Plan) and plan.code == code
