"""A stored run (or a whole session) as a Jupyter notebook or a zip.

The notebook runs top to bottom in a fresh kernel: its first cell writes the
run's attached files into the working folder (from base64 embedded in the cell,
or, for very large files, from the store's blobs), the prompts are markdown,
the agent's code is code cells carrying the outputs it had (text, errors,
images). The zip holds the returned files, the attached files, ``run.json``
and ``events.jsonl`` (one ``event_to_dict`` object a line, bytes left out).

Command line: ``python -m agent_core export RUN_ID --format ipynb|zip [--out PATH]``.
"""
from __future__ import annotations

import base64
import io
import json
import os
import sys
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any

from agent_core.csv_safety import safe_copy_name, spreadsheet_safe
from agent_core.csv_safety import scan as scan_formulas
from agent_core.events import (
    AgentFailure,
    CodeError,
    CodeInvocation,
    CodeOutput,
    CodeTimeout,
    FileReturned,
    FinalResponse,
    Rationale,
    TextChunk,
    event_to_dict,
)
from agent_core.failures import AgentDeskError
from agent_core.files import AttachedFile, NameDeduper, safe_name
from agent_core.safe_text import neutralise_markdown

if TYPE_CHECKING:  # nbformat is imported when a notebook is made, not at import
    from nbformat import NotebookNode

    from agent_core.store import RunInfo, RunStore

EMBED_LIMIT_BYTES = 20 * 1024 * 1024  # attachments up to this total are embedded in the notebook
FORMATS = ("ipynb", "zip")
_IMAGE_MIME = {"image/png", "image/jpeg", "image/gif"}


class ExportError(AgentDeskError, ValueError):
    """The export cannot be made; the message says why and what to do."""

    kind = "export"


class ExportNotYoursError(ExportError):
    """The run or session belongs to another user."""

    kind = "access_denied"


# --- notebook ---------------------------------------------------------------------
# The notebook's first cell: the attached files, written into the working folder.
EMBEDDED_FILES_CELL = Template("""\
# The files attached to this run, written into the working folder.
from pathlib import Path
import base64
_attached = {
$entries
}
for _name, _b64 in _attached.items():
    Path(_name).write_bytes(base64.b64decode(_b64))
print('attached:', ', '.join(_attached))""")
COPIED_FILES_CELL = Template("""\
# The files attached to this run, written into the working folder.
from pathlib import Path
import shutil
_attached = {
$entries
}
for _name, _blob in _attached.items():
    shutil.copyfile(_blob, _name)
print('attached:', ', '.join(_attached))""")


def _load_files_cell(store: RunStore, run_ids: Sequence[str]) -> str | None:
    files: dict[str, AttachedFile] = {}
    for run_id in run_ids:
        for f in store.attached_files(run_id):
            files[f.name] = f  # the latest of each name wins
    if not files:
        return None
    small = sum(f.size for f in files.values()) <= EMBED_LIMIT_BYTES
    if small or not store.files_on_disk:  # the bytes go in the cell (no file to point at)
        entries = [f"    {safe_name(f.name)!r}: {base64.b64encode(f.data).decode('ascii')!r},"
                   for f in files.values()]
        return EMBEDDED_FILES_CELL.substitute(entries="\n".join(entries))
    entries = [f"    {safe_name(a.name)!r}: {str(store.blob_path(a.sha))!r},"
               for run_id in run_ids for a in store.run_attachments(run_id)]
    return COPIED_FILES_CELL.substitute(entries="\n".join(entries))


def _error_output(nbf: Any, text: str) -> Any:
    last = text.strip().splitlines()[-1] if text.strip() else "Error"
    name, _, value = last.partition(":")
    if not value or " " in name.strip():
        name, value = "Error", last
    return nbf.new_output("error", ename=name.strip(), evalue=value.strip(),
                          traceback=text.rstrip("\n").splitlines())


def check_owner(infos: Iterable[RunInfo], owner: str | None) -> None:
    """Refuse to export runs of another user (``owner`` None: a single-user install or the
    operator's CLI, no check). Runs nobody owns (written before users) are exportable."""
    if owner is not None and any(i.owner not in (None, owner) for i in infos):
        raise ExportNotYoursError("This run belongs to another user: it cannot be exported.")


def run_to_notebook(store: RunStore, run_ids: str | Sequence[str], *,
                    owner: str | None = None) -> NotebookNode:
    """One notebook for one run or several (a session: pass its runs, oldest first);
    ``owner``: the user asking (see :func:`check_owner`)."""
    import nbformat.v4 as nbf

    ids = [run_ids] if isinstance(run_ids, str) else list(run_ids)
    if not ids:
        raise ExportError("Nothing to export: choose at least one run.")
    infos = [store.get_run(r) for r in ids]
    check_owner(infos, owner)
    nb = nbf.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["agent_desk"] = {"runs": ids, "sessions": sorted({i.session_id for i in infos})}
    title = (f"# Agent Desk run {ids[0]}" if len(ids) == 1
             else f"# Agent Desk session {infos[0].session_id} ({len(ids)} runs)")
    nb.cells.append(nbf.new_markdown_cell(
        f"{title}\n\nBackend: `{infos[0].backend}`. Exported from the run history; "
        "run all cells to reproduce the agent's code in this folder."))
    loader = _load_files_cell(store, ids)
    if loader:
        nb.cells.append(nbf.new_code_cell(loader))

    for info in infos:
        quoted = "\n".join("> " + line for line in (info.prompt or "").splitlines()) or "> (empty)"
        nb.cells.append(nbf.new_markdown_cell(
            f"## Prompt ({info.started_at:%Y-%m-%d %H:%M} UTC, {info.outcome})\n\n{quoted}"))
        cell = None
        answer: list[str] = []
        final: str | None = None
        others: list[str] = []
        for ev in store.run_events(info.id):
            if isinstance(ev, CodeInvocation):
                cell = nbf.new_code_cell(ev.code)
                nb.cells.append(cell)
            elif isinstance(ev, Rationale) and ev.text.strip():
                nb.cells.append(nbf.new_markdown_cell(f"*{ev.text.strip()}*"))
            elif isinstance(ev, CodeOutput) and cell is not None:
                cell.outputs.append(nbf.new_output("stream", name="stdout", text=ev.text))
            elif isinstance(ev, CodeError) and cell is not None:
                cell.outputs.append(_error_output(nbf, ev.text))
            elif isinstance(ev, CodeTimeout) and cell is not None:
                cell.outputs.append(nbf.new_output("stream", name="stderr", text=ev.message + "\n"))
            elif isinstance(ev, FileReturned):
                f = ev.file
                if f.is_image and f.sniffed_type in _IMAGE_MIME and cell is not None:
                    cell.outputs.append(nbf.new_output(
                        "display_data", data={f.sniffed_type: base64.b64encode(f.data).decode("ascii"),
                                              "text/plain": f"<{f.name}>"},
                        metadata={"filename": f.name}))
                else:
                    others.append(f"`{f.name}` ({f.media_type}, {f.size:,} bytes)")
            elif isinstance(ev, TextChunk):
                answer.append(ev.text)
            elif isinstance(ev, FinalResponse):
                final = ev.text
            elif isinstance(ev, AgentFailure):
                others.append(f"The run failed ({ev.kind}): {ev.message}")
        text = "".join(answer) or final
        if text and text.strip():
            nb.cells.append(nbf.new_markdown_cell(f"**Agent:** {neutralise_markdown(text.strip())}"))
        if others:
            nb.cells.append(nbf.new_markdown_cell("Also returned:\n\n" + "\n".join(f"- {o}" for o in others)))
    nbf_validate(nb)
    return nb


def nbf_validate(nb: NotebookNode) -> None:
    import nbformat

    nbformat.validate(nb)


def session_to_notebook(store: RunStore, session_id: str, *, owner: str | None = None) -> NotebookNode:
    runs = sorted(store.list_runs(session=session_id, limit=100_000), key=lambda r: r.started)
    if not runs:
        raise ExportError(f"No runs in session {session_id!r}.")
    if owner is not None and store.session_owner(session_id) not in (None, owner):
        raise ExportNotYoursError("This session belongs to another user: it cannot be exported.")
    return run_to_notebook(store, [r.id for r in runs], owner=owner)


def notebook_bytes(nb: NotebookNode) -> bytes:
    import nbformat

    return nbformat.writes(nb).encode("utf-8")


# --- zip --------------------------------------------------------------------------
def events_jsonl(events: Iterable[Any]) -> str:
    return "".join(json.dumps(event_to_dict(e), ensure_ascii=False, default=str) + "\n" for e in events)


def run_to_zip(store: RunStore, run_id: str, *, owner: str | None = None) -> bytes:
    """The run's returned files (``files/``), attached files (``attached/``),
    ``run.json`` and ``events.jsonl``; ``owner``: the user asking (see :func:`check_owner`)."""
    info = store.get_run(run_id)
    check_owner([info], owner)
    events = store.run_events(run_id)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        names = NameDeduper()
        formulas: dict[str, int] = {}
        for ev in events:
            if isinstance(ev, FileReturned):
                name = names.unique(safe_name(ev.file.name))
                zf.writestr(f"files/{name}", ev.file.data)
                if ev.file.media_type in ("text/csv", "text/tab-separated-values"):
                    found = scan_formulas(ev.file.data)
                    if found.cells:  # flagged in run.json, with a copy safe to open in a spreadsheet
                        formulas[name] = found.cells
                        safe = names.unique(safe_copy_name(name))
                        zf.writestr(f"files/{safe}", spreadsheet_safe(ev.file.data))
        attached = NameDeduper()
        for f in store.attached_files(run_id):
            zf.writestr(f"attached/{attached.unique(safe_name(f.name))}", f.data)
        meta = asdict(info)
        meta["settings"] = dict(info.settings)
        if formulas:
            meta["formula_like_cells"] = {
                "why": "cells starting with =, +, - or @ run as formulas in a spreadsheet; open the "
                       "*.spreadsheet-safe.* copies instead",
                "files": formulas}
        zf.writestr("run.json", json.dumps(meta, indent=2, default=str))
        zf.writestr("events.jsonl", events_jsonl(events))
    return buf.getvalue()


def export_filename(run_id: str, fmt: str) -> str:
    return f"{safe_name(run_id, default='run')}.{fmt}"


# --- command line -------------------------------------------------------------------
def add_export_arguments(parser: Any) -> None:
    """Arguments of ``python -m agent_core export`` (an argparse (sub)parser)."""
    parser.add_argument("run_id", metavar="RUN_ID",
                        help="the run to export (see the History page), or a session id with --session")
    parser.add_argument("--format", choices=FORMATS, default="ipynb", dest="export_format",
                        help="ipynb: a notebook that reruns the code; zip: files + events.jsonl")
    parser.add_argument("--session", action="store_true",
                        help="RUN_ID is a session id: export all its runs in one notebook")
    parser.add_argument("--out", metavar="PATH", default=None,
                        help="where to write (default: RUN_ID.ipynb / RUN_ID.zip here)")
    parser.add_argument("--home", metavar="DIR", default=None,
                        help="the Agent Desk home holding the run store (default: AGENT_DESK_HOME)")


def cli_main(args: Any) -> int:
    from agent_core.store import STORE_URL_ENV, RunNotFoundError, RunStore, StoreError, default_home

    fmt = getattr(args, "export_format", None) or getattr(args, "format", None) or "ipynb"
    home = Path(args.home).expanduser() if getattr(args, "home", None) else default_home()
    if not os.environ.get(STORE_URL_ENV, "").strip() and not (home / "runs.sqlite3").exists():
        print(f"No run store at {home}; set AGENT_DESK_HOME or pass --home.", file=sys.stderr)
        return 2
    try:
        with RunStore(home, recover=False) as store:
            if getattr(args, "session", False):
                if fmt != "ipynb":
                    print("A session exports as a notebook only (--format ipynb).", file=sys.stderr)
                    return 2
                data = notebook_bytes(session_to_notebook(store, args.run_id))
            elif fmt == "zip":
                data = run_to_zip(store, args.run_id)
            else:
                data = notebook_bytes(run_to_notebook(store, args.run_id))
    except (RunNotFoundError, ExportError, StoreError) as exc:
        print(f"{exc}", file=sys.stderr)
        return 2
    out = Path(args.out) if getattr(args, "out", None) else Path(export_filename(args.run_id, fmt))
    if out.is_dir():
        out = out / export_filename(args.run_id, fmt)
    out.write_bytes(data)
    print(out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m agent_core.export", description=__doc__.split("\n")[0])
    add_export_arguments(parser)
    return cli_main(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
