"""Reusable Streamlit renderers; each is a function of plain data (no parsing, no I/O)."""
