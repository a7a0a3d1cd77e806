"""Settings from the environment, overridable by ``.streamlit/secrets.toml`` (``[agent]``).

Credentials are never part of the settings: boto3's own chain finds them.
"""
from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from agent_core.failures import AgentDeskError

BACKENDS = ("local", "bedrock", "bedrock-inline", "converse", "openai")
LOOP_BACKENDS = ("converse", "openai")  # the app's own agent loop: code runs in CODE_EXECUTOR
EXECUTORS = ("local", "agentcore", "gateway")


class SettingsError(AgentDeskError, ValueError):
    """A setting has a value the app cannot use; the message says which and how to fix it."""

    kind = "configuration"


@dataclass(frozen=True)
class Settings:
    backend: str = "local"
    agent_id: str | None = None
    agent_alias_id: str | None = None
    model_id: str | None = None
    code_executor: str = "local"
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    read_timeout: float = 600.0
    home: Path = Path("~/.agent-desk").expanduser()
    # local code interpreter
    exec_timeout: float = 120.0
    max_kernels: int = 4
    kernel_idle_seconds: float = 1800.0
    kernel_memory_mb: int = 2048
    sandbox: str = "auto"  # auto | bwrap | none
    kernel_cgroups: str = "auto"  # auto (a cgroup per kernel where the OS allows one) | off
    # what one run may return (enforced as the data arrives; see docs/sandbox.md)
    max_output_chars: int = 1_000_000
    max_images_per_run: int = 20
    max_files_per_run: int = 50
    max_run_mb: int = 25
    # openai: any Chat Completions server (the API key is a secret: never a setting, see
    # openai_api_key())
    openai_base_url: str | None = None
    openai_model: str | None = None
    openai_api_version: str | None = None  # set: Azure OpenAI (openai.AzureOpenAI)
    openai_vision: str = "auto"            # auto | yes | no: send charts to the model as images
    openai_tools: str = "auto"             # auto | yes | no: no = ask for ```python blocks
    openai_max_retries: int = 2            # the client's retries (429, 5xx; honours Retry-After)
    # agent loop bounds (converse, openai)
    max_tool_calls: int = 8
    max_wall_seconds: float = 600.0
    max_tokens: int = 4096
    # run store
    retention_mb: int = 1024
    retention_keep_runs: int = 3  # the newest runs of each session retention never deletes
    # CODE_EXECUTOR=gateway: kernels on a Jupyter Kernel/Enterprise Gateway (its auth token is
    # a secret: never a setting, see kernel_gateway_auth_token())
    kernel_gateway_url: str | None = None
    kernel_gateway_kernel_name: str = "python3"
    # per-user work (issue 16): who the user is when st.login is not configured (a header set
    # by an authenticating proxy, honoured ONLY when trust_user_header is on), and how much of
    # the team's capacity one user may take (0: no limit). No user known: no limits, no filter.
    user_header: str = "X-Forwarded-Email"
    trust_user_header: bool = False
    max_runs_per_user: int = 2
    max_kernels_per_user: int = 2

    def public(self) -> dict[str, Any]:
        """The settings as shown in the UI / stored with a run (nothing secret is here: the
        OpenAI base URL loses any user info and query, which could carry a key)."""
        out = {f.name: str(getattr(self, f.name)) if isinstance(getattr(self, f.name), Path)
               else getattr(self, f.name) for f in fields(self)}
        out["openai_base_url"] = url_without_credentials(self.openai_base_url)
        out["kernel_gateway_url"] = url_without_credentials(self.kernel_gateway_url)
        return out


def url_host(url: str | None, *, with_scheme: bool = False) -> str | None:
    """Only the host (and port) of a URL, for the UI: no user info, path or query (they can
    hold keys); the scheme too when ``with_scheme``."""
    if not url:
        return None
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(not a valid URL)"
    if not host:
        return "(not a valid URL)"
    return f"{parts.scheme}://{host}{port}" if with_scheme else f"{host}{port}"


def url_without_credentials(url: str | None) -> str | None:
    """``url`` without ``user:password@``, query and fragment."""
    if not url:
        return url
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rsplit("@", 1)[-1]
    except ValueError:
        return "(not a valid URL)"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


_ENV = {
    "AGENT_BACKEND": "backend",
    "BEDROCK_AGENT_ID": "agent_id",
    "BEDROCK_AGENT_ALIAS_ID": "agent_alias_id",
    "BEDROCK_MODEL_ID": "model_id",
    "CODE_EXECUTOR": "code_executor",
    "BEDROCK_ENDPOINT_URL": "endpoint_url",
    "AWS_REGION": "region",
    "AWS_PROFILE": "profile",
    "BEDROCK_READ_TIMEOUT": "read_timeout",
    "AGENT_DESK_HOME": "home",
    "AGENT_DESK_EXEC_TIMEOUT": "exec_timeout",
    "AGENT_DESK_MAX_KERNELS": "max_kernels",
    "AGENT_DESK_KERNEL_IDLE_SECONDS": "kernel_idle_seconds",
    "AGENT_DESK_KERNEL_MEMORY_MB": "kernel_memory_mb",
    "AGENT_DESK_SANDBOX": "sandbox",
    "AGENT_DESK_CGROUPS": "kernel_cgroups",
    "AGENT_DESK_MAX_OUTPUT_CHARS": "max_output_chars",
    "AGENT_DESK_MAX_IMAGES": "max_images_per_run",
    "AGENT_DESK_MAX_FILES_PER_RUN": "max_files_per_run",
    "AGENT_DESK_MAX_RUN_MB": "max_run_mb",
    "OPENAI_BASE_URL": "openai_base_url",
    "OPENAI_MODEL": "openai_model",
    "OPENAI_API_VERSION": "openai_api_version",
    "OPENAI_VISION": "openai_vision",
    "OPENAI_TOOLS": "openai_tools",
    "OPENAI_MAX_RETRIES": "openai_max_retries",
    "AGENT_DESK_MAX_TOOL_CALLS": "max_tool_calls",
    "AGENT_DESK_MAX_WALL_SECONDS": "max_wall_seconds",
    "AGENT_DESK_MAX_TOKENS": "max_tokens",
    "AGENT_DESK_RETENTION_MB": "retention_mb",
    "AGENT_DESK_RETENTION_KEEP_RUNS": "retention_keep_runs",
    "KERNEL_GATEWAY_URL": "kernel_gateway_url",
    "KERNEL_GATEWAY_KERNEL_NAME": "kernel_gateway_kernel_name",
    "AGENT_DESK_USER_HEADER": "user_header",
    "AGENT_DESK_TRUST_USER_HEADER": "trust_user_header",
    "AGENT_DESK_MAX_RUNS_PER_USER": "max_runs_per_user",
    "AGENT_DESK_MAX_KERNELS_PER_USER": "max_kernels_per_user",
}
_SECRET_KEYS = {"aws_access_key_id", "aws_secret_access_key", "aws_session_token",
                "openai_api_key", "kernel_gateway_auth_token"}


def _coerce(name: str, value: Any) -> Any:
    default = getattr(Settings, name)
    if value is None or value == "":
        return None if default is None else default
    try:
        if isinstance(default, bool):
            return str(value).lower() in ("1", "true", "yes", "on")
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, Path):
            return Path(str(value)).expanduser()
    except (TypeError, ValueError):
        raise SettingsError(f"Setting {name} must be a number, got {value!r}.") from None
    return str(value)


def read_secrets_file(path: Path) -> dict[str, Any]:
    """The ``[agent]`` table of a secrets.toml (AWS keys in it are ignored, never read out)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path} is not valid TOML ({exc}); fix or remove it.") from None
    table = data.get("agent", {})
    if not isinstance(table, dict):
        return {}
    return {k: v for k, v in table.items() if k.lower() not in _SECRET_KEYS}


def load_settings(env: Mapping[str, str] | None = None,
                  secrets: Mapping[str, Any] | None = None,
                  **overrides: Any) -> Settings:
    """Environment first, then the secrets ``[agent]`` table (its keys are the env names
    or the field names), then explicit ``overrides`` (e.g. CLI flags; None is ignored)."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for var, name in _ENV.items():
        if env.get(var):
            values[name] = env[var]
    if secrets is None:
        secrets = read_secrets_file(Path(".streamlit/secrets.toml"))
    for key, value in (secrets or {}).items():
        field_name = _ENV.get(key, key if key in {f.name for f in fields(Settings)} else None)
        if field_name:
            values[field_name] = value
    for key, value in overrides.items():
        if value is not None:
            values[key] = value
    settings = replace(Settings(), **{k: _coerce(k, v) for k, v in values.items()})
    validate(settings)
    return settings


def validate(s: Settings) -> None:
    if s.backend not in BACKENDS:
        raise SettingsError(f"AGENT_BACKEND={s.backend!r} is not known; use one of {', '.join(BACKENDS)}.")
    if s.code_executor not in EXECUTORS:
        raise SettingsError(f"CODE_EXECUTOR={s.code_executor!r} is not known; "
                            "use local, agentcore or gateway.")
    if s.code_executor == "gateway" and s.kernel_gateway_url and \
            not s.kernel_gateway_url.startswith(("http://", "https://")):
        raise SettingsError("KERNEL_GATEWAY_URL must start with http:// or https:// "
                            "(e.g. http://gateway.internal:8888).")
    for name, var in (("openai_vision", "OPENAI_VISION"), ("openai_tools", "OPENAI_TOOLS")):
        if getattr(s, name) not in ("auto", "yes", "no"):
            raise SettingsError(f"{var}={getattr(s, name)!r} is not known; use auto, yes or no.")
    if s.sandbox not in ("auto", "bwrap", "none"):
        raise SettingsError("AGENT_DESK_SANDBOX must be auto, bwrap or none.")
    if s.kernel_cgroups not in ("auto", "off"):
        raise SettingsError("AGENT_DESK_CGROUPS must be auto or off.")
    if s.trust_user_header and not s.user_header.strip():
        raise SettingsError("AGENT_DESK_TRUST_USER_HEADER is on but AGENT_DESK_USER_HEADER is empty: "
                            "name the header your proxy sets, e.g. X-Forwarded-Email.")
    for name, var in (("max_runs_per_user", "AGENT_DESK_MAX_RUNS_PER_USER"),
                      ("max_kernels_per_user", "AGENT_DESK_MAX_KERNELS_PER_USER")):
        if getattr(s, name) < 0:
            raise SettingsError(f"{var} must be 0 (no limit) or more.")


def missing_for_backend(s: Settings) -> list[str]:
    """What the chosen backend still needs, in words (empty when ready)."""
    missing = []
    if s.backend == "bedrock":
        if not s.agent_id:
            missing.append("BEDROCK_AGENT_ID (the agent's id, from the Bedrock console)")
        if not s.agent_alias_id:
            missing.append("BEDROCK_AGENT_ALIAS_ID (the alias to invoke, e.g. TSTALIASID)")
    if s.backend in ("bedrock-inline", "converse") and not s.model_id:
        missing.append("BEDROCK_MODEL_ID (a model or inference profile id)")
    if s.backend == "openai":
        if not s.openai_base_url:
            missing.append("OPENAI_BASE_URL (the server's address, e.g. http://localhost:11434/v1 "
                           "for Ollama)")
        if not s.openai_model:
            missing.append("OPENAI_MODEL (the model name the server knows, e.g. qwen2.5:7b)")
    if s.code_executor == "gateway" and s.backend in ("local", *LOOP_BACKENDS) and not s.kernel_gateway_url:
        missing.append("KERNEL_GATEWAY_URL (the Jupyter Kernel Gateway or Enterprise Gateway, "
                       "e.g. http://gateway.internal:8888)")
    return missing


def runs_code_here(s: Settings) -> bool:
    """Whether this backend runs the agent's code in the kernel pool (kernels on this host,
    or on a Jupyter gateway with CODE_EXECUTOR=gateway)."""
    return s.backend == "local" or (s.backend in LOOP_BACKENDS and s.code_executor in ("local", "gateway"))


def kernels_on_gateway(s: Settings) -> bool:
    """Whether the pool's kernels run on a Jupyter gateway (for the local agent and the
    chat-model backends alike)."""
    return s.code_executor == "gateway" and runs_code_here(s)


def openai_api_key(env: Mapping[str, str] | None = None,
                   secrets_path: Path = Path(".streamlit/secrets.toml")) -> str | None:
    """``OPENAI_API_KEY`` from the environment, else from ``[agent]`` in secrets.toml.
    Kept out of :class:`Settings` (which is shown, stored and exported); None when unset
    (local servers need none)."""
    return _secret("OPENAI_API_KEY", env, secrets_path)


def kernel_gateway_auth_token(env: Mapping[str, str] | None = None,
                              secrets_path: Path = Path(".streamlit/secrets.toml")) -> str | None:
    """``KERNEL_GATEWAY_AUTH_TOKEN`` from the environment, else from ``[agent]`` in
    secrets.toml; kept out of :class:`Settings` like the OpenAI key. None when unset."""
    return _secret("KERNEL_GATEWAY_AUTH_TOKEN", env, secrets_path)


def _secret(var: str, env: Mapping[str, str] | None, secrets_path: Path) -> str | None:
    env = os.environ if env is None else env
    if env.get(var):
        return env[var]
    try:
        data = tomllib.loads(secrets_path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    table = data.get("agent")
    if isinstance(table, dict):
        for key, value in table.items():
            if key.lower() == var.lower() and isinstance(value, str) and value:
                return value
    return None
