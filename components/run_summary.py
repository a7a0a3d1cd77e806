"""A run's cost and time at a glance: outcome, duration, time to first event, tokens."""
from __future__ import annotations

from typing import Any

import streamlit as st

OUTCOME_ICONS = {
    "completed": ":material/check_circle:",
    "failed": ":material/error:",
    "interrupted": ":material/pause_circle:",
    "running": ":material/pending:",
}


def format_seconds(seconds: float | None) -> str:
    """``0.42 s``, ``12.3 s``, ``2 min 05 s``; an em dash when unknown."""
    if seconds is None:
        return "—"
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s"


def format_tokens(n: int | None) -> str:
    return "—" if n is None else f"{n:,}"


def summary_values(run: Any) -> dict[str, str]:
    """The numbers shown, as text (``run`` is an ``agent_core.store.RunInfo``)."""
    return {
        "Outcome": run.outcome,
        "Duration": format_seconds(run.duration_seconds),
        "First event": format_seconds(run.first_event_seconds),
        "Tokens in": format_tokens(run.input_tokens),
        "Tokens out": format_tokens(run.output_tokens),
    }


def render_run_summary(run: Any) -> None:
    """One row of metrics; tokens are '—' when the backend reported no usage."""
    values = summary_values(run)
    cols = st.columns(len(values))
    for col, (label, value) in zip(cols, values.items(), strict=True):
        col.metric(label, value)
    if run.input_tokens is None and run.output_tokens is None:
        st.caption("No token usage was reported for this run (the local agent uses no model; "
                   "Bedrock reports usage in the trace when tracing is on).")
