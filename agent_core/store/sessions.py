"""Sessions: who owns one, what a working session had on screen, and the local agent's
conversation state."""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from agent_core.files import AttachedFile
from agent_core.store.database import _Tx
from agent_core.store.records import NotYourSessionError, SessionInfo, SessionState, StoreError
from agent_core.store.stored_files import _StoredFiles

log = logging.getLogger(__name__)


class _Sessions(_StoredFiles):
    """Session owners, kept session state and the local agent's conversation state."""

    @staticmethod
    def _check_owner(conn: _Tx, session_id: str, owner: str | None) -> None:
        """Refuse a user's write into another user's session (inside the write transaction).
        A session nobody owns (single-user install, written before owners) is taken by the
        first user who writes into it; no ``owner`` (the CLI, a single-user app) checks nothing."""
        if owner is None:
            return
        row = conn.execute("SELECT owner FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if row is not None and row[0] is not None and row[0] != owner:
            raise NotYourSessionError(session_id)

    # --- the local agent's conversation state (schema v4, issue 12) -------------------
    def save_conversation(self, session_id: str, state_json: str) -> None:
        """Keep the session's conversation state (JSON of an AnalysisState), replacing the last."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO conversation_state (session_id, state_json, updated) VALUES (?, ?, ?) "
                "ON CONFLICT(session_id) DO UPDATE SET state_json = excluded.state_json, "
                "updated = excluded.updated", (session_id, state_json, time.time()))

    def conversation(self, session_id: str) -> str | None:
        """The session's conversation state as saved, or None."""
        rows = self._read("SELECT state_json FROM conversation_state WHERE session_id = ?", (session_id,))
        return rows[0]["state_json"] if rows else None

    def save_session_state(self, session_id: str, backend: str, *,
                           settings: Mapping[str, Any] | None = None,
                           attached: Iterable[AttachedFile] = (),
                           uploaded: Iterable[AttachedFile] = (),
                           owner: str | None = None) -> None:
        """Keep the session's settings and files (replacing what was kept before).
        ``owner`` as in :meth:`start_run`: another user's session raises NotYourSessionError."""
        now = time.time()
        state_json = json.dumps(dict(settings or {}), sort_keys=True, default=str)
        with self._write() as conn:
            self._check_owner(conn, session_id, owner)
            conn.execute(
                "INSERT INTO sessions (id, backend, created, last_used, state_json, owner) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                "last_used = excluded.last_used, state_json = excluded.state_json, "
                "owner = COALESCE(sessions.owner, excluded.owner)",
                (session_id, backend, now, now, state_json, owner))
            conn.execute("DELETE FROM session_files WHERE session_id = ?", (session_id,))
            for role, files in (("attached", attached), ("uploaded", uploaded)):
                for pos, f in enumerate(files):
                    sha = self._put_blob(conn, bytes(f.data))
                    conn.execute(
                        "INSERT INTO session_files (session_id, role, position, name, media_type, "
                        "use_case, size, blob_sha) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (session_id, role, pos, f.name, f.media_type, f.use_case, len(f.data), sha))
            self._collect_blobs(conn)

    def session_state(self, session_id: str) -> SessionState | None:
        """The kept state of a session, or None when the store has no such session."""
        rows = self._read("SELECT state_json FROM sessions WHERE id = ?", (session_id,))
        if not rows:
            return None
        try:
            settings = json.loads(rows[0]["state_json"] or "{}")
        except ValueError:
            settings = {}
        files: dict[str, list[AttachedFile]] = {"attached": [], "uploaded": []}
        for r in self._read("SELECT * FROM session_files WHERE session_id = ? ORDER BY role, position",
                            (session_id,)):
            try:
                data = self.read_blob(r["blob_sha"])
            except StoreError:
                log.warning("a kept file of session %s is missing from the store", session_id)
                continue
            files[r["role"]].append(AttachedFile(name=r["name"], media_type=r["media_type"], data=data,
                                                 use_case=r["use_case"]))
        return SessionState(id=session_id, settings=settings if isinstance(settings, dict) else {},
                            attached=tuple(files["attached"]), uploaded=tuple(files["uploaded"]))

    def session_owner(self, session_id: str) -> str | None:
        """The user a session belongs to; None when nobody owns it or there is no such session."""
        rows = self._read("SELECT owner FROM sessions WHERE id = ?", (session_id,))
        return rows[0]["owner"] if rows else None

    def list_sessions(self, owner: str | None = None) -> list[SessionInfo]:
        """Sessions, most recently used first; ``owner``: only that user's."""
        where, args = ("WHERE s.owner = ? ", (owner,)) if owner is not None else ("", ())
        rows = self._read(
            "SELECT s.*, (SELECT COUNT(*) FROM runs r WHERE r.session_id = s.id) AS run_count "
            f"FROM sessions s {where}ORDER BY s.last_used DESC", args)
        return [SessionInfo(id=r["id"], backend=r["backend"], created=r["created"],
                            last_used=r["last_used"], run_count=r["run_count"], owner=r["owner"])
                for r in rows]

