"""Every program the product generates parses and passes ruff: the local agent's recipes (each
kind, on each table layout, strict and lenient), the synthetic-data plan, and the code cells of
an exported notebook. A template with a typo (an unbalanced bracket, a name used but never
defined, a bad escape) fails here, not in a user's kernel."""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from agent_core.events import CodeInvocation, CodeOutput, TextChunk
from agent_core.export import run_to_notebook
from agent_core.files import AttachedFile
from agent_core.planner import plan_request
from agent_core.planner.recipes import Plan
from agent_core.store import RunStore
from agent_core.synthetic import SyntheticSpec, plan_code
from tests.conftest import require_module

# syntax errors, undefined names, bad comparisons, invalid escapes: what breaks a program
RUFF_RULES = "E9,F63,F7,F82,W605"


def _ruff() -> list[str]:
    # ruff is a dev dependency of this venv: missing locally, the test skips with the reason;
    # in CI it fails (require_module), so a broken install can never hide behind a skip
    require_module("ruff", "ruff", "lints the generated programs")
    return [sys.executable, "-m", "ruff"]


def check_program(code: str, name: str) -> None:
    ast.parse(code, filename=name)  # raises SyntaxError with the line
    proc = subprocess.run([*_ruff(), "check", "--isolated", "--select", RUFF_RULES, "--no-cache",
                           "--stdin-filename", f"{name}.py", "-"], input=code, text=True,
                          capture_output=True, env={**os.environ, "NO_COLOR": "1"}, timeout=60)
    assert proc.returncode == 0, f"{name}:\n{proc.stdout}{proc.stderr}\n--- code ---\n{code}"


def _tables() -> dict[str, bytes]:
    d = pd.bdate_range("2021-01-04", periods=60)
    rng = np.random.default_rng(7)
    a = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 60)))
    b = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 60)))
    iso = d.strftime("%Y-%m-%d")

    def csv(df: pd.DataFrame, **kw) -> bytes:
        return df.to_csv(index=kw.pop("index", False), **kw).encode()

    return {
        "long.csv": csv(pd.concat([pd.DataFrame({"symbol": t, "date": iso, "price": v})
                                   for t, v in (("AAPL", a), ("MSFT", b))])),
        "wide.csv": csv(pd.DataFrame({"Date": iso, "AAPL": a, "MSFT": b})),
        "ohlcv.csv": csv(pd.DataFrame({"Date": iso, "Open": a, "High": a * 1.01, "Low": a * 0.99,
                                       "Close": a, "Volume": np.arange(60) + 1000})),
        "text_dates.csv": csv(pd.DataFrame({"date": d.strftime("%b %-d %Y"), "price": ["$" + f"{x:.2f}"
                                                                                       for x in a]})),
        "indexed.csv": csv(pd.DataFrame({"AAPL": a, "MSFT": b}, index=d), index=True),
        "semicolon.csv": csv(pd.DataFrame({"date": iso, "close": a}), sep=";", decimal=","),
    }


TABLES = _tables()
PROMPTS = {
    "price_chart": "plot the prices",
    "moving_average": "chart the 20 and 50 day moving averages in red and green, price in black",
    "candlestick": "candlestick chart with volume",
    "returns": "histogram of weekly returns and a summary table",
    "volatility": "30-day rolling volatility as svg",
    "drawdown": "max drawdown chart",
    "normalised": "compare the tickers normalised to 100",
    "correlation": "correlation matrix of monthly returns",
    "resample": "resample to monthly prices as CSV",
    "summary": "summary statistics for the last 2 months",
    "question_volatility": "which ticker had the highest volatility since 2020?",
    "question_day": "what was the worst day?",
    "question_value": "what was the price on 2021-03-05?",
    "question_drawdown": "what was the biggest drawdown?",
}


def _plans():
    for kind, prompt in PROMPTS.items():
        for name, data in TABLES.items():
            plan = plan_request(prompt, (AttachedFile.from_bytes(name, data),))
            if isinstance(plan, Plan):
                yield pytest.param(plan, id=f"{kind}-{name}")


PLANS = list(_plans())


def test_every_recipe_kind_is_generated():
    """The table below is not empty by accident: each kind produced code on some layout."""
    kinds = {p.id.split("-")[0] for p in PLANS}
    assert kinds == set(PROMPTS), set(PROMPTS) - kinds


@pytest.mark.parametrize("plan", PLANS)
def test_recipe_programs_parse_and_pass_ruff(plan):
    check_program(plan.code, plan.title.replace(" ", "_"))
    assert plan.fallback is not None
    check_program(plan.fallback.code, plan.title.replace(" ", "_") + "_lenient")


@pytest.mark.parametrize("spec", [
    SyntheticSpec(),
    SyntheticSpec(n_companies=5, id_prefix="CO", id_width=3, want_box_plot=False, want_self_test=True),
    SyntheticSpec(want_box_plot=True, want_self_test=False, sales_column="REVENUE_USD",
                  box_plot_file="box.svg"),
], ids=["default", "no-box-plot", "no-self-test"])
def test_synthetic_plan_parses_and_passes_ruff(spec):
    code = plan_code(spec.validate())
    check_program(code, "synthetic_plan")
    assert ("ax.boxplot" in code) == spec.want_box_plot
    assert ("checks = {" in code) == spec.want_self_test


@pytest.mark.parametrize("embed_limit, how", [(10**9, "base64.b64decode"), (10, "shutil.copyfile")],
                         ids=["embedded", "copied-from-store"])
def test_exported_notebook_code_cells_parse_and_pass_ruff(tmp_path, monkeypatch, embed_limit, how):
    monkeypatch.setattr("agent_core.export.EMBED_LIMIT_BYTES", embed_limit)
    store = RunStore(tmp_path)
    data = b"date,price\n2021-01-04,1.0\n"
    attached = (AttachedFile.from_bytes("prices.csv", data, media_type="text/csv"),)
    with store.recording("s-nb", "chart it", "local", None, attached) as rec:
        rec.add(CodeInvocation(code="import pandas as pd\nprint(pd.read_csv('prices.csv').shape)"))
        rec.add(CodeOutput(text="(1, 2)"))
        rec.add(TextChunk(text="Done."))
    nb = nbformat.reads(nbformat.writes(run_to_notebook(store, rec.run_id)), as_version=4)
    code_cells = [c.source for c in nb.cells if c.cell_type == "code"]
    assert len(code_cells) == 2 and "_attached = {" in code_cells[0] and how in code_cells[0]
    for i, source in enumerate(code_cells):
        check_program(source, f"notebook_cell_{i}")
