"""Files that go to the agent (``AttachedFile``) and come back (``ReturnedFile``).

Names from outside are never trusted as paths: :func:`safe_name` reduces any
name to one plain file name, and :class:`NameDeduper` keeps the names of one
run unique. The real type of returned bytes is sniffed (:func:`sniff_type`)
and wins over the declared one.
"""
from __future__ import annotations

import json
import mimetypes
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from agent_core.failures import AgentDeskError

MAX_ATTACHED_FILES = 5
MAX_ATTACHED_BYTES = 10 * 1024 * 1024
MAX_RETURNED_FILE_BYTES = 1024 * 1024
MAX_NAME_LENGTH = 120

UseCase = Literal["CODE_INTERPRETER", "CHAT"]

# C0/C1 controls, and bidirectional overrides that make "gnp.exe" look like "exe.png"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Windows device names: harmless here, but a download named "con.csv" breaks there
_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\.|$)", re.I)
_UNSAFE_CHARS = re.compile(r'[<>:"|?*\\/]')


class UnsafeNameError(AgentDeskError, ValueError):
    """A name that cannot be made safe (empty, ``..``, NUL or control characters)."""

    kind = "validation"


def safe_name(name: str, *, default: str = "file") -> str:
    """One plain file name from an untrusted name.

    Directories and drive letters are stripped; ``..``, NUL and control
    characters are rejected (:class:`UnsafeNameError`); the length is capped
    while keeping the extension."""
    if not isinstance(name, str):
        raise UnsafeNameError("The file name is not text.")
    if _CONTROL.search(name):
        raise UnsafeNameError(f"The file name {name!r} contains control characters.")
    parts = [p for p in re.split(r"[\\/]+", name) if p]
    if any(p == ".." for p in parts):
        raise UnsafeNameError(f"The file name {name!r} tries to leave its folder ('..').")
    base = parts[-1] if parts else ""
    base = re.sub(r"^[A-Za-z]:", "", base)  # drive letter (C:evil.txt)
    base = unicodedata.normalize("NFC", base)
    base = _UNSAFE_CHARS.sub("_", base).strip().strip(".")
    if base in ("", ".", ".."):
        base = default
    if _RESERVED.match(base):
        base = "_" + base
    if len(base) > MAX_NAME_LENGTH:
        stem, dot, ext = base.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            base = stem[: MAX_NAME_LENGTH - len(ext) - 1] + "." + ext
        else:
            base = base[:MAX_NAME_LENGTH]
    return base


def clean_name(name: str, *, default: str = "file") -> str:
    """Like :func:`safe_name`, but never refuses: control, bidi and newline characters
    become ``_`` and ``..`` parts are dropped. For names the app must keep going with
    (files the kernel wrote), where refusing would lose the run."""
    text = name if isinstance(name, str) else str(name)
    text = _CONTROL.sub("_", text)
    text = "/".join(p for p in re.split(r"[\\/]+", text) if p and p != "..")
    try:
        return safe_name(text, default=default)
    except UnsafeNameError:
        return default


class NameDeduper:
    """Keeps names unique within one run: ``chart.png``, ``chart (2).png``, ..."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def unique(self, name: str) -> str:
        candidate = name
        stem, dot, ext = name.rpartition(".")
        if not dot or not stem:
            stem, dot, ext = name, "", ""
        n = 2
        while candidate.lower() in self._seen:
            candidate = f"{stem} ({n}){dot}{ext}"
            n += 1
        self._seen.add(candidate.lower())
        return candidate


# --- type sniffing ------------------------------------------------------------
_SVG_ACTIVE = re.compile(
    rb"<\s*script|\bon[a-z]+\s*=|javascript:|<\s*foreignObject|<\s*(?:iframe|embed|object)\b"
    rb"|<!ENTITY|<!DOCTYPE[^>]*\[",
    re.I,
)
# any link that is not internal (#id) or an embedded raster image (matplotlib writes both)
_SVG_HREF = re.compile(
    rb"""href\s*=\s*["']?\s*(?![\s"'#]|data:image/(?:png|jpeg|gif)[;,])""", re.I)


def sniff_type(data: bytes) -> str:
    """The media type the bytes really are (``application/octet-stream`` if unknown)."""
    head = data[:16]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"PAR1") and data.endswith(b"PAR1"):
        return "application/vnd.apache.parquet"
    if head.startswith(b"PK\x03\x04"):
        return _sniff_zip(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    stripped = text.lstrip("\ufeff \t\r\n")
    lowered = stripped[:512].lower()
    if lowered.startswith("<svg") or (lowered.startswith("<?xml") and "<svg" in text[:2048].lower()):
        return "image/svg+xml"
    if stripped[:1] in ("{", "["):
        try:
            json.loads(stripped)
            return "application/json"
        except ValueError:
            pass
    if _looks_like_csv(stripped):
        return "text/csv"
    return "text/plain"


_OOXML = {
    "xl/": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "word/": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "ppt/": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}


def _sniff_zip(data: bytes) -> str:
    """XLSX/DOCX/PPTX are zips told apart by their folders (all have [Content_Types].xml)."""
    import io
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        names = [m.decode("latin-1") for m in re.findall(rb"(?:xl|word|ppt)/", data[:65536])]
    for prefix, media_type in _OOXML.items():
        if any(n.startswith(prefix) for n in names):
            return media_type
    return "application/zip"


def _looks_like_csv(text: str) -> bool:
    """Delimited text: every one of the first rows has the same number (>= 2) of fields,
    read with the ``csv`` module so quoted delimiters (``"Smith, Jones and Co"``) count
    as part of a field."""
    import csv
    import io

    head = text[:16384]
    if len(text) > len(head):  # leave out a row cut in the middle
        head = head[: head.rfind("\n") + 1]
    for sep in (",", "\t", ";"):
        try:
            rows = [r for r in csv.reader(io.StringIO(head), delimiter=sep) if any(r)][:20]
        except csv.Error:
            continue
        if len(rows) >= 2 and len({len(r) for r in rows}) == 1 and len(rows[0]) >= 2:
            return True
    return False


def guess_declared_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


_IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif"}
_TABLE_TYPES = {
    "text/csv",
    "application/vnd.apache.parquet",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True)
class ReturnedFile:
    """A file the agent returned: its safe name, the type it claimed, its bytes."""

    name: str
    declared_type: str
    data: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sniffed_type(self) -> str:
        return sniff_type(self.data)

    @property
    def media_type(self) -> str:
        """The type to trust: the sniffed one, unless the bytes are plain text and
        the declared type is a more specific text type (``text/tab-separated-values``).
        A declared ``text/html`` never wins: HTML is served as plain text."""
        sniffed = self.sniffed_type
        declared = (self.declared_type or "").split(";")[0].strip().lower()
        if sniffed in ("text/plain", "text/csv") and declared in (
            "text/csv", "text/tab-separated-values", "text/markdown", "application/x-yaml",
            "text/yaml", "text/plain",
        ):
            if declared == "text/csv" and sniffed == "text/plain":
                return "text/plain"
            return declared if declared != "text/plain" else sniffed
        return sniffed

    @property
    def type_mismatch(self) -> bool:
        declared = (self.declared_type or "").split(";")[0].strip().lower()
        return bool(declared) and declared != "application/octet-stream" and (
            _family(declared) != _family(self.sniffed_type)
        )

    @property
    def is_image(self) -> bool:
        """Safe to show as a raster image (PNG, JPEG, GIF by their bytes)."""
        return self.sniffed_type in _IMAGE_TYPES

    @property
    def is_svg(self) -> bool:
        return self.sniffed_type == "image/svg+xml"

    @property
    def is_safe_svg(self) -> bool:
        """An SVG with no script, event handler, foreignObject, embedded document, entity
        declaration, or link other than ``#id`` and embedded PNG/JPEG/GIF data."""
        data = self.data
        return self.is_svg and not _SVG_ACTIVE.search(data) and not _SVG_HREF.search(data)

    @property
    def is_table(self) -> bool:
        """Safe to read as a table (CSV/TSV text, Parquet, XLSX by their bytes)."""
        mt = self.media_type
        return mt in _TABLE_TYPES or mt == "text/tab-separated-values"

    @property
    def is_text(self) -> bool:
        return self.sniffed_type in ("text/plain", "text/csv", "application/json")

    def to_dict(self, *, include_bytes: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "declared_type": self.declared_type,
            "media_type": self.media_type,
            "size": self.size,
        }
        if include_bytes:
            import base64

            out["data_b64"] = base64.b64encode(self.data).decode("ascii")
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, data: bytes | None = None) -> ReturnedFile:
        if data is None and "data_b64" in d:
            import base64

            data = base64.b64decode(d["data_b64"])
        return cls(name=str(d.get("name", "file")), declared_type=str(d.get("declared_type", "")),
                   data=data or b"")


def _family(media_type: str) -> str:
    if media_type.startswith("image/svg"):
        return "svg"
    if media_type.startswith("image/"):
        return "image"
    if media_type.startswith("text/") or media_type in ("application/json", "application/x-yaml"):
        return "text"
    if media_type in _TABLE_TYPES:
        return "table-binary" if not media_type.startswith("text/") else "text"
    return media_type


@dataclass(frozen=True)
class AttachedFile:
    """A file sent to the agent with a request."""

    name: str
    media_type: str
    data: bytes = field(repr=False)
    use_case: UseCase = "CODE_INTERPRETER"
    sheet: str | None = None  # the workbook sheet the analyst chose on the Upload page

    @property
    def size(self) -> int:
        return len(self.data)

    @classmethod
    def from_bytes(cls, name: str, data: bytes, *, media_type: str | None = None,
                   use_case: UseCase = "CODE_INTERPRETER", sheet: str | None = None) -> AttachedFile:
        clean = safe_name(name)
        return cls(name=clean, media_type=media_type or guess_declared_type(clean), data=data,
                   use_case=use_case, sheet=sheet)


class AttachmentLimitError(AgentDeskError, ValueError):
    """The attachments break Bedrock's limits; the message says what to do."""

    kind = "attachment_limit"


def check_attachment_limits(files: Iterable[AttachedFile], *,
                            max_files: int = MAX_ATTACHED_FILES,
                            max_bytes: int = MAX_ATTACHED_BYTES) -> None:
    """Raise :class:`AttachmentLimitError` before any call if Bedrock would refuse."""
    files = list(files)
    if len(files) > max_files:
        raise AttachmentLimitError(
            f"{len(files)} files are attached, but Bedrock accepts at most {max_files} per "
            f"request. Detach {len(files) - max_files} file(s), or combine tables into one file."
        )
    total = sum(f.size for f in files)
    if total > max_bytes:
        raise AttachmentLimitError(
            f"The attached files hold {_mb(total)} in all, over Bedrock's limit of {_mb(max_bytes)}. "
            "Attach fewer files, keep only the columns you need, or a shorter date range."
        )
    names = [f.name.lower() for f in files]
    if len(set(names)) != len(names):
        raise AttachmentLimitError("Two attached files have the same name; rename one of them.")


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def human_size(n: int) -> str:
    """A size as people read it, the same on every page: ``114 KB``, ``3.2 MB``."""
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n / (1024 * 1024):.1f} MB"
