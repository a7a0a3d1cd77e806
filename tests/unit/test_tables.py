"""The one table reader (agent_core.tables) on the vendor-shaped corpus, checked against
its expected profiles, against plain pandas on the same bytes, and on hostile input."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import zipfile

import pandas as pd
import pytest

from agent_core import cli
from agent_core.tables import Limits, read_table
from tests.unit.table_corpus import CORPUS, FILES, expected_path, pinned


def read(name: str, **kw):
    return read_table(name, (CORPUS / name).read_bytes(), **kw)


def inspect_json(path, *extra: str) -> tuple[int, dict]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["inspect", str(path), "--json", *extra], out=out, err=err)
    return code, json.loads(out.getvalue())


# --- every corpus file: inspect --json matches its expected profile -----------------------
@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_inspect_json_matches_the_expected_profile(path):
    code, profile = inspect_json(path)
    assert code == 0, profile["error"]
    expected = json.loads(expected_path(path).read_text())
    assert pinned(profile) == expected
    # the fields the issue names are all there, with their types
    for key in ("layout", "date_column", "tickers", "value_column", "price_columns", "columns",
                "frequency", "periods_per_year", "rows", "start", "end", "problems", "dropped_columns"):
        assert key in profile
    assert all(isinstance(p, str) and p.endswith(".") for p in profile["problems"])
    assert all(d["reason"] for d in profile["dropped_columns"])


def test_every_vendor_shape_of_the_issue_is_in_the_corpus():
    names = {p.name for p in FILES}
    for needed in ("yfinance_single_AAPL.csv", "yfinance_multi.csv", "yfinance_names_in_price_row.csv",
                   "yahoo_web_SPY.csv", "yahoo_old_newest_first_IBM.csv", "kaggle_all_stocks_5yr.csv",
                   "HistoricalData_AAPL.csv", "investing_NSEI_historical_data.csv", "aapl_us_h.txt",
                   "daily_adjusted_AAPL.csv", "WIKI-AAPL.csv", "bybit_BTCUSDT_1d.csv",
                   "BTCUSDT-1m-2024-03-01.csv", "gengi_sedlabanki.csv", "SP500.csv", "DGS10.csv",
                   "multi_exchange_27.csv", "export_MSFT_serial_dates.csv", "workbook_readme_first.xlsx",
                   "monthly_prices.csv", "weekly_QQQ.csv"):
        assert needed in names
        assert expected_path(CORPUS / needed).exists()


# --- the numbers, against plain pandas on the same bytes ------------------------------------
def test_yfinance_multi_ticker_is_long_with_no_invented_gaps():
    r = read("yfinance_multi.csv")
    raw = pd.read_csv(CORPUS / "yfinance_multi.csv", header=None, skiprows=3)
    assert r.profile.layout == "long" and r.profile.tickers == ("AAPL", "MSFT", "NVDA")
    assert len(r.frame) == 3 * len(raw) and int(r.frame.isna().sum().sum()) == 0
    msft = r.frame[r.frame["Ticker"] == "MSFT"].set_index("Date")["Close"]
    assert msft.iloc[-1] == pytest.approx(raw.iloc[-1, 2])  # Close,MSFT is the 3rd field


def test_yfinance_with_names_in_the_price_row_takes_symbols_from_the_ticker_row():
    r = read("yfinance_names_in_price_row.csv")
    assert r.profile.tickers == ("AAPL", "MSFT") and r.profile.tickers_from == "header row"
    assert r.profile.layout == "wide"


def test_investing_com_quoted_thousands_volume_suffixes_and_change_percent():
    r = read("investing_NSEI_historical_data.csv")
    raw = pd.read_csv(CORPUS / "investing_NSEI_historical_data.csv", dtype=str)
    first = raw.iloc[-1]  # newest first in the file
    row = r.frame.iloc[0]
    assert row["Price"] == pytest.approx(float(first["Price"].replace(",", "")))
    mult = {"K": 1e3, "M": 1e6, "B": 1e9}[first["Vol."][-1]]
    assert row["Vol."] == pytest.approx(float(first["Vol."][:-1]) * mult)
    assert "Change %" not in r.frame.columns
    assert r.profile.role_of("Change %") == "return"
    assert r.profile.value_column == "Price"
    assert r.frame["Date"].is_monotonic_increasing


def test_nasdaq_close_last_with_dollars_is_the_close_and_not_a_ticker():
    r = read("HistoricalData_AAPL.csv")
    raw = pd.read_csv(CORPUS / "HistoricalData_AAPL.csv", dtype=str)
    assert r.profile.value_column == "Close/Last" and r.profile.tickers == ("AAPL",)
    assert r.frame["Close/Last"].iloc[-1] == pytest.approx(float(raw["Close/Last"].iloc[0].lstrip("$")))
    assert r.frame["Date"].iloc[0] == pd.Timestamp(raw["Date"].iloc[-1])


def test_central_bank_semicolons_decimal_commas_dashes_and_a_title_line():
    r = read("gengi_sedlabanki.csv")
    assert r.profile.tickers == ("USD", "EUR", "GBP") and r.profile.read.encoding == "cp1252"
    text = (CORPUS / "gengi_sedlabanki.csv").read_bytes().decode("cp1252").splitlines()
    day, usd, _, gbp = text[2].split(";")
    assert r.frame["Dagsetning"].iloc[0] == pd.Timestamp(f"{day[6:]}-{day[3:5]}-{day[:2]}")
    assert r.frame["USD"].iloc[0] == pytest.approx(float(usd.replace(",", ".")))
    dashes = [i for i, line in enumerate(text[2:]) if line.endswith(";-")]
    assert r.frame["GBP"].iloc[dashes].isna().all() and len(dashes) == 2


@pytest.mark.parametrize("name, first", [
    ("bybit_BTCUSDT_1d.csv", "2024-01-01"), ("BTCUSDT-1m-2024-03-01.csv", "2024-03-01 00:00:00"),
    ("export_MSFT_serial_dates.csv", "2024-04-01"), ("kaggle_all_stocks_5yr.csv", "2013-02-08"),
    ("msft_us_5min_bulk.txt", "2024-05-06 15:35:00"), ("aapl_us_h.txt", "2024-05-06 10:00:00"),
    ("yfinance_intraday_1h_tz.csv", "2024-03-04 14:30:00")])
def test_dates_in_every_form_land_on_the_right_day_and_time(name, first):
    r = read(name)
    assert r.frame[r.profile.date_column].min() == pd.Timestamp(first)


def test_frequencies_and_periods_per_year():
    got = {p.name: (read(p.name).profile.frequency.kind, read(p.name).profile.periods_per_year)
           for p in FILES if p.name in ("bybit_BTCUSDT_1d.csv", "BTCUSDT-1m-2024-03-01.csv",
                                        "monthly_prices.csv", "weekly_QQQ.csv", "aapl_us_h.txt",
                                        "multi_exchange_27.csv")}
    assert got == {"bybit_BTCUSDT_1d.csv": ("calendar-daily", 365.0),
                   "BTCUSDT-1m-2024-03-01.csv": ("intraday", 525600.0),
                   "monthly_prices.csv": ("monthly", 12.0), "weekly_QQQ.csv": ("weekly", 52.0),
                   "aapl_us_h.txt": ("intraday", 7 * 252.0),
                   "multi_exchange_27.csv": ("trading-daily", 252.0)}


def test_adjusted_close_is_the_value_column_over_a_split_distorted_close():
    r = read("WIKI-AAPL.csv")
    assert r.profile.value_column == "Adj. Close" and r.profile.tickers == ("AAPL",)
    jump = r.frame["Close"].pct_change().abs().max()
    assert jump > 0.5 and r.frame["Adj. Close"].pct_change().abs().max() < 0.2
    reasons = {d.name: d.reason for d in r.profile.dropped_columns}
    assert {"Ex-Dividend", "Split Ratio"} <= set(reasons)


def test_non_price_numbers_are_never_prices():
    for name, column in (("aapl_us_h.txt", "OpenInt"), ("daily_adjusted_AAPL.csv", "dividend_amount"),
                         ("daily_adjusted_AAPL.csv", "split_coefficient"), ("WIKI-AAPL.csv", "Ex-Dividend"),
                         ("BTCUSDT-1m-2024-03-01.csv", "Close time"), ("BTCUSDT-1m-2024-03-01.csv", "Ignore"),
                         ("investing_NSEI_historical_data.csv", "Change %")):
        p = read(name).profile
        assert column not in p.price_columns and column not in p.tickers, (name, column)
        assert column in {d.name for d in p.dropped_columns}, (name, column)


def test_tickers_come_from_the_content_before_the_file_name():
    assert read("yfinance_single_AAPL.csv").profile.tickers_from == "header row"
    assert read("bybit_BTCUSDT_1d.csv").profile.tickers_from == "column"
    p = read("daily_adjusted_AAPL.csv").profile
    assert p.tickers_from == "file name" and any("file name" in x for x in p.problems)


def test_null_rows_are_left_out_and_said():
    p = read("yahoo_web_SPY.csv").profile
    assert p.rows == 50 and p.tidy_rows == 48
    assert any("2 rows without any price" in x for x in p.problems)


def test_a_workbook_sheet_can_be_chosen_and_a_readme_sheet_is_skipped():
    p = read("workbook_readme_first.xlsx").profile
    assert p.sheet == "Prices" and [s.usable for s in p.sheets] == [False, True]
    two = read("workbook_two_sheets.xlsx", sheet="MSFT")
    assert two.profile.sheet == "MSFT" and two.profile.tickers == ("MSFT",)
    assert "sheet_name=\"MSFT\"" in two.profile.read_code
    first = read("workbook_two_sheets.xlsx")
    assert first.frame["Close"].iloc[0] != two.frame["Close"].iloc[0]
    missing = read("workbook_two_sheets.xlsx", sheet="Nope").profile
    assert "no sheet named 'Nope'" in missing.error and len(missing.sheets) == 2


# --- the CLI's exit statuses, from outside ------------------------------------------------
def test_inspect_exit_statuses(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "agent_core", "inspect", *args],
                              capture_output=True, text=True, timeout=120)

    ok = run(str(CORPUS / "WIKI-AAPL.csv"))
    assert ok.returncode == 0 and "Adj. Close" in ok.stdout and "pd.read_csv(" in ok.stdout
    bad = tmp_path / "notes.csv"
    bad.write_text("just,words\nhello,there\n")
    no = run(str(bad), "--json")
    assert no.returncode == 1 and "No column of dates" in json.loads(no.stdout)["error"]
    assert run(str(tmp_path / "missing.csv")).returncode == 2
    assert run().returncode == 2


# --- hostile input: caps checked before parsing, within a few seconds --------------------
def test_a_million_column_csv_is_refused_fast():
    data = b",".join(b"c%d" % i for i in range(1_000_000)) + b"\n" + b",".join([b"1"] * 1_000_000) + b"\n"
    t0 = time.perf_counter()
    r = read_table("wide.csv", data)
    assert time.perf_counter() - t0 < 3
    assert not r.ok and "5,000 columns" in r.profile.error
    shorter = read_table("wide.csv", b"a," * 20_000 + b"a\n" + b"1," * 20_000 + b"1\n")
    assert "about 20,001 columns; the limit is 5,000" in shorter.profile.error


def xlsx_bomb(uncompressed_mb: int = 400) -> bytes:
    """A workbook whose sheet unpacks to hundreds of MB of cells (about 1 MB packed)."""
    from openpyxl import Workbook

    buf = io.BytesIO()
    Workbook().save(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            if item.filename == "xl/worksheets/sheet1.xml":
                row = b"<row>" + b"<c><v>1</v></c>" * 100 + b"</row>"
                body = row * (uncompressed_mb * 1024 * 1024 // len(row))
                dst.writestr(item.filename, b'<worksheet xmlns="http://schemas.openxmlformats.org/'
                             b'spreadsheetml/2006/main"><sheetData>' + body + b"</sheetData></worksheet>")
            else:
                dst.writestr(item, src.read(item.filename))
    return out.getvalue()


def test_an_xlsx_decompression_bomb_is_refused_fast():
    bomb = xlsx_bomb()
    assert len(bomb) < 3 * 1024 * 1024
    t0 = time.perf_counter()
    r = read_table("bomb.xlsx", bomb)
    assert time.perf_counter() - t0 < 3
    assert not r.ok and "unpacks to" in r.profile.error


def test_cells_cap_and_size_cap_and_time_limit_each_have_their_message():
    rows = b"date,a,b\n" + b"2024-01-02,1,2\n" * 20_000
    assert "cells" in read_table("x.csv", rows, limits=Limits(max_cells=10_000)).profile.error
    assert "limit is" in read_table("x.csv", rows, limits=Limits(max_bytes=1000)).profile.error
    slow = read_table("x.csv", rows, limits=Limits(seconds=0.0))
    assert "longer than" in slow.profile.error


def test_file_flags_check_the_size_before_reading(tmp_path):
    huge = tmp_path / "huge.csv"
    with open(huge, "wb") as fh:
        fh.truncate(301 * 1024 * 1024)  # sparse: nothing to read, only the size is big
    for argv in (["inspect", str(huge)], ["ask", "chart it", "--file", str(huge), "--backend", "local"]):
        out, err = io.StringIO(), io.StringIO()
        t0 = time.perf_counter()
        assert cli.main(argv, out=out, err=err) == 2
        assert time.perf_counter() - t0 < 2
        assert "301 MB; the limit is 300 MB" in err.getvalue()
