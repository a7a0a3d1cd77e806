"""boto3 clients for Agent Desk, and the failures raised before a stream starts.

``make_client`` builds one client per (service, relevant settings) with botocore's
own ``Config`` (adaptive retries, a read timeout long enough for code runs) and
caches it. ``failure_from_exception`` turns what boto3 raises into an
``AgentFailure`` whose message says what to fix. Credentials come from boto3's
standard chain and never appear in a message.
"""
from __future__ import annotations

import os
import re
import threading
from typing import Any

from agent_core.config import Settings
from agent_core.events import AgentFailure

DEFAULT_REGION = "us-east-1"
DEFAULT_MAX_ATTEMPTS = 4
CONNECT_TIMEOUT = 10.0
USER_AGENT_EXTRA = "agent-desk/0.1"

_clients: dict[tuple, Any] = {}
_lock = threading.Lock()


def _max_attempts() -> int:
    """botocore's ``Config`` wins over ``AWS_MAX_ATTEMPTS``; keep honouring the variable."""
    try:
        return max(1, int(os.environ.get("AWS_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS)))
    except ValueError:
        return DEFAULT_MAX_ATTEMPTS


def _key(service_name: str, settings: Settings) -> tuple:
    return (service_name, settings.region, settings.profile, settings.endpoint_url,
            float(settings.read_timeout), _max_attempts())


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
        retries={"mode": "adaptive", "max_attempts": _max_attempts()},
        read_timeout=settings.read_timeout,
        connect_timeout=CONNECT_TIMEOUT,
        user_agent_extra=USER_AGENT_EXTRA,
    )
    kwargs: dict[str, Any] = {"region_name": region, "config": config}
    if settings.endpoint_url:
        kwargs["endpoint_url"] = settings.endpoint_url
    return session.client(service_name, **kwargs)


# --- failures before the stream ------------------------------------------------
_PERMISSIONS = {
    "InvokeAgent": "bedrock:InvokeAgent on the agent alias "
                   "(arn:aws:bedrock:REGION:ACCOUNT:agent-alias/AGENT_ID/ALIAS_ID)",
    "InvokeInlineAgent": "bedrock:InvokeInlineAgent, and bedrock:InvokeModel on the "
                         "foundation model (BEDROCK_MODEL_ID)",
    "Converse": "bedrock:InvokeModel on the model (BEDROCK_MODEL_ID)",
    "ConverseStream": "bedrock:InvokeModelWithResponseStream on the model (BEDROCK_MODEL_ID)",
    "InvokeCodeInterpreter": "bedrock-agentcore:InvokeCodeInterpreter on the code interpreter",
    "StartCodeInterpreterSession": "bedrock-agentcore:StartCodeInterpreterSession on the "
                                   "code interpreter",
}
_NOT_FOUND_HINT = {
    "InvokeAgent": "check BEDROCK_AGENT_ID / BEDROCK_AGENT_ALIAS_ID and that AWS_REGION is the "
                   "agent's region",
    "InvokeInlineAgent": "check BEDROCK_MODEL_ID and that the model is enabled in AWS_REGION",
    "Converse": "check BEDROCK_MODEL_ID and that the model is enabled in AWS_REGION",
    "ConverseStream": "check BEDROCK_MODEL_ID and that the model is enabled in AWS_REGION",
}
_CREDENTIALS_FIX = ("refresh your credentials (aws sso login --profile NAME, or new "
                    "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN), then try again")
# Anything shaped like an AWS access key id or a long secret is masked from service text.
_SECRET_LIKE = re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}\b|[A-Za-z0-9/+=]{40,}")


def scrub(text: str) -> str:
    """``text`` with anything that looks like a key or token masked."""
    return _SECRET_LIKE.sub("[redacted]", str(text or ""))


def normalize_code(code: str) -> str:
    """``throttlingException`` (in-stream) -> ``ThrottlingException`` (HTTP)."""
    code = str(code or "")
    return code[:1].upper() + code[1:]


def _permission(action: str) -> str:
    return _PERMISSIONS.get(action, f"bedrock:{action}")


def failure_from_exception(exc: BaseException, *, action: str,
                           read_timeout: float | None = None) -> AgentFailure:
    """An ``AgentFailure`` for an exception boto3 raised for ``action`` (e.g. ``InvokeAgent``).

    The message names what to fix (a permission, a setting, credentials); it never
    contains credentials."""
    from botocore import exceptions as bx

    if isinstance(exc, bx.ClientError):
        err = (getattr(exc, "response", None) or {}).get("Error", {}) or {}
        return failure_for_client_error(str(err.get("Code", "")), str(err.get("Message", "")),
                                        action=action)
    if isinstance(exc, bx.NoCredentialsError):
        return AgentFailure(kind="credentials", message=(
            f"No AWS credentials were found for {action}. Configure them through the standard "
            "boto3 chain: set AWS_PROFILE to a profile from ~/.aws/config (and run "
            "`aws sso login --profile NAME` for SSO), or set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or run where an instance/container role is available."))
    if isinstance(exc, bx.PartialCredentialsError):
        return AgentFailure(kind="credentials", message=(
            f"The AWS credentials are incomplete ({scrub(exc)}). Set both AWS_ACCESS_KEY_ID "
            "and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary keys), or use "
            "a profile (AWS_PROFILE)."))
    if isinstance(exc, bx.ProfileNotFound):
        return AgentFailure(kind="configuration", message=(
            f"{scrub(exc)}. Set AWS_PROFILE (or --profile) to a profile defined in "
            "~/.aws/config, or unset it to use the default credential chain."))
    if isinstance(exc, bx.NoRegionError):
        return AgentFailure(kind="configuration", message=(
            "No AWS region is set. Set AWS_REGION (or --region) to the region of your "
            "Bedrock resources, e.g. us-east-1."))
    if isinstance(exc, bx.InvalidRegionError):
        return AgentFailure(kind="configuration", message=(
            f"{scrub(exc)} Set AWS_REGION (or --region) to a region code such as us-east-1."))
    if isinstance(exc, ValueError) and str(exc).startswith("Invalid endpoint"):
        return AgentFailure(kind="configuration", message=(
            f"{scrub(exc)}. BEDROCK_ENDPOINT_URL (or --endpoint-url) must be a full URL such "
            "as https://bedrock-agent-runtime.us-east-1.amazonaws.com, or unset it."))
    if isinstance(exc, bx.ReadTimeoutError):
        limit = f" within {read_timeout:g} s" if read_timeout else ""
        return AgentFailure(kind="timeout", retryable=True, message=(
            f"Bedrock did not answer{limit} ({action}). Long code runs need a longer read "
            "timeout: raise BEDROCK_READ_TIMEOUT (or --read-timeout) and try again."))
    if isinstance(exc, bx.ConnectTimeoutError):
        return AgentFailure(kind="connection", retryable=True, message=(
            f"Connecting to Bedrock timed out ({action}). Check your network, proxy and "
            "BEDROCK_ENDPOINT_URL / AWS_REGION, then try again."))
    if isinstance(exc, bx.EndpointConnectionError):
        url = getattr(exc, "kwargs", {}).get("endpoint_url") or "endpoint"
        return AgentFailure(kind="connection", retryable=True, message=(
            f"Could not reach Bedrock at {url} ({action}). Check your network, and that "
            "AWS_REGION and BEDROCK_ENDPOINT_URL are right, then try again."))
    if isinstance(exc, (bx.ConnectionClosedError, bx.ConnectionError, bx.HTTPClientError)):
        return AgentFailure(kind="connection", retryable=True, message=(
            f"The connection to Bedrock broke ({action}): {scrub(exc)}. Try again."))
    if isinstance(exc, bx.ParamValidationError):
        return AgentFailure(kind="validation", message=(
            f"The request for {action} was not valid: {scrub(exc)}. Fix the setting named "
            "there and try again."))
    if isinstance(exc, bx.BotoCoreError):
        return AgentFailure(kind="service_error", message=f"{action} failed: {scrub(exc)}")
    return AgentFailure(kind="unexpected", message=(
        f"{action} failed unexpectedly ({type(exc).__name__}: {scrub(exc)})."))


def failure_for_client_error(code: str, message: str, *, action: str) -> AgentFailure:
    """The ``AgentFailure`` for a service error code (either spelling of the first letter)."""
    code = normalize_code(code)
    said = scrub(message).strip()
    said_part = f" (Bedrock said: {said})" if said else ""
    if code in ("AccessDeniedException", "AccessDenied"):
        return AgentFailure(kind="access_denied", message=(
            f"Access denied for {action}{said_part}. Your AWS identity needs the permission "
            f"{_permission(action)}; ask your AWS administrator to add it to your role or user."))
    if code in ("ResourceNotFoundException",):
        hint = _NOT_FOUND_HINT.get(action, "check the ids in your settings and AWS_REGION")
        return AgentFailure(kind="not_found", message=(
            f"Bedrock could not find what {action} names{said_part}: {hint}."))
    if code in ("ValidationException",):
        return AgentFailure(kind="validation", message=(
            f"Bedrock rejected the {action} request as invalid{said_part}. Check the settings "
            "and the attached files named there, then try again."))
    if code in ("ThrottlingException", "TooManyRequestsException"):
        return AgentFailure(kind="throttling", retryable=True, message=(
            f"Bedrock is throttling requests{said_part}. Wait a little and try again."))
    if code in ("ExpiredTokenException", "ExpiredToken", "UnrecognizedClientException",
                "InvalidSignatureException", "InvalidClientTokenId", "SignatureDoesNotMatch",
                "IncompleteSignature", "RequestExpired"):
        return AgentFailure(kind="credentials", message=(
            f"AWS did not accept your credentials for {action} ({code}): {_CREDENTIALS_FIX}."))
    from agent_core.stream import failure_for_code  # the one table of Bedrock error codes

    return failure_for_code(code, said or None, source="bedrock")
