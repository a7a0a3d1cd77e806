"""RunRecorder: writes a stream of events into one run as it goes by."""
from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from agent_core.events import AgentEvent, AgentFailure
from agent_core.store.database import _db_errors
from agent_core.store.records import StoreError

if TYPE_CHECKING:
    from agent_core.store.runstore import RunStore

log = logging.getLogger(__name__)


class RunRecorder:
    """Writes a stream into one run, keeping the events its outcome depends on.

    A store that fails mid-run (disk full, file removed) is logged, never raised: the
    run itself goes on."""

    def __init__(self, store: RunStore, run_id: str) -> None:
        self.store = store
        self.run_id = run_id
        self.signals: list[AgentEvent] = []  # the events agent_core.run.outcome_of looks at
        self.outcome: str | None = None
        self.stopped_as: str | None = None  # "stopped": the stream ended because of a Stop

    @property
    def failed(self) -> bool:
        return any(isinstance(e, AgentFailure) for e in self.signals)

    def add(self, event: AgentEvent) -> AgentEvent:
        from agent_core.run import OUTCOME_EVENTS

        if isinstance(event, OUTCOME_EVENTS):
            self.signals.append(event)
        try:
            self.store.append_event(self.run_id, event)
        except (StoreError, OSError) + _db_errors():
            log.warning("could not store an event of run %s", self.run_id)
        return event

    def record(self, events: Iterable[AgentEvent]) -> Iterator[AgentEvent]:
        """Pass events through, writing each one as it goes by."""
        for event in events:
            yield self.add(event)

    def finish(self, ended: str = "normally") -> str:
        """End the run with its one outcome (see ``agent_core.run.outcome_of``)."""
        from agent_core.run import outcome_of

        self.outcome = outcome_of(self.signals, ended=ended)
        try:
            self.store.finish_run(self.run_id, self.outcome)
        except (StoreError, OSError) + _db_errors():
            log.warning("could not finish run %s in the store", self.run_id)
        return self.outcome
