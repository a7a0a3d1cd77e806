"""A real nginx for tests: deploy/nginx.conf filled in (as envsubst would) and run unprivileged
in the foreground on a free 127.0.0.1 port, inside a minimal main configuration of our own
(temporary folders and logs under one folder)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import require_tool
from tests.e2e.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]

NGINX_TEMPLATE = ROOT / "deploy" / "nginx.conf"
TEMPLATE_VARS = ("AGENT_DESK_LISTEN", "AGENT_DESK_REPLICA_1", "AGENT_DESK_REPLICA_2",
                 "AGENT_DESK_LOG_DIR")


def render_nginx_conf(values: dict[str, str]) -> str:
    """What ``envsubst '$AGENT_DESK_LISTEN ...' < deploy/nginx.conf`` gives: the template's own
    variables filled, nginx's ``$...`` variables untouched."""
    text = NGINX_TEMPLATE.read_text()
    for name in TEMPLATE_VARS:
        text = text.replace("${" + name + "}", values[name])
    left = re.findall(r"\$\{\w+\}", text)
    assert not left, f"unfilled template variables in deploy/nginx.conf: {left}"
    return text


@dataclass
class Nginx:
    port: int
    prefix: Path
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def access_log(self) -> list[str]:
        path = self.prefix / "agent-desk.access.log"
        return path.read_text().splitlines() if path.exists() else []

    def upstreams(self) -> list[str]:
        """The replica address(es) that answered each logged request (the last one tried)."""
        found = [re.search(r"upstream=(\S+)", line) for line in self.access_log()]
        return [m.group(1).split(",")[-1].strip() for m in found if m and m.group(1) != "-"]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def nginx_command(prefix: Path, replicas: list[str], port: int) -> list[str]:
    """Write the configuration under ``prefix``; the command that runs nginx on it."""
    nginx = require_tool_path("nginx")
    prefix.mkdir(parents=True, exist_ok=True)
    site = prefix / "agent-desk.conf"
    site.write_text(render_nginx_conf({
        "AGENT_DESK_LISTEN": f"127.0.0.1:{port}", "AGENT_DESK_REPLICA_1": replicas[0],
        "AGENT_DESK_REPLICA_2": replicas[1], "AGENT_DESK_LOG_DIR": str(prefix)}))
    temp = "\n".join(f"  {kind}_temp_path {prefix / kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    main = prefix / "nginx.conf"
    main.write_text(("user root;\n" if os.geteuid() == 0 else "")
                    + "worker_processes 1;\nevents { worker_connections 512; }\n"
                    + f"http {{\n{temp}\n  include {site};\n}}\n")
    error_log = prefix / "error.log"
    return [nginx, "-p", str(prefix), "-e", str(error_log), "-c", str(main),
            "-g", f"daemon off; pid {prefix / 'nginx.pid'}; error_log {error_log} info;"]


def check_config(prefix: Path, replicas: list[str], port: int) -> None:
    """``nginx -t`` on the filled-in configuration."""
    check = subprocess.run([*nginx_command(prefix, replicas, port), "-t"], capture_output=True,
                           text=True, timeout=30)
    assert check.returncode == 0, f"nginx -t refused deploy/nginx.conf:\n{check.stderr}"


def start_nginx(prefix: Path, replicas: list[str]) -> Nginx:
    """nginx in front of ``replicas`` (host:port), answering on a free 127.0.0.1 port."""
    port = free_port()
    check_config(prefix, replicas, port)
    cmd = nginx_command(prefix, replicas, port)
    error_log = prefix / "error.log"
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    server = Nginx(port=port, prefix=prefix, process=proc)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited with {proc.returncode}:\n{error_log.read_text()}")
        try:
            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return server
        except OSError:
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"nginx did not answer:\n{error_log.read_text()}")


def require_tool_path(name: str) -> str:
    """nginx lives in /usr/sbin, which a plain user's PATH may lack."""
    path = os.environ.get("PATH", "").split(os.pathsep)
    for folder in ("/usr/sbin", "/usr/local/sbin"):
        if os.access(f"{folder}/{name}", os.X_OK) and folder not in path:
            os.environ["PATH"] = os.pathsep.join([*path, folder])
    require_tool(name, "the replica test puts a real nginx in front of two app replicas")
    return shutil.which(name) or name
