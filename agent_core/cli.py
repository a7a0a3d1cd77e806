"""The command line: ``python -m agent_core ask "PROMPT" ...`` runs one request headless.

Exit status: 0 for a run whose outcome is ``completed`` (agent_core.run), 1 for any other outcome
(or hit ``--timeout``), 2 for bad usage (a missing file, a bad setting).
Subcommands are registered in :func:`register_subcommands`.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from agent_core.config import BACKENDS, EXECUTORS
from agent_core.failures import AgentDeskError
from agent_core.safe_text import strip_terminal_controls

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

_EPILOG = """\
examples:
  python -m agent_core ask "Plot the 20-day moving average" --file prices.csv --out results
  python -m agent_core ask "Summarise the data" --backend bedrock --agent-id ABC123 \\
      --agent-alias-id TSTALIASID --json
  python -m agent_core ask "Plot the closing price" --backend openai \
      --base-url http://localhost:11434/v1 --model qwen2.5:7b --file prices.csv
  python -m agent_core export RUN_ID --format zip

Every flag overrides the matching environment variable / .streamlit/secrets.toml [agent] key.
AWS credentials come from the standard boto3 chain (AWS_PROFILE, ~/.aws, environment, role);
the openai backend's key from OPENAI_API_KEY; they are never printed.
Run `python -m agent_core ask --help` for every flag of `ask`.
"""


class UsageError(AgentDeskError):
    """Bad command-line input; the message says what to do (exit status 2)."""

    kind = "usage"


# --- parser ---------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m agent_core",
        description="Agent Desk engine, headless: ask a code-interpreter agent, export runs.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    register_subcommands(sub)
    _help_lists_every_flag(parser, sub)
    return parser


def _help_lists_every_flag(parser: argparse.ArgumentParser, sub: Any) -> None:
    """``python -m agent_core --help`` explains every flag: the top-level help is
    followed by each subcommand's own help."""
    top_level = parser.format_help

    def format_help() -> str:
        parts = [top_level()]
        for name, subparser in _nested(sub):
            parts.append(f"\n=== python -m agent_core {name} ===\n{subparser.format_help()}")
        return "".join(parts)

    parser.format_help = format_help  # type: ignore[method-assign]


def _nested(sub: Any, prefix: str = "") -> Any:
    """(name, parser) of every subcommand, and of theirs (``store copy``)."""
    for name, subparser in sub.choices.items():
        yield prefix + name, subparser
        for action in subparser._actions:
            if isinstance(action, argparse._SubParsersAction):
                yield from _nested(action, f"{prefix}{name} ")


def register_subcommands(sub: Any) -> None:
    """Every subcommand of ``python -m agent_core``; add new ones here."""
    _add_ask(sub)
    _add_export(sub)
    from agent_core.cli_inspect import add_inspect

    add_inspect(sub)
    from agent_core.cli_store import add_store

    add_store(sub)


def _add_ask(sub: Any) -> None:
    p = sub.add_parser(
        "ask", help="send one request to the agent and print its events",
        description="Send one request to the agent, print every event as it arrives "
                    "(a transcript, or JSON lines with --json) and save returned files. "
                    "Exit status: 0 completed, 1 any other outcome (completed with problems, refused, "
                    "failed, stopped), 2 bad usage. With --json the last line is the RunEnd event "
                    "with the outcome.",
    )
    p.add_argument("prompt", metavar="PROMPT", help="what to ask the agent")
    p.add_argument("--backend", choices=BACKENDS, default=None,
                   help="which agent to use (default: AGENT_BACKEND, else local)")
    p.add_argument("--file", dest="files", action="append", default=[], metavar="PATH",
                   help="attach a file for the code interpreter (repeat for more; Bedrock "
                        "takes at most 5 files, 10 MB in all)")
    p.add_argument("--session", metavar="ID", default=None,
                   help="continue this session (2-100 characters of letters, digits and "
                        ". _ : -); default: a new session")
    p.add_argument("--memory-id", metavar="ID", default=None,
                   help="Bedrock agent memory id (bedrock backend)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="save returned files in DIR under safe names (never outside it)")
    p.add_argument("--json", action="store_true",
                   help='print one JSON object per event: {"event": "<class>", ...fields}; '
                        "file bytes left out, their safe name and size kept")
    p.add_argument("--timeout", type=_positive_float, metavar="SECONDS", default=None,
                   help="give up after this many seconds in all (the run then ends in a "
                        "timeout failure, exit status 1); default: no limit")
    p.add_argument("--no-trace", action="store_true",
                   help="do not ask for the agent's trace (no steps, code or files events)")
    g = p.add_argument_group("backend settings (override the environment)")
    g.add_argument("--agent-id", default=None, help="BEDROCK_AGENT_ID: the Bedrock agent's id")
    g.add_argument("--agent-alias-id", default=None,
                   help="BEDROCK_AGENT_ALIAS_ID: the agent alias to invoke (e.g. TSTALIASID)")
    g.add_argument("--model-id", default=None,
                   help="BEDROCK_MODEL_ID: model or inference profile id (bedrock-inline, converse)")
    g.add_argument("--endpoint-url", default=None,
                   help="BEDROCK_ENDPOINT_URL: a non-default Bedrock endpoint (e.g. a VPC "
                        "endpoint or a local fake)")
    g.add_argument("--region", default=None, help="AWS_REGION: the region of your Bedrock resources")
    g.add_argument("--profile", default=None,
                   help="AWS_PROFILE: a profile from ~/.aws/config for credentials")
    g.add_argument("--read-timeout", type=_positive_float, default=None, metavar="SECONDS",
                   help="BEDROCK_READ_TIMEOUT: how long to wait for the next bytes from "
                        "Bedrock (default 600; code runs need long waits)")
    g.add_argument("--executor", choices=EXECUTORS, default=None,
                   help="CODE_EXECUTOR: where the converse and openai backends run code")
    g.add_argument("--base-url", default=None, metavar="URL",
                   help="OPENAI_BASE_URL: the OpenAI-compatible server (openai backend), e.g. "
                        "http://localhost:11434/v1 for Ollama; the API key comes from "
                        "OPENAI_API_KEY in the environment only, never a flag")
    g.add_argument("--model", default=None, metavar="NAME",
                   help="OPENAI_MODEL: the model (Azure: the deployment) on that server")
    g.add_argument("--api-version", default=None, metavar="VERSION",
                   help="OPENAI_API_VERSION: set for Azure OpenAI (e.g. 2024-10-21)")
    p.set_defaults(handler=run_ask)


def _add_export(sub: Any) -> None:
    p = sub.add_parser("export", help="export a stored run (notebook or zip)",
                       description="Export a stored run from the run store.")
    try:
        from agent_core import export
    except ImportError:
        export = None  # type: ignore[assignment]
    add = getattr(export, "add_export_arguments", None)
    if add is not None:
        add(p)
    else:
        p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(handler=run_export)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


# --- export ---------------------------------------------------------------------------
def run_export(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        from agent_core import export
    except ImportError:
        export = None  # type: ignore[assignment]
    if export is None or not hasattr(export, "cli_main"):
        print("error: export is not available in this version.", file=err)
        return EXIT_USAGE
    return int(export.cli_main(args))


# --- ask ------------------------------------------------------------------------------
def run_ask(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from agent_core.config import SettingsError, load_settings
    from agent_core.files import AttachmentLimitError, check_attachment_limits
    from agent_core.session import is_valid_session_id

    try:
        settings = load_settings(
            backend=args.backend, agent_id=args.agent_id, agent_alias_id=args.agent_alias_id,
            model_id=args.model_id, endpoint_url=args.endpoint_url, region=args.region,
            profile=args.profile, read_timeout=args.read_timeout, code_executor=args.executor,
            openai_base_url=args.base_url, openai_model=args.model,
            openai_api_version=args.api_version)
        files = tuple(_read_attachment(p) for p in args.files)
        check_attachment_limits(files)
        if args.session is not None and not is_valid_session_id(args.session):
            raise UsageError(f"--session {args.session!r} is not a valid session id: use 2 to "
                             "100 characters of letters, digits and . _ : -")
        out_dir = _prepare_out(args.out) if args.out else None
    except (SettingsError, AttachmentLimitError, UsageError) as exc:
        print(f"error: {exc}", file=err)
        return EXIT_USAGE

    pool = _one_shot_pool(settings)
    try:
        return _ask(args, settings, files, out_dir, pool, out, err)
    finally:
        if pool is not None:
            pool.shutdown()  # kills the kernel; there is no spare to wait for


def _one_shot_pool(settings: Any) -> Any:
    """A kernel pool for one request: no warm spare (nothing would use it, and waiting for
    one to start would delay the exit); None when the backend runs no code here."""
    from agent_core.config import runs_code_here

    if not runs_code_here(settings):
        return None
    from agent_core.interpreter.pool import KernelPool

    return KernelPool(settings, warm_spare=False)


def _ask(args: argparse.Namespace, settings: Any, files: tuple, out_dir: Path | None, pool: Any,
         out: TextIO, err: TextIO) -> int:
    from agent_core.backends.base import AgentRequest
    from agent_core.config import SettingsError
    from agent_core.session import new_session_id

    try:
        from agent_core.backends.factory import make_backend

        backend = make_backend(settings, pool=pool)
    except ImportError as exc:
        print(f"error: the {settings.backend} backend is not available in this installation "
              f"({exc.name or exc}); choose another with --backend.", file=err)
        return EXIT_USAGE
    except (SettingsError, ValueError) as exc:
        print(f"error: {exc}", file=err)
        return EXIT_USAGE

    from agent_core import run as agent_run

    request = AgentRequest(text=args.prompt, session_id=args.session or new_session_id(),
                           memory_id=args.memory_id, files=files,
                           enable_trace=not args.no_trace)
    printer = (_JsonPrinter if args.json else _TranscriptPrinter)(out, err, out_dir)
    printer.start(backend.name, request.session_id)
    # recorded in the run store (History shows CLI runs); the app keeps the store within its
    # retention limit, so the CLI exits as soon as its last event is out
    run = agent_run.start(request, backend, store=_open_store(settings, err), settings=settings,
                          timeout=args.timeout, page="cli")
    for event in run:
        printer.event(event)
    end = run.end_event()  # the last JSON line: the outcome History and the exit status give
    printer.event(end)
    printer.finish()
    return EXIT_OK if end.outcome == "completed" else EXIT_FAILED


def _open_store(settings: Any, err: TextIO) -> Any:
    """The run store under AGENT_DESK_HOME (History shows CLI runs too), or None."""
    from agent_core.store import RunStore, StoreError

    try:
        return RunStore(settings.home)
    except (StoreError, OSError) as exc:
        print(f"warning: this run is not recorded in the history ({exc})", file=err)
        return None


def _read_attachment(path_text: str) -> Any:
    from agent_core.files import AttachedFile, UnsafeNameError

    path = Path(path_text).expanduser()
    if not path.exists():
        raise UsageError(f"--file {path_text}: no such file. Check the path.")
    if not path.is_file():
        raise UsageError(f"--file {path_text}: not a regular file.")
    from agent_core.tables import DEFAULT_LIMITS

    size = path.stat().st_size  # checked before a byte is read
    if size > DEFAULT_LIMITS.max_bytes:
        raise UsageError(f"--file {path_text} is {size / 1048576:,.0f} MB; the limit is "
                         f"{DEFAULT_LIMITS.max_bytes / 1048576:,.0f} MB. Cut it to a shorter date range.")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"--file {path_text}: cannot read it ({exc.strerror}).") from None
    try:
        return AttachedFile.from_bytes(path.name, data)
    except UnsafeNameError as exc:
        raise UsageError(f"--file {path_text}: {exc} Rename the file.") from None


def _prepare_out(path_text: str) -> Path:
    out = Path(path_text).expanduser()
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {path_text} exists and is not a folder.")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {path_text}: cannot create the folder ({exc.strerror}).") from None
    return out.resolve()


def save_file(out_dir: Path, name: str, data: bytes) -> Path:
    """Write ``data`` as ``out_dir/<safe name>`` (atomically; never outside ``out_dir``)."""
    from agent_core.files import UnsafeNameError, safe_name

    try:
        clean = safe_name(name)
    except UnsafeNameError:
        clean = "file"
    target = (out_dir / clean)
    if target.parent.resolve() != out_dir.resolve():
        raise UsageError(f"refusing to save {name!r} outside {out_dir}")
    tmp = out_dir / f".part-{secrets.token_hex(6)}"
    try:
        with open(tmp, "xb") as fh:  # a fresh file with the usual permissions
            fh.write(data)
        os.replace(tmp, target)  # replaces a symlink itself, never writes through it
    except BaseException:  # cleanup, then re-raised: no half-written file is left behind
        tmp.unlink(missing_ok=True)
        raise
    return target


# --- printers -------------------------------------------------------------------------
class _Printer:
    def __init__(self, out: TextIO, err: TextIO, out_dir: Path | None) -> None:
        self.out, self.err, self.out_dir = out, err, out_dir
        self.saved: dict[str, Path] = {}

    def _save(self, event: Any) -> Path | None:
        from agent_core.events import FileReturned

        if self.out_dir is None or not isinstance(event, FileReturned):
            return None
        try:
            path = save_file(self.out_dir, event.file.name, event.file.data)
        except (OSError, UsageError) as exc:
            print(f"warning: could not save {event.file.name!r}: {exc}", file=self.err)
            return None
        self.saved[event.file.name] = path
        return path

    def start(self, backend: str, session_id: str) -> None: ...

    def event(self, event: Any) -> None: ...

    def finish(self) -> None: ...


class _JsonPrinter(_Printer):
    def event(self, event: Any) -> None:
        from agent_core.events import event_to_dict

        data = event_to_dict(event)
        path = self._save(event)
        if path is not None:
            data["saved_as"] = str(path)
        self.out.write(json.dumps(data, ensure_ascii=False) + "\n")
        self.out.flush()


class _TranscriptPrinter(_Printer):
    def __init__(self, out: TextIO, err: TextIO, out_dir: Path | None) -> None:
        super().__init__(out, err, out_dir)
        self._answer_open = False
        self._final: str | None = None
        self._had_text = False
        self._outcome: str | None = None

    def _line(self, text: str) -> None:
        if self._answer_open:
            self.out.write("\n")
            self._answer_open = False
        self.out.write(strip_terminal_controls(text) + "\n")
        self.out.flush()

    def start(self, backend: str, session_id: str) -> None:
        self._line(f"# backend {backend}, session {session_id}")

    def event(self, event: Any) -> None:
        from agent_core import events as ev

        if isinstance(event, ev.TextChunk):
            if not self._answer_open:
                if not self._had_text:
                    self.out.write("\n== answer ==\n")
                self._answer_open = True
            self._had_text = True
            self.out.write(strip_terminal_controls(event.text))
            self.out.flush()
        elif isinstance(event, ev.FinalResponse):
            self._final = event.text
        elif isinstance(event, ev.Rationale):
            self._line(f"[thinking] {event.text}")
        elif isinstance(event, ev.CodeInvocation):
            files = f" (files: {', '.join(event.files)})" if event.files else ""
            self._line(f"[code]{files}\n" + _indent(event.code))
        elif isinstance(event, ev.CodeOutput):
            self._line("[output]\n" + _indent(event.text))
        elif isinstance(event, ev.CodeError):
            self._line("[code error]\n" + _indent(event.text))
        elif isinstance(event, ev.CodeTimeout):
            self._line(f"[code timeout] {event.message}")
        elif isinstance(event, ev.FilesGenerated):
            self._line(f"[files generated] {', '.join(event.names)}")
        elif isinstance(event, ev.FileReturned):
            f = event.file
            path = self._save(event)
            where = f" -> {path}" if path else " (use --out DIR to save it)"
            warn = f" [declared {f.declared_type}]" if f.type_mismatch else ""
            self._line(f"[file] {f.name} ({f.media_type}, {f.size} bytes){warn}{where}")
        elif isinstance(event, ev.Usage):
            self._line(f"[usage] input {event.input_tokens} tokens, output {event.output_tokens} tokens")
        elif isinstance(event, ev.AgentFailure):
            retry = " (you can retry)" if event.retryable else ""
            self._line(f"[failed: {event.kind}] {event.message}{retry}")
            print(f"error: {strip_terminal_controls(event.message)}", file=self.err)
        elif isinstance(event, ev.UnknownEvent):
            self._line(f"[unknown event] {_short(event.raw)}")
        elif isinstance(event, ev.RunEnd):
            self._outcome = event.outcome
        else:
            from agent_core.events import event_to_dict

            data = {k: v for k, v in event_to_dict(event).items()
                    if k not in ("event", "step_id", "source") and v not in (None, "", [], {})}
            self._line(f"[{type(event).__name__}] {_short(data)}")

    def finish(self) -> None:
        if not self._had_text and self._final:
            self.out.write("\n== answer ==\n" + strip_terminal_controls(self._final))
            self._answer_open = True
        if self._answer_open:
            self.out.write("\n")
        if self._outcome is not None:
            self.out.write(f"\n== outcome: {self._outcome} ==\n")
        self.out.flush()


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in (text or "").rstrip("\n").splitlines())


def _short(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, default=repr, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- entry point ----------------------------------------------------------------------
class _Terminated(KeyboardInterrupt):
    """SIGTERM arrived: unwind like Ctrl-C, so kernels and their folders are cleaned up."""


def _stop_on_sigterm() -> None:
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        def _raise(signum: int, frame: Any) -> None:
            raise _Terminated

        signal.signal(signal.SIGTERM, _raise)


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None,
         err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or bad usage (2)
        return int(exc.code or 0)
    _stop_on_sigterm()
    try:
        return int(args.handler(args, out, err))
    except _Terminated:  # SIGTERM: the pool's exit handler then removes kernels and scratch folders
        print("terminated", file=err)
        return 143
    except KeyboardInterrupt:
        print("interrupted", file=err)
        return 130
    except BrokenPipeError:  # e.g. `| head`
        return EXIT_OK
