"""``OpenAIAgent``: the app's agent loop (:mod:`agent_core.backends.loop`) over the Chat
Completions API of any OpenAI-compatible server: Ollama, vLLM, LM Studio, llama.cpp server,
LiteLLM, OpenAI, Azure OpenAI (``OPENAI_API_VERSION`` set), Bedrock's OpenAI-compatible
endpoint.

It speaks through the official ``openai`` client (streaming, timeouts, retries that honour
``Retry-After``). Settings: ``OPENAI_BASE_URL``, ``OPENAI_MODEL``, ``OPENAI_API_KEY`` (a
secret: read here, kept only inside the client, never a setting; optional for local
servers), ``OPENAI_VISION`` and ``OPENAI_TOOLS`` (``auto`` learns from the server's first
refusal).
"""
from __future__ import annotations

import base64
import importlib.util
from collections.abc import Iterator
from typing import Any

from agent_core.backends.executors import CodeExecutor
from agent_core.backends.loop import AgentLoop
from agent_core.backends.model_adapter import (
    TOOL_DESCRIPTION,
    TOOL_INPUT_SCHEMA,
    TOOL_NAME,
    ImagePart,
    ToolOutcome,
    TurnEnd,
)
from agent_core.backends.openai_stream import SOURCE, StreamCut, parse_chat_stream
from agent_core.cancel import CancelToken
from agent_core.config import Settings, openai_api_key, url_without_credentials
from agent_core.events import AgentEvent, AgentFailure
from agent_core.failures import (
    ServerInfo,
    images_refused,
    openai_failure,
    tools_refused,
)

TOOL = {"type": "function", "function": {
    "name": TOOL_NAME, "description": TOOL_DESCRIPTION, "parameters": TOOL_INPUT_SCHEMA}}
NO_KEY = "no-key"  # local servers take any key; the client insists on one


def host_of(url: str | None) -> str:
    """The server's address for messages: scheme://host:port, nothing more."""
    from urllib.parse import urlsplit

    if not url:
        return "(no OPENAI_BASE_URL)"
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
        if not parts.hostname:
            return url_without_credentials(url) or ""
        return f"{parts.scheme}://{parts.hostname}{port}"
    except ValueError:
        return "(not a valid URL)"


def make_openai_client(settings: Settings, api_key: str | None) -> Any:
    """``openai.OpenAI`` (or ``openai.AzureOpenAI`` when an API version is set)."""
    import openai

    timeout = openai.Timeout(settings.read_timeout, connect=10.0)
    key, retries = api_key or NO_KEY, settings.openai_max_retries
    if settings.openai_api_version:
        return openai.AzureOpenAI(azure_endpoint=settings.openai_base_url or "",
                                  api_version=settings.openai_api_version, api_key=key,
                                  timeout=timeout, max_retries=retries)
    return openai.OpenAI(base_url=settings.openai_base_url, api_key=key, timeout=timeout,
                         max_retries=retries)


class ChatCompletionsModel:
    """The :class:`~agent_core.backends.loop.ModelAdapter` for Chat Completions."""

    source = SOURCE
    model_setting = "OPENAI_MODEL"

    def __init__(self, settings: Settings, client: Any = None, api_key: str | None = None) -> None:
        if client is None and importlib.util.find_spec("openai") is None:
            raise ImportError("the openai package is not installed: pip install -r requirements.txt",
                              name="openai")
        self.settings = settings
        self._key = api_key if api_key is not None else openai_api_key()
        self._client = client
        self.vision = settings.openai_vision != "no"  # learned: False after a refusal
        self._token_param = "max_tokens"

    def __repr__(self) -> str:  # never shows the key
        return f"ChatCompletionsModel(host={host_of(self.settings.openai_base_url)!r}, " \
               f"model={self.settings.openai_model!r})"

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = make_openai_client(self.settings, self._key)
        return self._client

    @property
    def server(self) -> ServerInfo:
        return ServerInfo(host=host_of(self.settings.openai_base_url),
                          model=self.settings.openai_model or "(no OPENAI_MODEL)",
                          azure=bool(self.settings.openai_api_version))

    # --- the adapter protocol -----------------------------------------------------
    def configuration_failure(self) -> AgentFailure | None:
        from agent_core.config import missing_for_backend

        missing = missing_for_backend(self.settings)
        if not missing:
            return None
        return AgentFailure(kind="configuration", source=SOURCE, message=(
            "The openai backend needs these settings: " + "; ".join(missing)
            + ". Set them in the environment or under [agent] in .streamlit/secrets.toml "
              "(see docs/models.md)."))

    def user_message(self, text: str) -> dict[str, Any]:
        return {"role": "user", "content": text}

    def stream_turn(self, system: str, messages: list[dict[str, Any]], step_id: str, *,
                    tools: bool, cancel: CancelToken | None = None) -> Iterator[AgentEvent | TurnEnd]:
        s = self.settings
        kwargs: dict[str, Any] = {
            "model": s.openai_model, "stream": True,
            "messages": [{"role": "system", "content": system}, *messages],
            "stream_options": {"include_usage": True},
            self._token_param: int(s.max_tokens),
        }
        if tools:
            kwargs["tools"] = [TOOL]
        stream = self._create(kwargs)
        if cancel is not None:  # a Stop closes the stream (unblocks a waiting read)
            cancel.on_cancel(getattr(stream, "close", lambda: None))
        try:
            yield from parse_chat_stream(stream, step_id=step_id, hold_text=not tools)
        finally:
            close = getattr(stream, "close", None)
            if callable(close):
                close()

    def _create(self, kwargs: dict[str, Any]) -> Any:
        """``chat.completions.create``, adapting once to a server that rejects a parameter."""
        import openai

        for _ in range(3):
            try:
                return self.client.chat.completions.create(**kwargs)
            except openai.BadRequestError as exc:
                text = str(exc)
                if "max_tokens" in kwargs and "max_completion_tokens" in text:
                    # newer OpenAI models take max_completion_tokens only
                    self._token_param = "max_completion_tokens"
                    kwargs["max_completion_tokens"] = kwargs.pop("max_tokens")
                elif "stream_options" in kwargs and "stream_options" in text:
                    kwargs.pop("stream_options")  # an older server: no usage then
                else:
                    raise
        return self.client.chat.completions.create(**kwargs)

    def failure(self, exc: BaseException, step_id: str) -> AgentFailure:
        partial = isinstance(exc, StreamCut)
        cause = exc.cause if isinstance(exc, StreamCut) else exc
        return openai_failure(cause, self.server, step_id=step_id, secret=self._key,
                              partial=partial, list_models=self._list_models)

    def _list_models(self) -> list[str]:
        client = self.client.with_options(max_retries=0, timeout=5.0)
        return sorted(m.id for m in client.models.list())

    def tool_results(self, outcomes: list[ToolOutcome], *, fenced: bool) -> list[dict[str, Any]]:
        images = [i for o in outcomes for i in o.images]
        if fenced:
            text = "\n\n".join(("The code failed.\n" if o.is_error else "The code ran.\n") + o.text
                               for o in outcomes)
            text += ("\n\nIf it failed, fix it in a new ```python block; if you are done, answer "
                     "without a code block.")
            return [self._with_images(text + self._image_note(images), images)]
        out: list[dict[str, Any]] = [
            {"role": "tool", "tool_call_id": o.call.tool_use_id,
             "content": o.text + self._image_note(list(o.images))} for o in outcomes]
        if images and self.vision:
            out.append(self._with_images("The charts the code above wrote:", images))
        return out

    def _image_note(self, images: list[ImagePart]) -> str:
        if not images:
            return ""
        if self.vision:
            return ""
        listed = ", ".join(f"{i.name} ({len(i.data):,} bytes)" for i in images)
        return (f"\n\n(Charts written: {listed}. They are shown to the user; this model is not "
                "sent images.)")

    def _with_images(self, text: str, images: list[ImagePart]) -> dict[str, Any]:
        if not images or not self.vision:
            return {"role": "user", "content": text}
        parts: list[dict[str, Any]] = [{"type": "text", "text": text}]
        for i in images:
            data = base64.b64encode(i.data).decode("ascii")
            parts.append({"type": "text", "text": f"{i.name}:"})
            parts.append({"type": "image_url", "image_url": {"url": f"data:{i.media_type};base64,{data}"}})
        return {"role": "user", "content": parts}

    def note(self, text: str) -> dict[str, Any]:
        return {"role": "assistant", "content": text}

    def compact(self, message: dict[str, Any]) -> dict[str, Any]:
        content = message.get("content")
        if message.get("role") != "user" or not isinstance(content, list):
            return message
        texts = [p.get("text", "") for p in content if p.get("type") == "text"]
        n = sum(p.get("type") == "image_url" for p in content)
        if not n:
            return message
        note = f"({n} chart image(s) left out here; the files are listed with the code result)"
        return {**message, "content": "\n".join([*texts, note])}

    def stop_failure(self, stop_reason: str | None, step_id: str) -> AgentFailure | None:
        if stop_reason == "content_filtered":
            return AgentFailure(kind="content_filtered", step_id=step_id, source=SOURCE, message=(
                "The model's answer was filtered by the server's content moderation. Rephrase "
                "the request."))
        return None

    def tools_refused(self, exc: BaseException) -> bool:
        return self.settings.openai_tools == "auto" and tools_refused(exc)

    def images_refused(self, exc: BaseException) -> bool:
        if self.settings.openai_vision == "auto" and self.vision and images_refused(exc):
            self.vision = False  # learned: this model takes text only
            return True
        return False


class OpenAIAgent(AgentLoop):
    """A ``Backend`` over any OpenAI-compatible Chat Completions server."""

    name = "openai"

    def __init__(self, settings: Settings, *, executor: CodeExecutor | None = None,
                 pool: Any = None, client: Any = None, api_key: str | None = None) -> None:
        super().__init__(settings, ChatCompletionsModel(settings, client, api_key),
                         executor=executor, pool=pool, fenced=settings.openai_tools == "no")
