"""Agent Desk's engine: pure Python, no Streamlit anywhere below here."""
__version__ = "0.1.0"
