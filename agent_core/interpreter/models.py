"""What one code run returns (modelled on e2b's ``Execution(results, logs, error)``)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ExecutionError:
    name: str
    value: str
    traceback: str  # plain text, no ANSI colour codes


@dataclass(frozen=True)
class OutputFile:
    """A file the run created or changed in the working directory, or a rich output
    (an image from ``display()`` / matplotlib) saved as a file."""

    name: str
    media_type: str
    data: bytes = field(repr=False)
    truncated: bool = False  # over the size cap: data is empty, name kept


@dataclass(frozen=True)
class Execution:
    stdout: str = ""
    stderr: str = ""
    error: ExecutionError | None = None
    files: tuple[OutputFile, ...] = ()
    timed_out: bool = False
    kernel_restarted: bool = False  # in-memory state was lost (timeout or crash)
    notice: str | None = None       # a message for the user about the kernel, if any
    duration_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and not self.timed_out
