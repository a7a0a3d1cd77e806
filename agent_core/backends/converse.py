"""``ConverseAgent``: the app's agent loop (:mod:`agent_core.backends.loop`) over Bedrock
Runtime ``ConverseStream``.

For any AWS account with Bedrock model access (no Bedrock Agent to build). The
model gets one tool, ``execute_python(code)``; each call runs in a code
executor (the local Jupyter kernel or the AgentCore Code Interpreter, see
:mod:`agent_core.backends.executors`) and its result goes back to the model as
a ``toolResult`` (text output, error, new files, PNG charts as images), until
the model ends its turn or a bound (tool calls, wall time, tokens) is hit.
This module holds the Converse wire format: the request, the ``toolResult``
blocks, and the mapping of Bedrock's errors and stop reasons.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent_core import failures
from agent_core.backends.converse_stream import SOURCE, parse_converse_stream
from agent_core.backends.executors import CodeExecutor, _make_client
from agent_core.backends.loop import AgentLoop, system_prompt
from agent_core.backends.model_adapter import (
    TOOL_DESCRIPTION,
    TOOL_INPUT_SCHEMA,
    TOOL_NAME,
    ToolOutcome,
    TurnEnd,
)
from agent_core.cancel import CancelToken
from agent_core.config import Settings
from agent_core.events import AgentEvent, AgentFailure

__all__ = ["TOOL_NAME", "TOOL_SPEC", "ConverseAgent", "ConverseModel", "converse_failure",
           "system_prompt"]

_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif"}

TOOL_SPEC = {
    "toolSpec": {
        "name": TOOL_NAME,
        "description": TOOL_DESCRIPTION,
        "inputSchema": {"json": TOOL_INPUT_SCHEMA},
    }
}


class ConverseModel:
    """The :class:`~agent_core.backends.loop.ModelAdapter` for Bedrock ``ConverseStream``."""

    source = SOURCE
    model_setting = "BEDROCK_MODEL_ID"

    def __init__(self, settings: Settings, client: Any = None) -> None:
        self.settings = settings
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = _make_client("bedrock-runtime", self.settings)
        return self._client

    def configuration_failure(self) -> AgentFailure | None:
        if self.settings.model_id:
            return None
        return AgentFailure(kind="configuration", source=SOURCE, message=(
            "No model is set for the Converse backend. Set BEDROCK_MODEL_ID to a model or "
            "inference profile id you have access to (e.g. us.anthropic.claude-sonnet-4-...)."))

    def user_message(self, text: str) -> dict[str, Any]:
        return {"role": "user", "content": [{"text": text}]}

    def stream_turn(self, system: str, messages: list[dict[str, Any]], step_id: str, *,
                    tools: bool, cancel: CancelToken | None = None) -> Iterator[AgentEvent | TurnEnd]:
        response = self.client.converse_stream(
            modelId=self.settings.model_id, system=[{"text": system}], messages=messages,
            toolConfig={"tools": [TOOL_SPEC]},
            inferenceConfig={"maxTokens": int(self.settings.max_tokens)},
        )
        if cancel is not None:  # a Stop closes the stream (unblocks a waiting read)
            cancel.on_cancel(getattr(response["stream"], "close", lambda: None))
        for item in parse_converse_stream(response["stream"], step_id=step_id):
            if isinstance(item, TurnEnd):
                content = list(item.message.get("content") or [])
                yield TurnEnd(stop_reason=item.stop_reason, text=item.text,
                              tool_calls=item.tool_calls, complete=item.complete,
                              message={"role": "assistant",
                                       "content": content or [{"text": "(no answer)"}]})
            else:
                yield item

    def failure(self, exc: BaseException, step_id: str) -> AgentFailure:
        return converse_failure(exc, model_id=self.settings.model_id, step_id=step_id)

    def tool_results(self, outcomes: list[ToolOutcome], *, fenced: bool) -> list[dict[str, Any]]:
        blocks = []
        for o in outcomes:
            content: list[dict[str, Any]] = [{"text": o.text}]
            content += [{"image": {"format": _IMAGE_FORMATS[i.media_type], "source": {"bytes": i.data}}}
                        for i in o.images]
            blocks.append({"toolResult": {"toolUseId": o.call.tool_use_id, "content": content,
                                          "status": "error" if o.is_error else "success"}})
        return [{"role": "user", "content": blocks}]

    def note(self, text: str) -> dict[str, Any]:
        return {"role": "assistant", "content": [{"text": text}]}

    def compact(self, message: dict[str, Any]) -> dict[str, Any]:
        return _without_images(message)

    def stop_failure(self, stop_reason: str | None, step_id: str) -> AgentFailure | None:
        return _stop_reason_failure(stop_reason, step_id)

    def tools_refused(self, exc: BaseException) -> bool:
        return False  # Converse models are chosen for tool use

    def images_refused(self, exc: BaseException) -> bool:
        return False


class ConverseAgent(AgentLoop):
    """A ``Backend``: ``invoke(request)`` yields AgentEvents, never raises for service failures."""

    name = "converse"

    def __init__(self, settings: Settings, *, executor: CodeExecutor | None = None,
                 pool: Any = None, client: Any = None) -> None:
        super().__init__(settings, ConverseModel(settings, client), executor=executor, pool=pool)

    @property
    def client(self) -> Any:
        return self.adapter.client  # type: ignore[attr-defined]


def _without_images(message: dict[str, Any]) -> dict[str, Any]:
    if message.get("role") != "user":
        return message
    content = []
    for block in message.get("content", []):
        result = block.get("toolResult")
        if result and any("image" in b for b in result.get("content", [])):
            n = sum("image" in b for b in result["content"])
            inner = [b for b in result["content"] if "image" not in b]
            inner.append({"text": f"({n} chart image(s) were shown here; omitted from the history)"})
            block = {"toolResult": {**result, "content": inner}}
        content.append(block)
    return {**message, "content": content}


def _stop_reason_failure(stop_reason: str | None, step_id: str) -> AgentFailure | None:
    messages = {
        "guardrail_intervened": ("guardrail", "A guardrail stopped the model's answer. Rephrase "
                                 "the request, or review the guardrail's policy."),
        "content_filtered": ("content_filtered", "The model's answer was filtered by content "
                             "moderation. Rephrase the request."),
        "malformed_model_output": ("model_error", "The model produced output Bedrock could not "
                                   "read. Retry, or try another model (BEDROCK_MODEL_ID)."),
        "malformed_tool_use": ("model_error", "The model produced an invalid tool call. Retry, "
                               "or try another model (BEDROCK_MODEL_ID)."),
        "model_context_window_exceeded": ("context_too_long", "The conversation no longer fits "
                                          "the model's context window. Start a new session "
                                          "(history is dropped) and ask again."),
    }
    if stop_reason in messages:
        kind, text = messages[stop_reason]
        return AgentFailure(kind=kind, message=text, step_id=step_id, source=SOURCE)
    return None


def converse_failure(exc: BaseException, *, model_id: str | None = None,
                     step_id: str | None = None) -> AgentFailure:
    """Any exception from ``converse_stream`` (before or during the stream) -> AgentFailure,
    through the one mapping of wire errors (:mod:`agent_core.failures`)."""
    return failures.failure_for_exception(exc, op=failures.CONVERSE_STREAM.for_model(model_id),
                                          step_id=step_id)
