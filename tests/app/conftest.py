"""AppTest helpers: the app on the local backend or on Bedrock pointed at the fake server."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.fakes.bedrock_server import bedrock_server  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "streamlit_app.py")
RUN_TIMEOUT = 90  # a real agent run (kernel start, pandas import) on a busy 2-core machine


def new_app(page: str | None = None, *, prepare=None, timeout: float = 30) -> AppTest:
    """The whole app (entry script), optionally switched to a page, after its first run.
    ``prepare(at)`` sets secrets, user or query parameters before that first run."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    if prepare is not None:
        prepare(at)
    at.run()
    assert not at.exception, at.exception
    if page:
        at.switch_page(page)
        at.run()
        assert not at.exception, at.exception
    return at


def expander_labels(at: AppTest) -> list[str]:
    return [e.label for e in at.expander]


def expander(at: AppTest, title: str):
    """The first expander whose label ends with ``title`` (e.g. 'Generated code')."""
    for e in at.expander:
        if e.label.endswith(title):
            return e
    raise AssertionError(f"no expander '{title}' in {expander_labels(at)}")


def rendered_text(at: AppTest) -> str:
    """Every element the app drew (protos as text) and every session-state value (to check
    that something, e.g. a secret, is nowhere in the page)."""
    out: list[str] = []

    def walk(node):
        proto = getattr(node, "proto", None)
        if proto is not None:
            out.append(str(proto))
        for child in (getattr(node, "children", None) or {}).values():
            walk(child)

    walk(at._tree)
    out.extend(repr(at.session_state[k]) for k in at.session_state)
    return "\n".join(out)


@pytest.fixture
def bedrock_env(bedrock_server, monkeypatch, tmp_path):  # noqa: F811
    """The app's settings point at the fake Bedrock endpoint (dummy credentials, no user
    AWS config, no instance metadata)."""
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AGENT_BACKEND", "bedrock")
    monkeypatch.setenv("BEDROCK_ENDPOINT_URL", bedrock_server.url)
    monkeypatch.setenv("BEDROCK_AGENT_ID", "AGENT123")
    monkeypatch.setenv("BEDROCK_AGENT_ALIAS_ID", "ALIAS123")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    return bedrock_server


@pytest.fixture(scope="session")
def _local_home(tmp_path_factory):
    return tmp_path_factory.mktemp("agent-desk-local")


@pytest.fixture
def local_env(monkeypatch):
    """The local backend (this test's own AGENT_DESK_HOME, so its own kernel pool)."""
    monkeypatch.setenv("AGENT_BACKEND", "local")
    return None


@pytest.fixture
def local_shared(monkeypatch, _local_home):
    """The local backend with one AGENT_DESK_HOME for every test using this fixture: the
    settings are then equal, so the app's cached kernel pool (and its warm kernels) is
    shared. Runs of earlier tests are in that home's run store too."""
    monkeypatch.setenv("AGENT_BACKEND", "local")
    monkeypatch.setenv("AGENT_DESK_HOME", str(_local_home))
    return _local_home
