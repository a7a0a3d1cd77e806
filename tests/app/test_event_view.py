"""EventRouter and file_view with real Streamlit elements (AppTest.from_function)."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.fakes.bedrock_server import SUMMARY_CSV, make_png


def _events_app(show_code: bool = True, show_trace: bool = True, max_steps: int = 12,
                mode: str = "live", many: int = 0):
    import streamlit as st

    from agent_core.events import (
        AgentFailure, CodeError, CodeInvocation, CodeOutput, CodeTimeout, FileReturned,
        FilesGenerated, FinalResponse, GuardrailAction, PreProcessing, Rationale, TextChunk, UnknownEvent,
        Usage,
    )
    from agent_core.files import ReturnedFile
    from components.event_view import EventRouter, replay
    from tests.fakes.bedrock_server import SUMMARY_CSV, make_png

    events = [
        Rationale(text="Load the prices first.", step_id="s1", source="orchestration"),
        CodeInvocation(code="import pandas as pd\nprint(1)", step_id="s1"),
        CodeOutput(text="1", step_id="s1"),
        FilesGenerated(names=("chart.png",), step_id="s1"),
        Usage(input_tokens=10, output_tokens=5, step_id="s1"),
        GuardrailAction(action="NONE", details={"why": "fine"}, step_id="g1", source="guardrail"),
        Rationale(text="Fix the error.", step_id="s2"),
        CodeInvocation(code="1/0", step_id="s2"),
        CodeError(text="ZeroDivisionError: division by zero", step_id="s2"),
        CodeTimeout(step_id="s2"),
        UnknownEvent(raw={"futureEvent": {"x": 1}}),
        FileReturned(file=ReturnedFile("chart.png", "image/png", make_png())),
        FileReturned(file=ReturnedFile("chart.csv", "text/csv", SUMMARY_CSV)),
        FinalResponse(text="Done: the answer.", step_id="f"),
        TextChunk(text="Done: "),
        TextChunk(text="the answer."),
    ]
    for i in range(many):
        events.insert(0, Rationale(text=f"extra {i}", step_id=f"x{i}"))
    if mode == "clean":  # no failed code step: the run is done
        events = [e for e in events if e.step_id != "s2"]
    if mode == "failure":
        events = events[:3] + [AgentFailure(kind="throttling", message="Too many requests.",
                                            retryable=True)]
    if mode == "refused":  # pre-processing declined it (Bedrock, and the local agent's refusals)
        events = [PreProcessing(rationale="Needs world knowledge.", is_valid=False, step_id="p"),
                  TextChunk(text="I cannot do this here.")]
    parent = st.container()
    if mode in ("replay", "interrupted"):
        result = replay(parent, events, show_code=show_code, show_trace=show_trace,
                        max_visible_steps=max_steps, key="r",
                        outcome="interrupted" if mode == "interrupted" else None)
    else:
        router = EventRouter(parent, show_code=show_code, show_trace=show_trace,
                             max_visible_steps=max_steps, key="r")
        for e in events:
            router.add(e)
        result = router.finish()
    st.session_state["result"] = result


def run_events(**kwargs) -> AppTest:
    at = AppTest.from_function(_events_app, kwargs=kwargs, default_timeout=30).run()
    assert not at.exception, at.exception
    return at


def labels(at) -> list[str]:
    return [e.label for e in at.expander if e.label.startswith(("Step", "More"))]


def by_label(at, label: str):
    return next(e for e in at.expander if e.label == label)


def test_each_event_lands_in_its_steps_expander():
    at = run_events()
    assert labels(at)[:5] == ["Step 1 · Rationale", "Step 1 · Generated code",
                              "Step 1 · Code output", "Step 1 · Files generated",
                              "Step 2 · Trace details"]
    code = by_label(at, "Step 1 · Generated code").code[0]
    assert code.value == "import pandas as pd\nprint(1)" and code.language == "python"
    assert by_label(at, "Step 1 · Code output").code[0].value == "1"
    assert "chart.png" in by_label(at, "Step 1 · Files generated").markdown[0].value
    assert "GuardrailAction" in by_label(at, "Step 2 · Trace details").markdown[0].value
    errors = by_label(at, "Step 3 · Errors")
    assert errors.proto.expanded is True
    assert "ZeroDivisionError" in errors.code[0].value
    assert "time limit" in errors.code[1].value
    # an unknown event without a step joins the current step's trace details, not dropped
    assert "futureEvent" in by_label(at, "Step 3 · Trace details").markdown[0].value
    # the answer, once, from the chunks
    assert [m.value for m in at.markdown].count("Done: the answer.") == 1
    # the last code step failed (an error, then a time-out): never "Done" (issue 12)
    assert at.status[0].label.startswith("Completed with problems: 3 steps")
    # the status line says the run's outcome in History's and the CLI's words
    assert run_events(mode="clean").status[0].label.startswith("Completed: ")
    assert run_events(mode="refused").status[0].label.startswith("Refused: ")
    # a replay says the outcome the store recorded (an interrupted run is never "Completed")
    assert run_events(mode="interrupted", many=0).status[0].label.startswith("Interrupted after ")
    assert "Tokens: 10 in, 5 out" in [c.value for c in at.caption]
    result = at.session_state["result"]
    assert result.text == "Done: the answer." and len(result.files) == 2
    assert len(result.events) == 16


def test_replay_renders_the_same_labels_as_a_live_run():
    live, again = run_events(), run_events(mode="replay")
    assert labels(live) == labels(again)
    assert by_label(again, "Step 1 · Generated code").code[0].value.startswith("import pandas")
    assert again.status[0].label.startswith("Completed with problems: 3 steps")


def test_toggles_hide_code_and_trace_but_never_errors():
    at = run_events(show_code=False)
    assert not any(label.endswith("Generated code") for label in labels(at))
    assert "Step 1 · Rationale" in labels(at)
    at = run_events(show_trace=False)
    assert labels(at) == ["Step 1 · Generated code", "Step 3 · Generated code", "Step 3 · Errors"]


def test_steps_past_the_limit_go_into_one_more_steps_expander():
    at = run_events(many=4, max_steps=3)
    more = by_label(at, "More steps")
    inner = [e.label for e in more.expander]
    assert "Step 4 · Rationale" in inner and "Step 7 · Generated code" in inner
    assert "Step 1 · Rationale" in labels(at)


def test_failure_shows_error_keeps_partial_output():
    at = run_events(mode="failure")
    assert at.error[0].value == "Too many requests. Press Retry to try again."
    assert at.status[0].label == "Failed after 1 step: throttling"
    assert by_label(at, "Step 1 · Generated code").code[0].value.endswith("print(1)")


# --- file_view ---------------------------------------------------------------------------------
def _files_app(kind: str):
    import streamlit as st

    from agent_core.files import ReturnedFile
    from components.file_view import render_file, render_files
    from tests.fakes.bedrock_server import SUMMARY_CSV, make_png

    files = {
        "fake_png": [ReturnedFile("report.png", "image/png", b"this is text, not a PNG\n")],
        "svg_bad": [ReturnedFile("x.svg", "image/svg+xml",
                                 b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)'
                                 b'</script></svg>')],
        "svg_ok": [ReturnedFile("ok.svg", "image/svg+xml",
                                b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
                                b'<rect width="10" height="10"/></svg>')],
        "json": [ReturnedFile("r.json", "application/json", b'{"a": 1}')],
        "binary": [ReturnedFile("blob.bin", "application/octet-stream", bytes(range(256)))],
        "pair": [ReturnedFile("moving_average.png", "image/png", make_png()),
                 ReturnedFile("moving_average.csv", "text/csv", SUMMARY_CSV)],
        "table": [ReturnedFile("t.tsv", "text/tab-separated-values", b"a\tb\n1\t2\n3\t4\n")],
    }[kind]
    if len(files) == 1:
        render_file(files[0], key="f")
    else:
        render_files(files, key="f")


def run_files(kind: str) -> AppTest:
    at = AppTest.from_function(_files_app, args=(kind,), default_timeout=30).run()
    assert not at.exception, at.exception
    return at


def downloads(at) -> list[str]:
    return [b.label for b in at.download_button]


def test_text_claiming_to_be_png_is_never_shown_as_an_image():
    at = run_files("fake_png")
    assert len(at.image) == 0
    assert "claims to be image/png" in at.warning[0].value
    assert at.code[0].value.startswith("this is text")
    assert downloads(at) == ["Download report.png (24 B)"]


def test_svg_with_script_is_not_rendered_safe_svg_is():
    at = run_files("svg_bad")
    assert len(at.image) == 0 and "scripts" in at.warning[0].value
    assert downloads(at)
    at = run_files("svg_ok")
    assert len(at.image) == 1 and not at.warning


def test_json_as_code_binary_as_download_tsv_as_table():
    at = run_files("json")
    assert at.code[0].language == "json" and downloads(at)
    at = run_files("binary")
    assert not at.code and not at.image and downloads(at) == ["Download blob.bin (256 B)"]
    at = run_files("table")
    df = at.dataframe[0].value
    assert list(df.columns) == ["a", "b"] and len(df) == 2


def trace_names(chart) -> list[str]:
    import json

    return [t.get("name") for t in json.loads(chart.proto.spec)["data"]]


def test_png_with_its_data_gets_an_interactive_chart_with_a_window_control():
    at = run_files("pair")
    assert len(at.image) == 1
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    names = trace_names(charts[0])
    assert "close" in names and "close MA 20" in names  # window guessed from the ma20 column
    window = at.number_input(key="f_0_data_win")
    window.set_value(2).run()
    assert not at.exception
    assert "close MA 2" in trace_names(at.get("plotly_chart")[0])
    assert len(downloads(at)) == 2  # the PNG and its CSV both downloadable
