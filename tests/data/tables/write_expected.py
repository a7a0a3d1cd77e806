"""Writes ``<file>.expected.json`` for each corpus file from ``inspect --json``. Run it only
after checking each verdict by hand (``python -m agent_core inspect FILE``): the files pin
what a correct reading is."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from tests.unit.table_corpus import FILES, expected_path, pinned  # noqa: E402

for path in FILES:
    out = subprocess.run([sys.executable, "-m", "agent_core", "inspect", str(path), "--json"],
                         capture_output=True, text=True, check=False)
    expected_path(path).write_text(json.dumps(pinned(json.loads(out.stdout)), indent=1,
                                              ensure_ascii=False) + "\n")
    print(path.name)
