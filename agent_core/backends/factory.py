"""``make_backend(settings)``: the backend the settings name, built lazily."""
from __future__ import annotations

from typing import Any

from agent_core.backends.base import Backend
from agent_core.config import BACKENDS, Settings, SettingsError


def make_backend(settings: Settings, **deps: Any) -> Backend:
    """The backend for ``settings.backend`` (``local``, ``bedrock``, ``bedrock-inline``,
    ``converse``). ``deps`` go to its constructor (e.g. ``client=`` for tests).
    Each backend module is imported only when chosen."""
    name = settings.backend
    if name == "bedrock":
        from agent_core.backends.bedrock import BedrockAgent

        return BedrockAgent(settings, **deps)
    if name == "bedrock-inline":
        from agent_core.backends.inline import InlineBedrockAgent

        return InlineBedrockAgent(settings, **deps)
    if name == "local":
        from agent_core.backends.local import LocalAgent

        return LocalAgent(settings, **deps)
    if name == "converse":
        from agent_core.backends.converse import ConverseAgent

        return ConverseAgent(settings, **deps)
    raise SettingsError(f"AGENT_BACKEND={name!r} is not known; use one of {', '.join(BACKENDS)}.")
