"""A fake OpenAI-compatible Chat Completions server on 127.0.0.1.

It speaks the real wire format, so the unmodified ``openai`` client parses it:
``POST /v1/chat/completions`` with ``"stream": true`` answers in server-sent events
(``data: {chunk}`` lines, ``data: [DONE]`` last; text deltas, tool-call fragments keyed by
``index`` with the arguments in many pieces, ``finish_reason``, and a usage chunk when the
request asks ``stream_options.include_usage``); errors are JSON ``{"error": {...}}`` with
their HTTP status (401, 404, 429 with ``Retry-After``, 400); ``GET /v1/models`` lists the
models. Azure's path (``/openai/deployments/{name}/chat/completions?api-version=``) is
served too. Requests are recorded (``.requests``: body, path, and whether a key was sent).

The "model" is a function of the request body (``scenario_model``) or a list of scripted
:class:`ChatTurn` s. Named scenarios act like a small analyst: the seed chart request, the
synthetic-data request and the books request get real pandas/matplotlib code.

Standalone::

    python -m tests.fakes.openai_server --port 8766 --scenario chart
"""
from __future__ import annotations

import argparse
import json
import re
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.converse_server import FakeServer, Reply, chart_code, synthetic_code

SSE = "text/event-stream"
# the original walkthrough's requests, and a small price file for them
SEED_REQUEST = ("Given the attached price data file, please make me a chart with moving average "
                "in red and actual data in blue")
BOOKS_REQUEST = "Please generate a list of the 10 greatest books of all time. Return it as a CSV file."
PRICES_CSV = "Date,Close\n" + "\n".join(
    f"2024-03-{d:02d},{80 + d * 0.75 + d % 5:.2f}" for d in range(1, 31)) + "\n"
BOOKS_CODE = '''\
import pandas as pd

books = [
    ("Don Quixote", "Miguel de Cervantes", 1605),
    ("War and Peace", "Leo Tolstoy", 1869),
    ("In Search of Lost Time", "Marcel Proust", 1913),
    ("Ulysses", "James Joyce", 1922),
    ("The Odyssey", "Homer", -700),
    ("Moby-Dick", "Herman Melville", 1851),
    ("Hamlet", "William Shakespeare", 1603),
    ("The Divine Comedy", "Dante Alighieri", 1320),
    ("One Hundred Years of Solitude", "Gabriel Garcia Marquez", 1967),
    ("Pride and Prejudice", "Jane Austen", 1813),
]
df = pd.DataFrame(books, columns=["title", "author", "year"])
df.insert(0, "rank", range(1, len(df) + 1))
df.to_csv("greatest_books.csv", index=False)
print(df.to_string(index=False))
'''


@dataclass(frozen=True)
class ChatTurn:
    """One model turn: text, then tool calls ``(name, raw arguments)``; or an HTTP error."""

    text: str = ""
    calls: tuple[tuple[str, str], ...] = ()
    finish: str | None = None            # default: tool_calls with calls, else stop
    usage: tuple[int, int] | None = (100, 30)   # None: the server sends no usage chunk
    piece: int = 7                       # characters per argument fragment
    cut_after: int | None = None         # drop the connection after this many events
    status: int = 200                    # an error reply instead of a stream
    error: str = ""
    error_code: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


def code_call(code: str) -> tuple[str, str]:
    return ("execute_python", json.dumps({"code": code}))


Model = Callable[[dict[str, Any]], ChatTurn]


def _chunk(n: int, model: str, delta: dict[str, Any] | None = None, finish: str | None = None,
           usage: dict[str, int] | None = None) -> bytes:
    body: dict[str, Any] = {"id": f"chatcmpl-{n}", "object": "chat.completion.chunk",
                            "created": int(time.time()), "model": model,
                            "choices": [] if delta is None else
                            [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
    if usage is not None:
        body["usage"] = usage
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def turn_events(turn: ChatTurn, *, model: str, call_number: int, include_usage: bool) -> list[bytes]:
    out = [_chunk(call_number, model, {"role": "assistant", "content": ""})]
    for i in range(0, len(turn.text), 9):
        out.append(_chunk(call_number, model, {"content": turn.text[i:i + 9]}))
    for index, (name, raw) in enumerate(turn.calls):
        out.append(_chunk(call_number, model, {"tool_calls": [{
            "index": index, "id": f"call_{call_number}_{index}", "type": "function",
            "function": {"name": name, "arguments": ""}}]}))
        for i in range(0, len(raw), turn.piece):
            out.append(_chunk(call_number, model, {"tool_calls": [{
                "index": index, "function": {"arguments": raw[i:i + turn.piece]}}]}))
    finish = turn.finish or ("tool_calls" if turn.calls else "stop")
    out.append(_chunk(call_number, model, {}, finish))
    if include_usage and turn.usage is not None:
        out.append(_chunk(call_number, model, None, usage={
            "prompt_tokens": turn.usage[0], "completion_tokens": turn.usage[1],
            "total_tokens": sum(turn.usage)}))
    out.append(b"data: [DONE]\n\n")
    return out


def _cut(events: list[bytes], keep: int) -> Iterable[bytes]:
    yield from events[:keep]
    raise ConnectionResetError("scripted cut")


class FakeChat:
    """Mounts Chat Completions on a :class:`FakeServer` (its own unless one is given).

    ``key``: the API key the server wants (None: any or none, like a local server).
    ``models``: what ``GET /v1/models`` lists; a request for another model gets a 404."""

    def __init__(self, model: Sequence[ChatTurn] | Model, *, server: FakeServer | None = None,
                 key: str | None = None, models: Sequence[str] = ("analyst-7b",),
                 delay: float = 0.0) -> None:
        self._scripted = list(model) if not callable(model) else None
        self._model = model if callable(model) else None
        self.key = key
        self.models = list(models)
        self.delay = delay
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._own = server is None
        self.server = server or FakeServer()
        self.server.routes.append(self.route)
        # a client that drops a kept-alive connection is normal here, not worth a traceback
        self.server.httpd.handle_error = lambda request, address: None  # type: ignore[method-assign]

    @property
    def base_url(self) -> str:
        return self.server.endpoint_url + "/v1"

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests]

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"].endswith("/chat/completions")]

    def _error(self, status: int, message: str, code: str | None = None,
               headers: dict[str, str] | None = None) -> Reply:
        kind = {401: "invalid_api_key", 404: "invalid_request_error",
                429: "rate_limit_exceeded"}.get(status, "invalid_request_error")
        return Reply(status, {"error": {"message": message, "type": kind, "param": None,
                                        "code": code}}, headers=headers)

    def route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply | None:
        url = urlsplit(path)
        azure = re.fullmatch(r"/openai/deployments/([^/]+)/chat/completions", url.path)
        if url.path.rstrip("/").endswith("/models") and method == "GET":
            return self._authorised(headers) or Reply(200, {"object": "list", "data": [
                {"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.models]})
        if method != "POST" or not (url.path == "/v1/chat/completions" or azure):
            return None
        data = json.loads(body or b"{}")
        sent_key = headers.get("api-key") or headers.get("authorization", "").removeprefix("Bearer ")
        with self._lock:
            self.requests.append({"path": url.path, "body": data,
                                  "query": parse_qs(url.query), "key_sent": bool(sent_key)})
            n = len(self.requests)
        denied = self._authorised(headers)
        if denied is not None:
            return denied
        model = azure.group(1) if azure else data.get("model")
        if model not in self.models:
            return self._error(404, f"The model `{model}` does not exist or you do not have access "
                               "to it.", "model_not_found")
        if self._scripted is not None:
            with self._lock:
                turn = (self._scripted.pop(0) if len(self._scripted) > 1 else self._scripted[0]) \
                    if self._scripted else ChatTurn(text="(the scripted model has no more turns)")
        else:
            turn = self._model(data)  # type: ignore[misc]
        if turn.status != 200:
            return self._error(turn.status, turn.error, turn.error_code, dict(turn.headers))
        include = bool((data.get("stream_options") or {}).get("include_usage"))
        events = turn_events(turn, model=str(model), call_number=n, include_usage=include)
        if not data.get("stream"):
            return self._error(400, "this fake only streams")
        stream = _cut(events, turn.cut_after) if turn.cut_after is not None else events
        return Reply(200, frames=stream, delay=self.delay, content_type=SSE)

    def _authorised(self, headers: dict[str, str]) -> Reply | None:
        if self.key is None:
            return None
        sent = headers.get("api-key") or headers.get("authorization", "").removeprefix("Bearer ")
        if sent == self.key:
            return None
        # like real servers, echo (part of) the key that was sent
        return self._error(401, f"Incorrect API key provided: {sent}. You can find your API key "
                           "in your account settings.", "invalid_api_key")

    def start(self) -> FakeChat:
        if self._own:
            self.server.start()
        return self

    def stop(self) -> None:
        if self._own:
            self.server.stop()

    def __enter__(self) -> FakeChat:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# --- the scenarios -------------------------------------------------------------------------
def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(p.get("text", "") for p in content or [] if p.get("type") == "text")


def last_user_text(body: dict[str, Any]) -> str:
    """The user's request: the last user message that is not a code result."""
    for msg in reversed(body.get("messages", [])):
        if msg.get("role") == "user":
            text = _text_of(msg.get("content"))
            if not text.startswith(("The code ran", "The code failed", "The charts")):
                return text
    return ""


def results_since_request(body: dict[str, Any]) -> list[str]:
    """The texts of the code results after the latest request (tool messages or, without
    tools, user messages that report a code block's run)."""
    out: list[str] = []
    for msg in reversed(body.get("messages", [])):
        text = _text_of(msg.get("content"))
        if msg.get("role") == "tool" or (msg.get("role") == "user" and text.startswith(
                ("The code ran", "The code failed", "The charts"))):
            if not text.startswith("The charts"):
                out.insert(0, text)
            continue
        if msg.get("role") == "user":
            break
    return out


def attached_files(body: dict[str, Any]) -> list[str]:
    system = "\n".join(_text_of(m.get("content")) for m in body.get("messages", [])
                       if m.get("role") == "system")
    return re.findall(r"^- `([^`]+)`", system, flags=re.M)


def has_images(body: dict[str, Any]) -> bool:
    return any(isinstance(m.get("content"), list) and any(p.get("type") == "image_url" for p in m["content"])
               for m in body.get("messages", []))


def _is_books(request: str) -> bool:
    return bool(re.search(r"\bbooks?\b", request, flags=re.I))


def _is_synthetic(request: str) -> bool:
    return bool(re.search(r"synthetic|SALES|DETAILS|companies", request))


def _first_code(request: str, csvs: list[str], fix: bool) -> tuple[str, str] | None:
    if _is_books(request):
        return ("I will write the list as a table and save it as CSV.", BOOKS_CODE)
    if _is_synthetic(request):
        return ("I will generate the two tables, test every rule and draw the box plot.",
                synthetic_code(request))
    if not csvs:
        return None
    if fix:
        return ("I will load the data and look at the price column.",
                f"import pandas as pd\ndf = pd.read_csv({csvs[0]!r})\nprint(df['NoSuchColumn'].mean())")
    return (f"I will load {csvs[0]} and plot the price with its moving average.",
            chart_code(csvs[0], request))


def _summary(results: list[str]) -> str:
    last = results[-1]
    files = re.findall(r"^- (\S+) \(", last, flags=re.M)
    out = [line for line in last.split("\n")[1:4] if line.strip() and not line.startswith("-")]
    return ("Done. " + (f"I wrote {', '.join(files)}. " if files else "")
            + "Summary: " + " ".join(out).strip())


def scenario_model(name: str) -> Model:
    """``chart`` (the analyst: seed chart, synthetic data, books); ``fix``: the first code
    fails, then it is corrected; ``two_calls``: two tool calls in one turn; ``no_tools``:
    the model refuses tools (400) and writes ```python blocks; ``no_usage``: ``chart`` with
    no usage chunk; ``text_only``: ``chart`` on a model that refuses image parts (400);
    ``loop``: never stops calling tools; ``cut``: the stream breaks mid-answer;
    ``rate_limited``: always 429 with ``Retry-After: 7``; ``busy_once``: one 429 with
    ``Retry-After: 1``, then ``chart``; ``too_long``: 400 context length exceeded."""
    if name == "loop":
        return lambda body: ChatTurn(text="Let me check once more.",
                                     calls=(code_call(f"print({len(results_since_request(body)) + 1})"),))
    if name == "cut":
        return lambda body: ChatTurn(text="The closing prices rose steadily over the month and then",
                                     cut_after=4)
    if name == "rate_limited":
        return lambda body: ChatTurn(status=429, error="Rate limit reached for requests per minute.",
                                     headers=(("Retry-After", "7"),))
    if name == "too_long":
        return lambda body: ChatTurn(status=400, error="This model's maximum context length is 8192 "
                                     "tokens. However, your messages resulted in 9120 tokens.",
                                     error_code="context_length_exceeded")
    if name not in ("chart", "fix", "two_calls", "no_tools", "no_usage", "text_only", "busy_once"):
        raise ValueError(f"unknown scenario {name!r}")
    busy = {"left": 1}

    def model(body: dict[str, Any]) -> ChatTurn:
        if name == "busy_once" and busy["left"]:
            busy["left"] -= 1
            return ChatTurn(status=429, error="Too many requests, slow down.",
                            headers=(("Retry-After", "1"),))
        if name == "no_tools" and body.get("tools"):
            return ChatTurn(status=400, error=f"registry.ollama.ai/library/{body.get('model')} does "
                            "not support tools")
        if name == "text_only" and has_images(body):
            return ChatTurn(status=400, error="Invalid content type. image_url is only supported by "
                            "certain models.")
        usage = None if name == "no_usage" else (100, 30)
        request = last_user_text(body)
        results = results_since_request(body)
        csvs = [f for f in attached_files(body) if f.lower().endswith((".csv", ".tsv"))]

        def act(text: str, code: str) -> ChatTurn:
            if name == "no_tools":
                return ChatTurn(text=f"{text}\n\n```python\n{code}```\n", usage=usage)
            return ChatTurn(text=text, calls=(code_call(code),), usage=usage)

        if not results:
            first = _first_code(request, csvs, fix=name == "fix")
            if first is None:
                return ChatTurn(text="Please attach a price data file (CSV) first, then ask again.",
                                usage=usage)
            if name == "two_calls" and csvs:
                load = f"import pandas as pd\ndf = pd.read_csv({csvs[0]!r})\nprint(f'rows={{len(df)}}')"
                return ChatTurn(text="First the size, then the chart.", usage=usage,
                                calls=(code_call(load), code_call(first[1])))
            return act(*first)
        last = results[-1]
        if "Error:" in last or "Timeout:" in last:
            if len(results) >= 3 or not csvs:
                return ChatTurn(text="The code kept failing:\n" + last[-400:], usage=usage)
            return act("That column does not exist; I will detect the price column instead.",
                       chart_code(csvs[0], request))
        return ChatTurn(text=_summary(results), usage=usage)

    return model


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


SCENARIOS = ["chart", "fix", "two_calls", "no_tools", "no_usage", "text_only", "busy_once", "loop",
             "cut", "rate_limited", "too_long"]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--scenario", default="chart", choices=SCENARIOS)
    parser.add_argument("--model", action="append", default=None, help="a model the server has")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between events")
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost"):
        parser.error("the fake binds 127.0.0.1 only")
    server = FakeServer(args.host, args.port)
    FakeChat(scenario_model(args.scenario), server=server, models=args.model or ["analyst-7b"],
             delay=args.delay)
    print(f"fake chat completions on {server.endpoint_url}/v1 (scenario {args.scenario})", flush=True)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()


if __name__ == "__main__":
    main()
