"""The run store: real SQLite files and a real PostgreSQL (every test marked ``db`` runs on
both), real subprocesses, real SIGKILL, a real S3 endpoint (moto's server) for files."""
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
    LATEST, NotYourSessionError, RunNotFoundError, RunStore, StoreError, process_token, public_settings, writer_alive,
)
from agent_core.store.schema import MIGRATIONS, _statements
from tests.pg import pg_url  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[2]
LEASE = 2.0  # seconds: the lease the lease tests run with (the default is 30)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, monkeypatch) -> str:
    """Run the test on SQLite (under the test's folder) and on a fresh PostgreSQL database:
    AGENT_DESK_STORE_URL is set for the test and every process it starts."""
    if request.param == "postgresql":
        monkeypatch.setenv("AGENT_DESK_STORE_URL", request.getfixturevalue("pg_url"))
    return request.param


def _blob_files(home: Path) -> list[Path]:
    return list((home / "blobs").glob("*/*"))
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


def test_run_written_event_by_event_reads_back_equal(tmp_path, db):
    store = RunStore(tmp_path)
    attach = AttachedFile.from_bytes("prices.csv", b"date,close\n2024-01-01,1\n")
    settings = load_settings(env={}, secrets={})
    run_id = store.start_run("sess-a", "Plot the prices", "local", settings, [attach])
    events = sample_events()
    other = RunStore(tmp_path, recover=False)  # another connection (pool) of another store
    for i, ev in enumerate(events):
        assert store.append_event(run_id, ev) == i
        # write-through: a second connection sees each event as soon as it is appended
        assert other._read("SELECT COUNT(*) AS n FROM events WHERE run_id=?", (run_id,))[0]["n"] == i + 1
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
    # file bytes are not in the events, they are blobs addressed by sha256: files under the
    # home folder for SQLite, the blobs table for PostgreSQL
    raw = reopened._read("SELECT event_json FROM events WHERE kind='FileReturned'")
    assert len(raw) == 2 and all("data_b64" not in r["event_json"] for r in raw)
    in_table = reopened._read("SELECT sha FROM blobs WHERE data IS NOT NULL")
    if db == "sqlite":
        assert len(_blob_files(tmp_path)) == 3 and in_table == []
    else:
        assert len(in_table) == 3 and _blob_files(tmp_path) == []
        assert reopened.location.startswith("postgresql://postgres@127.0.0.1")


def test_same_file_twice_is_stored_once(tmp_path, db):
    store = RunStore(tmp_path)
    for _ in range(2):
        run_id = store.start_run("s1", "p", "local")
        store.append_event(run_id, FileReturned(file=ReturnedFile("c.png", "image/png", PNG)))
    assert store.space_used().blobs == 1
    assert len(_blob_files(tmp_path)) == (1 if db == "sqlite" else 0)


def test_secret_looking_settings_are_never_stored():
    kept = public_settings({"backend": "local", "aws_secret_access_key": "S", "session_token": "T",
                            "api_key": "K", "max_tokens": 4096, "password": "p"})
    assert kept == {"backend": "local", "max_tokens": 4096}


def test_filters_newest_first_and_deletes(tmp_path, db):
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


def test_recording_marks_outcomes(tmp_path, db):
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
    n, delay, pause = int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
    print(run_id, flush=True)
    for i in range(n):
        if i % 10 == 0:
            store.append_event(run_id, FileReturned(file=ReturnedFile(f"f{i}.txt", "text/plain",
                               f"file {i} of {sys.argv[2]}".encode())))
        else:
            store.append_event(run_id, TextChunk(text=f"{sys.argv[2]}:{i}"))
        if i == 4:
            print("5 written", flush=True)
            time.sleep(pause)  # a long code cell: no events, only the heartbeat thread
        time.sleep(delay)
    store.finish_run(run_id, "completed")
    print("done", flush=True)
""")


def _spawn(home: Path, tag: str, n: int, delay: float, pause: float = 0.0) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(home), tag, str(n), str(delay), str(pause)],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "AGENT_DESK_LEASE_SECONDS": str(LEASE)})


@pytest.mark.timeout(90)
def test_sigkill_writer_run_becomes_interrupted_within_the_lease(tmp_path, db):
    """A killed writer (a replica gone) holds its run only until its lease runs out: any
    other store marks it interrupted by the heartbeat, not by a process id on this host."""
    proc = _spawn(tmp_path, "killed", 10_000, 0.01, pause=2.5 * LEASE)
    run_id = proc.stdout.readline().strip()
    assert proc.stdout.readline().strip() == "5 written"
    watcher = RunStore(tmp_path, lease_seconds=LEASE)
    # the writer is idle for longer than the lease, yet alive: its heartbeat keeps the run
    deadline = time.monotonic() + 2 * LEASE
    while time.monotonic() < deadline:
        assert watcher.recover_interrupted() == []
        assert watcher.get_run(run_id).outcome == "running"
        time.sleep(0.25)
    row = watcher._read("SELECT writer_id, heartbeat_at FROM runs WHERE id=?", (run_id,))[0]
    assert row["writer_id"] != watcher.writer_id and f":{proc.pid}:" in row["writer_id"]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    killed_at = time.monotonic()
    while watcher.get_run(run_id).outcome == "running":  # readers recover now and then
        assert time.monotonic() - killed_at < LEASE + 2.0, "not interrupted within the lease"
        time.sleep(0.1)
    assert time.monotonic() - killed_at >= LEASE * 0.25  # not at once: the lease had time left
    watcher.close()

    store = RunStore(tmp_path)
    info = store.get_run(run_id)
    assert info.outcome == "interrupted" and info.ended is not None
    events = store.run_events(run_id)
    assert len(events) >= 5
    assert events[0].file.data == b"file 0 of killed"
    assert [e.text for e in events[1:5]] == [f"killed:{i}" for i in range(1, 5)]
    if db == "sqlite":
        assert store._read("PRAGMA integrity_check")[0]["integrity_check"] == "ok"


@pytest.mark.timeout(120)
def test_two_processes_writing_at_once_lose_nothing(tmp_path, db):
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
        seqs = [r["seq"] for r in store._read("SELECT seq FROM events WHERE run_id=? ORDER BY seq", (run_id,))]
        assert seqs == list(range(n))


@pytest.mark.timeout(120)
def test_two_fresh_processes_create_the_schema_at_once(tmp_path, db):
    code = "import sys; from agent_core.store import RunStore; print(RunStore(sys.argv[1]).schema_version)"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE,
                              text=True, cwd=ROOT) for _ in range(2)]
    assert [p.communicate(timeout=90)[0].strip() for p in procs] == [str(LATEST)] * 2


def _legacy_file(home: Path, upto: int) -> sqlite3.Connection:
    """A run store as the pre-Alembic code left it: migrations V1..V``upto`` in SQL."""
    home.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(home / "runs.sqlite3")
    for script in MIGRATIONS[:upto]:
        for stmt in _statements(script):
            conn.execute(stmt)
    conn.execute(f"PRAGMA user_version = {upto}")
    conn.commit()
    return conn


def _legacy_store_with_one_run(home: Path, upto: int, outcome: str) -> None:
    """A pre-Alembic store (schema ``upto``) holding run 'run-old' of session 's-old', whose
    one event is the text 'from v{upto}'."""
    conn = _legacy_file(home, upto)
    conn.execute("INSERT INTO sessions VALUES ('s-old', 'bedrock', 1.0, 2.0)")
    conn.execute("INSERT INTO runs (id, session_id, prompt, backend, started, ended, outcome) "
                 "VALUES ('run-old', 's-old', 'old prompt', 'bedrock', 1.0, 3.0, ?)", (outcome,))
    conn.execute("INSERT INTO events VALUES ('run-old', 0, 1.5, 'TextChunk', ?, NULL)",
                 (json.dumps({"event": "TextChunk", "text": f"from v{upto}"}),))
    conn.commit()
    conn.close()


def test_migration_from_v1_keeps_runs_and_adds_cost_columns(tmp_path):
    _legacy_store_with_one_run(tmp_path, 1, "completed")

    store = RunStore(tmp_path)
    assert store.schema_version == LATEST == 8
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


@pytest.mark.parametrize("legacy", [6, 7])
def test_a_v6_file_of_the_old_code_opens_and_upgrades_without_loss(tmp_path, legacy):
    """A store written by the last pre-Alembic release (schema 6; 7 with owners, written by
    the code just before Alembic; every table filled, file bytes under blobs/) opens, is
    upgraded in place, and reads back everything it held."""
    import hashlib

    home = tmp_path / "old-home"
    conn = _legacy_file(home, legacy)
    png = PNG + b"v6"
    sha = hashlib.sha256(png).hexdigest()
    (home / "blobs" / sha[:2]).mkdir(parents=True)
    (home / "blobs" / sha[:2] / sha).write_bytes(png)
    conn.execute("INSERT INTO sessions (id, backend, created, last_used, state_json) "
                 "VALUES ('s6', 'local', 10.0, 20.0, '{\"show_code\": false}')")
    conn.execute("INSERT INTO runs (id, session_id, prompt, backend, started, ended, outcome, writer_pid, "
                 "input_tokens, output_tokens, first_event_seconds) VALUES ('r6', 's6', 'chart please', "
                 "'local', 10.0, 12.5, 'completed with problems', 4242, 11, 22, 0.5)")
    conn.execute("INSERT INTO blobs VALUES (?, ?, 10.0)", (sha, len(png)))
    conn.execute("INSERT INTO events VALUES ('r6', 0, 10.5, 'TextChunk', ?, NULL)",
                 (json.dumps({"event": "TextChunk", "text": "hello"}),))
    conn.execute("INSERT INTO events VALUES ('r6', 1, 11.0, 'FileReturned', ?, ?)",
                 (json.dumps({"event": "FileReturned", "file": {"name": "c.png", "declared_type": "image/png"}}), sha))
    conn.execute("INSERT INTO attachments VALUES ('r6', 0, 'p.csv', 'text/csv', 'CODE_INTERPRETER', ?, ?)",
                 (len(png), sha))
    conn.execute("INSERT INTO session_files VALUES ('s6', 'uploaded', 0, 'u.csv', 'text/csv', "
                 "'CODE_INTERPRETER', ?, ?)", (len(png), sha))
    conn.execute("INSERT INTO conversation_state VALUES ('s6', '{\"k\": 1}', 15.0)")
    conn.execute("INSERT INTO retention_log VALUES (9.0, 'r-gone', 's6', 'old', 100, 'why')")
    conn.commit()
    conn.close()

    store = RunStore(home)
    assert store.schema_version == LATEST
    assert sqlite3.connect(home / "runs.sqlite3").execute("PRAGMA user_version").fetchone()[0] == LATEST
    run = store.get_run("r6")
    assert (run.prompt, run.outcome, run.input_tokens, run.output_tokens, run.duration_seconds) == (
        "chart please", "completed with problems", 11, 22, 2.5)
    events = store.run_events("r6")
    assert events[0] == TextChunk(text="hello") and events[1].file.data == png
    assert store.attached_files("r6")[0].data == png
    kept = store.session_state("s6")
    assert kept.settings == {"show_code": False} and kept.uploaded[0].data == png
    assert store.conversation("s6") == '{"k": 1}'
    assert [e.run_id for e in store.retention_log()] == ["r-gone"]
    # the new columns are there and work on the old rows
    new = store.start_run("s6", "again", "local")
    store.append_event(new, TextChunk(text="x"))
    store.finish_run(new, "completed")
    assert [r.id for r in store.list_runs(session="s6")] == [new, "r6"]
    store.close()
    # the pre-Alembic code refuses the upgraded file rather than damaging it
    from agent_core.store.schema import SchemaTooNewError, migrate

    with pytest.raises(SchemaTooNewError):
        migrate(sqlite3.connect(home / "runs.sqlite3"))


def test_one_schema_on_both_databases(tmp_path, pg_url):
    """A new SQLite store, an upgraded old SQLite file and a new PostgreSQL store have the
    same tables and columns: one schema, one set of migrations."""
    import sqlalchemy as sa

    _legacy_file(tmp_path / "old", 6).close()
    stores = [RunStore(tmp_path / "new"), RunStore(tmp_path / "old"), RunStore(tmp_path / "pg", url=pg_url)]
    shapes = []
    for store in stores:
        inspector = sa.inspect(store.engine)
        shapes.append({t: sorted(c["name"] for c in inspector.get_columns(t)) for t in inspector.get_table_names()})
        store.close()
    assert shapes[0] == shapes[1] == shapes[2]
    assert {"owner", "writer_id", "heartbeat_at"} <= set(shapes[0]["runs"])
    assert "owner" in shapes[0]["sessions"] and "data" in shapes[0]["blobs"]


def test_newer_schema_is_refused_with_a_clear_message(tmp_path, db):
    RunStore(tmp_path).close()
    store = RunStore(tmp_path)
    with store._write() as conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (f"{LATEST + 5:04d}",))
    store.close()
    from agent_core.store.schema import SchemaTooNewError

    with pytest.raises(SchemaTooNewError, match="newer than this app"):
        RunStore(tmp_path)


def test_newer_pre_alembic_file_is_refused(tmp_path):
    conn = sqlite3.connect(tmp_path / "runs.sqlite3")
    conn.execute(f"PRAGMA user_version = {LATEST + 5}")
    conn.close()
    with pytest.raises(Exception, match="newer than this app"):
        RunStore(tmp_path)


def _blob_gone(store: RunStore, data: bytes) -> bool:
    sha = __import__("hashlib").sha256(data).hexdigest()
    if store.is_sqlite and not store._read("SELECT 1 FROM blobs WHERE sha = ?", (sha,)):
        return not store.blob_path(sha).exists()
    return not store._read("SELECT 1 FROM blobs WHERE sha = ?", (sha,))


def test_retention_removes_oldest_runs_and_only_unreferenced_blobs(tmp_path, db):
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
    assert _blob_gone(store, big[0]) and not _blob_gone(store, big[1])
    # the shared file is still used by the newer runs: kept, and readable
    assert store.run_events(ids[1])[1].file.data == shared
    assert store.run_events(ids[2])[0].file.data == big[2]
    # a limit smaller than each run: every run is kept and flagged, none deleted
    report = store.enforce_retention(1000, keep_per_session=1)
    assert not report.deleted and report.still_over
    assert set(report.over_cap) == {ids[1], ids[2]} and store.get_run(ids[2]).over_cap
    assert {r.id for r in store.list_runs()} == {running, ids[1], ids[2]}


def test_lease_not_pid_decides_who_is_interrupted(tmp_path, db):
    """Recovery goes by the heartbeat on the database's clock: a stale run of another
    writer is interrupted (even if a process with its pid lives here), a fresh one is not,
    and a store never interrupts its own runs."""
    me = os.getpid()
    assert writer_alive(me, process_token()) and not writer_alive(me, f"{me}:1")
    writer = RunStore(tmp_path, lease_seconds=LEASE)
    other = RunStore(tmp_path, lease_seconds=LEASE)
    stale = writer.start_run("s", "stale", "local")
    fresh = writer.start_run("s", "fresh", "local")
    writer._release_lease(stale)  # its writer stops beating, as a killed one would
    with writer._write() as conn:  # same pid as this live process: does not matter
        conn.execute("UPDATE runs SET heartbeat_at = heartbeat_at - ? WHERE id = ?", (LEASE + 1, stale))
    assert writer.recover_interrupted() == []  # its own runs: never
    assert other.recover_interrupted() == [stale]
    assert other.get_run(stale).outcome == "interrupted" and other.get_run(fresh).outcome == "running"
    time.sleep(LEASE * 1.5)  # the heartbeat thread keeps the live run fresh
    assert other.recover_interrupted() == [] and other.get_run(fresh).outcome == "running"
    writer.finish_run(fresh, "completed")
    writer.close()
    other.close()


def test_session_state_survives_a_new_store_and_keeps_its_files(tmp_path, db):
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
    assert _blob_gone(again, attached.data)
    # a run in the session keeps the kept state; deleting the session removes it all
    run = again.start_run("s-1", "hello", "local")
    again.finish_run(run, "completed")
    assert again.session_state("s-1").uploaded == (uploaded,)
    again.delete_session("s-1")
    assert again.session_state("s-1") is None
    assert again._read("SELECT COUNT(*) AS n FROM session_files")[0]["n"] == 0


@pytest.fixture
def s3_endpoint(monkeypatch):
    """moto's S3 in server mode on 127.0.0.1 (a real HTTP endpoint): the store's unmodified
    boto3 client reaches it through boto3's own AWS_ENDPOINT_URL_S3 setting."""
    from tests.conftest import require_module

    require_module("moto", "moto[server]", "the S3 files tests run a local S3 endpoint")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for name, value in {"AWS_ENDPOINT_URL_S3": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    yield f"http://{host}:{port}"
    server.stop()


def test_files_on_s3_are_content_addressed_objects(tmp_path, db, s3_endpoint):
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="desk-files")
    store = RunStore(tmp_path, files_url="s3://desk-files/team/a")
    attach = AttachedFile.from_bytes("prices.csv", b"date,close\n2024-01-01,1\n")
    run_id = store.start_run("s", "p", "local", attachments=[attach])
    store.append_event(run_id, FileReturned(file=ReturnedFile("c.png", "image/png", PNG)))
    store.append_event(run_id, FileReturned(file=ReturnedFile("again.png", "image/png", PNG)))
    store.finish_run(run_id, "completed")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="desk-files")["Contents"])
    shas = sorted(__import__("hashlib").sha256(d).hexdigest() for d in (PNG, attach.data))
    assert keys == sorted(f"team/a/{sha[:2]}/{sha}" for sha in shas)
    assert s3.get_object(Bucket="desk-files", Key=f"team/a/{shas[0][:2]}/{shas[0]}")["Body"].read() in (
        PNG, attach.data)
    # nothing in the database or under the home folder: the bytes are only on S3
    assert store._read("SELECT COUNT(*) AS n FROM blobs WHERE data IS NOT NULL")[0]["n"] == 0
    assert _blob_files(tmp_path) == []
    again = RunStore(tmp_path, files_url="s3://desk-files/team/a")
    assert [e.file.data for e in again.run_events(run_id)] == [PNG, PNG]
    assert again.attached_files(run_id) == [attach]
    again.delete_run(run_id)  # unreferenced: the objects go too
    assert s3.list_objects_v2(Bucket="desk-files").get("KeyCount", 0) == 0
    # a bucket that does not exist: said in words; a recording run goes on without it
    broken = RunStore(tmp_path, files_url="s3://no-such-bucket/x")
    with pytest.raises(StoreError, match="no-such-bucket.*AGENT_DESK_FILES_URL"):
        broken.start_run("s", "p", "local", attachments=[attach])
    with broken.recording("s", "files fail", "local") as rec:
        rec.add(FileReturned(file=ReturnedFile("c.png", "image/png", PNG)))
        rec.add(TextChunk(text="still here"))
    [run] = broken.list_runs(text="files fail")
    assert run.outcome == "completed" and broken.run_events(run.id) == [TextChunk(text="still here")]
    for s in (store, again, broken):
        s.close()


def test_runs_and_sessions_belong_to_their_owner(tmp_path, db):
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


def test_a_bad_store_url_is_said_in_words_without_its_password(tmp_path, monkeypatch):
    with pytest.raises(StoreError, match="must be a postgresql:// URL"):
        RunStore(tmp_path, url="mysql://user@host/db")
    with pytest.raises(StoreError, match="cannot be opened.*AGENT_DESK_STORE_URL") as refused:
        RunStore(tmp_path, url="postgresql://ann:S3CRET-PW@127.0.0.1:1/db")
    assert "S3CRET-PW" not in str(refused.value) and "postgresql://ann:***@127.0.0.1:1/db" in str(refused.value)
    monkeypatch.setenv("AGENT_DESK_LEASE_SECONDS", "soon")
    with pytest.raises(StoreError, match="AGENT_DESK_LEASE_SECONDS must be a number"):
        RunStore(tmp_path)


def test_new_sqlite_files_from_the_snapshot_equal_what_the_migrations_build(tmp_path, monkeypatch):
    """A new SQLite file is created from schema.SQLITE_HEAD (no SQLAlchemy, no Alembic
    loaded: a command starts and exits fast); it must be exactly what Alembic builds."""
    import re

    from agent_core.store.schema import SQLITE_HEAD

    def schema(home: Path) -> list[str]:
        conn = sqlite3.connect(home / "runs.sqlite3")
        rows = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
        def flat(sql: str) -> str:
            return re.sub(r"\s+", " ", sql).replace("( ", "(").replace(" )", ")")

        out = [f"{t} {n} {flat(sql)}" for t, n, sql in rows]
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(f"{LATEST:04d}",)]
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST
        return out

    code = ("import sys; from agent_core.store import RunStore; RunStore(sys.argv[1]); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic')))")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "snap")], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr  # neither was loaded
    monkeypatch.setattr(RunStore, "_use_snapshot", False)
    RunStore(tmp_path / "alembic").close()
    built = schema(tmp_path / "alembic")
    print("\n".join(r[1] for r in sqlite3.connect(tmp_path / "alembic" / "runs.sqlite3").execute(
        "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL")))  # the snapshot, when it must change
    assert schema(tmp_path / "snap") == built
    assert "CREATE TABLE runs" in SQLITE_HEAD
