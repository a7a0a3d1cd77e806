"""agent_core.tables on real bytes of every supported format, encoding, layout and problem
(the cases of the reader it replaced, agent_core.prices, kept)."""
from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from agent_core.sample_data import SAMPLE_TICKERS, sample_bytes, sample_csv, write_sample
from agent_core.tables import describe, read_table
from agent_core.tables import to_long as _to_long

LONG = b"symbol,date,price\nAAA,2020-01-02,10\nBBB,2020-01-02,20\nAAA,2020-01-01,9\nBBB,2020-01-01,19\n"
WIDE = "Date,AAA,BBB\n2020-01-01,1.5,2.5\n2020-01-02,1.6,2.6\n2020-01-03,1.7,2.7\n"
OHLC = ("Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2020-01-01,1,2,0.5,1.5,1.4,100\n2020-01-02,1.5,2.5,1,2,1.9,200\n")


class Seen:
    """A read file: the profile's fields, plus the tidy frame."""

    def __init__(self, result):
        self.result, self.frame = result, result.frame

    def __getattr__(self, name):
        if name in ("delimiter", "decimal", "encoding"):
            return getattr(self.result.profile.read, name)
        return getattr(self.result.profile, name)


def read_price_file(name: str, data: bytes) -> Seen:
    return Seen(read_table(name, data))


def read(name: str, data: bytes) -> Seen:
    seen = read_price_file(name, data)
    assert seen.error is None, seen.error
    return seen


def to_long(seen: Seen):
    return _to_long(seen.result.profile, seen.frame)


def describe_(seen: Seen) -> str:
    return describe(seen.result.profile)


def series(seen, ticker):
    long = to_long(seen)
    return long[long["ticker"] == ticker]["price"].tolist()


# --- layouts ------------------------------------------------------------------------------------
def test_long_layout_detects_tickers_and_sorts():
    r = read("long.csv", LONG)
    assert r.layout == "long" and r.ticker_column == "symbol" and r.tickers == ("AAA", "BBB")
    assert r.date_column == "date" and r.rows == 4
    assert r.start[:10] == "2020-01-01" and r.end[:10] == "2020-01-02"
    assert any("not in date order" in p and "by ticker and date" in p for p in r.problems)
    assert series(r, "AAA") == [9.0, 10.0]
    assert list(to_long(r).columns) == ["date", "ticker", "price"]


def test_wide_layout_one_column_per_ticker():
    r = read("wide.csv", WIDE.encode())
    assert r.layout == "wide" and r.tickers == ("AAA", "BBB") and r.problems == ()
    assert r.price_columns == ("AAA", "BBB")
    assert series(r, "BBB") == [2.5, 2.6, 2.7]


def test_ohlc_any_case_uses_adj_close():
    r = read("spy.csv", OHLC.lower().encode())
    assert r.layout == "ohlc" and r.tickers == ("spy",)
    assert set(r.price_columns) == {"open", "high", "low", "close", "adj close"}
    assert r.volume_column == "volume"
    assert r.value_column == "adj close" and series(r, "spy") == [1.4, 1.9]
    r2 = read("spy.csv", OHLC.upper().encode())
    assert r2.layout == "ohlc" and r2.value_column == "ADJ CLOSE"


def test_single_series_named_after_file():
    r = read("gold.txt", b"date,price\n2021-03-01,1700.5\n2021-03-02,1710\n")
    assert r.layout == "single" and r.tickers == ("gold",) and r.value_column == "price"


def test_sample_data_is_long_ohlcv_and_deterministic(tmp_path):
    r = read("sample_prices.csv", sample_bytes())
    assert r.layout == "long" and r.tickers == SAMPLE_TICKERS and r.problems == ()
    assert {"open", "high", "low", "close"} == set(r.price_columns) and r.volume_column == "volume"
    assert r.value_column == "close" and 2000 < r.rows < 3000
    f = r.frame
    assert (f["high"] >= f[["open", "close"]].max(axis=1)).all()
    assert (f["low"] <= f[["open", "close"]].min(axis=1)).all()
    assert write_sample(tmp_path / "s.csv").read_bytes() == sample_bytes()  # committed == generated
    assert sample_csv(seed=1) != sample_csv(seed=2)
    assert len(sample_bytes()) < 300_000


# --- encodings and delimiters ---------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "latin-1"])
def test_encodings(encoding):
    text = "Date;Société Générale;Nestlé\n2020-01-01;1,5;2\n2020-01-02;1,75;2,25\n"
    r = read("eu.csv", text.encode(encoding))
    assert r.tickers == ("Société Générale", "Nestlé")
    assert r.delimiter == ";" and r.decimal == ","
    assert series(r, "Société Générale") == [1.5, 1.75]
    assert r.encoding == {"utf-8": "utf-8", "utf-8-sig": "utf-8-sig", "utf-16": "utf-16",
                          "latin-1": "cp1252"}[encoding]  # Windows Latin-1, as Excel writes


def test_tab_delimited_tsv():
    r = read("p.tsv", WIDE.replace(",", "\t").encode())
    assert r.delimiter == "\t" and r.layout == "wide" and series(r, "AAA") == [1.5, 1.6, 1.7]


def test_decimal_comma_with_thousands_dots_and_dotted_dates():
    r = read("de.csv", b"Datum;Kurs A\n01.02.2020;1.234,56\n03.02.2020;12,5\n")
    assert series(r, "Kurs A") == [1234.56, 12.5]
    assert r.start[:10] == "2020-02-01"  # dotted dates are day first
    assert any("day/month" in p for p in r.problems)


@pytest.mark.parametrize("header", [
    "Datum;Eröffnung;Hoch;Tief;Schluss;Volumen",          # German broker / boerse-frankfurt
    "Date;Ouverture;Plus haut;Plus bas;Clôture;Volume",   # French
    "Fecha;Apertura;Máximo;Mínimo;Cierre;Volumen",        # Spanish
    "Data;Apertura;Massimo;Minimo;Chiusura;Volume",       # Italian
])
def test_european_ohlc_headers_are_one_instrument_not_four_tickers(header):
    body = "02.01.2023;45,46;45,87;44,96;45,41;3430481\n03.01.2023;46,05;46,46;45,54;46,00;1483155\n"
    r = read("SAP_DE.csv", (header + "\n" + body).encode())
    names = header.split(";")
    assert r.layout == "ohlc"
    assert r.tickers == ("SAP",) or list(r.tickers) == ["SAP"]
    assert r.value_column == names[4]
    assert r.volume_column == names[5]
    assert series(r, "SAP") == [45.41, 46.0]


@pytest.mark.parametrize("name, ticker", [
    ("Dow Jones Industrial Average Historical Data.csv", "Dow Jones Industrial Average"),
    ("Bitcoin Historical Data (1).csv", "Bitcoin"),
])
def test_investing_com_file_name_gives_the_instrument_not_historical_data(name, ticker):
    data = b'"Date","Price","Open","High","Low","Vol.","Change %"\n' \
           b'"12/29/2023","20,871.75","20,892.63","21,080.47","20,663.04","4.26B","0.23%"\n' \
           b'"12/28/2023","20,822.98","20,843.81","21,031.21","20,614.75","3.55B","0.73%"\n'
    r = read(name, data)
    assert list(r.tickers) == [ticker] and r.tickers_from == "file name"
    assert series(r, ticker) == [20822.98, 20871.75]


def test_quoted_decimal_commas_in_a_comma_separated_file(tmp_path, monkeypatch):
    # de.investing.com: comma-separated, every field quoted, dot thousands and decimal commas;
    # the Zuletzt of 15.296,72 was read as 15.29672 and a volume of 35,04M as 3.5 billion
    data = ('"Datum","Zuletzt","Eröffn.","Hoch","Tief","Vol.","+/- %"\n'
            '"31.03.2023","15.296,72","15.312,02","15.449,69","15.143,75","35,04M","0,20%"\n'
            '"30.03.2023","15.266,22","15.281,49","15.418,88","15.113,56","35,13M","-1,10%"\n'
            '"29.03.2023","15.436,21","15.451,65","15.590,58","15.281,85","32,7M","-0,98%"\n').encode()
    r = read("DAX Historische Daten.csv", data)
    assert r.layout == "ohlc" and r.value_column == "Zuletzt" and r.decimal == ","
    assert series(r, "DAX") == [15436.21, 15266.22, 15296.72]
    assert r.frame["Vol."].tolist() == pytest.approx([32.7e6, 35.13e6, 35.04e6])
    assert r.start == "2023-03-29" and r.end == "2023-03-31"
    # the code the agent runs reads the same numbers
    (tmp_path / "DAX Historische Daten.csv").write_bytes(data)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(r.read_code, scope)  # noqa: S102 - the reader's own rendered code
    pd.testing.assert_frame_equal(scope["df"], r.frame, check_dtype=False)


@pytest.mark.parametrize("name, ticker", [("BTC-USD.csv", "BTC-USD"), ("ETH-EUR_daily.csv", "ETH-EUR"),
                                          ("daily_adjusted_AAPL.csv", "AAPL"), ("SPY-history.csv", "SPY")])
def test_yahoo_pair_file_names_keep_the_pair(name, ticker):
    r = read(name, b"Date,Close\n2024-01-01,42280.23\n2024-01-02,44187.14\n")
    assert list(r.tickers) == [ticker]


def test_quoted_thousands_separators_in_comma_file():
    r = read("q.csv", b'date,price\n2020-01-01,"1,234.50"\n2020-01-02,"$1,300.00"\n')
    assert series(r, "q") == [1234.5, 1300.0]


# --- dates ---------------------------------------------------------------------------------------------
def test_text_dates_like_jan_1_2000():
    r = read("t.csv", b"Date,Close\nJan 3 2000,1\nJan 4 2000,2\nJan 5 2000,3\n")
    assert [d.strftime("%Y-%m-%d") for d in r.frame["Date"]] == [
        "2000-01-03", "2000-01-04", "2000-01-05"]


def test_ambiguous_slash_dates_month_first_is_documented():
    r = read("us.csv", b"date,close\n01/02/2020,1\n01/03/2020,2\n")
    assert r.start[:10] == "2020-01-02"
    assert any("month/day" in p for p in r.problems)


def test_slash_dates_day_first_when_a_day_exceeds_12():
    r = read("uk.csv", b"date,close\n01/02/2020,1\n25/02/2020,2\n")
    assert r.start[:10] == "2020-02-01" and r.end[:10] == "2020-02-25"
    assert not any("month/day" in p for p in r.problems)


def test_time_column_with_intraday_timestamps():
    r = read("i.csv", b"time,last\n2024-05-01 09:30:00,10\n2024-05-01 09:31:00,11\n")
    assert r.date_column == "time" and r.frame["time"].iloc[1].minute == 31
    assert "09:31" in describe_(r)


def test_date_in_unnamed_index_column():
    df = pd.DataFrame({"A": [1.0, 2.0]}, index=pd.to_datetime(["2020-01-01", "2020-01-02"]))
    r = read("idx.csv", df.to_csv().encode())
    assert r.date_column == "date" and r.rows == 2  # the unnamed first column, named


def test_epoch_seconds_time_column():
    r = read("e.csv", b"timestamp,price\n1704067200,1\n1704153600,2\n")
    assert r.start[:10] == "2024-01-01"


# --- binary formats ------------------------------------------------------------------------------
def test_xlsx_made_with_openpyxl():
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["Date", "AAA", "BBB"])
    ws.append([pd.Timestamp("2020-01-02").to_pydatetime(), 1.5, 3])
    ws.append([pd.Timestamp("2020-01-01").to_pydatetime(), 1.4, 2.9])
    buf = io.BytesIO()
    wb.save(buf)
    r = read("book.xlsx", buf.getvalue())
    assert r.file_format == "xlsx" and r.layout == "wide" and series(r, "AAA") == [1.4, 1.5]


def test_parquet_with_datetime_index():
    df = pd.DataFrame({"close": [1.0, 2.0, 3.0]},
                      index=pd.DatetimeIndex(pd.date_range("2021-01-01", periods=3), name="day"))
    buf = io.BytesIO()
    df.to_parquet(buf, engine="pyarrow")
    r = read("p.parquet", buf.getvalue())
    assert r.file_format == "parquet" and r.date_column == "day" and r.rows == 3


def test_json_records_and_columns():
    recs = [{"ticker": "X", "date": "2020-01-01", "close": 1}, {"ticker": "X", "date": "2020-01-02",
                                                                "close": 2}]
    r = read("r.json", json.dumps(recs).encode())
    assert r.file_format == "json" and r.tickers == ("X",) and r.rows == 2
    cols = {"date": ["2020-01-01", "2020-01-02"], "A": [1, 2], "B": [3, 4]}
    assert read("c.json", json.dumps(cols).encode()).tickers == ("A", "B")
    nested = {"A": {"2020-01-01": 1, "2020-01-02": 2}}
    assert read("n.json", json.dumps(nested).encode()).rows == 2


# --- problems -------------------------------------------------------------------------------------------
def test_duplicates_missing_and_non_numeric_are_reported_in_words():
    data = (b"date,price\n2020-01-03,3\n2020-01-01,1\n2020-01-01,1\n2020-01-02,err\n"
            b"2020-01-04,\n2020-01-05,5\n")
    r = read("p.csv", data)
    text = " | ".join(r.problems)
    assert "not in date order" in text
    assert "1 duplicated date;" in text
    assert "1 non-numeric value in 'price' (e.g. 'err')" in text
    assert "2 rows without any price" in text  # 'err' and the empty cell
    assert r.rows == 6 and r.tidy_rows == 3 and r.frame["date"].is_monotonic_increasing


def test_long_duplicates_counted_per_ticker_and_date():
    data = LONG + b"AAA,2020-01-01,9.5\n"
    r = read("l.csv", data)
    assert any("1 duplicated ticker and date pair;" in p for p in r.problems)
    assert series(r, "AAA") == [9.5, 10.0]  # the last row wins


@pytest.mark.parametrize("name,data,words", [
    ("empty.csv", b"", "empty"),
    ("blank.csv", b"  \n\n", "empty"),
    ("garbage.csv", bytes(range(256)) * 20, "binary"),
    ("nodate.csv", b"a,b\n1,2\n3,4\n", "No column of dates"),
    ("nonum.csv", b"date,name\n2020-01-01,x\n2020-01-02,y\n", "No numeric price column"),
    ("header.csv", b"date,price\n", "no data rows"),
    ("fake.xlsx", b"date,price\n2020-01-01,1\n", "not an Excel workbook"),
    ("fake.parquet", b"PAR1garbage", "Parquet"),
    ("bad.json", b"{not json", "JSON"),
    ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, ".xls"),
])
def test_unusable_files_get_an_error_never_an_exception(name, data, words):
    r = read_price_file(name, data)
    assert r.error and words.lower() in r.error.lower()
    assert r.frame is None and not r.ok
    assert "cannot be used" in describe_(r)
    assert to_long(r).empty


def test_describe_is_one_line():
    line = describe_(read("long.csv", LONG))
    assert "\n" not in line and "long layout" in line and "2 tickers (AAA, BBB)" in line


# --- charts (components/charts.py: pure functions of the tables read above) ------------------------
def test_price_chart_moving_average_colours_and_downsampling():
    from components.charts import price_chart

    r = read("sample_prices.csv", sample_bytes())
    fig = price_chart(to_long(r), ma_windows=(20,), colors={"price": "blue", "ma": "red"},
                      max_points=500)
    names = [t.name for t in fig.data if t.showlegend is not False]
    assert names == ["SYNA", "SYNA MA 20", "SYNB", "SYNB MA 20", "SYNC", "SYNC MA 20"]
    assert {t.type for t in fig.data[:6]} == {"scattergl"}
    # small SVG copies for the range slider (which cannot draw WebGL), kept out of the plot
    assert [t.name for t in fig.data[6:]] == ["SYNA overview", "SYNB overview", "SYNC overview"]
    assert all(t.yaxis == "y2" and len(t.x) <= 300 for t in fig.data[6:])
    assert fig.data[0].line.color == "blue" and fig.data[1].line.color == "red"
    assert all(len(t.x) <= 500 for t in fig.data)
    assert fig.layout.meta["downsampled"] and fig.layout.meta["points_in"] == r.tidy_rows
    assert fig.layout.xaxis.rangeslider.visible and fig.layout.xaxis.rangeselector.buttons
    # the moving average is computed on the full series: its last value is the last 20 closes' mean
    syna = r.frame[r.frame["ticker"] == "SYNA"]["close"]
    assert fig.data[1].y[-1] == pytest.approx(syna.tail(20).mean())
    # downsampling keeps the extremes
    assert max(fig.data[0].y) == pytest.approx(syna.max())
    assert min(fig.data[0].y) == pytest.approx(syna.min())


def test_price_chart_small_series_untouched():
    from components.charts import price_chart

    fig = price_chart(to_long(read("wide.csv", WIDE.encode())))
    assert list(fig.data[0].y) == [1.5, 1.6, 1.7] and not fig.layout.meta["downsampled"]


def test_numeric_quick_chart_and_box_plot():
    from components.charts import box_plot, numeric_quick_chart

    df = pd.DataFrame({"month": ["2024-01", "2024-02", "2024-03"], "mean": [1.0, 2.0, 3.0],
                       "label": ["a", "b", "c"]})
    fig = numeric_quick_chart(df)
    assert [t.name for t in fig.data] == ["mean"] and fig.layout.xaxis.title.text == "month"
    assert numeric_quick_chart(pd.DataFrame({"a": ["x", "y"]})) is None
    sales = pd.DataFrame({"region": ["east", "west", "east", "west"], "sales": [1, 5, 2, 6]})
    box = box_plot(sales, "region", "sales")
    assert [t.name for t in box.data] == ["east", "west"]
    assert sorted(box.data[1].y) == [5, 6]


def test_subset_by_dates_tickers_and_columns():
    from agent_core.tables import subset as _subset
    from agent_core.tables import to_csv_bytes

    def subset(seen, **kw):
        return _subset(seen.result.profile, seen.frame, **kw)

    r = read("sample_prices.csv", sample_bytes())
    part = subset(r, start="2024-01-01", end="2024-01-31", tickers=["SYNB"], columns=["close"])
    assert list(part.columns) == ["date", "ticker", "close"] and set(part["ticker"]) == {"SYNB"}
    assert part["date"].min() >= pd.Timestamp("2024-01-01")
    assert part["date"].max() == pd.Timestamp("2024-01-31")  # the end day is included
    text = to_csv_bytes(part).decode()
    assert text.startswith("date,ticker,close\n2024-01-01,SYNB,")
    wide = subset(read("wide.csv", WIDE.encode()), tickers=["BBB"])
    assert list(wide.columns) == ["Date", "BBB"] and len(wide) == 3
    assert subset(read_price_file("e.csv", b"")).empty


def test_price_chart_sorts_each_series_and_keeps_ticker_order():
    from components.charts import price_chart

    long = pd.DataFrame({"date": ["2020-01-03", "2020-01-01", "2020-01-02", "2020-01-01"],
                         "ticker": ["B", "B", "B", "A"], "price": [3.0, 1.0, 2.0, 9.0]})
    fig = price_chart(long)
    assert [t.name for t in fig.data if t.showlegend is not False] == ["B", "A"]
    assert list(fig.data[0].y) == [1.0, 2.0, 3.0]


def test_saved_row_numbers_are_not_a_price_column():
    df = pd.DataFrame({"date": ["2020-01-01", "2020-01-02", "2020-01-03"], "AAA": [1.0, 2, 3],
                       "BBB": [4.0, 5, 6]})
    r = read("saved.csv", df.to_csv().encode())  # pandas' default: a nameless 0, 1, 2 column
    assert r.layout == "wide" and r.tickers == ("AAA", "BBB")
    assert list(r.frame.columns) == ["date", "AAA", "BBB"]
    assert r.role_of("Unnamed: 0") == "id"


def test_yfinance_csv_with_ticker_header_rows():
    one = (b"Price,Close,High,Low,Open,Volume\nTicker,AAPL,AAPL,AAPL,AAPL,AAPL\nDate,,,,,\n"
           b"2024-01-02,185.6,188.4,183.9,187.1,82488700\n2024-01-03,184.2,185.8,183.4,184.2,58414500\n")
    r = read("aapl.csv", one)
    assert r.layout == "ohlc" and r.rows == 2 and r.problems == () and r.value_column == "Close"
    two = (b"Price,Close,Close,Volume,Volume\nTicker,AAPL,MSFT,AAPL,MSFT\nDate,,,,\n"
           b"2024-01-02,185.6,370.9,82488700,25258600\n2024-01-03,184.2,370.6,58414500,23083500\n")
    r = read("two.csv", two)
    # rows counts the file's data rows; the tidy frame has one per date and ticker
    assert r.layout == "long" and r.tickers == ("AAPL", "MSFT") and r.rows == 2 and r.tidy_rows == 4
    assert series(r, "MSFT") == [370.9, 370.6]


def test_shapes_seen_in_the_wild_trailing_delimiter_starred_headers_ticker_first_yfinance():
    trailing = read("DGS2.csv", b"Date,DGS2,\n2024-01-02,4.3,\n2024-01-03,4.4,\n2024-01-04,4.2,\n")
    assert trailing.layout == "single" and trailing.tickers == ("DGS2",)
    assert [d.reason for d in trailing.dropped_columns] == ["empty"]
    starred = read("copy.csv", b"Date,Open,High,Low,Close*,Adj Close**,Volume\n"
                               b"Jan 03 2024,1,2,0.5,1.5,1.4,\"1,000\"\n"
                               b"Jan 02 2024,1,2,0.5,1.5,1.3,\"2,000\"\n")
    assert starred.value_column == "Adj Close**" and list(starred.frame["Volume"]) == [2000, 1000]
    by_ticker = read("g.csv", b"Ticker,AAPL,AAPL,MSFT,MSFT\nPrice,Open,Close,Open,Close\nDate,,,,\n"
                              b"2024-01-02,1,2,3,4\n2024-01-03,5,6,7,8\n")
    assert by_ticker.layout == "long" and by_ticker.tickers == ("AAPL", "MSFT")
    assert series(by_ticker, "MSFT") == [4.0, 8.0]
