"""Agent Desk: the entry point (page config, navigation, sidebar, session state)."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from components import state
from components.sidebar import render_sidebar, render_welcome

ROOT = Path(__file__).resolve().parent

st.set_page_config(page_title="Agent Desk", page_icon=":material/analytics:", layout="wide")
state.init_state()

# (file, title, icon, default); a page file that has not landed yet is left out.
_PAGES = [
    ("pages/upload.py", "Upload", ":material/upload_file:", False),
    ("pages/analysis.py", "Analysis", ":material/query_stats:", True),
    ("pages/synthetic_data.py", "Synthetic data", ":material/dataset:", False),
    ("pages/history.py", "History", ":material/history:", False),
]
pages = [st.Page(path, title=title, icon=icon, default=default)
         for path, title, icon, default in _PAGES if (ROOT / path).exists()]
nav = st.navigation(pages)
render_sidebar()

render_welcome(analysis_page="pages/analysis.py")
nav.run()
