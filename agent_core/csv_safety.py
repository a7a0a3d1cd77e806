"""Cells a spreadsheet would run as formulas (CSV injection).

A cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return before
one) is a formula to Excel, LibreOffice and Google Sheets: ``=HYPERLINK(...)`` or
``=WEBSERVICE(...)`` in a returned CSV can send data away when the analyst opens it.
Plain numbers (``-5.2``, ``+3``) are not flagged. :func:`spreadsheet_safe` writes a copy
with each such cell prefixed by ``'`` (the spreadsheet convention for "text").
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?%?$")
MAX_SCAN_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class FormulaScan:
    cells: int                 # formula-like cells found
    examples: tuple[str, ...]  # the first few, shortened


def is_formula_like(cell: str) -> bool:
    return bool(cell) and cell.startswith(_TRIGGERS) and not _NUMBER.match(cell.strip())


def _delimiter(text: str) -> str:
    try:
        return csv.Sniffer().sniff(text[:4096], delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _decode(data: bytes) -> str | None:
    if len(data) > MAX_SCAN_BYTES:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def scan(data: bytes) -> FormulaScan:
    """Count the formula-like cells of a CSV/TSV file."""
    text = _decode(data)
    if text is None:
        return FormulaScan(0, ())
    found = 0
    examples: list[str] = []
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text)):
            for cell in row:
                if is_formula_like(cell):
                    found += 1
                    if len(examples) < 3:
                        examples.append(cell[:40])
    except csv.Error:
        pass
    return FormulaScan(found, tuple(examples))


def spreadsheet_safe(data: bytes) -> bytes:
    """The same table with every formula-like cell prefixed by ``'``."""
    text = _decode(data)
    if text is None:
        return data
    delimiter = _delimiter(text)
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
        writer.writerow(["'" + c if is_formula_like(c) else c for c in row])
    return out.getvalue().encode("utf-8")


def safe_copy_name(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return f"{stem}.spreadsheet-safe.{ext}" if dot and stem else f"{name}.spreadsheet-safe.csv"
