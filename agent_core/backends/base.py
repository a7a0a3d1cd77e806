"""The one protocol every backend implements, and the request it takes."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from agent_core.cancel import CancelToken
from agent_core.events import AgentEvent
from agent_core.files import AttachedFile


@dataclass(frozen=True)
class AgentRequest:
    """One turn: the user's text, the session it belongs to, and its files."""

    text: str
    session_id: str
    memory_id: str | None = None
    files: tuple[AttachedFile, ...] = ()
    enable_trace: bool = True
    end_session: bool = False
    # A typed task for the local agent (e.g. the Synthetic page's SyntheticSpec), planned as
    # it is; ``text`` is what model backends read. Backends that do not know it ignore it.
    task: object | None = None
    # The user the run belongs to (components.identity; None on a single-user install): the
    # store records it, the kernel pool counts that user's kernels against their limit.
    owner: str | None = None
    # Set by agent_core.run: a Stop cancels it (kernel interrupted, stream closed, loop ended).
    cancel: CancelToken | None = field(default=None, compare=False, repr=False)


@runtime_checkable
class Backend(Protocol):
    """``invoke`` yields events lazily, as they arrive; it never raises for a
    service or network failure: those end the stream as an ``AgentFailure``."""

    name: str

    def invoke(self, request: AgentRequest) -> Iterator[AgentEvent]: ...

    def reset_session(self, session_id: str) -> None:
        """Forget a session (stop its kernel / interpreter session, drop history)."""
        ...
