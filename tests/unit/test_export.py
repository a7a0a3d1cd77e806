"""Export: a run made of real kernel output -> a notebook that runs in a fresh kernel, and a zip."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from agent_core.events import CodeOutput, FileReturned, UnknownEvent, event_from_dict
from agent_core.export import run_to_notebook, run_to_zip, session_to_notebook
from agent_core.files import AttachedFile
from agent_core.store import RunStore

ROOT = Path(__file__).resolve().parents[2]
PRICES = "date,close\n" + "".join(f"2024-01-{d:02d},{100 + d * 1.5}\n" for d in range(1, 29))
CHART_CODE = """\
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
df = pd.read_csv("prices.csv", parse_dates=["date"])
df["ma5"] = df["close"].rolling(5).mean()
ax = df.plot(x="date", y=["close", "ma5"])
ax.figure.savefig("chart.png")
df.tail(3).to_csv("summary.csv", index=False)
print("rows:", len(df))
"""


@pytest.fixture(scope="module")
def chart_run(tmp_path_factory):
    """A run recorded from the real local agent: it runs the code in a Jupyter kernel and
    returns the PNG and CSV the code wrote, as the same events as any run."""
    from agent_core.backends.base import AgentRequest
    from agent_core.backends.local import LocalAgent
    from agent_core.config import load_settings
    from components.code_editor import rerun_prompt

    home = tmp_path_factory.mktemp("store-home")
    settings = load_settings(env={"AGENT_DESK_HOME": str(home)}, secrets={})
    store = RunStore(home)
    attach = AttachedFile.from_bytes("prices.csv", PRICES.encode())
    agent = LocalAgent(settings)
    try:
        request = AgentRequest(text=rerun_prompt(CHART_CODE), session_id="sess-export",
                               files=(attach,))
        with store.recording("sess-export", "Plot close with a 5-day moving average", "local",
                             settings, [attach]) as rec:
            for event in agent.invoke(request):
                rec.add(event)
            rec.add(UnknownEvent(raw={"somethingNew": 1}))
        run_id = rec.run_id
        # a second run in the same session whose code fails
        with store.recording("sess-export", "Now something that fails", "local", settings) as rec:
            for event in agent.invoke(AgentRequest(text=rerun_prompt("print(len(undefined_name))"),
                                                   session_id="sess-export")):
                rec.add(event)
        second = rec.run_id
    finally:
        agent.close()
    events = store.run_events(run_id)
    png = next(e.file.data for e in events if isinstance(e, FileReturned) and e.file.name == "chart.png")
    stdout = "".join(e.text for e in events if isinstance(e, CodeOutput))
    assert "rows: 28" in stdout
    return store, run_id, second, png, stdout


@pytest.mark.timeout(120)
def test_notebook_runs_in_fresh_kernel_and_recreates_chart(chart_run, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    store, run_id, _, png, stdout = chart_run
    nb = run_to_notebook(store, run_id)
    nbformat.validate(nb)
    kinds = [c.cell_type for c in nb.cells]
    assert kinds[:3] == ["markdown", "code", "markdown"]  # title, load files, prompt
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert code_cells[1].source.strip() == CHART_CODE.strip()
    outputs = code_cells[1].outputs
    assert outputs[0]["text"] == stdout
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert any("Plot close with a 5-day" in c.source for c in nb.cells if c.cell_type == "markdown")
    assert any("summary.csv" in c.source for c in nb.cells if c.cell_type == "markdown")

    # a folder with nothing in it: the notebook brings its own attached files
    run_dir = tmp_path / "fresh"
    run_dir.mkdir()
    client = NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(run_dir)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    assert (run_dir / "prices.csv").read_text() == PRICES
    chart = (run_dir / "chart.png").read_bytes()
    assert chart.startswith(b"\x89PNG") and len(chart) > 1000
    chart_cell = next(c for c in nb.cells if c.cell_type == "code" and c.source.strip() == CHART_CODE.strip())
    assert "rows: 28" in "".join(o.get("text", "") for o in chart_cell.outputs)


def test_session_notebook_holds_all_runs_in_order(chart_run):
    store, run_id, second, _, _ = chart_run
    nb = session_to_notebook(store, "sess-export")
    prompts = [c.source for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("## Prompt")]
    assert len(prompts) == 2 and "5-day" in prompts[0] and "fails" in prompts[1]
    err = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert err[0]["ename"] == "NameError"


def test_zip_holds_files_and_valid_events_jsonl(chart_run):
    store, run_id, _, png, _ = chart_run
    data = run_to_zip(store, run_id)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = set(zf.namelist())
        assert {"files/chart.png", "files/summary.csv", "attached/prices.csv", "events.jsonl",
                "run.json"} <= names
        assert zf.read("files/chart.png") == png
        lines = zf.read("events.jsonl").decode().splitlines()
        meta = json.loads(zf.read("run.json"))
    events = [json.loads(line) for line in lines]
    kinds = [e["event"] for e in events]
    assert kinds == [type(e).__name__ for e in store.run_events(run_id)]
    steps = [k for k in kinds if k != "CodeOutputProgress"]  # output printed as it ran
    assert steps[:3] == ["Rationale", "CodeInvocation", "CodeOutput"] and steps[-1] == "UnknownEvent"
    chart = next(e for e in events if e["event"] == "FileReturned" and e["file"]["name"] == "chart.png")
    assert chart["file"]["size"] == len(png) and "data_b64" not in chart["file"]
    assert event_from_dict(events[1]).code.strip() == CHART_CODE.strip()
    assert meta["id"] == run_id and meta["outcome"] == "completed"


@pytest.mark.timeout(60)
def test_cli_export_writes_notebook_and_zip(chart_run, tmp_path):
    store, run_id, _, png, _ = chart_run
    env = {**os.environ, "AGENT_DESK_HOME": str(store.home), "PYTHONPATH": str(ROOT)}
    has_main = (ROOT / "agent_core" / "__main__.py").exists()
    base = [sys.executable, "-m", "agent_core", "export"] if has_main else [sys.executable, "-m", "agent_core.export"]
    out = tmp_path / "x.ipynb"
    done = subprocess.run([*base, run_id, "--format", "ipynb", "--out", str(out)], env=env,
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["cells"][1]["cell_type"] == "code"
    done = subprocess.run([*base, run_id, "--format", "zip"], env=env, capture_output=True,
                          text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(tmp_path / f"{run_id}.zip") as zf:
        assert zf.read("files/chart.png") == png
    missing = subprocess.run([*base, "run-nope"], env=env, capture_output=True, text=True,
                             cwd=tmp_path, timeout=60)
    assert missing.returncode == 2 and "No run 'run-nope'" in missing.stderr
    assert "Traceback" not in missing.stderr
