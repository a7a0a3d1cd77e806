"""``python -m agent_core store copy``: a real SQLite store (files under its home) copied into a
real PostgreSQL database (files in its blobs table) and into another SQLite home, then read back
through the store's own reading API (what History shows) and compared field by field."""
from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent_core.cli import main
from agent_core.events import (
    AgentFailure, CodeInvocation, CodeOutput, FileReturned, TextChunk, Usage,
)
from agent_core.files import AttachedFile, ReturnedFile
from agent_core.store import BLOB_DIR, LATEST, RunStore
from tests.pg import pg_url  # noqa: F401  (fixture)
from tests.unit.test_store import _legacy_store_with_one_run, s3_endpoint  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
CSV = b"date,close\n2024-01-01,101.5\n2024-01-02,102.25\n"


def _source(home: Path, files_url: str = "") -> dict[str, str]:
    """A SQLite store with runs of two owners: completed (a PNG and a CSV returned, a CSV
    attached), stopped, failed, a re-run, a session with kept files and conversation state."""
    store = RunStore(home, url="", files_url=files_url)
    ids = {}
    attach = AttachedFile.from_bytes("prices.csv", CSV)
    ids["done"] = store.start_run("sess-ann", "Plot the moving average", "local",
                                  {"backend": "local", "max_tokens": 4096}, [attach], owner="ann")
    for ev in (CodeInvocation(code="print(1)", files=("prices.csv",), step_id="t1"),
               CodeOutput(text="1\n", step_id="t1"),
               FileReturned(file=ReturnedFile(name="chart.png", declared_type="image/png", data=PNG)),
               FileReturned(file=ReturnedFile(name="answer.csv", declared_type="text/csv", data=CSV)),
               Usage(input_tokens=120, output_tokens=30, step_id="t1"),
               TextChunk(text="Done: chart ✓")):
        store.append_event(ids["done"], ev)
    store.finish_run(ids["done"], "completed")
    ids["stopped"] = store.start_run("sess-ann", "A long loop", "local", owner="ann",
                                     parent_run_id=ids["done"])
    store.append_event(ids["stopped"], CodeInvocation(code="while True: pass", step_id="t1"))
    store.finish_run(ids["stopped"], "stopped")
    ids["failed"] = store.start_run("sess-bob", "Summarise", "bedrock", owner="bob")
    store.append_event(ids["failed"], AgentFailure(kind="throttling", message="slow down", retryable=True))
    store.finish_run(ids["failed"], "failed")
    ids["bob2"] = store.start_run("sess-bob", "Chart again", "bedrock", owner="bob")
    store.append_event(ids["bob2"], FileReturned(file=ReturnedFile("chart.png", "image/png", PNG)))
    store.finish_run(ids["bob2"], "completed with problems")
    store.save_session_state("sess-ann", "local", settings={"show_code": False},
                             attached=[attach],
                             uploaded=[AttachedFile.from_bytes("other.csv", CSV + b"x")], owner="ann")
    store.save_session_state("sess-empty", "local", settings={"k": 1}, owner="bob")  # no runs yet
    store.save_conversation("sess-ann", '{"last": "moving average"}')
    with store._write() as conn:
        conn.execute("INSERT INTO retention_log (at, run_id, session_id, prompt, size, reason) "
                     "VALUES (5.5, 'run-gone', 'sess-ann', 'old one', 100, 'limit')")
    store.close()
    return ids


def _history(store: RunStore) -> dict:
    """Everything the app reads back: History's lists and runs, sessions, files, the log."""
    runs = store.list_runs()
    sessions = store.list_sessions()
    return {
        "runs": runs,
        "by_owner": {o: store.list_runs(owner=o) for o in ("ann", "bob")},
        "events": {r.id: store.run_events(r.id) for r in runs},
        "attachments": {r.id: store.run_attachments(r.id) for r in runs},
        "attached": {r.id: store.attached_files(r.id) for r in runs},
        "sessions": sessions,
        "states": {s.id: store.session_state(s.id) for s in sessions},
        "owners": {s.id: store.session_owner(s.id) for s in sessions},
        "talk": {s.id: store.conversation(s.id) for s in sessions},
        "session_files": {s.id: store.session_attachments(s.id) for s in sessions},
        "log": store.retention_log(),
        "backends": store.backends(),
        "blobs": store.space_used().blobs,
        "blob_bytes": store.space_used().blob_bytes,
    }


def _fingerprint(home: Path) -> dict[str, str]:
    return {str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(home.rglob("*")) if p.is_file()}


def _copy(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["store", "copy", *args], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_copy_reads_back_identically_and_twice_copies_nothing(tmp_path, kind, request):
    home = tmp_path / "laptop"
    ids = _source(home)
    before = _fingerprint(home)
    target = request.getfixturevalue("pg_url") if kind == "postgresql" else str(tmp_path / "team")

    code, out, err = _copy("--from", str(home), "--to", target)
    assert (code, err) == (0, ""), out + err
    assert "4 runs copied" in out and "0 already in the target" in out
    assert "3 sessions copied" in out and "1 retention log entries" in out
    assert "3 files" in out  # PNG, CSV (returned and attached: once), the uploaded CSV

    with RunStore(home, url="", files_url="") as src, \
            RunStore(tmp_path / "h", url=target, files_url="") if kind == "postgresql" \
            else RunStore(target, url="", files_url="") as dst:
        want, got = _history(src), _history(dst)
        assert got == want
        # the things a wrong copy would lose, said plainly
        done = dst.get_run(ids["done"])
        assert (done.outcome, done.owner, done.input_tokens, done.file_count) == ("completed", "ann", 120, 2)
        assert done.started == src.get_run(ids["done"]).started  # the time as stored, not now
        files = [e.file for e in dst.run_events(ids["done"]) if isinstance(e, FileReturned)]
        assert [(f.name, f.data) for f in files] == [("chart.png", PNG), ("answer.csv", CSV)]
        assert dst.get_run(ids["stopped"]).parent_run_id == ids["done"]
        assert {r.id: r.outcome for r in dst.list_runs(owner="bob")} == {
            ids["failed"]: "failed", ids["bob2"]: "completed with problems"}
        if kind == "postgresql":  # bytes in the team database, not in a folder
            assert len(dst._read("SELECT sha FROM blobs WHERE data IS NOT NULL")) == 3
            assert dst.schema_version == LATEST
    assert _fingerprint(home) == before  # the source was never written

    code, out, err = _copy("--from", str(home), "--to", target)
    assert (code, err) == (0, "")
    assert "0 runs copied" in out and "4 already in the target" in out and "0 files" in out
    assert "0 sessions copied, 3 already there" in out and "0 retention log entries" in out
    with (RunStore(tmp_path / "h", url=target, files_url="") if kind == "postgresql"
          else RunStore(target, url="", files_url="")) as dst:
        assert len(dst.list_runs()) == 4 and dst.space_used().blobs == 3
    assert _fingerprint(home) == before


def test_new_runs_are_copied_later_and_a_missing_file_is_named(tmp_path, pg_url):
    home = tmp_path / "laptop"
    _source(home)
    assert _copy("--from", str(home), "--to", pg_url)[0] == 0
    store = RunStore(home, url="", files_url="")
    late = store.start_run("sess-ann", "One more", "local", owner="ann")
    store.append_event(late, FileReturned(file=ReturnedFile("late.png", "image/png", PNG + b"late")))
    store.finish_run(late, "completed")
    broken = store.start_run("sess-bob", "Lost its file", "local", owner="bob")
    store.append_event(broken, FileReturned(file=ReturnedFile("gone.csv", "text/csv", b"gone,1\n")))
    store.finish_run(broken, "completed")
    live = store.start_run("sess-bob", "Still going", "local", owner="bob")  # its writer is alive
    store.blob_path(hashlib.sha256(b"gone,1\n").hexdigest()).unlink()  # deleted by hand

    code, out, err = _copy("--from", str(home / "runs.sqlite3"), "--to", pg_url)
    assert code == 1
    assert "1 runs copied" in out and "4 already in the target" in out and "1 files" in out
    assert f"run {live} is still running in the source" in err and "run the same command again" in err
    assert f"not copied: {broken}: The stored file" in err and "missing" in err
    with RunStore(tmp_path / "h", url=pg_url, files_url="") as dst:
        assert dst.run_events(late)[0].file.data == PNG + b"late"
        assert {r.id for r in dst.list_runs()} >= {late} and broken not in {r.id for r in dst.list_runs()}
    store.finish_run(live, "completed")  # it ended: the next copy brings it
    store.close()
    code, out, err = _copy("--from", str(home), "--to", pg_url)
    assert code == 1 and "1 runs copied" in out and live not in err and broken in err


def test_an_old_schema_source_is_copied_without_being_upgraded(tmp_path, pg_url):
    home = tmp_path / "old"
    _legacy_store_with_one_run(home, 5, "refused")  # written by the pre-Alembic code (schema 5)
    before = _fingerprint(home)
    code, out, err = _copy("--from", str(home), "--to", pg_url)
    assert (code, err) == (0, "") and "1 runs copied" in out
    assert _fingerprint(home) == before
    assert sqlite3.connect(home / "runs.sqlite3").execute("PRAGMA user_version").fetchone()[0] == 5
    with RunStore(tmp_path / "h", url=pg_url, files_url="") as dst:
        run = dst.get_run("run-old")
        assert (run.outcome, run.started, run.ended, run.owner) == ("refused", 1.0, 3.0, None)
        assert dst.run_events("run-old") == [TextChunk(text="from v5")]


def test_bad_paths_and_urls_are_said_in_words(tmp_path):
    home = tmp_path / "laptop"
    _source(home)
    code, _, err = _copy("--from", str(tmp_path / "nowhere"), "--to", "postgresql://u@127.0.0.1/x")
    assert code == 2 and "no such file or folder" in err
    (tmp_path / "empty").mkdir()
    code, _, err = _copy("--from", str(tmp_path / "empty"), "--to", "postgresql://u@127.0.0.1/x")
    assert code == 2 and "no run store there" in err
    (tmp_path / "notes.txt").write_text("hello")
    code, _, err = _copy("--from", str(tmp_path / "notes.txt"), "--to", str(tmp_path / "t"))
    assert code == 2 and "cannot read" in err and "SQLite run store" in err
    code, _, err = _copy("--from", str(home), "--to", "mysql://root:hunter2@db/agent")
    assert code == 2 and "postgresql://" in err and "hunter2" not in err
    code, _, err = _copy("--from", str(home), "--to", "postgresql://u:hunter2@127.0.0.1:port/x")
    assert code == 2 and "--to must look like postgresql://" in err and "hunter2" not in err
    newer = tmp_path / "newer"
    _source(newer)
    with sqlite3.connect(newer / "runs.sqlite3") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    code, _, err = _copy("--from", str(newer), "--to", str(tmp_path / "t2"))
    assert code == 1 and "newer than this app knows" in err and str(newer) in err
    code, _, err = _copy("--from", str(home), "--to", str(home))
    assert code == 2 and "same store" in err
    code, _, err = _copy("--from", "postgresql://u:pw@db/x", "--to", str(tmp_path / "t"))
    assert code == 2 and "SQLite store" in err and "pw" not in err
    code, _, err = _copy("--from", str(home))  # no --to, no AGENT_DESK_STORE_URL
    assert code == 2 and "--to postgresql://" in err
    # a server that is not there (port 9: nothing listens): a message, no traceback, no password
    proc = subprocess.run([sys.executable, "-m", "agent_core", "store", "copy", "--from", str(home),
                           "--to", "postgresql://agent:s3cret-pw@127.0.0.1:9/agentdesk"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "cannot be opened" in proc.stderr and "127.0.0.1:9" in proc.stderr
    assert "Traceback" not in proc.stderr and "s3cret-pw" not in proc.stderr + proc.stdout
    assert "--to" in proc.stderr


def test_files_on_s3_on_both_sides(tmp_path, pg_url, s3_endpoint):
    """A source that kept its files on S3 (--from-files) into PostgreSQL with files on S3
    (--to-files, as the replicas' AGENT_DESK_FILES_URL): every file is an object of the target's
    prefix, and reads back through the store as it did in the source."""
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="desk")
    home = tmp_path / "laptop"
    ids = _source(home, files_url="s3://desk/laptop")
    code, out, err = _copy("--from", str(home), "--to", pg_url, "--from-files", "s3://desk/laptop",
                           "--to-files", "s3://desk/team")
    assert (code, err) == (0, ""), out + err
    assert "files to s3://desk/team" in out and "3 files" in out
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="desk", Prefix="team/")["Contents"]}
    assert keys == {f"team/{sha[:2]}/{sha}" for sha in
                    (hashlib.sha256(b).hexdigest() for b in (PNG, CSV, CSV + b"x"))}
    with RunStore(home, url="", files_url="s3://desk/laptop") as src, \
            RunStore(tmp_path / "h", url=pg_url, files_url="s3://desk/team") as dst:
        assert _history(dst) == _history(src)
        assert dst._read("SELECT sha FROM blobs WHERE data IS NOT NULL") == []  # not in the table
        assert dst.run_events(ids["bob2"])[0].file.data == PNG
    # without --from-files the source's files cannot be found: said, and nothing half-copied
    code, out, err = _copy("--from", str(home), "--to", str(tmp_path / "other"), "--to-files", "")
    assert code == 1 and "--from-files s3://" in err and f"laptop/{BLOB_DIR};" in err
    assert "2 runs copied" in out  # the runs without files; the others are named
    for run in ("done", "bob2"):
        assert f"not copied: {ids[run]}: The stored file" in err


def test_a_run_whose_writer_died_is_copied_as_interrupted(tmp_path, monkeypatch):
    """The app shows a running run whose writer's lease ran out as interrupted; so does the
    copy (decided on the snapshot: the source file still says running)."""
    monkeypatch.setenv("AGENT_DESK_LEASE_SECONDS", "0.5")
    home = tmp_path / "laptop"
    store = RunStore(home, url="", files_url="")
    dead = store.start_run("s", "the app was killed", "local")
    store.append_event(dead, TextChunk(text="half an answer"))
    store.close()  # no finish_run: as if the process had been killed
    time.sleep(0.8)
    code, out, err = _copy("--from", str(home), "--to", str(tmp_path / "team"))
    assert (code, err) == (0, "") and "1 runs copied" in out
    with RunStore(tmp_path / "team", url="", files_url="", recover=False) as dst:
        run = dst.get_run(dead)
        assert run.outcome == "interrupted" and run.ended is not None
        assert dst.run_events(dead) == [TextChunk(text="half an answer")]
    with sqlite3.connect(home / "runs.sqlite3") as conn:
        assert conn.execute("SELECT outcome FROM runs").fetchone()[0] == "running"
