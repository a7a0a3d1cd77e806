"""The one failure vocabulary: ``AgentDeskError`` and its kinds; every wire error ->
``_agent_failure(kind, message, retryable)``; one secret masker.

Where an error from outside becomes words for the user:

* :func:`failure_for_code` - a service error code (Bedrock event-stream members such as
  ``throttlingException``, botocore ``ClientError`` codes such as ``ThrottlingException``,
  Converse's ``modelStreamErrorException``, AgentCore's codes) and the service's own text;
  :data:`CODES` is the one table of them.
* :func:`failure_for_exception` - anything raised while calling a service or reading its
  stream (botocore / urllib3 / http.client errors, our own ``AgentDeskError``\\ s).
* :func:`openai_failure` - an OpenAI-compatible server's errors (the ``openai`` backend).
* :func:`mask_secrets` - every message built here goes through it: nothing shaped like an
  AWS key id, a long secret or an API key (nor the key the backend was given) reaches a
  screen, a log or the store.

``Operation`` says what was being called (``InvokeAgent``, ``ConverseStream``, an AgentCore
call): it fills in the advice that depends on it (which permission, which setting).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # events -> files -> failures: the event class is imported where it is built
    from agent_core.events import AgentFailure

MAX_MESSAGE = 600  # characters of a service's own text kept in a message

# key ids, long key/token-like runs and API-key-shaped tokens (sk-..., key_..., token-...)
_SECRET_LIKE = re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}\b|[A-Za-z0-9/+=]{40,}")
_KEYISH = re.compile(r"\b(?:sk|key|token)[-_][A-Za-z0-9_\-]{6,}")


def _agent_failure(**fields: Any) -> AgentFailure:
    from agent_core.events import AgentFailure

    return AgentFailure(**fields)


def mask_secrets(text: object, secret: str | None = None) -> str:
    """``text`` with anything that looks like an AWS key id, a secret or an API key masked,
    and ``secret`` itself (whole, or long pieces of it: servers echo keys in part) removed."""
    out = str(text if text is not None else "")
    if secret:
        out = out.replace(secret, "***")
        if len(secret) >= 12:  # "sk-abc...xyz" style partial echoes
            for n in range(len(secret) - 1, 7, -1):
                for i in range(0, len(secret) - n + 1):
                    piece = secret[i:i + n]
                    if piece in out:
                        out = out.replace(piece, "***")
    return _KEYISH.sub("***", _SECRET_LIKE.sub("[redacted]", out))


def clip(text: object, limit: int = MAX_MESSAGE) -> str:
    """One line, secrets masked, at most ``limit`` characters."""
    one_line = mask_secrets(" ".join(str(text if text is not None else "").split()))
    return one_line if len(one_line) <= limit else one_line[: limit - 3] + "..."


# --- our own errors -----------------------------------------------------------------
class AgentDeskError(Exception):
    """Base of every error Agent Desk raises on purpose.

    Like botocore's exceptions, a subclass builds its own message from keyword fields
    (``fmt``); passing a ready message positionally still works. ``kind`` and
    ``retryable`` say how a run that met it ends (:meth:`to_failure`)."""

    fmt = "Agent Desk could not finish the request."
    kind = "unexpected"
    retryable = False

    def __init__(self, *args: object, **fields: Any) -> None:
        self.fields = fields
        if args:
            super().__init__(*args)
        else:
            super().__init__(self.fmt.format(**fields))

    def to_failure(self, *, source: str | None = None) -> AgentFailure:
        return _agent_failure(kind=self.kind, message=clip(str(self), 2 * MAX_MESSAGE),
                            retryable=self.retryable, source=source)


class BackendUnavailableError(AgentDeskError):
    """The backend for the current settings could not be built."""

    fmt = ("The agent backend could not start: {reason}. Check the settings shown in the "
           "sidebar (or the CLI flags), then try again.")
    kind = "configuration"


class ExecutorError(AgentDeskError, RuntimeError):
    """A code executor could not run the code (service failure, lost session).

    ``kind`` / ``retryable`` feed the ``AgentFailure`` the agent loop reports;
    ``cause`` keeps the original exception (never shown raw)."""

    def __init__(self, message: str, *, kind: str = "executor", retryable: bool = False,
                 cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable
        self.cause = cause


class PlannerError(AgentDeskError):
    """The local agent's planner broke on a request: no code was run."""

    fmt = ("The local planner could not handle this request ({name}: {detail}), so no code was "
           "run. Rephrase the request, run your own code with \"run this code: ```...```\", or "
           "use another backend.")
    kind = "planner"


class UnexpectedRunError(AgentDeskError):
    """A backend raised where it should have yielded an ``AgentFailure``."""

    fmt = ("The run stopped unexpectedly ({name}: {detail}). What arrived so far is kept; "
           "press Retry.")
    retryable = True


# --- what was being called ---------------------------------------------------------------
@dataclass(frozen=True)
class Operation:
    """The call an error came from, and the advice that depends on it."""

    name: str                       # e.g. InvokeAgent
    service: str = "Bedrock"        # who answered, in words
    subject: str = "the agent"      # what the request was for
    access: str = ""                # what permission to grant
    missing: str = "check the ids in your settings and AWS_REGION"   # for not found
    invalid: str = "Check the settings and the attached files named there, then try again."
    source: str | None = "bedrock"
    kinds: Mapping[str, str] = field(default_factory=dict)  # kind overrides for this call

    def for_model(self, model_id: str | None) -> Operation:
        return replace(self, subject=f"the model {model_id or '(no model id)'}")


INVOKE_AGENT = Operation(
    "InvokeAgent",
    access=("The AWS identity you use needs bedrock:InvokeAgent on the agent alias "
            "(bedrock:InvokeInlineAgent for an inline agent), and the agent's service role needs "
            "bedrock:InvokeModel on its foundation model (plus bedrock:InvokeModelWithResponseStream "
            "when the final answer is streamed). Ask your AWS administrator to grant the missing "
            "permission."),
    missing=("check BEDROCK_AGENT_ID and BEDROCK_AGENT_ALIAS_ID (and AWS_REGION: an agent lives "
             "in one region), and that the alias points to a prepared version"),
    invalid=("Check the agent id and alias id, the session id (2-100 characters of letters, "
             "digits and . _ : -), and the attached files (at most 5, 10 MB in all), then try again."),
)
INVOKE_INLINE_AGENT = replace(
    INVOKE_AGENT, name="InvokeInlineAgent", subject="the inline agent",
    access=("The AWS identity you use needs bedrock:InvokeInlineAgent and bedrock:InvokeModel on "
            "BEDROCK_MODEL_ID. Ask your AWS administrator to grant the missing permission."),
    missing="check BEDROCK_MODEL_ID and that the model is enabled in AWS_REGION")
CONVERSE_STREAM = Operation(
    "ConverseStream", subject="the model", source="converse",
    access=("Enable model access for it in the Bedrock console (Model access) and allow "
            "bedrock:InvokeModelWithResponseStream for your AWS identity."),
    missing=("check BEDROCK_MODEL_ID and AWS_REGION (some models need an inference profile id "
             "such as us.<model-id>)"),
    invalid=("If the conversation is too long for the model, start a new session; check that "
             "BEDROCK_MODEL_ID is a model that supports tool use in streaming."))
AGENTCORE = Operation(
    "InvokeCodeInterpreter", service="AgentCore Code Interpreter", subject="the code interpreter",
    source="agentcore",
    access=("Give your AWS identity the bedrock-agentcore:StartCodeInterpreterSession, "
            "InvokeCodeInterpreter and StopCodeInterpreterSession permissions, or set "
            "CODE_EXECUTOR=local."),
    missing="the interpreter session may have timed out; start a new session and ask again",
    kinds={"not_found": "session_expired", "quota_exceeded": "throttling"})
OPERATIONS = {op.name: op for op in (INVOKE_AGENT, INVOKE_INLINE_AGENT, CONVERSE_STREAM, AGENTCORE)}


def operation(name: str) -> Operation:
    """The :class:`Operation` called ``name`` (a generic one for a call not listed)."""
    return OPERATIONS.get(name) or Operation(name, access=(
        f"Your AWS identity needs the permission bedrock:{name}; ask your AWS administrator "
        "to add it to your role or user."))


# --- the one table of service error codes ------------------------------------------------
@dataclass(frozen=True)
class Code:
    kind: str
    retryable: bool
    text: str  # fields: service, subject, op, access, missing, invalid, said


_CREDENTIALS = Code("credentials", False, (
    "AWS did not accept your credentials for {op}{said}: refresh them (aws sso login --profile "
    "NAME, or new AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN), check "
    "AWS_PROFILE and the clock of this machine, then press Retry."))

#: normalised code (lower case, no ``Exception`` suffix) -> what it means for the user.
CODES: dict[str, Code] = {
    "throttling": Code("throttling", True, (
        "{service} is throttling requests to {subject} (too many requests or tokens per minute "
        "for this account){said}. Wait a minute and press Retry, or ask for a quota increase.")),
    "toomanyrequests": Code("throttling", True, (
        "{service} is throttling requests to {subject}{said}. Wait a minute and press Retry.")),
    "accessdenied": Code("access_denied", False, (
        "Access was denied for {op} to {subject}{said}. {access}")),
    "validation": Code("validation", False, (
        "{service} rejected the {op} request as invalid{said}. {invalid}")),
    "resourcenotfound": Code("not_found", False, (
        "{service} could not find what {op} names{said}: {missing}.")),
    "internalserver": Code("service_error", True, (
        "{service} had an internal error{said}. Press Retry; if it keeps happening, check the "
        "AWS Health Dashboard.")),
    "serviceunavailable": Code("service_error", True, (
        "{service} is temporarily unavailable{said}. Wait a minute and press Retry.")),
    "dependencyfailed": Code("dependency_failed", True, (
        "A resource the agent depends on failed (an action group's Lambda, a knowledge base, "
        "or the model){said}. Check that resource's configuration and logs, then press Retry.")),
    "badgateway": Code("bad_gateway", True, (
        "A service behind {subject} had a server problem (bad gateway){said}. Press Retry in "
        "a moment.")),
    "modelnotready": Code("model_not_ready", True, (
        "The model behind {subject} is not ready yet (it is still being prepared or loaded)"
        "{said}. Wait a minute and press Retry.")),
    "servicequotaexceeded": Code("quota_exceeded", True, (
        "A {service} service quota was exceeded (for example the number of concurrent code "
        "interpreter sessions){said}. Close other sessions or wait a few minutes and press "
        "Retry; ask your administrator for a quota increase if it keeps happening.")),
    "conflict": Code("conflict", True, (
        "This session is already busy with another request{said}. Wait for it to finish, or "
        "start a new session, then press Retry.")),
    "modeltimeout": Code("timeout", True, (
        "{subject} took too long to answer{said}. Press Retry.")),
    "modelerror": Code("model_error", True, (
        "{subject} returned an error{said}. Press Retry, or try another model (BEDROCK_MODEL_ID).")),
    "modelstreamerror": Code("broken_stream", True, (
        "The response stream of {subject} broke{said}. What arrived is shown above; press Retry.")),
    "expiredtoken": _CREDENTIALS,
    "unrecognizedclient": _CREDENTIALS,
    "invalidsignature": _CREDENTIALS,
    "invalidclienttokenid": _CREDENTIALS,
    "signaturedoesnotmatch": _CREDENTIALS,
    "incompletesignature": _CREDENTIALS,
    "requestexpired": _CREDENTIALS,
}
_UNKNOWN_CODE = Code("service_error", False, (
    "{service} returned an error ({code}){said}. Press Retry; if it keeps happening, check "
    "the configuration in the AWS console."))


def normalize_code(code: object) -> str:
    """``throttlingException``, ``ThrottlingException``, ``Throttling`` -> ``throttling``."""
    key = str(code or "").strip().lower()
    return key[: -len("exception")] if key.endswith("exception") else key


def failure_for_code(code: str | None, message: str | None = None, *,
                     op: Operation = INVOKE_AGENT, step_id: str | None = None) -> AgentFailure:
    """The ``AgentFailure`` for a service error ``code`` (either spelling of the first
    letter) and the service's own ``message`` (kept, masked and clipped, for detail)."""
    entry = CODES.get(normalize_code(code), _UNKNOWN_CODE)
    said = clip(message)
    text = entry.text.format(
        service=op.service, subject=op.subject, op=op.name, access=op.access, missing=op.missing,
        invalid=op.invalid, code=clip(code or "unknown error", 80),
        said=f" ({op.service} said: {said})" if said else "")
    text = text[:1].upper() + text[1:]
    return _agent_failure(kind=op.kinds.get(entry.kind, entry.kind), message=text,
                        retryable=entry.retryable, source=op.source, step_id=step_id)


# --- exceptions ------------------------------------------------------------------------------
def _code_of(exc: BaseException) -> tuple[str | None, str | None]:
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        err = response.get("Error") or {}
        return err.get("Code"), err.get("Message")
    return None, None


def failure_for_exception(exc: BaseException, *, op: Operation = INVOKE_AGENT,
                          read_timeout: float | None = None,
                          step_id: str | None = None) -> AgentFailure:
    """The ``AgentFailure`` for anything raised while calling ``op`` or reading its stream."""
    try:
        failure = _failure_for_exception(exc, op, read_timeout)
    except Exception:  # noqa: BLE001 - the outer edge of classification: it must never fail itself
        failure = _agent_failure(kind="unexpected", retryable=True, source=op.source, message=(
            "The agent's answer broke off for an unknown reason. Press Retry."))
    return replace(failure, step_id=step_id) if step_id is not None else failure


def _failure_for_exception(exc: BaseException, op: Operation,
                           read_timeout: float | None) -> AgentFailure:
    import http.client

    from botocore import exceptions as bx  # botocore is light; kept out of module import
    from urllib3 import exceptions as ux

    def failure(kind: str, message: str, retryable: bool = False) -> AgentFailure:
        return _agent_failure(kind=op.kinds.get(kind, kind), message=message, retryable=retryable,
                            source=op.source)

    if isinstance(exc, AgentDeskError):
        return replace(exc.to_failure(), source=op.source)
    if isinstance(exc, bx.ClientError):  # includes EventStreamError (in-stream errors)
        code, message = _code_of(exc)
        return failure_for_code(code, message, op=op)
    if isinstance(exc, bx.NoCredentialsError):
        return failure("credentials", (
            f"No AWS credentials were found for {op.name}. Configure them through the standard "
            "boto3 chain: set AWS_PROFILE to a profile from ~/.aws/config (and run "
            "`aws sso login --profile NAME` for SSO), or set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or run where an instance/container role is available."))
    if isinstance(exc, bx.PartialCredentialsError):
        return failure("credentials", (
            f"The AWS credentials are incomplete ({clip(exc)}). Set both AWS_ACCESS_KEY_ID "
            "and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary keys), or use "
            "a profile (AWS_PROFILE)."))
    if isinstance(exc, bx.ProfileNotFound):
        return failure("configuration", (
            f"{clip(exc)}. Set AWS_PROFILE (or --profile) to a profile defined in "
            "~/.aws/config, or unset it to use the default credential chain."))
    if isinstance(exc, bx.NoRegionError):
        return failure("configuration", (
            "No AWS region is set. Set AWS_REGION (or --region) to the region of your "
            "Bedrock resources, e.g. us-east-1."))
    if isinstance(exc, bx.InvalidRegionError):
        return failure("configuration", (
            f"{clip(exc)} Set AWS_REGION (or --region) to a region code such as us-east-1."))
    if isinstance(exc, ValueError) and str(exc).startswith("Invalid endpoint"):
        return failure("configuration", (
            f"{clip(exc)}. BEDROCK_ENDPOINT_URL (or --endpoint-url) must be a full URL such "
            "as https://bedrock-agent-runtime.us-east-1.amazonaws.com, or unset it."))
    if isinstance(exc, (bx.ReadTimeoutError, ux.ReadTimeoutError, TimeoutError)):
        within = f" within {read_timeout:g} s" if read_timeout else ""
        return failure("timeout", (
            f"{op.service} sent nothing{within} ({op.name}), so the answer was cut off. Long "
            "code runs need more time: raise BEDROCK_READ_TIMEOUT (or --read-timeout; seconds, "
            "e.g. 900) and press Retry."), True)
    if isinstance(exc, bx.ConnectTimeoutError):
        return failure("connection", (
            f"Connecting to {op.service} timed out ({op.name}). Check your network, proxy and "
            "AWS_REGION / BEDROCK_ENDPOINT_URL, then press Retry."), True)
    if isinstance(exc, bx.EndpointConnectionError):
        url = getattr(exc, "kwargs", {}).get("endpoint_url") or "its endpoint"
        return failure("connection", (
            f"Could not reach {op.service} at {url} ({op.name}). Check your network, and that "
            "AWS_REGION and BEDROCK_ENDPOINT_URL are right, then press Retry."), True)
    if isinstance(exc, (bx.ResponseStreamingError, bx.ConnectionClosedError, bx.ConnectionError,
                        bx.HTTPClientError, ux.ProtocolError, ux.HTTPError,
                        http.client.IncompleteRead, ConnectionError)):
        return failure("broken_stream", (
            f"The connection to {op.service} broke while the answer was streaming ({op.name}). "
            "What arrived so far is kept; check your network and press Retry."), True)
    if isinstance(exc, bx.ParamValidationError):
        return failure("validation", (
            f"The request for {op.name} was not valid: {clip(exc)}. Fix the setting named "
            "there and try again."))
    if isinstance(exc, bx.BotoCoreError):
        return failure("service_error", f"{op.name} failed: {clip(exc)}. Press Retry.", True)
    return failure("unexpected", (
        f"The agent's answer broke off unexpectedly ({type(exc).__name__}: {clip(exc)}). "
        "What arrived so far is kept; press Retry."), True)


def executor_error(exc: BaseException, action: str, op: Operation = AGENTCORE) -> ExecutorError:
    """An exception from a code-executor service call -> ``ExecutorError`` (kind, words)."""
    f = failure_for_exception(exc, op=op)
    return ExecutorError(f"While trying to {action}: {f.message}", kind=f.kind,
                         retryable=f.retryable, cause=exc)


# --- OpenAI-compatible model servers (the openai backend) -----------------------------------
OPENAI_SOURCE = "openai"
_OPENAI_CONTEXT = re.compile(r"context[_ ]length|context window|maximum context|too many tokens|"
                      r"prompt is too long|exceeds? the (?:model'?s? )?(?:max|context)", re.I)
_OPENAI_TOOLS = re.compile(r"(?:does not|doesn't|do not) support (?:tools|tool[_ ]?(?:use|calling|calls))|"
                    r"tools? (?:are|is) not supported|tool[_ ]?(?:use|calling|choice)[^.]{0,40}"
                    r"not (?:supported|enabled)|function[_ ]calling[^.]{0,40}not supported|"
                    r"unsupported[^.]{0,20}\btools?\b", re.I)
_OPENAI_IMAGES = re.compile(r"image|vision|multimodal|multi-modal", re.I)


@dataclass(frozen=True)
class ServerInfo:
    """What a message may name: the server's address (host only) and the model."""

    host: str
    model: str
    azure: bool = False


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
    return status in (400, 404, 422, 500) and bool(_OPENAI_TOOLS.search(_detail(exc)))


def images_refused(exc: BaseException) -> bool:
    """A 400/422 about an image part (the model takes text only)."""
    status = getattr(exc, "status_code", None)
    return status in (400, 422, 500) and bool(_OPENAI_IMAGES.search(_detail(exc))) and not tools_refused(exc)


def openai_failure(exc: BaseException, server: ServerInfo, *, step_id: str | None = None,
                   secret: str | None = None, partial: bool = False,
                   list_models: Callable[[], Sequence[str]] | None = None) -> AgentFailure:
    """Any exception from the ``openai`` client (before or during the stream) -> AgentFailure.

    ``partial``: the stream broke after part of the answer arrived. ``list_models``: asked
    on a 404 for the models the server has (its failure is ignored)."""
    import openai

    host, model = server.host, server.model
    model_word = "deployment" if server.azure else "model"
    detail = mask_secrets(_detail(exc), secret)[:400]

    def fail(kind: str, message: str, retryable: bool = False) -> AgentFailure:
        return _agent_failure(kind=kind, message=mask_secrets(message, secret), retryable=retryable,
                            step_id=step_id, source=OPENAI_SOURCE)

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
        if _OPENAI_CONTEXT.search(detail) or getattr(exc, "code", None) == "context_length_exceeded":
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


__all__ = [
    "AGENTCORE", "CODES", "CONVERSE_STREAM", "INVOKE_AGENT", "INVOKE_INLINE_AGENT", "AgentDeskError",
    "BackendUnavailableError", "Code", "ExecutorError", "Operation", "UnexpectedRunError", "clip",
    "executor_error", "failure_for_code", "failure_for_exception", "mask_secrets", "normalize_code",
    "operation", "OPENAI_SOURCE", "ServerInfo", "images_refused", "openai_failure", "tools_refused",
]
