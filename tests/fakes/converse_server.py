"""A fake Bedrock Runtime ``ConverseStream`` endpoint on 127.0.0.1.

It speaks the real wire format (``POST /model/{modelId}/converse-stream``,
``application/vnd.amazon.eventstream`` frames: messageStart, contentBlockStart,
contentBlockDelta, contentBlockStop, messageStop, metadata, and in-stream
exceptions such as ``throttlingException``), so an unmodified boto3
``bedrock-runtime`` client parses it. Requests are recorded (``.requests``).

The "model" is either a list of scripted :class:`Turn` s (one per call) or a
function of the request body. Named scenarios (``scenario_model``) act like a
small analyst: they answer the seed chart request and the synthetic-data
request by calling ``execute_python`` with real pandas/matplotlib code that
reads the attached CSV named in the system prompt.

Standalone (the AgentCore fake is mounted on the same port unless --no-agentcore)::

    python -m tests.fakes.converse_server --port 8765 --scenario chart
"""
from __future__ import annotations

import argparse
import json
import re
import signal
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable, Sequence
from urllib.parse import unquote, urlsplit

from tests.fakes.eventstream import CONTENT_TYPE, encode_event, encode_exception


# --- a small HTTP server that fakes can mount routes on ---------------------------------
class Reply:
    """A JSON reply, or a stream of event-stream frames."""

    def __init__(self, status: int = 200, body: Any = None, *, frames: Iterable[bytes] | None = None,
                 headers: dict[str, str] | None = None, delay: float = 0.0,
                 content_type: str = CONTENT_TYPE) -> None:
        self.status, self.body, self.frames, self.headers, self.delay = status, body, frames, headers or {}, delay
        self.content_type = content_type  # of a stream (server-sent events: text/event-stream)


Route = Callable[[str, str, dict[str, str], bytes], "Reply | None"]


class FakeServer:
    """``ThreadingHTTPServer`` on 127.0.0.1 with mountable route functions."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.routes: list[Route] = []
        routes = self.routes

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = None
                for route in routes:
                    reply = route(self.command, self.path, headers, body)
                    if reply is not None:
                        break
                if reply is None:
                    reply = Reply(404, {"message": f"no route for {self.command} {self.path}"},
                                  headers={"x-amzn-errortype": "UnknownOperationException"})
                self._send(reply)

            def _send(self, reply: Reply) -> None:
                if reply.frames is None:
                    data = json.dumps(reply.body if reply.body is not None else {}).encode()
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for frame in reply.frames:
                        self.wfile.write(f"{len(frame):x}\r\n".encode() + frame + b"\r\n")
                        self.wfile.flush()
                        if reply.delay:
                            time.sleep(reply.delay)
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    # the client went away, or a scenario cuts the stream: drop the connection
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeServer":
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "FakeServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# --- the scripted model -------------------------------------------------------------------
@dataclass(frozen=True)
class Turn:
    """One model turn: text, then optionally an ``execute_python`` call; or an exception."""

    text: str = ""
    code: str | None = None
    tool_name: str = "execute_python"
    raw_tool_input: str | None = None   # sent as-is instead of {"code": code}
    stop_reason: str | None = None      # default: tool_use with code, else end_turn
    exception: tuple[str, str] | None = None  # (":exception-type", message) after the text
    usage: tuple[int, int] = (120, 40)
    cut_after: int | None = None        # drop the connection after this many frames


Model = Callable[[dict[str, Any]], Turn]


def turn_frames(turn: Turn, *, call_number: int = 1, piece: int = 12) -> list[bytes]:
    frames = [encode_event("messageStart", {"role": "assistant"})]
    index = 0
    if turn.text:
        for i in range(0, len(turn.text), piece):
            frames.append(encode_event("contentBlockDelta", {
                "delta": {"text": turn.text[i:i + piece]}, "contentBlockIndex": index}))
        if turn.exception is None:
            frames.append(encode_event("contentBlockStop", {"contentBlockIndex": index}))
        index += 1
    if turn.exception is not None:
        frames.append(encode_exception(*turn.exception))
        return frames
    has_tool = turn.code is not None or turn.raw_tool_input is not None
    if has_tool:
        raw = turn.raw_tool_input if turn.raw_tool_input is not None else json.dumps({"code": turn.code})
        frames.append(encode_event("contentBlockStart", {
            "start": {"toolUse": {"toolUseId": f"tooluse_{call_number:04d}", "name": turn.tool_name}},
            "contentBlockIndex": index}))
        step = max(1, len(raw) // 3 + 1)
        for i in range(0, len(raw), step):
            frames.append(encode_event("contentBlockDelta", {
                "delta": {"toolUse": {"input": raw[i:i + step]}}, "contentBlockIndex": index}))
        frames.append(encode_event("contentBlockStop", {"contentBlockIndex": index}))
    stop = turn.stop_reason or ("tool_use" if has_tool else "end_turn")
    frames.append(encode_event("messageStop", {"stopReason": stop}))
    frames.append(encode_event("metadata", {
        "usage": {"inputTokens": turn.usage[0], "outputTokens": turn.usage[1],
                  "totalTokens": sum(turn.usage)},
        "metrics": {"latencyMs": 42}}))
    return frames


def _cut(frames: list[bytes], keep: int) -> Iterable[bytes]:
    yield from frames[:keep]
    if keep < len(frames):
        yield frames[keep][: len(frames[keep]) // 2]  # half a frame, then the line goes dead
    raise ConnectionResetError("scripted cut")


class FakeConverse:
    """Mounts ``ConverseStream`` on a :class:`FakeServer` (its own unless one is given)."""

    def __init__(self, model: Sequence[Turn] | Model, *, server: FakeServer | None = None,
                 delay: float = 0.0) -> None:
        self._scripted = list(model) if not callable(model) else None
        self._model = model if callable(model) else None
        self.delay = delay
        self.requests: list[dict[str, Any]] = []  # {"model_id", "body"}
        self._lock = threading.Lock()
        self._own = server is None
        self.server = server or FakeServer()
        self.server.routes.append(self.route)

    @property
    def endpoint_url(self) -> str:
        return self.server.endpoint_url

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests]

    def route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply | None:
        m = re.fullmatch(r"/model/(.+)/converse-stream", urlsplit(path).path)
        if method != "POST" or not m:
            return None
        data = json.loads(body or b"{}")
        with self._lock:
            self.requests.append({"model_id": unquote(m.group(1)), "body": data})
            n = len(self.requests)
            if self._scripted is not None:
                if not self._scripted:
                    turn = Turn(text="(the scripted model has no more turns)")
                else:
                    turn = self._scripted.pop(0) if len(self._scripted) > 1 else self._scripted[0]
            else:
                turn = None
        if turn is None:
            turn = self._model(data)  # type: ignore[misc]
        frames = turn_frames(turn, call_number=n)
        if turn.cut_after is not None:
            frames = _cut(frames, turn.cut_after)
        return Reply(200, frames=frames, delay=self.delay)

    def start(self) -> "FakeConverse":
        if self._own:
            self.server.start()
        return self

    def stop(self) -> None:
        if self._own:
            self.server.stop()

    def __enter__(self) -> "FakeConverse":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# --- named scenarios: a small, honest "analyst" model -------------------------------------
def _last_user_text(body: dict[str, Any]) -> str:
    for msg in reversed(body.get("messages", [])):
        if msg.get("role") == "user":
            texts = [b["text"] for b in msg.get("content", []) if "text" in b]
            if texts:
                return "\n".join(texts)
    return ""


def _results_since_request(body: dict[str, Any]) -> list[dict[str, Any]]:
    """toolResult blocks sent after the latest user text (this request's tool calls)."""
    out: list[dict[str, Any]] = []
    for msg in reversed(body.get("messages", [])):
        blocks = msg.get("content", [])
        if msg.get("role") == "user" and any("text" in b for b in blocks):
            break
        out[:0] = [b["toolResult"] for b in blocks if "toolResult" in b]
    return out


def attached_files(body: dict[str, Any]) -> list[str]:
    system = "\n".join(b.get("text", "") for b in body.get("system", []))
    return re.findall(r"^- `([^`]+)`", system, flags=re.M)


def _result_text(result: dict[str, Any]) -> str:
    return "\n".join(b.get("text", "") for b in result.get("content", []) if "text" in b)


CHART_CODE = '''\
import re
import pandas as pd
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

df = pd.read_csv({name!r})
cols = {{c.lower().strip(): c for c in df.columns}}
date_col = next((cols[k] for k in cols if k in ("date", "datetime", "time", "timestamp", "day")), df.columns[0])
df[date_col] = pd.to_datetime(df[date_col], errors="coerce", format="mixed")
symbol_col = next((cols[k] for k in cols if k in ("symbol", "ticker", "name")), None)
if symbol_col is not None:
    first = df[symbol_col].dropna().iloc[0]
    df = df[df[symbol_col] == first]
value_col = next((cols[k] for k in ("close", "adj close", "adj_close", "price", "value") if k in cols), None)
if value_col is None:
    value_col = df.select_dtypes("number").columns[-1]
df = df.dropna(subset=[date_col]).sort_values(date_col)
df["moving_average"] = df[value_col].rolling({window}).mean()
fig, ax = plt.subplots(figsize=(10, 5))
ax.plot(df[date_col], df[value_col], color="blue", label="actual")
ax.plot(df[date_col], df["moving_average"], color="red", label="{window}-day moving average")
ax.set_xlabel("date"); ax.set_ylabel(str(value_col)); ax.legend(); ax.grid(alpha=0.3)
fig.savefig("moving_average.png", dpi=100, bbox_inches="tight")
plt.close(fig)
df[[date_col, value_col, "moving_average"]].to_csv("moving_average.csv", index=False)
print(f"rows={{len(df)}} column={{value_col}} last_ma={{df['moving_average'].iloc[-1]:.2f}}")
'''

SYNTHETIC_CODE = '''\
import random
import pandas as pd
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from faker import Faker

fake = Faker("en_US"); Faker.seed(7); random.seed(7)
EAST = ["ME", "NH", "MA", "RI", "CT", "NY", "NJ", "DE", "MD", "VA", "NC", "SC", "GA", "FL"]
WEST = ["WA", "OR", "CA"]
n = {count}
ids = [f"C{{i:05d}}" for i in range(1, n + 1)]
names, seen = [], set()
while len(names) < n:
    name = fake.company()
    if name not in seen:
        seen.add(name); names.append(name)
states = [random.choice(EAST) if i % 2 else random.choice(WEST) for i in range(n)]
sales = [round(random.uniform(0, 700_000)) if s in EAST else round(random.uniform(500_000, 2_000_000))
         for s in states]
pd.DataFrame({{"COMPANY_ID": ids, "COMPANY_NAME": names, "SALES_2024": sales}}).to_csv("SALES.csv", index=False)
pd.DataFrame({{"COMPANY_ID": ids, "COMPANY_STATE_CODE": states}}).to_csv("DETAILS.csv", index=False)
sales_df = pd.read_csv("SALES.csv"); details = pd.read_csv("DETAILS.csv")
merged = sales_df.merge(details, on="COMPANY_ID")
merged["REGION"] = merged["COMPANY_STATE_CODE"].map(lambda s: "east" if s in EAST else "west")
checks = {{
    "ids unique and shared": sales_df.COMPANY_ID.is_unique and set(sales_df.COMPANY_ID) == set(details.COMPANY_ID),
    "east sales in 0..700,000": merged.query("REGION == 'east'").SALES_2024.between(0, 700_000).all(),
    "west sales in 500,000..2,000,000": merged.query("REGION == 'west'").SALES_2024.between(500_000, 2_000_000).all(),
}}
for rule, ok in checks.items():
    print(("PASS" if ok else "FAIL"), rule)
fig, ax = plt.subplots(figsize=(7, 5))
merged.boxplot(column="SALES_2024", by="REGION", ax=ax)
ax.set_title("SALES_2024 by region"); fig.suptitle("")
fig.savefig("sales_by_region.png", dpi=100, bbox_inches="tight")
plt.close(fig)
print(f"companies={{n}}")
'''


def chart_code(name: str, request: str) -> str:
    m = re.search(r"(\d+)[- ]?(?:day|period|point)", request, flags=re.I)
    return CHART_CODE.format(name=name, window=int(m.group(1)) if m else 20)


def synthetic_code(request: str) -> str:
    """Code that follows the request's rules: the app's own reading of such a request
    (``synthetic.spec_from_text``) and plan when it recognises it, else a generic version."""
    from agent_core.synthetic import plan_code, spec_from_text

    try:
        spec = spec_from_text(request)
        if spec is not None:
            return plan_code(spec)
    except ValueError:
        pass
    m = re.search(r"(\d+)\s+companies", request, flags=re.I)
    return SYNTHETIC_CODE.format(count=int(m.group(1)) if m else 200)


def _is_synthetic(request: str) -> bool:
    return bool(re.search(r"synthetic|SALES|DETAILS|companies", request))


def scenario_model(name: str) -> Model:
    """``chart`` (alias ``analyst``): answers the chart and synthetic-data requests;
    ``fix``: its first code fails, then it corrects it; ``loop``: never stops calling
    tools; ``throttle``: a throttling exception mid-stream."""
    if name == "loop":
        return lambda body: Turn(text="Let me check once more.",
                                 code=f"print({len(_results_since_request(body)) + 1})")
    if name == "throttle":
        return lambda body: Turn(text="Looking at the data",
                                 exception=("throttlingException", "Too many tokens, please wait."))
    if name not in ("chart", "analyst", "fix"):
        raise ValueError(f"unknown scenario {name!r}")

    def model(body: dict[str, Any]) -> Turn:
        request = _last_user_text(body)
        results = _results_since_request(body)
        csvs = [f for f in attached_files(body) if f.lower().endswith((".csv", ".tsv"))]
        if not results:
            if _is_synthetic(request):
                return Turn(text="I will generate the two tables, test every rule and draw the box plot.",
                            code=synthetic_code(request))
            if not csvs:
                return Turn(text="Please attach a price data file (CSV) first, then ask again.")
            if name == "fix":
                return Turn(text="I will load the data and look at the price column.",
                            code=f"import pandas as pd\ndf = pd.read_csv({csvs[0]!r})\nprint(df['NoSuchColumn'].mean())")
            return Turn(text=f"I will load {csvs[0]} and plot the price with its moving average.",
                        code=chart_code(csvs[0], request))
        last = results[-1]
        if last.get("status") == "error":
            if len(results) >= 3 or not csvs:
                return Turn(text="The code kept failing:\n" + _result_text(last)[-400:])
            return Turn(text="That column does not exist; I will detect the price column instead.",
                        code=chart_code(csvs[0], request))
        output = _result_text(last)
        files = re.findall(r"^- (\S+) \(", output, flags=re.M)
        return Turn(text="Done. " + (f"I wrote {', '.join(files)}. " if files else "")
                    + "Summary: " + " ".join(output.split("\n")[1:3]).strip())

    return model


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--scenario", default="chart", choices=["chart", "analyst", "fix", "loop", "throttle"])
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between frames")
    parser.add_argument("--no-agentcore", action="store_true", help="do not mount the AgentCore fake")
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost"):
        parser.error("the fake binds 127.0.0.1 only")
    server = FakeServer(args.host, args.port)
    FakeConverse(scenario_model(args.scenario), server=server, delay=args.delay)
    agentcore = None
    if not args.no_agentcore:
        from tests.fakes.agentcore_server import FakeAgentCore

        agentcore = FakeAgentCore(server=server)
    print(f"fake converse{'+agentcore' if agentcore else ''} on {server.endpoint_url} "
          f"(scenario {args.scenario})", flush=True)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)  # clean up kernels and temp folders
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if agentcore is not None:
            agentcore.close()
        server.httpd.server_close()


if __name__ == "__main__":
    main()
