"""Reading runs back: filtered lists, one run, its events with their files, its attachments."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agent_core.events import AgentEvent, event_from_dict
from agent_core.files import AttachedFile
from agent_core.store.lease import _Lease
from agent_core.store.records import AttachmentInfo, RunInfo, RunNotFoundError
from agent_core.store.stored_files import _StoredFiles


class _Reading(_Lease, _StoredFiles):
    """Runs as records and events (readers first mark runs whose lease ran out)."""

    _RUN_SELECT = (
        "SELECT r.*, (SELECT COUNT(*) FROM events e WHERE e.run_id = r.id) AS event_count, "
        "(SELECT COUNT(*) FROM events e WHERE e.run_id = r.id AND e.blob_sha IS NOT NULL) "
        "AS file_count FROM runs r")

    @staticmethod
    def _run_info(row: Mapping[str, Any]) -> RunInfo:
        try:
            settings = json.loads(row["settings_json"] or "{}")
        except ValueError:
            settings = {}
        return RunInfo(
            id=row["id"], session_id=row["session_id"], parent_run_id=row["parent_run_id"],
            prompt=row["prompt"], backend=row["backend"], settings=settings,
            started=row["started"], ended=row["ended"], outcome=row["outcome"],
            first_event_seconds=row.get("first_event_seconds"),
            input_tokens=row.get("input_tokens"), output_tokens=row.get("output_tokens"),
            event_count=row.get("event_count", 0), file_count=row.get("file_count", 0),
            over_cap=bool(row.get("over_cap") or 0), owner=row.get("owner"))

    def list_runs(self, session: str | None = None, backend: str | None = None,
                  outcome: str | None = None, text: str | None = None, limit: int = 200,
                  offset: int = 0, parent: str | None = None,
                  owner: str | None = None) -> list[RunInfo]:
        """Runs newest first, filtered by session, backend, outcome, words in the prompt,
        ``parent`` (the re-runs of one run) and ``owner`` (only that user's runs)."""
        self._recover_now_and_then()
        where, args = [], []
        equal = {"r.parent_run_id": parent, "r.session_id": session, "r.backend": backend,
                 "r.outcome": outcome}
        for column, value in equal.items():
            if value:
                where.append(f"{column} = ?")
                args.append(value)
        if owner is not None:  # an empty name matches nothing rather than everything
            where.append("r.owner = ?")
            args.append(owner)
        if text and text.strip():
            escaped = text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append("LOWER(r.prompt) LIKE ? ESCAPE '\\'")  # ASCII case as SQLite's LIKE
            args.append(f"%{escaped.lower()}%")
        sql = self._RUN_SELECT + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY r.started DESC, r.id DESC LIMIT ? OFFSET ?"
        return [self._run_info(r) for r in self._read(sql, [*args, int(limit), int(offset)])]

    def get_run(self, run_id: str) -> RunInfo:
        self._recover_now_and_then()
        rows = self._read(self._RUN_SELECT + " WHERE r.id = ?", (run_id,))
        if not rows:
            raise RunNotFoundError(f"No run {run_id!r} in the store at {self.location}.")
        return self._run_info(rows[0])

    def run_events(self, run_id: str) -> list[AgentEvent]:
        """The run's events in order, returned files rebuilt with their bytes."""
        self.get_run(run_id)
        rows = self._read("SELECT event_json, blob_sha FROM events WHERE run_id = ? ORDER BY seq",
                          (run_id,))
        events = []
        for row in rows:
            data = json.loads(row["event_json"])
            blob = self.read_blob(row["blob_sha"]) if row["blob_sha"] else None
            events.append(event_from_dict(data, file_bytes=blob))
        return events

    def run_attachments(self, run_id: str) -> list[AttachmentInfo]:
        rows = self._read("SELECT * FROM attachments WHERE run_id = ? ORDER BY position", (run_id,))
        return [AttachmentInfo(run_id=r["run_id"], name=r["name"], media_type=r["media_type"],
                               use_case=r["use_case"], size=r["size"], sha=r["blob_sha"])
                for r in rows]

    def attached_files(self, run_id: str) -> list[AttachedFile]:
        """The run's attachments with their bytes, ready to send again."""
        return [AttachedFile(name=a.name, media_type=a.media_type, data=self.read_blob(a.sha),
                             use_case=a.use_case)  # type: ignore[arg-type]
                for a in self.run_attachments(run_id)]

    def session_attachments(self, session_id: str) -> list[AttachedFile]:
        """Every file attached in a session (the latest of each name), oldest first."""
        rows = self._read(
            "SELECT a.* FROM attachments a JOIN runs r ON r.id = a.run_id WHERE r.session_id = ? "
            "ORDER BY r.started, a.position", (session_id,))
        latest: dict[str, Mapping[str, Any]] = {}
        for r in rows:
            latest.pop(r["name"], None)
            latest[r["name"]] = r
        return [AttachedFile(name=r["name"], media_type=r["media_type"],
                             data=self.read_blob(r["blob_sha"]), use_case=r["use_case"])
                for r in latest.values()]

    def backends(self) -> list[str]:
        return [r["backend"] for r in self._read("SELECT DISTINCT backend FROM runs ORDER BY 1")]

