"""Shared test setup: every test gets its own AGENT_DESK_HOME, never the user's."""
from __future__ import annotations

import os
import shutil

import pytest

from tests.kernel_gateway import kernel_gateway  # noqa: F401  (fixture: a real Jupyter Kernel Gateway)

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_tool(name: str, why: str) -> None:
    """Skip (with the reason) when a tool is missing locally; in CI, fail instead:
    CI installs every tool the tests need, so a missing one is a broken CI."""
    if shutil.which(name):
        return
    if IN_CI:
        pytest.fail(f"{name} is required in CI ({why}); .ci/run must install it")
    pytest.skip(f"{name} is not installed ({why}); `apt-get install -y {name}`")


def require_module(name: str, package: str, why: str) -> None:
    """``require_tool`` for a tool that ships as a Python package (run with ``python -m``)."""
    import importlib.util

    if importlib.util.find_spec(name) is not None:
        return
    if IN_CI:
        pytest.fail(f"{package} is required in CI ({why}); .ci/run must install it")
    pytest.skip(f"{package} is not installed ({why}); `pip install -r requirements-dev.txt`")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    home = tmp_path / "agent-desk-home"
    home.mkdir()
    monkeypatch.setenv("AGENT_DESK_HOME", str(home))
    for var in ("AGENT_BACKEND", "BEDROCK_AGENT_ID", "BEDROCK_AGENT_ALIAS_ID", "BEDROCK_MODEL_ID",
                "BEDROCK_ENDPOINT_URL", "CODE_EXECUTOR", "KERNEL_GATEWAY_URL", "KERNEL_GATEWAY_AUTH_TOKEN",
                "KERNEL_GATEWAY_KERNEL_NAME", "AGENT_DESK_STORE_URL", "AGENT_DESK_FILES_URL",
                "AGENT_DESK_LEASE_SECONDS"):
        monkeypatch.delenv(var, raising=False)
    yield home
