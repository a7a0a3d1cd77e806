"""The app with AGENT_BACKEND=converse through AppTest, on both code executors.

One fake server on 127.0.0.1 (module-scoped) serves ``ConverseStream`` (a scripted "analyst"
model, real event-stream frames) and the AgentCore Code Interpreter (real kernels); the app
reaches both through ``BEDROCK_ENDPOINT_URL`` with dummy credentials, over unmodified boto3.
With ``CODE_EXECUTOR=local`` the code runs in the app's own Jupyter kernel pool."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from agent_core.synthetic import SyntheticSpec
from tests.app.conftest import RUN_TIMEOUT, expander, expander_labels, new_app
from tests.fakes.agentcore_server import FakeAgentCore
from tests.fakes.converse_server import FakeConverse, FakeServer, scenario_model

MODEL_ID = "us.anthropic.claude-fake-converse-v1:0"
SEED = ("Given the attached price data file, please make me a chart with moving average "
        "in red and actual data in blue")
# distinctive dummy credentials, so "never shown" can be checked by searching for them
ACCESS_KEY = "AKIAFAKECONVERSE0042"
SECRET_KEY = "fakeConverseSecret/Key+0042"
SESSION_TOKEN = "FakeConverseSessionToken0042"
EXECUTORS = ("local", "agentcore")


class SwitchableModel:
    """The fake model; a test picks its scenario (``chart`` or ``throttle``) by name."""

    def __init__(self) -> None:
        self.models = {name: scenario_model(name) for name in ("chart", "throttle")}
        self.name = "chart"

    def __call__(self, body):
        return self.models[self.name](body)


@pytest.fixture(scope="module")
def fakes():
    server = FakeServer().start()
    model = SwitchableModel()
    converse = FakeConverse(model, server=server)
    agentcore = FakeAgentCore(server=server)
    yield SimpleNamespace(url=server.endpoint_url, model=model, converse=converse, agentcore=agentcore)
    agentcore.close()
    server.stop()


@pytest.fixture(scope="module")
def _home(tmp_path_factory):
    # one home for the module: equal settings, so the app's cached backend and kernel pool
    # (and their warm kernels) are shared by the tests of an executor
    return tmp_path_factory.mktemp("agent-desk-converse")


@pytest.fixture(params=EXECUTORS)
def converse_env(request, fakes, _home, monkeypatch, tmp_path):
    fakes.model.name = "chart"
    monkeypatch.setenv("AGENT_DESK_HOME", str(_home))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AGENT_BACKEND", "converse")
    monkeypatch.setenv("BEDROCK_MODEL_ID", MODEL_ID)
    monkeypatch.setenv("CODE_EXECUTOR", request.param)
    monkeypatch.setenv("BEDROCK_ENDPOINT_URL", fakes.url)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
                "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE"):
        monkeypatch.delenv(var, raising=False)
    return SimpleNamespace(executor=request.param, **vars(fakes))


def ask(at, text: str):
    at.chat_input[0].set_value(text).run(timeout=RUN_TIMEOUT)
    assert not at.exception, at.exception
    return at


def rendered_text(at) -> str:
    """Every element the app drew (protos as text) and every session-state value."""
    out: list[str] = []

    def walk(node):
        proto = getattr(node, "proto", None)
        if proto is not None:
            out.append(str(proto))
        children = getattr(node, "children", None) or {}
        for child in children.values():
            walk(child)

    walk(at._tree)
    out.extend(repr(at.session_state[k]) for k in at.session_state)
    return "\n".join(out)


@pytest.mark.timeout(180)
def test_seed_chart_request_lands_in_the_usual_expanders(converse_env):
    fakes = converse_env
    asked_before = len(fakes.converse.requests)
    runs_before = len(fakes.agentcore.calls("executeCode"))
    at = new_app("app_pages/analysis.py")

    # the sidebar: this backend, its model id and executor; never a credential
    sidebar = [m.value for m in at.sidebar.markdown] + [c.value for c in at.sidebar.caption]
    assert "**Backend:** Amazon Bedrock Converse + code executor" in sidebar
    settings_caption = next(c for c in sidebar if "Model: " in c)
    assert f"Model: `{MODEL_ID}`" in settings_caption
    assert f"Code runs in: `{fakes.executor}`" in settings_caption
    # the local kernel's isolation is shown only when the code runs on this machine
    assert any("Interpreter isolation" in c for c in sidebar) == (fakes.executor == "local")

    at.button(key="analysis_sample").click().run()
    at = ask(at, SEED)
    assert not at.error, [e.value for e in at.error]

    labels = expander_labels(at)
    for title in ("Rationale", "Generated code", "Code output", "Files generated"):
        assert f"Step 1 · {title}" in labels, labels
    assert "I will load sample_prices.csv and plot the price" in expander(at, "Rationale").markdown[0].value
    code = expander(at, "Generated code").code[0]
    assert code.language == "python"
    assert "pd.read_csv('sample_prices.csv')" in code.value and ".rolling(20)" in code.value
    assert 'color="red"' in code.value and 'color="blue"' in code.value
    assert "rows=" in expander(at, "Code output").code[0].value
    files_text = " ".join(m.value for m in expander(at, "Files generated").markdown) + " ".join(
        c.value for c in expander(at, "Files generated").code)
    assert "moving_average.png" in files_text and "moving_average.csv" in files_text

    # the returned PNG is drawn as an image, the CSV as a table; both downloadable
    assert len(at.image) >= 1
    assert any(list(d.value.columns)[-1] == "moving_average" for d in at.dataframe), \
        [list(d.value.columns) for d in at.dataframe]
    downloads = [b.label for b in at.download_button]
    assert any(n.startswith("Download moving_average.png") for n in downloads), downloads
    assert any(n.startswith("Download moving_average.csv") for n in downloads), downloads
    assert at.status[0].label.startswith("Completed: ")
    answer = at.session_state["chat"][0].result.text
    assert answer.startswith("Done. I wrote ") and "rows=" in answer
    assert "moving_average.png" in answer and "moving_average.csv" in answer
    assert answer in [m.value for m in at.markdown]

    # the loop went through the chosen executor, with the attachment described to the model
    asked = fakes.converse.requests[asked_before:]
    assert len(asked) == 2 and all(r["model_id"] == MODEL_ID for r in asked)
    assert "`sample_prices.csv`" in asked[0]["body"]["system"][0]["text"]
    result = next(b["toolResult"] for b in asked[1]["body"]["messages"][-1]["content"] if "toolResult" in b)
    assert result["status"] == "success" and any("image" in b for b in result["content"])
    ran_remotely = len(fakes.agentcore.calls("executeCode")) - runs_before
    assert ran_remotely == (1 if fakes.executor == "agentcore" else 0)

    # nothing is lost on a rerun; no credential anywhere in what the app drew or keeps
    at.run()
    assert expander(at, "Generated code").code[0].value == code.value
    assert len(at.image) >= 1
    text = rendered_text(at)
    for secret in (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN):
        assert secret not in text


@pytest.mark.timeout(180)
@pytest.mark.parametrize("converse_env", ["local"], indirect=True)
def test_throttling_shows_the_failure_with_a_retry_that_recovers(converse_env):
    fakes = converse_env
    fakes.model.name = "throttle"
    at = new_app("app_pages/analysis.py")
    at.button(key="analysis_sample").click().run()
    at = ask(at, SEED)
    assert at.error, "the failure must show"
    message = at.error[0].value
    assert "throttling" in message.lower() and MODEL_ID in message and "retry" in message.lower()
    assert at.status[0].label.startswith("Failed after")
    assert "Looking at the data" in rendered_text(at)  # what arrived before the failure stays

    fakes.model.name = "chart"
    next(b for b in at.button if b.label == "Retry").click().run(timeout=RUN_TIMEOUT)
    assert not at.exception, at.exception
    chat = at.session_state["chat"]
    assert [t.prompt for t in chat] == [SEED, SEED]
    assert chat[0].result.failure.kind == "throttling" and chat[1].result.failure is None
    assert {f.name for f in chat[1].result.files} == {"moving_average.png", "moving_average.csv"}
    assert len(at.image) >= 1


def check_table(at):
    return next(d.value for d in at.dataframe if list(d.value.columns) == ["Rule", "Result", "Details"])


@pytest.mark.timeout(180)
def test_synthetic_request_gives_both_tables_and_every_rule_passes(converse_env):
    fakes = converse_env
    spec = SyntheticSpec()
    asked_before = len(fakes.converse.requests)
    at = new_app("app_pages/synthetic_data.py")
    at.get("form_submit_button")[0].click().run()
    assert not at.exception, at.exception
    prompt = at.text_area(key="synthetic_prompt").value
    assert prompt == spec.to_prompt()  # the seed synthetic request, editable before sending
    at.button(key="synthetic_send").click().run(timeout=RUN_TIMEOUT)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]

    assert fakes.converse.requests[asked_before]["body"]["messages"][0]["content"][0]["text"] == prompt
    assert "Step 1 · Generated code" in expander_labels(at)
    assert [s.value for s in at.subheader][:2] == [spec.sales_csv, spec.details_csv]
    sales, details = at.dataframe[0].value, at.dataframe[1].value
    assert len(sales) == spec.n_companies and len(details) == spec.n_companies
    assert spec.sales_column in sales.columns and spec.state_column in details.columns
    assert len(at.image) == 1 and at.get("plotly_chart")  # the box plot, PNG and interactive
    checks = check_table(at)
    assert len(checks) >= 10 and set(checks["Result"]) == {"PASS"}, checks[checks["Result"] != "PASS"]
    assert at.success[0].value == f"All {len(checks)} rules pass."
