"""Synthetic data: a form with every rule -> prompt (Bedrock) or local plan -> tables,
box plot, and an independent rule-by-rule check of whatever came back."""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from agent_core import run as agent_run
from agent_core.run import AgentRequest, RunResult
from agent_core.safe_text import neutralise_markdown
from agent_core.synthetic import (
    US_STATES,
    SpecError,
    SyntheticSpec,
    plan_code,
)
from components import resources, state
from components.event_view import EventRouter, replay

K_SPEC = "synthetic_spec"
K_RUN = "synthetic_run"
K_PROMPT = "synthetic_prompt"
STATES = sorted(US_STATES)


@dataclass(frozen=True)
class SyntheticRun:
    spec: SyntheticSpec
    prompt: str
    result: RunResult
    run_id: str | None = None


def _form(default: SyntheticSpec) -> SyntheticSpec | None:
    """The form; returns a validated spec when submitted, else None."""
    d = default
    with st.form("synthetic_form", border=True):
        c1, c2, c3 = st.columns(3)
        n = c1.number_input("Number of companies", 1, 100_000, d.n_companies, step=10, key="syn_n")
        prefix = c2.text_input("ID prefix", d.id_prefix, max_chars=10, help="Letters only, e.g. C",
                               key="syn_prefix")
        width = c3.number_input("ID digits", 1, 12, d.id_width, help="C + 5 digits: C00001",
                                key="syn_width")
        c1, c2, c3 = st.columns(3)
        sales_file = c1.text_input("Sales file name", d.sales_file)
        details_file = c2.text_input("Details file name", d.details_file)
        box_file = c3.text_input("Box plot file name", d.box_plot_file)
        c1, c2 = st.columns(2)
        east = c1.multiselect("East-coast states", STATES, list(d.east_states))
        west = c2.multiselect("West-coast states", STATES, list(d.west_states))
        c1, c2, c3, c4 = st.columns(4)
        east_min = c1.number_input("East revenue min ($)", 0, None, int(d.east_min), step=10_000)
        east_max = c2.number_input("East revenue max ($)", 0, None, int(d.east_max), step=10_000)
        west_min = c3.number_input("West revenue min ($)", 0, None, int(d.west_min), step=10_000)
        west_max = c4.number_input("West revenue max ($)", 0, None, int(d.west_max), step=10_000)
        with st.expander("Column names", expanded=False):
            c1, c2, c3, c4 = st.columns(4)
            id_col = c1.text_input("ID column", d.id_column)
            name_col = c2.text_input("Name column", d.name_column)
            sales_col = c3.text_input("Revenue column", d.sales_column)
            state_col = c4.text_input("State column", d.state_column)
        c1, c2, c3, c4 = st.columns(4)
        seed = c1.number_input("Random seed", 0, 2**31 - 1, d.seed)
        c2.checkbox("Readable company names", True, disabled=True,
                    help="Names are real-looking English company names (Faker), always checked.")
        box = c3.checkbox("Box plot per region", d.want_box_plot)
        selftest = c4.checkbox("Agent tests its own rules", d.want_self_test)
        submitted = st.form_submit_button("Generate", type="primary", icon=":material/bolt:")
    if not submitted:
        return None
    try:
        return SyntheticSpec(
            n_companies=int(n), id_prefix=prefix.strip(), id_width=int(width),
            sales_file=sales_file.strip(), details_file=details_file.strip(),
            box_plot_file=box_file.strip() or d.box_plot_file,
            id_column=id_col.strip(), name_column=name_col.strip(),
            sales_column=sales_col.strip(), state_column=state_col.strip(),
            east_states=tuple(east), west_states=tuple(west),
            east_min=float(east_min), east_max=float(east_max),
            west_min=float(west_min), west_max=float(west_max),
            seed=int(seed), want_box_plot=box, want_self_test=selftest,
        ).validate()
    except SpecError as exc:
        st.error(f"{exc} Change the form and press Generate again.")
        return None


def _run(spec: SyntheticSpec, prompt: str) -> None:
    """Send the prompt through the one run path (agent_core.run); render what it yields."""
    session = state.get_agent_session()
    request = AgentRequest(text=prompt, session_id=session.session_id, task=spec,
                           memory_id=session.memory_id, enable_trace=state.enable_trace())
    router = EventRouter(st.container(), show_code=state.show_code(),
                         show_trace=state.enable_trace(), key="synthetic", show_files=False,
                         title="Generating")
    run = agent_run.start(request, resources.get_backend, page="synthetic", **resources.run_options())
    router.follow(run)
    st.session_state[K_RUN] = SyntheticRun(spec, prompt, router.finish(), run.run_id)
    st.rerun()


def _find(files, name: str, column: str):
    """The returned file called ``name``, else the first CSV with ``column`` in its header."""
    by_name = [f for f in files if f.name.lower() == name.lower()]
    if by_name:
        return by_name[0]
    for f in files:
        if f.is_table and column.encode() in f.data[:2048]:
            return f
    return None


def _checks_table(checks) -> None:
    import pandas as pd  # noqa: PLC0415

    failed = [c for c in checks if not c.passed]
    if failed:
        st.error(f"{len(failed)} of {len(checks)} rules fail: "
                 + "; ".join(c.rule for c in failed[:5]), icon=":material/rule:")
    else:
        st.success(f"All {len(checks)} rules pass.", icon=":material/verified:")
    frame = pd.DataFrame({"Rule": [c.rule for c in checks],
                          "Result": ["PASS" if c.passed else "FAIL" for c in checks],
                          "Details": [c.detail for c in checks]})
    st.dataframe(frame, width="stretch", hide_index=True, key="synthetic_checks",
                 height=38 + 35 * len(frame))


def render_result(spec: SyntheticSpec, files, *, key: str) -> None:
    """SALES and DETAILS, the box plot (PNG + interactive) and the rule check."""
    from agent_core.synthetic import read_tables, verify  # noqa: PLC0415
    from components.file_view import render_file  # noqa: PLC0415

    sales_f = _find(files, spec.sales_csv, spec.sales_column)
    details_f = _find(files, spec.details_csv, spec.state_column)
    sales = details = None
    if sales_f is not None and details_f is not None:
        try:
            sales, details = read_tables(sales_f.data, details_f.data)
        except Exception:  # noqa: BLE001 - the check table then says what is wrong
            st.error("The returned tables could not be read as CSV.")
    missing = [n for n, f in ((spec.sales_csv, sales_f), (spec.details_csv, details_f)) if f is None]
    if missing:
        st.error(f"The agent did not return {' and '.join(missing)}. Press Generate again, "
                 "or edit the prompt to ask for the files by name.")
    left, right = st.columns(2)
    for col, f, df in ((left, sales_f, sales), (right, details_f, details)):
        if f is None or df is None:
            continue
        with col:
            st.subheader(neutralise_markdown(f.name))
            st.caption(f"{len(df):,} rows · {len(df.columns)} columns")
            st.dataframe(df, width="stretch", height=320, hide_index=True)
            st.download_button(f"Download {neutralise_markdown(f.name)}", f.data, file_name=f.name,
                               mime="text/csv",
                               key=f"{key}_{f.name}_dl", icon=":material/download:")
            from components.file_view import formula_guard  # noqa: PLC0415

            formula_guard(f, f"{key}_{f.name}")
    images = [f for f in files if f.is_image]
    if images or (sales is not None and details is not None):
        st.subheader("Revenue by region")
        left, right = st.columns(2)
        if images:
            with left:
                render_file(images[0], key=f"{key}_png")
        if sales is not None and details is not None:
            with right if images else left:
                _interactive_box(spec, sales, details, key)
    st.subheader("Rule check")
    st.caption("Run here, independently of the agent, on the files it returned.")
    _checks_table(verify(spec, sales, details))
    others = [f for f in files if f not in (sales_f, details_f) and f not in images[:1]]
    if others:
        with st.expander(f"Other returned files ({len(others)})"):
            for i, f in enumerate(others):
                render_file(f, key=f"{key}_other{i}")


def _interactive_box(spec: SyntheticSpec, sales, details, key: str) -> None:
    try:
        from components.charts import box_plot  # noqa: PLC0415

        merged = sales.merge(details, on=spec.id_column, how="inner")
        merged["Region"] = merged[spec.state_column].map(
            lambda s: (spec.region_of(str(s)) or "other").title())
        fig = box_plot(merged, "Region", spec.sales_column,
                       colors={"East": "#2F6F8F", "West": "#C8553D"})
    except Exception:  # noqa: BLE001 - the rule check says what is wrong with the tables
        st.info("An interactive box plot needs the ID, state and revenue columns.")
        return
    st.markdown("**Interactive box plot**")
    st.plotly_chart(fig, key=f"{key}_box", width="stretch")


st.title("Synthetic data")
st.caption("Describe the companies dataset you need; the agent generates SALES and DETAILS, "
           "and every rule is checked independently on what comes back.")
if err := resources.backend_error():
    st.warning(err)

spec_default = st.session_state.get(K_SPEC) or SyntheticSpec()
submitted = _form(spec_default)
if submitted is not None:
    st.session_state[K_SPEC] = submitted
    st.session_state[K_PROMPT] = submitted.to_prompt()  # a new spec: a fresh prompt to edit
    st.session_state.pop(K_RUN, None)

spec = st.session_state.get(K_SPEC)
remote = state.get_settings().backend != "local"
if spec is not None and K_RUN not in st.session_state:
    if remote:
        st.subheader("Prompt for the agent")
        st.session_state.setdefault(K_PROMPT, spec.to_prompt())
        prompt = st.text_area("Edit the prompt if you like, then send it.", height=260,
                              key=K_PROMPT)
        if st.button("Send to the agent", type="primary", key="synthetic_send",
                     icon=":material/send:"):
            _run(spec, prompt)
    elif submitted is not None:  # the local agent runs its plan right away
        with st.expander("The local agent's plan (Python)", expanded=False):
            st.code(plan_code(spec), language="python")
        _run(spec, spec.to_prompt())

run: SyntheticRun | None = st.session_state.get(K_RUN)
if run is not None:
    with st.expander("Prompt sent", expanded=False):
        st.code(run.prompt, language=None)
    replay(st.container(), run.result.events, show_code=state.show_code(),
           show_trace=state.enable_trace(), key="synthetic", show_files=False)
    if run.result.failure is not None and st.button("Retry", key="synthetic_retry",
                                                      icon=":material/refresh:"):
        st.session_state.pop(K_RUN, None)
        _run(run.spec, run.prompt)
    render_result(run.spec, run.result.files, key="synthetic_result")
