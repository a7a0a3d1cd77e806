"""``python -m agent_core store copy --from HOME --to URL``: bring a run history into another
store (from SQLite on one machine to the team's PostgreSQL). See agent_core.store.copying.

Exit status: 0 when every run of the source is in the target, 1 when the copy failed or left
runs behind (still running, or a file missing in the source: each is named), 2 for bad usage
(no such path, not a store, a URL that is not postgresql://).
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any, TextIO

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_store(sub: Any) -> None:
    p = sub.add_parser("store", help="the run store: copy a history into another store",
                       description="Work on the run store itself.")
    actions = p.add_subparsers(dest="store_command", metavar="ACTION", required=True)
    c = actions.add_parser(
        "copy", help="copy every run, session and file of a SQLite store into another store",
        description="Copy every run (events, files, outcome, owner, times), session and kept file of "
                    "a SQLite store into another store, typically the team's PostgreSQL. The source "
                    "is never written (it is read from a snapshot); runs the target already has are "
                    "skipped, so running it again copies only what is new. A run still running in the "
                    "source is left behind and named: copy again once it has ended. Exit status: 0 "
                    "all copied, 1 failed or runs left behind, 2 bad usage.")
    c.add_argument("--from", dest="source", metavar="PATH", default=None,
                   help="the SQLite store to copy: an Agent Desk home folder or its runs.sqlite3 "
                        "(default: AGENT_DESK_HOME, else ~/.agent-desk)")
    c.add_argument("--to", dest="target", metavar="URL", default=None,
                   help="the store to copy into: postgresql://user[:password]@host:5432/database, or a "
                        "folder for another SQLite store (default: AGENT_DESK_STORE_URL); created and "
                        "migrated as the app would")
    c.add_argument("--from-files", metavar="s3://BUCKET/PREFIX", default=None,
                   help="where the source's file bytes are when it kept them on S3 (default: its "
                        "blobs/ folder)")
    c.add_argument("--to-files", metavar="s3://BUCKET/PREFIX", default=None,
                   help="where the target keeps file bytes: set it as the app replicas' "
                        "AGENT_DESK_FILES_URL (default: that variable, else the target's own place)")
    c.set_defaults(handler=run_store_copy)


def _mb(n: int) -> str:
    return f"{n / 1048576:,.1f} MB" if n >= 1048576 else f"{n / 1024:,.0f} kB"


class _Progress:
    """A line at most every ``every`` seconds, and one at the end."""

    def __init__(self, out: TextIO, every: float = 1.0) -> None:
        self.out, self.every, self.last = out, every, time.monotonic()

    def __call__(self, report: Any) -> None:
        now = time.monotonic()
        if now - self.last < self.every and report.runs_done < report.runs_total:
            return
        self.last = now
        self.out.write(f"  {report.runs_done}/{report.runs_total} runs: {report.runs_copied} copied, "
                       f"{report.runs_skipped} already there; {report.files} files "
                       f"({_mb(report.bytes)}), {report.seconds:.1f} s\n")
        self.out.flush()


def run_store_copy(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from agent_core.store import STORE_URL_ENV, StoreError, default_home
    from agent_core.store.blobs import FILES_URL_ENV
    from agent_core.store.copying import (
        CopyError,
        copy_store,
        open_source,
        open_target,
        source_database,
        target_kind,
    )

    if args.source and "://" in args.source:
        print("error: --from takes a SQLite store (an Agent Desk home folder or its runs.sqlite3); "
              "copying out of PostgreSQL is not offered: use pg_dump.", file=err)
        return EXIT_USAGE
    source = Path(args.source).expanduser() if args.source else default_home()
    target = args.target or os.environ.get(STORE_URL_ENV, "").strip()
    to_files = args.to_files if args.to_files is not None else os.environ.get(FILES_URL_ENV, "").strip()
    if not target:
        print(f"error: give the store to copy into with --to postgresql://user@host:5432/database "
              f"(or set {STORE_URL_ENV}).", file=err)
        return EXIT_USAGE
    try:
        target_kind(target)
        with open_source(source, args.from_files) as src:
            try:
                dst = open_target(target, to_files, source=source)
            except CopyError:
                raise
            except StoreError as exc:  # unreachable server, no such database, bad login
                print(f"error: {exc}".replace(f"and {STORE_URL_ENV} names", "and --to names")
                      .replace(f"{STORE_URL_ENV} must", "--to must"), file=err)
                return EXIT_FAILED
            with dst:
                out.write(f"Copying {source_database(source)} (read from a snapshot: the source "
                          "is not written)\n"
                          f"     to {dst.location}\n  files to {dst.blobs.describe()}\n")
                out.flush()
                report = copy_store(src, dst, progress=_Progress(out))
    except CopyError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_USAGE if exc.usage else EXIT_FAILED
    except StoreError as exc:  # the source cannot be opened (too new, damaged)
        print(f"error: {exc}", file=err)
        return EXIT_FAILED
    rate = report.runs_copied / report.seconds if report.seconds > 0 else 0.0
    out.write(f"Done in {report.seconds:.1f} s: {report.runs_copied} runs copied ({rate:,.0f} runs/s), "
              f"{report.runs_skipped} already in the target; {report.sessions_copied} sessions copied, "
              f"{report.sessions_skipped} already there; {report.files} files ({_mb(report.bytes)}); "
              f"{report.retention_entries} retention log entries.\n")
    for run_id in report.runs_running:
        print(f"not copied: run {run_id} is still running in the source (an app is recording it). "
              "Let it end, then run the same command again: it copies only what is new.", file=err)
    for what, why in report.runs_failed:
        print(f"not copied: {what}: {why}", file=err)
    return EXIT_OK if report.complete else EXIT_FAILED
