"""deploy/nginx.conf (issue 16): nginx accepts it as an operator fills it in, and its upload
limit agrees with Streamlit's, so a file the Upload page accepts is not refused by the proxy
with a bare 413. The browser test (tests/e2e/test_replicas.py) runs it in front of replicas."""
from __future__ import annotations

import re
import tomllib

from tests.nginx import NGINX_TEMPLATE, ROOT, check_config


def test_nginx_accepts_the_deploy_config(tmp_path):
    check_config(tmp_path / "nginx", ["127.0.0.1:8501", "127.0.0.1:8502"], 8080)


def test_upload_limit_matches_streamlits():
    upload_mb = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]["maxUploadSize"]
    match = re.search(r"^\s*client_max_body_size\s+(\d+)m;", NGINX_TEMPLATE.read_text(), re.M)
    assert match, "deploy/nginx.conf sets no client_max_body_size (nginx's default is 1 MB)"
    assert upload_mb <= int(match.group(1)) <= upload_mb + 5, (upload_mb, match.group(1))


def test_the_session_websocket_is_upgraded_and_long_lived():
    conf = NGINX_TEMPLATE.read_text()
    block = conf[conf.index("location /_stcore/stream"):]
    block = block[:block.index("}")]
    assert "proxy_set_header Upgrade $http_upgrade;" in block
    timeout = re.search(r"proxy_read_timeout (\d+)s;", block)
    assert timeout and int(timeout.group(1)) >= 600  # quiet code runs up to BEDROCK_READ_TIMEOUT
