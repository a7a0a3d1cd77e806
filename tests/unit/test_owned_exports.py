"""Exports check ownership (issue 16): another user's run or session is refused; the owner,
a row of no owner, and the operator's CLI (no user) export as before."""
from __future__ import annotations

import io
import zipfile

import pytest

from agent_core.events import CodeInvocation, TextChunk
from agent_core.export import ExportNotYoursError, run_to_notebook, run_to_zip, session_to_notebook
from agent_core.store import RunStore


def test_exports_refuse_another_users_run_and_session(tmp_path):
    store = RunStore(tmp_path)
    run = store.start_run("s-ann", "Ann's chart", "local", owner="ann@example.com")
    store.append_event(run, CodeInvocation(code="x = 1", step_id="t1"))
    store.append_event(run, TextChunk(text="done"))
    store.finish_run(run, "completed")
    old = store.start_run("s-old", "before users", "local")
    store.finish_run(old, "completed")

    for export in (lambda: run_to_zip(store, run, owner="bob@example.com"),
                   lambda: run_to_notebook(store, run, owner="bob@example.com"),
                   lambda: session_to_notebook(store, "s-ann", owner="bob@example.com")):
        with pytest.raises(ExportNotYoursError, match="another user") as refused:
            export()
        assert refused.value.kind == "access_denied" and "example.com" not in str(refused.value)
    names = zipfile.ZipFile(io.BytesIO(run_to_zip(store, run, owner="ann@example.com"))).namelist()
    assert "run.json" in names
    assert run_to_zip(store, run)  # the CLI: no user, no check
    assert session_to_notebook(store, "s-ann", owner="ann@example.com").cells
    assert run_to_notebook(store, old, owner="bob@example.com").cells  # a row of no owner
