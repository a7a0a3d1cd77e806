"""How much one run may return: output characters, images, files and bytes.

Enforced where the data arrives (the kernel client's message loop and the work-folder
scan), so a run that prints 200 MB or writes 1,000 files never has it all in the app's
memory; what is left out is counted and said in the run's notice.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent_core.files import MAX_RETURNED_FILE_BYTES


@dataclass(frozen=True)
class OutputCaps:
    max_output_chars: int = 1_000_000   # per stream (stdout, stderr) and run
    max_images: int = 20                # display()/figure images per run
    max_files: int = 50                 # files returned per run (images included)
    max_run_bytes: int = 25 * 1024 * 1024  # bytes of files returned per run (images included)
    max_file_bytes: int = MAX_RETURNED_FILE_BYTES

    @classmethod
    def from_settings(cls, settings: Any) -> OutputCaps:
        return cls(max_output_chars=settings.max_output_chars, max_images=settings.max_images_per_run,
                   max_files=settings.max_files_per_run, max_run_bytes=settings.max_run_mb * 1024 * 1024)


@dataclass
class StreamBuffer:
    """One output stream, kept up to ``limit`` characters as it arrives; the rest is counted."""

    limit: int
    parts: list[str] = field(default_factory=list)
    kept: int = 0
    dropped: int = 0

    def add(self, text: str) -> None:
        room = self.limit - self.kept
        if room > 0:
            part = text[:room]
            self.parts.append(part)
            self.kept += len(part)
            self.dropped += len(text) - len(part)
        else:
            self.dropped += len(text)

    def text(self) -> str:
        body = "".join(self.parts)
        if self.dropped:
            body += f"\n[... output truncated: {self.dropped:,} more characters]\n"
        return body


@dataclass
class Budget:
    """Files and bytes still allowed in this run; what was left out, by name."""

    caps: OutputCaps
    files: int = 0
    bytes: int = 0
    left_out: list[str] = field(default_factory=list)

    def room_for(self, size: int) -> bool:
        return self.files < self.caps.max_files and self.bytes + size <= self.caps.max_run_bytes

    def take(self, size: int) -> None:
        self.files += 1
        self.bytes += size

    def note(self, images_dropped: int = 0) -> str | None:
        parts = []
        if self.left_out:
            shown = ", ".join(self.left_out[:5]) + (" ..." if len(self.left_out) > 5 else "")
            parts.append(f"{len(self.left_out):,} file(s) were not returned (at most {self.caps.max_files} "
                         f"files and {self.caps.max_run_bytes // 2**20} MB per run; they are still in the "
                         f"working folder): {shown}")
        if images_dropped:
            parts.append(f"{images_dropped:,} image(s) were not returned (at most {self.caps.max_images} "
                         f"images per run, {self.caps.max_file_bytes // 2**20} MB each)")
        return ("Left out: " + "; ".join(parts) + ".") if parts else None
