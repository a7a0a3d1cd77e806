"""Agent Desk: the entry point (page config, session state, navigation, sidebar, welcome)."""
from __future__ import annotations

from components import state
from components.sidebar import build_frame

state.use_navigation_only()  # this script is running: leave Streamlit's legacy pages/ mode
build_frame().run()
