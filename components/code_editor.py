"""Edit and re-run: open a code block, change it, run it in the session's LOCAL kernel.

The edited code goes to the local agent as ``run this code: ```python ...````` (the
local agent runs such code as is), so its results come back as the same events as
any run: they are shown with the same expanders and file views, and stored as a
new run linked to the original (``parent_run_id``). For a Bedrock run this
reproduces the agent's code on this machine against the same attached files.

Use: ``code_editor(code, key=..., session_id=..., attachments=..., parent_run_id=...)``.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any, Iterable, Sequence

import streamlit as st

from agent_core.backends.base import AgentRequest
from agent_core.files import AttachedFile
from agent_core.safe_text import neutralise_markdown

log = logging.getLogger(__name__)

RUN_PHRASE = "run this code:"


def rerun_prompt(code: str) -> str:
    """The request text that makes the local agent run ``code`` as is."""
    fence = "```"
    while fence in code:  # a fence inside the code would end the block early
        fence += "`"
    return f"{RUN_PHRASE}\n{fence}python\n{code.rstrip()}\n{fence}"


def local_backend() -> Any:
    """The local agent (its kernel pool shared with the app), whatever backend is active."""
    from components import state  # noqa: PLC0415

    settings = state.get_settings()
    if settings.backend == "local":
        return state.get_backend()
    return state._backend(dataclasses.replace(settings, backend="local"))  # noqa: SLF001


def run_edited_code(code: str, *, session_id: str, attachments: Sequence[AttachedFile] = (),
                    parent_run_id: str | None = None, backend: Any = None, store: Any = None,
                    settings: Any = None, on_event: Any = None) -> tuple[str | None, list[Any]]:
    """Run ``code`` through the local agent, store it as a new run linked to the parent.

    Returns ``(new run id or None when there is no store, the events)``. Never raises
    for a kernel/agent failure: that ends the events as an ``AgentFailure``."""
    from agent_core.events import AgentFailure  # noqa: PLC0415

    request = AgentRequest(text=rerun_prompt(code), session_id=session_id,
                           files=tuple(attachments), enable_trace=True)
    run_id = None
    if store is not None:
        run_id = store.start_run(session_id, request.text, "local", settings, attachments,
                                 parent_run_id=parent_run_id)
    events: list[Any] = []
    failed = False
    finished = False
    try:
        try:
            for event in backend.invoke(request):
                events.append(event)
                failed = failed or isinstance(event, AgentFailure)
                if run_id is not None:
                    store.append_event(run_id, event)
                if on_event is not None:
                    on_event(event)
        except Exception as exc:  # noqa: BLE001 - shown as a failure, partial output kept
            event = AgentFailure(kind="unexpected", retryable=True, message=(
                f"The local run stopped unexpectedly ({type(exc).__name__}: {str(exc)[:200]})."))
            events.append(event)
            failed = True
            if run_id is not None:
                store.append_event(run_id, event)
            if on_event is not None:
                on_event(event)
        finished = True
    finally:
        if run_id is not None:
            store.finish_run(run_id, "interrupted" if not finished
                             else "failed" if failed else "completed")
    return run_id, events


def code_blocks(events: Iterable[Any]) -> list[str]:
    """The code of every ``CodeInvocation``, in order."""
    from agent_core.events import CodeInvocation  # noqa: PLC0415

    return [e.code for e in events if isinstance(e, CodeInvocation)]


def code_editor(code: str, *, key: str, session_id: str,
                attachments: Sequence[AttachedFile] = (), parent_run_id: str | None = None,
                label: str = "Edit and re-run") -> str | None:
    """A toggle that opens an editor for ``code`` with a "Run locally" button.

    Returns the id of the newest re-run made from this editor (kept across reruns)."""
    from components import state  # noqa: PLC0415
    from components.event_view import EventRouter, replay  # noqa: PLC0415

    last_key = f"{key}_last_run"
    if not st.toggle(label, key=f"{key}_open", help="Change this code and run it in the local "
                     "kernel; the result is stored as a new run linked to this one."):
        return st.session_state.get(last_key)
    edited = st.text_area("Code", value=code, key=f"{key}_src", height=min(420, 60 + 20 * code.count("\n")),
                          help="Runs in this session's local Jupyter kernel, with the run's "
                               "attached files in its working folder.")
    if edited != code:
        with st.expander("Preview", expanded=False):
            st.code(edited, language="python")
    if st.button("Run locally", key=f"{key}_run", icon=":material/play_arrow:", type="primary"):
        if not edited.strip():
            st.warning("The code is empty: type some Python, then press Run locally.")
            return st.session_state.get(last_key)
        try:
            backend = local_backend()
        except Exception as exc:  # noqa: BLE001 - a message, never a traceback
            st.error(neutralise_markdown(f"The local kernel could not start ({exc}). ") + "Check the sidebar settings "
                     "and try again.")
            return st.session_state.get(last_key)
        settings = state.get_settings()
        router = EventRouter(st.container(), key=f"{key}_live", title="Running your code")
        run_id, _ = run_edited_code(
            edited, session_id=session_id, attachments=attachments, parent_run_id=parent_run_id,
            backend=backend, store=state.get_run_store(),
            settings=dataclasses.replace(settings, backend="local"), on_event=router.add)
        router.finish()
        if run_id:
            st.session_state[last_key] = run_id
            st.caption(f"Stored as run `{run_id}`" + (f", a re-run of `{parent_run_id}`."
                                                       if parent_run_id else "."))
        return run_id
    last = st.session_state.get(last_key)
    store = state.get_run_store()
    if last and store is not None:
        try:
            events = store.run_events(last)
        except Exception:  # noqa: BLE001 - the re-run may have been deleted
            st.session_state.pop(last_key, None)
            return None
        st.caption(f"Last re-run: `{last}`")
        replay(st.container(), events, key=f"{key}_replay")
    return last
