"""Property tests: the reader never raises, whatever the bytes, and never goes past its caps."""
from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_core.tables import Limits, read_table
from agent_core.tables.profile import TableProfile

CELLS = st.one_of(
    st.sampled_from(["2024-01-02", "01/02/2024", "02.01.2024", "Jan 2, 2024", "1704153600000",
                     "1704153600.5", "45293", "null", "-", ".", "", "$1,234.50", "12,5", "434.04M",
                     "-0.52%", "AAPL", "Close/Last", "Price", "Ticker", "Date", "\"a,b\"", "NaN"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.integers(min_value=-10**20, max_value=10**20).map(str),
)


@st.composite
def csv_like(draw) -> bytes:
    sep = draw(st.sampled_from([",", ";", "\t", "|"]))
    ncols = draw(st.integers(1, 8))
    rows = draw(st.lists(st.lists(CELLS, min_size=ncols, max_size=ncols), min_size=0, max_size=30))
    text = "\n".join(sep.join(r) for r in rows)
    enc = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]))
    return text.encode(enc, errors="replace")


def check(result, limits: Limits) -> None:
    p = result.profile
    assert isinstance(p, TableProfile)
    if result.ok:
        assert p.error is None and len(result.frame) == p.tidy_rows > 0
        assert result.frame.shape[1] <= limits.max_columns
        assert p.date_column in result.frame.columns and p.read_code
    else:
        assert p.error and "Traceback" not in p.error


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=csv_like(), name=st.sampled_from(["p.csv", "p.txt", "p.tsv", "p", "p.json", "p.xlsx"]))
def test_the_reader_never_raises_on_table_like_bytes(data, name):
    check(read_table(name, data), Limits())


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=2000))
def test_the_reader_never_raises_on_any_bytes(data):
    check(read_table("x.csv", data), Limits())
    check(read_table("x.xlsx", b"PK\x03\x04" + data), Limits())


@settings(max_examples=60, deadline=None)
@given(ncols=st.integers(2, 60), nrows=st.integers(1, 60), cap_cols=st.integers(2, 30),
       cap_cells=st.integers(10, 2000))
def test_caps_are_never_exceeded(ncols, nrows, cap_cols, cap_cells):
    header = ",".join(["date"] + [f"c{i}" for i in range(ncols - 1)])
    body = "\n".join(",".join([f"2024-01-{1 + r % 28:02d}"] + [str(r + i) for i in range(ncols - 1)])
                     for r in range(nrows))
    limits = Limits(max_columns=cap_cols, max_cells=cap_cells)
    t0 = time.perf_counter()
    result = read_table("p.csv", (header + "\n" + body + "\n").encode(), limits=limits)
    assert time.perf_counter() - t0 < 10
    if ncols > cap_cols:
        assert not result.ok and "columns" in result.profile.error
    if (nrows + 1) * ncols > cap_cells:
        assert not result.ok
    check(result, limits)
