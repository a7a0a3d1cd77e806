"""The sidebar with CODE_EXECUTOR=gateway: it names the gateway's host (only the host) and
never the token; a real gateway answers the app's warm kernel."""
from __future__ import annotations

import pytest

from tests.app.conftest import new_app, rendered_text
from tests.kernel_gateway import TOKEN


@pytest.mark.timeout(120)
def test_sidebar_says_code_runs_on_the_gateway_host(kernel_gateway, monkeypatch):
    monkeypatch.setenv("CODE_EXECUTOR", "gateway")
    monkeypatch.setenv("KERNEL_GATEWAY_URL", kernel_gateway.url + "/")
    monkeypatch.setenv("KERNEL_GATEWAY_AUTH_TOKEN", TOKEN)
    at = new_app()
    assert "**Backend:** Local agent (Jupyter kernel on a gateway)" in [m.value for m in at.sidebar.markdown]
    captions = [c.value for c in at.sidebar.caption]
    host = kernel_gateway.url.split("//", 1)[1]
    assert f"Code runs on the Jupyter gateway at **{host}**" in captions, captions
    assert not any("Interpreter isolation" in c for c in captions)  # not ours to describe
    assert not any("Sandbox setting" in c for c in captions)  # the local sandbox does not apply
    assert TOKEN not in rendered_text(at)
