"""Backends behind one protocol: ``invoke(request) -> Iterator[AgentEvent]``."""
from agent_core.backends.base import AgentRequest, Backend

__all__ = ["AgentRequest", "Backend"]
