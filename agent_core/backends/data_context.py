"""Describes the attached files for a chat model's system prompt (Converse, OpenAI-compatible).

Every table goes through :func:`agent_core.tables.read_table`, the reader the Upload page
uses. For a price table the model gets the profile in words (layout, tickers, frequency,
the role of each column, what was set aside and why), the pandas code that reads the file
exactly as the Upload page did, and the first rows of the tidy frame; for any other table
its columns, the code that reads it and a few rows; never the whole file. Other files are
listed by name, type and size.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agent_core.files import AttachedFile

SAMPLE_ROWS = 5
MAX_COLUMNS = 40
MAX_CELL = 40

_TABLE_EXT = (".csv", ".tsv", ".txt", ".xlsx", ".xls", ".parquet", ".json")


@dataclass(frozen=True)
class TableSummary:
    name: str
    rows: int
    columns: tuple[tuple[str, str], ...]  # (name, dtype) of the frame the read code gives
    read_code: str
    sample: str                            # a few rows as CSV text
    profile_text: str = ""                 # the price profile in words ("" for other tables)


def describe_files(files: Sequence[AttachedFile]) -> str:
    """Text for the system prompt about every attached file ("" when none)."""
    if not files:
        return ""
    parts = []
    for f in files:
        summary = summarize_table(f)
        if summary is None:
            parts.append(f"- `{f.name}` ({f.media_type}, {f.size:,} bytes): not read as a table.")
            continue
        cols = ", ".join(f"{c} ({t})" for c, t in summary.columns[:MAX_COLUMNS])
        if len(summary.columns) > MAX_COLUMNS:
            cols += f", ... ({len(summary.columns) - MAX_COLUMNS} more)"
        lines = [f"- `{summary.name}`: {summary.rows:,} rows; columns: {cols}."]
        if summary.profile_text:
            lines.append(summary.profile_text)
        lines.append("  Read it with exactly this code (it gives `df` as shown):\n```python\n"
                     f"{summary.read_code.rstrip()}\n```")
        lines.append(f"  First rows of `df`:\n```\n{summary.sample.rstrip()}\n```")
        parts.append("\n".join(lines))
    return "\n".join(parts)


def summarize_table(f: AttachedFile) -> TableSummary | None:
    """A :class:`TableSummary` when the file reads as a table, else None."""
    from agent_core.tables import read_table

    name = f.name.lower()
    if not name.endswith(_TABLE_EXT) and f.media_type not in ("text/csv", "text/tab-separated-values"):
        return None
    result = read_table(f.name, f.data, sheet=f.sheet)
    df = result.frame if result.ok else result.raw
    if df is None or df.shape[1] == 0 or not result.profile.read_code:
        return None
    sample = df.head(SAMPLE_ROWS).iloc[:, :MAX_COLUMNS].copy()
    for col in sample.columns:
        if sample[col].dtype == object or str(sample[col].dtype) in ("str", "string"):
            sample[col] = sample[col].astype(str).str.slice(0, MAX_CELL)
    return TableSummary(
        name=f.name, rows=int(len(df)), columns=tuple((str(c), str(t)) for c, t in df.dtypes.items()),
        read_code=result.profile.read_code, sample=sample.to_csv(index=False),
        profile_text=_profile_words(result.profile) if result.ok else "")


def _profile_words(p) -> str:
    roles = "; ".join(f"{c.name}: {c.role}" + (f" ({c.unit})" if c.unit else "")
                      for c in p.columns if c.kept)
    lines = [f"  {p.summary()}.",
             f"  Frequency: {p.frequency.words()}"
             + (f", {p.periods_per_year:g} periods a year (use it to annualise)." if p.periods_per_year
                else "."),
             f"  Value column: {p.value_column or 'one column per ticker'}; column roles: {roles}."]
    if p.dropped_columns:
        aside = "; ".join(f"{d.name} ({d.reason})" for d in p.dropped_columns)
        lines.append(f"  Set aside by the reader: {aside}.")
    if p.problems:
        lines.append("  Noted when reading: " + " ".join(p.problems))
    return "\n".join(lines)
