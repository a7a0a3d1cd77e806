"""``python -m agent_core inspect FILE [--sheet NAME] [--json]``: a file's table profile.

Exit status: 0 when the file is usable, 1 when it is not (the reason is printed), 2 for bad
usage (no such file, a file over the size limit: checked before reading a byte of it).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, TextIO

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_inspect(sub: Any) -> None:
    p = sub.add_parser("inspect", help="read a price file and print what it holds",
                       description="Read a table file the way the Upload page does and print its "
                                   "profile: layout, dates, tickers, column roles, frequency, problems, "
                                   "and the pandas code that reads it.")
    p.add_argument("file", help="the CSV / TSV / TXT / XLSX / Parquet / JSON file")
    p.add_argument("--sheet", help="the workbook sheet to read (default: the first with dates and numbers)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of words")
    p.set_defaults(handler=run_inspect)


def run_inspect(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from agent_core.tables import DEFAULT_LIMITS, read_table, verdict_text

    path = Path(args.file).expanduser()
    if not path.is_file():
        print(f"error: {args.file}: no such file. Check the path.", file=err)
        return EXIT_USAGE
    size = path.stat().st_size
    if size > DEFAULT_LIMITS.max_bytes:
        print(f"error: {args.file} is {size / 1048576:,.0f} MB; the limit is "
              f"{DEFAULT_LIMITS.max_bytes / 1048576:,.0f} MB. Cut it to a shorter date range.", file=err)
        return EXIT_USAGE
    try:
        data = path.read_bytes()
    except OSError as exc:
        print(f"error: {args.file}: cannot read it ({exc.strerror}).", file=err)
        return EXIT_USAGE
    result = read_table(path.name, data, sheet=args.sheet)
    profile = result.profile
    if args.json:
        out.write(json.dumps(profile.to_dict(), ensure_ascii=False, indent=2) + "\n")
    else:
        out.write(verdict_text(profile))
    return EXIT_OK if result.ok else EXIT_FAILED
