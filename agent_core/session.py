"""An agent session: its id (fits Bedrock's rule), memory id and attachments."""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from agent_core.files import AttachedFile, check_attachment_limits

SESSION_ID_RE = re.compile(r"^[0-9a-zA-Z._:-]{2,100}$")


def new_session_id() -> str:
    """A fresh id: 2-100 characters of ``[0-9a-zA-Z._:-]`` (Bedrock's rule)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"desk-{stamp}-{secrets.token_hex(4)}"


def is_valid_session_id(value: str) -> bool:
    return bool(SESSION_ID_RE.match(value or ""))


@dataclass(frozen=True)
class AgentSession:
    session_id: str
    memory_id: str | None = None
    attachments: tuple[AttachedFile, ...] = ()

    @classmethod
    def new(cls, memory_id: str | None = None) -> AgentSession:
        return cls(session_id=new_session_id(), memory_id=memory_id)

    def attach(self, file: AttachedFile) -> AgentSession:
        """A copy with ``file`` attached (replacing one of the same name); checks limits."""
        kept = tuple(f for f in self.attachments if f.name != file.name)
        files = kept + (file,)
        check_attachment_limits(files)
        return replace(self, attachments=files)

    def detach(self, name: str) -> AgentSession:
        return replace(self, attachments=tuple(f for f in self.attachments if f.name != name))
