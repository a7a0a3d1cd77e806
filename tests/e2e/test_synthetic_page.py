"""Synthetic data page in a real browser: fill the form, send the prompt, see both tables,
the box plot (PNG and interactive) and every rule passing."""
from __future__ import annotations

import pytest

from agent_core.synthetic import SyntheticSpec
from tests.app.test_synthetic_page import synthetic_script
from tests.e2e.conftest import screenshot, wait_for_app
from tests.e2e.test_analysis_page import bedrock_app_env
from tests.fakes.bedrock_server import bedrock_server  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def test_bedrock_form_to_tables_chart_and_rule_check(page, bedrock_server,  # noqa: F811
                                                     streamlit_server_factory):
    from playwright.sync_api import expect

    spec = SyntheticSpec(n_companies=40, id_prefix="CO", id_width=4)
    bedrock_server.script = synthetic_script(spec)
    server = streamlit_server_factory(bedrock_app_env(bedrock_server.url))
    page.goto(f"{server.url}/synthetic_data")
    wait_for_app(page, expect_run=False)
    expect(page.get_by_role("heading", name="Synthetic data")).to_be_visible()
    page.get_by_role("spinbutton", name="Number of companies").fill("40")
    page.get_by_role("textbox", name="ID prefix").fill("CO")
    page.get_by_role("spinbutton", name="ID digits").fill("4")
    screenshot(page, "synthetic-form")
    page.get_by_role("button", name="Generate").click()
    wait_for_app(page)
    prompt = page.get_by_role("textbox", name="Edit the prompt if you like, then send it.")
    expect(prompt).to_contain_text("40 companies")
    expect(prompt).to_contain_text("CO0001")
    page.get_by_role("button", name="Send to the agent").click()
    wait_for_app(page)
    expect(page.get_by_role("heading", name="SALES.csv")).to_be_visible()
    expect(page.get_by_role("heading", name="DETAILS.csv")).to_be_visible()
    expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(3)  # 2 tables + checks
    expect(page.locator('[data-testid="stImage"] img').first).to_be_visible()
    box = page.locator('[data-testid="stPlotlyChart"]').first
    expect(box).to_be_visible()
    expect(page.get_by_text("rules pass.")).to_be_visible()
    expect(page.locator('[data-testid="stAlertContentError"]')).to_have_count(0)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    assert "40 companies" in [r for r in bedrock_server.requests if not r.body.get("endSession")][-1].body["inputText"]
    screenshot(page, "synthetic-results")
    page.get_by_role("heading", name="Rule check").scroll_into_view_if_needed()
    screenshot(page, "synthetic-rule-check", full_page=False)
    box.scroll_into_view_if_needed()
    screenshot(page, "synthetic-box-plot", full_page=False)


def test_local_form_runs_the_plan_and_every_rule_passes(page, app_url):
    from playwright.sync_api import expect

    page.goto(f"{app_url}/synthetic_data")
    wait_for_app(page, expect_run=False)
    page.get_by_role("spinbutton", name="Number of companies").fill("60")
    page.get_by_role("button", name="Generate").click()
    wait_for_app(page, timeout=120_000)
    # a cold kernel + Faker can take a while on a busy machine
    expect(page.get_by_role("heading", name="SALES.csv")).to_be_visible(timeout=120_000)
    expect(page.get_by_role("heading", name="DETAILS.csv")).to_be_visible()
    expect(page.get_by_text("60 rows · 3 columns")).to_be_visible()
    expect(page.locator('[data-testid="stImage"] img').first).to_be_visible()
    expect(page.locator('[data-testid="stPlotlyChart"]').first).to_be_visible()
    expect(page.get_by_text("rules pass.")).to_be_visible()
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    screenshot(page, "synthetic-local-results")
    page.get_by_role("heading", name="Revenue by region").scroll_into_view_if_needed()
    screenshot(page, "synthetic-local-chart", full_page=False)
