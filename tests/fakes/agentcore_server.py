"""A fake Bedrock AgentCore Code Interpreter on 127.0.0.1 that really runs the code.

Routes (from botocore's ``bedrock-agentcore`` model):
``PUT /code-interpreters/{id}/sessions/start``, ``PUT .../sessions/stop?sessionId=``,
``POST /code-interpreters/{id}/tools/invoke`` (session in the
``x-amzn-code-interpreter-session-id`` header; the reply is an event stream of
``result`` events: ``content`` blocks, ``structuredContent`` {stdout, stderr,
exitCode, executionTime}, ``isError``). Tools: ``writeFiles``, ``executeCode``,
``listFiles``, ``readFiles``, ``removeFiles``.

Each interpreter session is a real Jupyter kernel whose working directory is a
temp folder, so state persists between ``executeCode`` calls as in the service.

Standalone::

    python -m tests.fakes.agentcore_server --port 8766
"""
from __future__ import annotations

import argparse
import base64
import json
import mimetypes
import os
import re
import signal
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import parse_qs, urlsplit

from tests.fakes.converse_server import FakeServer, Reply
from tests.fakes.eventstream import encode_event, encode_exception

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def _error(status: int, kind: str, message: str) -> Reply:
    return Reply(status, {"message": message}, headers={"x-amzn-errortype": kind})


class _Session:
    def __init__(self, root: Path) -> None:
        from jupyter_client.manager import start_new_kernel

        self.folder = Path(tempfile.mkdtemp(prefix="agentcore-", dir=root))
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["MPLBACKEND"] = "Agg"
        self.km, self.kc = start_new_kernel(kernel_name="python3", cwd=str(self.folder), env=env,
                                            stderr=subprocess.DEVNULL)
        self.lock = threading.Lock()

    def execute(self, code: str, timeout: float) -> dict[str, Any]:
        stdout: list[str] = []
        stderr: list[str] = []
        images: list[dict[str, Any]] = []
        error: list[str] = []

        def hook(msg: dict[str, Any]) -> None:
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                (stdout if content["name"] == "stdout" else stderr).append(content["text"])
            elif kind in ("display_data", "execute_result"):
                data = content.get("data", {})
                if "image/png" in data:
                    images.append({"type": "image", "mimeType": "image/png",
                                   "data": base64.b64decode(data["image/png"])})
                elif "text/plain" in data and kind == "execute_result":
                    stdout.append(data["text/plain"] + "\n")
            elif kind == "error":
                error.append(_ANSI.sub("", "\n".join(content.get("traceback", []))))

        start = time.monotonic()
        with self.lock:
            try:
                self.kc.execute_interactive(code, timeout=timeout, output_hook=hook, allow_stdin=False)
            except TimeoutError:
                self.km.interrupt_kernel()
                error.append(f"TimeoutError: execution timed out after {timeout:g} seconds")
        out, err = "".join(stdout), "".join(stderr) + ("\n".join(error))
        content = [{"type": "text", "text": out if not error else (out + err)}] + images
        return {"content": content, "isError": bool(error), "structuredContent": {
            "stdout": out, "stderr": err, "exitCode": 1 if error else 0,
            "executionTime": round(time.monotonic() - start, 3)}}

    def resolve(self, path: str) -> Path:
        if path.startswith("file://"):
            path = path[len("file://"):]
        p = Path(path)
        p = p if p.is_absolute() else self.folder / p
        p = p.resolve()
        if self.folder.resolve() not in (p, *p.parents):
            raise PermissionError(f"{path} is outside the session folder")
        return p

    def close(self) -> None:
        try:
            self.kc.stop_channels()
            self.km.shutdown_kernel(now=True)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


class FakeAgentCore:
    """Mounts the AgentCore Code Interpreter routes on a :class:`FakeServer`."""

    def __init__(self, *, server: FakeServer | None = None, exec_timeout: float = 60.0) -> None:
        self._own = server is None
        self.server = server or FakeServer()
        self.server.routes.append(self.route)
        self.exec_timeout = exec_timeout
        self.root = Path(tempfile.mkdtemp(prefix="fake-agentcore-"))
        self.sessions: dict[str, _Session] = {}
        self.stopped: list[str] = []
        self.requests: list[dict[str, Any]] = []  # {"op", "session_id", "body"}
        self._lock = threading.Lock()

    @property
    def endpoint_url(self) -> str:
        return self.server.endpoint_url

    def calls(self, tool: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.requests if tool is None or r["body"].get("name") == tool]

    def route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply | None:
        parts = urlsplit(path)
        m = re.fullmatch(r"/code-interpreters/([^/]+)/(sessions/start|sessions/stop|tools/invoke)", parts.path)
        if not m:
            return None
        interpreter, op = m.group(1), m.group(2)
        data = json.loads(body or b"{}")
        if op == "sessions/start" and method == "PUT":
            session_id = uuid.uuid4().hex[:26].upper()
            with self._lock:
                self.sessions[session_id] = _Session(self.root)
                self.requests.append({"op": "start", "session_id": session_id, "body": data})
            return Reply(200, {"codeInterpreterIdentifier": interpreter, "sessionId": session_id,
                               "createdAt": _now()})
        if op == "sessions/stop" and method == "PUT":
            session_id = (parse_qs(parts.query).get("sessionId") or [""])[0]
            with self._lock:
                session = self.sessions.pop(session_id, None)
                self.requests.append({"op": "stop", "session_id": session_id, "body": data})
            if session is None:
                return _error(404, "ResourceNotFoundException", f"session {session_id} not found")
            session.close()
            self.stopped.append(session_id)
            return Reply(200, {"codeInterpreterIdentifier": interpreter, "sessionId": session_id,
                               "lastUpdatedAt": _now()})
        if op == "tools/invoke" and method == "POST":
            session_id = headers.get("x-amzn-code-interpreter-session-id", "")
            with self._lock:
                self.requests.append({"op": "invoke", "session_id": session_id, "body": data})
                session = self.sessions.get(session_id)
            if session is None:
                return _error(404, "ResourceNotFoundException", f"session {session_id!r} not found")
            try:
                result = self._tool(session, data.get("name"), data.get("arguments") or {})
            except (PermissionError, FileNotFoundError, ValueError) as exc:
                return Reply(200, frames=[encode_exception("validationException", str(exc))],
                             headers={"x-amzn-code-interpreter-session-id": session_id})
            return Reply(200, frames=[encode_event("result", result)],
                         headers={"x-amzn-code-interpreter-session-id": session_id})
        return None

    def _tool(self, session: _Session, name: str | None, args: dict[str, Any]) -> dict[str, Any]:
        if name == "executeCode":
            if args.get("language", "python") != "python":
                raise ValueError("this fake runs python only")
            return session.execute(args.get("code", ""), self.exec_timeout)
        if name == "writeFiles":
            written = []
            for item in args.get("content", []):
                target = session.resolve(item["path"])
                target.parent.mkdir(parents=True, exist_ok=True)
                if item.get("blob") is not None:
                    target.write_bytes(base64.b64decode(item["blob"]))
                else:
                    target.write_text(item.get("text", ""), encoding="utf-8")
                written.append(item["path"])
            return {"content": [{"type": "text", "text": f"Successfully wrote {len(written)} file(s): "
                                 + ", ".join(written)}], "isError": False}
        if name == "listFiles":
            folder = session.resolve(args.get("directoryPath") or args.get("path") or ".")
            blocks = []
            for p in sorted(folder.iterdir()):
                if p.name.startswith(".") or p.is_dir():
                    continue
                blocks.append({"type": "resource_link", "uri": f"file://{p}", "name": p.name,
                               "mimeType": mimetypes.guess_type(p.name)[0] or "application/octet-stream",
                               "size": p.stat().st_size,
                               "description": str(p.stat().st_mtime_ns)})
            return {"content": blocks, "isError": False}
        if name == "readFiles":
            blocks = []
            for path in args.get("paths") or ([args["path"]] if args.get("path") else []):
                p = session.resolve(path)
                data = p.read_bytes()
                mime = mimetypes.guess_type(p.name)[0] or "application/octet-stream"
                resource: dict[str, Any] = {"uri": f"file://{p}", "mimeType": mime}
                try:
                    if not mime.startswith("text/") and mime != "application/json":
                        raise UnicodeDecodeError("utf-8", b"", 0, 1, "binary")
                    resource.update(type="text", text=data.decode("utf-8"))
                except UnicodeDecodeError:
                    resource.update(type="blob", blob=data)
                blocks.append({"type": "resource", "resource": resource})
            return {"content": blocks, "isError": False}
        if name == "removeFiles":
            for path in args.get("paths") or []:
                session.resolve(path).unlink(missing_ok=True)
            return {"content": [{"type": "text", "text": "removed"}], "isError": False}
        raise ValueError(f"tool {name!r} is not supported by this fake")

    def close(self) -> None:
        with self._lock:
            sessions, self.sessions = list(self.sessions.values()), {}
        for s in sessions:
            s.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def start(self) -> "FakeAgentCore":
        if self._own:
            self.server.start()
        return self

    def stop(self) -> None:
        if self._own:
            self.server.stop()
        self.close()

    def __enter__(self) -> "FakeAgentCore":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args(argv)
    fake = FakeAgentCore(server=FakeServer("127.0.0.1", args.port))
    print(f"fake agentcore on {fake.endpoint_url}", flush=True)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)  # clean up kernels and temp folders
    try:
        fake.server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        fake.close()
        fake.server.httpd.server_close()


if __name__ == "__main__":
    main()
