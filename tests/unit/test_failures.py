"""The one failure vocabulary: every wire error -> AgentFailure(kind, message, retryable).

One table row per mapping, exercised through the real entry points (the Bedrock parser,
the boto3 pre-stream mapper, the Converse mapper, the AgentCore executor mapper) with the
real botocore / urllib3 exception classes."""
from __future__ import annotations

import http.client

import pytest
import urllib3
from botocore.exceptions import (
    ClientError, ConnectionClosedError, ConnectTimeoutError, EndpointConnectionError,
    EventStreamError, NoCredentialsError, NoRegionError, ParamValidationError,
    PartialCredentialsError, ProfileNotFound, ReadTimeoutError, ResponseStreamingError,
)

from agent_core import failures, stream
from agent_core.backends.aws import failure_from_exception
from agent_core.backends.converse import converse_failure
from agent_core.backends.executors import _executor_error
from agent_core.config import SettingsError
from agent_core.events import AgentFailure
from agent_core.failures import (
    AGENTCORE, CODES, AgentDeskError, BackendUnavailableError, ExecutorError, failure_for_code,
    failure_for_exception, mask_secrets,
)
from agent_core.files import AttachmentLimitError, UnsafeNameError
from agent_core.interpreter.kernel import KernelStartError
from agent_core.interpreter.sandbox import SandboxError
from agent_core.store import RunNotFoundError, StoreError

KEY, SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEYxyz0123"

# code as the service spells it -> (kind, retryable, words the message must carry)
CODE_TABLE = [
    ("throttlingException", "throttling", True, "wait a minute"),
    ("ThrottlingException", "throttling", True, "wait a minute"),
    ("TooManyRequestsException", "throttling", True, "wait a minute"),
    ("accessDeniedException", "access_denied", False, "access was denied"),
    ("validationException", "validation", False, "invalid"),
    ("resourceNotFoundException", "not_found", False, "could not find"),
    ("internalServerException", "service_error", True, "retry"),
    ("ServiceUnavailableException", "service_error", True, "retry"),
    ("dependencyFailedException", "dependency_failed", True, "lambda"),
    ("badGatewayException", "bad_gateway", True, "retry"),
    ("modelNotReadyException", "model_not_ready", True, "wait a minute"),
    ("serviceQuotaExceededException", "quota_exceeded", True, "quota"),
    ("conflictException", "conflict", True, "new session"),
    ("ModelTimeoutException", "timeout", True, "retry"),
    ("ModelErrorException", "model_error", True, "retry"),
    ("modelStreamErrorException", "broken_stream", True, "retry"),
    ("ExpiredTokenException", "credentials", False, "aws sso login"),
    ("UnrecognizedClientException", "credentials", False, "aws sso login"),
    ("InvalidSignatureException", "credentials", False, "clock"),
    ("InvalidClientTokenId", "credentials", False, "aws_profile"),
    ("SignatureDoesNotMatch", "credentials", False, "aws_profile"),
    ("IncompleteSignature", "credentials", False, "aws_profile"),
    ("RequestExpired", "credentials", False, "clock"),
    ("SomethingNewException", "service_error", False, "somethingnewexception"),
]


def test_the_table_covers_every_code_and_every_bedrock_stream_member():
    covered = {failures.normalize_code(code) for code, *_ in CODE_TABLE}
    assert set(CODES) <= covered
    assert {failures.normalize_code(m) for m in stream.EXCEPTION_MEMBERS} <= set(CODES)


@pytest.mark.parametrize("code, kind, retryable, words", CODE_TABLE)
def test_a_bedrock_in_stream_error_code(code, kind, retryable, words):
    """Raised by boto3 as EventStreamError while the stream is read (never retried by it)."""
    def raw():
        yield {"chunk": {"bytes": b"partial "}}
        raise EventStreamError({"Error": {"Code": code, "Message": f"no. {KEY} {SECRET}"}},
                               "InvokeAgent")

    events = list(stream.parse_stream(raw()))
    assert events[0].text == "partial "  # what arrived is kept
    failure = events[-1]
    assert isinstance(failure, AgentFailure)
    assert (failure.kind, failure.retryable) == (kind, retryable)
    assert words in failure.message.lower()
    assert KEY not in failure.message and SECRET not in failure.message


@pytest.mark.parametrize("code, kind, retryable, words", CODE_TABLE)
def test_a_botocore_client_error_before_the_stream(code, kind, retryable, words):
    exc = ClientError({"Error": {"Code": code, "Message": f"said {SECRET}"}}, "InvokeAgent")
    failure = failure_from_exception(exc, action="InvokeAgent")
    assert (failure.kind, failure.retryable) == (kind, retryable)
    assert words in failure.message.lower() and SECRET not in failure.message
    assert "[redacted]" in failure.message


@pytest.mark.parametrize("code, kind, retryable, words", CODE_TABLE)
def test_a_converse_error_names_the_model(code, kind, retryable, words):
    exc = ClientError({"Error": {"Code": code, "Message": "Input is too long"}}, "ConverseStream")
    failure = converse_failure(exc, model_id="anthropic.claude-x", step_id="s1")
    assert (failure.kind, failure.retryable, failure.step_id) == (kind, retryable, "s1")
    assert failure.source == "converse"
    if kind in {"throttling", "access_denied", "model_not_ready", "timeout", "model_error"}:
        assert "anthropic.claude-x" in failure.message


@pytest.mark.parametrize("code, kind, retryable", [
    ("ThrottlingException", "throttling", True),
    ("ServiceQuotaExceededException", "throttling", True),  # at the interpreter session quota
    ("AccessDeniedException", "access_denied", False),
    ("ResourceNotFoundException", "session_expired", False),  # the session timed out: start anew
    ("InternalServerException", "service_error", True),
])
def test_an_agentcore_error_becomes_an_executor_error(code, kind, retryable):
    error = _executor_error(ClientError({"Error": {"Code": code, "Message": "x"}},
                                        "InvokeCodeInterpreter"), "run the code")
    assert isinstance(error, ExecutorError) and isinstance(error, AgentDeskError)
    assert (error.kind, error.retryable) == (kind, retryable)
    assert "AgentCore Code Interpreter" in str(error) or kind in {"access_denied"}
    if kind == "access_denied":
        assert "bedrock-agentcore:StartCodeInterpreterSession" in str(error)


@pytest.mark.parametrize("exc, kind, retryable, words", [
    (ReadTimeoutError(endpoint_url="https://x"), "timeout", True, "bedrock_read_timeout"),
    (urllib3.exceptions.ReadTimeoutError(None, "/", "read timed out"), "timeout", True,
     "bedrock_read_timeout"),
    (TimeoutError("slow"), "timeout", True, "bedrock_read_timeout"),
    (ConnectTimeoutError(endpoint_url="https://x"), "connection", True, "network"),
    (EndpointConnectionError(endpoint_url="https://x"), "connection", True, "network"),
    (ResponseStreamingError(error="Connection broken"), "broken_stream", True, "network"),
    (ConnectionClosedError(endpoint_url="https://x"), "broken_stream", True, "network"),
    (ConnectionResetError("reset by peer"), "broken_stream", True, "network"),
    (urllib3.exceptions.ProtocolError("broken"), "broken_stream", True, "network"),
    (http.client.IncompleteRead(b"abc", 10), "broken_stream", True, "network"),
    (NoCredentialsError(), "credentials", False, "aws_profile"),
    (PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"), "credentials",
     False, "aws_access_key_id"),
    (ProfileNotFound(profile="nope"), "configuration", False, "aws_profile"),
    (NoRegionError(), "configuration", False, "aws_region"),
    (ValueError("Invalid endpoint: localhost:1"), "configuration", False, "bedrock_endpoint_url"),
    (ParamValidationError(report="inputText too long"), "validation", False, "inputtext too long"),
    (RuntimeError(f"weird {SECRET}"), "unexpected", True, "runtimeerror"),
    # our own errors carry their kind
    (KernelStartError("the kernel did not start: no ipykernel"), "kernel", False, "ipykernel"),
    (SandboxError("bwrap missing"), "sandbox", False, "bwrap"),
    (AttachmentLimitError("at most 5 files"), "attachment_limit", False, "at most 5"),
    (SettingsError("AGENT_BACKEND='x' is not known"), "configuration", False, "agent_backend"),
    (BackendUnavailableError(reason="no kernel"), "configuration", False, "sidebar"),
])
def test_an_exception_while_calling_or_streaming(exc, kind, retryable, words):
    failure = failure_for_exception(exc)
    assert (failure.kind, failure.retryable) == (kind, retryable)
    assert words in failure.message.lower()
    assert SECRET not in failure.message and "\n" not in failure.message


def test_the_read_timeout_message_says_the_limit_in_use():
    f = failure_from_exception(ReadTimeoutError(endpoint_url="http://x"), action="InvokeAgent",
                               read_timeout=600)
    assert f.kind == "timeout" and "600 s" in f.message


def test_every_error_the_house_raises_on_purpose_shares_one_base():
    for cls in (ExecutorError, KernelStartError, SandboxError, AttachmentLimitError,
                UnsafeNameError, SettingsError, StoreError, RunNotFoundError, BackendUnavailableError):
        assert issubclass(cls, AgentDeskError), cls
    # subclasses build their own message from fields, like botocore's exceptions
    assert "no kernel" in str(BackendUnavailableError(reason="no kernel"))
    assert AGENTCORE.kinds["not_found"] == "session_expired"


def test_one_secret_masker():
    text = f"key {KEY} secret {SECRET} and short words"
    assert mask_secrets(text) == "key [redacted] secret [redacted] and short words"
    from agent_core.backends import aws
    assert aws.scrub is mask_secrets


def test_classification_itself_never_raises():
    class Hostile(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no str for you")

    failure = failure_for_exception(Hostile())
    assert failure.kind == "unexpected" and failure.retryable


def _openai_error(cls_name: str, status: int, message: str, headers: dict | None = None):
    import httpx2 as httpx  # the HTTP library the openai client uses
    import openai

    request = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
    response = httpx.Response(status, headers=headers or {}, request=request)
    return getattr(openai, cls_name)(message, response=response, body={"error": {"message": message}})


OPENAI_KEY = "sk-live-0123456789abcdefXYZ"


@pytest.mark.parametrize("make, kind, retryable, words", [
    (lambda: _openai_error("RateLimitError", 429, "slow down", {"retry-after": "7"}), "throttling", True,
     "wait 7 s"),
    (lambda: _openai_error("AuthenticationError", 401, f"bad key {OPENAI_KEY}"), "access_denied", False,
     "openai_api_key"),
    (lambda: _openai_error("NotFoundError", 404, "no such model"), "not_found", False, "openai_model"),
    (lambda: _openai_error("BadRequestError", 400, "maximum context length is 8192 tokens"),
     "context_too_long", False, "new session"),
    (lambda: _openai_error("InternalServerError", 503, "overloaded"), "service_unavailable", True,
     "retry"),
])
def test_an_openai_compatible_server_error(make, kind, retryable, words):
    failure = failures.openai_failure(make(), failures.ServerInfo(host="127.0.0.1:9", model="llama3"),
                                      secret=OPENAI_KEY)
    assert (failure.kind, failure.retryable, failure.source) == (kind, retryable, "openai")
    assert words in failure.message.lower()
    assert OPENAI_KEY not in failure.message and "0123456789abcdef" not in failure.message


def test_the_one_masker_also_removes_a_given_key_and_its_long_pieces():
    text = f"echo: {OPENAI_KEY[:-3]} and {OPENAI_KEY}"
    masked = mask_secrets(text, OPENAI_KEY)
    assert OPENAI_KEY not in masked and OPENAI_KEY[:-3] not in masked
