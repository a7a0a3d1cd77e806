"""SyntheticSpec: free text -> spec, the Bedrock prompt, the generator, and the verifier
(each rule broken on purpose must be caught; the generator's own output must pass)."""
from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from agent_core.synthetic import (
    RuleCheck, SpecError, SyntheticSpec, generate, name_is_readable, parse_amount, plan_code,
    read_tables, spec_from_text, verify,
)

ISSUE_TEXT = (
    "generate two csv files, one called SALES with COMPANY_ID, COMPANY_NAME and SALES_2024, the other "
    "called DETAILS with COMPANY_ID and COMPANY_STATE_CODE; 200 companies sharing IDs of the form "
    "C00001; readable English names; only states near the east or west coast; eastern revenue 0 to "
    "$700,000, western $500,000 to $2,000,000; test every rule and draw box plots of sales per region"
)


def failing(checks: list[RuleCheck]) -> dict[str, RuleCheck]:
    return {c.key: c for c in checks if not c.passed}


# --- free text ----------------------------------------------------------------------------
def test_spec_from_issue_text_reads_every_rule():
    spec = spec_from_text(ISSUE_TEXT)
    assert spec is not None
    assert (spec.n_companies, spec.id_prefix, spec.id_width, spec.id_example) == (200, "C", 5, "C00001")
    assert (spec.sales_file, spec.details_file) == ("SALES", "DETAILS")
    assert (spec.id_column, spec.name_column, spec.sales_column, spec.state_column) == (
        "COMPANY_ID", "COMPANY_NAME", "SALES_2024", "COMPANY_STATE_CODE")
    assert (spec.east_min, spec.east_max, spec.west_min, spec.west_max) == (0, 700_000, 500_000, 2_000_000)
    assert spec.want_box_plot and spec.want_self_test


def test_spec_from_other_wording_reads_numbers_names_and_units():
    text = ("Create synthetic data for 150 companies in two files: one named REVENUE with ID, NAME and "
            "REV_2023, the other named PLACES with ID and STATE. IDs like X0001. East coast revenue "
            "between $1k and 2 million; west coast revenue 3 million to $4,500,000. Seed 7.")
    spec = spec_from_text(text)
    assert spec is not None
    assert spec.n_companies == 150
    assert (spec.id_prefix, spec.id_width, spec.id_example) == ("X", 4, "X0001")
    assert (spec.sales_file, spec.details_file) == ("REVENUE", "PLACES")
    assert (spec.id_column, spec.name_column, spec.sales_column, spec.state_column) == (
        "ID", "NAME", "REV_2023", "STATE")
    assert (spec.east_min, spec.east_max) == (1_000, 2_000_000)
    assert (spec.west_min, spec.west_max) == (3_000_000, 4_500_000)
    assert spec.seed == 7
    assert not spec.want_box_plot


def test_spec_from_text_reads_explicit_state_lists():
    spec = spec_from_text("generate a csv file of 20 companies with sales; east states: NY, NJ and MA; "
                          "west states: CA, WA")
    assert spec.east_states == ("NY", "NJ", "MA") and spec.west_states == ("CA", "WA")


@pytest.mark.parametrize("text", ["chart with a 20-day moving average", "hello", "",
                                  "summary statistics of the states column"])
def test_other_requests_are_not_synthetic(text):
    assert spec_from_text(text) is None


@pytest.mark.parametrize("text,value", [("$700,000", 700_000), ("2 million", 2_000_000),
                                        ("1.5m", 1_500_000), ("$250k", 250_000), ("0", 0)])
def test_parse_amount(text, value):
    assert parse_amount(text) == value


# --- prompt and plan ----------------------------------------------------------------------
def test_prompt_asks_for_every_rule_the_test_and_the_box_plot():
    spec = SyntheticSpec()
    prompt = spec.to_prompt()
    for part in ("200 companies", "SALES.csv", "DETAILS.csv", "COMPANY_ID", "COMPANY_NAME", "SALES_2024",
                 "COMPANY_STATE_CODE", "C00001", "$700,000", "$500,000", "$2,000,000", "NY", "CA",
                 "test that every rule holds", "box plot", "readable"):
        assert part in prompt, part
    assert "box plot" not in dataclasses.replace(spec, want_box_plot=False).to_prompt()


@pytest.mark.parametrize("spec", [
    SyntheticSpec(),
    SyntheticSpec(n_companies=37, id_prefix="XY", id_width=6, sales_file="REV", details_file="LOC",
                  id_column="CID", name_column="cname", sales_column="REV_2023", state_column="ST",
                  east_states=("NY", "NJ"), west_states=("CA",), east_min=1_000, east_max=5_000,
                  west_min=6_000, west_max=2_500_000, seed=9, want_self_test=False, box_plot_file="box.png"),
    SyntheticSpec(id_prefix="", id_width=4, n_companies=500, box_plot_file="plot-1.svg",
                  east_states=("FL",), west_states=("OR", "WA"), want_self_test=False),
])
def test_prompt_round_trips_to_the_same_spec(spec):
    # the synthetic page sends spec.to_prompt() to whichever backend; the local agent must
    # rebuild exactly the spec of the form (and so run the plan the page showed)
    assert spec_from_text(spec.to_prompt()) == spec
    assert plan_code(spec_from_text(spec.to_prompt())) == plan_code(spec)


def test_plan_code_is_self_contained():
    code = plan_code(SyntheticSpec(n_companies=30))
    assert "agent_core" not in code
    compile(code, "<plan>", "exec")
    assert "SALES.csv" in code and "sales_by_region.png" in code and "PASS" in code


@pytest.mark.parametrize("change,words", [
    (dict(n_companies=200, id_width=2), "do not fit"),
    (dict(east_min=10, east_max=5), "not a valid range"),
    (dict(east_states=("NY", "ZZ")), "not US state codes"),
    (dict(west_states=("NY",)), "both regions"),
    (dict(details_file="SALES"), "different names"),
])
def test_contradictory_specs_are_refused_with_reasons(change, words):
    with pytest.raises(SpecError, match=words):
        dataclasses.replace(SyntheticSpec(), **change).validate()


# --- generator output passes -----------------------------------------------------------------
@pytest.mark.parametrize("seed,n", [(1, 10), (7, 200), (42, 1000), (3, 2)])
def test_generated_tables_pass_every_rule(seed, n):
    spec = SyntheticSpec(seed=seed, n_companies=n)
    sales, details = generate(spec)
    checks = verify(spec, sales, details)
    assert not failing(checks), failing(checks)
    assert {c.key for c in checks} >= {
        "sales_columns", "details_columns", "sales_rows", "details_rows", "id_pattern", "id_unique",
        "same_ids", "names_readable", "names_unique", "states_valid", "sales_numeric", "sales_range",
        "no_missing"}


def test_generate_is_reproducible_and_seed_dependent():
    a = generate(SyntheticSpec(seed=5, n_companies=50))
    b = generate(SyntheticSpec(seed=5, n_companies=50))
    c = generate(SyntheticSpec(seed=6, n_companies=50))
    pd.testing.assert_frame_equal(a[0], b[0])
    assert not a[0].equals(c[0])


def test_custom_spec_generates_and_passes_through_csv_round_trip():
    spec = SyntheticSpec(n_companies=60, id_prefix="X", id_width=4, east_min=1_000, east_max=2_000,
                         west_min=3_000_000, west_max=4_000_000, seed=9)
    sales, details = generate(spec)
    assert sales["COMPANY_ID"].iloc[0] == "X0001"
    again = read_tables(sales.to_csv(index=False).encode(), details.to_csv(index=False).encode())
    assert not failing(verify(spec, *again))


# --- verify catches each broken rule ------------------------------------------------------------
SPEC = SyntheticSpec(n_companies=40, seed=11)


@pytest.fixture(scope="module")
def good():
    return generate(SPEC)


def _break(good, rule):
    sales, details = good[0].copy(), good[1].copy()
    sales["COMPANY_ID"] = sales["COMPANY_ID"].astype(object)
    sales["COMPANY_NAME"] = sales["COMPANY_NAME"].astype(object)
    sales["SALES_2024"] = sales["SALES_2024"].astype(object)
    details["COMPANY_STATE_CODE"] = details["COMPANY_STATE_CODE"].astype(object)
    region = details["COMPANY_STATE_CODE"].map(SPEC.region_of)
    east_row = int(region[region == "east"].index[0])
    if rule == "sales_columns":
        sales = sales.drop(columns="SALES_2024")
    elif rule == "details_columns":
        details = details.rename(columns={"COMPANY_STATE_CODE": "STATE"})
    elif rule == "sales_rows":
        sales = sales.iloc[:-1]
    elif rule == "details_rows":
        details = pd.concat([details, details.iloc[[0]]])
    elif rule == "id_pattern":
        sales.loc[3, "COMPANY_ID"] = details.loc[3, "COMPANY_ID"] = "C4"
    elif rule == "id_unique":
        sales.loc[1, "COMPANY_ID"] = sales.loc[0, "COMPANY_ID"]
    elif rule == "same_ids":
        details.loc[5, "COMPANY_ID"] = "C99999"
    elif rule == "names_readable":
        sales.loc[2, "COMPANY_NAME"] = "Xqzvbk Plmrtsh"
    elif rule == "names_unique":
        sales.loc[4, "COMPANY_NAME"] = sales.loc[3, "COMPANY_NAME"].upper()
    elif rule == "states_valid":
        details.loc[6, "COMPANY_STATE_CODE"] = "TX"
    elif rule == "sales_numeric":
        sales.loc[7, "SALES_2024"] = "lots"
    elif rule == "sales_range":
        sales.loc[east_row, "SALES_2024"] = 900_000  # above the east maximum of 700,000
    elif rule == "both_regions":
        details["COMPANY_STATE_CODE"] = "NY"
        sales["SALES_2024"] = 100
    elif rule == "no_missing":
        sales.loc[8, "COMPANY_NAME"] = None
    return sales, details


RULES = ["sales_columns", "details_columns", "sales_rows", "details_rows", "id_pattern", "id_unique",
         "same_ids", "names_readable", "names_unique", "states_valid", "sales_numeric", "sales_range",
         "both_regions", "no_missing"]


@pytest.mark.parametrize("rule", RULES)
def test_verify_catches_each_broken_rule(good, rule):
    checks = verify(SPEC, *_break(good, rule))
    bad = failing(checks)
    assert rule in bad, f"{rule} not caught: {checks}"
    assert bad[rule].detail  # says what is wrong


def test_verify_detail_names_the_offending_values(good):
    bad = failing(verify(SPEC, *_break(good, "states_valid")))
    assert "TX" in bad["states_valid"].detail
    bad = failing(verify(SPEC, *_break(good, "sales_range")))
    assert "C000" in bad["sales_range"].detail


@pytest.mark.parametrize("sales,details", [
    ("garbage", None), (pd.DataFrame(), pd.DataFrame()), (pd.DataFrame({"x": [1, 2]}), [1, 2, 3]),
    (pd.DataFrame({"COMPANY_ID": [None, 3.5]}), pd.DataFrame({"COMPANY_STATE_CODE": [1, None]})),
])
def test_verify_never_crashes_on_garbage(sales, details):
    checks = verify(SPEC, sales, details)
    assert checks and all(isinstance(c, RuleCheck) for c in checks)
    assert not all(c.passed for c in checks)
    assert "missing" in failing(checks)["sales_columns"].detail


@pytest.mark.parametrize("name,ok", [
    ("Carroll Inc", True), ("Wilson-Hodges", True), ("Griffin, Griffith and Perez", True),
    ("Knight LLC", True), ("Armstrong PLC", True), ("Ayala Ltd", True),
    ("Xqzvbk Plmrt", False), ("Company 12", False), ("", False), (None, False), ("qwxzjk", False),
])
def test_name_readability(name, ok):
    assert name_is_readable(name) is ok
