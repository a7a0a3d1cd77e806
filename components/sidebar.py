"""The sidebar: backend and its (non-secret) settings, session id, new session, attachments."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from agent_core.config import Settings, kernels_on_gateway, runs_code_here, url_host
from agent_core.files import human_size
from agent_core.safe_text import neutralise_markdown
from components import resources, state
from components.identity import Identity, render_user, require_login

ROOT = Path(__file__).resolve().parent.parent
# (file, title, icon, default); a page file that is not there is left out.
PAGES = [
    ("app_pages/upload.py", "Upload", ":material/upload_file:", False),
    ("app_pages/analysis.py", "Analysis", ":material/query_stats:", True),
    ("app_pages/synthetic_data.py", "Synthetic data", ":material/dataset:", False),
    ("app_pages/history.py", "History", ":material/history:", False),
]

_BACKEND_LABELS = {
    "local": "Local agent (Jupyter kernel on this machine)",
    "bedrock": "Amazon Bedrock Agent",
    "bedrock-inline": "Amazon Bedrock inline agent",
    "converse": "Amazon Bedrock Converse + code executor",
    "openai": "OpenAI-compatible model server + code executor",
}


# The settings shown in the sidebar, in words an analyst reads.
_SETTING_LABELS = {
    "exec_timeout": "Time limit per run (s)",
    "max_kernels": "Kernels at most",
    "sandbox": "Sandbox setting",
    "agent_id": "Agent id",
    "agent_alias_id": "Alias id",
    "region": "Region",
    "endpoint_url": "Endpoint",
    "read_timeout": "Read timeout (s)",
    "model_id": "Model",
    "code_executor": "Code runs in",
    "max_tool_calls": "Code runs per answer at most",
    "openai_host": "Server",
    "openai_model": "Model",
    "openai_api_version": "Azure API version",
}


def _size(n: int) -> str:
    return human_size(n)


def _backend_label(s: Settings) -> str:
    if s.backend == "local" and kernels_on_gateway(s):
        return "Local agent (Jupyter kernel on a gateway)"
    return _BACKEND_LABELS.get(s.backend, s.backend)


def render_backend() -> None:
    s = state.get_settings()
    st.markdown(f"**Backend:** {_backend_label(s)}")
    shown = {
        "local": ("exec_timeout", "max_kernels", "sandbox"),
        "bedrock": ("agent_id", "agent_alias_id", "region", "endpoint_url", "read_timeout"),
        "bedrock-inline": ("model_id", "region", "endpoint_url", "read_timeout"),
        "converse": ("model_id", "code_executor", "region", "endpoint_url", "max_tool_calls"),
        "openai": ("openai_host", "openai_model", "openai_api_version", "code_executor",
                   "max_tool_calls"),
    }.get(s.backend, ())
    if kernels_on_gateway(s):  # the local sandbox setting does not apply to the gateway's kernels
        shown = tuple(k for k in shown if k != "sandbox")
    public = s.public()  # never holds credentials (the OpenAI key is not a setting)
    public["openai_host"] = _host(s.openai_base_url)
    rows = [f"- {_SETTING_LABELS.get(k, k)}: `{public[k]}`" for k in shown
            if public.get(k) not in (None, "")]
    if s.profile:
        rows.append(f"- AWS profile: `{s.profile}`")
    if rows:
        st.caption("\n".join(rows))
    if err := state.settings_error():
        st.error(err)
    if err := resources.backend_error():
        st.warning(err)
    if kernels_on_gateway(s):  # the operator's isolation, not ours: say where, not how
        st.caption(f"Code runs on the Jupyter gateway at **{url_host(s.kernel_gateway_url)}**",
                   help="Kernels run on the gateway's side, isolated as its operator set it up; "
                        "this app's sandbox and limits do not apply there.")
    elif runs_code_here(s):
        pool = resources.kernel_pool_if_started()
        described = getattr(pool, "isolation", None) if pool is not None else None
        text = described or _isolation_status(s.sandbox)
        head = text.split(":")[0].split("(")[0].strip()
        st.caption(f"Interpreter isolation: **{head}**", help=text)


def _host(url: str | None) -> str | None:
    """Scheme, host and port of a URL: no path, query or user info (they can hold keys)."""
    return url_host(url, with_scheme=True)


def _isolation_status(sandbox: str) -> str:
    import shutil  # noqa: PLC0415

    has_bwrap = shutil.which("bwrap") is not None
    if sandbox == "none":
        return "off (AGENT_DESK_SANDBOX=none): code runs as this user, no network isolation"
    if has_bwrap:
        return "bubblewrap sandbox (read-only system, no network, own session folder)"
    if sandbox == "bwrap":
        return "bubblewrap requested but not installed: `apt-get install bubblewrap`"
    return "no sandbox available (install bubblewrap for isolation)"


def render_session() -> None:
    session = state.get_agent_session()
    st.markdown("**Agent session**")
    st.code(session.session_id, language=None, wrap_lines=True)
    s = state.get_settings()
    if s.backend in ("bedrock", "bedrock-inline"):
        memory = st.text_input("Memory id (optional)", value=session.memory_id or "",
                               help="Bedrock agent memory id: keeps a summary across sessions.",
                               key="sidebar_memory_id")
        if (memory or None) != session.memory_id:
            from dataclasses import replace  # noqa: PLC0415

            state.set_agent_session(replace(session, memory_id=memory or None))
    with st.popover("New session", icon=":material/restart_alt:", width="stretch",
                    key=K_NEW_SESSION_POPOVER):
        st.write("Start over with a new session id? The chat, the attached files"
                 + (" and the kernel's variables" if s.backend == "local" else "")
                 + " will be cleared.")
        st.button("Yes, start a new session", key="confirm_new_session", type="primary",
                  on_click=_confirm_new_session)


K_NEW_SESSION_POPOVER = "new_session_popover"


def _confirm_new_session() -> None:
    """Start the new session and close the popover (its open state is keyed)."""
    state.new_session()
    st.session_state[K_NEW_SESSION_POPOVER] = False


def render_attachments() -> None:
    files = state.get_agent_session().attachments
    st.markdown(f"**Attached files** ({len(files)}/5)")
    if not files:
        st.caption("None yet. Attach price data on the Upload page, or use the sample.")
        return
    total = sum(f.size for f in files)
    for f in files:
        c1, c2 = st.columns([4, 1], vertical_alignment="center")
        c1.caption(f"{neutralise_markdown(f.name)} · {_size(f.size)}")
        if c2.button("", icon=":material/close:", key=f"detach_{f.name}",
                     help=f"Detach {neutralise_markdown(f.name)}"):
            state.detach_file(f.name)
            st.rerun()
    st.caption(f"{_size(total)} of 10 MB")


def render_toggles() -> None:
    st.toggle("Show agent steps (trace)", key=state.K_ENABLE_TRACE,
              help="Ask the agent for its trace: rationale, code, output per step.")
    st.toggle("Show generated code", key=state.K_SHOW_CODE)


def render_sidebar(who: Identity | None = None) -> None:
    with st.sidebar:
        if who is not None:
            render_user(who)
        render_backend()
        st.divider()
        render_session()
        st.divider()
        render_attachments()
        st.divider()
        render_toggles()


_SWITCH_HINT = {
    "local": "No AWS account needed: the agent runs its code in a Jupyter kernel on this machine. "
             "To use Amazon Bedrock instead, set `AGENT_BACKEND=bedrock` (with `BEDROCK_AGENT_ID` "
             "and `BEDROCK_AGENT_ALIAS_ID`), `bedrock-inline` or `converse` (with "
             "`BEDROCK_MODEL_ID`) in the environment or under `[agent]` in "
             "`.streamlit/secrets.toml`, then restart. With your own model server (Ollama, "
             "vLLM, LM Studio, llama.cpp, LiteLLM, OpenAI, Azure), set `AGENT_BACKEND=openai`, "
             "`OPENAI_BASE_URL` and `OPENAI_MODEL` (and `OPENAI_API_KEY` if it needs one).",
    "local-gateway": "No AWS account needed: the agent runs its code in a Jupyter kernel on the "
                     "Jupyter gateway named in the sidebar. To use Amazon Bedrock or your own model server "
                     "instead, set `AGENT_BACKEND` (see the README), then restart.",
}


def render_welcome(*, analysis_page: str | None = "app_pages/analysis.py") -> None:
    """A short first-visit welcome: which backend is active, how to switch, a sample to try.
    "Try it with sample data" attaches the synthetic sample and opens ``analysis_page``."""
    # its job is done once the analyst has a file attached or a conversation going
    if st.session_state.get(state.K_WELCOMED) or state.get_chat() or state.get_agent_session().attachments:
        return
    s = state.get_settings()
    hint_key = "local-gateway" if s.backend == "local" and kernels_on_gateway(s) else s.backend
    with st.container(border=True, key="welcome"):
        st.markdown("#### Welcome to Agent Desk")
        st.markdown(
            "Upload price data, ask the agent for analyses and charts, and generate synthetic "
            f"datasets. The active backend is **{_backend_label(s)}**. "
            + _SWITCH_HINT.get(hint_key, "To switch, change `AGENT_BACKEND` (environment or "
                               "`.streamlit/secrets.toml`, `[agent]`) and restart; "
                               "`local` needs no AWS account."))
        c1, c2, _ = st.columns([2, 1, 3])
        if c1.button("Try it with sample data", type="primary", key="welcome_sample",
                     icon=":material/science:",
                     help="Attaches a small synthetic price file and opens Analysis."):
            if msg := state.attach_sample_prices():
                st.error(msg)
            else:
                st.session_state[state.K_WELCOMED] = True
                if analysis_page:
                    st.switch_page(analysis_page)
                st.rerun()
        if c2.button("Dismiss", key="welcome_dismiss"):
            st.session_state[state.K_WELCOMED] = True
            st.rerun()
        st.caption("The sample file is synthetic (generated by Agent Desk), not market data.")


def build_frame():
    """Page config, session state, navigation, sidebar and the first-visit welcome; returns
    the ``st.navigation`` page for the entry script to run."""
    st.set_page_config(page_title="Agent Desk", page_icon=":material/analytics:", layout="wide")
    state.init_state()
    from components import session_link  # noqa: PLC0415

    who = require_login(state.get_settings())  # not logged in: a login page, nothing else
    session_link.sync()
    if st.session_state.get(session_link.K_FOREIGN):
        session_link.render_not_yours()
        st.stop()
    pages = [st.Page(str(ROOT / path), title=title, icon=icon, default=default)
             for path, title, icon, default in PAGES if (ROOT / path).exists()]
    nav = st.navigation(pages)
    render_sidebar(who)
    render_welcome(analysis_page="app_pages/analysis.py")
    session_link.show_notice()
    return nav
