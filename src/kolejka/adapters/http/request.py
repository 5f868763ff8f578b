"""What a handler gets (a `Request`) and gives back (a `Reply`), and the checks on input.

Each check raises `ApiError` or `InvalidField`, so a malformed id, body or field becomes a 400 in
the error envelope that names the field, never a 500.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, unquote

from kolejka.adapters.http.errors import (
    BAD_FIELD,
    BAD_ID,
    BAD_JSON,
    NOT_JSON_TYPE,
    TOO_LARGE,
    ApiError,
)
from kolejka.domain.errors import FieldProblem, InvalidField
from kolejka.domain.queues import parse_id
from kolejka.domain.text import has_control
from kolejka.services.auth import Principal

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_SECONDS = 10_000_000
# Where json.loads can make a lone surrogate: an escape (`"\ud800"`), a surrogate encoded as
# UTF-8 (json.loads decodes bytes with "surrogatepass"), or a UTF-16/32 body (NUL bytes).
_MAYBE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]|\x00")


@dataclass(slots=True)
class Request:
    scope: Scope
    receive: Receive
    params: dict[str, str]
    principal: Principal | None
    # What proved the principal (a Basic header, or the one a wallboard token stands for):
    # open streams present it again when API users change.
    credentials: bytes | None = None
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
        """The body as JSON; None when empty (400002 when it is not JSON).

        Refused with 415 before a byte is read unless sent as `application/json`, even when
        empty: browsers send text/plain and form bodies to any site without asking it first
        (no CORS preflight), with the Basic credentials of a supervisor signed in to /wallboard,
        but never a JSON type. Every endpoint that reads a body reads it here.
        """
        if not is_json_type(self.header(b"content-type")):
            raise ApiError(NOT_JSON_TYPE)
        raw = await self.body()
        try:
            value = json.loads(raw) if raw.strip() else None
        except (ValueError, RecursionError) as exc:
            raise ApiError(BAD_JSON) from exc
        if _MAYBE_SURROGATE.search(raw):
            refuse_lone_surrogates(value)
        return value

    async def json_object(self) -> dict[str, Any]:
        """The body as a JSON object (400002 when it is not JSON, 400003 when not an object)."""
        value = await self.json_value()
        if not isinstance(value, dict):
            raise ApiError(BAD_FIELD, field="body", problem=FieldProblem.NOT_AN_OBJECT)
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


def refuse_lone_surrogates(value: Any) -> None:
    """InvalidField naming a string, or an object key, in `value` that holds a lone surrogate.

    JSON allows `"\ud800"` and Python keeps it, but it is no text: SQLite's and PostgreSQL's
    encoders, and the error envelope itself, cannot write it. Checking every string of the body
    here, where every body is parsed, means no endpoint and no field can forget. Fields are
    named as the handlers name them: `surname`, `custom_fields.colour`, `phone_number[1]`, and
    `[3].surname` in a batch of several (as `Crm.add_customers` does).
    """
    top = "body"
    pending: list[tuple[str, Any]] = [(top, value)]
    if isinstance(value, list):
        several = len(value) > 1
        pending = [(f"[{i}]" if several else top, item) for i, item in enumerate(value)]
    while pending:  # not recursive: a body may nest as deep as json.loads allows
        name, item = pending.pop()
        if isinstance(item, str):
            if not _encodable(item):
                raise InvalidField(name, FieldProblem.LONE_SURROGATE)
        elif isinstance(item, dict):
            prefix = "" if name == top else f"{name}."
            for key, member in item.items():
                if not _encodable(key):
                    raise InvalidField(name, FieldProblem.KEY_LONE_SURROGATE)
                pending.append((f"{prefix}{key[:64]}", member))
        elif isinstance(item, list):
            pending.extend((f"{name}[{i}]", member) for i, member in enumerate(item))


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def query_parameter(scope: Scope, name: str) -> str | None:
    """One parameter of the query string, or None; long or odd query strings give None."""
    query_string: bytes = scope.get("query_string", b"")
    if len(query_string) > 2048:
        return None
    key = name.encode() + b"="
    for pair in query_string.split(b"&"):
        if pair.startswith(key):
            return unquote(pair[len(key) :].decode("latin-1").replace("+", " "))
    return None


def query_pairs(
    request: Request, known: frozenset[str], max_fields: int = 16
) -> list[tuple[str, str]]:
    """The query string's (name, value) pairs, in order; an unknown name or too many pairs is a
    400. Bytes that are not UTF-8 become U+FFFD, so no value holds a lone surrogate."""
    text = bytes(request.scope.get("query_string", b"")).decode("utf-8", errors="replace")
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=max_fields)
    except ValueError as exc:
        raise InvalidField("query", FieldProblem.TOO_LONG) from exc
    for key, _ in pairs:
        if key not in known:
            raise unknown_parameter(key[:64], known)
    return pairs


def no_query(request: Request) -> None:
    """For endpoints that take no query parameters: one is refused, naming it."""
    text = bytes(request.scope.get("query_string", b"")).decode("utf-8", errors="replace")
    if not text:
        return
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=16)
    except ValueError as exc:
        raise InvalidField("query", FieldProblem.TOO_LONG) from exc
    for key, _ in pairs:
        raise unknown_parameter(key[:64] or "query", ())


def unknown_parameter(name: str, supported: Iterable[str]) -> InvalidField:
    """An unknown query parameter's error, naming the ones the endpoint takes."""
    listed = ", ".join(sorted(supported)) or "no parameters"
    return InvalidField(name, FieldProblem.UNKNOWN_PARAMETER, supported=listed)


def bounded_int(value: str | None, name: str, low: int, high: int, default: int) -> int:
    """A query parameter that must be an integer from `low` to `high`; `default` when absent."""
    if value is None:
        return default
    if not (value.isascii() and value.isdigit() and len(value) <= 10) or not (
        low <= int(value) <= high
    ):
        raise InvalidField(name, FieldProblem.OUT_OF_RANGE, low=low, high=high)
    return int(value)


def query_text(value: str, name: str, limit: int) -> str:
    """A text query parameter: at most `limit` characters, no control characters."""
    if len(value) > limit:
        raise InvalidField(name, FieldProblem.TOO_LONG)
    if has_control(value):
        raise InvalidField(name, FieldProblem.CONTROL_CHARACTERS)
    return value


def is_json_type(content_type: bytes | None) -> bool:
    """`application/json`, in any case, with any parameters (`; charset=UTF-8`)."""
    if content_type is None:
        return False
    media_type = content_type.partition(b";")[0].strip().lower()
    return media_type == b"application/json"


def only_fields(body: dict[str, Any], known: set[str]) -> None:
    for key in body:
        if key not in known:
            raise InvalidField(str(key)[:64], FieldProblem.UNKNOWN_FIELD)


def text_field(
    body: dict[str, Any], field: str, limit: int, *, required: bool = False, strip: bool = True
) -> str:
    """A string field without control characters, stripped unless told; "" when absent."""
    value = body.get(field)
    if value is None:
        if required:
            raise InvalidField(field, FieldProblem.REQUIRED)
        return ""
    if not isinstance(value, str):
        raise InvalidField(field, FieldProblem.NOT_A_STRING)
    if len(value) > limit:
        raise InvalidField(field, FieldProblem.TOO_LONG)
    if has_control(value):
        raise InvalidField(field, FieldProblem.CONTROL_CHARACTERS)
    return value.strip() if strip else value


def id_text_field(body: dict[str, Any], field: str, limit: int) -> str:
    """A required id given as text (a PBX's call id), taken exactly as written, so it must not
    begin or end with a space or an invisible character (a blank id, or one that only a
    percent-encoded URL could name again); blanks alone are no id at all."""
    value = text_field(body, field, limit, required=True, strip=False)
    if not value or all(_invisible(c) for c in value):
        raise InvalidField(field, FieldProblem.REQUIRED)
    if _invisible(value[0]) or _invisible(value[-1]):
        raise InvalidField(field, FieldProblem.BLANK_AT_AN_END)
    return value


# Format characters nobody sees at an id's end: a soft hyphen, zero-width spaces and joiners, a BOM.
# The OpenAPI document's pattern for a call id names the same ones beside `\s`.
_INVISIBLE = frozenset("\u00ad\u200b\u200c\u200d\u2060\ufeff")


def _invisible(character: str) -> bool:
    """Whitespace (U+00A0, U+2028 and U+3000 too) or one of the invisible format characters."""
    return character.isspace() or character in _INVISIBLE


def seconds_field(body: dict[str, Any], field: str) -> timedelta | None:
    """A duration in whole seconds, 0 to 10,000,000 (about 115 days); None when absent."""
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidField(field, FieldProblem.NOT_A_COUNT)
    if value > MAX_SECONDS:
        raise InvalidField(field, FieldProblem.TOO_LONG)
    return timedelta(seconds=value)
