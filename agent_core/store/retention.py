"""Deleting runs and sessions, the space the store holds, and retention: the oldest
finished runs go first, each deletion written to the retention log with its reason."""
from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from agent_core.store.records import RetentionEntry, RetentionReport, RunNotFoundError, SpaceUsed
from agent_core.store.stored_files import _StoredFiles


class _Retention(_StoredFiles):
    """Deleting runs and sessions, the space used, retention and its log."""

    def delete_run(self, run_id: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM events WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM attachments WHERE run_id = ?", (run_id,))
            conn.execute("UPDATE runs SET parent_run_id = NULL WHERE parent_run_id = ?", (run_id,))
            cur = conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
            if cur.rowcount == 0:
                raise RunNotFoundError(f"No run {run_id!r} in the store.")
            self._collect_blobs(conn)

    def delete_session(self, session_id: str) -> int:
        """Delete a session and all its runs; returns how many runs went."""
        with self._write() as conn:
            ids = [r[0] for r in conn.execute("SELECT id FROM runs WHERE session_id = ?",
                                              (session_id,))]
            for run_id in ids:
                conn.execute("DELETE FROM events WHERE run_id = ?", (run_id,))
                conn.execute("DELETE FROM attachments WHERE run_id = ?", (run_id,))
                conn.execute("UPDATE runs SET parent_run_id = NULL WHERE parent_run_id = ?",
                             (run_id,))
            conn.execute("DELETE FROM runs WHERE session_id = ?", (session_id,))
            conn.execute("DELETE FROM session_files WHERE session_id = ?", (session_id,))
            conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
            conn.execute("DELETE FROM conversation_state WHERE session_id = ?", (session_id,))
            self._collect_blobs(conn)
        return len(ids)

    def space_used(self) -> SpaceUsed:
        """Bytes the store holds. SQLite: the pages in use; PostgreSQL: the text of the rows
        (its files keep the space of deleted rows until VACUUM, so their size would never
        go down when retention deletes); both: the files' bytes, wherever they are kept."""
        if self.is_sqlite:
            page_size, pages, free = (self._read(f"PRAGMA {name}")[0][name]
                                      for name in ("page_size", "page_count", "freelist_count"))
            database_bytes = (pages - free) * page_size
        else:
            database_bytes = self._read(
                "SELECT (SELECT COALESCE(SUM(OCTET_LENGTH(event_json)), 0) FROM events) + "
                "(SELECT COALESCE(SUM(OCTET_LENGTH(prompt) + OCTET_LENGTH(settings_json)), 0) "
                "FROM runs) + (SELECT COALESCE(SUM(OCTET_LENGTH(state_json)), 0) FROM sessions) "
                "+ (SELECT COALESCE(SUM(OCTET_LENGTH(state_json)), 0) FROM conversation_state) "
                "AS n")[0]["n"] or 0
        totals = self._read("SELECT COALESCE(SUM(size), 0) AS bytes, COUNT(*) AS n, "
                            "(SELECT COUNT(*) FROM runs) AS runs FROM blobs")[0]
        blob_bytes, blobs, runs = totals["bytes"], totals["n"], totals["runs"]
        return SpaceUsed(database_bytes=int(database_bytes), blob_bytes=int(blob_bytes),
                         runs=int(runs), blobs=int(blobs))

    def run_size(self, run_id: str) -> int:
        """Bytes a run holds: its events' text and the files it refers to."""
        rows = self._read(
            "SELECT (SELECT COALESCE(SUM(LENGTH(event_json)), 0) FROM events WHERE run_id = ?) "
            "AS text, (SELECT COALESCE(SUM(size), 0) FROM blobs WHERE sha IN (SELECT blob_sha "
            "FROM events WHERE run_id = ? UNION SELECT blob_sha FROM attachments WHERE run_id = ?)"
            ") AS files", (run_id, run_id, run_id))
        return int(rows[0]["text"]) + int(rows[0]["files"])

    def enforce_retention(self, max_bytes: int, *, keep_per_session: int = 3,
                          current_run: str | None = None) -> RetentionReport:
        """Delete the oldest finished runs until the store holds at most ``max_bytes``.

        Never deleted: running runs (``current_run`` included), the ``keep_per_session``
        newest runs of each session, and a run larger than ``max_bytes`` by itself (kept and
        flagged ``over_cap``: deleting others could never make it fit). Each deletion is
        written to the retention log with its reason (:meth:`retention_log`)."""
        keep = max(1, int(keep_per_session))
        rows = self._read(
            "SELECT id, session_id, prompt, outcome, over_cap, ROW_NUMBER() OVER ("
            "PARTITION BY session_id ORDER BY started DESC, id DESC) AS newest "
            "FROM runs ORDER BY started, id")
        over_cap: list[str] = []
        candidates: list[Mapping[str, Any]] = []
        for row in rows:
            size = self.run_size(row["id"])
            if size > max_bytes:
                over_cap.append(row["id"])
                if not row["over_cap"]:
                    with self._write() as conn:
                        conn.execute("UPDATE runs SET over_cap = 1 WHERE id = ?", (row["id"],))
                continue
            if row["outcome"] == "running" or row["id"] == current_run or row["newest"] <= keep:
                continue
            candidates.append({**row, "size": size})
        limit = f"{max_bytes / 1024 / 1024:g} MB"
        reason = (f"removed to keep the run history within the retention limit of {limit} "
                  f"(AGENT_DESK_RETENTION_MB): oldest finished runs go first; the newest {keep} "
                  "runs of each session and runs in progress are always kept")
        deleted: list[RetentionEntry] = []
        for cand in candidates:
            if self.space_used().total <= max_bytes:
                break
            entry = RetentionEntry(time.time(), cand["id"], cand["session_id"], cand["prompt"],
                                   cand["size"], reason)
            self.delete_run(cand["id"])
            with self._write() as conn:
                conn.execute("INSERT INTO retention_log (at, run_id, session_id, prompt, size, reason) "
                             "VALUES (?, ?, ?, ?, ?, ?)", (entry.at, entry.run_id, entry.session_id,
                                                           entry.prompt, entry.size, entry.reason))
            deleted.append(entry)
        if deleted:
            with self._write() as conn:
                gone = "NOT EXISTS (SELECT 1 FROM runs r WHERE r.session_id = sessions.id)"
                conn.execute("DELETE FROM session_files WHERE session_id IN "
                             f"(SELECT id FROM sessions WHERE {gone})")
                conn.execute(f"DELETE FROM sessions WHERE {gone}")
                self._collect_blobs(conn)
        return RetentionReport(tuple(deleted), tuple(over_cap), self.space_used().total > max_bytes)

    def retention_log(self, limit: int = 100) -> list[RetentionEntry]:
        """Runs removed by retention, newest first."""
        rows = self._read("SELECT * FROM retention_log ORDER BY at DESC, run_id DESC LIMIT ?", (int(limit),))
        return [RetentionEntry(r["at"], r["run_id"], r["session_id"], r["prompt"], r["size"], r["reason"])
                for r in rows]

