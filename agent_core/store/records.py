"""What the run store hands out: frozen records of runs, sessions, files and retention,
the outcomes a run can have, and the store's errors (kinds of AgentDeskError)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from agent_core.failures import AgentDeskError
from agent_core.files import AttachedFile

#: How a run ended (agent_core.run.outcome_of decides which); ``running`` until then.
FINAL_OUTCOMES = ("completed", "completed with problems", "refused", "failed", "stopped",
                  "interrupted")
OUTCOMES = ("running", *FINAL_OUTCOMES)


class StoreError(AgentDeskError, RuntimeError):
    """A store operation that cannot be done; the message says what to do."""

    kind = "store"


class NotYourSessionError(StoreError):
    """A user wrote into a session that belongs to another user (the owner is not named)."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"Session {session_id!r} belongs to another user: start a new session.")
        self.session_id = session_id


class RunNotFoundError(StoreError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "run not found"


@dataclass(frozen=True)
class RunInfo:
    """One run's row: what was asked, where, how it ended, its cost and time."""

    id: str
    session_id: str
    parent_run_id: str | None
    prompt: str
    backend: str
    settings: Mapping[str, Any]
    started: float
    ended: float | None
    outcome: str
    first_event_seconds: float | None
    input_tokens: int | None
    output_tokens: int | None
    event_count: int = 0
    file_count: int = 0
    over_cap: bool = False  # larger than the whole retention limit: kept, and flagged
    owner: str | None = None  # the user who ran it; None on a single-user install

    @property
    def duration_seconds(self) -> float | None:
        return None if self.ended is None else max(0.0, self.ended - self.started)

    @property
    def started_at(self) -> datetime:
        return datetime.fromtimestamp(self.started, tz=UTC)


@dataclass(frozen=True)
class SessionInfo:
    id: str
    backend: str
    created: float
    last_used: float
    run_count: int
    owner: str | None = None


@dataclass(frozen=True)
class SessionState:
    """What a working session had on screen besides its runs: its settings (toggles), the
    files attached to the agent and the files uploaded but not attached."""

    id: str
    settings: Mapping[str, Any]
    attached: tuple[AttachedFile, ...]
    uploaded: tuple[AttachedFile, ...]


@dataclass(frozen=True)
class AttachmentInfo:
    run_id: str
    name: str
    media_type: str
    use_case: str
    size: int
    sha: str


@dataclass(frozen=True)
class SpaceUsed:
    database_bytes: int   # pages in use (free pages left by deletions not counted)
    blob_bytes: int
    runs: int
    blobs: int

    @property
    def total(self) -> int:
        return self.database_bytes + self.blob_bytes


@dataclass(frozen=True)
class RetentionEntry:
    """One run removed by retention: when, which, how big, and why."""

    at: float
    run_id: str
    session_id: str
    prompt: str
    size: int
    reason: str


@dataclass(frozen=True)
class RetentionReport:
    """What one :meth:`RunStore.enforce_retention` did."""

    deleted: tuple[RetentionEntry, ...] = ()
    over_cap: tuple[str, ...] = ()   # runs larger than the limit, kept and flagged
    still_over: bool = False         # the kept runs alone exceed the limit

