"""Renders a table profile (:class:`agent_core.tables.TableProfile`): the verdict, what was
detected, the role of every column, what was set aside and why, the pandas code that reads
the file, and a preview of the tidy table with column formats."""
from __future__ import annotations

from typing import Any

import streamlit as st

from agent_core.safe_text import neutralise_markdown
from agent_core.tables import ROLES, TableProfile, describe, detected_rows

PREVIEW_ROWS = 1000


def render_verdict(profile: TableProfile) -> None:
    """st.error / st.warning / st.success with the one-line verdict and every problem."""
    if profile.error:
        st.error(f"**This file can't be used.** {neutralise_markdown(profile.error)}",
                 icon=":material/error:")
        return
    # problems and the description quote cells and column names of the file: never Markdown
    # (a cell could hold a remote image)
    problems = "".join(f"\n- {neutralise_markdown(p)}" for p in profile.problems)
    if profile.problems:
        st.warning(f"**Usable, with {len(profile.problems)} thing"
                   f"{'s' if len(profile.problems) != 1 else ''} to check.** "
                   f"{neutralise_markdown(describe(profile))}"
                   f"{problems}", icon=":material/warning:")
    else:
        st.success(f"**Ready.** {neutralise_markdown(describe(profile))}", icon=":material/check_circle:")
    rows = detected_rows(profile)
    st.table({"Detected": [k for k, _ in rows], "Value": [neutralise_markdown(str(v)) for _, v in rows]},
             hide_index=True, hide_header=True)


def render_columns(profile: TableProfile) -> None:
    """Every column of the file with its role, and the code that reads the file."""
    st.dataframe({"Column": [c.name for c in profile.columns],
                  "Role": [c.role for c in profile.columns],
                  "Meaning": [ROLES.get(c.role, "") for c in profile.columns],
                  "Unit": [c.unit or "" for c in profile.columns],
                  "Used": ["yes" if c.kept else f"set aside: {c.note or 'not used'}"
                           for c in profile.columns]},
                 hide_index=True, width="stretch")
    st.caption("The agent reads the file with exactly this code (and so does an exported notebook):")
    st.code(profile.read_code, language="python")


def column_config(profile: TableProfile, frame: Any) -> dict[str, Any]:
    """Column formats: dates as dates, prices with 2 decimals, volume as integers."""
    cfg: dict[str, Any] = {}
    d = profile.date_column
    if d:
        intraday = profile.frequency.kind == "intraday" or "T" in (profile.start or "")
        cfg[d] = st.column_config.DatetimeColumn(d, format="YYYY-MM-DD HH:mm" if intraday else "YYYY-MM-DD")
    if profile.ticker_column:
        cfg[profile.ticker_column] = st.column_config.TextColumn(profile.ticker_column)
    for col in profile.price_columns:
        cfg[col] = st.column_config.NumberColumn(col, format="%.2f")
    if profile.volume_column:
        cfg[profile.volume_column] = st.column_config.NumberColumn(profile.volume_column, format="localized")
    return cfg


def render_preview(profile: TableProfile, frame: Any, *, key: str | None = None) -> None:
    """The first rows of the tidy table with column formats."""
    if frame is None:
        return
    shown = frame.head(PREVIEW_ROWS)
    st.dataframe(shown, column_config=column_config(profile, frame), hide_index=True, height=320,
                 key=key, width="stretch")
    if len(frame) > len(shown):
        st.caption(f"Showing the first {len(shown):,} of {len(frame):,} rows (sorted by date). "
                   "The whole file goes to the agent.")
