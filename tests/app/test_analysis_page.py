"""Analysis page through AppTest: Bedrock (fake event-stream server) and the local agent."""
from __future__ import annotations

import pytest

from tests.app.conftest import RUN_TIMEOUT, expander, expander_labels, new_app
from tests.fakes.bedrock_server import CHART_ANSWER, CHART_CODE

SEED = ("Given the attached price data file, please make me a chart with moving average "
        "in red and actual data in blue")


def invocations(server):
    """The agent calls the fake saw (not the endSession calls of sessions being released)."""
    return [r for r in server.requests if not r.body.get("endSession")]


def ask(at, text: str):
    at.chat_input[0].set_value(text).run(timeout=RUN_TIMEOUT)
    assert not at.exception, at.exception
    return at


@pytest.mark.timeout(120)
def test_bedrock_chart_run_lands_in_expanders_and_survives_rerun(bedrock_env):
    bedrock_env.use("chart")
    at = ask(new_app("app_pages/analysis.py"), "Chart my prices")
    labels = expander_labels(at)
    for title in ("Rationale", "Generated code", "Code output", "Files generated"):
        assert f"Step 1 · {title}" in labels
    assert expander(at, "Generated code").code[0].value.strip() == CHART_CODE.strip()
    assert expander(at, "Generated code").code[0].language == "python"
    assert "saved chart.png" in expander(at, "Code output").code[0].value
    assert "20-day moving average" in expander(at, "Rationale").markdown[0].value
    markdown = [m.value for m in at.markdown]
    assert CHART_ANSWER in markdown  # the euro sign split across chunks is whole
    assert len(at.image) == 1 and len(at.dataframe) == 1
    names = [b.label for b in at.download_button]
    assert any(n.startswith("Download chart.png") for n in names)
    assert any(n.startswith("Download summary.csv") for n in names)
    assert at.status[0].label.startswith("Completed: 1 step")
    # the request carried this browser session's id
    sid = at.session_state["session_id"]
    assert f"/sessions/{sid}/" in invocations(bedrock_env)[0].path
    # nothing is lost on a rerun: the turn is re-rendered from the stored RunResult
    at.run()
    assert CHART_ANSWER in [m.value for m in at.markdown]
    assert expander(at, "Generated code").code[0].value.strip() == CHART_CODE.strip()
    assert len(at.image) == 1 and len(at.dataframe) == 1
    assert len(at.session_state["chat"]) == 1


@pytest.mark.timeout(120)
def test_bedrock_throttling_shows_error_keeps_partial_output_and_retry_works(bedrock_env):
    from tests.fakes.bedrock_server import scenario_chart, scenario_throttle

    bedrock_env.queue(scenario_throttle(), scenario_chart())
    at = ask(new_app("app_pages/analysis.py"), "Plot it")
    assert at.error, "the failure must show"
    assert "throttling" in at.error[0].value.lower()
    assert "Retry" in at.error[0].value
    # partial output stays: the rationale and the code that arrived before the failure
    assert expander(at, "Generated code").code[0].value == "print(1)"
    assert at.status[0].label.startswith("Failed after")
    retry = next(b for b in at.button if b.label == "Retry")
    retry.click().run(timeout=RUN_TIMEOUT)
    assert not at.exception
    assert len(invocations(bedrock_env)) == 2
    # the failed turn stays in the history, the retried one succeeded
    chat = at.session_state["chat"]
    assert [t.prompt for t in chat] == ["Plot it", "Plot it"]
    assert chat[0].result.failure is not None and chat[1].result.failure is None
    assert CHART_ANSWER in [m.value for m in at.markdown]


@pytest.mark.timeout(120)
def test_bedrock_access_denied_and_dropped_stream_say_what_to_do(bedrock_env):
    from tests.fakes.bedrock_server import scenario_denied, scenario_drop

    bedrock_env.queue(scenario_denied(), scenario_drop())
    at = ask(new_app("app_pages/analysis.py"), "first")
    assert "bedrock:InvokeAgent" in at.error[0].value  # says which permission is missing
    at = ask(at, "second")
    assert len(at.error) == 2
    assert "Partial answer" in [m.value for m in at.markdown]  # partial output kept
    assert "Retry" in [b.label for b in at.button]


@pytest.mark.timeout(120)
def test_bedrock_code_timeout_and_errors_are_expanded(bedrock_env):
    from tests.fakes.bedrock_server import scenario_retry

    bedrock_env.queue(scenario_retry())
    at = ask(new_app("app_pages/analysis.py"), "mean close")
    errors = expander(at, "Errors")
    assert errors.label == "Step 1 · Errors"
    assert "NameError" in errors.code[0].value
    assert errors.proto.expanded is True  # visible by default
    assert "Step 2 · Generated code" in expander_labels(at)
    assert "The mean close is 101.47." in [m.value for m in at.markdown]
    # a code run that hit the interpreter's time limit
    bedrock_env.use("timeout")
    at = ask(at, "loop forever")
    timeouts = [e for e in at.expander if e.label.endswith("Errors") and
                any("time limit" in c.value for c in e.code)]
    assert timeouts and timeouts[-1].proto.expanded is True


@pytest.mark.timeout(120)
def test_attached_file_goes_with_the_request(bedrock_env):
    at = new_app("app_pages/analysis.py")
    at.button(key="analysis_sample").click().run()
    assert at.session_state["agent_session"].attachments[0].name == "sample_prices.csv"
    at = ask(at, SEED)
    body = invocations(bedrock_env)[0].body
    files = body["sessionState"]["files"]
    assert files[0]["name"] == "sample_prices.csv"
    assert files[0]["useCase"] == "CODE_INTERPRETER"
    assert body["inputText"] == SEED


# --- the local agent (a real Jupyter kernel) ---------------------------------------------------
@pytest.mark.timeout(180)
def test_local_seed_prompt_gives_png_interactive_chart_and_code(local_shared):
    at = new_app("app_pages/analysis.py")
    at.button(key="analysis_sample").click().run()
    at = ask(at, SEED)
    assert not at.error, [e.value for e in at.error]
    code = expander(at, "Generated code").code[0]
    assert code.language == "python" and "rolling" in code.value and "sample_prices.csv" in code.value
    assert "Step 1 · Rationale" in expander_labels(at)
    pngs = [b.label for b in at.download_button if ".png" in b.label]
    assert pngs and len(at.image) >= 1
    # the PNG came back with its data: an interactive chart with its own MA window control
    charts = at.get("plotly_chart")
    assert charts, "no interactive chart beside the PNG"
    window = next(n for n in at.number_input if n.label.startswith("Moving-average window"))
    before = len(at.session_state["chat"])
    window.set_value(50).run()
    assert not at.exception
    import json

    names = [t.get("name") for c in at.get("plotly_chart") for t in json.loads(c.proto.spec)["data"]]
    assert any(n and n.endswith("MA 50") for n in names), names
    assert len(at.session_state["chat"]) == before  # changed here, without asking the agent


@pytest.mark.timeout(180)
def test_local_code_error_is_shown_expanded(local_shared):
    at = ask(new_app("app_pages/analysis.py"), "run this code: ```\nprint('before')\n1/0\n```")
    errors = expander(at, "Errors")
    assert errors.proto.expanded is True
    assert "ZeroDivisionError" in errors.code[0].value
    assert "before" in expander(at, "Code output").code[0].value


@pytest.mark.timeout(120)
def test_hostile_file_names_and_a_fake_png_are_handled(bedrock_env):
    bedrock_env.use("hostile")
    at = ask(new_app("app_pages/analysis.py"), "files please")
    names = [f.name for f in at.session_state["chat"][0].result.files]
    assert all("/" not in n and "\\" not in n and "\x00" not in n for n in names), names
    assert len(at.image) == 1  # only the real PNG; 'report.png' is text and is not drawn
    assert any("claims to be image/png" in w.value for w in at.warning)
    assert len(at.download_button) == 4


@pytest.mark.timeout(120)
def test_trace_toggle_and_memory_id_reach_the_request(bedrock_env):
    at = new_app("app_pages/analysis.py")
    at.sidebar.toggle(key="enable_trace").set_value(False).run()
    at.sidebar.text_input(key="sidebar_memory_id").set_value("mem-42").run()
    at = ask(at, "hello")
    body = invocations(bedrock_env)[0].body
    assert body["enableTrace"] is False and body["memoryId"] == "mem-42"
    assert not any(e.label.endswith("Rationale") for e in at.expander)  # steps hidden


@pytest.mark.timeout(180)
def test_code_of_a_turn_can_be_edited_and_rerun_locally_as_a_linked_run(local_shared):
    from agent_core.events import CodeOutput

    at = ask(new_app("app_pages/analysis.py"), "run this code: ```\nx = 20\nprint('x is', x)\n```")
    toggle = next(t for t in at.toggle if t.label.startswith("Edit and re-run"))
    toggle.set_value(True).run()
    src = next(a for a in at.text_area if a.label == "Code")
    assert "x = 20" in src.value
    src.set_value("x = 42\nprint('x is now', x)").run()
    next(b for b in at.button if b.label == "Run locally").click().run(timeout=RUN_TIMEOUT)
    assert not at.exception, at.exception
    shown = [c.value for e in at.expander if e.label.endswith("Code output") for c in e.code]
    assert any("x is now 42" in s for s in shown), shown
    # stored as a new run linked to the turn's run
    from agent_core.config import load_settings
    from agent_core.store import RunStore

    original = at.session_state["chat"][0].run_id
    store = RunStore(load_settings(secrets={}).home)
    reruns = store.list_runs(parent=original)
    assert len(reruns) == 1 and reruns[0].backend == "local"
    assert any("x is now 42" in e.text for e in store.run_events(reruns[0].id)
               if isinstance(e, CodeOutput))
