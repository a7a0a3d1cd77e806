"""Attack 3: one run larger than the retention cap used to delete every run, itself
included. The newest runs of each session and the run being written must survive; the big
run is kept and flagged; History says what retention removed and why."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from agent_core.events import FileReturned, TextChunk
from agent_core.files import ReturnedFile
from agent_core.store import RunStore

MB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[2]


def _run(store: RunStore, session: str, prompt: str, size: int, *, finish: bool = True) -> str:
    run_id = store.start_run(session, prompt, "local")
    store.append_event(run_id, TextChunk(text=prompt))
    store.append_event(run_id, FileReturned(file=ReturnedFile(f"{prompt}.bin", "", os.urandom(size))))
    if finish:
        store.finish_run(run_id, "completed")
    time.sleep(0.01)
    return run_id


@pytest.mark.timeout(60)
def test_one_run_over_the_cap_keeps_the_newest_runs(tmp_path):
    store = RunStore(tmp_path / "home")
    old = [_run(store, "analyst", f"old {i}", MB) for i in range(3)]
    other = _run(store, "colleague", "colleague's run", MB // 2)
    big = _run(store, "analyst", "big", 4 * MB)
    writing = _run(store, "analyst", "still writing", MB // 2, finish=False)

    report = store.enforce_retention(3 * MB, keep_per_session=2, current_run=writing)

    left = {r.id for r in store.list_runs()}
    # the run being written, the newest runs of each session and the big run survive
    assert {writing, big, other} <= left, left
    assert old[0] not in left and old[1] not in left
    assert report.deleted and {d.run_id for d in report.deleted} == {old[0], old[1], old[2]} - left
    assert big in report.over_cap and store.get_run(big).over_cap
    # every deletion is recorded with its reason, for History
    log = store.retention_log()
    assert {e.run_id for e in log} == {d.run_id for d in report.deleted}
    assert all("3 MB" in e.reason and e.prompt.startswith("old") for e in log)
    # the bytes of kept runs are intact
    assert len(store.run_events(big)[1].file.data) == 4 * MB


@pytest.mark.timeout(120)
def test_history_says_what_retention_removed_and_why(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("AGENT_DESK_HOME", str(home))
    monkeypatch.setenv("AGENT_DESK_RETENTION_MB", "3")
    store = RunStore(home)
    for i in range(3):
        _run(store, "analyst", f"old {i}", MB)
    big = _run(store, "analyst", "big", 4 * MB)
    store.close()

    at = AppTest.from_file(str(ROOT / "app_pages/history.py"), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    runs = [o for sb in at.selectbox if sb.label == "Open a run" for o in sb.options]
    assert big and runs[0].endswith("· big") and len(runs) >= 2  # the big run and the newest survive
    assert not any(r.endswith("old 0") for r in runs)
    text = " ".join(e.value for e in [*at.info, *at.warning, *at.caption, *at.markdown])
    assert "old 0" in text and "retention" in text.lower()
    assert "larger than the retention limit" in text
