"""boto3 clients for Agent Desk, and the failures raised before a stream starts.

``make_client`` builds one client per (service, relevant settings) with botocore's
own ``Config`` (adaptive retries, a read timeout long enough for code runs) and
caches it. ``failure_from_exception`` turns what boto3 raises into an
``AgentFailure`` whose message says what to fix. Credentials come from boto3's
standard chain and never appear in a message.
"""
from __future__ import annotations

import os
import threading
from typing import Any

from agent_core.config import Settings
from agent_core.events import AgentFailure
from agent_core.failures import failure_for_exception, mask_secrets, operation

DEFAULT_REGION = "us-east-1"
DEFAULT_MAX_ATTEMPTS = 4  # in all, the first call included (when AWS_MAX_ATTEMPTS is unset)
CONNECT_TIMEOUT = 10.0
USER_AGENT_EXTRA = "agent-desk/0.1"

_clients: dict[tuple, Any] = {}
_lock = threading.Lock()


def _retries(session: Any) -> dict[str, Any]:
    """botocore's retry settings: adaptive mode; the number of attempts is botocore's own
    ``max_attempts`` (``AWS_MAX_ATTEMPTS`` or the profile's ``max_attempts``: total attempts,
    first call included), else :data:`DEFAULT_MAX_ATTEMPTS`. (``Config(retries=
    {"max_attempts": N})`` would mean N *retries*, one attempt more than the variable says.)"""
    retries: dict[str, Any] = {"mode": "adaptive"}
    if session._session.get_config_variable("max_attempts") is None:  # noqa: SLF001 - botocore's resolver
        retries["total_max_attempts"] = DEFAULT_MAX_ATTEMPTS
    return retries


def _key(service_name: str, settings: Settings) -> tuple:
    return (service_name, settings.region, settings.profile, settings.endpoint_url,
            float(settings.read_timeout), os.environ.get("AWS_MAX_ATTEMPTS"))


def make_client(service_name: str, settings: Settings) -> Any:
    """A cached boto3 client for ``service_name`` (e.g. ``bedrock-agent-runtime``).

    Region: ``settings.region``, else the session's (profile / ``AWS_DEFAULT_REGION``),
    else ``us-east-1``. ``endpoint_url`` is passed only when the settings set one, so
    boto3's own ``AWS_ENDPOINT_URL_<SERVICE>`` variables keep working.
    Raises botocore's exceptions (e.g. ``ProfileNotFound``); pass them to
    :func:`failure_from_exception`."""
    key = _key(service_name, settings)
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = _build(service_name, settings)
            _clients[key] = client
        return client


def clear_client_cache() -> None:
    """Forget every cached client (after credentials or settings change)."""
    with _lock:
        _clients.clear()


def _build(service_name: str, settings: Settings) -> Any:
    import boto3
    from botocore.config import Config

    session = boto3.Session(profile_name=settings.profile) if settings.profile else boto3.Session()
    region = settings.region or session.region_name or DEFAULT_REGION
    config = Config(
        retries=_retries(session),
        read_timeout=settings.read_timeout,
        connect_timeout=CONNECT_TIMEOUT,
        user_agent_extra=USER_AGENT_EXTRA,
    )
    kwargs: dict[str, Any] = {"region_name": region, "config": config}
    if settings.endpoint_url:
        kwargs["endpoint_url"] = settings.endpoint_url
    return session.client(service_name, **kwargs)


# --- failures: the one mapping lives in agent_core.failures ------------------------
scrub = mask_secrets  # the one secret masker, under the name this module's callers know


def failure_from_exception(exc: BaseException, *, action: str,
                           read_timeout: float | None = None) -> AgentFailure:
    """An ``AgentFailure`` for an exception boto3 raised for ``action`` (e.g. ``InvokeAgent``):
    the message names what to fix (a permission, a setting, credentials), never a secret."""
    return failure_for_exception(exc, op=operation(action), read_timeout=read_timeout)
