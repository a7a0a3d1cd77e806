"""Agent Desk: the entry point (page config, session state, navigation, sidebar, welcome)."""
from __future__ import annotations

from components.sidebar import build_frame

build_frame().run()
