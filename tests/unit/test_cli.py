"""``python -m agent_core ask`` as a subprocess against the fake Bedrock server."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fakes import bedrock_server as fake
from tests.fakes.bedrock_server import FakeBedrock, bedrock_server  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout(90)
ROOT = Path(__file__).resolve().parents[2]


def ask(server: FakeBedrock, tmp_path: Path, *args: str, backend: str = "bedrock",
        timeout: float = 60) -> subprocess.CompletedProcess:
    env = fake.fake_aws_env(dict(os.environ), tmp_path)
    flags = ["--backend", backend, "--endpoint-url", server.url]
    if backend == "bedrock":
        flags += ["--agent-id", "AGENT1", "--agent-alias-id", "ALIAS1"]
    else:
        flags += ["--model-id", "some.model-v1:0"]
    return subprocess.run([sys.executable, "-m", "agent_core", "ask", *args, *flags],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_json_lines_and_saved_files(bedrock_server, tmp_path):
    bedrock_server.use("chart")
    prices = tmp_path / "prices.csv"
    prices.write_bytes(b"date,close\n2026-01-02,101.5\n")
    out = tmp_path / "out"
    proc = ask(bedrock_server, tmp_path, "Plot it", "--json", "--file", str(prices),
               "--out", str(out), "--session", "cli-session-1")
    assert proc.returncode == 0, proc.stderr
    lines = json_lines(proc.stdout)
    names = [d["event"] for d in lines]
    assert names[:2] == ["Rationale", "CodeInvocation"]
    # the answer, then the run's closing event: the outcome History and the exit status give
    assert "AgentFailure" not in names and names[-2:] == ["TextChunk", "RunEnd"]
    assert lines[-1]["outcome"] == "completed" and lines[-1]["session_id"] == "cli-session-1"
    assert lines[-1]["run_id"]
    files = [d for d in lines if d["event"] == "FileReturned"]
    assert [d["file"]["name"] for d in files] == ["chart.png", "summary.csv"]
    for d in files:  # bytes left out, size and safe name kept
        assert "data_b64" not in d["file"] and d["file"]["size"] > 0
        assert Path(d["saved_as"]).parent == out.resolve()
    assert (out / "chart.png").read_bytes() == fake.make_png()
    assert (out / "summary.csv").read_bytes() == fake.SUMMARY_CSV
    assert "".join(d["text"] for d in lines if d["event"] == "TextChunk") == fake.CHART_ANSWER
    sent = bedrock_server.requests[0]
    assert sent.params["sessionId"] == "cli-session-1"
    assert sent.body["sessionState"]["files"][0]["name"] == "prices.csv"


def test_transcript_is_readable(bedrock_server, tmp_path):
    bedrock_server.use("retry")
    proc = ask(bedrock_server, tmp_path, "Mean close?")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "[code error]" in text and "NameError" in text and "[output]" in text
    assert "== answer ==\nThe mean close is 101.47." in text
    assert text.count("The mean close is 101.47.") == 1  # final response not printed twice
    assert text.rstrip().endswith("== outcome: completed ==")


def test_failure_exits_1_with_events_kept(bedrock_server, tmp_path):
    bedrock_server.use("throttle")
    proc = ask(bedrock_server, tmp_path, "x", "--json")
    assert proc.returncode == 1
    lines = json_lines(proc.stdout)
    assert [d["event"] for d in lines] == ["Rationale", "CodeInvocation", "AgentFailure", "RunEnd"]
    assert lines[-2]["kind"] == "throttling" and lines[-2]["retryable"] is True
    assert lines[-1]["outcome"] == "failed"
    # the one run path recorded it: History shows CLI runs with the same outcome
    from agent_core.store import RunStore

    [run] = RunStore(tmp_path / "agent-desk-home").list_runs()
    assert (run.prompt, run.backend, run.outcome) == ("x", "bedrock", "failed")


def test_access_denied_transcript_names_permission(bedrock_server, tmp_path):
    bedrock_server.use("denied")
    proc = ask(bedrock_server, tmp_path, "x")
    assert proc.returncode == 1
    assert "bedrock:InvokeAgent" in proc.stderr and "Traceback" not in proc.stderr
    assert fake.FAKE_SECRET_KEY not in proc.stdout + proc.stderr
    assert fake.FAKE_ACCESS_KEY not in proc.stdout + proc.stderr


def test_hostile_names_never_escape_out_dir(bedrock_server, tmp_path):
    bedrock_server.use("hostile")
    out = tmp_path / "deep" / "out"
    proc = ask(bedrock_server, tmp_path, "x", "--json", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    saved = sorted(p.name for p in out.iterdir())
    assert len(saved) == 4 and "report.png" in saved
    home = tmp_path / "agent-desk-home"  # the run store records the run there (History)
    every_file = {p.resolve() for p in tmp_path.rglob("*") if p.is_file() and home not in p.parents}
    assert all(p.parent == out.resolve() for p in every_file if p.name not in
               ("no-aws-config", "no-aws-credentials"))
    assert not (tmp_path / "etc").exists() and not (tmp_path / "deep" / "etc").exists()
    mismatched = [d for d in json_lines(proc.stdout)
                  if d["event"] == "FileReturned" and d["file"]["name"] == "report.png"]
    assert mismatched[0]["file"]["media_type"].startswith("text/")


def test_inline_backend_from_cli(bedrock_server, tmp_path):
    proc = ask(bedrock_server, tmp_path, "x", "--json", backend="bedrock-inline")
    assert proc.returncode == 0, proc.stderr
    assert bedrock_server.requests[0].operation == "InvokeInlineAgent"
    assert bedrock_server.requests[0].body["foundationModel"] == "some.model-v1:0"


def test_timeout_ends_run_with_failure(bedrock_server, tmp_path):
    bedrock_server.use("slow", delay=2.0, parts=5)
    started = time.monotonic()
    proc = ask(bedrock_server, tmp_path, "x", "--json", "--timeout", "1.5")
    assert proc.returncode == 1
    assert time.monotonic() - started < 8  # the stream would take 10 s
    lines = json_lines(proc.stdout)
    assert lines[0]["event"] == "Rationale"  # what arrived is kept
    assert lines[-2]["event"] == "AgentFailure" and lines[-2]["kind"] == "timeout"
    assert lines[-1]["event"] == "RunEnd" and lines[-1]["outcome"] == "failed"


def test_bad_usage_exits_2_without_traceback(bedrock_server, tmp_path):
    proc = ask(bedrock_server, tmp_path, "x", "--file", str(tmp_path / "missing.csv"))
    assert proc.returncode == 2
    assert "missing.csv: no such file" in proc.stderr and "Traceback" not in proc.stderr
    proc = ask(bedrock_server, tmp_path, "x", "--session", "no spaces allowed")
    assert proc.returncode == 2 and "session id" in proc.stderr
    many = []
    for i in range(6):
        p = tmp_path / f"f{i}.csv"
        p.write_text("a,b\n1,2\n")
        many += ["--file", str(p)]
    proc = ask(bedrock_server, tmp_path, "x", *many)
    assert proc.returncode == 2 and "at most 5" in proc.stderr
    assert bedrock_server.requests == []


def test_missing_agent_id_exits_1_naming_variable(bedrock_server, tmp_path):
    env = fake.fake_aws_env(dict(os.environ), tmp_path)
    proc = subprocess.run([sys.executable, "-m", "agent_core", "ask", "x", "--backend",
                           "bedrock", "--endpoint-url", bedrock_server.url, "--json"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    failure, end = json_lines(proc.stdout)
    assert failure["kind"] == "configuration" and "BEDROCK_AGENT_ID" in failure["message"]
    assert end["event"] == "RunEnd" and end["outcome"] == "failed"


def test_help_explains_every_flag():
    proc = subprocess.run([sys.executable, "-m", "agent_core", "ask", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for flag in ("--backend", "--file", "--session", "--out", "--json", "--timeout",
                 "--agent-id", "--agent-alias-id", "--model-id", "--endpoint-url", "--region",
                 "--profile", "--read-timeout", "--executor"):
        assert flag in proc.stdout
    top = subprocess.run([sys.executable, "-m", "agent_core", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert top.returncode == 0 and "ask" in top.stdout and "export" in top.stdout
    # the top-level help explains every flag too (issue 2: `python -m agent_core --help`)
    for flag in ("--backend", "--file", "--session", "--out", "--json", "--timeout",
                 "--agent-id", "--model-id", "--endpoint-url", "--read-timeout", "--executor",
                 "--format"):
        assert flag in top.stdout, flag


def test_in_process_main_and_save_file_guard(tmp_path):
    from agent_core.cli import main, save_file

    out = tmp_path / "o"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    (out / "link.txt").symlink_to(victim)
    path = save_file(out, "../link.txt", b"new")  # '..' is refused: saved as a plain name
    assert path.parent == out and victim.read_text() == "keep"
    path = save_file(out, "link.txt", b"new")  # replaces the link itself, not its target
    assert victim.read_text() == "keep" and path.read_bytes() == b"new" and not path.is_symlink()
    assert main(["ask"]) == 2  # PROMPT missing: argparse usage error


SEED = ("Given the attached price data file, please make me a chart with moving average in red "
        "and actual data in blue")


@pytest.mark.timeout(180)
def test_local_ask_exits_within_a_second_of_its_last_event(tmp_path):
    """The local backend starts the one kernel the request uses, no warm spare, so the CLI
    never waits for a spare to finish starting before it exits."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BEDROCK_"))}
    env.update(AGENT_BACKEND="local", AGENT_DESK_HOME=str(tmp_path / "home"), PYTHONUNBUFFERED="1")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "agent_core", "ask", SEED, "--json", "--file",
                             str(ROOT / "assets" / "sample_prices.csv"), "--out", str(out)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines, last_at = [], None
        for line in proc.stdout:  # ends when the process closes its stdout, i.e. exits
            lines.append(json.loads(line))
            last_at = time.monotonic()
        proc.wait(timeout=30)
        exited_at = time.monotonic()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, proc.stderr.read()
    names = [d["event"] for d in lines]
    assert "FileReturned" in names and names[-2:] == ["TextChunk", "RunEnd"]
    assert lines[-1]["outcome"] == "completed"
    assert (out / "moving_average.png").stat().st_size > 0
    assert exited_at - last_at < 1.0, f"exited {exited_at - last_at:.2f} s after its last event"
