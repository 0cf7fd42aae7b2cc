"""The little HTTP/1.1 the status socket speaks: one request per connection, bounded.

The status socket is the daemon's only HTTP when the web faces are off, and a full HTTP
framework costs a small gateway ~12 MB of memory for it; its clients (the CLI, tests, tools
such as curl --unix-socket) send plain requests. So: a request line, headers, and a body only
with a Content-Length (no chunked bodies), all bounded; the answer closes the connection.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

MAX_HEAD_BYTES = 8192  # request line and headers
MAX_BODY_BYTES = 4096  # a scan or selftest request is a few fields
METHODS = ("GET", "POST")


class HttpError(Exception):
    """A request answered with ``status`` and its reason, unread further."""

    def __init__(self, status: HTTPStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    content_length: int


def parse_head(head: bytes) -> Request:
    """The request line and the one header that matters here, from the bytes up to the blank
    line. Pure; raises HttpError on anything it does not take."""
    try:
        text = head.decode("latin-1")
        line, *fields = text.split("\r\n")
        method, target, version = line.split(" ")
    except ValueError:
        raise HttpError(HTTPStatus.BAD_REQUEST, "malformed request line") from None
    if not version.startswith("HTTP/1.") or method not in METHODS:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"not taken here: {line[:80]}")
    length = 0
    for field in filter(None, fields):
        name, sep, value = field.partition(":")
        if not sep:
            raise HttpError(HTTPStatus.BAD_REQUEST, "malformed header")
        name = name.strip().lower()
        if name == "transfer-encoding":
            raise HttpError(HTTPStatus.LENGTH_REQUIRED, "send the body with a Content-Length")
        if name == "content-length":
            length = _length(value.strip())
    return Request(method, target.split("?", 1)[0], length)


def _length(value: str) -> int:
    if not value.isdigit():
        raise HttpError(HTTPStatus.BAD_REQUEST, "malformed Content-Length")
    length = int(value)
    if length > MAX_BODY_BYTES:
        raise HttpError(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"request body over {MAX_BODY_BYTES} bytes"
        )
    return length


async def read_request(reader: asyncio.StreamReader) -> tuple[Request, bytes]:
    """One request from ``reader`` (its limit bounds the head); the caller bounds the time."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise HttpError(
            HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, f"request head over {MAX_HEAD_BYTES} bytes"
        ) from None
    except asyncio.IncompleteReadError:
        raise HttpError(HTTPStatus.BAD_REQUEST, "the request ended early") from None
    request = parse_head(head[:-4])
    try:
        body = await reader.readexactly(request.content_length)
    except asyncio.IncompleteReadError:
        raise HttpError(HTTPStatus.BAD_REQUEST, "the body ended early") from None
    return request, body


def json_response(status: HTTPStatus, data: Any) -> bytes:
    body = json.dumps(data).encode()
    head = (
        f"HTTP/1.1 {status.value} {status.phrase}\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body
