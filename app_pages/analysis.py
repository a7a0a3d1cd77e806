"""Analysis: chat with the agent; its steps stream into expanders, its files are shown."""
from __future__ import annotations

import streamlit as st

from agent_core import run as agent_run
from agent_core.run import AgentRequest
from agent_core.safe_text import code_span, neutralise_markdown
from components import resources, session_link, state
from components.code_editor import code_blocks, code_editor
from components.event_view import EventRouter, replay

SEED_PROMPT = ("Given the attached price data file, please make me a chart with moving "
               "average in red and actual data in blue")
PRESETS = {
    "Moving average": SEED_PROMPT,
    "Returns": "Compute daily returns for each series in the attached price data, "
                     "summarise them and chart their distribution.",
    "Volatility": "Compute the 30-day rolling annualised volatility of each series in the "
                  "attached price data and chart it.",
    "Drawdown": "Compute the maximum drawdown of each series in the attached price data and "
                "chart the drawdown over time.",
    "Correlation": "Compute the correlation matrix of daily returns between the series in the "
                   "attached price data and show it as a heatmap.",
    "Summary": "Give me summary statistics for the attached price data: first and "
                          "last date, min, max, mean, and total return per series.",
}


def _turn_key(i: int) -> str:
    return f"turn{i}"


def _render_history(box, turns: list[state.Turn]) -> None:
    """The finished turns, from their stored events (drawn after a live run, so a long chat
    never delays the first step of a new request)."""
    with box:
        for i, turn in enumerate(turns):
            with st.chat_message("user"):
                st.markdown(neutralise_markdown(turn.prompt))
            with st.chat_message("assistant"):
                result = replay(st.container(), turn.result.events, show_code=state.show_code(),
                                show_trace=state.enable_trace(), key=_turn_key(i),
                                outcome=turn.outcome)
                if result.failure is not None or turn.outcome == "stopped":
                    _retry_button(turn.prompt, i, turn.run_id)
                _edit_and_rerun(turn, i)


def _edit_and_rerun(turn: state.Turn, i: int) -> None:
    """Every code block of a finished turn can be changed and run in the local kernel;
    the result is stored as a new run linked to this one (History shows both)."""
    blocks = code_blocks(turn.result.events)
    if not blocks or not state.show_code():
        return
    session = state.get_agent_session()
    # Plain toggles, not an expander: the editor shows its run in expanders of its own.
    for j, code in enumerate(blocks, start=1):
        code_editor(code, key=f"an_edit_{i}_{j}", session_id=session.session_id,
                    attachments=session.attachments, parent_run_id=turn.run_id,
                    label=(f"Edit and re-run code block {j}" if len(blocks) > 1
                           else "Edit and re-run this code"))


def _retry_button(prompt: str, i: int, run_id: str | None) -> None:
    if st.button("Retry", key=f"retry_{i}", icon=":material/refresh:"):
        st.session_state[state.K_PENDING_PROMPT] = (prompt, run_id)
        st.rerun()


K_ACTIVE_RUN = "analysis_active_run"  # (run, prompt) while a run streams


def _keep_turn(run: agent_run.Run, prompt: str, *, outcome: str | None = None) -> None:
    """Add the run to the chat once (the Stop button and the page's own exit both try)."""
    chat = state.get_chat()
    if any(t.run_id == run.run_id and t.prompt == prompt for t in chat if run.run_id):
        return
    state.add_turn(state.Turn(prompt, run.result(), run.run_id, run.backend_name,
                              outcome=outcome or run.outcome))


def _stop_active() -> None:
    """The Stop button's callback (it runs first thing in the rerun the click starts):
    stop the streaming run and keep what arrived. Streamlit stops the old script run on
    its own; the run is stopped here so it never depends on that run's last moments."""
    active = st.session_state.pop(K_ACTIVE_RUN, None)
    if active is not None:
        run, prompt = active
        run.stop()
        _keep_turn(run, prompt, outcome="stopped")


def _run(prompt: str, parent_run_id: str | None = None) -> None:
    """Ask the agent through the one run path (agent_core.run); render what it yields as it
    arrives. Stop (or a rerun of the page) stops the run (kernel interrupted, stream
    closed), kept as ``stopped`` with everything received so far."""
    session = state.get_agent_session()
    index = len(state.get_chat())
    with st.chat_message("user"):
        st.markdown(neutralise_markdown(prompt))
    with st.chat_message("assistant"):
        request = AgentRequest(text=prompt, session_id=session.session_id,
                               memory_id=session.memory_id, files=session.attachments,
                               enable_trace=state.enable_trace())
        stop_slot = st.empty()
        stop_slot.button("Stop", key="stop_run", icon=":material/stop_circle:", on_click=_stop_active,
                         help="Stop this run: the code is interrupted, what arrived is kept.")
        router = EventRouter(st.container(), show_code=state.show_code(),
                             show_trace=state.enable_trace(), key=_turn_key(index))
        run = agent_run.start(request, resources.get_backend, parent_run_id=parent_run_id,
                              page="analysis", **resources.run_options())
        st.session_state[K_ACTIVE_RUN] = (run, prompt)
        ended = False
        try:
            for event in run.stream(heartbeat=0.25):
                if event is None:
                    router.tick(run.waiting)  # elapsed time, or why it waits, in the status line
                else:
                    router.add(event)
            ended = True
        finally:  # stopped, or the page rerun mid-run: what arrived stays in the chat
            if not ended:
                run.stop()
            st.session_state.pop(K_ACTIVE_RUN, None)
            _keep_turn(run, prompt, outcome=None if ended else "stopped")
        stop_slot.empty()
        result = router.stopped() if run.stopped else router.finish()
        if result.failure is not None or run.stopped:
            _retry_button(prompt, index, run.run_id)
        _edit_and_rerun(state.get_chat()[-1], index)


def _kernel_notice() -> None:
    """After a restore (refresh, bookmark, restart): the kernel's variables are gone. Say so
    once, and offer to rebuild them by running the session's stored code cells in order."""
    if not st.session_state.get(session_link.K_RESTORED):
        return
    settings = state.get_settings()
    session = state.get_agent_session()
    pool = resources.kernel_pool_if_started()
    if not resources.needs_kernel_pool(settings) or (
            pool is not None and pool.kernel_pid(session.session_id) is not None):
        st.session_state[session_link.K_RESTORED] = False
        return
    # counted from the chat in memory (reading every stored run would slow each rerun);
    # the store is read for the cells only when the analyst asks for the rebuild
    n_cells = sum(len(code_blocks(t.result.events)) for t in state.get_chat())
    if not n_cells:
        st.session_state[session_link.K_RESTORED] = False
        return
    with st.container(border=True, key="kernel_notice"):
        st.markdown(f":material/memory: The Python kernel of this session was restarted: "
                    f"variables from earlier runs are gone (files in its working folder are "
                    f"kept). Rebuild the kernel to re-run the session's code cells "
                    f"({n_cells} in its chat, and any re-runs of them) in order.")
        c1, c2, _ = st.columns([1, 1, 3])
        rebuild = c1.button("Rebuild the kernel", key="rebuild_kernel", type="primary",
                            icon=":material/replay:")
        if c2.button("Dismiss", key="dismiss_kernel_notice"):
            st.session_state[session_link.K_RESTORED] = False
            st.rerun()
        store = resources.get_run_store()
        cells = session_link.code_cells(store, session.session_id) if rebuild and store else []
        if cells:
            from components.code_editor import edited_code_request  # noqa: PLC0415

            request = edited_code_request(session_link.rebuild_code(cells),
                                          session_id=session.session_id,
                                          attachments=session.attachments)
            run = agent_run.start(request, resources.get_local_backend, page="rebuild",
                                  **resources.run_options(resources.local_settings()))
            router = EventRouter(st.container(), key="rebuild", title="Rebuilding the kernel",
                                 show_code=False)
            for event in run:
                router.add(event)
            result = router.finish()
            st.session_state[session_link.K_RESTORED] = False
            if result.failure is None:
                st.success("The kernel was rebuilt: the session's variables are back.")


ELSEWHERE_REFRESH_SECONDS = 2.0


@st.fragment(run_every=ELSEWHERE_REFRESH_SECONDS)
def _runs_elsewhere() -> None:
    """Runs of this session that another replica (or a page reloaded mid-run) is still
    writing, seen after a restore: their steps so far, read-only, refreshed until they end;
    then they join the chat. A new request meanwhile runs here as usual."""
    store = resources.get_run_store()
    if store is None:
        return
    from agent_core.store import RunInfo, RunNotFoundError  # noqa: PLC0415

    session_id = state.get_agent_session().session_id
    store.recover_interrupted()  # a run whose writer is gone (replica killed) ends as interrupted
    going: list[RunInfo] = []
    ended: list[RunInfo] = []
    for run_id in st.session_state.get(session_link.K_ELSEWHERE) or []:
        try:
            info = store.get_run(run_id)
        except RunNotFoundError:  # deleted meanwhile
            continue
        if info.session_id == session_id:
            (going if info.outcome == "running" else ended).append(info)
    st.session_state[session_link.K_ELSEWHERE] = [r.id for r in going]
    if ended:
        for info in ended:
            state.add_turn(session_link.stored_turn(store, info))
        st.rerun(scope="app")
    for info in going:
        with st.chat_message("user"):
            st.markdown(neutralise_markdown(info.prompt))
        with st.chat_message("assistant"):
            st.caption(f":material/sync: Running on another replica (or in another tab) since "
                       f"{info.started_at:%H:%M:%S} UTC: its steps so far, read-only, refreshed "
                       f"every {ELSEWHERE_REFRESH_SECONDS:g} s. You can ask something new meanwhile.")
            router = EventRouter(st.container(), show_code=state.show_code(),
                                 show_trace=state.enable_trace(), key=f"elsewhere_{info.id}",
                                 title="Running on another replica", since=info.started)
            for event in store.run_events(info.id):
                router.add(event)


def _presets() -> str | None:
    """One button per common job (all drawn every run); the prompt of the one clicked."""
    chosen = None
    cols = st.columns(len(PRESETS))
    for col, (label, text) in zip(cols, PRESETS.items(), strict=True):
        if col.button(label, key=f"preset_{label}", width="stretch", help=text):
            chosen = text
    return chosen


st.title("Analysis")
# wide output (printed tables, Markdown tables in an answer) scrolls sideways instead of clipping
st.html("<style>[data-testid='stChatMessage'] [data-testid='stMarkdownContainer'] table "
        "{display: block; overflow-x: auto; max-width: 100%;} [data-testid='stChatMessage'] pre "
        "{overflow-x: auto; white-space: pre;}</style>")
attached = state.get_agent_session().attachments
if err := resources.backend_error():
    st.warning(err)
if attached:
    st.caption("Attached: " + ", ".join(code_span(f.name) for f in attached))
else:
    c1, c2 = st.columns([3, 1], vertical_alignment="center")
    c1.info("No file attached yet. Attach price data on the Upload page, or try the sample.",
            icon=":material/attach_file:")
    if c2.button("Attach sample data", key="analysis_sample", icon=":material/science:"):
        if msg := state.attach_sample_prices():
            st.error(msg)
        else:
            st.rerun()

_kernel_notice()
preset = _presets()
chat = list(state.get_chat())
if not chat:
    st.caption("Pick a common job above, or type your own question below. The agent's steps "
               "(rationale, code, output) appear as it works; returned files show under "
               "its answer.")
history_box, elsewhere_box, live_box = st.container(), st.container(), st.container()
typed = st.chat_input("Ask about your data, e.g. 'chart the 50-day moving average'",
                      key="chat_prompt")
pending = st.session_state.pop(state.K_PENDING_PROMPT, None)
with live_box:  # the new turn first: its first step does not wait for the older turns
    if typed:
        _run(typed)
    elif preset:
        _run(preset)
    elif pending:
        _run(*pending)
_render_history(history_box, chat)
if st.session_state.get(session_link.K_ELSEWHERE):  # called only then: no refresh timer otherwise
    with elsewhere_box:
        _runs_elsewhere()
