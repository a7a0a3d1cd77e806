"""The app with AGENT_BACKEND=openai through AppTest: the three jobs of the original
walkthrough (books CSV, seed chart, synthetic data) on the local kernel executor, against the
fake Chat Completions server (unmodified ``openai`` client, real server-sent events), which
wants an API key. The key must never be shown, logged, stored or exported."""
from __future__ import annotations

import io
import logging
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from agent_core.synthetic import SyntheticSpec
from tests.app.conftest import RUN_TIMEOUT, expander, expander_labels, new_app, rendered_text
from tests.fakes.openai_server import BOOKS_REQUEST as BOOKS
from tests.fakes.openai_server import SEED_REQUEST as SEED
from tests.fakes.openai_server import FakeChat, scenario_model

MODEL = "analyst-7b"
KEY = "sk-agentdesk-APPKEY-7c6b5a4d3e2f1100"


@pytest.fixture(scope="module")
def fake():
    server = FakeChat(scenario_model("chart"), key=KEY, models=(MODEL,)).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def _home(tmp_path_factory):
    return tmp_path_factory.mktemp("agent-desk-openai")


@pytest.fixture
def openai_env(fake, _home, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)  # every log record of the run, the openai client's too
    monkeypatch.setenv("AGENT_DESK_HOME", str(_home))
    monkeypatch.setenv("AGENT_BACKEND", "openai")
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    monkeypatch.setenv("OPENAI_MODEL", MODEL)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("CODE_EXECUTOR", "local")
    for var in ("OPENAI_API_VERSION", "OPENAI_VISION", "OPENAI_TOOLS"):
        monkeypatch.delenv(var, raising=False)
    return SimpleNamespace(fake=fake, home=_home, caplog=caplog)


def ask(at, text: str):
    at.chat_input[0].set_value(text).run(timeout=RUN_TIMEOUT)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def assert_no_key_anywhere(env, at) -> None:
    assert KEY not in rendered_text(at)
    # the openai client's own debug records were captured, and none holds the key
    assert any(r.name.startswith("openai") for r in env.caplog.records)
    assert KEY not in env.caplog.text
    for path in Path(env.home).rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


@pytest.mark.timeout(180)
def test_seed_chart_request_lands_in_the_usual_expanders(openai_env):
    fake = openai_env.fake
    asked = len(fake.requests)
    at = new_app("app_pages/analysis.py")
    sidebar = [m.value for m in at.sidebar.markdown] + [c.value for c in at.sidebar.caption]
    assert "**Backend:** OpenAI-compatible model server + code executor" in sidebar
    caption = next(c for c in sidebar if "Model: " in c)
    assert f"Server: `{fake.server.endpoint_url}`" in caption and f"Model: `{MODEL}`" in caption
    assert "/v1" not in caption  # the host, not the full URL

    at.button(key="analysis_sample").click().run()
    at = ask(at, SEED)
    labels = expander_labels(at)
    for title in ("Rationale", "Generated code", "Code output", "Files generated"):
        assert f"Step 1 · {title}" in labels, labels
    code = expander(at, "Generated code").code[0].value
    assert "pd.read_csv('sample_prices.csv')" in code and 'color="red"' in code
    assert len(at.image) >= 1
    downloads = [b.label for b in at.download_button]
    assert any(n.startswith("Download moving_average.png") for n in downloads), downloads
    assert any(n.startswith("Download moving_average.csv") for n in downloads), downloads
    assert at.status[0].label.startswith("Completed: ")
    answer = at.session_state["chat"][0].result.text
    assert answer.startswith("Done. I wrote moving_average.png, moving_average.csv")
    new = fake.requests[asked:]
    assert len(new) == 2 and all(r["key_sent"] for r in new)
    assert "`sample_prices.csv`" in new[0]["body"]["messages"][0]["content"]
    assert_no_key_anywhere(openai_env, at)


@pytest.mark.timeout(180)
def test_books_request_returns_a_csv_with_ten_rows(openai_env):
    at = new_app("app_pages/analysis.py")
    at = ask(at, BOOKS)
    result = at.session_state["chat"][0].result
    assert result.failure is None
    csv = next(f for f in result.files if f.name == "greatest_books.csv")
    import pandas as pd

    books = pd.read_csv(io.BytesIO(csv.data))
    assert len(books) == 10 and books["title"].is_unique
    assert any(len(d.value) == 10 and "title" in d.value.columns for d in at.dataframe)
    assert any(b.label.startswith("Download greatest_books.csv") for b in at.download_button)
    assert_no_key_anywhere(openai_env, at)


@pytest.mark.timeout(180)
def test_synthetic_request_gives_both_tables_and_every_rule_passes(openai_env):
    spec = SyntheticSpec()
    at = new_app("app_pages/synthetic_data.py")
    at.get("form_submit_button")[0].click().run()
    at.button(key="synthetic_send").click().run(timeout=RUN_TIMEOUT)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert "Step 1 · Generated code" in expander_labels(at)
    sales, details = at.dataframe[0].value, at.dataframe[1].value
    assert len(sales) == len(details) == spec.n_companies
    checks = next(d.value for d in at.dataframe if list(d.value.columns) == ["Rule", "Result", "Details"])
    assert len(checks) >= 10 and set(checks["Result"]) == {"PASS"}
    assert_no_key_anywhere(openai_env, at)


@pytest.mark.timeout(120)
def test_the_store_and_every_export_hold_no_key(openai_env):
    """Runs from the tests above (same home) plus one here: the store's SQLite file and each
    run's notebook and zip export never contain the key."""
    from agent_core.export import notebook_bytes, run_to_notebook, run_to_zip
    from agent_core.store import RunStore

    at = new_app("app_pages/analysis.py")
    ask(at, BOOKS)
    with RunStore(openai_env.home) as store:
        runs = store.list_runs(backend="openai")
        assert runs, "the app recorded the runs"
        for run in runs:
            assert KEY not in repr(run)
            data = run_to_zip(store, run.id)
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                for name in z.namelist():
                    assert KEY.encode() not in z.read(name), name
            assert KEY.encode() not in notebook_bytes(run_to_notebook(store, run.id))
    sqlite = Path(openai_env.home) / "runs.sqlite3"
    assert sqlite.exists() and KEY.encode() not in sqlite.read_bytes()
    assert_no_key_anywhere(openai_env, at)
