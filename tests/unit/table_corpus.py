"""The vendor-shaped corpus under tests/data/tables/ and the fields its expected profiles pin."""
from __future__ import annotations

from pathlib import Path

CORPUS = Path(__file__).resolve().parent.parent / "data" / "tables"
FILES = sorted(p for p in CORPUS.iterdir()
               if p.suffix in (".csv", ".txt", ".xlsx") and not p.name.endswith(".expected.json"))
PINNED = ("usable", "layout", "date_column", "date_format", "ticker_column", "tickers", "tickers_from",
          "value_column", "price_columns", "volume_column", "frequency", "bar", "periods_per_year",
          "rows", "tidy_rows", "start", "end", "sheet", "delimiter", "decimal", "thousands",
          "header_rows", "encoding")


def expected_path(path: Path) -> Path:
    return path.with_name(path.name + ".expected.json")


def pinned(profile: dict) -> dict:
    out = {k: profile.get(k) for k in PINNED}
    out["columns"] = {c["name"]: [c["role"], c["kept"], c["unit"]] for c in profile["columns"]}
    out["dropped_columns"] = sorted(d["name"] for d in profile["dropped_columns"])
    return out
