"""deploy/nginx.conf (issue 16): nginx accepts it as an operator fills it in, and its upload
limit agrees with Streamlit's, so a file the Upload page accepts is not refused by the proxy
with a bare 413; it fails over to a live replica and never passes on a client's own identity
header. The browser test (tests/e2e/test_replicas.py) runs it in front of replicas."""
from __future__ import annotations

import http.server
import re
import threading
import tomllib
import urllib.request

import pytest

from tests.e2e.conftest import free_port
from tests.nginx import NGINX_TEMPLATE, ROOT, check_config, start_nginx


def test_nginx_accepts_the_deploy_config(tmp_path):
    check_config(tmp_path / "nginx", ["127.0.0.1:8501", "127.0.0.1:8502"], 8080)


def test_upload_limit_matches_streamlits():
    upload_mb = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]["maxUploadSize"]
    match = re.search(r"^\s*client_max_body_size\s+(\d+)m;", NGINX_TEMPLATE.read_text(), re.M)
    assert match, "deploy/nginx.conf sets no client_max_body_size (nginx's default is 1 MB)"
    assert upload_mb <= int(match.group(1)) <= upload_mb + 5, (upload_mb, match.group(1))


def test_the_session_websocket_is_upgraded_and_long_lived():
    conf = NGINX_TEMPLATE.read_text()
    assert "proxy_set_header Upgrade $http_upgrade;" in conf
    block = conf[conf.index("location /_stcore/stream"):]
    block = block[:block.index("}")]
    timeout = re.search(r"proxy_read_timeout (\d+)s;", block)
    assert timeout and int(timeout.group(1)) >= 600  # quiet code runs up to BEDROCK_READ_TIMEOUT


class _Recorder(http.server.BaseHTTPRequestHandler):
    """A stand-in replica that records the headers each request arrives with."""

    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).seen.append({k.lower(): v for k, v in self.headers.items()} | {":path": self.path})
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("dead_first", [True, False])
def test_proxy_fails_over_and_drops_a_clients_identity_header(tmp_path, dead_first):
    """Real nginx in front of one live stand-in replica and one dead port (either order): every
    request is answered by the live one; the client's own X-Forwarded-Email never reaches it
    (plain requests and the websocket alike); the websocket's Upgrade goes through."""
    _Recorder.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    live, dead = f"127.0.0.1:{server.server_address[1]}", f"127.0.0.1:{free_port()}"
    proxy = start_nginx(tmp_path / "nginx", [dead, live] if dead_first else [live, dead])
    try:
        for path, extra in (("/", {}), ("/_stcore/stream", {"Upgrade": "websocket",
                                                           "Connection": "Upgrade"})):
            req = urllib.request.Request(f"{proxy.url}{path}", headers={
                "X-Forwarded-Email": "someone-else@example.com", **extra})
            with urllib.request.urlopen(req, timeout=10) as resp:
                assert resp.status == 200 and resp.read() == b"ok"
    finally:
        proxy.stop()
        server.shutdown()
    by_path = {h[":path"]: h for h in _Recorder.seen}
    assert set(by_path) >= {"/", "/_stcore/stream"}, _Recorder.seen
    for headers in by_path.values():
        assert "x-forwarded-email" not in headers, headers
        assert headers["host"] == f"127.0.0.1:{proxy.port}"
    assert by_path["/_stcore/stream"]["upgrade"] == "websocket"
    assert by_path["/_stcore/stream"]["connection"].lower() == "upgrade"
    assert "upgrade" not in by_path["/"]
