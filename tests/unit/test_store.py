"""The run store: real SQLite files, real subprocesses, real SIGKILL."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from agent_core.config import load_settings
from agent_core.events import (
    AgentFailure, CodeInvocation, CodeOutput, FileReturned, FinalResponse, GuardrailAction,
    KnowledgeBaseResult, Rationale, TextChunk, UnknownEvent, Usage,
)
from agent_core.files import AttachedFile, ReturnedFile
from agent_core.store import (
    NotYourSessionError, RunNotFoundError, RunStore, public_settings, writer_alive,
)
from agent_core.store_schema import LATEST, MIGRATIONS, _statements

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def sample_events() -> list:
    return [
        Rationale(text="I will load the prices.", step_id="t1", source="orchestration"),
        CodeInvocation(code="import pandas as pd\nprint(1)", files=("prices.csv",), step_id="t1"),
        CodeOutput(text="1\n", step_id="t1"),
        FileReturned(file=ReturnedFile(name="chart.png", declared_type="image/png", data=PNG)),
        FileReturned(file=ReturnedFile(name="table.csv", declared_type="text/csv",
                                       data=b"a,b\n1,2\n")),
        Usage(input_tokens=120, output_tokens=30, step_id="t1"),
        Usage(input_tokens=80, output_tokens=None, step_id="t2"),
        GuardrailAction(action="NONE", details={"k": [1, 2]}),
        KnowledgeBaseResult(references=({"uri": "s3://x"},)),
        UnknownEvent(raw={"weird": {"nested": [1, "two"]}, "blob": b"\x00\x01"}),
        TextChunk(text="Done: chart ✓"),
    ]


def test_run_written_event_by_event_reads_back_equal(tmp_path):
    store = RunStore(tmp_path)
    attach = AttachedFile.from_bytes("prices.csv", b"date,close\n2024-01-01,1\n")
    settings = load_settings(env={}, secrets={})
    run_id = store.start_run("sess-a", "Plot the prices", "local", settings, [attach])
    events = sample_events()
    for i, ev in enumerate(events):
        assert store.append_event(run_id, ev) == i
        # write-through: a second connection sees each event as soon as it is appended
        other = sqlite3.connect(tmp_path / "runs.sqlite3")
        assert other.execute("SELECT COUNT(*) FROM events WHERE run_id=?", (run_id,)).fetchone()[0] == i + 1
        other.close()
    store.finish_run(run_id, "completed")
    store.close()

    reopened = RunStore(tmp_path)
    assert reopened.run_events(run_id) == events
    info = reopened.get_run(run_id)
    assert info.outcome == "completed" and info.prompt == "Plot the prices"
    assert (info.input_tokens, info.output_tokens) == (200, 30)
    assert info.first_event_seconds is not None and info.duration_seconds >= info.first_event_seconds
    assert info.event_count == len(events) and info.file_count == 2
    assert info.settings["backend"] == "local" and "max_tokens" in info.settings
    assert reopened.attached_files(run_id) == [attach]
    # file bytes are not inside the database, they are blobs addressed by sha256
    raw = sqlite3.connect(tmp_path / "runs.sqlite3").execute(
        "SELECT event_json FROM events WHERE kind='FileReturned'").fetchall()
    assert all("data_b64" not in r[0] for r in raw)
    assert len(list((tmp_path / "blobs").glob("*/*"))) == 3


def test_same_file_twice_is_stored_once(tmp_path):
    store = RunStore(tmp_path)
    for _ in range(2):
        run_id = store.start_run("s1", "p", "local")
        store.append_event(run_id, FileReturned(file=ReturnedFile("c.png", "image/png", PNG)))
    assert store.space_used().blobs == 1
    assert len(list((tmp_path / "blobs").glob("*/*"))) == 1


def test_secret_looking_settings_are_never_stored():
    kept = public_settings({"backend": "local", "aws_secret_access_key": "S", "session_token": "T",
                            "api_key": "K", "max_tokens": 4096, "password": "p"})
    assert kept == {"backend": "local", "max_tokens": 4096}


def test_filters_newest_first_and_deletes(tmp_path):
    store = RunStore(tmp_path)
    a = store.start_run("s1", "moving average of AAPL", "local")
    store.finish_run(a, "completed")
    b = store.start_run("s2", "volatility 100%", "bedrock")
    store.append_event(b, AgentFailure(kind="throttling", message="slow down"))
    store.finish_run(b, "failed")
    c = store.start_run("s1", "drawdown chart", "local")
    store.finish_run(c, "completed")
    assert [r.id for r in store.list_runs()] == [c, b, a]
    assert [r.id for r in store.list_runs(session="s1")] == [c, a]
    assert [r.id for r in store.list_runs(backend="bedrock")] == [b]
    assert [r.id for r in store.list_runs(outcome="failed")] == [b]
    assert [r.id for r in store.list_runs(text="AVERAGE")] == [a]
    assert [r.id for r in store.list_runs(text="100%")] == [b]
    assert store.list_runs(text="_") == []
    store.delete_run(a)
    with pytest.raises(RunNotFoundError):
        store.get_run(a)
    assert store.delete_session("s1") == 1
    assert [s.id for s in store.list_sessions()] == ["s2"]


def test_recording_marks_outcomes(tmp_path):
    store = RunStore(tmp_path)
    with store.recording("s", "ok", "local") as rec:
        list(rec.record([TextChunk(text="x")]))
    with store.recording("s", "bad", "local") as rec:
        rec.add(AgentFailure(kind="timeout", message="took too long"))
    with pytest.raises(KeyboardInterrupt):
        with store.recording("s", "stopped", "local") as rec:
            rec.add(TextChunk(text="partial"))
            raise KeyboardInterrupt
    outcomes = {r.prompt: r.outcome for r in store.list_runs()}
    assert outcomes == {"ok": "completed", "bad": "failed", "stopped": "interrupted"}


WRITER = textwrap.dedent("""
    import sys, time
    from agent_core.store import RunStore
    from agent_core.events import TextChunk, FileReturned
    from agent_core.files import ReturnedFile
    store = RunStore(sys.argv[1])
    run_id = store.start_run(sys.argv[2], "prompt " + sys.argv[2], "local")
    n, delay = int(sys.argv[3]), float(sys.argv[4])
    print(run_id, flush=True)
    for i in range(n):
        if i % 10 == 0:
            store.append_event(run_id, FileReturned(file=ReturnedFile(f"f{i}.txt", "text/plain",
                               f"file {i} of {sys.argv[2]}".encode())))
        else:
            store.append_event(run_id, TextChunk(text=f"{sys.argv[2]}:{i}"))
        if i == 4:
            print("5 written", flush=True)
        time.sleep(delay)
    store.finish_run(run_id, "completed")
    print("done", flush=True)
""")


def _spawn(home: Path, tag: str, n: int, delay: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(home), tag, str(n), str(delay)],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.timeout(60)
def test_sigkill_mid_run_leaves_readable_store_and_interrupted_run(tmp_path):
    proc = _spawn(tmp_path, "killed", 10_000, 0.01)
    run_id = proc.stdout.readline().strip()
    assert proc.stdout.readline().strip() == "5 written"
    # while the writer lives, opening the store does not touch its run
    watcher = RunStore(tmp_path)
    assert watcher.get_run(run_id).outcome == "running"
    assert writer_alive(proc.pid, watcher._read(
        "SELECT writer_token FROM runs WHERE id=?", (run_id,))[0]["writer_token"])
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    watcher.close()

    store = RunStore(tmp_path)
    info = store.get_run(run_id)
    assert info.outcome == "interrupted" and info.ended is not None
    events = store.run_events(run_id)
    assert len(events) >= 5
    assert events[0].file.data == b"file 0 of killed"
    assert [e.text for e in events[1:5]] == [f"killed:{i}" for i in range(1, 5)]
    assert store._read("PRAGMA integrity_check")[0]["integrity_check"] == "ok"


@pytest.mark.timeout(120)
def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    RunStore(tmp_path).close()  # create the schema first; the writers race on the data
    n = 150
    procs = [_spawn(tmp_path, tag, n, 0) for tag in ("left", "right")]
    ids = [p.stdout.readline().strip() for p in procs]
    for p in procs:
        assert p.stdout.read().strip().endswith("done")
        assert p.wait(60) == 0
    store = RunStore(tmp_path)
    for tag, run_id in zip(("left", "right"), ids):
        events = store.run_events(run_id)
        assert len(events) == n and store.get_run(run_id).outcome == "completed"
        texts = [e.text for e in events if isinstance(e, TextChunk)]
        assert texts == [f"{tag}:{i}" for i in range(n) if i % 10]
        files = [e.file.data for e in events if isinstance(e, FileReturned)]
        assert files == [f"file {i} of {tag}".encode() for i in range(0, n, 10)]


def test_two_fresh_processes_create_the_schema_at_once(tmp_path):
    code = "import sys; from agent_core.store import RunStore; print(RunStore(sys.argv[1]).schema_version)"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE,
                              text=True, cwd=ROOT) for _ in range(2)]
    assert [p.communicate(timeout=60)[0].strip() for p in procs] == [str(LATEST)] * 2


def test_migration_from_v1_keeps_runs_and_adds_cost_columns(tmp_path):
    conn = sqlite3.connect(tmp_path / "runs.sqlite3")
    for stmt in _statements(MIGRATIONS[0]):
        conn.execute(stmt)
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO sessions VALUES ('s-old', 'bedrock', 1.0, 2.0)")
    conn.execute("INSERT INTO runs (id, session_id, prompt, backend, started, ended, outcome) "
                 "VALUES ('run-old', 's-old', 'old prompt', 'bedrock', 1.0, 3.0, 'completed')")
    conn.execute("INSERT INTO events VALUES ('run-old', 0, 1.5, 'TextChunk', ?, NULL)",
                 (json.dumps({"event": "TextChunk", "text": "from v1"}),))
    conn.commit()
    conn.close()

    store = RunStore(tmp_path)
    assert store.schema_version == LATEST == 7
    old = store.get_run("run-old")
    assert old.prompt == "old prompt" and old.input_tokens is None and old.duration_seconds == 2.0
    assert not old.over_cap and store.retention_log() == []
    assert old.owner is None and store.session_owner("s-old") is None  # v7: nobody owns old rows
    assert store.run_events("run-old") == [TextChunk(text="from v1")]
    new = store.start_run("s-old", "new", "bedrock")
    store.append_event(new, Usage(input_tokens=5, output_tokens=7))
    assert (store.get_run(new).input_tokens, store.get_run(new).output_tokens) == (5, 7)
    # v3: the runs table was rebuilt for the six outcomes; events still cascade with their run
    for outcome in ("completed with problems", "refused", "stopped"):
        store.finish_run(new, outcome)
        assert store.get_run(new).outcome == outcome
    store.delete_run("run-old")
    assert store._read("SELECT COUNT(*) AS n FROM events WHERE run_id = 'run-old'")[0]["n"] == 0


def test_newer_schema_is_refused_with_a_clear_message(tmp_path):
    conn = sqlite3.connect(tmp_path / "runs.sqlite3")
    conn.execute(f"PRAGMA user_version = {LATEST + 5}")
    conn.close()
    with pytest.raises(Exception, match="newer than this app"):
        RunStore(tmp_path)


def test_retention_removes_oldest_runs_and_only_unreferenced_blobs(tmp_path):
    store = RunStore(tmp_path)
    shared = b"shared bytes " * 1000
    big = [os.urandom(40_000) for _ in range(3)]
    ids = []
    for i in range(3):
        run_id = store.start_run("s", f"run {i}", "local")
        store.append_event(run_id, FileReturned(file=ReturnedFile(f"big{i}.bin", "", big[i])))
        store.append_event(run_id, FileReturned(file=ReturnedFile("shared.txt", "", shared)))
        store.finish_run(run_id, "completed")
        ids.append(run_id)
        time.sleep(0.01)
    running = store.start_run("s9", "still running", "local")
    before = store.space_used()
    assert before.blobs == 4
    limit = before.total - 30_000  # deleting the oldest run (40 kB file) is enough
    report = store.enforce_retention(limit, keep_per_session=1)
    assert [d.run_id for d in report.deleted] == [ids[0]]
    assert store.space_used().total <= limit
    assert not store.blob_path(__import__("hashlib").sha256(big[0]).hexdigest()).exists()
    # the shared file is still used by the newer runs: kept, and readable
    assert store.run_events(ids[1])[1].file.data == shared
    assert store.run_events(ids[2])[0].file.data == big[2]
    # a limit smaller than each run: every run is kept and flagged, none deleted
    report = store.enforce_retention(1000, keep_per_session=1)
    assert not report.deleted and report.still_over
    assert set(report.over_cap) == {ids[1], ids[2]} and store.get_run(ids[2]).over_cap
    assert {r.id for r in store.list_runs()} == {running, ids[1], ids[2]}


def test_recycled_pid_is_not_taken_for_the_writer(tmp_path):
    from agent_core.store import process_token

    me = os.getpid()
    assert writer_alive(me, process_token())
    assert not writer_alive(me, f"{me}:1")  # same pid, another start time: a recycled pid
    assert not writer_alive(None, None)
    store = RunStore(tmp_path)
    run_id = store.start_run("s", "p", "local")
    store._conn.execute("UPDATE runs SET writer_token = ? WHERE id = ?", (f"{me}:1", run_id))
    assert store.recover_interrupted() == [run_id]
    assert store.get_run(run_id).outcome == "interrupted"


def test_session_state_survives_a_new_store_and_keeps_its_files(tmp_path):
    """Issue 13: a refreshed or restarted app restores the session's toggles, attached and
    uploaded-but-not-attached files from the store (their bytes included)."""
    store = RunStore(tmp_path)
    attached = AttachedFile(name="prices.csv", media_type="text/csv", data=b"date,A\n2024-01-02,1\n")
    uploaded = AttachedFile(name="other.csv", media_type="text/csv", data=b"date,B\n2024-01-02,2\n")
    store.save_session_state("s-1", "local", settings={"show_code": False, "enable_trace": True},
                             attached=[attached], uploaded=[uploaded])
    store.close()
    again = RunStore(tmp_path)
    kept = again.session_state("s-1")
    assert kept is not None
    assert kept.settings == {"show_code": False, "enable_trace": True}
    assert kept.attached == (attached,) and kept.uploaded == (uploaded,)
    assert again.session_state("s-unknown") is None
    # detaching replaces what was kept; the bytes nobody refers to any more are collected
    again.save_session_state("s-1", "local", settings={}, attached=[], uploaded=[uploaded])
    assert again.session_state("s-1").attached == ()
    assert not again.blob_path(__import__("hashlib").sha256(attached.data).hexdigest()).exists()
    # a run in the session keeps the kept state; deleting the session removes it all
    run = again.start_run("s-1", "hello", "local")
    again.finish_run(run, "completed")
    assert again.session_state("s-1").uploaded == (uploaded,)
    again.delete_session("s-1")
    assert again.session_state("s-1") is None
    assert again._read("SELECT COUNT(*) AS n FROM session_files")[0]["n"] == 0


def test_runs_and_sessions_belong_to_their_owner(tmp_path):
    """Issue 16: each run and session records its user; History asks for one user's runs;
    a session of another user cannot be written into; without owners nothing changes."""
    store = RunStore(tmp_path)
    a1 = store.start_run("s-ann", "Ann's chart", "local", owner="ann@example.com")
    with store.recording("s-ann", "Ann again", "local", owner="ann@example.com") as rec:
        rec.add(TextChunk(text="hi"))
    b1 = store.start_run("s-bob", "Bob's chart", "local", owner="bob@example.com")
    free = store.start_run("s-free", "no identity configured", "local")
    store.save_session_state("s-bob-2", "local", settings={}, owner="bob@example.com")

    assert store.get_run(a1).owner == "ann@example.com" and store.get_run(free).owner is None
    assert {r.prompt for r in store.list_runs(owner="ann@example.com")} == {"Ann's chart", "Ann again"}
    assert [r.id for r in store.list_runs(owner="bob@example.com")] == [b1]
    assert store.list_runs(owner="") == []  # an empty name never means "everybody"
    assert len(store.list_runs()) == 4  # no owner given: every run, as on a single-user install
    assert [s.id for s in store.list_sessions(owner="bob@example.com")] == ["s-bob-2", "s-bob"]
    assert {s.id for s in store.list_sessions()} == {"s-ann", "s-bob", "s-bob-2", "s-free"}
    assert store.session_owner("s-ann") == "ann@example.com"
    assert store.session_owner("s-free") is None and store.session_owner("s-nowhere") is None

    # another user's session is refused, whole: no run, no state written, no owner named
    with pytest.raises(NotYourSessionError) as refused:
        store.start_run("s-ann", "Bob sneaks in", "local", owner="bob@example.com")
    assert "example.com" not in str(refused.value) and "another user" in str(refused.value)
    with pytest.raises(NotYourSessionError):
        store.save_session_state("s-ann", "local", settings={"x": 1}, owner="bob@example.com")
    assert store.session_state("s-ann").settings == {}
    assert [r.prompt for r in store.list_runs(text="sneaks")] == []
    # a session nobody owned is taken by the first user; writing without a user checks nothing
    store.start_run("s-free", "now Ann's", "local", owner="ann@example.com")
    assert store.session_owner("s-free") == "ann@example.com"
    store.start_run("s-ann", "from the CLI", "local")
    assert store.session_owner("s-ann") == "ann@example.com"
    store.close()
    assert RunStore(tmp_path).session_owner("s-bob") == "bob@example.com"  # survives a restart
