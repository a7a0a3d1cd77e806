"""Synthetic companies dataset: the form's rules (``SyntheticSpec``), the prompt for
Bedrock, the local plan's code, an in-process generator, and an independent verifier.

``verify`` checks every rule on any two tables, whichever backend made them, and
never crashes on garbage (a missing column is a failing check with a reason).
"""
from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, replace
from string import Template
from typing import Any

from agent_core.failures import AgentDeskError

EAST_STATES: tuple[str, ...] = (
    "ME", "NH", "MA", "RI", "CT", "NY", "NJ", "DE", "MD", "VA", "NC", "SC", "GA", "FL",
)
WEST_STATES: tuple[str, ...] = ("WA", "OR", "CA")
US_STATES: frozenset[str] = frozenset(
    [
        "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS", "KY",
        "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND",
        "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY", "DC",
    ]
)


class SpecError(AgentDeskError, ValueError):
    """A spec whose rules cannot all hold; the message says which and what to change."""

    kind = "validation"


@dataclass(frozen=True)
class RuleCheck:
    """One rule, whether it holds, and the evidence (counts, first offending values)."""

    rule: str
    passed: bool
    detail: str
    key: str = ""


@dataclass(frozen=True)
class SyntheticSpec:
    n_companies: int = 200
    id_prefix: str = "C"
    id_width: int = 5
    sales_file: str = "SALES"
    details_file: str = "DETAILS"
    id_column: str = "COMPANY_ID"
    name_column: str = "COMPANY_NAME"
    sales_column: str = "SALES_2024"
    state_column: str = "COMPANY_STATE_CODE"
    east_states: tuple[str, ...] = EAST_STATES
    west_states: tuple[str, ...] = WEST_STATES
    east_min: float = 0
    east_max: float = 700_000
    west_min: float = 500_000
    west_max: float = 2_000_000
    seed: int = 42
    want_box_plot: bool = True
    want_self_test: bool = True
    box_plot_file: str = "sales_by_region.png"

    # --- derived -----------------------------------------------------------
    @property
    def id_example(self) -> str:
        return f"{self.id_prefix}{1:0{self.id_width}d}"

    @property
    def id_regex(self) -> str:
        return rf"^{re.escape(self.id_prefix)}\d{{{self.id_width}}}$"

    @property
    def sales_csv(self) -> str:
        return _csv_name(self.sales_file)

    @property
    def details_csv(self) -> str:
        return _csv_name(self.details_file)

    @property
    def box_plot_csv(self) -> str:
        return self.box_plot_file.rsplit(".", 1)[0] + ".csv"

    def region_of(self, state: str) -> str | None:
        if state in self.east_states:
            return "east"
        if state in self.west_states:
            return "west"
        return None

    def validate(self) -> SyntheticSpec:
        """Raise :class:`SpecError` when the rules contradict each other; return self."""
        problems = []
        if not 1 <= self.n_companies <= 100_000:
            problems.append("the number of companies must be between 1 and 100,000")
        if not re.fullmatch(r"[A-Za-z]{0,10}", self.id_prefix or ""):
            problems.append("the ID prefix must be letters only (e.g. C)")
        if not 1 <= self.id_width <= 12:
            problems.append("the ID width must be between 1 and 12 digits")
        elif self.n_companies > 10 ** self.id_width - 1:
            problems.append(f"{self.n_companies} companies do not fit IDs of {self.id_width} digits "
                            f"({self.id_example}); use more digits")
        for label, lo, hi in (("east", self.east_min, self.east_max), ("west", self.west_min, self.west_max)):
            if lo < 0 or hi < lo:
                problems.append(f"the {label} revenue range {lo:,.0f}-{hi:,.0f} is not a valid range")
        if not self.east_states or not self.west_states:
            problems.append("both east and west need at least one state")
        bad = [s for s in self.east_states + self.west_states if s not in US_STATES]
        if bad:
            problems.append(f"not US state codes: {', '.join(bad)}")
        overlap = set(self.east_states) & set(self.west_states)
        if overlap:
            problems.append(f"states in both regions: {', '.join(sorted(overlap))}")
        cols = [self.id_column, self.name_column, self.sales_column, self.state_column]
        if len(set(cols)) != 4 or not all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", c) for c in cols):
            problems.append("column names must be distinct identifiers (letters, digits, _)")
        if _csv_name(self.sales_file).lower() == _csv_name(self.details_file).lower():
            problems.append("the two files need different names")
        if problems:
            raise SpecError("The synthetic data rules cannot all hold: " + "; ".join(problems) + ".")
        return self

    # --- the prompt for Bedrock -------------------------------------------------
    def to_prompt(self) -> str:
        east = ", ".join(self.east_states)
        west = ", ".join(self.west_states)
        lines = [
            f"Generate two CSV files with synthetic data about {self.n_companies} companies.",
            f"1. A file called `{self.sales_csv}` with the columns `{self.id_column}`, "
            f"`{self.name_column}` and `{self.sales_column}`.",
            f"2. A file called `{self.details_csv}` with the columns `{self.id_column}` and "
            f"`{self.state_column}`.",
            f"Both files hold the same {self.n_companies} companies, one row each, sharing unique IDs "
            f"of the form `{self.id_example}` ({self.id_prefix or 'no prefix'} followed by "
            f"{self.id_width} digits).",
            f"{self.name_column} must be a readable, unique English company name (like 'Carroll Inc' "
            "or 'Wilson-Hodges'), never random letters.",
            f"{self.state_column} is a two-letter US state code, only states near the east coast "
            f"({east}) or the west coast ({west}).",
            f"{self.sales_column} is a whole number of dollars: east-coast companies between "
            f"${self.east_min:,.0f} and ${self.east_max:,.0f}, west-coast companies between "
            f"${self.west_min:,.0f} and ${self.west_max:,.0f}. No missing values.",
            f"Use the random seed {self.seed} so that the data can be made again.",
        ]
        if self.want_box_plot:
            lines.append(f"Draw box plots of {self.sales_column} per region (east vs west) and save "
                         f"them as `{self.box_plot_file}`.")
        if self.want_self_test:
            lines.append("Then test that every rule holds (row counts, columns, ID format and "
                         "uniqueness, same IDs in both files, readable unique names, valid state "
                         "codes, revenue in its region's range, no missing values) and print each "
                         "rule with PASS or FAIL.")
        lines.append("Return both CSV files" + (" and the box plot." if self.want_box_plot else "."))
        return "\n".join(lines)


def _csv_name(stem: str) -> str:
    return stem if stem.lower().endswith(".csv") else f"{stem}.csv"


# --- the generator: this one function also runs, as source, in the kernel ------------
def make_company_tables(n_companies, id_prefix, id_width, id_column, name_column, sales_column,
                        state_column, east_states, west_states, east_range, west_range, seed):
    """Two tables about the same companies: sales (ID, name, revenue) and details (ID, state).

    East-coast companies get revenue in ``east_range``, west-coast ones in ``west_range``
    (whole dollars, both ends included). Names are unique English company names (Faker)."""
    import numpy as np
    import pandas as pd
    from faker import Faker

    rng = np.random.default_rng(seed)
    fake = Faker("en_US")
    fake.seed_instance(seed)

    ids = [f"{id_prefix}{i:0{id_width}d}" for i in range(1, n_companies + 1)]
    names = [fake.unique.company() for _ in ids]

    # Each company is on the east or the west coast; make sure both regions appear.
    regions = rng.choice(["east", "west"], size=n_companies)
    if n_companies >= 2:
        regions[0], regions[1] = "east", "west"
    states = [rng.choice(east_states if r == "east" else west_states) for r in regions]
    sales = [
        int(rng.integers(lo, hi + 1))
        for lo, hi in (east_range if r == "east" else west_range for r in regions)
    ]
    sales_table = pd.DataFrame({id_column: ids, name_column: names, sales_column: sales})
    details_table = pd.DataFrame({id_column: ids, state_column: states})
    return sales_table, details_table


def generate(spec: SyntheticSpec):
    """The two tables, in this process (pandas), as the local plan makes them."""
    spec.validate()
    return make_company_tables(**_generator_args(spec))


def _generator_args(spec: SyntheticSpec) -> dict[str, Any]:
    return dict(
        n_companies=spec.n_companies, id_prefix=spec.id_prefix, id_width=spec.id_width,
        id_column=spec.id_column, name_column=spec.name_column, sales_column=spec.sales_column,
        state_column=spec.state_column, east_states=list(spec.east_states),
        west_states=list(spec.west_states),
        east_range=(int(spec.east_min), int(spec.east_max)),
        west_range=(int(spec.west_min), int(spec.west_max)), seed=spec.seed,
    )


# --- the local plan: templates a reader sees whole ------------------------------------
PLAN_HEAD = Template("""\
# Synthetic companies dataset: two CSV files sharing the same company IDs.
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

$generator


sales, details = make_company_tables(
$arguments
)
sales.to_csv($sales_csv, index=False)
details.to_csv($details_csv, index=False)
print(f"Wrote $sales_file and $details_file: {len(sales)} companies each.")

# Which coast each company is on, from its state code.
EAST_STATES = $east
WEST_STATES = $west
merged = sales.merge(details, on=$id_column)
merged["REGION"] = merged[$state_column].map(
    lambda s: "east" if s in EAST_STATES else ("west" if s in WEST_STATES else "other"))
""")
PLAN_BOX_PLOT = Template("""
# Box plot of sales per region (the plotted data is saved next to it as CSV).
plotted = merged[[$id_column, "REGION", $sales_column]]
plotted.to_csv($box_plot_csv, index=False)
fig, ax = plt.subplots(figsize=(7, 5))
order = ["east", "west"]
ax.boxplot([merged.loc[merged["REGION"] == r, $sales_column] for r in order],
           tick_labels=[f"{name} coast (n={(merged['REGION'] == r).sum()})"
                        for name, r in zip(["East", "West"], order)])
ax.set_ylabel("$sales_name ($$)")
ax.set_title("$sales_name per region")
ax.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
fig.tight_layout()
fig.savefig($box_plot_file, dpi=110)
plt.close(fig)
print("Saved the box plot as $box_plot_name.")
""")
PLAN_SELF_TEST = Template("""
# Test that every rule holds, and print each one.
import re
ranges = {"east": $east_range, "west": $west_range}
checks = {
    "$n rows in each file": len(sales) == len(details) == $n,
    "IDs look like $id_example":
        sales[$id_column].str.fullmatch($id_regex).all(),
    "IDs are unique":
        sales[$id_column].is_unique and details[$id_column].is_unique,
    "same IDs in both files": set(sales[$id_column]) == set(details[$id_column]),
    "names are unique": sales[$name_column].is_unique,
    "names are readable words":
        sales[$name_column].str.fullmatch(r"[A-Za-z][A-Za-z ,.&'-]*").all(),
    "states are east or west coast": merged["REGION"].isin(["east", "west"]).all(),
    "sales within the region's range": all(
        merged.loc[merged["REGION"] == r, $sales_column].between(lo, hi).all()
        for r, (lo, hi) in ranges.items()),
    "no missing values": not (sales.isna().any().any() or details.isna().any().any()),
}
for rule, ok in checks.items():
    print(("PASS" if ok else "FAIL"), rule)
print("All rules hold." if all(checks.values()) else "Some rules FAILED.")
""")


def plan_code(spec: SyntheticSpec) -> str:
    """The local plan: plain pandas/Faker/matplotlib code a person can read and reuse."""
    spec.validate()
    args = _generator_args(spec)
    values = {
        "generator": inspect.getsource(make_company_tables).rstrip(),
        "arguments": "\n".join(f"    {k}={v!r}," for k, v in args.items()),
        "sales_csv": repr(spec.sales_csv), "details_csv": repr(spec.details_csv),
        "sales_file": spec.sales_csv, "details_file": spec.details_csv,
        "sales_name": spec.sales_column,  # the box plot's axis and title name the revenue column
        "east": repr(list(spec.east_states)), "west": repr(list(spec.west_states)),
        "id_column": repr(spec.id_column), "state_column": repr(spec.state_column),
        "sales_column": repr(spec.sales_column), "name_column": repr(spec.name_column),
        "box_plot_csv": repr(spec.box_plot_csv), "box_plot_file": repr(spec.box_plot_file),
        "box_plot_name": spec.box_plot_file, "n": str(spec.n_companies),
        "east_range": repr(args["east_range"]), "west_range": repr(args["west_range"]),
        "id_example": spec.id_example, "id_regex": repr(spec.id_regex),
    }
    code = PLAN_HEAD.substitute(values).rstrip("\n")
    if spec.want_box_plot:
        code += "\n" + PLAN_BOX_PLOT.substitute(values).rstrip("\n")
    if spec.want_self_test:
        code += "\n" + PLAN_SELF_TEST.substitute(values).rstrip("\n")
    return code + "\n"


# --- the verifier ----------------------------------------------------------------
_READABLE = re.compile(r"^[A-Za-z][A-Za-z .,&'\-]*$")
_CONSONANT_RUN = re.compile(r"[bcdfghjklmnpqrstvwxz]{6,}", re.I)
_VOWELS = set("aeiouyAEIOUY")
_RARE_BIGRAM = re.compile(r"q[^u]|jx|jz|jq|qx|xj|xz|zx|vq|vx|vj|wx|fq|fx|kx|kz|pq|zj|jv|vb|vf|bq|gq|hq|mq|"
                          r"cj|fj|gj|hj|jb|jc|jd|jf|jg|jh|jk|jl|jm|jn|jp|jr|js|jt|jw|jy|"
                          r"vk|vm|vn|vp|vt|vz|xk|xg|zf|zk|zv|wq|kq|yq")
_ABBREVIATIONS = {"ltd", "llc", "plc", "inc", "co", "corp", "llp", "lp", "bros", "mfg", "intl"}


def name_is_readable(name: Any) -> bool:
    """Letters, spaces and light punctuation; every word pronounceable (has vowels,
    no run of 5 consonants, no letter 3 times in a row). Random strings fail."""
    if not isinstance(name, str) or not _READABLE.match(name.strip()):
        return False
    words = [w for w in re.split(r"[ ,.&'\-]+", name) if w]
    if not words:
        return False
    words = [w for w in words if w.lower() not in _ABBREVIATIONS and not (w.isupper() and len(w) <= 4)]
    if not words:
        return False
    letters = "".join(words)
    vowel_share = sum(c in _VOWELS for c in letters) / len(letters)
    if len(letters) >= 6 and not 0.12 <= vowel_share <= 0.9:
        return False
    for w in words:
        if len(w) >= 3 and not any(c in _VOWELS for c in w):
            return False
        lw = w.lower()
        if _CONSONANT_RUN.search(lw) or re.search(r"(.)\1\1", lw) or _RARE_BIGRAM.search(lw):
            return False
    return True


def _examples(values, limit: int = 3) -> str:
    vals = [repr(v) for v in list(values)[:limit]]
    return ", ".join(vals)


def verify(spec: SyntheticSpec, sales_df: Any, details_df: Any) -> list[RuleCheck]:
    """An independent check of every rule on two tables (from any backend)."""
    import pandas as pd

    checks: list[RuleCheck] = []

    def add(key: str, rule: str, passed: bool, detail: str) -> None:
        checks.append(RuleCheck(rule=rule, passed=bool(passed), detail=detail, key=key))

    def as_frame(obj: Any) -> pd.DataFrame | None:
        if isinstance(obj, pd.DataFrame):
            return obj
        try:
            return pd.DataFrame(obj)
        except (TypeError, ValueError):  # not table-shaped: the check reports it as missing
            return None

    sales, details = as_frame(sales_df), as_frame(details_df)
    s_cols = [spec.id_column, spec.name_column, spec.sales_column]
    d_cols = [spec.id_column, spec.state_column]
    s_missing = [c for c in s_cols if sales is None or c not in sales.columns]
    d_missing = [c for c in d_cols if details is None or c not in details.columns]
    add("sales_columns", f"{spec.sales_csv} has the columns {', '.join(s_cols)}", not s_missing,
        "all present" if not s_missing else f"missing: {', '.join(s_missing)}"
        + ("" if sales is None else f" (found: {', '.join(map(str, sales.columns))})"))
    add("details_columns", f"{spec.details_csv} has the columns {', '.join(d_cols)}", not d_missing,
        "all present" if not d_missing else f"missing: {', '.join(d_missing)}"
        + ("" if details is None else f" (found: {', '.join(map(str, details.columns))})"))

    n = spec.n_companies
    for key, label, df in (("sales_rows", spec.sales_csv, sales),
                           ("details_rows", spec.details_csv, details)):
        rows = None if df is None else len(df)
        add(key, f"{label} has {n} rows (one per company)", rows == n,
            "not a table" if rows is None else f"{rows} rows")

    def col(df: pd.DataFrame | None, name: str) -> pd.Series | None:
        if df is None or name not in df.columns:
            return None
        c = df[name]
        return c.iloc[:, 0] if isinstance(c, pd.DataFrame) else c

    s_id, d_id = col(sales, spec.id_column), col(details, spec.id_column)
    names, revenue = col(sales, spec.name_column), col(sales, spec.sales_column)
    states = col(details, spec.state_column)
    no_col = "column missing, cannot check"

    # IDs: pattern, uniqueness, same set.
    if s_id is None or d_id is None:
        add("id_pattern", f"IDs look like {spec.id_example}", False, no_col)
        add("id_unique", "IDs are unique in each file", False, no_col)
        add("same_ids", "both files hold the same IDs", False, no_col)
    else:
        ids = pd.concat([s_id, d_id]).astype(str)
        bad = ids[~ids.str.fullmatch(spec.id_regex)]
        add("id_pattern", f"IDs look like {spec.id_example} ({spec.id_prefix} + {spec.id_width} digits)",
            bad.empty, "all match" if bad.empty else f"{len(bad)} do not, e.g. {_examples(bad.unique())}")
        dup = pd.concat([s_id[s_id.duplicated()], d_id[d_id.duplicated()]])
        add("id_unique", "IDs are unique in each file", dup.empty,
            "no duplicates" if dup.empty else f"{len(dup)} duplicated, e.g. {_examples(dup.unique())}")
        a, b = set(s_id.astype(str)), set(d_id.astype(str))
        add("same_ids", "both files hold the same IDs", a == b,
            "identical ID sets" if a == b else
            f"{len(a - b)} only in {spec.sales_csv} (e.g. {_examples(sorted(a - b))}), "
            f"{len(b - a)} only in {spec.details_csv} (e.g. {_examples(sorted(b - a))})")

    # Names: readable, unique.
    if names is None:
        add("names_readable", "company names are readable English names", False, no_col)
        add("names_unique", "company names are unique", False, no_col)
    else:
        unreadable = names[~names.map(name_is_readable)]
        add("names_readable", "company names are readable English names", unreadable.empty,
            "all readable" if unreadable.empty else
            f"{len(unreadable)} look unreadable, e.g. {_examples(unreadable)}")
        lowered = names.astype(str).str.strip().str.lower()
        dups = names[lowered.duplicated(keep=False)]
        add("names_unique", "company names are unique", dups.empty,
            "no duplicates" if dups.empty
            else f"{len(dups)} rows share a name, e.g. {_examples(dups.unique())}")

    # States.
    allowed = set(spec.east_states) | set(spec.west_states)
    if states is None:
        add("states_valid", "state codes are two-letter east- or west-coast codes", False, no_col)
    else:
        st = states.astype(str)
        bad = st[~st.isin(allowed)]
        add("states_valid", "state codes are two-letter east- or west-coast codes", bad.empty,
            f"all in {', '.join(sorted(allowed))}" if bad.empty else
            f"{len(bad)} not allowed, e.g. {_examples(bad.unique())}")

    # Revenue: numeric, in the region's range.
    numeric = None
    if revenue is None:
        add("sales_numeric", f"{spec.sales_column} is a number", False, no_col)
    else:
        numeric = pd.to_numeric(revenue, errors="coerce")
        bad = revenue[numeric.isna() & revenue.notna()]
        add("sales_numeric", f"{spec.sales_column} is a number", bad.empty,
            "all numeric" if bad.empty else f"{len(bad)} not numbers, e.g. {_examples(bad)}")
    rule = (f"{spec.sales_column} is within the region's range (east {spec.east_min:,.0f}-"
            f"{spec.east_max:,.0f}, west {spec.west_min:,.0f}-{spec.west_max:,.0f})")
    if numeric is None or s_id is None or d_id is None or states is None:
        add("sales_range", rule, False, no_col)
    else:
        region = dict(zip(d_id.astype(str), states.astype(str).map(spec.region_of), strict=True))
        reg = s_id.astype(str).map(region)
        lo = reg.map({"east": spec.east_min, "west": spec.west_min})
        hi = reg.map({"east": spec.east_max, "west": spec.west_max})
        ok = numeric.notna() & lo.notna() & (numeric >= lo) & (numeric <= hi)
        bad_rows = s_id[~ok].astype(str)
        add("sales_range", rule, bool(ok.all()),
            "all within range" if ok.all() else
            f"{len(bad_rows)} companies outside their region's range or without a region, "
            f"e.g. {_examples(bad_rows)}")

    # Both regions present (needed for the box plot per region).
    if states is not None and n >= 2:
        regions = set(states.astype(str).map(spec.region_of).dropna())
        add("both_regions", "both east- and west-coast companies appear", regions >= {"east", "west"},
            f"regions found: {', '.join(sorted(regions)) or 'none'}")

    # No missing values.
    missing = []
    for label, df, cols in ((spec.sales_csv, sales, s_cols), (spec.details_csv, details, d_cols)):
        if df is None:
            missing.append(f"{label}: not a table")
            continue
        for c in cols:
            if c in df.columns:
                series = col(df, c)
                if series is None:
                    continue
                count = int(series.isna().sum() + (series.astype(str).str.strip() == "").sum())
                if count:
                    missing.append(f"{label}.{c}: {count}")
    add("no_missing", "no missing values", not missing,
        "none missing" if not missing else "missing: " + "; ".join(missing))
    return checks


def read_tables(sales_bytes: bytes, details_bytes: bytes):
    """Two CSV files' bytes as tables for :func:`verify` (IDs kept as text)."""
    import io

    import pandas as pd

    def read(data: bytes):
        return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=True)

    sales, details = read(sales_bytes), read(details_bytes)
    return sales, details


# --- free text -> spec ---------------------------------------------------------
_NUM = r"\$?\s*\d[\d,]*(?:\.\d+)?\s*(?:k|thousand|m|mn|million|bn|b|billion)?\b"
_UNITS = {"k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6, "b": 1e9, "bn": 1e9,
          "billion": 1e9}
_RANGE = re.compile(rf"(?:between\s+)?({_NUM})\s*(?:to|-|–|—|and|up to)\s*({_NUM})", re.I)
_STATE_LIST = r"([A-Z]{2}(?:\s*(?:,|/|and|or)\s*[A-Z]{2})+)"


def parse_amount(text: str) -> float:
    m = re.fullmatch(r"\$?\s*(\d[\d,]*(?:\.\d+)?)\s*([a-zA-Z]*)", text.strip())
    if not m:
        raise ValueError(text)
    value = float(m.group(1).replace(",", ""))
    return value * _UNITS.get(m.group(2).lower(), 1.0)


def _looks_like_request(text: str) -> bool:
    low = text.lower()
    about_companies = bool(re.search(r"\bcompan(y|ies)\b|\bfirms?\b|\bbusinesses\b", low))
    asks_data = bool(re.search(r"\bcsv\b|\bfiles?\b|\bdata ?set\b|\bsynthetic\b|\bgenerate\b|\bfake\b", low))
    rules = bool(re.search(r"\bsales\b|\bdetails\b|\brevenue\b|\bstates?\b|\bcompany_id\b", low))
    return about_companies and asks_data and rules


def spec_from_text(text: str) -> SyntheticSpec | None:
    """The spec a free-text request asks for, or None when it is not such a request.

    Reads the number of companies, the ID pattern, file and column names, region
    state lists, revenue ranges ("$700,000", "2 million"), seed, box plot and self-test."""
    if not text or not _looks_like_request(text):
        return None
    values: dict[str, Any] = {}
    low = text.lower()

    m = re.search(r"(\d[\d,]*)\s+(?:\w+\s+){0,2}?(?:companies|firms|businesses|records|rows)\b", text, re.I)
    if m:
        values["n_companies"] = int(m.group(1).replace(",", ""))

    m = re.search(r"\b(?:ids?|identifiers?)\b[^.;\n]{0,60}?`([A-Za-z]{0,10})(0*1)`", text, re.I)
    if not m:
        m = re.search(r"\b(?:ids?|identifiers?)\b[^.;\n]{0,40}?\b([A-Za-z]{1,10})(0*1)\b", text, re.I)
    if not m:
        m = re.search(r"\b([A-Z]{1,5})(0+1)\b", text)
    if m:
        values["id_prefix"], values["id_width"] = m.group(1), len(m.group(2))

    values.update(_files_and_columns(text))

    for region in ("east", "west"):
        named = rf"\b{region}(?:ern)?(?:[\s-]+coast)?(?:\s+states)?\s*"
        states = re.search(rf"{named}(?:are|:|=|\(|of)?\s*{_STATE_LIST}", text) \
            or re.search(rf"{named}(?::|=|\()\s*([A-Z]{{2}})\b(?!\s*[A-Za-z])", text)
        if states:
            values[f"{region}_states"] = tuple(re.findall(r"[A-Z]{2}", states.group(1)))
        rng = _region_range(text, region)
        if rng:
            values[f"{region}_min"], values[f"{region}_max"] = rng

    m = re.search(r"\bseed\s*(?:=|:|of|is)?\s*(\d+)", low)
    if m:
        values["seed"] = int(m.group(1))
    m = re.search(r"box[\s-]?plots?[^.;\n]*?\b(?:as|to|in|called|named)\s+"
                  r"[`\"']?([\w\-]+\.(?:png|svg|jpg|jpeg|pdf))", text, re.I)
    if m:
        values["box_plot_file"] = m.group(1)
    values["want_box_plot"] = bool(re.search(r"box[\s-]?plots?|boxplots?", low))
    values["want_self_test"] = bool(
        re.search(r"\b(test|check|verify|validate)\w*\b[^.]{0,40}\brules?\b", low))
    return replace(SyntheticSpec(), **values)


def _region_range(text: str, region: str) -> tuple[float, float] | None:
    other = "west" if region == "east" else "east"
    for m in re.finditer(rf"\b{region}", text, re.I):
        rest = text[m.end():]
        stop = re.search(rf"\b{other}|[.;\n]", rest, re.I)
        segment = rest[: stop.start()] if stop else rest
        r = _RANGE.search(segment)
        if r:
            try:
                lo, hi = parse_amount(r.group(1)), parse_amount(r.group(2))
            except ValueError:
                continue
            return (lo, hi) if lo <= hi else (hi, lo)
    return None


def _files_and_columns(text: str) -> dict[str, Any]:
    """``called SALES with COMPANY_ID, COMPANY_NAME and SALES_2024`` (twice)."""
    out: dict[str, Any] = {}
    pattern = re.compile(
        r"(?:called|named)\s+[\"'`]?([A-Za-z_][\w\-]*?)(?:\.csv)?[\"'`]?\s+(?:with|having|containing)"
        r"\s+(?:the\s+)?(?:columns?\s+|fields?\s+)?((?:[A-Z][A-Z0-9_]*)(?:\s*(?:,|and|&)\s*(?:[A-Z][A-Z0-9_]*))*)"
    )
    quoted = re.compile(
        r"(?:called|named)\s+`([A-Za-z_][\w\-]*?)(?:\.csv)?`\s+(?:with|having|containing)\s+(?:the\s+)?"
        r"(?:columns?\s+|fields?\s+)?((?:`[A-Za-z_]\w*`)(?:\s*(?:,|and|&)\s*`[A-Za-z_]\w*`)*)")
    files = [(m.group(1), re.findall(r"`([A-Za-z_]\w*)`", m.group(2))) for m in quoted.finditer(text)]
    if len(files) < 2:
        files = [(m.group(1), re.findall(r"[A-Z][A-Z0-9_]*", m.group(2))) for m in pattern.finditer(text)]
    files = [(name, cols) for name, cols in files if cols]
    if len(files) < 2:
        return out
    (f1, c1), (f2, c2) = files[:2]
    # The sales file is the one with three columns (or a NAME column).
    if len(c2) > len(c1) or any("NAME" in c for c in c2):
        (f1, c1), (f2, c2) = (f2, c2), (f1, c1)
    common = [c for c in c1 if c in c2]
    if len(c1) < 3 or len(c2) < 2 or not common:
        return out
    id_col = common[0]
    rest = [c for c in c1 if c != id_col]
    name_col = next((c for c in rest if "NAME" in c), rest[0])
    sales_col = next(c for c in rest if c != name_col)
    state_col = next(c for c in c2 if c != id_col)
    out.update(sales_file=f1, details_file=f2, id_column=id_col, name_column=name_col,
               sales_column=sales_col, state_column=state_col)
    return out
