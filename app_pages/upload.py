"""Upload page: read and check price files, preview them, attach them to the agent session."""
from __future__ import annotations

import hashlib

import streamlit as st

from agent_core.files import (
    MAX_ATTACHED_BYTES,
    MAX_ATTACHED_FILES,
    AttachedFile,
    AttachmentLimitError,
    UnsafeNameError,
    human_size,
    safe_name,
)
from agent_core.safe_text import code_span, neutralise_markdown
from agent_core.sample_data import SAMPLE_NAME, SAMPLE_NOTE, sample_bytes
from agent_core.tables import SUPPORTED_EXTENSIONS, TableRead, read_table, subset, to_csv_bytes, to_long
from components import session_link, state
from components.price_report import render_columns, render_preview, render_verdict

K_EXTRA = "upload_extra_files"  # files added without the uploader (the synthetic sample)
K_MESSAGES = "upload_messages"  # per-file result of the last attach / detach
K_FILES = state.K_UPLOADED      # every file on this page: name -> bytes (kept across pages and in the store)
K_REMOVED = "upload_removed"    # digests the analyst removed while the uploader still holds them
K_SHEETS = "upload_sheets"      # workbook name -> the sheet the analyst chose
MEDIA_TYPES = {
    "csv": "text/csv", "tsv": "text/tab-separated-values", "txt": "text/plain",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "parquet": "application/vnd.apache.parquet", "json": "application/json",
}


@st.cache_data(show_spinner="Reading the file...", max_entries=32)
def _read(digest: str, name: str, sheet: str | None, _data: bytes) -> TableRead:
    """Parse once per content and sheet (the key is the bytes' hash, not the bytes)."""
    return read_table(name, _data, sheet=sheet)


@st.cache_data(show_spinner=False, max_entries=64)
def _chart(digest: str, sheet: str | None, windows: tuple[int, ...], _read_result: TableRead):
    from components.charts import price_chart

    profile = _read_result.profile
    return price_chart(to_long(profile, _read_result.frame), ma_windows=windows,
                       colors={"ma": "#d62728"} if len(profile.tickers) == 1 else None)


def _media_type(name: str) -> str:
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return MEDIA_TYPES.get(ext, "application/octet-stream")


def _size(n: int) -> str:
    return f"{n / 1024:,.1f} KB" if n < 1048576 else f"{n / 1048576:,.1f} MB"


def _messages() -> dict[str, tuple[str, str]]:
    return st.session_state.setdefault(K_MESSAGES, {})


def _attach(name: str, data: bytes, sheet: str | None = None) -> None:
    try:
        state.attach_file(AttachedFile.from_bytes(name, data, media_type=_media_type(name), sheet=sheet))
    except AttachmentLimitError as exc:
        _messages()[name] = ("error", f"{exc} Detach a file above to make room, or use "
                                      "**Attach a smaller copy** below the chart.")
    except UnsafeNameError as exc:
        _messages()[name] = ("error", f"{exc} Rename the file and upload it again.")
    else:
        _messages()[name] = ("success", f"Attached **{name}** to the agent session.")


def _detach(name: str) -> None:
    state.detach_file(name)
    _messages()[name] = ("info", f"Detached **{name}**.")


def _add_sample() -> None:
    st.session_state[K_EXTRA] = {SAMPLE_NAME: sample_bytes()}


def _stored() -> dict[str, bytes]:
    return st.session_state.setdefault(K_FILES, {})


def _remove(name: str, digest: str) -> None:
    _stored().pop(name, None)
    st.session_state.get(K_EXTRA, {}).pop(name, None)
    st.session_state.setdefault(K_REMOVED, set()).add(digest)


def _keep_uploads(uploads: list) -> dict[str, bytes]:
    """The uploader's files, kept in the session: they stay when the analyst switches pages
    (the uploader widget itself forgets them) until the analyst removes them."""
    stored = _stored()
    removed: set[str] = st.session_state.setdefault(K_REMOVED, set())
    seen = set()
    for u in uploads:
        data = u.getvalue()
        digest = hashlib.sha256(data).hexdigest()
        seen.add(digest)
        if digest not in removed:
            stored[u.name] = data
    removed &= seen  # forget removals once the uploader no longer holds the file
    for name, data in st.session_state.get(K_EXTRA, {}).items():
        stored.setdefault(name, data)
    return stored


def _limits() -> None:
    attached = state.get_agent_session().attachments
    used = sum(f.size for f in attached)
    c1, c2 = st.columns(2)
    c1.progress(min(1.0, len(attached) / MAX_ATTACHED_FILES),
                text=f"Attached files: **{len(attached)} of {MAX_ATTACHED_FILES}**")
    c2.progress(min(1.0, used / MAX_ATTACHED_BYTES),
                text=f"Attached size: **{human_size(used)} of "
                     f"{MAX_ATTACHED_BYTES / 1048576:.0f} MB**")
    if attached:
        with st.expander(f"Attached to this agent session ({len(attached)})", expanded=False):
            for f in attached:
                a, b = st.columns([5, 1], vertical_alignment="center")
                a.markdown(f":material/attach_file: {code_span(f.name)} · {_size(f.size)}")
                b.button("Detach", key=f"detach-top-{f.name}", on_click=_detach, args=(f.name,),
                         width="stretch")


def _file_block(name: str, data: bytes, idx: int) -> None:
    digest = hashlib.sha256(data).hexdigest()
    sheets: dict[str, str] = st.session_state.setdefault(K_SHEETS, {})
    result = _read(digest, name, sheets.get(name), data)
    report = result.profile
    try:
        clean = safe_name(name)
    except UnsafeNameError:
        clean = name
    attached = {f.name for f in state.get_agent_session().attachments}
    with st.container(border=True):
        head, act = st.columns([4, 1], vertical_alignment="center")
        head.subheader(f":material/table_chart: {neutralise_markdown(name)}", anchor=False)
        head.caption(_size(len(data)) + (f" · read in {report.read_seconds:.2f} s"
                                                      if report.read_seconds else ""))
        if clean in attached:
            act.button("Detach", key=f"detach-{idx}-{digest[:8]}", on_click=_detach,
                       args=(clean,), icon=":material/link_off:", width="stretch")
        else:
            act.button("Attach", key=f"attach-{idx}-{digest[:8]}", on_click=_attach,
                       args=(name, data, report.sheet), type="primary", icon=":material/attach_file:",
                       width="stretch", disabled=report.error is not None,
                       help="Send this file to the agent with your next request.")
        act.button("Remove", key=f"remove-{idx}-{digest[:8]}", on_click=_remove, args=(name, digest),
                   icon=":material/delete:", width="stretch", help="Take this file off the page.")
        if len(report.sheets) > 1:
            names = [s.name for s in report.sheets]
            current = sheets.get(name) or (report.sheet if report.sheet in names else names[0])
            choice = st.selectbox(
                "Sheet", names, index=names.index(current), key=f"sheet-{idx}-{digest[:8]}",
                format_func=lambda n: n + ("" if next(s for s in report.sheets if s.name == n).usable
                                          else " (no prices found)"),
                help="The workbook has several sheets; the agent reads the one chosen here.")
            if choice != current:
                sheets[name] = choice
                st.rerun()
        msg = _messages().pop(clean, None) or _messages().pop(name, None)
        if msg:
            getattr(st, msg[0])(neutralise_markdown(msg[1]))
        render_verdict(report)
        if not result.ok:
            return
        chart_tab, table_tab, columns_tab = st.tabs([":material/show_chart: Chart", ":material/table: Table",
                                                     ":material/code: Columns and read code"])
        with chart_tab:
            from components.file_view import window_unit

            unit = window_unit(result.profile)  # windows count the data's own periods
            windows = st.multiselect(
                f"Moving averages ({unit})", [5, 10, 20, 50, 100, 200], default=[20],
                key=f"ma-{idx}-{digest[:8]}", help="Computed on the full series, drawn in red.",
                accept_new_options=True)
            try:
                wins = tuple(sorted({int(w) for w in windows if int(w) > 1}))
            except (TypeError, ValueError):
                st.warning(f"A moving-average window must be a whole number of {unit}, like 20.")
                wins = ()
            fig = _chart(digest, report.sheet, wins, result)
            st.plotly_chart(fig, width="stretch", key=f"chart-{idx}-{digest[:8]}")
            meta = fig.layout.meta or {}
            if meta.get("downsampled"):
                st.caption(f"Drawn with {meta['points_shown']:,} of {meta['points_in']:,} points "
                           "(shape-preserving downsampling for display); zoom in for detail. "
                           "The agent gets every row.")
        with table_tab:
            render_preview(report, result.frame, key=f"preview-{idx}-{digest[:8]}")
        with columns_tab:
            render_columns(report)
        _smaller_copy(name, data, result, f"{idx}-{digest[:8]}")


def _smaller_copy(name: str, data: bytes, result: TableRead, key: str) -> None:
    """A date range / tickers / columns form that attaches a trimmed CSV copy: the way
    forward when a file is over what is left of the 10 MB."""
    report = result.profile
    session = state.get_agent_session()
    room = MAX_ATTACHED_BYTES - sum(f.size for f in session.attachments if f.name != name)
    too_big = len(data) > room
    label = ("Too big to attach: attach a smaller copy" if too_big
             else "Attach a smaller copy (date range, tickers, columns)")
    with st.expander(label, expanded=too_big, icon=":material/content_cut:"):
        if too_big:
            st.warning(f"This file is {len(data) / 1048576:.1f} MB; {max(room, 0) / 1048576:.1f} MB "
                       "of Bedrock's 10 MB are left. Keep a shorter date range, fewer tickers or "
                       "fewer columns, then attach the copy.")
        with st.form(f"subset-{key}", border=False):
            import pandas as pd

            start = pd.Timestamp(report.start).to_pydatetime()
            end = pd.Timestamp(report.end).to_pydatetime()
            rng = (st.slider("Date range", min_value=start, max_value=end, value=(start, end),
                             format="YYYY-MM-DD", key=f"subset-range-{key}")
                   if end > start else (start, end))
            tickers = (st.multiselect("Tickers", list(report.tickers), default=list(report.tickers),
                                      key=f"subset-tickers-{key}")
                       if report.layout in ("long", "wide") else None)
            columns = (st.multiselect("Columns", list(report.price_columns),
                                      default=list(report.price_columns),
                                      key=f"subset-cols-{key}")
                       if report.layout != "wide" else None)
            submitted = st.form_submit_button("Attach the smaller copy", icon=":material/attach_file:")
        if submitted:
            frame = subset(report, result.frame, start=rng[0], end=rng[1], tickers=tickers, columns=columns)
            if frame.empty or len(frame.columns) < 2:
                st.error("That selection is empty. Widen the date range or keep at least one "
                         "ticker and one column.")
                return
            stem = name.rsplit(".", 1)[0] if "." in name else name
            copy_name = safe_name(f"{stem}_subset.csv")
            _attach(copy_name, to_csv_bytes(frame))
            kind, text = _messages().get(copy_name, ("", ""))
            if kind == "success":
                _messages()[copy_name] = (kind, f"{text} {len(frame):,} rows, "
                                                f"{len(to_csv_bytes(frame)) / 1048576:.2f} MB.")
            st.rerun()
        stem = name.rsplit(".", 1)[0] if "." in name else name
        try:
            copy_msg = _messages().pop(safe_name(f"{stem}_subset.csv"), None)
        except UnsafeNameError:
            copy_msg = None
        if copy_msg:
            getattr(st, copy_msg[0])(neutralise_markdown(copy_msg[1]))


st.title("Upload price data")
st.caption("CSV, TSV, TXT, XLSX, Parquet or JSON. Long (`symbol,date,price`), wide (one column "
           "per ticker) and OHLC(V) tables are recognised. Attached files go to the agent with "
           "your next request on the Analysis page.")
_limits()

uploads = st.file_uploader("Price files", type=list(SUPPORTED_EXTENSIONS),
                           accept_multiple_files=True, key="price_uploads",
                           help="Several files at once are fine. Bedrock accepts at most "
                                f"{MAX_ATTACHED_FILES} attached files and "
                                f"{MAX_ATTACHED_BYTES // 1048576} MB in all.")
stored = _keep_uploads(list(uploads or []))
if not stored:
    st.button("No file at hand? Try the synthetic sample", on_click=_add_sample,
              icon=":material/science:")
files: list[tuple[str, bytes]] = list(stored.items())
if SAMPLE_NAME in stored:
    st.info(SAMPLE_NOTE, icon=":material/science:")
for i, (fname, fdata) in enumerate(files):
    try:
        _file_block(fname, fdata, i)
    except Exception as exc:  # noqa: BLE001 - never a traceback on the page
        st.error(f"Something went wrong while showing {neutralise_markdown(fname)} ({type(exc).__name__}). "
                 "Try uploading it again, or save it as CSV with a date column and price columns.")
session_link.persist()  # uploaded files are kept with the session (a refresh brings them back)
