"""Edit and re-run: open a code block, change it, run it in the session's LOCAL kernel.

The edited code goes to the local agent as ``run this code: ```python ...````` (the
local agent runs such code as is), so its results come back as the same events as
any run: they are shown with the same expanders and file views, and stored as a
new run linked to the original (``parent_run_id``). For a Bedrock run this
reproduces the agent's code on this machine against the same attached files.

The run goes through the one run path (``agent_core.run.start``) on the local agent.
Use: ``code_editor(code, key=..., session_id=..., attachments=..., parent_run_id=...)``.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import streamlit as st

from agent_core import run as agent_run
from agent_core.files import AttachedFile
from agent_core.run import AgentRequest

log = logging.getLogger(__name__)

RUN_PHRASE = "run this code:"


def rerun_prompt(code: str) -> str:
    """The request text that makes the local agent run ``code`` as is."""
    fence = "```"
    while fence in code:  # a fence inside the code would end the block early
        fence += "`"
    return f"{RUN_PHRASE}\n{fence}python\n{code.rstrip()}\n{fence}"


def edited_code_request(code: str, *, session_id: str,
                        attachments: Sequence[AttachedFile] = ()) -> AgentRequest:
    """The request that makes the local agent run ``code`` as is, with the run's files: the
    code travels as a typed task (the text is what History shows and model backends read)."""
    from agent_core.planner import RunCode  # noqa: PLC0415

    return AgentRequest(text=rerun_prompt(code), session_id=session_id,
                        files=tuple(attachments), enable_trace=True, task=RunCode(code))


def code_blocks(events: Iterable[Any]) -> list[str]:
    """The code of every ``CodeInvocation``, in order."""
    from agent_core.events import CodeInvocation  # noqa: PLC0415

    return [e.code for e in events if isinstance(e, CodeInvocation)]


def code_editor(code: str, *, key: str, session_id: str,
                attachments: Sequence[AttachedFile] = (), parent_run_id: str | None = None,
                label: str = "Edit and re-run") -> str | None:
    """A toggle that opens an editor for ``code`` with a "Run locally" button.

    Returns the id of the newest re-run made from this editor (kept across reruns)."""
    from components import resources  # noqa: PLC0415
    from components.event_view import EventRouter, replay  # noqa: PLC0415

    last_key = f"{key}_last_run"
    if not st.toggle(label, key=f"{key}_open", help="Change this code and run it in the local "
                     "kernel; the result is stored as a new run linked to this one."):
        return st.session_state.get(last_key)
    st.html(f"<style>.st-key-{key}_src textarea {{font-family: 'Source Code Pro', ui-monospace, "
            "SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.85rem;}</style>")
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
        # the one run path, on the local agent: recorded as a new run linked to the parent
        run = agent_run.start(
            edited_code_request(edited, session_id=session_id, attachments=attachments),
            resources.get_local_backend, parent_run_id=parent_run_id,
            **resources.run_options(resources.local_settings()))
        router = EventRouter(st.container(), key=f"{key}_live", title="Running your code")
        router.follow(run)
        router.finish()
        run_id = run.run_id
        if run_id:
            st.session_state[last_key] = run_id
            st.caption(f"Stored as run `{run_id}`" + (f", a re-run of `{parent_run_id}`."
                                                       if parent_run_id else "."))
        return run_id
    last = st.session_state.get(last_key)
    store = resources.get_run_store()
    if last and store is not None:
        try:
            events = store.run_events(last)
        except Exception:  # noqa: BLE001 - the re-run may have been deleted
            st.session_state.pop(last_key, None)
            return None
        st.caption(f"Last re-run: `{last}`")
        replay(st.container(), events, key=f"{key}_replay")
    return last
