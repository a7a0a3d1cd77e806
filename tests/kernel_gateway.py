"""A real ``jupyter kernelgateway`` on 127.0.0.1 for the tests (CODE_EXECUTOR=gateway).

It runs in a temp folder of its own (its kernels start there), with an auth token, on a
free port; ``stop()`` ends it and every kernel it started.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunningGateway:
    url: str
    token: str
    root: Path
    proc: subprocess.Popen
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # the gateway shuts its kernels down on SIGTERM
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def kernels(self) -> list[dict]:
        import json

        req = urllib.request.Request(f"{self.url}/api/kernels",
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())


def start_gateway(root: Path, token: str, timeout: float = 30.0) -> RunningGateway:
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = root.parent / f"gateway-{port}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KERNEL_GATEWAY_"))}
    env["KG_AUTH_TOKEN"] = token
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "kernel_gateway", "--KernelGatewayApp.ip=127.0.0.1",
                                 f"--KernelGatewayApp.port={port}", "--KernelGatewayApp.port_retries=0",
                                 "--JupyterWebsocketPersonality.list_kernels=True"],
                                cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
    gw = RunningGateway(f"http://127.0.0.1:{port}", token, root, proc, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter kernelgateway exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(f"{gw.url}/api", timeout=1)
            return gw
        except urllib.error.HTTPError:
            return gw  # it answers (401 without the token): it is up
        except OSError:
            time.sleep(0.1)
    gw.stop()
    raise RuntimeError(f"jupyter kernelgateway did not answer in {timeout:g} s: {log.read_text()[-2000:]}")


TOKEN = "gw-test-token-5f1c9a7e"  # the tests' own token


@pytest.fixture(scope="module")
def kernel_gateway(tmp_path_factory):
    """A real gateway for the module's tests; fails (not skips) in CI when it cannot run."""
    from tests.conftest import require_module

    require_module("kernel_gateway", "jupyter-kernel-gateway", "the CODE_EXECUTOR=gateway tests start one")
    require_module("jupyter_server", "jupyter-server", "GatewayClient / GatewayKernelManager")
    gw = start_gateway(tmp_path_factory.mktemp("gateway") / "root", TOKEN)
    yield gw
    gw.stop()
