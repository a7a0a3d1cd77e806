"""Errors of an OpenAI-compatible server -> one ``AgentFailure`` in plain words, naming the
setting to change. The one mapping table for the ``openai`` backend: :func:`openai_failure`
(to move into ``agent_core.failures`` once that module has landed).

The API key never appears in a message: any text from the server is scrubbed of it (some
servers echo the key they were given in a 401).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agent_core.events import AgentFailure

SOURCE = "openai"
_CONTEXT = re.compile(r"context[_ ]length|context window|maximum context|too many tokens|"
                      r"prompt is too long|exceeds? the (?:model'?s? )?(?:max|context)", re.I)
_TOOLS = re.compile(r"(?:does not|doesn't|do not) support (?:tools|tool[_ ]?(?:use|calling|calls))|"
                    r"tools? (?:are|is) not supported|tool[_ ]?(?:use|calling|choice)[^.]{0,40}"
                    r"not (?:supported|enabled)|function[_ ]calling[^.]{0,40}not supported|"
                    r"unsupported[^.]{0,20}\btools?\b", re.I)
_IMAGES = re.compile(r"image|vision|multimodal|multi-modal", re.I)
_KEYISH = re.compile(r"\b(?:sk|key|token)[-_][A-Za-z0-9_\-]{6,}")


@dataclass(frozen=True)
class ServerInfo:
    """What a message may name: the server's address (host only) and the model."""

    host: str
    model: str
    azure: bool = False


def scrub(text: str, secret: str | None) -> str:
    """``text`` without the key (whole or its long pieces) and without key-like tokens."""
    if secret:
        text = text.replace(secret, "***")
        if len(secret) >= 12:  # "sk-abc...xyz" style partial echoes
            for n in range(len(secret) - 1, 7, -1):
                for i in range(0, len(secret) - n + 1):
                    piece = secret[i:i + n]
                    if piece in text:
                        text = text.replace(piece, "***")
    return _KEYISH.sub("***", text)


def _detail(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
        if isinstance(inner, str):
            return inner
    return str(getattr(exc, "message", None) or exc)


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return float(value) / divisor
            except ValueError:
                continue
    return None


def tools_refused(exc: BaseException) -> bool:
    """A 400 (or 404/422) saying the model cannot take tools."""
    status = getattr(exc, "status_code", None)
    return status in (400, 404, 422, 500) and bool(_TOOLS.search(_detail(exc)))


def images_refused(exc: BaseException) -> bool:
    """A 400/422 about an image part (the model takes text only)."""
    status = getattr(exc, "status_code", None)
    return status in (400, 422, 500) and bool(_IMAGES.search(_detail(exc))) and not tools_refused(exc)


def openai_failure(exc: BaseException, server: ServerInfo, *, step_id: str | None = None,
                   secret: str | None = None, partial: bool = False,
                   list_models: Callable[[], Sequence[str]] | None = None) -> AgentFailure:
    """Any exception from the ``openai`` client (before or during the stream) -> AgentFailure.

    ``partial``: the stream broke after part of the answer arrived. ``list_models``: asked
    on a 404 for the models the server has (its failure is ignored)."""
    import openai

    host, model = server.host, server.model
    model_word = "deployment" if server.azure else "model"
    detail = scrub(_detail(exc), secret)[:400]

    def fail(kind: str, message: str, retryable: bool = False) -> AgentFailure:
        return AgentFailure(kind=kind, message=scrub(message, secret), retryable=retryable,
                            step_id=step_id, source=SOURCE)

    if partial:
        return fail("broken_stream", f"The connection to the model server at {host} broke while "
                    "the model was answering. What arrived is shown above; retry the request.", True)
    if isinstance(exc, openai.APITimeoutError):
        return fail("timeout", f"The model server at {host} did not answer in time. Retry; a slow "
                    "local model may need a longer wait: raise BEDROCK_READ_TIMEOUT (seconds, it "
                    "is the read timeout of every backend).", True)
    if isinstance(exc, openai.APIConnectionError):
        return fail("connection", f"Could not connect to the model server at {host}. Is the "
                    "server running at this URL? Start it (e.g. `ollama serve`, or LM Studio's "
                    "local server) or correct OPENAI_BASE_URL.", True)
    if isinstance(exc, openai.AuthenticationError):
        return fail("access_denied", f"The model server at {host} refused the API key (401: "
                    f"{detail}). Set OPENAI_API_KEY (environment, or [agent] in "
                    ".streamlit/secrets.toml) to a valid key for this server.")
    if isinstance(exc, openai.PermissionDeniedError):
        return fail("access_denied", f"The model server at {host} denied access to the {model_word} "
                    f"{model!r} (403: {detail}). Check the key's permissions or choose another "
                    "model (OPENAI_MODEL).")
    if isinstance(exc, openai.NotFoundError):
        names: list[str] = []
        if list_models is not None:
            try:
                names = [str(n) for n in list_models()][:20]
            except Exception:  # noqa: BLE001 - the list is a hint only
                names = []
        hint = (f" The server has: {', '.join(names)}." if names else
                " Check OPENAI_BASE_URL too: it usually ends in /v1.")
        return fail("not_found", f"The model server at {host} has no {model_word} {model!r} "
                    f"(404: {detail}). Set OPENAI_MODEL to one it serves.{hint}")
    if isinstance(exc, openai.RateLimitError):
        wait = _retry_after(exc)
        when = (f"Wait {wait:g} s (the server's Retry-After) and retry" if wait is not None
                else "Wait a minute and retry")
        return fail("throttling", f"The model server at {host} is rate-limiting requests to "
                    f"{model!r} (429: {detail}). {when}, or raise your quota.", True)
    if isinstance(exc, openai.BadRequestError) or getattr(exc, "status_code", None) in (400, 413, 422):
        if _CONTEXT.search(detail) or getattr(exc, "code", None) == "context_length_exceeded":
            return fail("context_too_long", f"The conversation no longer fits the context window "
                        f"of {model!r} ({detail}). Start a new session (history is dropped), attach "
                        "a smaller file, or use a model with a longer context (OPENAI_MODEL; for "
                        "Ollama, raise num_ctx).")
        if tools_refused(exc):
            return fail("validation", f"The {model_word} {model!r} cannot call tools ({detail}). "
                        "Set OPENAI_TOOLS=no to have it write ```python blocks instead, or choose "
                        "a model that calls tools (OPENAI_MODEL).")
        return fail("validation", f"The model server at {host} rejected the request for {model!r} "
                    f"({detail}). Check OPENAI_MODEL, and OPENAI_API_VERSION for Azure.")
    if isinstance(exc, openai.APIStatusError):
        status = getattr(exc, "status_code", "?")
        return fail("service_unavailable", f"The model server at {host} failed ({status}: "
                    f"{detail}). Retry in a moment; if it persists, check the server's log.", True)
    if isinstance(exc, openai.APIError):
        return fail("model_error", f"The model server at {host} reported an error while answering "
                    f"({detail}). Retry.", True)
    return fail("internal", f"The request to the model server at {host} failed "
                f"({type(exc).__name__}: {detail}). Retry; if it happens again, start a new session.")
