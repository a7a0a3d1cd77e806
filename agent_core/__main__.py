"""``python -m agent_core ...``: see :mod:`agent_core.cli`."""
from agent_core.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
