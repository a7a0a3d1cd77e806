"""A local fake of Bedrock's InvokeAgent / InvokeInlineAgent HTTP API.

It listens on 127.0.0.1 only and answers with real ``application/vnd.amazon.eventstream``
frames (``tests.fakes.eventstream``), sent with chunked transfer encoding and flushed
per event, so an unmodified boto3 client pointed at it (``endpoint_url``) parses the
stream itself, event by event.

A *script* is a list of steps, played for each request:

- ``("event", member, payload)``   an event frame (``chunk``, ``trace``, ``files``, ...;
  bytes in the payload are sent base64 as botocore expects); ``trace`` payloads get
  ``sessionId`` / ``agentId`` ... filled in
- ``("exception", type, message)`` an in-stream exception (e.g. ``throttlingException``)
- ``("error", code, message)``     an unmodelled error frame
- ``("sleep", seconds)``
- ``("http_error", status, code, message)``  an HTTP error before the stream (first step)
- ``("drop",)``                    close the connection mid-stream

Use it in tests::

    from tests.fakes.bedrock_server import FakeBedrock, bedrock_server  # fixture

    def test_x(bedrock_server):
        bedrock_server.use("chart")          # or bedrock_server.script = [...]
        ... endpoint_url=bedrock_server.url ...
        bedrock_server.requests[0].body      # what boto3 sent

or standalone: ``python -m tests.fakes.bedrock_server --port 8765 --scenario chart``.
"""
from __future__ import annotations

import argparse
import collections
import json
import re
import signal
import socket
import struct
import sys
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable, Sequence

try:  # the fixture needs pytest; standalone use does not
    import pytest
except ImportError:  # pragma: no cover
    pytest = None  # type: ignore[assignment]

from tests.fakes.eventstream import CONTENT_TYPE, encode_error, encode_event, encode_exception

Step = tuple
_INVOKE_AGENT = re.compile(r"^/agents/([^/]+)/agentAliases/([^/]+)/sessions/([^/]+)/text$")
_INVOKE_INLINE = re.compile(r"^/agents/([^/]+)$")
_HIDDEN_HEADERS = {"authorization", "x-amz-security-token"}


# --- file contents ---------------------------------------------------------------------
def make_png(width: int = 32, height: int = 16) -> bytes:
    """A real RGB PNG (a colour gradient), built with zlib + struct."""
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter: none
        for x in range(width):
            rows += bytes((x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), 128))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (struct.pack("!I", len(data)) + tag + data
                + struct.pack("!I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    ihdr = struct.pack("!IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(bytes(rows))) + chunk(b"IEND", b""))


SUMMARY_CSV = (b"date,close,ma20\n2026-01-02,101.5,100.2\n2026-01-05,102.0,100.4\n"
               b"2026-01-06,100.9,100.5\n")


# --- event builders (Bedrock's own shapes) -------------------------------------------------
def trace(kind: str, body: dict[str, Any]) -> Step:
    return ("event", "trace", {"trace": {kind: body}})


def orch(member: str, body: dict[str, Any]) -> Step:
    return trace("orchestrationTrace", {member: body})


def rationale(text: str, trace_id: str) -> Step:
    return orch("rationale", {"traceId": trace_id, "text": text})


def code_input(code: str, trace_id: str, files: Sequence[str] = ()) -> Step:
    return orch("invocationInput", {
        "traceId": trace_id, "invocationType": "ACTION_GROUP_CODE_INTERPRETER",
        "codeInterpreterInvocationInput": {"code": code, "files": list(files)}})


def code_output(trace_id: str, *, output: str | None = None, error: str | None = None,
                timeout: bool | None = None, files: Sequence[str] = ()) -> Step:
    out: dict[str, Any] = {}
    if output is not None:
        out["executionOutput"] = output
    if error is not None:
        out["executionError"] = error
    if timeout is not None:
        out["executionTimeout"] = timeout
    if files:
        out["files"] = list(files)
    return orch("observation", {"traceId": trace_id, "type": "ACTION_GROUP_CODE_INTERPRETER",
                                "codeInterpreterInvocationOutput": out})


def usage(trace_id: str, input_tokens: int, output_tokens: int) -> Step:
    return orch("modelInvocationOutput", {
        "traceId": trace_id, "rawResponse": {"content": "..."},
        "metadata": {"usage": {"inputTokens": input_tokens, "outputTokens": output_tokens}}})


def final_response(text: str, trace_id: str) -> Step:
    return orch("observation", {"traceId": trace_id, "type": "FINISH",
                                "finalResponse": {"text": text}})


def chunk(data: str | bytes) -> Step:
    return ("event", "chunk", {"bytes": data.encode("utf-8") if isinstance(data, str) else data})


def files(*items: tuple[str, str, bytes]) -> Step:
    return ("event", "files", {"files": [{"name": n, "type": t, "bytes": b} for n, t, b in items]})


# --- named scenarios -----------------------------------------------------------------
CHART_CODE = ("import pandas as pd\nimport matplotlib.pyplot as plt\n"
              "df = pd.read_csv('prices.csv')\ndf['ma20'] = df.close.rolling(20).mean()\n"
              "df.plot(x='date', y=['close', 'ma20']).figure.savefig('chart.png')\n"
              "df.tail(3).to_csv('summary.csv', index=False)\n")
CHART_ANSWER = "The 20-day average is 100.5 €; the chart and a summary table are attached."


def scenario_chart() -> list[Step]:
    """A code run that returns a PNG chart and a CSV file; the answer's '€' is split
    across two chunks (UTF-8 must be decoded incrementally)."""
    answer = CHART_ANSWER.encode("utf-8")
    cut = answer.index("€".encode()) + 1  # inside the 3-byte character
    return [
        rationale("I will load the prices and plot a 20-day moving average.", "t-1"),
        code_input(CHART_CODE, "t-1", files=["prices.csv"]),
        usage("t-1", 1200, 150),
        code_output("t-1", output="saved chart.png and summary.csv",
                    files=["chart.png", "summary.csv"]),
        files(("chart.png", "image/png", make_png()), ("summary.csv", "text/csv", SUMMARY_CSV)),
        final_response(CHART_ANSWER, "t-2"),
        chunk(answer[:cut]),
        chunk(answer[cut:]),
    ]


def scenario_retry() -> list[Step]:
    """The first code run fails; the agent fixes it and the second run succeeds."""
    return [
        rationale("Compute the mean close.", "t-1"),
        code_input("print(df.close.mean())", "t-1"),
        code_output("t-1", error="NameError: name 'df' is not defined"),
        rationale("df was not loaded; load the CSV first.", "t-2"),
        code_input("import pandas as pd\ndf = pd.read_csv('prices.csv')\nprint(df.close.mean())",
                   "t-2"),
        code_output("t-2", output="101.47"),
        final_response("The mean close is 101.47.", "t-3"),
        chunk("The mean close is 101.47."),
    ]


def scenario_throttle() -> list[Step]:
    """Some events, then an in-stream throttlingException (boto3 raises EventStreamError)."""
    return [
        rationale("Plot the prices.", "t-1"),
        code_input("print(1)", "t-1"),
        ("exception", "throttlingException", "Rate exceeded. Retry later."),
    ]


def scenario_denied() -> list[Step]:
    """HTTP 403 before any event (AccessDeniedException, JSON body + x-amzn-errortype)."""
    return [("http_error", 403, "AccessDeniedException",
             "User: arn:aws:sts::123456789012:assumed-role/analyst/me is not authorized to "
             "perform: bedrock:InvokeAgent on resource: arn:aws:bedrock:us-east-1:"
             "123456789012:agent-alias/AGENT123/ALIAS123")]


def scenario_not_found() -> list[Step]:
    return [("http_error", 404, "ResourceNotFoundException", "Failed to retrieve resource "
             "because it doesn't exist. Retry the request with a different resource identifier.")]


HOSTILE_NAMES = ("../../etc/passwd", "C:\\evil.png", "nul\x00byte.txt")


def scenario_hostile() -> list[Step]:
    """Returned files with path-like / NUL names, and text that claims to be a PNG."""
    return [
        files(("../../etc/passwd", "text/plain", b"root:x:0:0:root:/root:/bin/sh\n"),
              ("C:\\evil.png", "image/png", make_png(4, 4)),
              ("nul\x00byte.txt", "text/plain", b"hello\n"),
              ("report.png", "image/png", b"this is text, not a PNG\n")),
        chunk("Files attached."),
    ]


def scenario_unknown() -> list[Step]:
    """A trace kind and a top-level event member that this botocore does not know."""
    return [
        trace("futureTrace", {"traceId": "t-9", "text": "from a newer service"}),
        ("event", "futureEvent", {"anything": 1}),
        chunk("Done."),
    ]


def scenario_timeout() -> list[Step]:
    return [
        code_input("while True: pass", "t-1"),
        code_output("t-1", timeout=True),
        chunk("The code took too long."),
    ]


SLOW_DELAY = 0.4


def scenario_slow(delay: float = SLOW_DELAY, parts: int = 4) -> list[Step]:
    """A slow stream: ``parts`` chunks with ``delay`` seconds between them."""
    steps: list[Step] = [rationale("Thinking slowly.", "t-1")]
    for i in range(parts):
        steps += [("sleep", delay), chunk(f"part {i + 1}. ")]
    return steps


def scenario_slow_chart(delay: float = 1.0, parts: int = 4) -> list[Step]:
    """The chart run, slowly: the PNG and its CSV arrive after a few seconds, then the
    answer in ``parts`` chunks ``delay`` seconds apart (a file must be drawn on arrival,
    not after the answer)."""
    return [
        rationale("I will load the prices and plot a 20-day moving average.", "t-1"),
        code_input(CHART_CODE, "t-1", files=["prices.csv"]),
        ("sleep", delay),
        code_output("t-1", output="saved chart.png and summary.csv",
                    files=["chart.png", "summary.csv"]),
        files(("chart.png", "image/png", make_png()), ("summary.csv", "text/csv", SUMMARY_CSV)),
        final_response(CHART_ANSWER, "t-2"),
        *[step for i in range(parts) for step in (("sleep", delay), chunk(f"slow part {i + 1}. "))],
    ]


def scenario_drop() -> list[Step]:
    """Some events, then the connection drops mid-stream."""
    return [rationale("Starting.", "t-1"), chunk("Partial answer"), ("drop",)]


SCENARIOS: dict[str, Callable[[], list[Step]]] = {
    "chart": scenario_chart, "retry": scenario_retry, "throttle": scenario_throttle,
    "denied": scenario_denied, "not_found": scenario_not_found, "hostile": scenario_hostile,
    "unknown": scenario_unknown, "timeout": scenario_timeout, "slow": scenario_slow,
    "drop": scenario_drop, "slow_chart": scenario_slow_chart,
}


# --- the server ------------------------------------------------------------------------
@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake saw it (credentials headers left out)."""

    operation: str  # InvokeAgent | InvokeInlineAgent
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any]
    received_at: float = field(default=0.0)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {"__invalid_json__": raw.decode("utf-8", "replace")}
        m = _INVOKE_AGENT.match(self.path.split("?")[0])
        if m:
            op = "InvokeAgent"
            params = {"agentId": m[1], "agentAliasId": m[2], "sessionId": m[3]}
        else:
            m = _INVOKE_INLINE.match(self.path.split("?")[0])
            if not m:
                self._json_error(404, "UnknownOperationException", f"No route for {self.path}")
                return
            op, params = "InvokeInlineAgent", {"sessionId": m[1]}
        headers = {k.lower(): v for k, v in self.headers.items() if k.lower() not in _HIDDEN_HEADERS}
        fake._record(RecordedRequest(operation=op, method="POST", path=self.path, params=params,
                                     headers=headers, body=body, received_at=time.monotonic()))
        script = fake._next_script(end_session=bool(body.get("endSession")))
        self._play(script, op, params, body)

    def _json_error(self, status: int, code: str, message: str) -> None:
        data = json.dumps({"message": message}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("x-amzn-errortype", f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/")
        self.send_header("x-amzn-RequestId", "fake-request-id")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _play(self, script: list[Step], op: str, params: dict[str, str],
              body: dict[str, Any]) -> None:
        fake = self.server.fake
        generation = fake.generation
        if script and script[0][0] == "http_error":
            _, status, code, message = script[0]
            self._json_error(int(status), str(code), str(message))
            return
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-amzn-bedrock-agent-content-type", "application/json")
        self.send_header("x-amz-bedrock-agent-session-id", params["sessionId"])
        if body.get("memoryId"):
            self.send_header("x-amz-bedrock-agent-memory-id", str(body["memoryId"]))
        self.send_header("x-amzn-RequestId", "fake-request-id")
        self.end_headers()
        trace_defaults: dict[str, Any] = {"sessionId": params["sessionId"]}
        if op == "InvokeAgent":
            trace_defaults.update(agentId=params["agentId"], agentAliasId=params["agentAliasId"],
                                  agentVersion="1")
        try:
            for step in script:
                if fake.generation != generation:  # reset() since: a test left; stop quietly
                    self.close_connection = True
                    return
                kind = step[0]
                if kind == "sleep":
                    time.sleep(float(step[1]))
                    continue
                if kind == "drop":
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if kind == "event":
                    payload = step[2]
                    if step[1] == "trace" and isinstance(payload, dict):
                        payload = {**trace_defaults, **payload}
                    frame = encode_event(step[1], payload)
                elif kind == "exception":
                    frame = encode_exception(step[1], step[2])
                elif kind == "error":
                    frame = encode_error(step[1], step[2])
                else:
                    raise ValueError(f"unknown script step {step!r}")
                leaving = time.monotonic()  # taken before the write: the client cannot see it earlier
                self._write_chunk(frame)
                fake._sent(step, generation, leaving)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            fake._aborted(generation)

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    fake: "FakeBedrock"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client closing its kept-alive connection is normal; report anything else."""
        if isinstance(sys.exc_info()[1], (ConnectionError, OSError)):
            return
        super().handle_error(request, client_address)


class FakeBedrock:
    """The fake server. ``script`` (or :meth:`use`) sets what every request gets;
    :meth:`queue` sets scripts for the next requests, one each, before ``script``."""

    def __init__(self, port: int = 0, script: Iterable[Step] | None = None) -> None:
        self._port = port
        self.script: list[Step] = list(script) if script is not None else scenario_chart()
        self.requests: list[RecordedRequest] = []
        self.sent: list[tuple[float, Step]] = []  # (monotonic time just before a frame was written, step)
        self._queue: collections.deque[list[Step]] = collections.deque()
        self.generation = 0  # bumped by reset(); a stream from before stops writing
        self.aborted = 0  # streams the client closed before their end
        self._lock = threading.Lock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle
    def start(self) -> "FakeBedrock":
        self._httpd = _Server(("127.0.0.1", self._port), _Handler)
        self._httpd.fake = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-bedrock",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "FakeBedrock":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "start() the server first"
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # scripting
    def use(self, scenario: str, **kwargs: Any) -> "FakeBedrock":
        self.script = SCENARIOS[scenario](**kwargs)
        return self

    def queue(self, *scripts: Iterable[Step]) -> None:
        with self._lock:
            self._queue.extend(list(s) for s in scripts)

    def reset(self) -> None:
        with self._lock:
            self.generation += 1
            self.aborted = 0
            self.script = scenario_chart()
            self.requests.clear()
            self.sent.clear()
            self._queue.clear()

    def _next_script(self, *, end_session: bool = False) -> list[Step]:
        """The queued script, else ``script``; a bare ``endSession`` call gets an empty stream."""
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            return [] if end_session else list(self.script)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _aborted(self, generation: int) -> None:
        with self._lock:
            if generation == self.generation:
                self.aborted += 1

    def _sent(self, step: Step, generation: int, leaving: float) -> None:
        with self._lock:
            if generation == self.generation:
                self.sent.append((leaving, step))


# --- credentials for tests ------------------------------------------------------------
FAKE_ACCESS_KEY = "AKIAFAKEKEY000000001"
FAKE_SECRET_KEY = "fakeSecretKeyThatMustNeverBeShown0123456789"
_AWS_VARS_TO_DROP = (
    "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME", "AWS_MAX_ATTEMPTS",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
)


def fake_aws_env(base: dict[str, str], folder: Any) -> dict[str, str]:
    """``base`` with dummy keys, no user AWS config and no instance metadata (for a
    subprocess such as the app or the CLI)."""
    env = {k: v for k, v in base.items() if k not in _AWS_VARS_TO_DROP}
    env.update(AWS_ACCESS_KEY_ID=FAKE_ACCESS_KEY, AWS_SECRET_ACCESS_KEY=FAKE_SECRET_KEY,
               AWS_CONFIG_FILE=str(folder / "no-aws-config"),
               AWS_SHARED_CREDENTIALS_FILE=str(folder / "no-aws-credentials"),
               AWS_EC2_METADATA_DISABLED="true")
    return env


_shared: FakeBedrock | None = None

if pytest is not None:
    @pytest.fixture
    def bedrock_server() -> Iterable[FakeBedrock]:
        """One fake server for the whole test process, reset for each test."""
        global _shared
        if _shared is None:
            _shared = FakeBedrock().start()
        _shared.reset()
        yield _shared
        _shared.reset()

    @pytest.fixture
    def fake_aws_credentials(monkeypatch, tmp_path) -> dict[str, str]:
        """Dummy credentials through boto3's standard chain for this test (no user config,
        no instance metadata); returns the variables set."""
        import os

        env = fake_aws_env(dict(os.environ), tmp_path)
        for var in _AWS_VARS_TO_DROP:
            monkeypatch.delenv(var, raising=False)
        for key, value in env.items():
            if key.startswith("AWS_"):
                monkeypatch.setenv(key, value)
        return {k: v for k, v in env.items() if k.startswith("AWS_")}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.bedrock_server",
        description="A fake Bedrock InvokeAgent/InvokeInlineAgent endpoint on 127.0.0.1 "
                    "(point BEDROCK_ENDPOINT_URL at it).")
    parser.add_argument("--port", type=int, default=8765, help="port (0: any free port)")
    parser.add_argument("--scenario", default="chart", choices=sorted(SCENARIOS),
                        help="what every request gets (default: chart)")
    args = parser.parse_args(argv)
    server = FakeBedrock(port=args.port, script=SCENARIOS[args.scenario]()).start()
    print(f"fake bedrock listening on {server.url} (scenario {args.scenario})", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
