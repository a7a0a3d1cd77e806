"""History: every past run from the run store. Replay it as it streamed, re-open its
files, export it, continue its session, edit and re-run its code, or delete it."""
from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import streamlit as st

from agent_core.config import runs_code_here
from agent_core.safe_text import code_span, neutralise_markdown
from agent_core.store import OUTCOMES, RunInfo, RunStore, StoreError
from components import resources, state
from components.code_editor import code_blocks, code_editor
from components.event_view import replay
from components.identity import current_user
from components.run_summary import format_seconds, render_run_summary

MB = 1024 * 1024
ALL = "All"
K_RUN, K_CONFIRM, K_FLASH = "hist_run", "hist_confirm", "hist_flash"


def _size(n: float) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


def _short(text: str, n: int = 70) -> str:
    one = " ".join((text or "").split())
    return one if len(one) <= n else one[: n - 1] + "…"


def _label(run: RunInfo) -> str:
    return f"{run.started_at:%Y-%m-%d %H:%M:%S} · {run.backend} · {run.outcome} · {_short(run.prompt, 60)}"


def _flash(kind: str, text: str) -> None:
    st.session_state[K_FLASH] = (kind, text)


def _show_flash() -> None:
    if flash := st.session_state.pop(K_FLASH, None):
        getattr(st, flash[0])(flash[1])


# --- actions ----------------------------------------------------------------------
def _continue_session(store: RunStore, run: RunInfo) -> None:
    """Make the run's session the current one: its id, its attached files, its chat."""
    from agent_core.run import RunCollector  # noqa: PLC0415
    from agent_core.session import AgentSession  # noqa: PLC0415

    files = tuple(store.session_attachments(run.session_id))
    note = ""
    if len(files) > 5:
        files, note = files[-5:], " Only its 5 latest attached files were re-attached (Bedrock's limit)."
    settings = state.get_settings()
    if runs_code_here(settings):
        # the files go to a fresh kernel with the next request; no kernel to stop is fine
        with contextlib.suppress(Exception):
            resources.get_backend().reset_session(run.session_id)
    old = state.get_agent_session()
    state.set_agent_session(AgentSession(session_id=run.session_id, memory_id=old.memory_id,
                                         attachments=files))
    turns = []
    for r in sorted(store.list_runs(session=run.session_id, limit=500), key=lambda r: r.started):
        collector = RunCollector()
        for event in store.run_events(r.id):
            collector.add(event)
        turns.append(state.Turn(r.prompt, collector.result(), r.id, r.backend))
    st.session_state[state.K_CHAT] = turns
    attached = ", ".join(f.name for f in files) or "no files"
    _flash("success", f"Session `{run.session_id}` is the current session again ({len(turns)} "
                      f"run(s), re-attached: {attached}).{note} Continue on the Analysis page.")


def _confirm_box(store: RunStore) -> None:
    what = st.session_state.get(K_CONFIRM)
    if not what:
        return
    kind, ident = what
    with st.container(border=True):
        if kind == "run":
            st.warning(f"Delete run `{ident}` and its files? This cannot be undone.",
                       icon=":material/delete:")
        else:
            n = len(store.list_runs(session=ident, limit=100_000))
            st.warning(f"Delete session `{ident}` with all its {n} run(s) and files? "
                       "This cannot be undone.", icon=":material/delete_forever:")
        yes, no, _ = st.columns([1, 1, 4])
        if yes.button("Yes, delete", key="hist_confirm_yes", type="primary"):
            try:
                if kind == "run":
                    store.delete_run(ident)
                    _flash("success", f"Run `{ident}` deleted.")
                else:
                    n = store.delete_session(ident)
                    _flash("success", f"Session `{ident}` deleted ({n} run(s)).")
            except StoreError as exc:
                _flash("error", str(exc))
            st.session_state.pop(K_CONFIRM, None)
            st.session_state.pop(K_RUN, None)
            st.rerun()
        if no.button("Cancel", key="hist_confirm_no"):
            st.session_state.pop(K_CONFIRM, None)
            st.rerun()


def _downloads(store: RunStore, run: RunInfo, user: str | None) -> None:
    from agent_core.export import (  # noqa: PLC0415
        export_filename,
        notebook_bytes,
        run_to_notebook,
        run_to_zip,
        session_to_notebook,
    )

    c1, c2, c3 = st.columns(3)
    try:
        notebook = notebook_bytes(run_to_notebook(store, run.id, owner=user))
        c1.download_button("Notebook (.ipynb)", data=notebook,
                           file_name=export_filename(run.id, "ipynb"), mime="application/x-ipynb+json",
                           key="hist_dl_ipynb", icon=":material/code:",
                           help="The prompt, the code and its outputs; runs top to bottom in Jupyter.")
        c2.download_button("Files + events (.zip)", data=run_to_zip(store, run.id, owner=user),
                           file_name=export_filename(run.id, "zip"), mime="application/zip",
                           key="hist_dl_zip", icon=":material/folder_zip:")
        c3.download_button("Whole session (.ipynb)",
                           data=notebook_bytes(session_to_notebook(store, run.session_id, owner=user)),
                           file_name=export_filename(run.session_id, "ipynb"),
                           mime="application/x-ipynb+json", key="hist_dl_session",
                           icon=":material/library_books:")
    except Exception as exc:  # noqa: BLE001 - an export problem must not hide the run
        st.warning(neutralise_markdown(f"Export is unavailable for this run ({exc})."))


def _render_run(store: RunStore, run: RunInfo, user: str | None) -> None:
    st.subheader(neutralise_markdown(_short(run.prompt, 90)) or "(empty prompt)")
    prompt = neutralise_markdown(run.prompt)
    st.markdown("\n".join("> " + line for line in prompt.splitlines()) or "> (empty)")
    where = f"Run `{run.id}` · session `{run.session_id}` · {run.backend} · " \
            f"started {run.started_at:%Y-%m-%d %H:%M:%S} UTC"
    if run.parent_run_id:
        where += f" · re-run of `{run.parent_run_id}`"
    st.caption(where)
    render_run_summary(run)
    attachments = store.run_attachments(run.id)
    if attachments:
        st.caption("Attached: " + ", ".join(f"{code_span(a.name)} ({_size(a.size)})" for a in attachments))
    try:
        events = store.run_events(run.id)
    except StoreError as exc:
        st.error(neutralise_markdown(f"{exc}"))
        return
    if run.outcome == "interrupted":
        st.info("This run was interrupted (the app or the browser tab closed while it ran). "
                "Everything that had arrived is shown.", icon=":material/pause_circle:")
    replay(st.container(border=True), events, key=f"hist_{run.id}", outcome=run.outcome)

    _downloads(store, run, user)
    a1, a2, a3 = st.columns(3)
    if a1.button("Continue this session", key="hist_continue", icon=":material/play_circle:",
                 help="Make this run's session the current one, with its attached files."):
        _continue_session(store, run)
        st.rerun()
    if a2.button("Delete run", key="hist_delete_run", icon=":material/delete:"):
        st.session_state[K_CONFIRM] = ("run", run.id)
        st.rerun()
    if a3.button("Delete session", key="hist_delete_session", icon=":material/delete_forever:"):
        st.session_state[K_CONFIRM] = ("session", run.session_id)
        st.rerun()

    blocks = code_blocks(events)
    if blocks:
        st.markdown("#### Edit and re-run")
        st.caption("Change a code block and run it in the local kernel, with this run's attached "
                   "files; the result is stored as a new run linked to this one.")
        files = store.attached_files(run.id)
        for i, code in enumerate(blocks, start=1):
            code_editor(code, key=f"hist_edit_{run.id}_{i}", session_id=run.session_id,
                        attachments=files, parent_run_id=run.id,
                        label=f"Edit and re-run code block {i}" if len(blocks) > 1 else "Edit and re-run")
    children = store.list_runs(parent=run.id)
    if children:
        st.caption("Re-runs of this run: " + ", ".join(f"`{c.id}` ({c.outcome})" for c in children))


def _retention_notes(store: RunStore, over_cap: tuple[str, ...], user: str | None) -> None:
    """Which runs retention removed and why; which runs are kept although over the limit.
    With users, the log (other users' prompts) is not shown, only its size."""
    if over_cap:
        st.warning(f"{len(over_cap)} run(s) are larger than the retention limit by themselves: they "
                   "are kept (retention never deletes them) and flagged ⚠ in the list. Delete them "
                   "by hand or raise AGENT_DESK_RETENTION_MB.")
    log = store.retention_log(limit=50)
    if not log:
        return
    if user is not None:
        st.caption(f"Retention removed {len(log)} run(s) of the team's oldest lately "
                   "(AGENT_DESK_RETENTION_MB).")
        return
    with st.expander(f"Removed by retention ({len(log)} most recent)"):
        for e in log:
            when = datetime.fromtimestamp(e.at, tz=UTC)
            prompt = _short(e.prompt, 60).replace("`", "'")  # shown as code: never markdown
            st.markdown(f"- {when:%Y-%m-%d %H:%M:%S} UTC · session `{e.session_id}` · {_size(e.size)} · "
                        f"prompt: `{prompt}`")
        st.caption("Why: " + log[0].reason + ".")


# --- page -------------------------------------------------------------------------
st.title("History")
store = resources.get_run_store()
if store is None:
    st.error("The run history is unavailable: the store under AGENT_DESK_HOME could not be "
             "opened. Check that the folder exists and is writable, then reload the page.")
    st.stop()
settings = state.get_settings()
user = current_user(settings)  # None: a single-user install, every run is shown
limit_bytes = settings.retention_mb * MB
report = store.enforce_retention(limit_bytes, keep_per_session=settings.retention_keep_runs)
space = store.space_used()
mine = None if user is None else {r.id for r in store.list_runs(owner=user, limit=100_000)}
counted = f"{space.runs} run(s)" if mine is None else f"{len(mine)} run(s) of yours · the team's store"
st.caption(f"{counted} · {_size(space.total)} used of {settings.retention_mb:,} MB "
           f"(AGENT_DESK_RETENTION_MB; past it, the oldest runs go first, never the newest "
           f"{settings.retention_keep_runs} of a session) · `{store.location}`")
if report.deleted:
    st.info(f"{len(report.deleted)} oldest run(s) were removed just now to stay within the retention "
            "limit; see 'Removed by retention' below.")
_retention_notes(store, tuple(r for r in report.over_cap if mine is None or r in mine), user)
_show_flash()
_confirm_box(store)

c1, c2, c3, c4 = st.columns([2, 1, 1, 2])
session_ids = [s.id for s in store.list_sessions(owner=user)]
if st.session_state.get("hist_session", ALL) not in [ALL, *session_ids]:
    st.session_state["hist_session"] = ALL
session = c1.selectbox("Session", [ALL, *session_ids], key="hist_session")
backend = c2.selectbox("Backend", [ALL, *store.backends()], key="hist_backend")
outcome = c3.selectbox("Outcome", [ALL, *OUTCOMES], key="hist_outcome")
text = c4.text_input("Search prompts", key="hist_text", placeholder="e.g. moving average")
runs = store.list_runs(session=None if session == ALL else session,
                       backend=None if backend == ALL else backend,
                       outcome=None if outcome == ALL else outcome, text=text or None, owner=user)
if not runs:
    if (space.runs if mine is None else mine):
        st.info("No run matches these filters. Clear the search or pick 'All'.")
    else:
        st.info("No runs yet. Ask the agent something on the Analysis page: every run is kept "
                "here, files and all, across refreshes and restarts.", icon=":material/history:")
    st.stop()

st.dataframe(
    [{"Started (UTC)": f"{r.started_at:%Y-%m-%d %H:%M:%S}",
      "Outcome": r.outcome + (" ⚠ over the retention limit" if r.over_cap else ""),
      "Backend": r.backend, "Prompt": _short(r.prompt, 80), "Duration": format_seconds(r.duration_seconds),
      "Files": r.file_count, "Session": r.session_id} for r in runs],
    hide_index=True, width="stretch", height=min(300, 38 + 35 * len(runs)))
ids = [r.id for r in runs]
wanted = st.query_params.get("run")
if wanted in ids and K_RUN not in st.session_state:
    st.session_state[K_RUN] = wanted
if st.session_state.get(K_RUN) not in ids:
    st.session_state.pop(K_RUN, None)
by_id = {r.id: r for r in runs}
chosen = st.selectbox("Open a run", ids, key=K_RUN,
                      format_func=lambda i: f"{_label(by_id[i])}")
st.divider()
_render_run(store, by_id[chosen], user)
