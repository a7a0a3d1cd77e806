"""``make_backend(settings)``: the backend the settings name, built lazily."""
from __future__ import annotations

from typing import Any

from agent_core.backends.base import Backend
from agent_core.config import BACKENDS, Settings, SettingsError


def make_backend(settings: Settings, *, pool: Any = None, **deps: Any) -> Backend:
    """The backend for ``settings.backend`` (``local``, ``bedrock``, ``bedrock-inline``,
    ``converse``, ``openai``). Each backend module is imported only when chosen.

    ``pool``: a shared ``KernelPool`` for the backends that run code here (``local``,
    ``converse``, ``openai``); the Bedrock backends ignore it. ``deps`` go to the backend's
    constructor as they are (e.g. ``client=`` or ``executor=``)."""
    name = settings.backend
    if name == "bedrock":
        from agent_core.backends.bedrock import BedrockAgent

        return BedrockAgent(settings, **deps)
    if name == "bedrock-inline":
        from agent_core.backends.inline import InlineBedrockAgent

        return InlineBedrockAgent(settings, **deps)
    if pool is not None:
        deps["pool"] = pool
    if name == "local":
        from agent_core.backends.local import LocalAgent

        return LocalAgent(settings, **deps)
    if name == "converse":
        from agent_core.backends.converse import ConverseAgent

        return ConverseAgent(settings, **deps)
    if name == "openai":
        from agent_core.backends.openai_chat import OpenAIAgent

        return OpenAIAgent(settings, **deps)
    raise SettingsError(f"AGENT_BACKEND={name!r} is not known; use one of {', '.join(BACKENDS)}.")
