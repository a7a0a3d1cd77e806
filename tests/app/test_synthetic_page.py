"""Synthetic data page through AppTest: form -> prompt -> fake Bedrock -> tables + rule check."""
from __future__ import annotations

import pytest

from agent_core.synthetic import SyntheticSpec, generate
from tests.app.conftest import RUN_TIMEOUT, expander_labels, new_app
from tests.fakes.bedrock_server import chunk, code_input, code_output, files, make_png, rationale


def synthetic_script(spec: SyntheticSpec, *, break_rule: bool = False):
    sales, details = generate(spec)
    if break_rule:  # a west-coast revenue far outside its range
        west = details[spec.state_column].isin(spec.west_states)
        first_west = details.loc[west, spec.id_column].iloc[0]
        sales.loc[sales[spec.id_column] == first_west, spec.sales_column] = 1
    return [
        rationale("I will generate both tables with Faker and pandas.", "t-1"),
        code_input("make_company_tables(...)", "t-1"),
        code_output("t-1", output="PASS every rule",
                    files=[spec.sales_csv, spec.details_csv, spec.box_plot_file]),
        files((spec.sales_csv, "text/csv", sales.to_csv(index=False).encode()),
              (spec.details_csv, "text/csv", details.to_csv(index=False).encode()),
              (spec.box_plot_file, "image/png", make_png())),
        chunk("Both files and the box plot are attached."),
    ]


def check_table(at):
    """The rule-check table (Rule / Result / Details)."""
    return next(d.value for d in at.dataframe if list(d.value.columns) == ["Rule", "Result", "Details"])


def fill_form(at, *, n: int, prefix: str, width: int):
    at.number_input(key="syn_n").set_value(n)
    at.text_input(key="syn_prefix").set_value(prefix)
    at.number_input(key="syn_width").set_value(width)
    return at


@pytest.mark.timeout(120)
def test_bedrock_form_prompt_tables_box_plot_and_every_rule_passing(bedrock_env):
    spec = SyntheticSpec(n_companies=30, id_prefix="CO", id_width=4)
    bedrock_env.script = synthetic_script(spec)
    at = fill_form(new_app("app_pages/synthetic_data.py"), n=30, prefix="CO", width=4)
    at.get("form_submit_button")[0].click().run()
    assert not at.exception, at.exception
    at.text_area(key="synthetic_prompt").set_value("an edit that a new spec replaces").run()
    at.number_input(key="syn_n").set_value(31)
    at.get("form_submit_button")[0].click().run()
    assert "31 companies" in at.text_area(key="synthetic_prompt").value
    at.number_input(key="syn_n").set_value(30)
    at.get("form_submit_button")[0].click().run()
    prompt = at.text_area(key="synthetic_prompt").value
    assert "30 companies" in prompt and "CO0001" in prompt
    at.text_area(key="synthetic_prompt").set_value(prompt + "\nKeep it short.")
    at.button(key="synthetic_send").click().run(timeout=RUN_TIMEOUT)
    assert not at.exception, at.exception
    # the edited prompt is what went to Bedrock
    sent = [r for r in bedrock_env.requests if not r.body.get("endSession")]
    assert sent[0].body["inputText"].endswith("Keep it short.")
    assert [s.value for s in at.subheader][:2] == ["SALES.csv", "DETAILS.csv"]
    sales = at.dataframe[0].value
    assert len(sales) == 30 and list(sales.columns) == ["COMPANY_ID", "COMPANY_NAME", "SALES_2024"]
    assert len(at.dataframe[1].value) == 30
    assert len(at.image) == 1
    checks = check_table(at)
    assert len(checks) >= 10 and set(checks["Result"]) == {"PASS"}
    assert at.success[0].value.startswith("All ") and at.success[0].value.endswith("rules pass.")
    assert "Step 1 · Generated code" in expander_labels(at)
    # a rerun keeps everything
    at.run()
    assert len(at.dataframe) == 3 and len(at.image) == 1


@pytest.mark.timeout(120)
def test_a_broken_rule_is_reported_with_details(bedrock_env):
    spec = SyntheticSpec(n_companies=25)
    bedrock_env.script = synthetic_script(spec, break_rule=True)
    at = new_app("app_pages/synthetic_data.py")
    at.number_input(key="syn_n").set_value(25)
    at.get("form_submit_button")[0].click().run()
    at.button(key="synthetic_send").click().run(timeout=RUN_TIMEOUT)
    assert not at.exception
    checks = check_table(at)
    failed = checks[checks["Result"] == "FAIL"]
    assert len(failed) == 1 and "range" in failed.iloc[0]["Rule"]
    assert "1 of" in at.error[0].value


def test_contradictory_rules_are_refused_with_advice(bedrock_env):
    at = new_app("app_pages/synthetic_data.py")
    at.number_input(key="syn_n").set_value(5000)
    at.number_input(key="syn_width").set_value(3)  # 5000 companies do not fit 3 digits
    at.get("form_submit_button")[0].click().run()
    assert not at.exception
    assert "digits" in at.error[0].value and "Generate again" in at.error[0].value
    assert not at.text_area
    assert not [r for r in bedrock_env.requests if not r.body.get("endSession")]


@pytest.mark.timeout(180)
def test_local_plan_runs_on_generate_and_every_rule_passes(local_shared):
    at = new_app("app_pages/synthetic_data.py")
    at.number_input(key="syn_n").set_value(30)
    at.get("form_submit_button")[0].click().run(timeout=RUN_TIMEOUT)
    assert not at.exception, at.exception
    assert not at.text_area  # no prompt to edit: the local agent runs its plan at once
    assert [s.value for s in at.subheader][:2] == ["SALES.csv", "DETAILS.csv"]
    assert len(at.dataframe[0].value) == 30 and len(at.dataframe[1].value) == 30
    assert len(at.image) == 1 and at.get("plotly_chart")
    checks = check_table(at)
    assert set(checks["Result"]) == {"PASS"}, checks[checks["Result"] != "PASS"]
