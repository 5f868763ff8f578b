"""What a handler gets (a `Request`) and gives back (a `Reply`), and the checks on input.

Each check raises `ApiError` or `InvalidField`, so a malformed id, body or field becomes a 400 in
the error envelope that names the field, never a 500.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from kolejka.adapters.http.errors import BAD_FIELD, BAD_ID, BAD_JSON, TOO_LARGE, ApiError
from kolejka.auth import Principal
from kolejka.domain.errors import InvalidField
from kolejka.domain.queues import parse_id

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_SECONDS = 10_000_000


@dataclass(slots=True)
class Request:
    scope: Scope
    receive: Receive
    params: dict[str, str]
    principal: Principal | None
    max_body_bytes: int = 65536

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.scope["headers"]:
            if key == name:
                return bytes(value)
        return None

    def path_id(self, name: str) -> int:
        """A path parameter that must be a positive integer id (else 400001)."""
        value = parse_id(self.params[name])
        if value is None:
            raise ApiError(BAD_ID, field=name)
        return value

    async def body(self) -> bytes:
        """The whole body, refused with 413 as soon as it passes the size limit."""
        limit = self.max_body_bytes
        declared = self.header(b"content-length")
        if declared is not None and (
            not declared.isdigit() or len(declared) > 12 or int(declared) > limit
        ):
            raise ApiError(TOO_LARGE, limit=limit)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise ApiError(TOO_LARGE, limit=limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def json_value(self) -> Any:
        """The body as JSON; None when empty (400002 when it is not JSON)."""
        raw = await self.body()
        try:
            return json.loads(raw) if raw.strip() else None
        except (ValueError, RecursionError) as exc:
            raise ApiError(BAD_JSON) from exc

    async def json_object(self) -> dict[str, Any]:
        """The body as a JSON object (400002 when it is not JSON, 400003 when not an object)."""
        value = await self.json_value()
        if not isinstance(value, dict):
            raise ApiError(BAD_FIELD, field="body", problem="must be an object.")
        return value


@dataclass(slots=True)
class Reply:
    """A JSON answer: the body is already encoded."""

    body: bytes
    status: int = 200
    headers: tuple[tuple[bytes, bytes], ...] = ()


@dataclass(slots=True)
class TextReply:
    """A whole answer that is not JSON (the wallboard's HTML, CSS and script)."""

    body: bytes
    content_type: bytes
    status: int = 200
    headers: tuple[tuple[bytes, bytes], ...] = ()


@dataclass(slots=True)
class StreamReply:
    """An answer sent piece by piece until `chunks` ends or the client goes away.

    The app sends each chunk as it comes and closes `chunks` when the client disconnects, so the
    generator's `finally` is where a stream lets go of what it holds.
    """

    chunks: AsyncGenerator[bytes, None]
    content_type: bytes
    status: int = 200
    headers: tuple[tuple[bytes, bytes], ...] = ()


AnyReply = Reply | TextReply | StreamReply


def only_fields(body: dict[str, Any], known: set[str]) -> None:
    for key in body:
        if key not in known:
            raise InvalidField(str(key)[:64], "is not a known field.")


def text_field(
    body: dict[str, Any], field: str, limit: int, *, required: bool = False, strip: bool = True
) -> str:
    """A string field without control characters, stripped unless told; "" when absent."""
    value = body.get(field)
    if value is None:
        if required:
            raise InvalidField(field, "is required.")
        return ""
    if not isinstance(value, str):
        raise InvalidField(field, "must be a string.")
    if len(value) > limit:
        raise InvalidField(field, "is too long.")
    if _CONTROL.search(value):
        raise InvalidField(field, "must not contain control characters.")
    return value.strip() if strip else value


def seconds_field(body: dict[str, Any], field: str) -> timedelta | None:
    """A duration in whole seconds, 0 to 10,000,000 (about 115 days); None when absent."""
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidField(field, "must be a non-negative integer.")
    if value > MAX_SECONDS:
        raise InvalidField(field, "is too long.")
    return timedelta(seconds=value)
