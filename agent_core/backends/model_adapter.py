"""What a model adapter and the agent loop (:mod:`agent_core.backends.loop`) hand each other:
the one tool, a turn's tool calls and end, what a code run says back, and the
:class:`ModelAdapter` protocol that holds one wire format."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent_core.cancel import CancelToken
from agent_core.events import AgentEvent, AgentFailure

TOOL_NAME = "execute_python"
TOOL_DESCRIPTION = (
    "Run Python 3 code in a persistent Jupyter kernel. Variables, imports and files "
    "persist between calls within the session. The working directory holds the attached "
    "files. pandas, numpy and matplotlib are available. Print the results you want to "
    "see; save charts as PNG files and tables as CSV files in the working directory: "
    "they are returned to the user, and PNGs are shown to you."
)
TOOL_INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"code": {"type": "string", "description": "The Python code to run."}},
    "required": ["code"],
}
# --- what an adapter hands the loop ---------------------------------------------------------
@dataclass(frozen=True)
class ToolCall:
    """One tool call: its id, tool name and the input JSON (parsed when valid)."""

    tool_use_id: str
    name: str
    raw_input: str
    input: Mapping[str, Any] = field(default_factory=dict)
    input_error: str | None = None  # the input was not a JSON object

    @property
    def code(self) -> str | None:
        value = self.input.get("code") if isinstance(self.input, Mapping) else None
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class TurnEnd:
    """The end of one model turn (not an AgentEvent: the loop consumes it).

    ``stop_reason`` in Converse's words: ``end_turn``, ``tool_use``, ``max_tokens`` or an
    adapter-specific reason (see :meth:`ModelAdapter.stop_failure`)."""

    stop_reason: str | None
    text: str
    tool_calls: tuple[ToolCall, ...]
    message: Mapping[str, Any]  # the assistant message for the history
    complete: bool = True       # False when the stream ended before the turn's end


@dataclass(frozen=True)
class ImagePart:
    """A chart the code wrote, to show the model."""

    name: str
    media_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class ToolOutcome:
    """What one code run says back to the model."""

    call: ToolCall
    text: str
    images: tuple[ImagePart, ...] = ()
    is_error: bool = False


class ModelAdapter(Protocol):
    """One chat model's wire format. Messages are the adapter's own dicts."""

    source: str             # the ``source`` of the events it makes
    model_setting: str      # the setting that names the model, for messages

    def configuration_failure(self) -> AgentFailure | None: ...

    def user_message(self, text: str) -> dict[str, Any]: ...

    def stream_turn(self, system: str, messages: list[dict[str, Any]], step_id: str, *,
                    tools: bool, cancel: CancelToken | None = None) -> Iterator[AgentEvent | TurnEnd]:
        """Stream one model turn: events as they arrive, a :class:`TurnEnd` last. Service
        errors are raised (the loop maps them with :meth:`failure`). With ``tools=False``
        no tool is offered and the turn's text is held (not yielded) for the loop. A Stop
        (``cancel``) closes the open response stream, which unblocks a waiting read."""
        ...

    def failure(self, exc: BaseException, step_id: str) -> AgentFailure: ...

    def tool_results(self, outcomes: list[ToolOutcome], *, fenced: bool) -> list[dict[str, Any]]: ...

    def note(self, text: str) -> dict[str, Any]:
        """An assistant message holding ``text`` (closes a history cut short by a bound)."""
        ...

    def compact(self, message: dict[str, Any]) -> dict[str, Any]:
        """``message`` as kept in the history: images replaced by a short note."""
        ...

    def stop_failure(self, stop_reason: str | None, step_id: str) -> AgentFailure | None: ...

    def tools_refused(self, exc: BaseException) -> bool:
        """The server said this model cannot take tools (switch to fenced code blocks)."""
        ...

    def images_refused(self, exc: BaseException) -> bool:
        """The server refused an image part (switch to text notes, then resend)."""
        ...
