"""Writes the corpus of vendor-shaped price files (run once; the files are committed).

Each file copies the shape of a real download (header rows, quoting, separators, date
forms, extra columns) with made-up numbers: ``python tests/data/tables/make_corpus.py``.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
RNG = np.random.default_rng(11)


def walk(n: int, start: float = 100.0) -> np.ndarray:
    return np.round(start * np.exp(np.cumsum(RNG.normal(0, 0.01, n))), 2)


def ohlcv(n: int, start: float = 100.0) -> pd.DataFrame:
    close = walk(n, start)
    open_ = np.round(close * (1 + RNG.normal(0, 0.003, n)), 2)
    high = np.round(np.maximum(open_, close) * 1.004, 2)
    low = np.round(np.minimum(open_, close) * 0.996, 2)
    vol = RNG.integers(1_000_000, 9_000_000, n)
    return pd.DataFrame({"Open": open_, "High": high, "Low": low, "Close": close, "Volume": vol})


def bdays(n: int, start: str = "2024-01-02") -> pd.DatetimeIndex:
    return pd.bdate_range(start, periods=n)


def write(name: str, text: str | bytes, encoding: str = "utf-8") -> None:
    data = text.encode(encoding) if isinstance(text, str) else text
    (HERE / name).write_bytes(data)


def yfinance(tickers: list[str], n: int, names: list[str] | None = None, intraday: bool = False) -> str:
    fields = ["Close", "High", "Low", "Open", "Volume"]
    idx = (pd.date_range("2024-03-04 09:30", periods=n, freq="h", tz="America/New_York")
           if intraday else bdays(n))
    if intraday:
        idx = idx[(idx.hour >= 9) & (idx.hour <= 15) & (idx.day_of_week < 5)]
    parts = {}
    for i, t in enumerate(tickers):
        df = ohlcv(len(idx), 100 + 50 * i)
        for fld in fields:
            parts[(fld, t)] = df[fld].to_numpy()
    frame = pd.DataFrame(parts, index=idx)
    frame = frame.sort_index(axis=1, level=0, sort_remaining=False)
    if names:  # a Price row that holds the instruments' names, one column per ticker
        frame = pd.DataFrame({(nm, t): walk(len(idx), 100 + 10 * i)
                              for i, (nm, t) in enumerate(zip(names, tickers, strict=True))}, index=idx)
    frame.columns.names = ["Price", "Ticker"]
    frame.index.name = "Datetime" if intraday else "Date"
    buf = io.StringIO()
    frame.to_csv(buf)
    return buf.getvalue()


def main() -> None:
    write("yfinance_single_AAPL.csv", yfinance(["AAPL"], 60))
    write("yfinance_multi.csv", yfinance(["AAPL", "MSFT", "NVDA"], 60))
    write("yfinance_names_in_price_row.csv",
          yfinance(["AAPL", "MSFT"], 40, names=["Apple Inc.", "Microsoft Corporation"]))
    write("yfinance_intraday_1h_tz.csv", yfinance(["TSLA"], 24 * 10, intraday=True))

    # Yahoo's website download: Adj Close, 'null' rows
    d = bdays(50)
    df = ohlcv(50)
    df.insert(4, "Adj Close", np.round(df["Close"] * 0.98, 6))
    df.insert(0, "Date", d.strftime("%Y-%m-%d"))
    text = df.to_csv(index=False)
    lines = text.splitlines()
    for i in (7, 23):
        lines[i] = lines[i].split(",")[0] + ",null,null,null,null,null,null"
    write("yahoo_web_SPY.csv", "\n".join(lines) + "\n")

    # an old Yahoo file, newest first
    df = ohlcv(40)
    df.insert(4, "Adj Close", np.round(df["Close"] * 0.95, 6))
    df.insert(0, "Date", bdays(40, "2017-03-01").strftime("%Y-%m-%d"))
    write("yahoo_old_newest_first_IBM.csv", df.iloc[::-1].to_csv(index=False))

    # Kaggle all_stocks_5yr, with day-first dates
    frames = []
    for t, s in (("AAL", 14.0), ("AAPL", 67.0), ("ZTS", 33.0)):
        x = ohlcv(30, s).rename(columns=str.lower)
        x.insert(0, "date", bdays(30, "2013-02-08").strftime("%d/%m/%Y"))
        x["Name"] = t
        frames.append(x)
    write("kaggle_all_stocks_5yr.csv", pd.concat(frames).to_csv(index=False))

    # Nasdaq.com: Close/Last with $, newest first, MM/DD/YYYY
    x = ohlcv(45, 185)
    out = pd.DataFrame({"Date": bdays(45, "2024-01-02").strftime("%m/%d/%Y"),
                        "Close/Last": [f"${v:.2f}" for v in x["Close"]], "Volume": x["Volume"],
                        "Open": [f"${v:.2f}" for v in x["Open"]], "High": [f"${v:.2f}" for v in x["High"]],
                        "Low": [f"${v:.2f}" for v in x["Low"]]})
    write("HistoricalData_AAPL.csv", out.iloc[::-1].to_csv(index=False))

    # investing.com: everything quoted, thousands separators, Vol. with K/M/B, Change %
    x = ohlcv(35, 25600)
    vol = [f"{v / 1e6:.2f}M" if i % 7 else f"{v / 1e3:.2f}K" for i, v in enumerate(x["Volume"])]
    chg = np.round(np.r_[0.0, np.diff(x["Close"]) / x["Close"][:-1] * 100], 2)
    rows = ['"Date","Price","Open","High","Low","Vol.","Change %"']
    for i in range(34, -1, -1):
        day = bdays(35, "2024-01-02")[i].strftime("%m/%d/%Y")
        rows.append(",".join(f'"{v}"' for v in (day, f"{x['Close'][i]:,.2f}", f"{x['Open'][i]:,.2f}",
                                               f"{x['High'][i]:,.2f}", f"{x['Low'][i]:,.2f}", vol[i],
                                               f"{chg[i]:.2f}%")))
    write("investing_NSEI_historical_data.csv", "\n".join(rows) + "\n")

    # stooq hourly .txt: Date,Time,...,OpenInt
    idx = pd.date_range("2024-05-06 10:00", periods=90, freq="h")
    idx = idx[(idx.hour >= 10) & (idx.hour <= 16) & (idx.day_of_week < 5)]
    x = ohlcv(len(idx), 182)
    out = pd.DataFrame({"Date": idx.strftime("%Y-%m-%d"), "Time": idx.strftime("%H:%M:%S"), **x,
                        "OpenInt": 0})
    write("aapl_us_h.txt", out.to_csv(index=False))

    # stooq bulk download (<TICKER>,<PER>,<DATE>,<TIME>,...,<OPENINT>) 5-minute bars
    idx = pd.date_range("2024-05-06 15:35", periods=60, freq="5min")
    x = ohlcv(60, 170)
    out = pd.DataFrame({"<TICKER>": "MSFT.US", "<PER>": 5, "<DATE>": idx.strftime("%Y%m%d").astype(int),
                        "<TIME>": idx.strftime("%H%M%S").astype(int), "<OPEN>": x["Open"],
                        "<HIGH>": x["High"], "<LOW>": x["Low"], "<CLOSE>": x["Close"],
                        "<VOL>": x["Volume"], "<OPENINT>": 0})
    write("msft_us_5min_bulk.txt", out.to_csv(index=False))

    # Alpha Vantage TIME_SERIES_DAILY_ADJUSTED, newest first
    x = ohlcv(40, 190)
    out = pd.DataFrame({"timestamp": bdays(40, "2024-02-01").strftime("%Y-%m-%d"), "open": x["Open"],
                        "high": x["High"], "low": x["Low"], "close": x["Close"],
                        "adjusted_close": np.round(x["Close"] * 0.99, 4), "volume": x["Volume"],
                        "dividend_amount": 0.0, "split_coefficient": 1.0})
    out.loc[20, "dividend_amount"] = 0.24
    write("daily_adjusted_AAPL.csv", out.iloc[::-1].to_csv(index=False))

    # Quandl WIKI: Ex-Dividend, Split Ratio, Adj. columns; a 7:1 split in the middle
    x = ohlcv(40, 600)
    x.loc[20:, ["Open", "High", "Low", "Close"]] = (x.loc[20:, ["Open", "High", "Low", "Close"]] / 7).round(2)
    adj = x[["Open", "High", "Low", "Close"]].copy()
    adj.loc[:19] = (adj.loc[:19] / 7).round(4)
    out = pd.DataFrame({"Date": bdays(40, "2014-05-20").strftime("%Y-%m-%d"), **x[["Open", "High", "Low",
                        "Close", "Volume"]], "Ex-Dividend": 0.0, "Split Ratio": 1.0,
                        "Adj. Open": adj["Open"], "Adj. High": adj["High"], "Adj. Low": adj["Low"],
                        "Adj. Close": adj["Close"], "Adj. Volume": x["Volume"] * 7})
    out.loc[20, "Split Ratio"] = 7.0
    write("WIKI-AAPL.csv", out.iloc[::-1].to_csv(index=False))

    # Bybit: epoch milliseconds, a symbol column, every calendar day
    days = pd.date_range("2024-01-01", periods=40, freq="D")
    x = ohlcv(40, 42000)
    epoch_ms = (days - pd.Timestamp("1970-01-01")) // pd.Timedelta(milliseconds=1)
    out = pd.DataFrame({"timestamp": epoch_ms, "symbol": "BTCUSDT",
                        "open": x["Open"], "high": x["High"], "low": x["Low"], "close": x["Close"],
                        "volume": np.round(x["Volume"] / 1e4, 3), "turnover": np.round(x["Volume"] * 4.2, 1)})
    write("bybit_BTCUSDT_1d.csv", out.to_csv(index=False))

    # Binance 1-minute klines: float epoch seconds, Close time, Ignore
    t = pd.date_range("2024-03-01 00:00", periods=120, freq="min")
    x = ohlcv(120, 61000)
    secs = (t - pd.Timestamp("1970-01-01")) / pd.Timedelta(seconds=1)
    out = pd.DataFrame({"Open time": secs, "Open": x["Open"], "High": x["High"], "Low": x["Low"],
                        "Close": x["Close"], "Volume": np.round(x["Volume"] / 1e6, 5),
                        "Close time": secs + 59.999, "Quote asset volume": np.round(x["Volume"] * 61.0, 2),
                        "Number of trades": RNG.integers(100, 900, 120),
                        "Taker buy base asset volume": np.round(x["Volume"] / 2e6, 5),
                        "Taker buy quote asset volume": np.round(x["Volume"] * 30.0, 2), "Ignore": 0})
    write("BTCUSDT-1m-2024-03-01.csv", out.to_csv(index=False))

    # a central bank: ';' separated, decimal commas, '-' for missing, Icelandic headers, cp1252
    d = bdays(30, "2024-01-02")
    rows = ["Dagsetning;USD;EUR;GBP"]
    usd, eur, gbp = walk(30, 138.5), walk(30, 151.2), walk(30, 175.9)
    for i in range(30):
        g = "-" if i in (4, 5) else f"{gbp[i]:.2f}".replace(".", ",")
        usd_i, eur_i = str(usd[i]).replace(".", ","), str(eur[i]).replace(".", ",")
        rows.append(f"{d[i]:%d.%m.%Y};{usd_i};{eur_i};{g}")
    write("gengi_sedlabanki.csv", "Miðgengi gjaldmiðla\r\n" + "\r\n".join(rows) + "\r\n", encoding="cp1252")

    # FRED, old (DATE, '.' for missing) and new (observation_date, blanks)
    d = bdays(50, "2023-01-02")
    v = walk(50, 3850)
    rows = ["DATE,SP500"] + [f"{a:%Y-%m-%d},{'.' if i in (10, 30) else v[i]}" for i, a in enumerate(d)]
    write("SP500.csv", "\n".join(rows) + "\n")
    d = bdays(50, "2024-01-02")
    v = np.round(walk(50, 4.0) / 100 * 100, 2)
    rows = ["observation_date,DGS10"] + [f"{a:%Y-%m-%d},{'' if i == 12 else v[i]}" for i, a in enumerate(d)]
    write("DGS10.csv", "\n".join(rows) + "\n")

    # 27 tickers on several exchanges, each with its own holidays
    exchanges = {"US": ["AAPL", "MSFT", "JPM", "XOM", "KO", "PG", "NVDA", "AMZN", "META"],
                 "L": ["HSBA.L", "BP.L", "SHEL.L", "AZN.L", "ULVR.L", "RIO.L"],
                 "T": ["7203.T", "6758.T", "9984.T", "8306.T", "6861.T", "9432.T"],
                 "DE": ["SAP.DE", "SIE.DE", "ALV.DE", "BAS.DE", "DTE.DE", "BMW.DE"]}
    holidays = {"US": ["2024-01-15", "2024-02-19"], "L": ["2024-01-01"], "T": ["2024-01-02", "2024-01-03",
                "2024-01-08", "2024-02-12"], "DE": ["2024-01-01"]}
    frames = []
    for ex, ticks in exchanges.items():
        days = bdays(45, "2024-01-01")
        days = days[~days.isin(pd.to_datetime(holidays[ex]))]
        for i, t in enumerate(ticks):
            frames.append(pd.DataFrame({"Date": days.strftime("%Y-%m-%d"), "Ticker": t,
                                        "Close": walk(len(days), 50 + 13 * i)}))
    write("multi_exchange_27.csv", pd.concat(frames).sort_values(["Date", "Ticker"]).to_csv(index=False))

    # workbooks
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    ws.append(["Date", "Close", "Volume"])
    x = ohlcv(30, 410)
    for day, c, vv in zip(bdays(30, "2024-04-01"), x["Close"], x["Volume"], strict=True):
        serial = (day - pd.Timestamp("1899-12-30")).days
        ws.append([serial, float(c), int(vv)])  # serial numbers without a date format
    buf = io.BytesIO()
    wb.save(buf)
    write("export_MSFT_serial_dates.csv", buf.getvalue())  # an .xlsx under a .csv name

    wb = Workbook()
    ws = wb.active
    ws.title = "README"
    ws.append(["readme"])
    ws.append(["Prices downloaded from the terminal; see the Prices sheet."])
    ws2 = wb.create_sheet("Prices")
    ws2.append(["Date", "NVDA", "AMD"])
    for day, a, b in zip(bdays(30, "2024-06-03"), walk(30, 120), walk(30, 160), strict=True):
        ws2.append([day.to_pydatetime(), float(a), float(b)])
    buf = io.BytesIO()
    wb.save(buf)
    write("workbook_readme_first.xlsx", buf.getvalue())

    wb = Workbook()
    for k, (sheet, start) in enumerate((("AAPL", 190.0), ("MSFT", 410.0))):
        ws = wb.active if k == 0 else wb.create_sheet()
        ws.title = sheet
        ws.append(["Date", "Open", "High", "Low", "Close", "Volume"])
        x = ohlcv(25, start)
        for j, day in enumerate(bdays(25, "2024-07-01")):
            ws.append([day.to_pydatetime(), *(float(x[c][j]) for c in ("Open", "High", "Low", "Close")),
                       int(x["Volume"][j])])
    buf = io.BytesIO()
    wb.save(buf)
    write("workbook_two_sheets.xlsx", buf.getvalue())

    # monthly (month ends, wide) and weekly (one series)
    m = pd.date_range("2019-01-31", periods=48, freq="ME")
    write("monthly_prices.csv", pd.DataFrame({"Date": m.strftime("%Y-%m-%d"), "SPY": walk(48, 250),
                                              "AGG": walk(48, 105)}).to_csv(index=False))
    w = pd.date_range("2023-01-06", periods=60, freq="W-FRI")
    write("weekly_QQQ.csv", pd.DataFrame({"Date": w.strftime("%Y-%m-%d"), "Adj Close": walk(60, 270),
                                          "Volume": RNG.integers(10**7, 9 * 10**7, 60)}).to_csv(index=False))

    # Binance's own kline files (data.binance.vision) have no header row; epoch milliseconds
    t = pd.date_range("2024-03-02 00:00", periods=90, freq="min")
    x = ohlcv(90, 62000)
    ms = (t - pd.Timestamp("1970-01-01")) // pd.Timedelta(milliseconds=1)
    out = pd.DataFrame({"a": ms, "o": x["Open"], "h": x["High"], "l": x["Low"], "c": x["Close"],
                        "v": np.round(x["Volume"] / 1e6, 5), "ct": ms + 59_999,
                        "q": np.round(x["Volume"] * 62.0, 2), "n": RNG.integers(100, 900, 90),
                        "tb": np.round(x["Volume"] / 2e6, 5), "tq": np.round(x["Volume"] * 31.0, 2), "i": 0})
    write("BTCUSDT-1m-2024-03-02-noheader.csv", out.to_csv(index=False, header=False))


if __name__ == "__main__":
    main()
