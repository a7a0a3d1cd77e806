"""The embedded local agent: plans with :mod:`agent_core.planner`, runs the code in the
session's Jupyter kernel (:class:`agent_core.interpreter.pool.KernelPool`) and speaks
Bedrock's raw response-stream shape, so the one parser (:func:`agent_core.stream.parse_stream`)
serves it like Bedrock's Code Interpreter.

One run yields, in order: a ``rationale`` trace; per attempt an ``invocationInput``
(``ACTION_GROUP_CODE_INTERPRETER``, the code and the attached file names), an
``observation`` with ``codeInterpreterInvocationOutput`` and top-level ``files`` events
with the bytes of the files the code wrote (at most 5 per event, 1 MB per file); when
the code fails and the plan has a fallback, a new rationale and a second attempt; then a
``finalResponse`` observation and the answer as several ``chunk`` events. Each step has
its own ``traceId``.
"""
from __future__ import annotations

import queue
import re
import threading
import uuid
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

from agent_core.backends.base import AgentRequest
from agent_core.backends.execution_events import CODE_INTERPRETER as _CODE
from agent_core.backends.execution_events import execution_raw, progress_raw
from agent_core.backends.execution_events import returnable as _returnable
from agent_core.config import Settings
from agent_core.events import AgentEvent
from agent_core.failures import PlannerError, clip
from agent_core.safe_text import code_span

if TYPE_CHECKING:  # pragma: no cover
    from agent_core.interpreter.models import Execution
    from agent_core.interpreter.pool import KernelPool
    from agent_core.planner import Answer, Plan

CHUNK_BYTES = 160
AGENT_ID = "LOCALAGENT"
ALIAS_ID = "LOCAL"


class LocalAgent:
    """``invoke(request)`` -> events; ``raw_events(request)`` -> Bedrock-shaped dicts."""

    name = "local"

    def __init__(self, settings: Settings, pool: KernelPool | None = None) -> None:
        self.settings = settings
        self._pool = pool
        self._own_pool = pool is None
        self._lock = threading.Lock()
        self._conversations: Any = None  # the RunStore, opened on the first conversation turn

    # --- the Backend protocol ---------------------------------------------------------------
    def invoke(self, request: AgentRequest) -> Iterator[AgentEvent]:
        from agent_core.stream import parse_stream

        return parse_stream(self.raw_events(request, progress=True))

    def reset_session(self, session_id: str) -> None:
        if self._pool is not None:
            self._pool.reset(session_id)

    def close(self) -> None:
        """Shut down the kernel pool if this agent made it."""
        if self._own_pool and self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        if self._conversations:
            self._conversations.close()
            self._conversations = None

    @property
    def pool(self) -> KernelPool:
        with self._lock:
            if self._pool is None:
                from agent_core.interpreter.pool import KernelPool

                self._pool = KernelPool(self.settings)
            return self._pool

    # --- the raw stream ---------------------------------------------------------------------
    def raw_events(self, request: AgentRequest, plan: Plan | Answer | None = None, *,
                   progress: bool = False) -> Iterator[dict[str, Any]]:
        """Bedrock's raw shape for one turn. ``plan`` overrides the planner (tests); a typed
        ``request.task`` (the Synthetic page's spec) is planned as it is, not from the prose.
        ``progress`` adds this agent's own ``codeOutputProgress`` member (not Bedrock's):
        what the code prints, as it prints it."""
        from agent_core.planner import Answer, Refusal, plan_task

        run = uuid.uuid4().hex[:12]
        sid = request.session_id
        self.pool.set_owner(sid, request.owner)  # its kernel counts against the user's limit
        attached: tuple[str, ...] = ()
        if request.files:
            attached = self.pool.put_files(sid, request.files)
            self.pool.prestart(sid)  # the kernel starts (or the spare comes) while the planner reads
        if plan is None and request.task is not None:
            plan = plan_task(request.task)
        if plan is None:
            try:
                plan, attached = self._plan_turn(request, attached)
            except Exception as exc:  # noqa: BLE001 - a planner bug ends the run failed, in words
                raise PlannerError(name=type(exc).__name__, detail=clip(str(exc), 200)) from exc

        step = 0
        if isinstance(plan, Refusal):  # as Bedrock says it: pre-processing found the request invalid
            yield self._refusal(sid, f"{run}-pre", plan.rationale)
        yield self._trace(sid, {"rationale": {"traceId": f"{run}-{step}", "text": plan.rationale}})
        if isinstance(plan, Answer):
            yield from self._finish(sid, f"{run}-{step}", plan.text)
            return

        attempts: list[tuple[Plan, Execution]] = []
        current: Plan | None = plan
        while current is not None:
            if attempts:
                step += 1
                yield self._trace(sid, {"rationale": {"traceId": f"{run}-{step}", "text": current.rationale}})
            trace_id = f"{run}-{step}"
            yield self._trace(sid, {"invocationInput": {
                "traceId": trace_id, "invocationType": _CODE,
                "codeInterpreterInvocationInput": {"code": current.code, "files": list(attached)},
            }})
            if wait := self.pool.wait_reason(sid):  # say so before blocking: the page shows it
                yield self._trace(sid, {"rationale": {"traceId": f"{trace_id}-wait", "text": wait}})
            execution = yield from self._execute(sid, current.code, trace_id, request, progress)
            attempts.append((current, execution))
            observation, files = execution_raw(execution, trace_id)
            yield self._trace(sid, observation)
            yield from files
            if execution.ok or execution.timed_out or _self_check_failed(execution) or _cancelled(request):
                break  # a failed self-check is the answer's own verdict: a lenient re-read cannot fix it
            current = current.fallback
        step += 1
        text = _final_text(attempts, request)
        yield from self._finish(sid, f"{run}-{step}", text)
        if request.end_session:
            self.reset_session(sid)

    # --- the conversation -------------------------------------------------------------------
    def _plan_turn(self, request: AgentRequest,
                   attached: tuple[str, ...]) -> tuple[Plan | Answer, tuple[str, ...]]:
        """Plan one turn of the session's conversation: its state and (when the turn attaches
        nothing) its files come from the run store, so a follow-up works after a restart and
        from the CLI; the state after the turn is saved back."""
        from agent_core.planner import AnalysisState, plan_turn

        store = self._store()
        sid = request.session_id
        state = AnalysisState.from_json(store.conversation(sid)) if store is not None else None
        files = tuple(request.files)
        if not files and store is not None:
            files = tuple(store.session_attachments(sid))
            if files:
                attached = self.pool.put_files(sid, files)
        plan, after = plan_turn(request.text, files, state)
        if store is not None and after is not None and after != state:
            store.save_conversation(sid, after.to_json())
        return plan, attached

    def _store(self) -> Any:
        """The run store the conversation state is kept in (None when it cannot be opened:
        the turn is then planned on its own)."""
        if self._conversations is None:
            from agent_core.store import RunStore, StoreError

            try:
                self._conversations = RunStore(getattr(self.settings, "home", None), recover=False)
            except (StoreError, OSError):
                self._conversations = False
        return self._conversations or None

    def _execute(self, sid: str, code: str, trace_id: str, request: AgentRequest,
                 progress: bool) -> Generator[dict[str, Any], None, Execution]:
        """Run ``code`` in the session's kernel, yielding what it prints as it prints it
        (``codeOutputProgress``, this agent's own stream member); returns the execution.
        A Stop (``request.cancel``) interrupts the kernel; its variables stay."""
        from agent_core.interpreter.models import Execution, ExecutionError

        pieces: queue.Queue[str | None] = queue.Queue()
        done: list[Execution] = []

        def work() -> None:
            try:
                done.append(self.pool.execute(sid, code, timeout=self.settings.exec_timeout,
                                              on_output=lambda _name, text: pieces.put(text)))
            finally:
                pieces.put(None)

        worker = threading.Thread(target=work, name="local-agent-code", daemon=True)
        worker.start()
        if request.cancel is not None:
            request.cancel.on_cancel(lambda: self.pool.interrupt(sid))
        finished = False
        while not finished:
            texts = [pieces.get()]
            while True:  # what came meanwhile goes out as one event
                try:
                    texts.append(pieces.get_nowait())
                except queue.Empty:
                    break
            finished = None in texts
            text = "".join(t for t in texts if t)
            if text and progress:
                yield progress_raw(text, trace_id)
        worker.join()
        return done[0] if done else Execution(error=ExecutionError(
            "InterpreterError", "The code interpreter stopped unexpectedly; run the code again.", ""))

    def _trace(self, sid: str, orchestration: dict[str, Any]) -> dict[str, Any]:
        return {"trace": {"agentId": AGENT_ID, "agentAliasId": ALIAS_ID, "sessionId": sid,
                          "trace": {"orchestrationTrace": orchestration}}}

    def _refusal(self, sid: str, trace_id: str, why: str) -> dict[str, Any]:
        """Bedrock's shape of a declined request: the pre-processing step's parsed response
        says ``isValid: false`` (the run then ends ``refused``, agent_core.run.outcome_of)."""
        return {"trace": {"agentId": AGENT_ID, "agentAliasId": ALIAS_ID, "sessionId": sid,
                          "trace": {"preProcessingTrace": {"modelInvocationOutput": {
                              "traceId": trace_id, "parsedResponse": {"isValid": False, "rationale": why}}}}}}

    def _finish(self, sid: str, trace_id: str, text: str) -> Iterator[dict[str, Any]]:
        yield self._trace(sid, {"observation": {"traceId": trace_id, "type": "FINISH",
                                                "finalResponse": {"text": text}}})
        data = text.encode("utf-8")
        for i in range(0, len(data), CHUNK_BYTES):
            yield {"chunk": {"bytes": data[i:i + CHUNK_BYTES]}}


# --- helpers -----------------------------------------------------------------------------------
def _cancelled(request: AgentRequest) -> bool:
    return request.cancel is not None and request.cancel.cancelled


def _short_error(execution: Execution) -> str:
    """The error in one line, quoted as code: its text comes from the code or the data."""
    if execution.timed_out:
        return execution.notice or "the code ran past the time limit and was stopped"
    if execution.error is not None:
        e = execution.error
        return code_span(f"{e.name}: {e.value}" if e.value else e.name)
    return "unknown error"


def _tail(text: str, lines: int = 20) -> str:
    rows = [r for r in text.strip().splitlines() if r.strip()]
    if len(rows) > lines:
        rows = ["..."] + rows[-lines:]
    return "\n".join(rows)


def _file_list(names: list[str]) -> str:
    def what(n: str) -> str:
        low = n.lower()
        if low.endswith((".png", ".svg", ".pdf", ".jpg")):
            return "chart"
        if low.endswith(".csv"):
            return "table"
        return "file"

    return ", ".join(f"{n} ({what(n)})" for n in names)


def _final_text(attempts: list, request: AgentRequest) -> str:
    plan, execution = attempts[-1]
    first_plan = attempts[0][0]
    returned, too_big = _returnable(execution)
    notices = [ex.notice for _, ex in attempts if ex.notice]
    parts: list[str] = []
    if execution.ok:
        if len(attempts) > 1:
            parts.append(f"The first attempt failed ({_short_error(attempts[0][1])}); "
                         "the fallback plan worked.")
        parts.append(plan.summary)
        # a question's answer, as its code printed it: the number and how it was computed
        answers = [line.strip() for line in execution.stdout.splitlines() if line.startswith("Answer: ")]
        parts += answers
        if plan.title == "synthetic companies dataset":
            parts.append(_synthetic_check(request.text, returned))
        if returned:
            parts.append("Files: " + _file_list([f.name for f in returned]) + ".")
        elif plan.outputs:
            parts.append("The code ran but wrote none of the expected files ("
                         + ", ".join(plan.outputs) + ").")
        out = _tail(execution.stdout)
        if out and not answers:  # a question's printout is its table, already in answer.csv and the step
            parts.append("Output:\n" + _fenced(out))
    elif _self_check_failed(execution):
        parts.append(f"The {first_plan.title} ran, but its result failed its own checks, so it is not a "
                     f"finished answer: {execution.error.value if execution.error else ''} "
                     "The check is at the end of the code above; change the request (a shorter window, "
                     "a period the file covers) and ask again.")
        if returned:
            parts.append("Files written before the check: " + _file_list([f.name for f in returned]) + ".")
    elif execution.timed_out:
        parts.append(f"The {first_plan.title} did not finish: {_short_error(execution)} Try a smaller "
                     "file or a shorter date range, or raise AGENT_DESK_EXEC_TIMEOUT.")
    else:
        if first_plan.title == "your code":
            parts.append(f"I ran your code as written and it raised {_short_error(execution)}. "
                         "The full traceback is in the code step above.")
            out = _tail(execution.stdout)
            if out:
                parts.append("Output before the error:\n" + _fenced(out))
        else:
            tried = " and its fallback" if len(attempts) > 1 else ""
            parts.append(f"I could not make the {first_plan.title}: the plan{tried} failed with "
                         f"{_short_error(execution)}. Check that the attached file holds dates and "
                         "numeric prices, or run your own code with \"run this code: ```...```\".")
        if returned:
            parts.append("Files written before the error: " + _file_list([f.name for f in returned]) + ".")
    understood = first_plan.summary.split("\n", 1)[0]
    if understood.startswith("Understood:") and not execution.ok:
        parts.insert(0, understood)
    if not execution.ok:  # what the request asked for and the plan left out is said either way
        from agent_core.planner import LEFT_OUT

        parts += re.findall(re.escape(LEFT_OUT) + r".*? can\.", first_plan.summary)
    if too_big:
        parts.append("Not returned (over the 1 MB limit per file): " + ", ".join(too_big) + ".")
    for n in dict.fromkeys(notices):
        parts.append(f"Note: {n}")
    return "\n\n".join(p for p in parts if p)


def _self_check_failed(execution: Execution) -> bool:
    e = execution.error
    return e is not None and str(e.value or "").startswith("Self-check failed")


def _synthetic_check(text: str, returned: list) -> str:
    """The independent rule check of the files the kernel wrote."""
    from agent_core.synthetic import read_tables, spec_from_text, verify

    spec = spec_from_text(text)
    if spec is None:
        return ""
    by_name = {f.name.lower(): f.data for f in returned}
    sales, details = by_name.get(spec.sales_csv.lower()), by_name.get(spec.details_csv.lower())
    if sales is None or details is None:
        return f"{spec.sales_csv} or {spec.details_csv} did not come back, so the rules were not checked."
    try:
        checks = verify(spec, *read_tables(sales, details))
    except Exception as exc:  # noqa: BLE001 - the check is advice, never a crash
        return f"The rule check could not read the files ({type(exc).__name__})."
    failed = [c for c in checks if not c.passed]
    if not failed:
        return f"Independent check: all {len(checks)} rules hold."
    return (f"Independent check: {len(failed)} of {len(checks)} rules fail: "
            + "; ".join(f"{c.rule} ({c.detail})" for c in failed))


def _fenced(text: str) -> str:
    """Printed output as a Markdown code block, so tables keep their columns in the chat."""
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}text\n{text.rstrip()}\n{fence}"
