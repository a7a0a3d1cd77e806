"""Writes AWS event-stream frames (``application/vnd.amazon.eventstream``).

The exact binary framing botocore's ``EventStreamBuffer`` parses: a prelude
(total length, headers length, CRC32 of those 8 bytes), typed headers, the
payload, and a CRC32 of the whole message. Only string headers are needed.
"""
from __future__ import annotations

import base64
import json
import struct
import zlib
from typing import Any, Mapping

CONTENT_TYPE = "application/vnd.amazon.eventstream"
_STRING = 7


def encode_headers(headers: Mapping[str, str]) -> bytes:
    out = bytearray()
    for name, value in headers.items():
        raw_name = name.encode("utf-8")
        raw_value = value.encode("utf-8")
        out += struct.pack("!B", len(raw_name)) + raw_name
        out += struct.pack("!BH", _STRING, len(raw_value)) + raw_value
    return bytes(out)


def encode_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    raw_headers = encode_headers(headers)
    total = 12 + len(raw_headers) + len(payload) + 4
    prelude = struct.pack("!II", total, len(raw_headers))
    prelude += struct.pack("!I", zlib.crc32(prelude) & 0xFFFFFFFF)
    body = prelude + raw_headers + payload
    return body + struct.pack("!I", zlib.crc32(body) & 0xFFFFFFFF)


def _jsonable(value: Any) -> Any:
    """Blobs (bytes) become base64 strings, as in the restJson / json protocols."""
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def encode_event(event_type: str, payload: Mapping[str, Any] | bytes,
                 content_type: str = "application/json") -> bytes:
    """An ``event`` message: ``:event-type`` is the member name (``chunk``, ``trace``, ...)."""
    body = payload if isinstance(payload, bytes) else json.dumps(_jsonable(payload)).encode()
    return encode_message(
        {":message-type": "event", ":event-type": event_type, ":content-type": content_type}, body
    )


def encode_exception(exception_type: str, message: str) -> bytes:
    """An in-stream modelled exception (e.g. ``throttlingException``); boto3 raises
    ``EventStreamError`` for it while the caller iterates."""
    body = json.dumps({"message": message}).encode()
    return encode_message(
        {":message-type": "exception", ":exception-type": exception_type,
         ":content-type": "application/json"}, body
    )


def encode_error(code: str, message: str) -> bytes:
    """An unmodelled ``error`` message (``:error-code`` / ``:error-message`` headers)."""
    return encode_message(
        {":message-type": "error", ":error-code": code, ":error-message": message}, b""
    )
