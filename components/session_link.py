"""The working session in the URL (``?session=<id>``), kept in the run store.

A browser session's first script run reads ``st.query_params["session"]``: a session the
store knows is restored (its chat from the stored runs, its attached and uploaded files,
its toggles); an unknown or malformed id gets a new session and a one-line notice. Every
run writes the id back into the URL, and :func:`persist` keeps the session's files and
toggles in the store whenever they change, so a refresh, a bookmark or a restart of the
server loses nothing that was on the screen. Kernel variables cannot be kept: after a
restore, the Analysis page says so once and offers to rebuild the kernel.

With users (components.identity), a session belongs to the user who first worked in it: the
link of another user's session restores nothing and shows :func:`render_not_yours` instead.
"""
from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

import streamlit as st

from agent_core.session import AgentSession, is_valid_session_id
from components import state

if TYPE_CHECKING:
    from agent_core.store import RunInfo, RunStore

log = logging.getLogger(__name__)

PARAM = "session"
K_LINKED = "session_linked"        # the URL was read for this browser session
K_NOTICE = "session_link_notice"   # one line for the user after reading the URL
K_KEPT = "session_kept_print"      # fingerprint of what was last written to the store
K_RESTORED = "session_restored"    # True: restored from the store (kernel variables are gone)
K_FOREIGN = "session_foreign"      # the session id in the link belongs to another user
K_ELSEWHERE = "session_runs_elsewhere"  # ids of the session's runs another process is writing
SETTING_KEYS = (state.K_ENABLE_TRACE, state.K_SHOW_CODE)


def sync() -> None:
    """Call once per script run, before any widget: read the URL on a browser session's
    first run, then keep the URL and the store in step with the session."""
    ss = st.session_state
    if not ss.get(K_LINKED):
        ss[K_LINKED] = True
        _from_url(st.query_params.get(PARAM))
    if ss.get(K_FOREIGN):
        return  # the not-yours page: the link stays as it was, nothing is written
    sid = state.get_agent_session().session_id
    if st.query_params.get(PARAM) != sid:
        st.query_params[PARAM] = sid
    persist()


def show_notice() -> None:
    if msg := st.session_state.pop(K_NOTICE, None):
        st.info(msg, icon=":material/link:")


def _store() -> RunStore | None:
    from components import resources  # noqa: PLC0415 - resources imports state

    return resources.get_run_store()


def _user() -> str | None:
    from components.identity import current_user  # noqa: PLC0415

    return current_user(state.get_settings())


def is_foreign(store: RunStore, session_id: str) -> bool:
    """Whether ``session_id`` belongs to a user other than the current one (no user, or a
    session nobody owns: never)."""
    user = _user()
    owner = store.session_owner(session_id) if user is not None else None
    return owner is not None and owner != user


def render_not_yours() -> None:
    """The page a link to another user's session gets: nothing of that session, a way on."""
    st.title("This session belongs to another user")
    st.warning("The session in this link is not one of yours, so nothing of it is shown. "
               "Your own sessions and runs are on the History page.", icon=":material/lock:")
    if st.button("Start a session of your own", type="primary", key="not_yours_new",
                 icon=":material/add:"):
        st.session_state.pop(K_FOREIGN, None)
        st.rerun()


def _from_url(wanted: str | None) -> None:
    if not wanted:
        return
    if wanted == state.get_agent_session().session_id:
        return
    store = _store()
    if store is not None and is_valid_session_id(wanted) and is_foreign(store, wanted):
        st.session_state[K_FOREIGN] = True
        return
    kept = store.session_state(wanted) if store is not None and is_valid_session_id(wanted) else None
    if kept is None:
        what = "is not a valid session id" if not is_valid_session_id(wanted) else "was not found"
        st.session_state[K_NOTICE] = (f"The session in the link ({wanted[:60]!r}) {what}; "
                                      "a new session was started.")
        return
    assert store is not None
    restore(store, wanted)


#: pages whose runs share the session but are not turns of its Analysis chat (agent_core.run's ``page``)
NOT_IN_CHAT = ("synthetic", "rebuild")


def restore(store: RunStore, session_id: str) -> int:
    """Make ``session_id`` the current session from the store: files, toggles and chat.
    Returns the number of turns restored."""
    kept = store.session_state(session_id)
    old = state.get_agent_session()
    attached = kept.attached if kept is not None else ()
    state.set_agent_session(AgentSession(session_id=session_id, memory_id=old.memory_id,
                                         attachments=attached[-5:]))
    ss = st.session_state
    if kept is not None:
        for key in SETTING_KEYS:
            if isinstance(kept.settings.get(key), bool):
                ss[key] = kept.settings[key]
        ss[state.K_UPLOADED] = {f.name: f.data for f in kept.uploaded}
    turns = []
    # the Analysis conversation only: not re-runs (History shows them under their run), nor the
    # Synthetic page's runs or kernel rebuilds, which share the session id
    runs = [r for r in store.list_runs(session=session_id, limit=1000)
            if r.parent_run_id is None and r.settings.get("page") not in NOT_IN_CHAT]
    # a run still ``running`` is another process's (another replica, or this one's page that was
    # reloaded mid-run): the Analysis page follows it read-only until it ends
    ss[K_ELSEWHERE] = [r.id for r in sorted(runs, key=lambda r: r.started) if r.outcome == "running"]
    for r in sorted(runs, key=lambda r: r.started):
        if r.outcome != "running":
            turns.append(stored_turn(store, r))
    ss[state.K_CHAT] = turns
    ss[K_RESTORED] = bool(turns)
    ss[K_KEPT] = _fingerprint()
    if turns:
        ss[state.K_WELCOMED] = True
    return len(turns)


def stored_turn(store: RunStore, run: RunInfo) -> state.Turn:
    """A chat turn rebuilt from a stored run's events."""
    from agent_core.run import RunCollector  # noqa: PLC0415

    collector = RunCollector()
    for event in store.run_events(run.id):
        collector.add(event)
    return state.Turn(run.prompt, collector.result(), run.id, run.backend, outcome=run.outcome)


def _fingerprint() -> str:
    session = state.get_agent_session()
    ss = st.session_state
    h = hashlib.sha256(session.session_id.encode())
    for f in session.attachments:
        h.update(f"a:{f.name}:{f.media_type}:".encode() + hashlib.sha256(f.data).digest())
    for name, data in (ss.get(state.K_UPLOADED) or {}).items():
        h.update(f"u:{name}:".encode() + hashlib.sha256(data).digest())
    for key in SETTING_KEYS:
        h.update(f"s:{key}={ss.get(key)!r}".encode())
    return h.hexdigest()


def persist() -> None:
    """Write the session's files and toggles to the store when they changed."""
    from agent_core.files import AttachedFile, guess_declared_type  # noqa: PLC0415

    ss = st.session_state
    mark = _fingerprint()
    if ss.get(K_KEPT) == mark:
        return
    session = state.get_agent_session()
    uploaded = [AttachedFile(name=n, media_type=guess_declared_type(n), data=d)
                for n, d in (ss.get(state.K_UPLOADED) or {}).items()]
    if not session.attachments and not uploaded and not state.get_chat() and K_KEPT not in ss:
        ss[K_KEPT] = mark  # a fresh, empty session: nothing worth a row yet
        return
    store = _store()
    if store is None:
        return
    try:
        store.save_session_state(session.session_id, state.get_settings().backend,
                                 settings={k: bool(ss.get(k)) for k in SETTING_KEYS},
                                 attached=session.attachments, uploaded=uploaded, owner=_user())
    except Exception:  # noqa: BLE001 - outer edge: keeping the session is a bonus; the page goes on
        log.warning("could not keep session %s in the store", session.session_id)
        return
    ss[K_KEPT] = mark


# --- the kernel after a restore -------------------------------------------------------------
def code_cells(store: RunStore, session_id: str) -> list[str]:
    """Every code cell the session's runs executed, oldest run first."""
    from agent_core.events import CodeInvocation  # noqa: PLC0415

    cells: list[str] = []
    for r in sorted(store.list_runs(session=session_id, limit=1000), key=lambda r: r.started):
        cells += [e.code for e in store.run_events(r.id) if isinstance(e, CodeInvocation)]
    return cells


REBUILD_TEMPLATE = '''# Rebuilding the kernel: this session's {n} stored code cell(s), in order.
_adk_cells = {cells!r}
for _adk_i, _adk_code in enumerate(_adk_cells, 1):
    try:
        exec(compile(_adk_code, f"<cell {{_adk_i}}>", "exec"), globals())
    except Exception as _adk_e:  # one failing cell does not stop the rest
        print(f"cell {{_adk_i}} failed: {{type(_adk_e).__name__}}: {{_adk_e}}")
print("Rebuilt: {n} cell(s) run.")
'''


def rebuild_code(cells: list[str]) -> str:
    return REBUILD_TEMPLATE.format(n=len(cells), cells=cells)
